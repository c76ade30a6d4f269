// Entry from Xen: EL1h, MMU and caches off, DAIF masked, x0 = device tree (physical).
// The arm64 Image header lets `xl` and Xen load us (Linux Documentation/arch/arm64/booting.rst).
// Until the MMU is on, everything here and in arm64_early_map is position-independent: only
// PC-relative addressing (adr/adrp), because we run at whatever physical address Xen chose,
// not at the link address.

    .section .text.image_header, "ax"
    b       primary_entry           // code0
    .long   0                       // code1
    .quad   0                       // text_offset
    .quad   __image_size            // image_size: the whole image including BSS and stacks
    .quad   0xa                     // flags: little-endian, 4K pages, placement anywhere
    .quad   0                       // res2
    .quad   0                       // res3
    .quad   0                       // res4
    .ascii  "ARM\x64"               // magic
    .long   0                       // res5 (no PE header)

    .section .text.boot, "ax"
primary_entry:
    mov     x19, x0                 // device tree (physical)
    adrp    x20, __image_start      // where Xen put us (physical)
    add     x20, x20, :lo12:__image_start

    // Stack for the pre-MMU C++: the main stack, addressed physically for now.
    adrp    x1, __main_stack_top
    add     x1, x1, :lo12:__main_stack_top
    mov     sp, x1

    // Zero BSS with plain aligned stores: with the MMU off data accesses are Device memory,
    // where libc's memset (DC ZVA, unaligned stores) would fault.
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
1:  cmp     x1, x2
    b.hs    2f
    stp     xzr, xzr, [x1], #16
    b       1b
2:
    // FP/SIMD on (CPACR_EL1.FPEN = 0b11): picolibc's string functions use SIMD registers.
    mov     x1, #(3 << 20)
    msr     cpacr_el1, x1
    isb

    // arm64_early_map(load_pa, &config) builds the tables and fills config =
    // {ttbr0 (identity map of the text, for this switch only), ttbr1, tcr, mair}.
    sub     sp, sp, #32
    mov     x0, x20
    mov     x1, sp
    bl      arm64_early_map
    ldp     x21, x22, [sp]
    ldp     x23, x24, [sp, #16]
    add     sp, sp, #32

    // The tables, BSS and stack were written with caches off: drop any stale lines for the
    // whole image before caches come on, so nothing older shadows them.
    adrp    x0, __image_start
    add     x0, x0, :lo12:__image_start
    adrp    x1, __image_end
    add     x1, x1, :lo12:__image_end
    bl      arm64_dcache_invalidate_range

    msr     mair_el1, x24
    msr     tcr_el1, x23
    msr     ttbr0_el1, x21
    msr     ttbr1_el1, x22
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    mrs     x0, sctlr_el1
    ldr     x1, =0x81005            // M | C | I | WXN (SCTLR_EL1 bits 0, 2, 12, 19)
    orr     x0, x0, x1
    msr     sctlr_el1, x0
    isb
    ic      iallu
    dsb     nsh
    isb

    // Jump to the link address: an absolute literal, resolved by the linker.
    ldr     x0, =high_entry
    br      x0

high_entry:
    // From here on addresses are virtual. Kernel code runs on SP_EL0 so that exceptions switch
    // to SP_EL1, a separate stack: a fault from a blown main stack can still be reported.
    ldr     x0, =__main_stack_top
    msr     sp_el0, x0
    ldr     x0, =__exception_stack_top
    mov     sp, x0
    msr     spsel, #0
    ldr     x0, =arm64_vectors
    msr     vbar_el1, x0
    isb
    // With the vectors in, unmask SError (PSTATE.A, masked since entry): an asynchronous abort,
    // such as a virtual SError Xen injects, is then taken and reported as a crash instead of
    // staying pending unseen. IRQ and FIQ stay masked (the loop unmasks IRQs only in Xen).
    msr     daifclr, #4
    mov     x29, #0                 // terminates frame-pointer backtraces
    mov     x30, #0
    mov     x0, x19                 // device tree (physical)
    mov     x1, x20                 // load address (physical)
    bl      kernel_main
3:  wfi
    b       3b

// x0 = start, x1 = end (any addresses valid for data cache maintenance by VA).
    .global arm64_dcache_invalidate_range
arm64_dcache_invalidate_range:
    mrs     x3, ctr_el0
    ubfx    x3, x3, #16, #4         // DminLine: log2 of words in the smallest D-cache line
    mov     x2, #4
    lsl     x2, x2, x3              // line size in bytes
    sub     x3, x2, #1
    bic     x0, x0, x3
1:  dc      ivac, x0
    add     x0, x0, x2
    cmp     x0, x1
    b.lo    1b
    dsb     sy
    ret

