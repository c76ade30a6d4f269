// Strict parsing of unsigned numbers written by someone else (xenstore text, the command line):
// digits only, no sign, no spaces, no leading zeros on a decimal number other than "0" (some
// readers take them for octal), no trailing junk. Junk is Err::invalid, even where the digits
// before it would already overflow; a value beyond 64 bits is Err::range.
#pragma once

#include <cstdint>
#include <string_view>

#include "kernel/result.h"

namespace domd {

enum class NumberFormat : uint8_t {
    decimal,         // "0", "33554432"
    decimal_or_hex,  // also "0x2000000" / "0X2000000"
};

Result<uint64_t> parse_unsigned(std::string_view text, NumberFormat format = NumberFormat::decimal);

}  // namespace domd
