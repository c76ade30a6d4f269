// GICv3 (Arm IHI 0069H): memory-mapped distributor and redistributors, CPU interface through
// system registers (ICC_*_EL1), reached through a SysregIo.
#pragma once

#include "arch/arm64/gic.h"
#include "arch/arm64/register_io.h"

namespace domd::arm64 {

class GicV3 final : public Gic {
public:
    // How often init() reads a register it waits on (GICD_CTLR.RWP, GICR_WAKER.ChildrenAsleep)
    // before giving up with Err::timed_out. Under Xen both read as settled at once; each read
    // traps to Xen, so this bounds a wait to about a second.
    static constexpr uint32_t poll_limit = 1000000;

    // `redistributors` is the whole redistributor region from the device tree, `region_size`
    // bytes; init() finds this PE's redistributor in it.
    GicV3(RegisterBlock distributor, RegisterBlock redistributors, uint64_t region_size, SysregIo& cpu)
        : gicd_(distributor), gicr_region_(redistributors), gicr_region_size_(region_size), cpu_(&cpu) {}

    Status init() override;
    Status enable_ppi(uint32_t intid) override;
    InterruptAck acknowledge() override;
    void end_of_interrupt(InterruptAck ack) override;
    const char* name() const override { return "GICv3"; }

    // This PE's RD_base frame, once init() found it (a block with no access object before).
    RegisterBlock redistributor() const { return rd_; }

private:
    Status find_own_redistributor();

    RegisterBlock gicd_;
    RegisterBlock gicr_region_;
    uint64_t gicr_region_size_;
    SysregIo* cpu_;
    RegisterBlock rd_;   // this PE's RD_base frame
    RegisterBlock sgi_;  // this PE's SGI_base frame
};

}  // namespace domd::arm64
