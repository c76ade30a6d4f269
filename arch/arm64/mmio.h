// MMIO accessors for registers Xen may emulate: exactly one load or store instruction with a
// plain base register, no writeback and no pairs, so Xen can decode the trapped access
// (ESR.ISV must be valid). Never overlay volatile structs on emulated devices.
#pragma once

#include <cstdint>

#include "kernel/addr.h"

namespace domd::arm64 {

class Mmio {
public:
    constexpr Mmio() = default;
    explicit constexpr Mmio(VirtAddr base) : base_(base.value) {}

    uint32_t read32(uint32_t offset) const {
        uint32_t value;
        asm volatile("ldr %w0, [%1]" : "=r"(value) : "r"(base_ + offset) : "memory");
        return value;
    }
    void write32(uint32_t offset, uint32_t value) const {
        asm volatile("str %w0, [%1]" ::"rZ"(value), "r"(base_ + offset) : "memory");
    }
    uint64_t read64(uint32_t offset) const {
        uint64_t value;
        asm volatile("ldr %0, [%1]" : "=r"(value) : "r"(base_ + offset) : "memory");
        return value;
    }
    // The register block `offset` bytes further on (a sub-frame of a mapped region).
    Mmio at(uint64_t offset) const { return Mmio(VirtAddr{base_ + offset}); }
    bool valid() const { return base_ != 0; }

private:
    uintptr_t base_ = 0;
};

}  // namespace domd::arm64
