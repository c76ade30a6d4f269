// The device side of one split virtqueue (virtio 1.2 section 2.7) over rings that are already
// mapped: pops and checks descriptor chains, writes used elements, publishes the used index,
// and runs both notification-suppression schemes (flags, or EVENT_IDX). Mapping, generations
// and in-flight accounting belong to Virtqueue, which owns one of these.
//
// Everything in the rings is written by the guest at any time. Each index and descriptor is
// read once into a local and checked there; our own positions (next avail entry, used index)
// live in private fields and are only ever published.
#pragma once

#include <cstdint>

#include "virtio/chain.h"
#include "virtio/chain_builder.h"
#include "virtio/guest_memory.h"
#include "virtio/spec.h"

namespace domd::virtio {

// Where the three areas of a split ring are in our address space.
struct SplitRingPointers {
    const uint8_t* desc = nullptr;   // VirtqDesc[size], read-only
    const uint8_t* avail = nullptr;  // driver area, read-only
    uint8_t* used = nullptr;         // device area, written by us
};

class SplitRing {
public:
    // `event_idx` / `indirect`: whether VIRTIO_F_EVENT_IDX / VIRTIO_F_INDIRECT_DESC were
    // negotiated; `grants`: whether grant addresses are allowed (see ChainBuilder). `size` is a
    // power of two <= limits::max_queue_size (checked by Virtqueue).
    void start(uint16_t size, bool event_idx, bool indirect, bool grants);
    // New pointers for the same rings (after a re-map); positions are kept.
    void set_pointers(const SplitRingPointers& rings) { rings_ = rings; }

    uint16_t size() const { return size_; }
    RingFault ring_fault() const { return ring_fault_; }

    // True if the avail ring holds entries we have not popped. Does not check the index.
    bool has_available() const;
    // Pops and walks the next chain. `memory` maps indirect tables (one map_request each,
    // unmapped before return). On `fatal` the ring is left as it was and must not be used.
    PopStatus pop(Chain& out, GuestMemory& memory);

    // Writes a used element for `token` at the next used slot; not visible to the driver until
    // publish_used().
    void add_used(UsedToken token, uint32_t written);
    bool has_unpublished() const { return used_shadow_ != used_published_; }
    // Publishes the used index (release ordering: the elements first) and says whether the
    // driver asked for an interrupt for the entries published since the last decision
    // (VRING_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX).
    bool publish_used();

    // Notification suppression, section 2.7.10: while disabled the driver is asked not to
    // notify (VRING_USED_F_NO_NOTIFY; with EVENT_IDX, an avail_event it cannot reach). Call
    // once per pass while disabled: the EVENT_IDX form is refreshed each time.
    void disable_notifications();
    // Re-enables them, then (full barrier) re-reads the avail index. Returns true if entries
    // are available: they may have been added while notifications were off, so the caller
    // must process them rather than wait for a notification that will not come.
    bool enable_notifications();
    bool notifications_enabled() const { return notifications_enabled_; }

private:
    const VirtqDesc read_desc(const uint8_t* table, uint32_t index) const;
    uint16_t avail_idx() const;
    uint16_t avail_flags() const;
    uint16_t used_event() const;
    // Walks the chain from `head`; `slots` counts the ring descriptors it takes.
    bool walk(ChainBuilder& chain, uint16_t head, uint32_t& slots, GuestMemory& memory);
    bool walk_indirect(ChainBuilder& chain, const VirtqDesc& d, GuestMemory& memory);
    PopStatus fail(RingFault f) {
        ring_fault_ = f;
        return PopStatus::fatal;
    }
    bool fault(RingFault f) {
        ring_fault_ = f;
        return false;
    }

    SplitRingPointers rings_;
    uint16_t size_ = 0;
    bool event_idx_ = false;
    bool indirect_ = false;
    bool grants_ = true;
    bool notifications_enabled_ = true;
    uint16_t last_avail_ = 0;      // next avail ring entry we pop
    uint16_t used_shadow_ = 0;     // next used slot we write
    uint16_t used_published_ = 0;  // used idx as last published
    uint16_t signalled_used_ = 0;  // used idx at the last interrupt decision
    RingFault ring_fault_ = RingFault::none;
};

}  // namespace domd::virtio
