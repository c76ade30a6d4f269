// A virtio::Device for transport and ring tests: it records every chain it pops and answers
// each one at once (or holds it in flight until the test completes it), without looking at the
// buffers. Faulty chains are answered the way a device with a status byte would (a used entry
// of length 0), or failed when they have none.
#pragma once

#include <cstdint>
#include <vector>

#include "virtio/device.h"

namespace domd::test {

class RecordingDevice final : public virtio::Device {
public:
    struct Held {
        virtio::Virtqueue* queue;
        virtio::UsedToken token;
        uint32_t written;
    };

    uint32_t id = 2;
    uint64_t features = 0;
    bool accept = true;
    uint16_t queues = 1;
    uint16_t max_size = 256;
    std::vector<uint8_t> config = std::vector<uint8_t>(24, 0);
    bool hold = false;       // keep popped chains in flight
    size_t slots = 1024;     // requests in flight at most (then out_of_slots)

    std::vector<virtio::Chain> chains;  // every chain popped, in order
    std::vector<Held> held;
    std::vector<std::pair<uint32_t, std::vector<uint8_t>>> config_writes;
    uint64_t negotiated = 0;
    int resets = 0;
    int process_calls = 0;

    uint32_t device_id() const override { return id; }
    uint64_t device_features() const override { return features; }
    bool accept_features(uint64_t f) override {
        negotiated = f;
        return accept;
    }
    uint16_t queue_count() const override { return queues; }
    uint16_t queue_max_size(uint16_t) const override { return max_size; }
    std::span<const uint8_t> config_space() const override { return {config.data(), config.size()}; }
    void write_config(uint32_t offset, std::span<const uint8_t> bytes) override {
        config_writes.emplace_back(offset, std::vector<uint8_t>(bytes.begin(), bytes.end()));
    }
    virtio::ProcessResult process(virtio::Virtqueue& queue, uint32_t budget) override {
        ++process_calls;
        virtio::ProcessResult result;
        virtio::Chain chain;
        while (result.popped < budget) {
            if (held.size() >= slots) {
                result.out_of_slots = true;
                break;
            }
            if (queue.pop(chain) != virtio::PopStatus::chain) break;
            ++result.popped;
            chains.push_back(chain);
            if (chain.fault != virtio::ChainFault::none) {
                if (chain.has_status_byte) queue.push(chain.token, 0);
                else queue.fail_chain(chain.token);
                continue;
            }
            if (hold) held.push_back({&queue, chain.token, chain.writable_bytes});
            else queue.push(chain.token, chain.writable_bytes);
        }
        return result;
    }
    void reset() override { ++resets; }

    void complete_held() {
        for (const Held& h : held) h.queue->push(h.token, h.written);
        held.clear();
    }
};

}  // namespace domd::test
