// Single-instruction accesses of every width to the virtio-mmio window, for a guest that must
// be able to make the accesses a well-behaved driver never makes (1, 2 and 8 bytes to 32-bit
// registers). Each is exactly one load or store with a plain base register and no writeback,
// so Xen can decode the trap (ESR_EL2.ISV) and hand it to domd's IOREQ server. Accesses stay
// naturally aligned: an unaligned access to Device memory faults in the guest itself (Arm ARM
// B2.5.2), before Xen could see it. arch/arm64/mmio.h is the 32/64-bit subset domd uses.
#pragma once

#include <cstdint>

#include "kernel/addr.h"

namespace domd::frontend {

class RawMmio {
public:
    RawMmio() = default;
    explicit RawMmio(VirtAddr base) : base_(base.value) {}

    uint8_t read8(uint64_t offset) const {
        ++accesses_;
        uint32_t v;
        asm volatile("ldrb %w0, [%1]" : "=r"(v) : "r"(base_ + offset) : "memory");
        return static_cast<uint8_t>(v);
    }
    uint16_t read16(uint64_t offset) const {
        ++accesses_;
        uint32_t v;
        asm volatile("ldrh %w0, [%1]" : "=r"(v) : "r"(base_ + offset) : "memory");
        return static_cast<uint16_t>(v);
    }
    uint32_t read32(uint64_t offset) const {
        ++accesses_;
        uint32_t v;
        asm volatile("ldr %w0, [%1]" : "=r"(v) : "r"(base_ + offset) : "memory");
        return v;
    }
    uint64_t read64(uint64_t offset) const {
        ++accesses_;
        uint64_t v;
        asm volatile("ldr %0, [%1]" : "=r"(v) : "r"(base_ + offset) : "memory");
        return v;
    }
    void write8(uint64_t offset, uint8_t v) const {
        ++accesses_;
        asm volatile("strb %w0, [%1]" ::"rZ"(uint32_t{v}), "r"(base_ + offset) : "memory");
    }
    void write16(uint64_t offset, uint16_t v) const {
        ++accesses_;
        asm volatile("strh %w0, [%1]" ::"rZ"(uint32_t{v}), "r"(base_ + offset) : "memory");
    }
    void write32(uint64_t offset, uint32_t v) const {
        ++accesses_;
        asm volatile("str %w0, [%1]" ::"rZ"(v), "r"(base_ + offset) : "memory");
    }
    void write64(uint64_t offset, uint64_t v) const {
        ++accesses_;
        asm volatile("str %x0, [%1]" ::"rZ"(v), "r"(base_ + offset) : "memory");
    }

    bool valid() const { return base_ != 0; }
    // Accesses made so far: each one a trap to Xen and a round trip through domd.
    uint64_t accesses() const { return accesses_; }

private:
    uintptr_t base_ = 0;
    mutable uint64_t accesses_ = 0;
};

// Everything the driver wrote to its rings and buffers (Normal memory) is visible to domd
// before the notify that follows (a Device store): a full-system DSB between the two.
inline void barrier_before_notify() { asm volatile("dsb sy" ::: "memory"); }

}  // namespace domd::frontend
