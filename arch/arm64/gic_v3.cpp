#include "arch/arm64/gic_v3.h"

#include "arch/arm64/sysreg_layout.h"

namespace domd::arm64 {

using namespace gicv3;

namespace {

// Reads until `settled` holds, at most GicV3::poll_limit times.
template <typename Settled>
Status poll_until(Settled settled) {
    for (uint32_t i = 0; i < GicV3::poll_limit; ++i)
        if (settled()) return ok_status();
    return Err::timed_out;
}

}  // namespace

Status GicV3::find_own_redistributor() {
    // Redistributors are laid out one after another, each naming the PE it serves by affinity
    // in GICR_TYPER; the one with Last set ends the region (IHI 0069H 12.10, 12.11.37). A frame
    // that does not fit whole in the region is never read.
    uint32_t affinity = Mpidr{cpu_->read(SysReg::mpidr_el1)}.packed_affinity();
    uint64_t offset = 0;
    while (offset < gicr_region_size_ && gicr_region_size_ - offset >= redistributor_stride) {
        RegisterBlock frame = gicr_region_.at(offset);
        GicrTyper typer = GicrTyper::get().read_from(frame);
        if (typer.affinity_value() == affinity) {
            rd_ = frame;
            sgi_ = frame.at(sgi_base_offset);
            return ok_status();
        }
        if (typer.last()) break;
        offset += typer.vlpis() ? redistributor_stride_vlpi : redistributor_stride;
    }
    return Err::not_found;
}

Status GicV3::init() {
    // The system-register CPU interface (ICC_SRE_EL1.SRE, 12.2.23); the ISB makes the new
    // setting apply to the ICC_* accesses that follow. Where SRE does not stick, only the
    // memory-mapped interface exists, which domd does not drive.
    IccSre::read_from(*cpu_).set_sre(true).write_to(*cpu_);
    cpu_->barrier(Barrier::isb);
    if (!IccSre::read_from(*cpu_).sre()) return Err::not_supported;

    // Distributor: affinity routing and Group 1, then wait until the write has taken effect
    // (GICD_CTLR.RWP, 12.9.4).
    GicdCtlr::get().from_value(0).set_are_ns(true).set_enable_grp1a(true).write_to(gicd_);
    TRY(poll_until([&] { return !GicdCtlr::get().read_from(gicd_).rwp(); }));

    // This PE's redistributor: awake (ProcessorSleep cleared, then ChildrenAsleep read as 0,
    // 12.11.42), all SGIs and PPIs in Group 1 (12.11.12).
    TRY(find_own_redistributor());
    GicrWaker::get().read_from(rd_).set_processor_sleep(false).write_to(rd_);
    TRY(poll_until([&] { return !GicrWaker::get().read_from(rd_).children_asleep(); }));
    Igroupr::get(0).from_value(~0u).write_to(sgi_);

    // CPU interface: priority mask, binary point, EOImode 0 (the EOIR write drops priority and
    // deactivates), then Group 1 on; the ISB makes it take effect before we go on.
    IccPmr::of(0).set_priority(priority_mask).write_to(*cpu_);
    IccBpr1::of(0).set_binary_point(0).write_to(*cpu_);
    IccCtlr::of(0).set_eoimode(false).write_to(*cpu_);
    IccIgrpen1::of(0).set_enable(true).write_to(*cpu_);
    cpu_->barrier(Barrier::isb);
    return ok_status();
}

Status GicV3::enable_ppi(uint32_t intid) {
    if (!is_ppi(intid)) return Err::invalid;
    if (!sgi_.valid()) return Err::not_connected;  // init() has not found the redistributor
    // Group 1 was set for all of them by init().
    prioritize_and_enable(sgi_, intid);  // 12.11.21, 12.11.25
    return ok_status();
}

InterruptAck GicV3::acknowledge() {
    IccIar1 iar = IccIar1::read_from(*cpu_);
    // The IAR read is a synchronization point for the handler's view of the GIC (as Linux does).
    cpu_->barrier(Barrier::dsb_sy);
    return InterruptAck{static_cast<uint32_t>(iar.raw), iar.intid()};
}

void GicV3::end_of_interrupt(InterruptAck ack) {
    IccEoir1::of(ack.iar).write_to(*cpu_);
    cpu_->barrier(Barrier::isb);
}

}  // namespace domd::arm64
