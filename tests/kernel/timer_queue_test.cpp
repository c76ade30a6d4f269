#include "tests/test_support.h"

#include "kernel/timer_queue.h"

using namespace domd;

namespace {
struct Recorder {
    std::vector<int>* order;
    int id;
    void fire() { order->push_back(id); }
};
}  // namespace

TEST_GROUP(TimerQueue) {
    TimerQueue queue;
    std::vector<int> order;
};

TEST(TimerQueue, FiresExpiredTimersEarliestFirst) {
    Recorder a{&order, 1}, b{&order, 2}, c{&order, 3};
    Timer ta(Callback<void()>::to<&Recorder::fire>(&a));
    Timer tb(Callback<void()>::to<&Recorder::fire>(&b));
    Timer tc(Callback<void()>::to<&Recorder::fire>(&c));
    queue.arm(ta, 300);
    queue.arm(tb, 100);
    queue.arm(tc, 200);
    UNSIGNED_LONGLONGS_EQUAL(100, *queue.next_deadline());
    LONGS_EQUAL(2, queue.run_expired(250));
    CHECK((std::vector<int>{2, 3}) == order);
    CHECK(ta.armed());
    CHECK_FALSE(tb.armed());
    UNSIGNED_LONGLONGS_EQUAL(300, *queue.next_deadline());
}

TEST(TimerQueue, RearmingMovesATimer) {
    Recorder a{&order, 1};
    Timer ta(Callback<void()>::to<&Recorder::fire>(&a));
    queue.arm(ta, 100);
    queue.arm(ta, 500);
    LONGS_EQUAL(0, queue.run_expired(400));
    LONGS_EQUAL(1, queue.run_expired(500));
    CHECK(queue.empty());
}

TEST(TimerQueue, CancelRemoves) {
    Timer t;
    queue.arm(t, 10);
    queue.cancel(t);
    CHECK(queue.empty());
    CHECK_FALSE(queue.next_deadline().has_value());
    queue.cancel(t);  // harmless twice
}

TEST(TimerQueue, ACallbackRearmingForNowWaitsForTheNextPass) {
    Timer t;
    int fired = 0;
    auto rearm = [&] {
        ++fired;
        queue.arm(t, 0);
    };
    t.set_callback(Callback<void()>::ref(rearm));
    queue.arm(t, 5);
    LONGS_EQUAL(1, queue.run_expired(10));
    LONGS_EQUAL(1, fired);
    LONGS_EQUAL(1, queue.run_expired(10));
    LONGS_EQUAL(2, fired);
}

TEST(TimerQueue, ACallbackMayCancelAnotherExpiredTimer) {
    Timer first, second;
    int second_fired = 0;
    auto cancel_second = [&] { queue.cancel(second); };
    auto count = [&] { ++second_fired; };
    first.set_callback(Callback<void()>::ref(cancel_second));
    second.set_callback(Callback<void()>::ref(count));
    queue.arm(first, 1);
    queue.arm(second, 2);
    LONGS_EQUAL(1, queue.run_expired(10));
    LONGS_EQUAL(0, second_fired);
    CHECK(queue.empty());
}
