#include "arch/arm64/generic_timer.h"

#include "arch/arm64/sysreg.h"

namespace domd::arm64 {

void GenericTimer::init() {
    frequency_ = read_cntfrq_el0();
    if (frequency_ == 0) frequency_ = 62500000;  // QEMU virt's default, if firmware left it unset
    ns_per_tick_q32_ = static_cast<uint64_t>((static_cast<__uint128_t>(1000000000) << 32) / frequency_);
    disarm();
}

uint64_t GenericTimer::ticks_to_ns(uint64_t ticks) const {
    return static_cast<uint64_t>((static_cast<__uint128_t>(ticks) * ns_per_tick_q32_) >> 32);
}

uint64_t GenericTimer::ns_to_ticks(uint64_t ns) const {
    return static_cast<uint64_t>(static_cast<__uint128_t>(ns) * frequency_ / 1000000000);
}

uint64_t GenericTimer::now_ns() const {
    isb();  // the counter read must not be hoisted above earlier instructions
    return ticks_to_ns(read_cntvct_el0());
}

void GenericTimer::arm(uint64_t deadline_ns) {
    write_cntv_cval_el0(ns_to_ticks(deadline_ns) + 1);
    write_cntv_ctl_el0(CntvCtl{}.set_enable(true).raw);
    isb();
}

void GenericTimer::disarm() {
    write_cntv_ctl_el0(CntvCtl{}.set_enable(true).set_imask(true).raw);
    isb();
}

bool GenericTimer::fired() const { return CntvCtl{read_cntv_ctl_el0()}.istatus(); }

}  // namespace domd::arm64
