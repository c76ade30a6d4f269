#include "kernel/command_line.h"

namespace domd {

int for_each_option(std::string_view line, Callback<void(std::string_view, std::string_view)> visit) {
    int count = 0;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\n')) ++i;
        size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\n') ++i;
        if (i == start) break;
        std::string_view word = line.substr(start, i - start);
        size_t eq = word.find('=');
        if (eq == std::string_view::npos)
            visit(word, {});
        else
            visit(word.substr(0, eq), word.substr(eq + 1));
        ++count;
    }
    return count;
}

Result<bool> parse_bool(std::string_view text) {
    if (text == "1" || text == "yes" || text == "on" || text == "true") return true;
    if (text == "0" || text == "no" || text == "off" || text == "false") return false;
    return Err::invalid;
}

}  // namespace domd
