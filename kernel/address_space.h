// A Mapper over a page table and a window of virtual addresses: run-time mappings get their
// virtual pages from the window and their entries from the page table.
//
// The window has two areas, so that the page tables the mappings need stay bounded (the sizing
// rule is in kernel/limits.h):
//  - the page area, at the bottom: mappings smaller than 2 MiB (a request's grant window, rings,
//    shared pages), in 4 KiB pages. Whatever they are, they never need more last-level tables
//    than one per 2 MiB of the area.
//  - the block area, the rest: mappings of 2 MiB and more (guest RAM), at 2 MiB-aligned
//    addresses, in 2 MiB blocks where the physical address allows.
#pragma once

#include <cstdint>

#include "kernel/addr.h"
#include "kernel/limits.h"
#include "kernel/mapper.h"
#include "kernel/page_table.h"
#include "kernel/panic.h"
#include "kernel/range_allocator.h"

namespace domd {

template <typename Table>
class AddressSpace final : public Mapper {
public:
    static constexpr uint64_t block_bytes = uint64_t{2} << 20;
    static constexpr uint64_t block_pages = block_bytes >> page_shift;

    // The window is [window_base, window_base + window_size); its first `page_area_size` bytes
    // are the page area. All three are 2 MiB aligned, and the block area is not empty.
    AddressSpace(Table& table, VirtAddr window_base, uint64_t window_size,
                 uint64_t page_area_size = limits::page_area_bytes)
        : table_(table) {
        DOMD_ASSERT(is_aligned(window_base.value, block_bytes) && is_aligned(window_size, block_bytes) &&
                    is_aligned(page_area_size, block_bytes) && page_area_size < window_size);
        window_page_base_ = window_base.value >> page_shift;
        window_pages_ = window_size >> page_shift;
        page_area_pages_ = page_area_size >> page_shift;
        // Page 0 of the window stays unmapped so that a zero offset is never a valid mapping.
        (void)small_.add(1, page_area_pages_ - 1);
        (void)big_.add(page_area_pages_, window_pages_ - page_area_pages_);
    }

    Result<VirtAddr> map(PhysAddr pa, uint64_t size, MapAttrs attrs) override {
        uint64_t offset = pa.page_offset();
        if (size == 0 || size > (window_pages_ << page_shift)) return Err::invalid;
        uint64_t bytes = align_up(offset + size, page_size);
        uint64_t pages = bytes >> page_shift;
        bool big = pages >= block_pages;
        uint64_t first = TRY(big ? big_.allocate(pages, block_pages) : small_.allocate(pages));
        VirtAddr va{(window_page_base_ + first) << page_shift};
        Status mapped = table_.map(va, PhysAddr{pa.value - offset}, bytes, attrs, big);
        if (!mapped.ok()) {
            // Exactly the run just allocated: giving it back cannot fail.
            Status freed = free_run(first, pages);
            DOMD_ASSERT(freed.ok());
            return mapped.error();
        }
        ++live_mappings_;
        return va + offset;
    }

    // Undoes exactly one map(): anything else (part of a mapping, two at once, outside the
    // window) is refused with Err::invalid and changes nothing.
    Status unmap(VirtAddr va, uint64_t size) override {
        uint64_t offset = va.page_offset();
        if (size == 0 || size > (window_pages_ << page_shift)) return Err::invalid;
        uint64_t bytes = align_up(offset + size, page_size);
        VirtAddr base{va.value - offset};
        // Only the window pages of a live mapping, exactly (an address outside the window is
        // none: below it, `first` wraps around to a page number no area has).
        uint64_t first = (base.value >> page_shift) - window_page_base_;
        if (!is_run(first, bytes >> page_shift)) return Err::invalid;
        TRY(table_.unmap(base, bytes));
        --live_mappings_;
        Status freed = free_run(first, bytes >> page_shift);  // checked above: cannot fail
        DOMD_ASSERT(freed.ok());
        return ok_status();
    }

    Result<PhysAddr> to_phys(VirtAddr va) const override {
        Translation t = TRY(table_.translate(va));
        return t.pa;
    }

    Result<VirtAddr> reserve(uint64_t size) override {
        if (size == 0 || !is_aligned(size, block_bytes) || size > (window_pages_ << page_shift)) return Err::invalid;
        Reservation* slot = nullptr;
        for (auto& r : reservations_)
            if (r.pages == 0) {
                slot = &r;
                break;
            }
        if (!slot) return Err::no_space;
        uint64_t pages = size >> page_shift;
        uint64_t first = TRY(big_.allocate(pages, block_pages));
        *slot = Reservation{first, pages, 0};
        return VirtAddr{(window_page_base_ + first) << page_shift};
    }

    Status release(VirtAddr base, uint64_t size) override {
        Reservation* r = reservation_of(base, size);
        if (!r || r->first != page_of(base) || r->pages != (size >> page_shift)) return Err::invalid;
        if (r->mapped_pages != 0) return Err::busy;
        Status freed = big_.free(r->first, r->pages);
        DOMD_ASSERT(freed.ok());
        *r = Reservation{};
        return ok_status();
    }

    Status map_at(VirtAddr va, PhysAddr pa, uint64_t size, MapAttrs attrs) override {
        if (!is_aligned(va.value, page_size) || !is_aligned(pa.value, page_size)) return Err::invalid;
        Reservation* r = reservation_of(va, size);
        if (!r) return Err::invalid;
        TRY(table_.map(va, pa, size, attrs, true));
        r->mapped_pages += size >> page_shift;
        return ok_status();
    }

    Status unmap_at(VirtAddr va, uint64_t size) override {
        if (!is_aligned(va.value, page_size)) return Err::invalid;
        Reservation* r = reservation_of(va, size);
        if (!r) return Err::invalid;
        TRY(table_.unmap(va, size));
        r->mapped_pages -= size >> page_shift;
        return ok_status();
    }

    void begin_unmap_batch() override { table_.begin_batch(); }
    void end_unmap_batch() override { table_.end_batch(); }

    uint64_t free_window_pages() const { return small_.free_units() + big_.free_units(); }
    uint64_t free_page_area_pages() const { return small_.free_units(); }
    uint64_t live_mappings() const { return live_mappings_; }

private:
    // Window pages [first, first + count), in the area `first` is in.
    bool is_small(uint64_t first) const { return first < page_area_pages_; }
    bool is_run(uint64_t first, uint64_t count) const {
        return is_small(first) ? small_.is_allocation(first, count) : big_.is_allocation(first, count);
    }
    Status free_run(uint64_t first, uint64_t count) {
        return is_small(first) ? small_.free(first, count) : big_.free(first, count);
    }

    struct Reservation {
        uint64_t first = 0;  // window page
        uint64_t pages = 0;  // 0: a free slot
        uint64_t mapped_pages = 0;
    };
    uint64_t page_of(VirtAddr va) const { return (va.value >> page_shift) - window_page_base_; }
    // The reservation holding all of [va, va + size), if one does.
    Reservation* reservation_of(VirtAddr va, uint64_t size) {
        if (size == 0 || !is_aligned(size, page_size) || va.value + size < va.value) return nullptr;
        uint64_t first = page_of(va);
        uint64_t count = size >> page_shift;
        for (auto& r : reservations_)
            if (r.pages && first >= r.first && first - r.first < r.pages && count <= r.pages - (first - r.first))
                return &r;
        return nullptr;
    }

    Table& table_;
    uint64_t window_page_base_ = 0;
    uint64_t window_pages_ = 0;
    uint64_t page_area_pages_ = 0;
    // Page numbers within the window; each area holds its live-mapping bound (kernel/limits.h).
    RangeAllocator<limits::max_small_mappings, 1> small_;  // [1, page_area_pages_)
    RangeAllocator<limits::max_big_mappings, 1> big_;      // [page_area_pages_, window_pages_)
    Reservation reservations_[limits::max_reservations] = {};
    uint64_t live_mappings_ = 0;
};

}  // namespace domd
