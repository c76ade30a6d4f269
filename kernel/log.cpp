#include "kernel/log.h"

#include <cstdarg>
#include <cstdio>

namespace domd::logging {
namespace {

LogSink* sinks[max_sinks];
LogLevel current_level = LogLevel::info;
uint64_t (*clock_ns)() = nullptr;

constexpr std::string_view level_names[] = {"error", "warn", "info", "debug", "trace"};
constexpr char level_letters[] = {'E', 'W', 'I', 'D', 'T'};

void emit(std::string_view text) {
    for (LogSink* sink : sinks)
        if (sink) sink->write(text);
}

// Formats into buf after `used` bytes; marks truncation with "..." and always ends in '\n'.
std::string_view finish_line(char* buf, int used, int capacity) {
    if (used < 0) used = 0;
    if (used >= capacity - 1) {
        used = capacity - 1;
        buf[used - 4] = '.';
        buf[used - 3] = '.';
        buf[used - 2] = '.';
        buf[used - 1] = '\n';
        return {buf, static_cast<size_t>(used)};
    }
    buf[used++] = '\n';
    return {buf, static_cast<size_t>(used)};
}

}  // namespace

bool add_sink(LogSink* sink) {
    for (LogSink*& slot : sinks)
        if (slot == sink) return true;
    for (LogSink*& slot : sinks) {
        if (!slot) {
            slot = sink;
            return true;
        }
    }
    return false;
}

void remove_sink(LogSink* sink) {
    for (LogSink*& slot : sinks)
        if (slot == sink) slot = nullptr;
}

void set_level(LogLevel level) { current_level = level; }
LogLevel level() { return current_level; }
bool enabled(LogLevel level) { return level <= current_level; }

bool parse_level(std::string_view text, LogLevel& out) {
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); ++i) {
        if (text == level_names[i]) {
            out = static_cast<LogLevel>(i);
            return true;
        }
    }
    return false;
}

const char* level_name(LogLevel level) {
    auto index = static_cast<size_t>(level);
    return index < sizeof(level_names) / sizeof(level_names[0]) ? level_names[index].data() : "?";
}

void set_clock(uint64_t (*now_ns)()) { clock_ns = now_ns; }

void print(LogLevel level, const char* format, ...) {
    char buf[line_capacity];
    int used = 0;
    auto letter = level_letters[static_cast<size_t>(level) % sizeof(level_letters)];
    if (clock_ns) {
        uint64_t us = clock_ns() / 1000;
        used = snprintf(buf, sizeof buf, "[%5llu.%06llu] %c ",
                        static_cast<unsigned long long>(us / 1000000),
                        static_cast<unsigned long long>(us % 1000000), letter);
    } else {
        used = snprintf(buf, sizeof buf, "%c ", letter);
    }
    va_list args;
    va_start(args, format);
    used += vsnprintf(buf + used, sizeof buf - used, format, args);
    va_end(args);
    emit(finish_line(buf, used, sizeof buf));
}

void raw(std::string_view text) { emit(text); }

void rawf(const char* format, ...) {
    char buf[line_capacity];
    va_list args;
    va_start(args, format);
    int used = vsnprintf(buf, sizeof buf, format, args);
    va_end(args);
    if (used < 0) return;
    if (used >= static_cast<int>(sizeof buf)) used = sizeof buf - 1;
    emit({buf, static_cast<size_t>(used)});
}

}  // namespace domd::logging
