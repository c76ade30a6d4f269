// A fake virtio driver for host tests: it lays out split virtqueues in FakeGuestMemory the way
// Linux's virtio_ring does (descriptor free list, indirect tables, avail ring, used_event), and
// talks to the device only through MmioHandler reads and writes, in Linux's virtio_mmio order
// (probe: magic, version, device id, reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK, queue
// setup, DRIVER_OK). Raw helpers let a test write any descriptor or index it likes.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "tests/fakes/fake_guest_memory.h"
#include "kernel/notifier.h"
#include "virtio/mmio_handler.h"
#include "virtio/spec.h"

namespace domd::test {

// Counts guest interrupts (what set_irq_level would deliver on target).
class FakeInterrupt final : public Notifier {
public:
    void notify() override { ++count; }
    int count = 0;
};

class FakeVirtioDriver {
public:
    struct Buffer {
        uint64_t addr;
        uint32_t len;
        bool writable;  // VIRTQ_DESC_F_WRITE
    };
    struct Queue {
        uint16_t size = 0;
        uint64_t desc = 0, avail = 0, used = 0;
        uint16_t avail_idx = 0;     // our shadow of avail->idx
        uint16_t kicked_idx = 0;    // avail idx at the last notification decision
        uint16_t last_used = 0;     // next used entry we consume
        std::vector<uint16_t> free;                      // free descriptor indices
        std::map<uint16_t, std::vector<uint16_t>> busy;  // head -> descriptors of its chain
    };

    FakeVirtioDriver(virtio::MmioHandler& device, FakeGuestMemory& memory);

    // ---- registers ----
    uint32_t read32(uint32_t offset);
    // Asserts (aborts the test) unless the device answers `done`.
    void write32(uint32_t offset, uint32_t value);
    virtio::MmioAnswer write_raw(uint32_t offset, uint32_t value, uint8_t size = 4);
    uint64_t read_config(uint32_t offset, uint8_t size);

    // ---- bring-up ----
    // The Linux sequence; negotiates device features & `wanted`. False at the first refusal.
    bool probe(uint64_t wanted, uint16_t queues = 1, uint16_t queue_size = 0);
    bool negotiate(uint64_t wanted);  // reset .. FEATURES_OK (read back)
    bool setup_queue(uint16_t index, uint16_t size = 0);
    void driver_ok();
    uint64_t features() const { return features_; }
    bool has(uint64_t feature) const { return (features_ & feature) != 0; }

    // ---- guest RAM ----
    uint64_t alloc(uint64_t bytes, uint64_t align = 16);
    uint64_t alloc_bytes(const void* data, uint64_t bytes, uint64_t align = 16);

    // ---- requests ----
    // Adds a chain and makes it available; returns its head. With `indirect`, one descriptor
    // points at a table holding the buffers (needs VIRTIO_F_INDIRECT_DESC).
    uint16_t add(uint16_t queue, const std::vector<Buffer>& buffers, bool indirect = false);
    // Notifies the device unless it asked not to be (NO_NOTIFY / avail_event); true if it did.
    bool kick(uint16_t queue);
    // Consumes new used entries, freeing their descriptors, and (EVENT_IDX) re-arms used_event
    // at the new position as Linux does after its callback.
    std::vector<virtio::VirtqUsedElem> take_used(uint16_t queue, bool rearm = true);
    // Linux's vm_interrupt: read InterruptStatus, acknowledge what was read.
    uint32_t handle_interrupt();

    // ---- raw ring access for hostile tests ----
    Queue& queue(uint16_t index) { return queues_.at(index); }
    void write_desc(uint16_t queue, uint16_t index, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);
    // Puts `head` into the next avail slot and moves avail->idx by one.
    void publish(uint16_t queue, uint16_t head);
    void set_avail_idx(uint16_t queue, uint16_t value);
    void set_avail_flags(uint16_t queue, uint16_t flags);
    void set_used_event(uint16_t queue, uint16_t value);
    uint16_t used_idx(uint16_t queue);
    uint16_t used_flags(uint16_t queue);
    uint16_t avail_event(uint16_t queue);

private:
    virtio::MmioHandler& device_;
    FakeGuestMemory& memory_;
    uint64_t next_free_;
    uint64_t features_ = 0;
    std::map<uint16_t, Queue> queues_;
};

}  // namespace domd::test
