// GICv2 (Arm IHI 0048B): distributor and CPU interface, both memory-mapped. Under Xen the CPU
// interface is the hardware's virtual CPU interface (GICV) mapped at the guest's GICC address.
#pragma once

#include "arch/arm64/gic.h"
#include "arch/arm64/mmio.h"

namespace domd::arm64 {

class GicV2 final : public Gic {
public:
    GicV2(Mmio distributor, Mmio cpu_interface) : gicd_(distributor), gicc_(cpu_interface) {}

    Status init() override;
    void enable_ppi(uint32_t intid) override;
    uint32_t acknowledge() override;
    void end_of_interrupt(uint32_t intid) override;
    const char* name() const override { return "GICv2"; }

private:
    Mmio gicd_;
    Mmio gicc_;
};

}  // namespace domd::arm64
