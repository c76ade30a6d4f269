// domd's command line (the DT's /chosen/bootargs, from xl's `extra=`): space-separated
// `key=value` or bare `key` words. Values are checked strictly; anything malformed is reported
// to the caller, which keeps its default.
#pragma once

#include <cstdint>
#include <string_view>

#include "kernel/callback.h"
#include "kernel/result.h"

namespace domd {

// Calls visit(key, value) for each word; a bare word has an empty value. Returns the number of
// words seen.
int for_each_option(std::string_view line, Callback<void(std::string_view key, std::string_view value)> visit);

// "0"/"1", "no"/"yes", "off"/"on", "false"/"true".
Result<bool> parse_bool(std::string_view text);

}  // namespace domd
