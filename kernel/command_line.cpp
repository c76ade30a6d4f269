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

Result<uint64_t> parse_u64(std::string_view text) {
    unsigned base = 10;
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        base = 16;
        text.remove_prefix(2);
    }
    if (text.empty()) return Err::invalid;
    uint64_t value = 0;
    for (char c : text) {
        unsigned digit;
        if (c >= '0' && c <= '9')
            digit = static_cast<unsigned>(c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f')
            digit = static_cast<unsigned>(c - 'a' + 10);
        else if (base == 16 && c >= 'A' && c <= 'F')
            digit = static_cast<unsigned>(c - 'A' + 10);
        else
            return Err::invalid;
        if (value > (UINT64_MAX - digit) / base) return Err::overflow;
        value = value * base + digit;
    }
    return value;
}

}  // namespace domd
