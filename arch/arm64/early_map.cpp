// The first C++ that runs: with the MMU off, at whatever physical address Xen loaded us.
// It must stay position-independent: no virtual calls, no pointers stored in data, no libc
// (data accesses are Device memory until the MMU is on). It builds the final kernel tables in
// the image's own table pool, so nothing has to be rebuilt once the MMU is on.

#include <cstdint>

#include "arch/arm64/hypercall.h"
#include "arch/arm64/layout.h"
#include "arch/arm64/pte.h"
#include "arch/arm64/sysreg.h"
#include "arch/arm64/tlb.h"
#include "kernel/page_table.h"
#include "xen/abi.h"

namespace domd::arm64 {

constinit KernelTablePool kernel_table_pool;

namespace {

struct EarlyMmuConfig {
    uint64_t ttbr0;  // identity map of the text, only for the instruction that enables the MMU
    uint64_t ttbr1;  // the kernel's tables
    uint64_t tcr;
    uint64_t mair;
};

// Nothing to report to but Xen's console (a VA equals a PA while the MMU is off).
[[noreturn]] void early_fail(const char* message, uint64_t length) {
    arm64_hypercall(__HYPERVISOR_console_io, CONSOLEIO_write, length, reinterpret_cast<uintptr_t>(message), 0, 0);
    sched_shutdown_t crash{SHUTDOWN_crash};
    arm64_hypercall(__HYPERVISOR_sched_op, SCHEDOP_shutdown, reinterpret_cast<uintptr_t>(&crash), 0, 0, 0);
    for (;;) asm volatile("wfi");
}

template <uint64_t N>
[[noreturn]] void early_fail(const char (&message)[N]) { early_fail(message, N - 1); }

uint64_t tcr_value() {
    // Output size: what the CPU supports, capped at 48 bits (ID_AA64MMFR0_EL1.PARange, D19.2.64).
    uint64_t parange = read_id_aa64mmfr0_el1() & 0xf;
    if (parange > 5) parange = 5;
    Tcr tcr;
    tcr.set_t0sz(64 - va_bits).set_irgn0(1).set_orgn0(1).set_sh0(3).set_tg0(0);
    tcr.set_t1sz(64 - va_bits).set_irgn1(1).set_orgn1(1).set_sh1(3).set_tg1(2);
    tcr.set_ips(static_cast<unsigned>(parange));
    return tcr.raw;
}

}  // namespace

using KernelPageTable = PageTable<Arm64Encoding, KernelTablePool, Arm64Tlb>;

extern "C" void arm64_early_map(uint64_t load_pa, EarlyMmuConfig* out) {
    KernelTablePool& pool = kernel_table_pool;
    pool.set_physical_base(PhysAddr{reinterpret_cast<uintptr_t>(pool.storage())});  // MMU off: VA == PA
    Arm64Tlb tlb;
    KernelPageTable kernel(pool, tlb);
    KernelPageTable identity(pool, tlb);
    if (!kernel.create().ok() || !identity.create().ok()) early_fail("domd: no table pages\n");

    auto pa = [](const char* symbol) { return PhysAddr{reinterpret_cast<uintptr_t>(symbol)}; };
    auto va = [load_pa](const char* symbol) {
        return VirtAddr{image_va + (reinterpret_cast<uintptr_t>(symbol) - load_pa)};
    };
    auto map = [&](const char* start, const char* end, MapAttrs attrs) {
        if (!kernel.map(va(start), pa(start), static_cast<uint64_t>(end - start), attrs).ok())
            early_fail("domd: mapping the image failed\n");
    };
    map(__text_start, __text_end, MapAttrs::code());
    map(__rodata_start, __rodata_end, MapAttrs::read_only());
    map(__data_start, __bss_end, MapAttrs::read_write());
    map(__main_stack_bottom, __main_stack_top, MapAttrs::read_write());
    map(__exception_stack_bottom, __exception_stack_top, MapAttrs::read_write());

    uint64_t text_size = static_cast<uint64_t>(__text_end - __text_start);
    if (!identity.map(VirtAddr{pa(__text_start).value}, pa(__text_start), text_size, MapAttrs::code()).ok())
        early_fail("domd: identity map failed\n");

    out->ttbr0 = identity.root().value;
    out->ttbr1 = kernel.root().value;
    out->tcr = tcr_value();
    out->mair = mair_value;
}

}  // namespace domd::arm64
