#include "virtio/packed_ring.h"

#include <cstring>

#include "kernel/atomic.h"

namespace domd::virtio {
namespace {

// Ring fields are naturally aligned (Virtqueue checks the area alignments of section 2.8.10.1),
// so they are read and written with single-copy-atomic accesses.
inline const uint16_t* u16_at(const uint8_t* base, uint64_t offset) {
    return reinterpret_cast<const uint16_t*>(base + offset);
}
inline uint16_t* u16_at(uint8_t* base, uint64_t offset) { return reinterpret_cast<uint16_t*>(base + offset); }
inline uint32_t* u32_at(uint8_t* base, uint64_t offset) { return reinterpret_cast<uint32_t*>(base + offset); }

constexpr uint64_t slot_offset(uint32_t slot) { return sizeof(PackedDesc) * uint64_t{slot}; }

// Section 2.8.1: a descriptor is available in lap `wrap` when AVAIL matches the driver's wrap
// counter and USED does not; both equal to it would be a used descriptor of that lap.
constexpr bool avail_bit(uint16_t flags) { return (flags & packed::desc_f_avail) != 0; }
constexpr bool used_bit(uint16_t flags) { return (flags & packed::desc_f_used) != 0; }
constexpr bool available_in(uint16_t flags, bool wrap) { return avail_bit(flags) == wrap && used_bit(flags) != wrap; }

}  // namespace

void PackedRing::start(uint16_t size, bool event_idx, bool indirect, bool grants) {
    size_ = size;
    event_idx_ = event_idx;
    indirect_ = indirect;
    grants_ = grants;
    notifications_enabled_ = true;
    // Section 2.8.1: both wrap counters start at 1, at slot 0 of a zeroed ring (2.8.13).
    next_avail_ = next_used_ = 0;
    avail_wrap_ = used_wrap_ = true;
    outstanding_ = 0;
    pending_ = false;
    unsignalled_slots_ = 0;
    for (uint64_t& word : in_flight_ids_) word = 0;
    ring_fault_ = RingFault::none;
}

PackedDesc PackedRing::read_desc(const uint8_t* table, uint32_t index) const {
    PackedDesc d;
    std::memcpy(&d, table + slot_offset(index), sizeof d);  // one copy, then trusted
    return d;
}

uint16_t PackedRing::flags_at(uint32_t index) const {
    return load_acquire(u16_at(rings_.desc, slot_offset(index) + offsetof(PackedDesc, flags)));
}

bool PackedRing::has_available() const { return avail_bit(flags_at(next_avail_)) == avail_wrap_; }

PopStatus PackedRing::pop(Chain& out, GuestMemory& memory) {
    if (ring_fault_ != RingFault::none) return PopStatus::fatal;
    // Acquire: the rest of the list, which the driver writes before the first descriptor's
    // flags (section 2.8.21.1), is visible once those flags are.
    const uint16_t head_flags = flags_at(next_avail_);
    if (avail_bit(head_flags) != avail_wrap_) return PopStatus::empty;
    // Marked used in a lap in which we have not used this slot: no driver writes that.
    if (used_bit(head_flags) == avail_wrap_) return fail(RingFault::flags_inconsistent);

    // The driver can only have made available the slots we are not still holding.
    const uint32_t room = size_ - outstanding_;
    ChainBuilder chain(out, grants_);
    uint32_t slot = next_avail_;
    bool wrap = avail_wrap_;
    uint32_t slots = 0;
    uint16_t id = 0;
    for (;;) {
        // Section 2.8.17: a list is at most the queue size long (no loops through the ring).
        if (slots == room) return fail(room == size_ ? RingFault::descriptor_loop : RingFault::avail_overrun);
        PackedDesc d = read_desc(rings_.desc, slot);
        if (slots == 0) {
            d.flags = head_flags;  // the value we checked, not a later one
        } else if (!available_in(d.flags, wrap)) {
            // Section 2.8.6: every descriptor of a list carries correct AVAIL/USED flags.
            return fail(RingFault::flags_inconsistent);
        }
        ++slots;
        if (++slot == size_) {
            slot = 0;
            wrap = !wrap;
        }
        if (d.flags & desc_flags::indirect) {
            // Section 2.8.19: only with VIRTIO_F_INDIRECT_DESC, and never in a list linked by
            // NEXT (neither with NEXT nor after a descriptor that had it).
            if (!indirect_) return fail(RingFault::indirect_not_negotiated);
            if (slots > 1 || (d.flags & desc_flags::next)) return fail(RingFault::indirect_with_next);
            if (!walk_indirect(chain, d, memory)) return PopStatus::fatal;
            id = d.id;
            break;
        }
        chain.add(d.addr, d.len, d.flags & desc_flags::write);
        if (!(d.flags & desc_flags::next)) {
            id = d.id;  // section 2.8.6: the Buffer ID is in the last descriptor of a list
            break;
        }
    }
    // Buffer IDs name the driver's per-buffer state (Linux: desc_state[id], id < num): an ID
    // outside the queue, or one whose buffer we still hold, would make our used descriptor lie.
    if (id >= size_) return fail(RingFault::id_out_of_range);
    if (id_in_flight(id)) return fail(RingFault::id_in_use);

    set_in_flight(id, true);
    outstanding_ += slots;
    next_avail_ = static_cast<uint16_t>(slot);
    avail_wrap_ = wrap;
    chain.finish({id, static_cast<uint16_t>(slots)});
    return PopStatus::chain;
}

bool PackedRing::walk_indirect(ChainBuilder& chain, const PackedDesc& d, GuestMemory& memory) {
    // Section 2.8.7: a table of whole descriptors, bounded like a split ring's table.
    if (d.len == 0 || d.len % sizeof(PackedDesc) != 0 || d.len / sizeof(PackedDesc) > limits::max_indirect_entries)
        return fault(RingFault::indirect_bad_length);
    if (range_wraps(d.addr, d.len) || (!grants_ && (d.addr & GuestMemory::grant_bit)))
        return fault(RingFault::indirect_unmappable);
    const uint32_t entries = d.len / sizeof(PackedDesc);

    const GuestRange table_range{d.addr, d.len, Access::from_guest};
    HostBytes table;
    RequestMapping mapping;
    if (!memory.map_request({&table_range, 1}, {&table, 1}, mapping).ok())
        return fault(RingFault::indirect_unmappable);
    bool ok = true;
    if (table.size() < d.len) {
        ok = fault(RingFault::indirect_unmappable);
    } else {
        // The entries follow one another (no NEXT walk, hence no loop). WRITE is the only flag
        // that means anything in them; the others, and the Buffer ID, are ignored (2.8.7).
        for (uint32_t i = 0; i < entries; ++i) {
            const PackedDesc e = read_desc(table.data(), i);
            chain.add(e.addr, e.len, e.flags & desc_flags::write);
        }
    }
    memory.unmap_request(mapping);  // the table was copied descriptor by descriptor
    return ok;
}

void PackedRing::add_used(UsedToken token, uint32_t written) {
    uint8_t* used = rings_.desc + slot_offset(next_used_);
    store_relaxed(u32_at(used, offsetof(PackedDesc, len)), written);
    store_relaxed(u16_at(used, offsetof(PackedDesc, id)), token.id);
    // Section 2.8.1: AVAIL and USED both equal to our wrap counter; 2.8.3: WRITE when the
    // device wrote into the buffer (Linux reads len either way).
    uint16_t flags = used_wrap_ ? static_cast<uint16_t>(packed::desc_f_avail | packed::desc_f_used) : 0;
    if (written != 0) flags |= desc_flags::write;
    if (!pending_) {
        pending_ = true;
        pending_slot_ = next_used_;
        pending_flags_ = flags;
    } else {
        // Release: id and len before the flags. A driver reads used descriptors in ring order
        // (section 2.8.2), so it sees none of these before the pending first one.
        store_release(u16_at(used, offsetof(PackedDesc, flags)), flags);
    }
    // Skip the rest of the list's slots (section 2.8.6).
    const uint32_t slots = token.slots <= outstanding_ ? token.slots : outstanding_;
    outstanding_ -= slots;
    uint32_t next = next_used_ + slots;
    if (next >= size_) {
        next -= size_;
        used_wrap_ = !used_wrap_;
    }
    next_used_ = static_cast<uint16_t>(next);
    if (token.id < size_) set_in_flight(token.id, false);
    unsignalled_slots_ += slots;
}

bool PackedRing::publish_used() {
    if (!pending_) return false;
    store_release(u16_at(rings_.desc, slot_offset(pending_slot_) + offsetof(PackedDesc, flags)), pending_flags_);
    pending_ = false;
    // The used descriptors must be visible before we read the driver's suppression state, or
    // a driver that just re-enabled interrupts could be missed (section 2.8.22).
    full_barrier();
    const uint32_t slots = unsignalled_slots_;
    unsignalled_slots_ = 0;
    const uint16_t flags = load_acquire(u16_at(rings_.driver, packed::event_flags_offset)) & packed::event_flags_mask;
    if (flags == packed::event_flags_disable) return false;
    // ENABLE, DESC without EVENT_IDX (not valid then) and the reserved value: interrupt, so
    // that a confused driver is never left waiting.
    if (flags != packed::event_flags_desc || !event_idx_ || slots >= size_) return true;
    // RING_EVENT_FLAGS_DESC: interrupt if the slot at (offset, wrap) was among those used since
    // the last decision. An event in the other lap lies one ring behind (Linux and vhost do the
    // same), so that the 16-bit window of need_event() covers both sides of a wrap.
    const uint16_t off_wrap = load_relaxed(u16_at(rings_.driver, packed::event_off_wrap_offset));
    uint16_t event = off_wrap & packed::event_offset_mask;
    if (((off_wrap & packed::event_wrap_bit) != 0) != used_wrap_) event = static_cast<uint16_t>(event - size_);
    return need_event(event, next_used_, static_cast<uint16_t>(next_used_ - slots));
}

void PackedRing::disable_notifications() {
    store_relaxed(u16_at(rings_.device, packed::event_flags_offset), packed::event_flags_disable);
    notifications_enabled_ = false;
}

bool PackedRing::enable_notifications() {
    notifications_enabled_ = true;
    if (event_idx_) {
        const uint16_t off_wrap = static_cast<uint16_t>(next_avail_ | (avail_wrap_ ? packed::event_wrap_bit : 0));
        // Release: a driver that sees DESC sees this off_wrap with it (Linux reads both at once).
        store_relaxed(u16_at(rings_.device, packed::event_off_wrap_offset), off_wrap);
        store_release(u16_at(rings_.device, packed::event_flags_offset), packed::event_flags_desc);
    } else {
        store_relaxed(u16_at(rings_.device, packed::event_flags_offset), packed::event_flags_enable);
    }
    // Our store must be visible before we look at the ring again: a driver that made a
    // descriptor available after our last look, and read the old suppression state, did not
    // notify.
    full_barrier();
    return has_available();
}

}  // namespace domd::virtio
