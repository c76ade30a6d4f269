// Test-only commands (`testhooks=1` on domd's command line): the e2e suite writes a command
// into data/domd/test and domd obeys, to show under real Xen what unit tests cannot: a timer
// deadline firing, a crash report, a watch reacting. Never enabled in production.
#pragma once

#include <cstdint>
#include <string_view>

#include "kernel/event_loop.h"
#include "kernel/frame_allocator.h"
#include "kernel/mapper.h"
#include "kernel/task.h"
#include "kernel/timer_queue.h"
#include "xen/event_channels.h"
#include "xen/grant_table.h"
#include "xen/xenstore.h"

namespace domd {

// What the hooks may touch.
struct TestHookServices {
    xen::Xenstore& store;
    EventLoop& loop;
    const EventLoopPlatform& clock;
    xen::EventChannels& events;
    xen::GrantTable& grants;
    xen::GrantMapper& grant_mapper;
    Mapper& mapper;
    xen::Hypercall& hypercall;
    FrameAllocator& frames;
    uint16_t domid;
};

class TestHooks {
public:
    explicit TestHooks(const TestHookServices& services)
        : s_(services), store_(services.store), loop_(services.loop), clock_(services.clock) {}

    Status start();

private:
    void on_command_node(std::string_view path, std::string_view token);
    void on_command_done(Status status);
    // Reads the command and removes it (so it runs once even if it ends domd), then obeys.
    Task<Status> take_command();
    void run(std::string_view command);
    void on_timer();
    // Exercises event channels and grant tables against the real hypervisor, with domd as both
    // ends: an interdomain loopback channel, and one of its own pages granted to itself and
    // mapped back through the grant table. Writes "ok" or the failure to data/domd/test-reply.
    void self_test();
    Status event_channel_loopback();
    Status grant_self_map();
    // What a device model may do to domain `target` under the running XSM policy: create an
    // IOREQ server, claim an MMIO range, acquire its ioreq page, map one frame of the guest's
    // RAM; each step's errno is written to data/domd/test-reply ("ok" when all passed).
    void device_model_probe(uint16_t target);

    TestHookServices s_;
    xen::Xenstore& store_;
    EventLoop& loop_;
    const EventLoopPlatform& clock_;
    Job job_;
    bool look_again_ = false;
    char command_[128];
    Timer timer_;
    uint64_t timer_armed_at_ = 0;
    uint64_t timer_asked_ms_ = 0;
};

}  // namespace domd
