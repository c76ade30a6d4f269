// Coroutines for the control plane (kernel/task.h): lazy start, symmetric transfer between
// nested tasks, results, cancellation by destroying the owner, and frames from the fixed pool.
#include "tests/test_support.h"

#include "kernel/coroutine_pool.h"
#include "kernel/sleep.h"
#include "kernel/task.h"

using namespace domd;

namespace {

// Something a coroutine waits for, resumed by the test (as a xenstore reply would be). Its
// destructor unregisters it, as a real awaiter must when its coroutine is cancelled.
struct Gate {
    std::coroutine_handle<> waiter;
    int value = 0;
    bool open = false;
    int* destroyed_while_waiting = nullptr;

    struct Awaiter {
        Gate& gate;
        bool await_ready() const noexcept { return gate.open; }
        void await_suspend(std::coroutine_handle<> h) noexcept { gate.waiter = h; }
        int await_resume() noexcept {
            gate.waiter = {};
            return gate.value;
        }
        ~Awaiter() {
            if (gate.waiter && gate.destroyed_while_waiting) ++*gate.destroyed_while_waiting;
            gate.waiter = {};
        }
    };
    Awaiter wait() { return Awaiter{*this}; }
    void release(int v) {
        value = v;
        open = true;
        if (auto h = waiter) h.resume();
    }
};

Task<Result<int>> doubled(Gate& gate) {
    int v = co_await gate.wait();
    if (v < 0) co_return Err::invalid;
    co_return 2 * v;
}

Task<Status> sum_of_two(Gate& a, Gate& b, int& out) {
    auto x = co_await doubled(a);
    if (!x.ok()) co_return x.error();
    auto y = co_await doubled(b);
    if (!y.ok()) co_return y.error();
    out = x.value() + y.value();
    co_return ok_status();
}

Task<Status> uses_co_try(Result<int> given, int& out) {
    out = CO_TRY(given);
    co_return ok_status();
}

}  // namespace

TEST_GROUP(Task) {
    void teardown() override { LONGS_EQUAL(0, (long)coroutine_pool().stats().in_use); }
};

TEST(Task, NothingRunsUntilStartedAndThenOnlyUntilTheFirstSuspension) {
    Gate a, b;
    int out = 0;
    Task<Status> task = sum_of_two(a, b, out);
    CHECK(task.valid());
    CHECK_FALSE(static_cast<bool>(a.waiter));  // lazy
    Job job;
    job.start(std::move(task));
    CHECK(job.running());
    CHECK(static_cast<bool>(a.waiter));  // suspended in the nested task
    a.release(3);
    CHECK(job.running());
    CHECK(static_cast<bool>(b.waiter));
    b.release(4);
    CHECK_FALSE(job.running());
    CHECK(job.result().ok());
    LONGS_EQUAL(14, out);
}

TEST(Task, AnErrorTravelsUpAndTheCallbackSeesIt) {
    Gate a, b;
    int out = 0;
    Status seen;
    auto done = [&](Status s) { seen = s; };
    Job job;
    job.start(sum_of_two(a, b, out), Callback<void(Status)>::ref(done));
    a.release(-1);
    CHECK_FALSE(job.running());
    CHECK_EQUAL(Err::invalid, seen.error());
    CHECK_FALSE(static_cast<bool>(b.waiter));
}

TEST(Task, CoTryReturnsTheError) {
    int out = 0;
    Job job;
    job.start(uses_co_try(Err::range, out));
    CHECK_EQUAL(Err::range, job.result().error());
    job.start(uses_co_try(5, out));
    CHECK(job.result().ok());
    LONGS_EQUAL(5, out);
}

TEST(Task, DestroyingTheJobCancelsEveryNestedAwaiter) {
    Gate a, b;
    int out = 0;
    int cancelled = 0;
    a.destroyed_while_waiting = &cancelled;
    {
        Job job;
        job.start(sum_of_two(a, b, out));
        CHECK(static_cast<bool>(a.waiter));
        CHECK(coroutine_pool().stats().in_use >= 2);  // outer and nested frames
    }
    LONGS_EQUAL(1, cancelled);
    CHECK_FALSE(static_cast<bool>(a.waiter));  // nobody will be resumed
}

TEST(Task, ACallbackMayRestartItsOwnJob) {
    Gate first, second, unused;
    int out = 0, runs = 0;
    Job job;
    std::function<void(Status)> again;
    again = [&](Status) {
        if (++runs == 1) job.start(sum_of_two(second, unused, out), Callback<void(Status)>::ref(again));
    };
    job.start(sum_of_two(first, unused, out), Callback<void(Status)>::ref(again));
    unused.open = true;
    unused.value = 1;
    first.release(1);
    CHECK(job.running());  // the second run, waiting on `second`
    second.release(2);
    CHECK_FALSE(job.running());
    LONGS_EQUAL(2, runs);
    LONGS_EQUAL(6, out);
}

TEST(Task, AFinishedJobReturnsItsFrameAtOnce) {
    Gate a, b;
    int out = 0;
    Job job;
    job.start(sum_of_two(a, b, out));
    a.release(1);
    b.release(1);
    CHECK_FALSE(job.running());
    LONGS_EQUAL(0, (long)coroutine_pool().stats().in_use);
}

TEST(Task, AnExhaustedPoolGivesNoMemoryInsteadOfACrash) {
    // Hold every block of both sizes, then start one more task.
    std::vector<void*> held;
    for (void* p; (p = coroutine_pool().allocate(CoroutinePool::large_block)) != nullptr;) held.push_back(p);
    for (void* p; (p = coroutine_pool().allocate(1)) != nullptr;) held.push_back(p);
    LONGS_EQUAL((long)(CoroutinePool::small_blocks + CoroutinePool::large_blocks), (long)held.size());
    uint64_t failures = coroutine_pool().stats().failures;
    Gate a, b;
    int out = 0;
    Status seen;
    auto done = [&](Status s) { seen = s; };
    Job job;
    job.start(sum_of_two(a, b, out), Callback<void(Status)>::ref(done));
    CHECK_FALSE(job.running());
    CHECK_EQUAL(Err::no_memory, seen.error());
    CHECK(coroutine_pool().stats().failures > failures);
    for (void* p : held) coroutine_pool().release(p, 0);
}

TEST(Task, APoolBlockSizeIsTheLimitAtItsEdge) {
    void* fits = coroutine_pool().allocate(CoroutinePool::large_block);
    CHECK(fits != nullptr);
    CHECK(coroutine_pool().allocate(CoroutinePool::large_block + 1) == nullptr);
    coroutine_pool().release(fits, 0);
    void* small = coroutine_pool().allocate(CoroutinePool::small_block);
    void* large = coroutine_pool().allocate(CoroutinePool::small_block + 1);
    CHECK(small != nullptr && large != nullptr);
    coroutine_pool().release(small, 0);
    coroutine_pool().release(large, 0);
}

namespace {
struct TestClock final : Clock {
    uint64_t now = 1000;
    uint64_t now_ns() const override { return now; }
};
Task<Status> nap(TimerQueue& timers, const Clock& clock, uint64_t ns, int& woke) {
    co_await SleepFor(timers, clock, ns);
    ++woke;
    co_return ok_status();
}
}  // namespace

TEST(Task, SleepForResumesFromTheTimerQueueAtItsDeadline) {
    TimerQueue timers;
    TestClock clock;
    int woke = 0;
    Job job;
    job.start(nap(timers, clock, 500, woke));
    CHECK(job.running());
    CHECK_EQUAL(1500u, timers.next_deadline().value_or(0));
    LONGS_EQUAL(0, timers.run_expired(1499));
    LONGS_EQUAL(0, woke);
    LONGS_EQUAL(1, timers.run_expired(1500));
    LONGS_EQUAL(1, woke);
    CHECK_FALSE(job.running());
    CHECK(timers.empty());
}

TEST(Task, ACancelledSleepLeavesNoTimerBehind) {
    TimerQueue timers;
    TestClock clock;
    int woke = 0;
    {
        Job job;
        job.start(nap(timers, clock, 500, woke));
        CHECK_FALSE(timers.empty());
        job.reset();
        CHECK(timers.empty());  // the frame's timer went with it
    }
    LONGS_EQUAL(0, timers.run_expired(1 << 30));
    LONGS_EQUAL(0, woke);
}
