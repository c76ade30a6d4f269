// The arm64 machine under domd's event loop: the interrupt controller the device tree names,
// the virtual timer for deadlines, and idling through Xen (SCHEDOP_block).
#pragma once

#include <cstdint>
#include <optional>

#include "arch/arm64/generic_timer.h"
#include "arch/arm64/gic_v2.h"
#include "arch/arm64/gic_v3.h"
#include "arch/arm64/mmio.h"
#include "arch/arm64/sysreg.h"
#include "kernel/devicetree.h"
#include "kernel/event_loop.h"
#include "kernel/mapper.h"
#include "xen/hypervisor.h"

namespace domd::arm64 {

struct InterruptStats {
    uint64_t event_upcalls = 0;
    uint64_t timer = 0;
    uint64_t spurious = 0;
    uint64_t other = 0;
};

class Arm64Platform final : public EventLoopPlatform {
public:
    explicit Arm64Platform(xen::Hypervisor& hv) : hv_(hv) {}

    // Maps and initialises the GIC, routes the event-channel upcall and the virtual timer, and
    // installs the IRQ handler. Interrupts stay masked except while blocked in Xen. Logs the
    // exception masks (SError must be unmasked by then, see head.S).
    Status init(const Platform& platform, Mapper& mapper);

    uint64_t now_ns() const override { return timer_.now_ns(); }
    void arm_wakeup(uint64_t deadline_ns) override { timer_.arm(deadline_ns); }
    void disarm_wakeup() override { timer_.disarm(); }
    void wait_for_interrupt() override;

    const char* gic_name() const { return gic_ ? gic_->name() : "none"; }
    const InterruptStats& interrupt_stats() const { return stats_; }
    GenericTimer& timer() { return timer_; }

private:
    static void handle_irq();
    Status enable_ppi(const char* what, uint32_t intid);

    xen::Hypervisor& hv_;
    GenericTimer timer_;
    Mapping gicd_map_;
    Mapping gicc_map_;
    Mmio gicd_io_;
    Mmio gicc_io_;  // GICv2: the CPU interface; GICv3: the redistributor region
    CpuSysregs cpu_;
    std::optional<GicV2> gic_v2_;
    std::optional<GicV3> gic_v3_;
    Gic* gic_ = nullptr;
    uint32_t event_intid_ = 0;
    uint32_t timer_intid_ = 0;
    InterruptStats stats_;
};

}  // namespace domd::arm64
