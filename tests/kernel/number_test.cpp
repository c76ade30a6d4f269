#include "tests/test_support.h"

#include "kernel/number.h"

using namespace domd;

TEST_GROUP(Number) {};

TEST(Number, ParsesStrictDecimal) {
    UNSIGNED_LONGLONGS_EQUAL(0, parse_unsigned("0").value());
    UNSIGNED_LONGLONGS_EQUAL(33554432, parse_unsigned("33554432").value());
    UNSIGNED_LONGLONGS_EQUAL(UINT64_MAX, parse_unsigned("18446744073709551615").value());
    for (const char* junk : {"", "-1", "+1", " 1", "1 ", "1\n", "12a", "0x10", "010", "00", "1.0", "١"})
        CHECK_EQUAL(Err::invalid, parse_unsigned(junk).error());
    CHECK_EQUAL(Err::invalid, parse_unsigned(std::string_view("1\0", 2)).error());
    CHECK_EQUAL(Err::range, parse_unsigned("18446744073709551616").error());
    CHECK_EQUAL(Err::range, parse_unsigned("99999999999999999999999").error());
    CHECK_EQUAL(Err::invalid, parse_unsigned("99999999999999999999999x").error());
}

TEST(Number, ParsesHexOnlyWhenAsked) {
    UNSIGNED_LONGLONGS_EQUAL(0x2000000, parse_unsigned("0x2000000", NumberFormat::decimal_or_hex).value());
    UNSIGNED_LONGLONGS_EQUAL(0xabcDEF, parse_unsigned("0XabcDEF", NumberFormat::decimal_or_hex).value());
    UNSIGNED_LONGLONGS_EQUAL(0x10, parse_unsigned("0x0010", NumberFormat::decimal_or_hex).value());
    UNSIGNED_LONGLONGS_EQUAL(42, parse_unsigned("42", NumberFormat::decimal_or_hex).value());
    UNSIGNED_LONGLONGS_EQUAL(UINT64_MAX, parse_unsigned("0xffffffffffffffff", NumberFormat::decimal_or_hex).value());
    CHECK_EQUAL(Err::range, parse_unsigned("0x10000000000000000", NumberFormat::decimal_or_hex).error());
    for (const char* junk : {"0x", "0x-1", "-0x1", "0xg", "x10", "0x 1", "010", "0b1", "0x1p"})
        CHECK_EQUAL(Err::invalid, parse_unsigned(junk, NumberFormat::decimal_or_hex).error());
}
