#include "kernel/number.h"

#include <limits>

namespace domd {

Result<uint64_t> parse_unsigned(std::string_view text, NumberFormat format) {
    unsigned base = 10;
    if (format == NumberFormat::decimal_or_hex && text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        base = 16;
        text.remove_prefix(2);
    } else if (text.size() > 1 && text[0] == '0') {
        return Err::invalid;  // "010": octal to some readers; never written by the toolstack
    }
    if (text.empty()) return Err::invalid;
    auto digit = [base](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (base == 16 && c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (base == 16 && c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    // Junk anywhere is Err::invalid, even when the digits before it would already overflow.
    for (char c : text)
        if (digit(c) < 0) return Err::invalid;
    uint64_t value = 0;
    for (char c : text) {
        uint64_t d = static_cast<uint64_t>(digit(c));
        if (value > (std::numeric_limits<uint64_t>::max() - d) / base) return Err::range;
        value = value * base + d;
    }
    return value;
}

}  // namespace domd
