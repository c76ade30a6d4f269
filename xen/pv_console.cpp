#include "xen/pv_console.h"

namespace domd::xen {

void PvConsole::write(std::string_view text) {
    if (broken_) {
        dropped_ += text.size();
        return;
    }
    int yields = 0;
    while (!text.empty()) {
        auto written = ring_.write(text);
        if (!written.ok()) {
            broken_ = true;
            dropped_ += text.size();
            return;
        }
        text.remove_prefix(written.value());
        peer_.notify();
        if (text.empty()) break;
        if (yields++ == max_yields_per_write) {
            dropped_ += text.size();
            return;
        }
        (void)hv_.yield();
    }
}

}  // namespace domd::xen
