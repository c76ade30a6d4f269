#include "boot/options.h"

#include "kernel/command_line.h"
#include "kernel/limits.h"
#include "kernel/number.h"

namespace domd {

Options parse_options(std::string_view command_line) {
    Options o;
    auto apply = [&o](std::string_view key, std::string_view value) {
        bool ok = true;
        if (key == "loglevel") {
            ok = logging::parse_level(value, o.log_level);
        } else if (key == "idle") {
            if (value == "block")
                o.idle = IdleMode::block;
            else if (value == "poll")
                o.idle = IdleMode::poll;
            else if (value == "adaptive")
                o.idle = IdleMode::adaptive;
            else
                ok = false;
        } else if (key == "disk") {
            ok = !value.empty() && value.size() < sizeof o.disk_name && value.find('/') == std::string_view::npos;
            if (ok) {
                for (size_t i = 0; i < value.size(); ++i) o.disk_name[i] = value[i];
                o.disk_name[value.size()] = '\0';
            }
        } else if (key == "disk_ro") {
            auto b = parse_bool(value.empty() ? "1" : value);
            ok = b.ok();
            if (ok) o.disk_read_only = b.value();
        } else if (key == "disks") {
            ok = !value.empty();
            if (ok) o.disks = value;  // checked when the module's size is known
        } else if (key == "quiet_us") {
            auto n = parse_unsigned(value);
            ok = n.ok() && n.value() <= 10'000'000;
            if (ok) o.quiet_us = static_cast<uint32_t>(n.value());
        } else if (key == "irq_hold_us") {
            auto n = parse_unsigned(value);
            ok = n.ok() && n.value() <= 10'000;
            if (ok) o.irq_hold_us = static_cast<uint32_t>(n.value());
        } else if (key == "queues") {
            auto n = parse_unsigned(value);
            ok = n.ok() && n.value() <= limits::max_queues_per_disk;
            if (ok) o.queues = static_cast<uint16_t>(n.value());
        } else if (key == "xen_console") {
            auto b = parse_bool(value);
            ok = b.ok();
            if (ok) o.xen_console = b.value();
        } else if (key == "testhooks") {
            auto b = parse_bool(value.empty() ? "1" : value);
            ok = b.ok();
            if (ok) o.test_hooks = b.value();
        } else {
            LOG_WARN("unknown option '%.*s' ignored", static_cast<int>(key.size()), key.data());
            return;
        }
        if (!ok)
            LOG_WARN("bad value '%.*s' for option %.*s ignored", static_cast<int>(value.size()), value.data(),
                     static_cast<int>(key.size()), key.data());
    };
    for_each_option(command_line, Callback<void(std::string_view, std::string_view)>::ref(apply));
    return o;
}

}  // namespace domd
