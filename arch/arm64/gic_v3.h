// GICv3 (Arm IHI 0069): memory-mapped distributor and redistributors, CPU interface through
// system registers (ICC_*_EL1).
#pragma once

#include "arch/arm64/gic.h"
#include "arch/arm64/mmio.h"

namespace domd::arm64 {

class GicV3 final : public Gic {
public:
    // `redistributors` maps the whole redistributor region from the DT.
    GicV3(Mmio distributor, Mmio redistributors, uint64_t redistributor_region_size)
        : gicd_(distributor), gicr_region_(redistributors), gicr_region_size_(redistributor_region_size) {}

    Status init() override;
    void enable_ppi(uint32_t intid) override;
    uint32_t acknowledge() override;
    void end_of_interrupt(uint32_t intid) override;
    const char* name() const override { return "GICv3"; }

private:
    Status find_own_redistributor();

    Mmio gicd_;
    Mmio gicr_region_;
    uint64_t gicr_region_size_;
    Mmio rd_;   // this vCPU's RD_base frame
    Mmio sgi_;  // this vCPU's SGI_base frame (RD_base + 64 KiB)
};

}  // namespace domd::arm64
