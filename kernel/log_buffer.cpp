#include "kernel/log_buffer.h"

#include <cstdio>
#include <cstring>

namespace domd {

void LogBuffer::write(std::string_view text) {
    size_t room = capacity - used_;
    size_t keep = text.size() < room ? text.size() : room;
    memcpy(text_ + used_, text.data(), keep);
    used_ += keep;
    dropped_ += text.size() - keep;
}

void LogBuffer::replay(LogSink& sink) {
    sink.write({text_, used_});
    if (dropped_) {
        char note[64];
        int n = snprintf(note, sizeof note, "(%zu bytes of the boot log did not fit)\n", dropped_);
        if (n > 0) sink.write({note, static_cast<size_t>(n)});
    }
    used_ = 0;
    dropped_ = 0;
}

}  // namespace domd
