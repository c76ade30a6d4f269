#include "kernel/timer_queue.h"

namespace domd {

Timer::~Timer() {
    if (queue_) queue_->cancel(*this);
}

TimerQueue::~TimerQueue() {
    while (Timer* t = head_) {
        head_ = t->next_;
        t->next_ = nullptr;
        t->queue_ = nullptr;
    }
}

void TimerQueue::arm(Timer& timer, uint64_t deadline_ns) {
    if (timer.queue_) timer.queue_->cancel(timer);
    timer.deadline_ = deadline_ns;
    timer.queue_ = this;
    timer.generation_ = generation_;
    Timer** link = &head_;
    while (*link && (*link)->deadline_ <= deadline_ns) link = &(*link)->next_;
    timer.next_ = *link;
    *link = &timer;
}

void TimerQueue::cancel(Timer& timer) {
    if (timer.queue_ != this) return;
    for (Timer** link = &head_; *link; link = &(*link)->next_) {
        if (*link == &timer) {
            *link = timer.next_;
            break;
        }
    }
    timer.next_ = nullptr;
    timer.queue_ = nullptr;
}

std::optional<uint64_t> TimerQueue::next_deadline() const {
    if (!head_) return std::nullopt;
    return head_->deadline_;
}

int TimerQueue::run_expired(uint64_t now_ns) {
    // Timers armed while this pass runs carry its generation and wait for the next pass, so a
    // callback that re-arms for "now" cannot livelock the loop.
    uint64_t pass = ++generation_;
    int fired = 0;
    Timer** link = &head_;
    while (*link && (*link)->deadline_ <= now_ns) {
        Timer* t = *link;
        if (t->generation_ == pass) {
            link = &t->next_;
            continue;
        }
        *link = t->next_;
        t->next_ = nullptr;
        t->queue_ = nullptr;
        ++fired;
        if (t->on_fire_) t->on_fire_();
        link = &head_;  // the callback may have armed or cancelled anything
    }
    return fired;
}

}  // namespace domd
