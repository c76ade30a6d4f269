// domd's options from its command line (xl `extra=`); tools/domd.cfg documents each one.
#pragma once

#include <string_view>

#include "kernel/event_loop.h"
#include "kernel/log.h"

namespace domd {

struct Options {
    LogLevel log_level = LogLevel::info;
    IdleMode idle = IdleMode::block;
    bool xen_console = false;
    bool test_hooks = false;
};

// Unknown keys and bad values are logged and otherwise ignored (the default stays).
Options parse_options(std::string_view command_line);

}  // namespace domd
