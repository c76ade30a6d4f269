// domd's one loop: every iteration polls its event sources (event channels, later ioreq pages
// and virtqueues) and runs expired timers; when nothing was done it idles, either by blocking
// in the hypervisor until an interrupt (zero CPU while idle) or by spinning (lowest latency).
// The machine specifics sit behind Platform, so the loop itself is host-tested.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernel/clock.h"
#include "kernel/timer_queue.h"

namespace domd {

enum class IdleMode : uint8_t { block, poll };

class EventSource {
public:
    // Does whatever work is ready; returns true if it did any.
    virtual bool poll() = 0;
    // True if poll() would find work right now.
    virtual bool ready() const = 0;
    // Block mode, just before the loop sleeps: the last chance to turn notifications back on
    // (a virtio device's guest-side suppression) and look again. True: work is pending, do not
    // sleep.
    virtual bool prepare_to_block() { return ready(); }

protected:
    ~EventSource() = default;
};

class EventLoopPlatform : public Clock {
public:
    // Block mode: make the timer interrupt fire at `deadline_ns` / not at all.
    virtual void arm_wakeup(uint64_t deadline_ns) = 0;
    virtual void disarm_wakeup() = 0;
    // Block mode: sleep until an interrupt (an event channel or the timer) is pending. Returns
    // at once if one already is, so an event that raced with the last poll is not lost.
    virtual void wait_for_interrupt() = 0;

protected:
    ~EventLoopPlatform() = default;
};

struct EventLoopStats {
    uint64_t iterations = 0;
    uint64_t idle_waits = 0;  // times the loop blocked
    uint64_t timers_fired = 0;
};

class EventLoop {
public:
    static constexpr size_t max_sources = 8;

    EventLoop(EventLoopPlatform& platform, IdleMode mode) : platform_(platform), mode_(mode) {}

    bool add_source(EventSource& source);
    TimerQueue& timers() { return timers_; }
    IdleMode mode() const { return mode_; }
    void set_mode(IdleMode mode) { mode_ = mode; }

    // One iteration: poll, run timers, and idle if nothing was done.
    void run_once();
    // Iterates until stop() is called (from a source or a timer callback).
    void run();
    void stop() { stopping_ = true; }
    bool stopping() const { return stopping_; }

    const EventLoopStats& stats() const { return stats_; }

private:
    EventLoopPlatform& platform_;
    IdleMode mode_;
    EventSource* sources_[max_sources] = {};
    size_t source_count_ = 0;
    TimerQueue timers_;
    bool stopping_ = false;
    EventLoopStats stats_;
};

}  // namespace domd
