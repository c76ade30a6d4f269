// Frame numbers of our physmap with nothing behind them, where Xen can place pages for us:
// the device tree's extended regions (/hypervisor reg[1..], Xen >= 4.16). Foreign guest pages,
// granted pages, ioreq pages and shared_info are put there, then mapped with the Mapper.
#pragma once

#include <cstdint>

#include "kernel/addr.h"
#include "kernel/limits.h"
#include "kernel/range_allocator.h"
#include "kernel/result.h"

namespace domd {

class FrameAllocator {
public:
    static constexpr size_t max_allocations = limits::max_frame_allocations;
    static constexpr size_t max_regions = limits::max_frame_regions;

    // Adds the whole frames inside `range`.
    Status add_region(PhysRange range) {
        uint64_t first = align_up(range.base.value, page_size) >> page_shift;
        uint64_t end = align_down(range.base.value + range.size, page_size) >> page_shift;
        if (range.base.value + range.size < range.base.value) return Err::range;
        if (end <= first) return Err::invalid;
        return frames_.add(first, end - first);
    }
    // `count` consecutive frames, the first a multiple of `align` frames. Err::no_space when no
    // run fits or max_allocations runs are live.
    Result<Gfn> allocate(uint64_t count = 1, uint64_t align = 1) {
        uint64_t first = TRY(frames_.allocate(count, align));
        return Gfn{first};
    }
    // Gives back exactly one allocation; anything else is refused (Err::invalid).
    Status free(Gfn first, uint64_t count = 1) { return frames_.free(first.value, count); }
    // An allocation that can never come back (Xen still holds a page at one of its frames): it
    // stays allocated for good, and is counted here.
    void withhold(Gfn first, uint64_t count = 1) {
        if (frames_.is_allocation(first.value, count)) withheld_ += count;
    }

    uint64_t free_frames() const { return frames_.free_units(); }
    uint64_t withheld_frames() const { return withheld_; }
    size_t live_allocations() const { return frames_.live(); }

private:
    RangeAllocator<max_allocations, max_regions> frames_;
    uint64_t withheld_ = 0;
};

}  // namespace domd
