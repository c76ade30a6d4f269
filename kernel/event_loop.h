// domd's one loop: every iteration polls its event sources (event channels, later ioreq pages
// and virtqueues) and runs expired timers; when nothing was done it idles, either by blocking
// in the hypervisor until an interrupt (zero CPU while idle) or by spinning (lowest latency).
// The machine specifics sit behind Platform, so the loop itself is host-tested.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernel/clock.h"
#include "kernel/limits.h"
#include "kernel/timer_queue.h"

namespace domd {

// block: sleep in the hypervisor whenever nothing is to be done (zero idle CPU, every event
// wakes the vCPU); poll: never sleep (lowest latency, a busy vCPU); adaptive: poll while work
// keeps coming, sleep after a quiet window without any.
enum class IdleMode : uint8_t { block, poll, adaptive };

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
    // The loop tells a source whether it is spinning (true: the source may stop asking its peers
    // for notifications and rely on being polled) or about to sleep (false: every peer must be
    // able to wake it). Called on every change, before the first sleep of a spell.
    virtual void set_polling(bool) {}

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
    uint64_t spells = 0;      // adaptive mode: polling spells started (after a sleep)
    uint64_t timers_fired = 0;
};

class EventLoop {
public:
    static constexpr size_t max_sources = limits::max_event_sources;

    EventLoop(EventLoopPlatform& platform, IdleMode mode)
        : platform_(platform), mode_(mode), sources_polling_(mode != IdleMode::block) {}

    bool add_source(EventSource& source);
    TimerQueue& timers() { return timers_; }
    IdleMode mode() const { return mode_; }
    void set_mode(IdleMode mode);
    // Adaptive mode: how long without work before the loop sleeps.
    void set_quiet_window(uint64_t ns) { quiet_ns_ = ns; }
    uint64_t quiet_window() const { return quiet_ns_; }
    bool sources_polling() const { return sources_polling_; }

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
    void tell_sources(bool polling);

    TimerQueue timers_;
    bool stopping_ = false;
    bool sources_polling_ = false;
    uint64_t quiet_ns_ = 500'000;
    uint64_t last_work_ns_ = 0;
    EventLoopStats stats_;
};

}  // namespace domd
