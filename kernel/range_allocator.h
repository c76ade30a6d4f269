// First-fit allocator of aligned runs from a set of free extents, with coalescing on free.
// No heap: the extent table has a fixed capacity. Used for frame numbers in Xen's extended
// regions (where foreign and granted pages get placed) and for virtual pages of the run-time
// mapping window. Units are whatever the caller counts (frames, pages).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernel/result.h"

namespace domd {

template <size_t Capacity>
class RangeAllocator {
public:
    struct Extent {
        uint64_t base = 0;
        uint64_t count = 0;
        uint64_t end() const { return base + count; }
    };

    // Adds free space. Overlap with space already free is refused (Err::exists).
    Status add(uint64_t base, uint64_t count) { return insert(base, count); }

    // Allocates `count` units whose base is a multiple of `align` (a power of two).
    Result<uint64_t> allocate(uint64_t count, uint64_t align = 1) {
        if (count == 0 || align == 0 || (align & (align - 1)) != 0) return Err::invalid;
        for (size_t i = 0; i < used_; ++i) {
            Extent& e = extents_[i];
            uint64_t start = (e.base + align - 1) & ~(align - 1);
            if (start < e.base || start - e.base > e.count || e.end() - start < count) continue;
            uint64_t head = start - e.base;
            uint64_t tail = e.end() - (start + count);
            if (head && tail) {
                if (used_ == Capacity) continue;  // splitting needs a slot we lack
                shift_up(i + 1);
                extents_[i + 1] = {start + count, tail};
                e.count = head;
            } else if (head) {
                e.count = head;
            } else if (tail) {
                e.base = start + count;
                e.count = tail;
            } else {
                remove_at(i);
            }
            free_units_ -= count;
            return start;
        }
        return Err::no_space;
    }

    // Returns a run to the free set. Freeing space that is already free is refused.
    Status free(uint64_t base, uint64_t count) { return insert(base, count); }

    uint64_t free_units() const { return free_units_; }
    size_t extents() const { return used_; }
    const Extent& extent(size_t i) const { return extents_[i]; }

private:
    Status insert(uint64_t base, uint64_t count) {
        if (count == 0) return Err::invalid;
        if (base + count < base) return Err::range;
        size_t i = 0;
        while (i < used_ && extents_[i].base < base) ++i;
        bool touches_prev = i > 0 && extents_[i - 1].end() == base;
        bool touches_next = i < used_ && base + count == extents_[i].base;
        if ((i > 0 && extents_[i - 1].end() > base) || (i < used_ && base + count > extents_[i].base))
            return Err::exists;
        if (touches_prev && touches_next) {
            extents_[i - 1].count += count + extents_[i].count;
            remove_at(i);
        } else if (touches_prev) {
            extents_[i - 1].count += count;
        } else if (touches_next) {
            extents_[i].base = base;
            extents_[i].count += count;
        } else {
            if (used_ == Capacity) return Err::no_space;
            shift_up(i);
            extents_[i] = {base, count};
        }
        free_units_ += count;
        return ok_status();
    }

    void shift_up(size_t from) {
        for (size_t j = used_; j > from; --j) extents_[j] = extents_[j - 1];
        ++used_;
    }
    void remove_at(size_t at) {
        for (size_t j = at; j + 1 < used_; ++j) extents_[j] = extents_[j + 1];
        --used_;
    }

    Extent extents_[Capacity] = {};
    size_t used_ = 0;
    uint64_t free_units_ = 0;
};

}  // namespace domd
