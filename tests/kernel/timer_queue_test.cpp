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

// A destroyed armed timer takes itself out of the queue: the queue must not keep a link to
// freed memory (ASan reports a use after free here if it does).
TEST(TimerQueue, DestroyingAnArmedTimerCancelsIt) {
    Recorder b{&order, 2};
    Timer later(Callback<void()>::to<&Recorder::fire>(&b));
    auto* first = new Timer;
    auto* middle = new Timer;
    queue.arm(*first, 10);
    queue.arm(*middle, 15);
    queue.arm(later, 20);
    delete first;  // the head of the list
    delete middle;  // linked between two live timers
    UNSIGNED_LONGLONGS_EQUAL(20, *queue.next_deadline());
    LONGS_EQUAL(1, queue.run_expired(100));
    CHECK((std::vector<int>{2}) == order);
    CHECK(queue.empty());
}

TEST(TimerQueue, ADestroyedQueueDisarmsItsTimers) {
    Timer t;
    {
        TimerQueue other;
        other.arm(t, 10);
        CHECK(t.armed());
    }
    CHECK_FALSE(t.armed());
    queue.arm(t, 5);  // still usable, and its destructor touches only the live queue
    CHECK(t.armed());
}

TEST(TimerQueue, ArmingInAnotherQueueMovesTheTimer) {
    Timer t;
    TimerQueue other;
    other.arm(t, 10);
    queue.arm(t, 20);
    CHECK(other.empty());
    UNSIGNED_LONGLONGS_EQUAL(20, *queue.next_deadline());
    other.cancel(t);  // not its queue any more: nothing happens
    CHECK(t.armed());
}

// A deadline is due at exactly its time, not a nanosecond before; timers with the same deadline
// fire in the order they were armed.
TEST(TimerQueue, ADeadlineIsDueAtExactlyItsTimeAndTiesFireInArmingOrder) {
    Recorder a{&order, 1}, b{&order, 2}, c{&order, 3};
    Timer ta(Callback<void()>::to<&Recorder::fire>(&a));
    Timer tb(Callback<void()>::to<&Recorder::fire>(&b));
    Timer tc(Callback<void()>::to<&Recorder::fire>(&c));
    queue.arm(ta, 100);
    queue.arm(tb, 100);
    queue.arm(tc, 99);
    LONGS_EQUAL(1, queue.run_expired(99));
    LONGS_EQUAL(0, queue.run_expired(99));
    LONGS_EQUAL(2, queue.run_expired(100));
    CHECK((std::vector<int>{3, 1, 2}) == order);
}
