// The xenstore connection on target: the ring page and event channel Xen gave us, a waiter
// that sleeps in Xen while a request is outstanding, and an event source that delivers watch
// events from the main loop.
#pragma once

#include <cstdint>
#include <optional>

#include "arch/arm64/platform.h"
#include "kernel/event_loop.h"
#include "kernel/mapper.h"
#include "xen/event_channels.h"
#include "xen/hypervisor.h"
#include "xen/xenstore.h"
#include "xen/xenstore_ring.h"

namespace domd {

class XenstoreService final : public xen::XenstoreWaiter, public EventSource {
public:
    XenstoreService(xen::Hypervisor& hv, xen::EventChannels& events, arm64::Arm64Platform& machine)
        : hv_(hv), events_(events), machine_(machine) {}

    // Maps the ring (HVM_PARAM_STORE_PFN) and attaches to its event channel.
    Status connect(Mapper& mapper);
    xen::Xenstore& store() { return *store_; }

    // XenstoreWaiter: sleep in Xen (SCHEDOP_poll on the store port) until xenstored signals or
    // the timeout passes.
    uint64_t now_ns() override { return machine_.now_ns(); }
    Status wait(uint64_t timeout_ns) override;

    // EventSource: run watch callbacks when xenstored signalled or events are queued.
    bool poll() override;
    bool ready() const override;

private:
    void on_event(uint32_t port);

    xen::Hypervisor& hv_;
    xen::EventChannels& events_;
    arm64::Arm64Platform& machine_;
    Mapping page_;
    uint32_t port_ = 0;
    bool kicked_ = false;
    // Built once connected; they refer to each other and live as long as domd.
    std::optional<xen::PortNotifier> notifier_;
    std::optional<xen::XenstoreRing> ring_;
    std::optional<xen::Xenstore> store_;
};

}  // namespace domd
