// A fake virtio driver for host tests: it lays out virtqueues in FakeGuestMemory the way
// Linux's virtio_ring.c does, and talks to the device only through MmioHandler reads and writes,
// in Linux's virtio_mmio order (probe: magic, version, device id, reset, ACKNOWLEDGE, DRIVER,
// features, FEATURES_OK, queue setup, DRIVER_OK).
//  - split rings (section 2.7): descriptor free list, indirect tables, avail ring, used_event;
//  - packed rings (section 2.8), when VIRTIO_F_RING_PACKED is wanted and offered: descriptors
//    written in ring order with the lap's AVAIL/USED flags and the first one's flags last,
//    Buffer IDs from a free list below the queue size (Linux's desc_state[id]), indirect tables
//    of packed descriptors, the two event suppression structures;
//  - the legacy transport (version 1, section 4.2.4), when the device says so: GuestPageSize,
//    no FEATURES_OK, each split ring in one block placed by QueuePFN with QueueAlign 4096.
// Raw helpers let a test write any descriptor, index or flag it likes.
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
        bool packed = false;
        // Split: descriptor table, avail ring, used ring. Packed: descriptor ring, driver and
        // device event suppression structures.
        uint64_t desc = 0, avail = 0, used = 0;
        uint32_t pfn = 0;           // legacy: the QueuePFN written
        // ---- split ----
        uint16_t avail_idx = 0;     // our shadow of avail->idx
        uint16_t kicked_idx = 0;    // avail idx at the last notification decision
        uint16_t last_used = 0;     // next used entry we consume (packed: the slot)
        std::vector<uint16_t> free;                      // free descriptor indices
        std::map<uint16_t, std::vector<uint16_t>> busy;  // head -> descriptors of its chain
        // ---- packed (Linux's vring_virtqueue.packed) ----
        uint16_t next_avail = 0;    // next_avail_idx
        bool avail_wrap = true;     // avail_wrap_counter
        bool used_wrap = true;      // used_wrap_counter (with last_used)
        uint16_t num_added = 0;     // slots made available since the last kick decision
        uint16_t num_free = 0;      // free slots
        std::vector<uint16_t> free_ids;          // Buffer IDs, next one at the back
        std::map<uint16_t, uint16_t> id_slots;   // Buffer ID in flight -> slots it took
        uint64_t unknown_ids = 0;   // used descriptors naming no buffer we gave (hostile tests)
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
    bool negotiate(uint64_t wanted);  // reset .. FEATURES_OK (read back; legacy: none)
    bool setup_queue(uint16_t index, uint16_t size = 0);
    void driver_ok();
    uint64_t features() const { return features_; }
    bool has(uint64_t feature) const { return (features_ & feature) != 0; }
    bool legacy() const { return legacy_; }
    bool packed() const { return has(virtio::features::ring_packed); }

    // ---- guest RAM ----
    uint64_t alloc(uint64_t bytes, uint64_t align = 16);
    uint64_t alloc_bytes(const void* data, uint64_t bytes, uint64_t align = 16);

    // ---- requests ----
    // Adds a chain and makes it available; returns its id (split: the head index; packed: the
    // Buffer ID), which is what comes back in the used element. With `indirect`, one descriptor
    // points at a table holding the buffers (needs VIRTIO_F_INDIRECT_DESC).
    uint16_t add(uint16_t queue, const std::vector<Buffer>& buffers, bool indirect = false);
    // Notifies the device unless it asked not to be (split: NO_NOTIFY / avail_event; packed: the
    // device event suppression structure); true if it did.
    bool kick(uint16_t queue);
    // Consumes new used entries, freeing their descriptors, and (EVENT_IDX) re-arms used_event
    // (packed: RING_EVENT_FLAGS_DESC at the next used slot) as Linux does after its callback.
    // Used elements come back as {id, len} in both formats.
    std::vector<virtio::VirtqUsedElem> take_used(uint16_t queue, bool rearm = true);
    // True if a used entry is waiting (nothing consumed).
    bool has_used(uint16_t queue);
    // Asks the device for no interrupts on `queue`, the way a polling guest does (split:
    // VRING_AVAIL_F_NO_INTERRUPT, and used_event half the index space away; packed:
    // RING_EVENT_FLAGS_DISABLE). take_used(queue, false) leaves it so.
    void suppress_interrupts(uint16_t queue);
    // True if the device asked not to be notified right now, in either format.
    bool notifications_suppressed(uint16_t queue);
    // Linux's vm_interrupt: read InterruptStatus, acknowledge what was read.
    uint32_t handle_interrupt();

    // ---- raw split ring access for hostile tests ----
    Queue& queue(uint16_t index) { return queues_.at(index); }
    // A fresh record for a queue the test placed by hand (legacy layouts, say).
    Queue& define_queue(uint16_t index) { return queues_[index] = Queue{}; }
    void write_desc(uint16_t queue, uint16_t index, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);
    // Puts `head` into the next avail slot and moves avail->idx by one.
    void publish(uint16_t queue, uint16_t head);
    void set_avail_idx(uint16_t queue, uint16_t value);
    void set_avail_flags(uint16_t queue, uint16_t flags);
    void set_used_event(uint16_t queue, uint16_t value);
    uint16_t used_idx(uint16_t queue);
    uint16_t used_flags(uint16_t queue);
    uint16_t avail_event(uint16_t queue);

    // ---- raw packed ring access for hostile tests ----
    // The AVAIL/USED bits that mark a descriptor available in the driver's current lap.
    uint16_t avail_bits(uint16_t queue) const;
    void write_packed(uint16_t queue, uint16_t slot, const virtio::PackedDesc& desc);
    virtio::PackedDesc read_packed(uint16_t queue, uint16_t slot);
    // Makes `descs` available at the next slots as given (flags OR'd with each slot's lap bits
    // unless `raw_flags`), the first one's flags last, and counts the buffer as in flight under
    // the last descriptor's id for take_used. Returns that id.
    uint16_t add_packed_raw(uint16_t queue, const std::vector<virtio::PackedDesc>& descs, bool raw_flags = false);
    void set_driver_event(uint16_t queue, uint16_t flags, uint16_t off_wrap);
    uint16_t device_event_flags(uint16_t queue);
    uint16_t device_event_off_wrap(uint16_t queue);

private:
    bool setup_split_v2(Queue& q);
    bool setup_packed(Queue& q);
    bool setup_legacy(Queue& q);
    uint16_t add_split(Queue& q, uint16_t queue, const std::vector<Buffer>& buffers, bool indirect);
    uint16_t add_packed(Queue& q, const std::vector<Buffer>& buffers, bool indirect);
    void advance_avail(Queue& q);
    bool packed_used_at_last(Queue& q);

    virtio::MmioHandler& device_;
    FakeGuestMemory& memory_;
    uint64_t next_free_;
    uint64_t features_ = 0;
    bool legacy_ = false;
    std::map<uint16_t, Queue> queues_;
};

}  // namespace domd::test
