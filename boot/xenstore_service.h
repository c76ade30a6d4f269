// The xenstore connection on target: the ring page and event channel Xen gave us, and an event
// source that lets the client do its work from the main loop (send, complete, deliver watch
// events) whenever xenstored signalled or the client has work of its own.
#pragma once

#include <cstdint>
#include <optional>

#include "kernel/clock.h"
#include "kernel/event_loop.h"
#include "kernel/mapper.h"
#include "kernel/timer_queue.h"
#include "xen/event_channels.h"
#include "xen/hypervisor.h"
#include "xen/xenstore.h"
#include "xen/xenstore_ring.h"

namespace domd {

class XenstoreService final : public EventSource {
public:
    XenstoreService(xen::Hypervisor& hv, xen::EventChannels& events) : hv_(hv), events_(events) {}

    // Maps the ring (HVM_PARAM_STORE_PFN) and attaches to its event channel.
    Status connect(Mapper& mapper, TimerQueue& timers, const Clock& clock);
    xen::Xenstore& store() { return *store_; }

    bool poll() override;
    bool ready() const override;

private:
    void on_event(uint32_t port);

    xen::Hypervisor& hv_;
    xen::EventChannels& events_;
    Mapping page_;
    uint32_t port_ = 0;
    bool kicked_ = false;
    // Built once connected; they refer to each other and live as long as domd.
    std::optional<xen::PortNotifier> notifier_;
    std::optional<xen::XenstoreRing> ring_;
    std::optional<xen::Xenstore> store_;
};

}  // namespace domd
