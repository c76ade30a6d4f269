#include "xen/guest_control.h"

#include "kernel/log.h"

namespace domd::xen {
namespace {

constexpr std::string_view shutdown_node = "control/shutdown";
constexpr std::string_view watch_token = "domd-control";

}  // namespace

const char* control_request_name(ControlRequest request) {
    switch (request) {
        case ControlRequest::poweroff: return "poweroff";
        case ControlRequest::reboot: return "reboot";
        case ControlRequest::suspend: return "suspend";
        case ControlRequest::crash: return "crash";
    }
    return "?";
}

Status GuestControl::start() {
    TRY(store_.write("control/feature-poweroff", "1"));
    TRY(store_.write("control/feature-reboot", "1"));
    return store_.watch(shutdown_node, watch_token,
                        Xenstore::WatchCallback::to<&GuestControl::on_shutdown_node>(this));
}

Result<std::string_view> GuestControl::take_request(std::span<char> buffer) {
    std::string_view value;
    TRY(store_.transaction([&](XsTx tx) -> Status {
        auto read = store_.read(shutdown_node, buffer, tx);
        if (!read.ok()) return read.error();
        value = read.value();
        if (value.empty()) return ok_status();
        return store_.write(shutdown_node, "", tx);
    }));
    return value;
}

void GuestControl::on_shutdown_node(std::string_view, std::string_view) {
    char buffer[32];
    auto request = take_request(buffer);
    if (!request.ok()) {
        if (request.error() != Err::not_found)
            LOG_WARN("control/shutdown unreadable: %s", err_name(request.error()));
        return;
    }
    std::string_view text = request.value();
    if (text.empty()) return;  // our own acknowledgement, or the watch's first event
    if (text == "poweroff" || text == "halt")
        on_request_(ControlRequest::poweroff);
    else if (text == "reboot")
        on_request_(ControlRequest::reboot);
    else if (text == "suspend")
        on_request_(ControlRequest::suspend);
    else if (text == "crash")
        on_request_(ControlRequest::crash);
    else {
        ++unknown_;
        LOG_WARN("unknown control/shutdown request '%.*s' ignored", static_cast<int>(text.size()), text.data());
    }
}

}  // namespace domd::xen
