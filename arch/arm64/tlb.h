// TLB maintenance and table-walk ordering for the generic walker (Arm ARM D8.13 "TLB
// maintenance requirements", D8.14.1 "Using break-before-make when updating translation table
// entries"; the Tlb requirements are listed in kernel/page_table.h).
#pragma once

#include "arch/arm64/tlbi.h"
#include "kernel/addr.h"

namespace domd::arm64 {

struct Arm64Tlb {
    // Table writes reach the table walker (DSB ISHST), and this PE's later instructions see the
    // result (ISB).
    void publish() { asm volatile("dsb ishst\n isb" ::: "memory"); }

    // Broadcast to the inner-shareable domain, all ASIDs, every level: the leaf and walk-cache
    // entries for va (for a block, any address in it names the entry). Does not wait.
    void invalidate(VirtAddr va) { asm volatile("tlbi vaae1is, %0" ::"r"(tlbi_all_asid_operand(va).raw) : "memory"); }

    // Every stage-1 EL1 entry of this VM, on every PE. Does not wait.
    void invalidate_all() { asm volatile("tlbi vmalle1is" ::: "memory"); }

    // Waits until every TLBI issued so far is done on all PEs (DSB ISH), then resynchronizes
    // this PE's context (ISB).
    void complete() { asm volatile("dsb ish\n isb" ::: "memory"); }
};

}  // namespace domd::arm64
