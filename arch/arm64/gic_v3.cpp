#include "arch/arm64/gic_v3.h"

#include "arch/arm64/sysreg.h"

namespace domd::arm64 {
namespace {

// Distributor (IHI 0069, 12.9).
constexpr uint32_t GICD_CTLR = 0x0000;
constexpr uint32_t GICD_CTLR_RWP = 1u << 31;
constexpr uint32_t GICD_CTLR_ARE_NS = 1u << 4;
constexpr uint32_t GICD_CTLR_ENABLE_GRP1A = 1u << 1;
// Redistributor, RD_base frame (12.10).
constexpr uint32_t GICR_TYPER = 0x0008;
constexpr uint64_t GICR_TYPER_LAST = 1u << 4;
constexpr uint32_t GICR_WAKER = 0x0014;
constexpr uint32_t GICR_WAKER_PROCESSOR_SLEEP = 1u << 1;
constexpr uint32_t GICR_WAKER_CHILDREN_ASLEEP = 1u << 2;
constexpr uint64_t GICR_FRAME_STRIDE = 0x20000;  // RD_base + SGI_base, no VLPI frames
constexpr uint64_t GICR_SGI_BASE = 0x10000;
// Redistributor, SGI_base frame.
constexpr uint32_t GICR_IGROUPR0 = 0x0080;
constexpr uint32_t GICR_ISENABLER0 = 0x0100;
constexpr uint32_t GICR_IPRIORITYR = 0x0400;
constexpr int poll_limit = 1000000;

template <typename Done>
Status wait_for(Done done) {
    for (int i = 0; i < poll_limit; ++i)
        if (done()) return ok_status();
    return Err::timed_out;
}

}  // namespace

Status GicV3::find_own_redistributor() {
    // GICR_TYPER[63:32] holds the affinity (Aff3.Aff2.Aff1.Aff0) of the frame's PE (12.11.35).
    uint64_t mpidr = read_mpidr_el1();
    uint32_t affinity = static_cast<uint32_t>((mpidr & 0xffffff) | ((mpidr >> 32 & 0xff) << 24));
    for (uint64_t offset = 0; offset + GICR_FRAME_STRIDE <= gicr_region_size_; offset += GICR_FRAME_STRIDE) {
        Mmio frame = gicr_region_.at(offset);
        uint64_t typer = frame.read64(GICR_TYPER);
        if (static_cast<uint32_t>(typer >> 32) == affinity) {
            rd_ = frame;
            sgi_ = frame.at(GICR_SGI_BASE);
            return ok_status();
        }
        if (typer & GICR_TYPER_LAST) break;
    }
    return Err::not_found;
}

Status GicV3::init() {
    // System-register CPU interface (ICC_SRE_EL1.SRE); Xen's vGICv3 only offers this one.
    write_icc_sre_el1(read_icc_sre_el1() | 1);
    isb();

    gicd_.write32(GICD_CTLR, GICD_CTLR_ARE_NS | GICD_CTLR_ENABLE_GRP1A);
    TRY(wait_for([&] { return (gicd_.read32(GICD_CTLR) & GICD_CTLR_RWP) == 0; }));

    TRY(find_own_redistributor());
    rd_.write32(GICR_WAKER, rd_.read32(GICR_WAKER) & ~GICR_WAKER_PROCESSOR_SLEEP);
    TRY(wait_for([&] { return (rd_.read32(GICR_WAKER) & GICR_WAKER_CHILDREN_ASLEEP) == 0; }));
    sgi_.write32(GICR_IGROUPR0, ~0u);  // SGIs and PPIs in group 1 (non-secure)

    write_icc_pmr_el1(0xf0);
    write_icc_bpr1_el1(0);
    write_icc_ctlr_el1(0);       // EOImode 0: EOIR drops priority and deactivates
    write_icc_igrpen1_el1(1);
    isb();
    return ok_status();
}

void GicV3::enable_ppi(uint32_t intid) {
    set_priority(sgi_, GICR_IPRIORITYR, intid, interrupt_priority);
    sgi_.write32(GICR_ISENABLER0, 1u << intid);
}

uint32_t GicV3::acknowledge() {
    uint32_t intid = static_cast<uint32_t>(read_icc_iar1_el1() & 0xffffff);
    // IAR is a synchronization point for the rest of the handler's view of the GIC.
    asm volatile("dsb sy" ::: "memory");
    return intid >= 1020 && intid <= 1023 ? spurious_intid : intid;
}

void GicV3::end_of_interrupt(uint32_t intid) {
    write_icc_eoir1_el1(intid);
    isb();
}

}  // namespace domd::arm64
