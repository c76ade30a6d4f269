// The kernel's translation tables after the MMU is on: the tree arm64_early_map built, adopted,
// plus the run-time mapping window. Provides the Mapper every shared page goes through.
#pragma once

#include "arch/arm64/layout.h"
#include "arch/arm64/pte.h"
#include "arch/arm64/tlb.h"
#include "kernel/address_space.h"
#include "kernel/page_table.h"

namespace domd::arm64 {

using KernelPageTable = PageTable<Arm64Encoding, KernelTablePool, Arm64Tlb>;
using KernelAddressSpace = AddressSpace<KernelPageTable>;

extern KernelTablePool kernel_table_pool;

class KernelMemory {
public:
    // Adopts the tables in TTBR1 and turns off TTBR0 walks (the boot identity map), so any low
    // address, including a null pointer, faults from now on; the identity tables go back to
    // the pool.
    explicit KernelMemory(uint64_t load_pa);

    KernelAddressSpace& address_space() { return space_; }
    KernelPageTable& page_table() { return table_; }
    uint64_t load_address() const { return load_pa_; }

    // Prints the image sections, stacks and window with their physical backing.
    void log_memory_map() const;

private:
    uint64_t load_pa_;
    Arm64Tlb tlb_;
    KernelPageTable table_;
    KernelAddressSpace space_;
};

}  // namespace domd::arm64
