#include "arch/arm64/kernel_memory.h"

#include "arch/arm64/sysreg.h"
#include "kernel/log.h"

namespace domd::arm64 {

KernelMemory::KernelMemory(uint64_t load_pa)
    : load_pa_(load_pa), table_(kernel_table_pool, tlb_), space_(table_, window_base, window_size) {
    constexpr uint64_t ttbr_baddr = 0x0000fffffffff000ull;  // TTBRn_EL1.BADDR, 4 KiB-aligned root
    table_.adopt(PhysAddr{read_ttbr1_el1() & ttbr_baddr});
    PhysAddr identity_root{read_ttbr0_el1() & ttbr_baddr};
    write_tcr_el1(Tcr{read_tcr_el1()}.set_epd0(true).raw);
    isb();
    write_ttbr0_el1(0);
    isb();
    // No walk starts from TTBR0 any more; drop whatever the TLBs still hold from it, on every
    // PE, and wait. Only then are the identity tables unreachable and free to reuse.
    tlb_.invalidate_all();
    tlb_.complete();
    KernelPageTable identity(kernel_table_pool, tlb_);
    identity.adopt(identity_root);
    identity.destroy();
}

void KernelMemory::log_memory_map() const {
    struct Region {
        const char* name;
        const char* start;
        const char* end;
    };
    const Region regions[] = {
        {"text (r-x)", __text_start, __text_end},
        {"rodata (r--)", __rodata_start, __rodata_end},
        {"data+bss (rw-)", __data_start, __bss_end},
        {"main stack (rw-)", __main_stack_bottom, __main_stack_top},
        {"exception stack (rw-)", __exception_stack_bottom, __exception_stack_top},
    };
    LOG_INFO("memory map (virtual -> physical):");
    for (const Region& r : regions) {
        VirtAddr va = VirtAddr::of(r.start);
        auto t = table_.translate(va);
        LOG_INFO("  %-22s %016lx-%016lx -> %010llx %s", r.name, va.value,
                 VirtAddr::of(r.end).value, t.ok() ? static_cast<unsigned long long>(t.value().pa.value) : 0ull,
                 t.ok() ? "" : "(unmapped!)");
    }
    LOG_INFO("  %-22s %016lx-%016lx (%llu free pages)", "mapping window", window_base.value,
             window_base.value + window_size, static_cast<unsigned long long>(space_.free_window_pages()));
    LOG_INFO("  page-table pool: %zu of %zu pages in use", kernel_table_pool.in_use(),
             kernel_table_pool.capacity());
}

}  // namespace domd::arm64
