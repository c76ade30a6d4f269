// The register frame arch/arm64/vectors.S saves on every exception.
#pragma once

#include <cstddef>
#include <cstdint>

namespace domd::arm64 {

struct ExceptionFrame {
    uint64_t x[31];  // x0-x30
    uint64_t sp;     // the interrupted code's stack pointer (SP_EL0)
    uint64_t elr;
    uint64_t spsr;
    uint64_t esr;
    uint64_t far;
};
static_assert(sizeof(ExceptionFrame) == 36 * 8);  // FRAME_SIZE in vectors.S
static_assert(offsetof(ExceptionFrame, elr) == 16 * 16 && offsetof(ExceptionFrame, esr) == 16 * 17);

enum class VectorKind : unsigned {
    sync_sp0 = 0, irq_sp0 = 1, fiq_sp0 = 2, serror_sp0 = 3,
    sync_spx = 4, irq_spx = 5, fiq_spx = 6, serror_spx = 7,
    sync_lower64 = 8, sync_lower32 = 12,
};

// Called for IRQs taken from kernel code; installed by boot.
using IrqHandler = void (*)();
void set_irq_handler(IrqHandler handler);

}  // namespace domd::arm64
