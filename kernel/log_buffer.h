// Keeps the log lines written before the real console exists, so that they can be replayed
// into it: `xl console` then shows domd's boot from its first line. Fixed size; what does not
// fit is counted, and the replay says so.
#pragma once

#include <cstddef>
#include <string_view>

#include "kernel/log.h"

namespace domd {

class LogBuffer final : public LogSink {
public:
    static constexpr size_t capacity = 8192;

    void write(std::string_view text) override;
    // Writes everything kept so far into `sink`, then forgets it.
    void replay(LogSink& sink);

    size_t size() const { return used_; }
    size_t dropped() const { return dropped_; }

private:
    char text_[capacity];
    size_t used_ = 0;
    size_t dropped_ = 0;
};

}  // namespace domd
