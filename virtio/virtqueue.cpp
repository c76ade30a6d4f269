#include "virtio/virtqueue.h"

#include "kernel/addr.h"
#include "virtio/limits.h"
#include "virtio/spec.h"

namespace domd::virtio {

Status Virtqueue::start(const QueueSetup& setup, uint16_t max_size, uint64_t features) {
    if (live_) return Err::busy;
    // Section 2.7: split queue sizes are powers of two, at most QueueNumMax (4.2.2.2).
    const uint32_t limit = max_size < limits::max_queue_size ? max_size : limits::max_queue_size;
    if (setup.size == 0 || setup.size > limit || (setup.size & (setup.size - 1)) != 0) return Err::invalid;
    if (!is_aligned(setup.desc, split::desc_align) || !is_aligned(setup.driver, split::avail_align) ||
        !is_aligned(setup.device, split::used_align))
        return Err::invalid;
    setup_ = setup;
    ring_.start(static_cast<uint16_t>(setup.size), (features & features::ring_event_idx) != 0,
                (features & features::indirect_desc) != 0);
    live_ = true;
    broken_ = draining_ = kicked_ = stalled_ = mapped_ = false;
    in_flight_ = 0;
    if (!ensure_mapped()) {
        stop();
        broken_ = false;
        return Err::fault;
    }
    return ok_status();
}

void Virtqueue::stop() {
    live_ = draining_ = kicked_ = stalled_ = mapped_ = broken_ = false;
    in_flight_ = 0;
    ring_.set_pointers({});
}

bool Virtqueue::ensure_mapped() {
    if (!live_ || broken_) return false;
    if (mapped_ && group_->epoch_valid(mapped_epoch_)) return true;
    // Twice at most: mapping may itself move the generation (releasing what it just mapped);
    // a memory that keeps doing so is broken.
    for (int attempt = 0; attempt < 2; ++attempt) {
        mapped_ = false;
        const uint64_t epoch = group_->current_epoch();
        GuestMemory& memory = group_->memory();
        const uint32_t size = setup_.size;
        auto desc = memory.map_ring(setup_.desc, split::desc_table_bytes(size), false);
        auto avail = memory.map_ring(setup_.driver, split::avail_ring_bytes(size), false);
        auto used = memory.map_ring(setup_.device, split::used_ring_bytes(size), true);
        if (!desc.ok() || !avail.ok() || !used.ok()) break;
        // Our accesses to ring fields are single-copy atomic only if the host pointers keep the
        // guest addresses' alignment (an unaligned acquire faults on arm64).
        if (!is_aligned(reinterpret_cast<uintptr_t>(desc.value()), split::desc_align) ||
            !is_aligned(reinterpret_cast<uintptr_t>(avail.value()), split::avail_align) ||
            !is_aligned(reinterpret_cast<uintptr_t>(used.value()), split::used_align))
            break;
        if (!group_->epoch_valid(epoch)) continue;
        ring_.set_pointers({desc.value(), avail.value(), used.value()});
        mapped_ = true;
        mapped_epoch_ = epoch;
        ++stats_.remaps;
        return true;
    }
    break_ring(RingFault::ring_unmappable);
    return false;
}

bool Virtqueue::maybe_available() const {
    if (!live_ || broken_ || draining_) return false;
    if (!mapped_ || !group_->epoch_valid(mapped_epoch_)) return true;
    return ring_.has_available();
}

bool Virtqueue::has_available() {
    if (draining_ || !ensure_mapped()) return false;
    return ring_.has_available();
}

void Virtqueue::disable_notifications() {
    if (ensure_mapped()) ring_.disable_notifications();
}

bool Virtqueue::enable_notifications() {
    if (draining_ || !ensure_mapped()) return false;
    const bool raced = ring_.enable_notifications();
    if (raced) ++stats_.notify_raced;
    return raced;
}

bool Virtqueue::publish_used() {
    if (!has_unpublished()) return false;
    if (!broken_ && !ensure_mapped()) return false;
    if (ring_.publish_used()) {
        ++stats_.interrupts_wanted;
        return true;
    }
    ++stats_.interrupts_suppressed;
    return false;
}

PopStatus Virtqueue::pop(Chain& out) {
    if (draining_ || !ensure_mapped()) return broken_ ? PopStatus::fatal : PopStatus::empty;
    const PopStatus status = ring_.pop(out, group_->memory());
    if (status == PopStatus::fatal) {
        break_ring(ring_.ring_fault());
        return status;
    }
    if (status == PopStatus::chain) {
        ++in_flight_;
        ++stats_.chains;
        if (out.fault != ChainFault::none) {
            ++stats_.chains_rejected;
            ++stats_.chain_faults[static_cast<int>(out.fault)];
        }
    }
    return status;
}

void Virtqueue::push(UsedToken token, uint32_t written) {
    complete();
    if (draining_ || !ensure_mapped()) {
        ++stats_.dropped;
        return;
    }
    ring_.add_used(token, written);
    ++stats_.used;
}

void Virtqueue::fail_chain(UsedToken) {
    complete();
    break_ring(RingFault::unanswerable_chain);
}

void Virtqueue::break_ring(RingFault fault) {
    if (!broken_) ++stats_.ring_faults[static_cast<int>(fault)];
    broken_ = true;
}

}  // namespace domd::virtio
