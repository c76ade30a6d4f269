#include "arch/arm64/gic_v2.h"

namespace domd::arm64 {

using namespace gicv2;

Status GicV2::init() {
    // Distributor first, then the CPU interface (IHI 0048B 4.3.1, 4.4.1). A non-secure guest
    // sees only Group 1; its interrupt group registers are RAZ/WI, so there is no group to set.
    GicdCtlr::get().from_value(0).set_enable(true).write_to(gicd_);
    GiccPmr::get().from_value(0).set_priority(priority_mask).write_to(gicc_);
    GiccBpr::get().from_value(0).set_binary_point(0).write_to(gicc_);
    // EOImodeNS 0: the EOIR write drops priority and deactivates; bypass stays as reset.
    GiccCtlr::get().from_value(0).set_enable_grp1(true).write_to(gicc_);
    return ok_status();
}

Status GicV2::enable_ppi(uint32_t intid) {
    if (!is_ppi(intid)) return Err::invalid;
    prioritize_and_enable(gicd_, intid);  // IHI 0048B 4.3.11, 4.3.5
    return ok_status();
}

InterruptAck GicV2::acknowledge() {
    GiccIar iar = GiccIar::get().read_from(gicc_);
    return InterruptAck{iar.raw, iar.interrupt_id()};
}

void GicV2::end_of_interrupt(InterruptAck ack) {
    // The whole IAR value, CPUID included (IHI 0048B 4.4.5).
    GiccEoir::get().from_value(ack.iar).write_to(gicc_);
}

}  // namespace domd::arm64
