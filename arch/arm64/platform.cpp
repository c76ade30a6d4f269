#include "arch/arm64/platform.h"

#include "arch/arm64/exception_decode.h"
#include "arch/arm64/exception_frame.h"
#include "arch/arm64/sysreg.h"
#include "kernel/log.h"

namespace domd::arm64 {
namespace {

// The IRQ vector has no context argument: the one platform instance.
Arm64Platform* the_platform = nullptr;

}  // namespace

Status Arm64Platform::init(const Platform& platform, Mapper& mapper) {
    char masks[96];
    describe_exception_masks(read_daif(), masks, sizeof masks);
    LOG_INFO("%s", masks);

    timer_.init();
    gicd_map_ = TRY(Mapping::create(mapper, platform.gic_distributor.base, platform.gic_distributor.size,
                                    MapAttrs::mmio()));
    gicc_map_ = TRY(Mapping::create(mapper, platform.gic_cpu.base, platform.gic_cpu.size, MapAttrs::mmio()));
    gicd_io_ = Mmio(gicd_map_.address());
    gicc_io_ = Mmio(gicc_map_.address());
    if (platform.gic == GicVersion::v3) {
        gic_v3_.emplace(RegisterBlock(gicd_io_), RegisterBlock(gicc_io_), platform.gic_cpu.size, cpu_);
        gic_ = &*gic_v3_;
    } else {
        gic_v2_.emplace(RegisterBlock(gicd_io_), RegisterBlock(gicc_io_));
        gic_ = &*gic_v2_;
    }
    TRY(gic_->init());
    event_intid_ = platform.event_intid;
    timer_intid_ = platform.vtimer_intid;
    if (event_intid_) TRY(enable_ppi("event-channel upcall", event_intid_));
    if (timer_intid_) TRY(enable_ppi("virtual timer", timer_intid_));
    the_platform = this;
    set_irq_handler(&Arm64Platform::handle_irq);
    return ok_status();
}

Status Arm64Platform::enable_ppi(const char* what, uint32_t intid) {
    Status enabled = gic_->enable_ppi(intid);
    // The INTID comes from the device tree: without the interrupt, a blocked loop would never
    // wake, so refuse to go on rather than hang.
    if (!enabled.ok())
        LOG_ERROR("%s: the device tree gives INTID %u, which the %s refuses (%s): a PPI is %u..%u", what, intid,
                  gic_->name(), err_name(enabled.error()), first_ppi, last_ppi);
    return enabled;
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
        InterruptAck ack = self.gic_->acknowledge();
        if (ack.spurious()) {
            if (first) ++self.stats_.spurious;
            return;
        }
        if (ack.intid == self.timer_intid_) {
            // Level-triggered: silence it until the loop arms the next deadline.
            self.timer_.disarm();
            ++self.stats_.timer;
        } else if (ack.intid == self.event_intid_) {
            // Nothing to do here: the loop scans the event channels when it resumes.
            ++self.stats_.event_upcalls;
        } else {
            ++self.stats_.other;
        }
        self.gic_->end_of_interrupt(ack);
    }
}

}  // namespace domd::arm64
