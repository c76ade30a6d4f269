// One-shot deadlines on the monotonic nanosecond clock. Timers are intrusive (the owner holds
// the Timer object, the queue only links it), so arming never allocates. Ordered by deadline;
// a handful of timers are live at once, so a sorted list is the right size of tool.
//
// A Timer knows the queue it is armed in: destroying an armed timer cancels it, and a queue
// destroyed first disarms the timers it still links, so neither side is left with a dangling
// link.
#pragma once

#include <cstdint>
#include <optional>

#include "kernel/callback.h"

namespace domd {

class TimerQueue;

class Timer {
public:
    explicit Timer(Callback<void()> on_fire = {}) : on_fire_(on_fire) {}
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;
    ~Timer();

    void set_callback(Callback<void()> on_fire) { on_fire_ = on_fire; }
    bool armed() const { return queue_ != nullptr; }
    uint64_t deadline() const { return deadline_; }

private:
    friend class TimerQueue;
    Callback<void()> on_fire_;
    uint64_t deadline_ = 0;
    Timer* next_ = nullptr;
    TimerQueue* queue_ = nullptr;  // where it is armed; nullptr when not armed
    uint64_t generation_ = 0;
};

class TimerQueue {
public:
    TimerQueue() = default;
    TimerQueue(const TimerQueue&) = delete;
    TimerQueue& operator=(const TimerQueue&) = delete;
    ~TimerQueue();

    // (Re)arms `timer` for `deadline_ns`; a timer already armed (here or in another queue) is
    // moved.
    void arm(Timer& timer, uint64_t deadline_ns);
    // Disarms `timer` if this queue holds it.
    void cancel(Timer& timer);
    std::optional<uint64_t> next_deadline() const;
    // Fires every timer whose deadline is <= now, earliest first; returns how many fired. A
    // callback may re-arm its own timer or others; a timer re-armed for now or earlier does not
    // fire again in the same call (no livelock).
    int run_expired(uint64_t now_ns);
    bool empty() const { return head_ == nullptr; }

private:
    Timer* head_ = nullptr;
    uint64_t generation_ = 0;
};

}  // namespace domd
