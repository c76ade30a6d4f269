#include "virtio/virtqueue.h"

#include "kernel/addr.h"
#include "virtio/limits.h"
#include "virtio/spec.h"

namespace domd::virtio {

namespace {

// The three areas of a queue in each format: bytes, alignment, and whether we write them.
struct Area {
    uint64_t bytes;
    uint64_t align;
    bool writable;
};
struct Layout {
    Area desc, driver, device;
};

Layout layout(RingFormat format, uint32_t size) {
    if (format == RingFormat::packed) {
        // Section 2.8.10.1. The descriptor ring is written too: used descriptors go there.
        return {{packed::desc_ring_bytes(size), packed::desc_align, true},
                {packed::event_bytes, packed::driver_align, false},
                {packed::event_bytes, packed::device_align, true}};
    }
    // Section 2.7, "Virtqueue Part / Alignment / Size".
    return {{split::desc_table_bytes(size), split::desc_align, false},
            {split::avail_ring_bytes(size), split::avail_align, false},
            {split::used_ring_bytes(size), split::used_align, true}};
}

}  // namespace

Status Virtqueue::start(const QueueSetup& setup, uint16_t max_size, uint64_t features) {
    if (live_) return Err::busy;
    const RingFormat format = (features & features::ring_packed) ? RingFormat::packed : RingFormat::split;
    // At most QueueNumMax (4.2.2.2). Section 2.7: split queue sizes are powers of two; 2.8:
    // packed ones need not be.
    const uint32_t limit = max_size < limits::max_queue_size ? max_size : limits::max_queue_size;
    if (setup.size == 0 || setup.size > limit) return Err::invalid;
    if (format == RingFormat::split && (setup.size & (setup.size - 1)) != 0) return Err::invalid;
    const Layout areas = layout(format, setup.size);
    if (!is_aligned(setup.desc, areas.desc.align) || !is_aligned(setup.driver, areas.driver.align) ||
        !is_aligned(setup.device, areas.device.align))
        return Err::invalid;
    setup_ = setup;
    format_ = format;
    const bool event_idx = (features & features::ring_event_idx) != 0;
    const bool indirect = (features & features::indirect_desc) != 0;
    // A legacy device (no VERSION_1) has no VIRTIO_F_ACCESS_PLATFORM: physical addresses only.
    const bool grants = (features & features::version_1) != 0;
    const auto size = static_cast<uint16_t>(setup.size);
    if (format == RingFormat::packed) packed_.start(size, event_idx, indirect, grants);
    else split_.start(size, event_idx, indirect, grants);
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
    split_.set_pointers({});
    packed_.set_pointers({});
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
        const Layout areas = layout(format_, setup_.size);
        auto desc = memory.map_ring(setup_.desc, areas.desc.bytes, areas.desc.writable);
        auto driver = memory.map_ring(setup_.driver, areas.driver.bytes, areas.driver.writable);
        auto device = memory.map_ring(setup_.device, areas.device.bytes, areas.device.writable);
        if (!desc.ok() || !driver.ok() || !device.ok()) break;
        // Our accesses to ring fields are single-copy atomic only if the host pointers keep the
        // guest addresses' alignment (an unaligned acquire faults on arm64).
        if (!is_aligned(reinterpret_cast<uintptr_t>(desc.value()), areas.desc.align) ||
            !is_aligned(reinterpret_cast<uintptr_t>(driver.value()), areas.driver.align) ||
            !is_aligned(reinterpret_cast<uintptr_t>(device.value()), areas.device.align))
            break;
        if (!group_->epoch_valid(epoch)) continue;
        if (format_ == RingFormat::packed) packed_.set_pointers({desc.value(), driver.value(), device.value()});
        else split_.set_pointers({desc.value(), driver.value(), device.value()});
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
    return format_ == RingFormat::packed ? packed_.has_available() : split_.has_available();
}

bool Virtqueue::has_available() {
    if (draining_ || !ensure_mapped()) return false;
    return format_ == RingFormat::packed ? packed_.has_available() : split_.has_available();
}

void Virtqueue::disable_notifications() {
    if (!ensure_mapped()) return;
    if (format_ == RingFormat::packed) packed_.disable_notifications();
    else split_.disable_notifications();
}

bool Virtqueue::enable_notifications() {
    if (draining_ || !ensure_mapped()) return false;
    const bool raced = format_ == RingFormat::packed ? packed_.enable_notifications() : split_.enable_notifications();
    if (raced) ++stats_.notify_raced;
    return raced;
}

bool Virtqueue::publish_used() {
    if (!has_unpublished()) return false;
    if (!broken_ && !ensure_mapped()) return false;
    if (format_ == RingFormat::packed ? packed_.publish_used() : split_.publish_used()) {
        ++stats_.interrupts_wanted;
        return true;
    }
    ++stats_.interrupts_suppressed;
    return false;
}

PopStatus Virtqueue::pop(Chain& out) {
    if (draining_ || !ensure_mapped()) return broken_ ? PopStatus::fatal : PopStatus::empty;
    const PopStatus status =
        format_ == RingFormat::packed ? packed_.pop(out, group_->memory()) : split_.pop(out, group_->memory());
    if (status == PopStatus::fatal) {
        break_ring(format_ == RingFormat::packed ? packed_.ring_fault() : split_.ring_fault());
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
    if (format_ == RingFormat::packed) packed_.add_used(token, written);
    else split_.add_used(token, written);
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
