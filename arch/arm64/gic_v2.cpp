#include "arch/arm64/gic_v2.h"

namespace domd::arm64 {
namespace {

// Distributor (IHI 0048B, 4.3).
constexpr uint32_t GICD_CTLR = 0x000;
constexpr uint32_t GICD_ISENABLER = 0x100;
constexpr uint32_t GICD_IPRIORITYR = 0x400;
// CPU interface (IHI 0048B, 4.4).
constexpr uint32_t GICC_CTLR = 0x000;
constexpr uint32_t GICC_PMR = 0x004;
constexpr uint32_t GICC_BPR = 0x008;
constexpr uint32_t GICC_IAR = 0x00c;
constexpr uint32_t GICC_EOIR = 0x010;

}  // namespace

Status GicV2::init() {
    gicd_.write32(GICD_CTLR, 1);   // EnableGrp1 (the only group a non-secure guest sees)
    gicc_.write32(GICC_PMR, 0xf0); // let every priority we use through
    gicc_.write32(GICC_BPR, 0);
    gicc_.write32(GICC_CTLR, 1);   // enable; EOImode 0: EOIR drops priority and deactivates
    return ok_status();
}

void GicV2::enable_ppi(uint32_t intid) {
    set_priority(gicd_, GICD_IPRIORITYR, intid, interrupt_priority);
    gicd_.write32(GICD_ISENABLER + (intid / 32) * 4, 1u << (intid % 32));
}

uint32_t GicV2::acknowledge() { return gicc_.read32(GICC_IAR) & 0x3ff; }

void GicV2::end_of_interrupt(uint32_t intid) { gicc_.write32(GICC_EOIR, intid); }

}  // namespace domd::arm64
