// Leveled logging to a small set of sinks (the PV console ring, Xen's debug console, a test
// capture). Formatting uses the libc's vsnprintf into a stack buffer: no heap.
#pragma once

#include <cstdint>
#include <string_view>

namespace domd {

enum class LogLevel : uint8_t { error, warn, info, debug, trace };

class LogSink {
public:
    virtual void write(std::string_view text) = 0;

protected:
    ~LogSink() = default;
};

namespace logging {

constexpr int max_sinks = 4;
constexpr int line_capacity = 256;

// Returns false when every slot is taken.
bool add_sink(LogSink* sink);
void remove_sink(LogSink* sink);

void set_level(LogLevel level);
LogLevel level();
bool enabled(LogLevel level);
// Accepts "error", "warn", "info", "debug", "trace"; false (level unchanged) otherwise.
bool parse_level(std::string_view text, LogLevel& out);
const char* level_name(LogLevel level);

// Monotonic time for the line prefix; nullptr prints no time.
void set_clock(uint64_t (*now_ns)());

// One line: prefix, message, newline. Lines longer than line_capacity end with "...".
void print(LogLevel level, const char* format, ...) __attribute__((format(printf, 2, 3)));
// Text as given, no prefix (banners, crash reports that format their own lines).
void raw(std::string_view text);
void rawf(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace logging
}  // namespace domd

#define LOG_AT(lvl, ...)                                                   \
    do {                                                                   \
        if (::domd::logging::enabled(lvl)) ::domd::logging::print(lvl, __VA_ARGS__); \
    } while (0)
#define LOG_ERROR(...) LOG_AT(::domd::LogLevel::error, __VA_ARGS__)
#define LOG_WARN(...) LOG_AT(::domd::LogLevel::warn, __VA_ARGS__)
#define LOG_INFO(...) LOG_AT(::domd::LogLevel::info, __VA_ARGS__)
#define LOG_DEBUG(...) LOG_AT(::domd::LogLevel::debug, __VA_ARGS__)
#define LOG_TRACE(...) LOG_AT(::domd::LogLevel::trace, __VA_ARGS__)
