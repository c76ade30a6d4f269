// A Mapper over a page table and a window of virtual addresses: run-time mappings get their
// virtual pages from the window and their entries from the page table.
#pragma once

#include <cstdint>

#include "kernel/addr.h"
#include "kernel/mapper.h"
#include "kernel/page_table.h"
#include "kernel/range_allocator.h"

namespace domd {

template <typename Table>
class AddressSpace final : public Mapper {
public:
    static constexpr size_t max_free_extents = 256;

    AddressSpace(Table& table, VirtAddr window_base, uint64_t window_size) : table_(table) {
        window_page_base_ = window_base.value >> page_shift;
        window_pages_ = window_size >> page_shift;
        // Page 0 of the window stays unmapped so that a zero offset is never a valid mapping.
        (void)pages_.add(1, (window_size >> page_shift) - 1);
    }

    Result<VirtAddr> map(PhysAddr pa, uint64_t size, MapAttrs attrs) override {
        if (size == 0) return Err::invalid;
        uint64_t offset = pa.page_offset();
        uint64_t bytes = align_up(offset + size, page_size);
        uint64_t pages = bytes >> page_shift;
        // 2 MiB-aligned VAs for big mappings so the table can use blocks where PAs allow.
        uint64_t block_pages = (uint64_t{2} << 20) >> page_shift;
        bool big = pages >= block_pages;
        uint64_t first = TRY(pages_.allocate(pages, big ? block_pages : 1));
        VirtAddr va{(window_page_base_ + first) << page_shift};
        Status mapped = table_.map(va, PhysAddr{pa.value - offset}, bytes, attrs, big);
        if (!mapped.ok()) {
            (void)pages_.free(first, pages);
            return mapped.error();
        }
        ++live_mappings_;
        return va + offset;
    }

    Status unmap(VirtAddr va, uint64_t size) override {
        if (size == 0) return Err::invalid;
        uint64_t offset = va.page_offset();
        uint64_t bytes = align_up(offset + size, page_size);
        VirtAddr base{va.value - offset};
        if (!in_window(base, bytes)) return Err::invalid;
        TRY(table_.unmap(base, bytes));
        --live_mappings_;
        return pages_.free((base.value >> page_shift) - window_page_base_, bytes >> page_shift);
    }

    Result<PhysAddr> to_phys(VirtAddr va) const override {
        Translation t = TRY(table_.translate(va));
        return t.pa;
    }

    void begin_unmap_batch() override { table_.begin_batch(); }
    void end_unmap_batch() override { table_.end_batch(); }

    uint64_t free_window_pages() const { return pages_.free_units(); }
    uint64_t live_mappings() const { return live_mappings_; }

private:
    bool in_window(VirtAddr base, uint64_t bytes) const {
        uint64_t first = base.value >> page_shift;
        return first >= window_page_base_ && (first - window_page_base_) + (bytes >> page_shift) <= window_pages_;
    }

    Table& table_;
    uint64_t window_page_base_ = 0;
    uint64_t window_pages_ = 0;
    RangeAllocator<max_free_extents> pages_;
    uint64_t live_mappings_ = 0;
};

}  // namespace domd
