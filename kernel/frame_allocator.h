// Frame numbers of our physmap with nothing behind them, where Xen can place pages for us:
// the device tree's extended regions (/hypervisor reg[1..], Xen >= 4.16). Foreign guest pages,
// granted pages, ioreq pages and shared_info are put there, then mapped with the Mapper.
#pragma once

#include <cstdint>

#include "kernel/addr.h"
#include "kernel/range_allocator.h"
#include "kernel/result.h"

namespace domd {

class FrameAllocator {
public:
    static constexpr size_t max_extents = 64;

    // Adds the whole frames inside `range`.
    Status add_region(PhysRange range) {
        uint64_t first = align_up(range.base.value, page_size) >> page_shift;
        uint64_t end = align_down(range.base.value + range.size, page_size) >> page_shift;
        if (end <= first) return Err::invalid;
        return frames_.add(first, end - first);
    }
    // `count` consecutive frames, the first a multiple of `align` frames.
    Result<Gfn> allocate(uint64_t count = 1, uint64_t align = 1) {
        uint64_t first = TRY(frames_.allocate(count, align));
        return Gfn{first};
    }
    Status free(Gfn first, uint64_t count = 1) { return frames_.free(first.value, count); }
    uint64_t free_frames() const { return frames_.free_units(); }

private:
    RangeAllocator<max_extents> frames_;
};

}  // namespace domd
