// The target's RegisterIo for registers Xen may emulate: exactly one load or store instruction
// with a plain base register, no writeback and no pairs, so Xen can decode the trapped access
// (ESR.ISV must be valid). Never overlay volatile structs on emulated devices.
#pragma once

#include <cstdint>

#include "arch/arm64/register_io.h"
#include "kernel/addr.h"

namespace domd::arm64 {

class Mmio final : public RegisterIo {
public:
    constexpr Mmio() = default;
    explicit constexpr Mmio(VirtAddr base) : base_(base.value) {}

    uint32_t read32(uint64_t offset) override {
        uint32_t value;
        asm volatile("ldr %w0, [%1]" : "=r"(value) : "r"(base_ + offset) : "memory");
        return value;
    }
    void write32(uint64_t offset, uint32_t value) override {
        asm volatile("str %w0, [%1]" ::"rZ"(value), "r"(base_ + offset) : "memory");
    }
    uint64_t read64(uint64_t offset) override {
        uint64_t value;
        asm volatile("ldr %0, [%1]" : "=r"(value) : "r"(base_ + offset) : "memory");
        return value;
    }
    void write64(uint64_t offset, uint64_t value) override {
        asm volatile("str %x0, [%1]" ::"rZ"(value), "r"(base_ + offset) : "memory");
    }
    bool valid() const { return base_ != 0; }

private:
    uintptr_t base_ = 0;
};

}  // namespace domd::arm64
