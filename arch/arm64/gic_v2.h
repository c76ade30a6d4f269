// GICv2 (Arm IHI 0048B): distributor and CPU interface, both memory-mapped. Under Xen the CPU
// interface is the hardware's virtual CPU interface (GICV) mapped at the guest's GICC address.
#pragma once

#include "arch/arm64/gic.h"
#include "arch/arm64/register_io.h"

namespace domd::arm64 {

class GicV2 final : public Gic {
public:
    GicV2(RegisterBlock distributor, RegisterBlock cpu_interface) : gicd_(distributor), gicc_(cpu_interface) {}

    Status init() override;
    Status enable_ppi(uint32_t intid) override;
    InterruptAck acknowledge() override;
    void end_of_interrupt(InterruptAck ack) override;
    const char* name() const override { return "GICv2"; }

private:
    RegisterBlock gicd_;
    RegisterBlock gicc_;
};

}  // namespace domd::arm64
