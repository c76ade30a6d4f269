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

Task<Status> GuestControl::start() {
    Status written = co_await store_.write("control/feature-poweroff", "1");
    if (written.ok()) written = co_await store_.write("control/feature-reboot", "1");
    if (!written.ok()) co_return written;
    co_return store_.watch(shutdown_node, watch_token, Xenstore::WatchCallback::to<&GuestControl::on_shutdown_node>(this));
}

void GuestControl::on_shutdown_node(std::string_view, std::string_view) {
    if (job_.running()) {
        look_again_ = true;
        return;
    }
    job_.start(take_request(), Callback<void(Status)>::to<&GuestControl::on_taken>(this));
}

Task<Status> GuestControl::take_in(XsTx tx) {
    auto read = co_await store_.read(shutdown_node, value_, tx);
    if (!read.ok()) co_return read.error();
    taken_ = read.value();
    if (taken_.empty()) co_return ok_status();
    co_return co_await store_.write(shutdown_node, "", tx);
}

Task<Status> GuestControl::take_request() {
    taken_ = {};
    co_return co_await store_.transaction(Xenstore::TransactionBody::to<&GuestControl::take_in>(this));
}

void GuestControl::on_taken(Status status) {
    act_on(status);
    if (look_again_) {
        look_again_ = false;
        job_.start(take_request(), Callback<void(Status)>::to<&GuestControl::on_taken>(this));
    }
}

void GuestControl::act_on(Status status) {
    if (!status.ok()) {
        if (status.error() != Err::not_found) LOG_WARN("control/shutdown unreadable: %s", err_name(status.error()));
        return;
    }
    std::string_view text = taken_;
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
