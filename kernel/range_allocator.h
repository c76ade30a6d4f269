// First-fit allocator of aligned runs of units (frames, pages) from a few regions. Used for
// frame numbers in Xen's extended regions (kernel/frame_allocator.h) and for the virtual pages
// of the run-time mapping window (kernel/address_space.h).
//
// No heap, and no free that can fail for lack of room: it keeps the live allocations, sorted,
// in a fixed table (MaxLive entries), and the free space is whatever lies between them inside
// the regions. A free only shrinks that table, so any pattern of frees succeeds; the bound is
// met in allocate(), which fails cleanly (Err::no_space) when MaxLive runs are live.
//
// A free gives back exactly one allocation: the base and count allocate() returned. Part of
// one, or two at once, is refused (Err::invalid) and changes nothing; a caller that cannot give
// a whole run back (Xen still holds part of it) keeps the whole run, and counts it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernel/result.h"

namespace domd {

template <size_t MaxLive, size_t MaxRegions>
class RangeAllocator {
public:
    static_assert(MaxLive > 0 && MaxRegions > 0);
    static constexpr size_t max_live = MaxLive;
    static constexpr size_t max_regions = MaxRegions;

    struct Run {
        uint64_t base = 0;
        uint64_t count = 0;
        uint64_t end() const { return base + count; }
    };

    // Adds a region of free units. One that overlaps a region added before is refused
    // (Err::exists), one that wraps around the number space too (Err::range).
    Status add(uint64_t base, uint64_t count) {
        if (count == 0) return Err::invalid;
        if (base + count < base) return Err::range;
        if (regions_ == MaxRegions) return Err::no_space;
        size_t at = 0;
        while (at < regions_ && region_[at].base < base) ++at;
        if ((at > 0 && region_[at - 1].end() > base) || (at < regions_ && base + count > region_[at].base))
            return Err::exists;
        for (size_t j = regions_; j > at; --j) region_[j] = region_[j - 1];
        region_[at] = {base, count};
        ++regions_;
        free_units_ += count;
        return ok_status();
    }

    // The lowest run of `count` units whose base is a multiple of `align` (a power of two),
    // inside one region.
    Result<uint64_t> allocate(uint64_t count, uint64_t align = 1) {
        if (count == 0 || align == 0 || (align & (align - 1)) != 0) return Err::invalid;
        if (live_ == MaxLive) return Err::no_space;
        size_t next = 0;  // the first allocation not below the region being searched
        for (size_t r = 0; r < regions_; ++r) {
            const Run& region = region_[r];
            uint64_t cursor = region.base;
            for (;;) {
                bool inside = next < live_ && alloc_[next].base < region.end();
                uint64_t hole_end = inside ? alloc_[next].base : region.end();
                uint64_t start = (cursor + (align - 1)) & ~(align - 1);
                if (start >= cursor && start <= hole_end && hole_end - start >= count) {
                    insert_at(next, {start, count});
                    return start;
                }
                if (!inside) break;
                cursor = alloc_[next].end();
                ++next;
            }
        }
        return Err::no_space;
    }

    // Gives back one allocation, whole. Anything else is refused with Err::invalid.
    Status free(uint64_t base, uint64_t count) {
        size_t at = find(base);
        if (at == live_ || alloc_[at].base != base || alloc_[at].count != count) return Err::invalid;
        for (size_t j = at; j + 1 < live_; ++j) alloc_[j] = alloc_[j + 1];
        --live_;
        free_units_ += count;
        return ok_status();
    }

    // True if [base, base + count) is exactly one live allocation.
    bool is_allocation(uint64_t base, uint64_t count) const {
        size_t at = find(base);
        return at < live_ && alloc_[at].base == base && alloc_[at].count == count;
    }

    uint64_t free_units() const { return free_units_; }
    size_t live() const { return live_; }
    size_t regions() const { return regions_; }
    const Run& allocation(size_t i) const { return alloc_[i]; }

private:
    // The first allocation whose base is >= `base` (live_ if none).
    size_t find(uint64_t base) const {
        size_t lo = 0, hi = live_;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (alloc_[mid].base < base)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo;
    }
    void insert_at(size_t at, Run run) {
        for (size_t j = live_; j > at; --j) alloc_[j] = alloc_[j - 1];
        alloc_[at] = run;
        ++live_;
        free_units_ -= run.count;
    }

    Run alloc_[MaxLive] = {};  // live allocations, by base
    Run region_[MaxRegions] = {};  // by base, disjoint
    size_t live_ = 0;
    size_t regions_ = 0;
    uint64_t free_units_ = 0;
};

}  // namespace domd
