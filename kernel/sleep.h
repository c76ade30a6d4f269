// `co_await SleepFor(timers, clock, ns)`: a control-plane coroutine waits for a while without
// holding the loop. The timer lives in the awaiting frame, so destroying a suspended task (a Job
// reset: cancellation) disarms it with the frame.
#pragma once

#include <coroutine>
#include <cstdint>

#include "kernel/callback.h"
#include "kernel/clock.h"
#include "kernel/timer_queue.h"

namespace domd {

class SleepFor {
public:
    SleepFor(TimerQueue& timers, const Clock& clock, uint64_t ns) : timers_(timers), clock_(clock), ns_(ns) {}
    SleepFor(const SleepFor&) = delete;
    SleepFor& operator=(const SleepFor&) = delete;

    bool await_ready() const noexcept { return ns_ == 0; }
    void await_suspend(std::coroutine_handle<> waiter) noexcept {
        waiter_ = waiter;
        timer_.set_callback(Callback<void()>::to<&SleepFor::fire>(this));
        timers_.arm(timer_, clock_.now_ns() + ns_);
    }
    void await_resume() const noexcept {}

private:
    void fire() { waiter_.resume(); }

    TimerQueue& timers_;
    const Clock& clock_;
    uint64_t ns_;
    std::coroutine_handle<> waiter_;
    Timer timer_;
};

}  // namespace domd
