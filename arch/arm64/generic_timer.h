// The EL1 virtual timer of the Arm generic timer (Arm ARM D11): a monotonic nanosecond clock
// from CNTVCT_EL0 and one-shot deadlines through CNTV_CVAL_EL0. Xen virtualizes it directly
// (no trap for reading the counter). Its interrupt is a level-triggered PPI: the IRQ handler
// masks it (disarm) and the event loop re-arms the next deadline.
#pragma once

#include <cstdint>

namespace domd::arm64 {

class GenericTimer {
public:
    void init();
    uint64_t frequency_hz() const { return frequency_; }
    uint64_t now_ns() const;
    // Fires the timer interrupt once the clock reaches `deadline_ns` (immediately if past).
    void arm(uint64_t deadline_ns);
    void disarm();
    bool fired() const;

private:
    uint64_t ticks_to_ns(uint64_t ticks) const;
    uint64_t ns_to_ticks(uint64_t ns) const;

    uint64_t frequency_ = 0;
    uint64_t ns_per_tick_q32_ = 0;  // nanoseconds per tick, 32.32 fixed point
};

}  // namespace domd::arm64
