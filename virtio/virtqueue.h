// One virtqueue of a device, as both the transport and the device type use it: its setup
// (size and the three area addresses), the mapping of its rings into our address space (kept
// across requests, re-made when the guest memory's generation moves), in-flight accounting,
// notification state and counters. The ring format is hidden here: a split ring (section 2.7)
// or a packed ring (section 2.8, when VIRTIO_F_RING_PACKED was negotiated), chosen at start();
// the device type sees the same Chains and UsedTokens either way.
#pragma once

#include <cstdint>

#include "kernel/result.h"
#include "virtio/chain.h"
#include "virtio/guest_memory.h"
#include "virtio/packed_ring.h"
#include "virtio/split_ring.h"

namespace domd::virtio {

// What the queues of one device share: the guest memory, whose ring mappings are released all
// together (GuestMemory::release_rings), and a count of completed requests (a queue that ran
// out of device request slots waits for it to move).
class QueueGroup {
public:
    explicit QueueGroup(GuestMemory& memory) : memory_(memory), generation_(memory.generation()) {}

    GuestMemory& memory() { return memory_; }
    // The mapping epoch ring pointers must belong to. A new memory generation makes every
    // earlier ring pointer invalid: the mappings are released here, once for all queues.
    uint64_t current_epoch() {
        const uint64_t generation = memory_.generation();
        if (generation != generation_) {
            generation_ = generation;
            release_all();
        }
        return epoch_;
    }
    // True if pointers mapped in `epoch` may be used without calling current_epoch() first.
    bool epoch_valid(uint64_t epoch) const { return epoch == epoch_ && memory_.generation() == generation_; }
    void release_all() {
        memory_.release_rings();
        ++epoch_;
    }
    uint64_t completions() const { return completions_; }
    void count_completion() { ++completions_; }

private:
    GuestMemory& memory_;
    uint64_t generation_;
    uint64_t epoch_ = 1;
    uint64_t completions_ = 0;
};

// Addresses and size as the driver wrote them (transport registers), checked at start().
struct QueueSetup {
    uint32_t size = 0;
    uint64_t desc = 0;    // Descriptor Area (split: descriptor table; packed: descriptor ring)
    uint64_t driver = 0;  // Driver Area (split: available ring; packed: driver event suppression)
    uint64_t device = 0;  // Device Area (split: used ring; packed: device event suppression)
};

enum class RingFormat : uint8_t { split, packed };

struct QueueStats {
    uint64_t chains = 0;             // chains popped
    uint64_t chains_rejected = 0;    // popped with a ChainFault
    uint64_t chain_faults[chain_fault_kinds] = {};
    uint64_t ring_faults[ring_fault_kinds] = {};
    uint64_t used = 0;               // used elements written
    uint64_t dropped = 0;            // completions while draining (no used element)
    uint64_t kicks = 0;              // QueueNotify writes for this queue
    uint64_t interrupts_wanted = 0;  // publications after which the driver wanted an interrupt
    uint64_t interrupts_suppressed = 0;  // publications the driver asked not to be told about
    uint64_t notify_raced = 0;       // entries found right after re-enabling notifications
    uint64_t remaps = 0;             // ring (re)mappings
};

class Virtqueue {
public:
    Virtqueue() = default;
    Virtqueue(const Virtqueue&) = delete;
    Virtqueue& operator=(const Virtqueue&) = delete;

    void bind(QueueGroup& group, uint16_t index) {
        group_ = &group;
        index_ = index;
    }
    uint16_t index() const { return index_; }

    // ---- transport side ----
    // Checks the setup (split: size a power of two in [1, max_size], the area alignments of
    // section 2.7; packed: any size in [1, max_size], the alignments of section 2.8.10.1) and
    // maps the rings. Err::invalid for a bad setup, the mapping's error otherwise; the queue
    // stays stopped on error. `features` are the negotiated ones: VIRTIO_F_RING_PACKED picks
    // the format; without VIRTIO_F_VERSION_1 (a legacy device) grant addresses are refused.
    Status start(const QueueSetup& setup, uint16_t max_size, uint64_t features);
    // Forgets the rings (the caller releases ring mappings through the QueueGroup).
    void stop();
    bool live() const { return live_; }
    RingFormat format() const { return format_; }
    uint16_t size() const { return format_ == RingFormat::packed ? packed_.size() : split_.size(); }
    // No more pops; completions still count down in_flight() but write no used elements (the
    // driver is tearing the rings down). Ends with stop().
    void begin_drain() { draining_ = true; }
    bool draining() const { return draining_; }
    uint32_t in_flight() const { return in_flight_; }
    // The ring broke (RingFault) or a chain could not be answered: the device needs a reset.
    bool broken() const { return broken_; }

    // The driver notified (QueueNotify), or the device wants another pass.
    void kick() { kicked_ = true; }
    bool kicked() const { return kicked_; }
    void clear_kick() { kicked_ = false; }
    // The device ran out of request slots: the queue waits until a request completes.
    void stall() {
        stalled_ = true;
        stall_mark_ = group_->completions();
    }
    bool stalled() const { return stalled_ && group_->completions() == stall_mark_; }
    void unstall() { stalled_ = false; }

    // Maps the rings again if the memory generation moved; false if the queue cannot be used.
    bool ensure_mapped();
    // True if the avail ring has entries (or the mapping is stale, so it cannot tell cheaply).
    bool maybe_available() const;
    bool has_available();
    void disable_notifications();
    // See SplitRing::enable_notifications: true if entries are (still) available.
    bool enable_notifications();
    bool notifications_enabled() const {
        return format_ == RingFormat::packed ? packed_.notifications_enabled() : split_.notifications_enabled();
    }
    // Used elements written but not yet published. A queue that broke still publishes what it
    // completed before, if its rings are still mapped.
    bool has_unpublished() const {
        const bool unpublished = format_ == RingFormat::packed ? packed_.has_unpublished() : split_.has_unpublished();
        return live_ && !draining_ && unpublished && (!broken_ || mapping_valid());
    }
    // Publishes used elements; true if the driver wants an interrupt for them.
    bool publish_used();

    // ---- device side ----
    // Pops the next chain. `empty` when there is none (or the queue is draining); `fatal` when
    // the ring is broken (broken() is then true: stop using the queue).
    PopStatus pop(Chain& out);
    // Completes a popped chain: a used element with `written` bytes (a lower bound of what was
    // written into the device-writable part, section 2.7.8.2). Call only after every guest
    // buffer of the request is unmapped.
    void push(UsedToken token, uint32_t written);
    // Completes a popped chain that cannot be answered (no status byte): no used element, and
    // the queue is broken.
    void fail_chain(UsedToken token);

    QueueStats& stats() { return stats_; }
    const QueueStats& stats() const { return stats_; }

private:
    void break_ring(RingFault fault);
    bool mapping_valid() const { return mapped_ && group_->epoch_valid(mapped_epoch_); }
    void complete() {
        if (in_flight_ > 0) --in_flight_;
        group_->count_completion();
    }

    QueueGroup* group_ = nullptr;
    uint16_t index_ = 0;
    bool live_ = false;
    bool draining_ = false;
    bool broken_ = false;
    bool kicked_ = false;
    bool stalled_ = false;
    bool mapped_ = false;
    uint64_t mapped_epoch_ = 0;
    uint64_t stall_mark_ = 0;
    uint32_t in_flight_ = 0;
    QueueSetup setup_;
    RingFormat format_ = RingFormat::split;
    SplitRing split_;
    PackedRing packed_;
    QueueStats stats_;
};

}  // namespace domd::virtio
