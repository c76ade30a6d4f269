#include "tests/test_support.h"

#include "kernel/log_buffer.h"

using namespace domd;

namespace {
struct CaptureSink final : LogSink {
    std::string text;
    void write(std::string_view t) override { text.append(t); }
};
}  // namespace

TEST_GROUP(LogBuffer) {
    LogBuffer buffer;
    CaptureSink sink;
};

TEST(LogBuffer, ReplaysWhatItKeptInOrder) {
    buffer.write("one\n");
    buffer.write("two\n");
    buffer.replay(sink);
    STRCMP_EQUAL("one\ntwo\n", sink.text.c_str());
    LONGS_EQUAL(0, (long)buffer.size());
    buffer.replay(sink);
    STRCMP_EQUAL("one\ntwo\n", sink.text.c_str());
}

TEST(LogBuffer, CountsWhatDidNotFitAndSaysSo) {
    std::string big(LogBuffer::capacity - 2, 'x');
    buffer.write(big);
    buffer.write("abcd");
    LONGS_EQUAL(2, (long)buffer.dropped());
    buffer.replay(sink);
    CHECK(sink.text.find("xxab(2 bytes of the boot log did not fit)") != std::string::npos);
}
