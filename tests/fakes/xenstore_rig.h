// The asynchronous xenstore client with a fake xenstored, driven the way domd's loop drives it:
// the client polls, xenstored takes a turn, expired timers fire; when nothing moves, virtual
// time jumps to the next deadline. run() takes a coroutine (kernel/task.h) to completion.
#pragma once

#include <optional>

#include "kernel/coroutine_pool.h"
#include "kernel/task.h"
#include "kernel/timer_queue.h"
#include "tests/fakes/fake_xenstored.h"
#include "xen/xenstore.h"
#include "xen/xenstore_ring.h"

namespace domd::test {

struct XenstoreRig {
    explicit XenstoreRig(uint16_t client_domid = 1, uint32_t start_index = 0) : xsd(client_domid, start_index) {}

    FakeXenstored xsd;
    xen::XenstoreRing ring{xsd.page, xsd};
    TimerQueue timers;
    xen::Xenstore client{ring, timers, xsd};
    // Each step: one client poll, one xenstored turn, expired timers.
    int steps = 0;
    int unfinished_runs = 0;

    // One loop pass; true if anything moved.
    bool step() {
        ++steps;
        bool moved = client.poll();
        moved |= xsd.serve();
        moved |= timers.run_expired(xsd.clock_ns) > 0;
        return moved;
    }
    // Runs loop passes until `done()` or `limit` passes; when a pass moves nothing, virtual time
    // jumps to the next timer deadline (a request's timeout). False if it never got done.
    template <typename Done>
    bool run_until(Done done, int limit = 10000) {
        for (int i = 0; i < limit; ++i) {
            if (done()) return true;
            if (step()) continue;
            auto next = timers.next_deadline();
            if (!next) return done();
            if (*next > xsd.clock_ns) xsd.clock_ns = *next;
        }
        return done();
    }
    // Lets everything settle: runs until a pass moves nothing and no timer is due.
    void settle(int limit = 1000) {
        for (int i = 0; i < limit && step();) ++i;
    }

    // Runs `task` to completion and returns its result. One that never finishes answers
    // Err::timed_out and is counted in unfinished_runs (fixtures assert it stays 0).
    template <typename R>
    R run(Task<R> task, int limit = 10000) {
        std::optional<R> out;
        auto wrapper = [&]() -> Task<Status> {
            out.emplace(co_await std::move(task));
            co_return ok_status();
        };
        Job job;
        job.start(wrapper());
        run_until([&] { return !job.running(); }, limit);
        job.reset();
        if (!out) {
            ++unfinished_runs;
            return R(Err::timed_out);
        }
        return std::move(*out);
    }
    // Runs the operation `make()` creates to completion: rig.op([&] { return client.read(p, buf); }).
    template <typename F>
    auto op(F make, int limit = 10000);
};

// One awaited operation as a task: `make` creates it (an operation cannot be moved, so it is
// made inside the coroutine).
template <typename F>
auto await_op(F make) -> Task<decltype(make().await_resume())> {
    co_return co_await make();
}

template <typename F>
auto XenstoreRig::op(F make, int limit) {
    return run(await_op(make), limit);
}

}  // namespace domd::test
