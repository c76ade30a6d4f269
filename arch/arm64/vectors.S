// The exception vector table (Arm ARM D1.10.2): 16 entries of 0x80 bytes, 2 KiB aligned.
// Kernel code runs on SP_EL0, so an exception switches to SP_EL1 (a separate stack, see
// head.S). Every entry saves the full register frame (arch/arm64/exception_frame.h) and calls
// arm64_exception(frame, vector index). Only an IRQ from kernel code returns; everything else
// is reported and ends the domain.

#define FRAME_SIZE (36 * 8)

.macro vector_entry index
    .balign 0x80
    sub     sp, sp, #FRAME_SIZE
    stp     x0, x1, [sp, #16 * 0]
    mov     x1, #\index
    b       save_and_dispatch
.endm

// An exception taken while already on the exception stack means a handler faulted; its SP may
// be the reason (an overflowed exception stack), and saving a frame there would fault again,
// forever. Restart from the top of the exception stack: we are crashing anyway. TPIDR_EL1 is
// free scratch (domd never uses it otherwise).
.macro vector_entry_fresh_stack index
    .balign 0x80
    msr     tpidr_el1, x0
    ldr     x0, =__exception_stack_top
    mov     sp, x0
    mrs     x0, tpidr_el1
    sub     sp, sp, #FRAME_SIZE
    stp     x0, x1, [sp, #16 * 0]
    mov     x1, #\index
    b       save_and_dispatch
.endm

    .section .text.vectors, "ax"
    .balign 2048
    .global arm64_vectors
arm64_vectors:
    vector_entry 0      // current EL, SP_EL0: synchronous
    vector_entry 1      // current EL, SP_EL0: IRQ
    vector_entry 2      // current EL, SP_EL0: FIQ
    vector_entry 3      // current EL, SP_EL0: SError
    vector_entry_fresh_stack 4      // current EL, SP_ELx: synchronous (a fault inside a handler)
    vector_entry_fresh_stack 5      // current EL, SP_ELx: IRQ
    vector_entry_fresh_stack 6      // current EL, SP_ELx: FIQ
    vector_entry_fresh_stack 7      // current EL, SP_ELx: SError
    vector_entry 8      // lower EL, AArch64 (never: nothing runs at EL0)
    vector_entry 9
    vector_entry 10
    vector_entry 11
    vector_entry 12     // lower EL, AArch32
    vector_entry 13
    vector_entry 14
    vector_entry 15

save_and_dispatch:
    stp     x2, x3, [sp, #16 * 1]
    stp     x4, x5, [sp, #16 * 2]
    stp     x6, x7, [sp, #16 * 3]
    stp     x8, x9, [sp, #16 * 4]
    stp     x10, x11, [sp, #16 * 5]
    stp     x12, x13, [sp, #16 * 6]
    stp     x14, x15, [sp, #16 * 7]
    stp     x16, x17, [sp, #16 * 8]
    stp     x18, x19, [sp, #16 * 9]
    stp     x20, x21, [sp, #16 * 10]
    stp     x22, x23, [sp, #16 * 11]
    stp     x24, x25, [sp, #16 * 12]
    stp     x26, x27, [sp, #16 * 13]
    stp     x28, x29, [sp, #16 * 14]
    mrs     x2, sp_el0
    stp     x30, x2, [sp, #16 * 15]
    mrs     x2, elr_el1
    mrs     x3, spsr_el1
    stp     x2, x3, [sp, #16 * 16]
    mrs     x2, esr_el1
    mrs     x3, far_el1
    stp     x2, x3, [sp, #16 * 17]
    mov     x0, sp
    // A frame record {interrupted fp, interrupted pc} so backtraces walk into the interrupted code.
    ldr     x2, [x0, #8 * 29]
    ldr     x3, [x0, #16 * 16]
    stp     x2, x3, [sp, #-16]!
    mov     x29, sp
    bl      arm64_exception
    add     sp, sp, #16

    // Only reached for an IRQ: restore and return.
    ldp     x2, x3, [sp, #16 * 16]
    msr     elr_el1, x2
    msr     spsr_el1, x3
    ldp     x30, x2, [sp, #16 * 15]
    msr     sp_el0, x2
    ldp     x0, x1, [sp, #16 * 0]
    ldp     x2, x3, [sp, #16 * 1]
    ldp     x4, x5, [sp, #16 * 2]
    ldp     x6, x7, [sp, #16 * 3]
    ldp     x8, x9, [sp, #16 * 4]
    ldp     x10, x11, [sp, #16 * 5]
    ldp     x12, x13, [sp, #16 * 6]
    ldp     x14, x15, [sp, #16 * 7]
    ldp     x16, x17, [sp, #16 * 8]
    ldp     x18, x19, [sp, #16 * 9]
    ldp     x20, x21, [sp, #16 * 10]
    ldp     x22, x23, [sp, #16 * 11]
    ldp     x24, x25, [sp, #16 * 12]
    ldp     x26, x27, [sp, #16 * 13]
    ldp     x28, x29, [sp, #16 * 14]
    add     sp, sp, #FRAME_SIZE
    eret
