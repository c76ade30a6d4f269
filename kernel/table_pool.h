// A fixed pool of page-table pages, sized at compile time. It lives inside the kernel image
// (BSS), so its pages have a virtual address once the MMU is on and a physical one before; the
// pool stores only its physical base and derives pointers from where its own storage is, which
// is right in both regimes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernel/addr.h"
#include "kernel/result.h"

namespace domd {

template <size_t Pages>
class TablePool {
public:
    static constexpr size_t entries_per_table = page_size / sizeof(uint64_t);

    // Records the physical address of the pool's first page (known from the load address).
    void set_physical_base(PhysAddr base) { base_ = base; }
    PhysAddr physical_base() const { return base_; }

    Result<PhysAddr> alloc() {
        for (size_t w = 0; w < words; ++w) {
            if (used_[w] == ~uint64_t{0}) continue;
            unsigned bit = static_cast<unsigned>(__builtin_ctzll(~used_[w]));
            size_t index = w * 64 + bit;
            if (index >= Pages) break;
            used_[w] |= uint64_t{1} << bit;
            ++in_use_;
            clear_page(index);
            return base_ + index * page_size;
        }
        return Err::no_memory;
    }

    void free(PhysAddr pa) {
        size_t index = index_of(pa);
        uint64_t bit = uint64_t{1} << (index % 64);
        // Only pages handed out and not yet freed ever reach here; anything else is our own bug.
        if (!(used_[index / 64] & bit)) __builtin_trap();
        used_[index / 64] &= ~bit;
        retired_[index / 64] &= ~bit;
        --in_use_;
    }

    // A table that was unlinked but that the table walker may still read until the TLB
    // maintenance completes: still in use, freed by release_retired().
    void retire(PhysAddr pa) {
        size_t index = index_of(pa);
        retired_[index / 64] |= uint64_t{1} << (index % 64);
    }
    // The TLB maintenance completed: every retired page is free.
    void release_retired() {
        for (size_t w = 0; w < words; ++w) {
            if (!retired_[w]) continue;
            in_use_ -= static_cast<size_t>(__builtin_popcountll(retired_[w]));
            used_[w] &= ~retired_[w];
            retired_[w] = 0;
        }
    }

    // Where the pool's pages are in the current translation regime (physical before the MMU).
    const void* storage() const { return pages_; }

    uint64_t* entries(PhysAddr pa) { return pages_[index_of(pa)].entries; }
    size_t available() const { return Pages - in_use_; }
    size_t in_use() const { return in_use_; }
    static constexpr size_t capacity() { return Pages; }

private:
    static constexpr size_t words = (Pages + 63) / 64;

    size_t index_of(PhysAddr pa) const {
        // Only addresses this pool handed out ever reach here; anything else is our own bug.
        size_t index = (pa.value - base_.value) / page_size;
        if (pa.value < base_.value || index >= Pages) __builtin_trap();
        return index;
    }
    // Byte loop, not memset: the pool is also used before the MMU is on, where data accesses are
    // Device memory and libc's optimized memset (DC ZVA, unaligned stores) would fault.
    void clear_page(size_t index) {
        volatile uint64_t* p = pages_[index].entries;
        for (size_t i = 0; i < entries_per_table; ++i) p[i] = 0;
    }

    struct alignas(page_size) Page {
        uint64_t entries[entries_per_table];
    };
    Page pages_[Pages] = {};
    uint64_t used_[words] = {};
    uint64_t retired_[words] = {};
    size_t in_use_ = 0;
    PhysAddr base_{};
};

}  // namespace domd
