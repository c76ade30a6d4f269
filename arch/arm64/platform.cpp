#include "arch/arm64/platform.h"

#include "arch/arm64/exception_frame.h"
#include "arch/arm64/sysreg.h"
#include "kernel/log.h"

namespace domd::arm64 {
namespace {

// The IRQ vector has no context argument: the one platform instance.
Arm64Platform* the_platform = nullptr;

}  // namespace

Status Arm64Platform::init(const Platform& platform, Mapper& mapper) {
    timer_.init();
    gicd_map_ = TRY(Mapping::create(mapper, platform.gic_distributor.base, platform.gic_distributor.size,
                                    MapAttrs::mmio()));
    gicc_map_ = TRY(Mapping::create(mapper, platform.gic_cpu.base, platform.gic_cpu.size, MapAttrs::mmio()));
    if (platform.gic == GicVersion::v3) {
        gic_v3_ = GicV3(Mmio(gicd_map_.address()), Mmio(gicc_map_.address()), platform.gic_cpu.size);
        gic_ = &gic_v3_;
    } else {
        gic_v2_ = GicV2(Mmio(gicd_map_.address()), Mmio(gicc_map_.address()));
        gic_ = &gic_v2_;
    }
    TRY(gic_->init());
    event_intid_ = platform.event_intid;
    timer_intid_ = platform.vtimer_intid;
    if (event_intid_) gic_->enable_ppi(event_intid_);
    if (timer_intid_) gic_->enable_ppi(timer_intid_);
    the_platform = this;
    set_irq_handler(&Arm64Platform::handle_irq);
    return ok_status();
}

void Arm64Platform::wait_for_interrupt() {
    // SCHEDOP_block unmasks interrupts (Xen on Arm clears PSTATE.I for us) and returns at once
    // if an interrupt is already pending; the IRQ is taken on return. Mask again afterwards:
    // the loop itself runs with interrupts masked.
    (void)hv_.block();
    irq_mask();
}

void Arm64Platform::handle_irq() {
    Arm64Platform& self = *the_platform;
    // Drain everything pending in one exception; an empty first acknowledge is a spurious IRQ.
    for (bool first = true;; first = false) {
        uint32_t intid = self.gic_->acknowledge();
        if (intid == spurious_intid) {
            if (first) ++self.stats_.spurious;
            return;
        }
        if (intid == self.timer_intid_) {
            // Level-triggered: silence it until the loop arms the next deadline.
            self.timer_.disarm();
            ++self.stats_.timer;
        } else if (intid == self.event_intid_) {
            // Nothing to do here: the loop scans the event channels when it resumes.
            ++self.stats_.event_upcalls;
        } else {
            ++self.stats_.other;
        }
        self.gic_->end_of_interrupt(intid);
    }
}

}  // namespace domd::arm64
