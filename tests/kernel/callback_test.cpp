#include "tests/test_support.h"

#include "kernel/callback.h"

using namespace domd;

namespace {
struct Counter {
    int total = 0;
    int add(int n) { return total += n; }
};
int twice(void* context, int n) { return *static_cast<int*>(context) * n; }
}  // namespace

TEST_GROUP(Callback) {};

TEST(Callback, CallsAMemberFunction) {
    Counter c;
    auto cb = Callback<int(int)>::to<&Counter::add>(&c);
    cb(2);
    LONGS_EQUAL(5, cb(3));
    LONGS_EQUAL(5, c.total);
}

TEST(Callback, CallsALambdaByReference) {
    int seen = 0;
    auto lambda = [&](int n) { seen = n; };
    auto cb = Callback<void(int)>::ref(lambda);
    cb(7);
    LONGS_EQUAL(7, seen);
}

TEST(Callback, CallsAFunctionWithContext) {
    int two = 2;
    LONGS_EQUAL(10, Callback<int(int)>::from(twice, &two)(5));
}

TEST(Callback, DefaultIsEmpty) { CHECK_FALSE(Callback<void()>()); }
