#include "virtio/split_ring.h"

#include <cstring>

#include "kernel/atomic.h"

namespace domd::virtio {
namespace {

// Ring fields are naturally aligned (Virtqueue checks the area alignments of section 2.7), so
// they are read and written with single-copy-atomic accesses.
inline const uint16_t* u16_at(const uint8_t* base, uint64_t offset) {
    return reinterpret_cast<const uint16_t*>(base + offset);
}
inline uint16_t* u16_at(uint8_t* base, uint64_t offset) { return reinterpret_cast<uint16_t*>(base + offset); }
inline uint32_t* u32_at(uint8_t* base, uint64_t offset) { return reinterpret_cast<uint32_t*>(base + offset); }

}  // namespace

void SplitRing::start(uint16_t size, bool event_idx, bool indirect, bool grants) {
    size_ = size;
    event_idx_ = event_idx;
    indirect_ = indirect;
    grants_ = grants;
    notifications_enabled_ = true;
    // Section 2.7: a freshly set-up ring starts with both indices at 0 (the driver zeroes it).
    last_avail_ = used_shadow_ = used_published_ = signalled_used_ = 0;
    ring_fault_ = RingFault::none;
}

const VirtqDesc SplitRing::read_desc(const uint8_t* table, uint32_t index) const {
    VirtqDesc d;
    std::memcpy(&d, table + uint64_t{index} * sizeof(VirtqDesc), sizeof d);  // one copy, then trusted
    return d;
}

uint16_t SplitRing::avail_idx() const { return load_acquire(u16_at(rings_.avail, split::avail_idx_offset)); }
uint16_t SplitRing::avail_flags() const { return load_relaxed(u16_at(rings_.avail, split::avail_flags_offset)); }
uint16_t SplitRing::used_event() const { return load_relaxed(u16_at(rings_.avail, split::used_event_offset(size_))); }

bool SplitRing::has_available() const { return avail_idx() != last_avail_; }

PopStatus SplitRing::pop(Chain& out, GuestMemory& memory) {
    if (ring_fault_ != RingFault::none) return PopStatus::fatal;
    // Acquire: the ring entry and descriptors the driver wrote before publishing idx are visible.
    uint16_t avail = avail_idx();
    uint16_t pending = static_cast<uint16_t>(avail - last_avail_);
    if (pending == 0) return PopStatus::empty;
    // Section 2.7.6: the driver can have at most `size` entries outstanding.
    if (pending > size_) return fail(RingFault::avail_index_jump);
    uint16_t head = load_relaxed(u16_at(rings_.avail, split::avail_ring_offset + 2 * uint64_t(last_avail_ & (size_ - 1))));
    if (head >= size_) return fail(RingFault::head_out_of_range);

    ChainBuilder chain(out, grants_);
    uint32_t slots = 0;
    if (!walk(chain, head, slots, memory)) return PopStatus::fatal;
    chain.finish({head, static_cast<uint16_t>(slots)});
    ++last_avail_;
    return PopStatus::chain;
}

bool SplitRing::walk(ChainBuilder& chain, uint16_t head, uint32_t& slots, GuestMemory& memory) {
    uint32_t index = head;
    for (;;) {
        if (index >= size_) return fault(RingFault::next_out_of_range);
        // A chain is at most `size` descriptors long (section 2.7.5.3.1); more means a loop.
        if (++slots > size_) return fault(RingFault::descriptor_loop);
        const VirtqDesc d = read_desc(rings_.desc, index);
        if (d.flags & desc_flags::indirect) return walk_indirect(chain, d, memory);
        chain.add(d.addr, d.len, d.flags & desc_flags::write);
        if (!(d.flags & desc_flags::next)) return true;
        index = d.next;
    }
}

bool SplitRing::walk_indirect(ChainBuilder& chain, const VirtqDesc& d, GuestMemory& memory) {
    // Section 2.7.5.3.1: only with VIRTIO_F_INDIRECT_DESC, never with NEXT, never nested (the
    // nesting check is in the table loop below); the table is whole descriptors.
    if (!indirect_) return fault(RingFault::indirect_not_negotiated);
    if (d.flags & desc_flags::next) return fault(RingFault::indirect_with_next);
    if (d.len == 0 || d.len % sizeof(VirtqDesc) != 0 || d.len / sizeof(VirtqDesc) > limits::max_indirect_entries)
        return fault(RingFault::indirect_bad_length);
    if (range_wraps(d.addr, d.len) || (!grants_ && (d.addr & GuestMemory::grant_bit)))
        return fault(RingFault::indirect_unmappable);
    const uint32_t entries = d.len / sizeof(VirtqDesc);

    const GuestRange table_range{d.addr, d.len, Access::from_guest};
    HostBytes table;
    RequestMapping mapping;
    if (!memory.map_request({&table_range, 1}, {&table, 1}, mapping).ok())
        return fault(RingFault::indirect_unmappable);
    bool ok = true;
    if (table.size() < d.len) {
        ok = fault(RingFault::indirect_unmappable);
    } else {
        uint32_t index = 0;
        uint32_t walked = 0;
        for (;;) {
            if (index >= entries) {
                ok = fault(RingFault::next_out_of_range);
                break;
            }
            if (++walked > entries) {
                ok = fault(RingFault::descriptor_loop);
                break;
            }
            const VirtqDesc e = read_desc(table.data(), index);
            if (e.flags & desc_flags::indirect) {
                ok = fault(RingFault::nested_indirect);
                break;
            }
            chain.add(e.addr, e.len, e.flags & desc_flags::write);
            if (!(e.flags & desc_flags::next)) break;
            index = e.next;
        }
    }
    memory.unmap_request(mapping);  // the table was copied descriptor by descriptor
    return ok;
}

void SplitRing::add_used(UsedToken token, uint32_t written) {
    const uint64_t slot = split::used_ring_offset + sizeof(VirtqUsedElem) * uint64_t(used_shadow_ & (size_ - 1));
    store_relaxed(u32_at(rings_.used, slot + offsetof(VirtqUsedElem, id)), uint32_t{token.id});
    store_relaxed(u32_at(rings_.used, slot + offsetof(VirtqUsedElem, len)), written);
    ++used_shadow_;
}

bool SplitRing::publish_used() {
    if (used_shadow_ == used_published_) return false;
    // Section 2.7.8.2: elements before the index (release); then a full barrier so the index
    // is visible before we read the driver's suppression state (2.7.7.2), or a driver that
    // just re-enabled interrupts could be missed.
    store_release(u16_at(rings_.used, split::used_idx_offset), used_shadow_);
    used_published_ = used_shadow_;
    full_barrier();
    if (!event_idx_) return !(avail_flags() & split::avail_f_no_interrupt);
    const uint16_t old = signalled_used_;
    signalled_used_ = used_published_;
    return need_event(used_event(), used_published_, old);
}

void SplitRing::disable_notifications() {
    if (event_idx_) {
        // Section 2.7.10: the driver notifies when its index crosses avail_event. Half the index
        // space away from what we consumed, it cannot be crossed by a driver that has at most
        // `size` entries outstanding. Rewritten on every pass, so it never drifts into reach.
        store_relaxed(u16_at(rings_.used, split::avail_event_offset(size_)), static_cast<uint16_t>(last_avail_ ^ 0x8000));
    } else if (notifications_enabled_) {
        store_relaxed(u16_at(rings_.used, split::used_flags_offset), split::used_f_no_notify);
    }
    notifications_enabled_ = false;
}

bool SplitRing::enable_notifications() {
    notifications_enabled_ = true;
    if (event_idx_) store_relaxed(u16_at(rings_.used, split::avail_event_offset(size_)), last_avail_);
    else store_relaxed(u16_at(rings_.used, split::used_flags_offset), uint16_t{0});
    // Our store must be visible before we look at the index again: a driver that added an
    // entry after our last look, and read the old suppression state, did not notify.
    full_barrier();
    return avail_idx() != last_avail_;
}

}  // namespace domd::virtio
