// The device side of one packed virtqueue (virtio 1.2 section 2.8) over rings that are already
// mapped: the same job as SplitRing (pop and check chains, write used descriptors, decide
// interrupts, suppress notifications) for the other ring format. Virtqueue picks one of the two.
//
// A packed ring is one array of descriptors that the driver and the device both write: the
// driver marks descriptors available with its wrap counter in VIRTQ_DESC_F_AVAIL and the inverse
// in VIRTQ_DESC_F_USED; the device writes a used descriptor (Buffer ID, length, both flags equal
// to its wrap counter) over the first slot it has not yet given back, then skips as many slots
// as the list took (sections 2.8.1, 2.8.6). Event suppression is two small structures, one per
// direction (section 2.8.10): the device reads the driver's before raising an interrupt, and
// writes its own to ask for notifications (or not).
//
// Everything the driver writes is hostile, so what the rules of section 2.8 let a device check
// is checked: a list ends within the slots the driver can have made available (the ring less
// what is still in flight), every descriptor of a list is available in its own lap, Buffer IDs
// are below the queue size and not already in flight (Linux's layout: IDs index its own state
// array), and indirect descriptors follow section 2.8.7. Each descriptor is copied once, then
// trusted; our positions and wrap counters are private and only ever published.
#pragma once

#include <cstdint>

#include "virtio/chain.h"
#include "virtio/chain_builder.h"
#include "virtio/guest_memory.h"
#include "virtio/limits.h"
#include "virtio/spec.h"

namespace domd::virtio {

// Where the three areas of a packed ring are in our address space.
struct PackedRingPointers {
    uint8_t* desc = nullptr;          // PackedDesc[size]: read, and written with used descriptors
    const uint8_t* driver = nullptr;  // Driver Event Suppression, read-only
    uint8_t* device = nullptr;        // Device Event Suppression, written by us
};

class PackedRing {
public:
    // As SplitRing::start; `size` is in [1, limits::max_queue_size], any value (section 2.8).
    void start(uint16_t size, bool event_idx, bool indirect, bool grants);
    void set_pointers(const PackedRingPointers& rings) { rings_ = rings; }

    uint16_t size() const { return size_; }
    RingFault ring_fault() const { return ring_fault_; }

    // True if the descriptor at our next position has been touched by the driver in this lap
    // (its AVAIL flag matches our wrap counter): available, or malformed (pop() tells which).
    bool has_available() const;
    // Pops and walks the next list. `memory` maps indirect tables (unmapped before return). On
    // `fatal` the ring is left as it was and must not be used.
    PopStatus pop(Chain& out, GuestMemory& memory);

    // Writes a used descriptor for `token`; the first one since the last publish_used() stays
    // invisible (its flags are written there), so a pass's completions appear to the driver
    // together, as section 2.8.9 describes for multi-buffer requests.
    void add_used(UsedToken token, uint32_t written);
    bool has_unpublished() const { return pending_; }
    // Makes the used descriptors visible and says whether the driver asked for an interrupt for
    // the slots used since the last decision (the Driver Event Suppression structure).
    bool publish_used();

    // Section 2.8.10: RING_EVENT_FLAGS_DISABLE while disabled (rewritten on every call: the area
    // is guest memory); on enable, RING_EVENT_FLAGS_DESC at our next position with EVENT_IDX
    // (a driver that keeps adding before we look does not notify again), ENABLE without. Then
    // (full barrier) re-reads the ring; true if entries are available.
    void disable_notifications();
    bool enable_notifications();
    bool notifications_enabled() const { return notifications_enabled_; }

private:
    PackedDesc read_desc(const uint8_t* table, uint32_t index) const;
    uint16_t flags_at(uint32_t index) const;
    bool walk_indirect(ChainBuilder& chain, const PackedDesc& d, GuestMemory& memory);
    bool id_in_flight(uint16_t id) const { return (in_flight_ids_[id / 64] >> (id % 64)) & 1; }
    void set_in_flight(uint16_t id, bool on) {
        const uint64_t bit = uint64_t{1} << (id % 64);
        in_flight_ids_[id / 64] = on ? in_flight_ids_[id / 64] | bit : in_flight_ids_[id / 64] & ~bit;
    }
    PopStatus fail(RingFault f) {
        ring_fault_ = f;
        return PopStatus::fatal;
    }
    bool fault(RingFault f) {
        ring_fault_ = f;
        return false;
    }

    PackedRingPointers rings_;
    uint16_t size_ = 0;
    bool event_idx_ = false;
    bool indirect_ = false;
    bool grants_ = true;
    bool notifications_enabled_ = true;
    // Driver side of the ring as we follow it: the next slot to pop and the lap it is in.
    uint16_t next_avail_ = 0;
    bool avail_wrap_ = true;  // section 2.8.1: both counters start at 1
    // Our side: the next slot a used descriptor goes to, and its lap.
    uint16_t next_used_ = 0;
    bool used_wrap_ = true;
    // Slots popped and not yet given back: the driver cannot have more than size_ - this
    // available.
    uint32_t outstanding_ = 0;
    // The first used descriptor since the last publish, whose flags are written last.
    bool pending_ = false;
    uint16_t pending_slot_ = 0;
    uint16_t pending_flags_ = 0;
    // Slots used since the last interrupt decision.
    uint32_t unsignalled_slots_ = 0;
    uint64_t in_flight_ids_[(limits::max_queue_size + 63) / 64] = {};
    RingFault ring_fault_ = RingFault::none;
};

}  // namespace domd::virtio
