#include "tests/test_support.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

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

// The parser stops at the end of the line it was given: here every line ends right where a
// page the process may not read begins, so one byte too far is a crash, not a silent read.
TEST(CommandLine, NeverReadsPastTheEndOfTheLine) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    auto* two = static_cast<char*>(mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    CHECK(two != MAP_FAILED);
    CHECK_EQUAL(0, mprotect(two + page, page, PROT_NONE));
    struct Case {
        const char* text;
        int words;
    } cases[] = {{"a=1 b", 2}, {"a=1 b ", 2}, {"a=1\t", 1}, {" ", 0}, {"x", 1}, {"k=", 1}};
    for (const Case& c : cases) {
        size_t n = strlen(c.text);
        char* at = two + page - n;
        memcpy(at, c.text, n);
        auto visit = [](std::string_view, std::string_view) {};
        LONGS_EQUAL(c.words, for_each_option(std::string_view(at, n), Callback<void(std::string_view, std::string_view)>::ref(visit)));
    }
    munmap(two, 2 * page);
}
