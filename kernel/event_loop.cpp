#include "kernel/event_loop.h"

namespace domd {

bool EventLoop::add_source(EventSource& source) {
    if (source_count_ == max_sources) return false;
    sources_[source_count_++] = &source;
    return true;
}

void EventLoop::run_once() {
    ++stats_.iterations;
    bool did_work = false;
    for (size_t i = 0; i < source_count_; ++i) did_work |= sources_[i]->poll();
    int fired = timers_.run_expired(platform_.now_ns());
    stats_.timers_fired += static_cast<uint64_t>(fired);
    did_work |= fired > 0;
    if (did_work || stopping_ || mode_ == IdleMode::poll) return;

    // Block mode with nothing done: sleep until the next event or deadline.
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
