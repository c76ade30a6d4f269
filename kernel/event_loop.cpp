#include "kernel/event_loop.h"

namespace domd {

bool EventLoop::add_source(EventSource& source) {
    if (source_count_ == max_sources) return false;
    sources_[source_count_++] = &source;
    source.set_polling(sources_polling_);
    return true;
}

void EventLoop::tell_sources(bool polling) {
    if (polling == sources_polling_) return;
    sources_polling_ = polling;
    for (size_t i = 0; i < source_count_; ++i) sources_[i]->set_polling(polling);
}

void EventLoop::set_mode(IdleMode mode) {
    mode_ = mode;
    // Poll mode spins for good; block mode never does; adaptive starts a spell now.
    tell_sources(mode != IdleMode::block);
    last_work_ns_ = platform_.now_ns();
}

void EventLoop::run_once() {
    ++stats_.iterations;
    bool did_work = false;
    for (size_t i = 0; i < source_count_; ++i) did_work |= sources_[i]->poll();
    int fired = timers_.run_expired(platform_.now_ns());
    stats_.timers_fired += static_cast<uint64_t>(fired);
    did_work |= fired > 0;
    if (stopping_ || mode_ == IdleMode::poll) return;
    if (mode_ == IdleMode::adaptive) {
        uint64_t now = platform_.now_ns();
        if (did_work) {
            last_work_ns_ = now;
            if (!sources_polling_) {
                ++stats_.spells;
                tell_sources(true);
            }
            return;
        }
        if (now - last_work_ns_ < quiet_ns_) return;  // a quiet moment within the spell
        // The window passed without work: every source goes back to being woken, then the
        // loop sleeps (prepare_to_block below looks once more for work that raced).
        tell_sources(false);
    } else if (did_work) {
        return;
    }

    // Nothing done: sleep until the next event or deadline.
    for (size_t i = 0; i < source_count_; ++i)
        if (sources_[i]->prepare_to_block()) return;
    // The timer interrupt disarms the hardware timer, and others borrow it meanwhile (the
    // xenstore waiter): set it from the queue before every sleep.
    if (auto deadline = timers_.next_deadline())
        platform_.arm_wakeup(*deadline);
    else
        platform_.disarm_wakeup();
    ++stats_.idle_waits;
    platform_.wait_for_interrupt();
}

void EventLoop::run() {
    while (!stopping_) run_once();
}

}  // namespace domd
