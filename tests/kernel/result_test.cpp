#include "tests/test_support.h"

#include "kernel/result.h"

using namespace domd;

namespace {

Result<int> parse_digit(char c) {
    if (c < '0' || c > '9') return Err::invalid;
    return c - '0';
}

Result<int> sum_two(const char* s) {
    int a = TRY(parse_digit(s[0]));
    int b = TRY(parse_digit(s[1]));
    return a + b;
}

Status check_positive(int v) { return v > 0 ? ok_status() : Status(Err::range); }

Status both_positive(int a, int b) {
    TRY(check_positive(a));
    TRY(check_positive(b));
    return ok_status();
}

struct MoveOnly {
    explicit MoveOnly(int v) : value(v) {}
    MoveOnly(MoveOnly&& o) : value(o.value) { o.value = -1; }
    MoveOnly(const MoveOnly&) = delete;
    int value;
};

Result<MoveOnly> make(int v) { return MoveOnly(v); }
Result<int> unwrap(int v) {
    MoveOnly m = TRY(make(v));
    return m.value;
}

}  // namespace

TEST_GROUP(Result) {};

TEST(Result, TryPropagatesTheFirstError) {
    LONGS_EQUAL(7, sum_two("34").value());
    CHECK_EQUAL(Err::invalid, sum_two("3x").error());
    CHECK(both_positive(1, 2).ok());
    CHECK_EQUAL(Err::range, both_positive(1, 0).error());
}

TEST(Result, HoldsMoveOnlyValues) { LONGS_EQUAL(5, unwrap(5).value()); }

TEST(Result, ValueOrFallsBack) {
    LONGS_EQUAL(9, parse_digit('x').value_or(9));
    LONGS_EQUAL(4, parse_digit('4').value_or(9));
}

TEST(Result, ErrorNamesAreErrnoNames) {
    STRCMP_EQUAL("ENOENT", err_name(Err::not_found));
    STRCMP_EQUAL("EPROTO", err_name(Err::protocol));
    STRCMP_EQUAL("E?", err_name(static_cast<Err>(999)));
}
