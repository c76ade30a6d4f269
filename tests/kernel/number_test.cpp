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

// Each digit range at its ends and one past them: '/' and ':' around '0'..'9', '`' and 'g'
// around 'a'..'f', '@' and 'G' around 'A'..'F'.
TEST(Number, DigitRangesAtTheirEdges) {
    const auto hex = NumberFormat::decimal_or_hex;
    UNSIGNED_LONGLONGS_EQUAL(0, parse_unsigned("0").value());
    UNSIGNED_LONGLONGS_EQUAL(9, parse_unsigned("9").value());
    CHECK_EQUAL(Err::invalid, parse_unsigned("/").error());
    CHECK_EQUAL(Err::invalid, parse_unsigned(":").error());
    CHECK_EQUAL(Err::invalid, parse_unsigned("a").error());  // not a decimal digit
    UNSIGNED_LONGLONGS_EQUAL(0x0, parse_unsigned("0x0", hex).value());
    UNSIGNED_LONGLONGS_EQUAL(0x9, parse_unsigned("0x9", hex).value());
    UNSIGNED_LONGLONGS_EQUAL(0xa, parse_unsigned("0xa", hex).value());
    UNSIGNED_LONGLONGS_EQUAL(0xf, parse_unsigned("0xf", hex).value());
    UNSIGNED_LONGLONGS_EQUAL(0xa, parse_unsigned("0xA", hex).value());
    UNSIGNED_LONGLONGS_EQUAL(0xf, parse_unsigned("0xF", hex).value());
    for (const char* junk : {"0x/", "0x:", "0x`", "0xg", "0x@", "0xG"})
        CHECK_EQUAL(Err::invalid, parse_unsigned(junk, hex).error());
}

// The overflow check at its edge, in both bases: the largest value, and one more.
TEST(Number, OverflowAtTheEdge) {
    UNSIGNED_LONGLONGS_EQUAL(UINT64_MAX - 1, parse_unsigned("18446744073709551614").value());
    UNSIGNED_LONGLONGS_EQUAL(UINT64_MAX, parse_unsigned("18446744073709551615").value());
    CHECK_EQUAL(Err::range, parse_unsigned("18446744073709551616").error());
    CHECK_EQUAL(Err::range, parse_unsigned("18446744073709551620").error());
    UNSIGNED_LONGLONGS_EQUAL(UINT64_MAX, parse_unsigned("0xFFFFFFFFFFFFFFFF", NumberFormat::decimal_or_hex).value());
}
