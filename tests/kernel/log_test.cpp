#include "tests/test_support.h"

#include <string>

#include "kernel/log.h"

using namespace domd;

namespace {

struct CaptureSink final : LogSink {
    std::string text;
    void write(std::string_view t) override { text.append(t); }
};

uint64_t fixed_clock() { return 1234567000; }  // 1.234567 s

}  // namespace

TEST_GROUP(Log) {
    CaptureSink sink;
    void setup() override {
        CHECK(logging::add_sink(&sink));
        logging::set_level(LogLevel::info);
        logging::set_clock(nullptr);
    }
    void teardown() override {
        logging::remove_sink(&sink);
        logging::set_clock(nullptr);
        logging::set_level(LogLevel::info);
    }
};

TEST(Log, PrefixesLevelAndEndsLines) {
    LOG_INFO("hello %d", 42);
    STRCMP_EQUAL("I hello 42\n", sink.text.c_str());
}

TEST(Log, FiltersBelowTheLevel) {
    LOG_DEBUG("hidden");
    LOG_WARN("shown");
    STRCMP_EQUAL("W shown\n", sink.text.c_str());
    logging::set_level(LogLevel::trace);
    LOG_TRACE("now");
    STRCMP_EQUAL("W shown\nT now\n", sink.text.c_str());
}

TEST(Log, PrintsTheClockWhenSet) {
    logging::set_clock(fixed_clock);
    LOG_ERROR("x");
    STRCMP_EQUAL("[    1.234567] E x\n", sink.text.c_str());
}

TEST(Log, TruncatesLongLinesVisibly) {
    std::string long_text(1000, 'a');
    LOG_INFO("%s", long_text.c_str());
    LONGS_EQUAL(logging::line_capacity - 1, (long)sink.text.size());
    STRCMP_EQUAL("...\n", sink.text.substr(sink.text.size() - 4).c_str());
}

TEST(Log, ParsesLevelNames) {
    LogLevel level = LogLevel::info;
    CHECK(logging::parse_level("debug", level));
    CHECK(level == LogLevel::debug);
    CHECK_FALSE(logging::parse_level("loud", level));
    CHECK(level == LogLevel::debug);
}

TEST(Log, RefusesMoreSinksThanSlots) {
    CaptureSink extra[logging::max_sinks];
    int added = 0;
    for (auto& s : extra) added += logging::add_sink(&s);
    LONGS_EQUAL(logging::max_sinks - 1, added);  // one slot is taken by the fixture's sink
    for (auto& s : extra) logging::remove_sink(&s);
}

// The level-name table has one name per level: the last level has a name, one past it (and
// beyond) prints "?" rather than reading past the table.
TEST(Log, LevelNamesEndAtTheLastLevel) {
    STRCMP_EQUAL("error", logging::level_name(LogLevel::error));
    STRCMP_EQUAL("trace", logging::level_name(LogLevel::trace));
    STRCMP_EQUAL("?", logging::level_name(static_cast<LogLevel>(static_cast<int>(LogLevel::trace) + 1)));
    STRCMP_EQUAL("?", logging::level_name(static_cast<LogLevel>(static_cast<int>(LogLevel::trace) + 2)));
    STRCMP_EQUAL("?", logging::level_name(static_cast<LogLevel>(255)));
    // Every name parses back to its level, the first and the last included.
    for (int i = 0; i <= static_cast<int>(LogLevel::trace); ++i) {
        LogLevel parsed = LogLevel::info;
        CHECK(logging::parse_level(logging::level_name(static_cast<LogLevel>(i)), parsed));
        LONGS_EQUAL(i, static_cast<int>(parsed));
    }
}

// A line of exactly the capacity's worth of text is the edge of truncation: one character
// shorter fits whole, that long or longer ends in "...".
TEST(Log, TruncationStartsExactlyAtTheCapacity) {
    const size_t room = logging::line_capacity - 1 - 2;  // the buffer keeps a NUL; "I " is the prefix
    LOG_INFO("%s", std::string(room - 1, 'b').c_str());
    STRCMP_EQUAL(("I " + std::string(room - 1, 'b') + "\n").c_str(), sink.text.c_str());
    sink.text.clear();
    LOG_INFO("%s", std::string(room, 'b').c_str());
    LONGS_EQUAL(logging::line_capacity - 1, (long)sink.text.size());
    STRCMP_EQUAL("...\n", sink.text.substr(sink.text.size() - 4).c_str());
}

// rawf() prints what fits its buffer: one byte short of it whole, exactly its size or more cut
// to the buffer less its NUL, which never reaches a sink.
TEST(Log, RawTextIsCutAtTheBufferSize) {
    const size_t capacity = logging::line_capacity;
    logging::rawf("%s", std::string(capacity - 1, 'r').c_str());
    LONGS_EQUAL(capacity - 1, (long)sink.text.size());
    sink.text.clear();
    logging::rawf("%s", std::string(capacity, 'r').c_str());
    LONGS_EQUAL(capacity - 1, (long)sink.text.size());
    CHECK(sink.text.find('\0') == std::string::npos);
    sink.text.clear();
    logging::rawf("%s", "");
    LONGS_EQUAL(0, (long)sink.text.size());
}
