// TLB and table-walk ordering for the generic walker (Arm ARM D8.13, "TLB maintenance
// requirements" and "Using break-before-make when updating translation table entries").
#pragma once

#include "arch/arm64/tlbi.h"
#include "kernel/addr.h"

namespace domd::arm64 {

struct Arm64Tlb {
    // New or invalidated entries must reach the table walker before anything relies on them.
    void publish() { asm volatile("dsb ishst\n isb" ::: "memory"); }

    // After an entry was invalidated: drop cached translations of va (for a block, any address
    // in it names the entry), then wait for completion on all PEs.
    void invalidate(VirtAddr va, int /*level*/) {
        asm volatile("tlbi vaae1is, %0\n dsb ish\n isb" ::"r"(tlbi_all_asid_operand(va).raw) : "memory");
    }
};

}  // namespace domd::arm64
