// The toolstack's control protocol for a PV-aware guest (libxl; Linux's
// drivers/xen/manage.c is the other side of the same contract): the guest advertises what it
// supports under control/feature-*, and `xl shutdown` / `xl reboot` write the request into
// control/shutdown. The guest acknowledges by clearing the node, then acts.
#pragma once

#include <string_view>

#include "kernel/callback.h"
#include "kernel/result.h"
#include "kernel/task.h"
#include "xen/xenstore.h"

namespace domd::xen {

enum class ControlRequest : uint8_t { poweroff, reboot, suspend, crash };

const char* control_request_name(ControlRequest request);

class GuestControl {
public:
    using Handler = Callback<void(ControlRequest)>;

    GuestControl(Xenstore& store, Handler on_request) : store_(store), on_request_(on_request) {}

    // Advertises poweroff and reboot (not suspend: domd cannot be saved or migrated) and
    // watches control/shutdown.
    Task<Status> start();

    uint64_t unknown_requests() const { return unknown_; }

private:
    void on_shutdown_node(std::string_view path, std::string_view token);
    void on_taken(Status status);
    void act_on(Status status);
    // Reads and clears control/shutdown in one transaction, so a request is taken exactly once.
    Task<Status> take_request();
    Task<Status> take_in(XsTx tx);

    Xenstore& store_;
    Handler on_request_;
    Job job_;
    bool look_again_ = false;  // the node changed while a look was in progress
    char value_[32];
    std::string_view taken_;
    uint64_t unknown_ = 0;
};

}  // namespace domd::xen
