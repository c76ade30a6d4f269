#include "tests/test_support.h"

#include "kernel/command_line.h"

using namespace domd;

TEST_GROUP(CommandLine) {};

TEST(CommandLine, SplitsWordsIntoKeysAndValues) {
    std::vector<std::pair<std::string, std::string>> seen;
    auto visit = [&](std::string_view k, std::string_view v) { seen.emplace_back(k, v); };
    int n = for_each_option("  loglevel=debug\tidle=poll testhooks  empty= a=b=c ",
                            Callback<void(std::string_view, std::string_view)>::ref(visit));
    LONGS_EQUAL(5, n);
    CHECK((seen[0] == std::pair<std::string, std::string>{"loglevel", "debug"}));
    CHECK((seen[1] == std::pair<std::string, std::string>{"idle", "poll"}));
    CHECK((seen[2] == std::pair<std::string, std::string>{"testhooks", ""}));
    CHECK((seen[3] == std::pair<std::string, std::string>{"empty", ""}));
    CHECK((seen[4] == std::pair<std::string, std::string>{"a", "b=c"}));
}

TEST(CommandLine, EmptyLineHasNoWords) {
    auto visit = [](std::string_view, std::string_view) { FAIL("no word expected"); };
    LONGS_EQUAL(0, for_each_option("   ", Callback<void(std::string_view, std::string_view)>::ref(visit)));
}

TEST(CommandLine, ParsesBooleansStrictly) {
    CHECK(parse_bool("yes").value());
    CHECK_FALSE(parse_bool("0").value());
    CHECK_EQUAL(Err::invalid, parse_bool("2").error());
    CHECK_EQUAL(Err::invalid, parse_bool("").error());
}
