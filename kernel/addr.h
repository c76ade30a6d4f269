// Typed addresses. A virtual address, one of our guest-physical addresses and a frame number
// are different things; mixing them up must not compile. Conversions between virtual and
// physical go through the page tables (kernel/page_table.h), never through arithmetic.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>

namespace domd {

constexpr uint64_t page_shift = 12;
constexpr uint64_t page_size = uint64_t{1} << page_shift;
constexpr uint64_t page_mask = page_size - 1;

constexpr uint64_t align_down(uint64_t value, uint64_t align) { return value & ~(align - 1); }
constexpr uint64_t align_up(uint64_t value, uint64_t align) { return (value + align - 1) & ~(align - 1); }
constexpr bool is_aligned(uint64_t value, uint64_t align) { return (value & (align - 1)) == 0; }
constexpr uint64_t pages_for(uint64_t bytes) { return align_up(bytes, page_size) >> page_shift; }

// A virtual address in domd's own stage-1 translation regime.
struct VirtAddr {
    uintptr_t value = 0;

    template <typename T>
    T* as() const { return reinterpret_cast<T*>(value); }
    static VirtAddr of(const volatile void* ptr) { return {reinterpret_cast<uintptr_t>(ptr)}; }
    constexpr VirtAddr operator+(uint64_t offset) const { return {value + offset}; }
    constexpr uint64_t page_offset() const { return value & page_mask; }
    constexpr bool operator==(const VirtAddr&) const = default;
    constexpr auto operator<=>(const VirtAddr&) const = default;
};

// An address in domd's own guest-physical space (Xen's IPA for this domain).
struct PhysAddr {
    uint64_t value = 0;

    constexpr PhysAddr operator+(uint64_t offset) const { return {value + offset}; }
    constexpr uint64_t page_offset() const { return value & page_mask; }
    constexpr bool operator==(const PhysAddr&) const = default;
    constexpr auto operator<=>(const PhysAddr&) const = default;
};

// A guest frame number in domd's own physmap (what Xen calls a gfn/gpfn for this domain).
struct Gfn {
    uint64_t value = 0;

    static constexpr Gfn containing(PhysAddr pa) { return {pa.value >> page_shift}; }
    constexpr PhysAddr address() const { return {value << page_shift}; }
    constexpr Gfn operator+(uint64_t count) const { return {value + count}; }
    constexpr bool operator==(const Gfn&) const = default;
    constexpr auto operator<=>(const Gfn&) const = default;
};

// A frame of another domain's physmap, named by that domain: only meaningful with its domid.
struct ForeignGfn {
    uint16_t domid = 0;
    uint64_t gfn = 0;
    constexpr bool operator==(const ForeignGfn&) const = default;
};

// A contiguous run of our guest-physical address space.
struct PhysRange {
    PhysAddr base;
    uint64_t size = 0;

    constexpr PhysAddr end() const { return base + size; }
    constexpr bool contains(PhysAddr pa) const { return pa >= base && pa.value - base.value < size; }
};

}  // namespace domd
