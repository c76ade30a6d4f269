// The virtio suite's test bench: fake guest RAM, a recording device type behind the real
// virtio-mmio transport, and a fake driver that reaches the device only through MMIO.
#pragma once

#include <vector>

#include "tests/fakes/fake_guest_memory.h"
#include "tests/fakes/fake_virtio_device.h"
#include "tests/fakes/fake_virtio_driver.h"
#include "virtio/mmio_transport.h"
#include "virtio/spec.h"

namespace domd::test {

using ::StringFrom;  // CppUTest's overloads, hidden by domd::StringFrom(Err) in here

constexpr uint64_t ring_features =
    virtio::features::version_1 | virtio::features::ring_event_idx | virtio::features::indirect_desc;

struct RigOptions {
    uint16_t queue_size = 16;    // what the driver asks for (0: QueueNumMax)
    uint16_t queues = 1;         // device queues
    uint16_t max_size = 256;     // QueueNumMax
    uint64_t wanted = ring_features;
    virtio::MmioOptions mmio{};
    bool probe = true;
};

inline RecordingDevice make_recording_device(const RigOptions& options) {
    RecordingDevice device;
    device.queues = options.queues;
    device.max_size = options.max_size;
    return device;
}

struct VirtioRig {
    explicit VirtioRig(const RigOptions& options = {})
        : options(options),
          device(make_recording_device(options)),
          transport(device, memory, interrupt, options.mmio),
          driver(transport, memory) {
        if (options.probe) probe();
    }

    void probe() {
        if (!driver.probe(options.wanted, options.queues, options.queue_size)) FAIL("probe failed");
    }
    // A fresh data buffer in guest RAM.
    uint64_t buffer(uint64_t bytes = 64) { return driver.alloc(bytes, 16); }
    // Adds a chain to queue 0 and notifies like Linux.
    uint16_t add(const std::vector<FakeVirtioDriver::Buffer>& buffers, bool indirect = false, uint16_t queue = 0) {
        const uint16_t head = driver.add(queue, buffers, indirect);
        driver.kick(queue);
        return head;
    }
    uint32_t status() { return driver.read32(virtio::mmio::status); }
    bool needs_reset() { return (status() & virtio::status::device_needs_reset) != 0; }
    // Resets and probes again, then checks that a well-formed chain goes through.
    void expect_works_after_reset() {
        probe();
        expect_works();
    }
    void expect_works(uint16_t queue = 0) {
        const uint64_t a = buffer(), b = buffer();
        const size_t before = device.chains.size();
        const uint16_t head = add({{a, 16, false}, {b, 1, true}}, false, queue);
        transport.service();
        CHECK_EQUAL(before + 1, device.chains.size());
        auto used = driver.take_used(queue);
        CHECK_EQUAL(1u, used.size());
        CHECK_EQUAL(head, used[0].id);
    }

    RigOptions options;
    FakeGuestMemory memory;
    FakeInterrupt interrupt;
    RecordingDevice device;
    virtio::MmioTransport transport;
    FakeVirtioDriver driver;
};

inline FakeVirtioDriver::Buffer readable(uint64_t addr, uint32_t len) { return {addr, len, false}; }
inline FakeVirtioDriver::Buffer writable(uint64_t addr, uint32_t len) { return {addr, len, true}; }

}  // namespace domd::test
