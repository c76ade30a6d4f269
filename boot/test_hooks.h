// Test-only commands (`testhooks=1` on domd's command line): the e2e suite writes a command
// into data/domd/test and domd obeys, to show under real Xen what unit tests cannot: a timer
// deadline firing, a crash report, a watch reacting. Never enabled in production.
#pragma once

#include <cstdint>
#include <string_view>

#include "kernel/event_loop.h"
#include "kernel/timer_queue.h"
#include "xen/xenstore.h"

namespace domd {

class TestHooks {
public:
    TestHooks(xen::Xenstore& store, EventLoop& loop, const EventLoopPlatform& clock)
        : store_(store), loop_(loop), clock_(clock) {}

    Status start();

private:
    void on_command_node(std::string_view path, std::string_view token);
    void run(std::string_view command);
    void on_timer();

    xen::Xenstore& store_;
    EventLoop& loop_;
    const EventLoopPlatform& clock_;
    Timer timer_;
    uint64_t timer_armed_at_ = 0;
    uint64_t timer_asked_ms_ = 0;
};

}  // namespace domd
