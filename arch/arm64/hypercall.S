// long arm64_hypercall(op, a0, a1, a2, a3, a4): Xen's Arm hypercall ABI puts the number in x16
// and the arguments in x0-x4, and returns in x0 (xen/include/public/arch-arm.h).
    .section .text.arm64_hypercall, "ax"
    .global arm64_hypercall
arm64_hypercall:
    mov     x16, x0
    mov     x0, x1
    mov     x1, x2
    mov     x2, x3
    mov     x3, x4
    mov     x4, x5
    hvc     #0xEA1
    ret
