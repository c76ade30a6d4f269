#include "tests/test_support.h"

#include "kernel/event_loop.h"

using namespace domd;

namespace {

struct FakePlatform final : EventLoopPlatform {
    uint64_t now = 0;
    std::vector<std::string> calls;
    std::function<void()> on_wait;
    uint64_t now_ns() const override { return now; }
    void arm_wakeup(uint64_t deadline) override { calls.push_back("arm " + std::to_string(deadline)); }
    void disarm_wakeup() override { calls.push_back("disarm"); }
    void wait_for_interrupt() override {
        calls.push_back("wait");
        if (on_wait) on_wait();
    }
};

struct FakeSource final : EventSource {
    int work = 0;  // units of work waiting
    int polls = 0;
    std::vector<std::string>* log = nullptr;  // set_polling and prepare_to_block, in order
    bool polling = false;
    void set_polling(bool on) override {
        polling = on;
        if (log) log->push_back(on ? "polling" : "not polling");
    }
    bool prepare_to_block() override {
        if (log) log->push_back("prepare");
        return ready();
    }
    bool poll() override {
        ++polls;
        if (!work) return false;
        --work;
        return true;
    }
    bool ready() const override { return work > 0; }
};

}  // namespace

TEST_GROUP(EventLoop) {
    FakePlatform platform;
    FakeSource source;
};

TEST(EventLoop, DoesWorkWithoutBlocking) {
    EventLoop loop(platform, IdleMode::block);
    loop.add_source(source);
    source.work = 2;
    loop.run_once();
    loop.run_once();
    LONGS_EQUAL(0, source.work);
    CHECK(platform.calls.empty());
}

TEST(EventLoop, BlocksWhenIdleWithTheWakeupOffIfNoTimer) {
    EventLoop loop(platform, IdleMode::block);
    loop.add_source(source);
    loop.run_once();
    CHECK((std::vector<std::string>{"disarm", "wait"}) == platform.calls);
    LONGS_EQUAL(1, (long)loop.stats().idle_waits);
}

TEST(EventLoop, ArmsTheWakeupForTheNextDeadlineBeforeBlocking) {
    EventLoop loop(platform, IdleMode::block);
    Timer t;
    loop.timers().arm(t, 5000);
    loop.run_once();
    CHECK((std::vector<std::string>{"arm 5000", "wait"}) == platform.calls);
}

TEST(EventLoop, ArmsAgainBeforeEverySleep) {
    EventLoop loop(platform, IdleMode::block);
    Timer t;
    loop.timers().arm(t, 5000);
    loop.run_once();
    loop.run_once();
    CHECK((std::vector<std::string>{"arm 5000", "wait", "arm 5000", "wait"}) == platform.calls);
}

TEST(EventLoop, FiresTimersOnceTheirTimeComes) {
    EventLoop loop(platform, IdleMode::block);
    int fired = 0;
    auto count = [&] { ++fired; };
    Timer t(Callback<void()>::ref(count));
    loop.timers().arm(t, 100);
    platform.on_wait = [&] { platform.now = 150; };
    loop.run_once();  // blocks until "the timer interrupt"
    loop.run_once();  // fires
    LONGS_EQUAL(1, fired);
    LONGS_EQUAL(1, (long)loop.stats().timers_fired);
}

TEST(EventLoop, DoesNotBlockWhenASourceBecameReadyMeanwhile) {
    struct LateSource final : EventSource {
        bool poll() override { return false; }
        bool ready() const override { return true; }  // an event raced with poll()
    } late;
    EventLoop loop(platform, IdleMode::block);
    loop.add_source(late);
    loop.run_once();
    CHECK(platform.calls.empty());
}

TEST(EventLoop, PollModeNeverBlocks) {
    EventLoop loop(platform, IdleMode::poll);
    loop.add_source(source);
    Timer t;
    loop.timers().arm(t, 1000);
    for (int i = 0; i < 10; ++i) loop.run_once();
    CHECK(platform.calls.empty());
    LONGS_EQUAL(10, source.polls);
    platform.now = 1000;
    loop.run_once();
    CHECK_FALSE(t.armed());
}

// run() returns after the iteration in which a callback asked it to stop, not later. A
// watchdog source stops it after 1000 iterations instead, so a loop that ignores stop() fails
// here rather than hanging the suite.
TEST(EventLoop, RunStopsAfterTheIterationThatAskedIt) {
    struct Clockwork final : EventSource {
        FakePlatform* platform = nullptr;
        EventLoop* loop = nullptr;
        bool watchdog_fired = false;
        bool poll() override {
            ++platform->now;  // one tick per iteration
            if (platform->now == 1000) {
                watchdog_fired = true;
                loop->stop();
            }
            return true;
        }
        bool ready() const override { return true; }
    } clockwork;
    EventLoop loop(platform, IdleMode::poll);
    clockwork.platform = &platform;
    clockwork.loop = &loop;
    loop.add_source(clockwork);
    int stops = 0;
    auto stop = [&] {
        ++stops;
        loop.stop();
    };
    Timer t(Callback<void()>::ref(stop));
    loop.timers().arm(t, 5);
    CHECK_FALSE(loop.stopping());
    loop.run();
    CHECK_FALSE(clockwork.watchdog_fired);
    LONGS_EQUAL(1, stops);
    UNSIGNED_LONGLONGS_EQUAL(5, loop.stats().iterations);  // the fifth tick fired the timer
}

TEST(EventLoop, RefusesTooManySources) {
    EventLoop loop(platform, IdleMode::poll);
    FakeSource many[EventLoop::max_sources + 1];
    for (size_t i = 0; i + 1 < EventLoop::max_sources; ++i) CHECK(loop.add_source(many[i]));  // N-1
    CHECK(loop.add_source(many[EventLoop::max_sources - 1]));                                 // N
    CHECK_FALSE(loop.add_source(many[EventLoop::max_sources]));                               // N+1
    // Every source added is polled, the one refused is not.
    loop.run_once();
    for (size_t i = 0; i < EventLoop::max_sources; ++i) LONGS_EQUAL(1, many[i].polls);
    LONGS_EQUAL(0, many[EventLoop::max_sources].polls);
}

// ---- adaptive mode ---------------------------------------------------------------------------

TEST(EventLoop, AdaptiveSpinsWithinTheQuietWindowThenSleeps) {
    EventLoop loop(platform, IdleMode::adaptive);
    loop.set_quiet_window(1000);
    source.log = &platform.calls;
    loop.add_source(source);
    CHECK(source.polling);  // a spell starts with the mode
    platform.calls.clear();
    source.work = 1;
    loop.run_once();  // work at t=0
    platform.now = 999;
    loop.run_once();  // quiet, but within the window: spin
    CHECK(platform.calls.empty());
    platform.now = 1000;
    loop.run_once();  // the window passed: not polling any more, one last look, sleep
    CHECK((std::vector<std::string>{"not polling", "prepare", "disarm", "wait"}) == platform.calls);
    CHECK_FALSE(source.polling);
}

TEST(EventLoop, AdaptiveStartsANewSpellWhenWorkArrivesAfterASleep) {
    EventLoop loop(platform, IdleMode::adaptive);
    loop.set_quiet_window(10);
    loop.add_source(source);
    platform.now = 100;
    loop.run_once();  // asleep
    CHECK_FALSE(source.polling);
    source.work = 1;
    loop.run_once();
    CHECK(source.polling);
    LONGS_EQUAL(1, (long)loop.stats().spells);
    platform.now = 105;
    loop.run_once();
    LONGS_EQUAL(1, (long)loop.stats().idle_waits);  // no sleep within the new window
}

TEST(EventLoop, AdaptiveDoesNotSleepWhenTheLastLookFindsWork) {
    EventLoop loop(platform, IdleMode::adaptive);
    loop.set_quiet_window(0);
    loop.add_source(source);
    struct Racing final : EventSource {
        bool armed = false;
        bool poll() override { return false; }
        bool ready() const override { return false; }
        // A request raced with re-enabling notifications: found on the last look.
        bool prepare_to_block() override { return armed; }
        void set_polling(bool on) override { armed = !on; }
    } racing;
    loop.add_source(racing);
    loop.run_once();
    LONGS_EQUAL(0, (long)loop.stats().idle_waits);
}

TEST(EventLoop, ModesTellTheSourcesWhetherTheyArePolled) {
    EventLoop loop(platform, IdleMode::block);
    loop.add_source(source);
    CHECK_FALSE(source.polling);
    loop.set_mode(IdleMode::poll);
    CHECK(source.polling);
    loop.set_mode(IdleMode::block);
    CHECK_FALSE(source.polling);
}
