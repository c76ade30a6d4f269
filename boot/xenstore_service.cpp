#include "boot/xenstore_service.h"

#include "kernel/log.h"
#include "xen/abi.h"

namespace domd {

Status XenstoreService::connect(Mapper& mapper) {
    uint64_t pfn = TRY(hv_.hvm_get_param(HVM_PARAM_STORE_PFN));
    uint64_t port = TRY(hv_.hvm_get_param(HVM_PARAM_STORE_EVTCHN));
    if (pfn == 0 || port >= xen::EventChannels::max_ports) return Err::not_found;
    page_ = TRY(Mapping::create(mapper, Gfn{pfn}.address(), page_size, MapAttrs::read_write()));
    port_ = static_cast<uint32_t>(port);
    notifier_.emplace(events_, port_);
    ring_.emplace(*page_.as<xenstore_domain_interface>(), *notifier_);
    store_.emplace(*ring_, *this);
    TRY(events_.attach(port_, xen::EventChannels::Handler::to<&XenstoreService::on_event>(this)));
    return ok_status();
}

Status XenstoreService::wait(uint64_t timeout_ns) {
    // An event that is already pending may be what the request waits for: consume it and let
    // the client look at the ring again. Otherwise sleep until xenstored signals, or our own
    // timer ends the wait. The main loop still learns that xenstored spoke (kicked_).
    if (events_.is_pending(port_).value_or(false)) {
        (void)events_.clear(port_);
        kicked_ = true;
        return ok_status();
    }
    uint64_t deadline = machine_.now_ns() + timeout_ns;
    machine_.arm_wakeup(deadline);
    const uint32_t ports[] = {port_};
    (void)hv_.poll(ports);
    machine_.disarm_wakeup();
    if (events_.is_pending(port_).value_or(false)) {
        (void)events_.clear(port_);
        kicked_ = true;
    }
    return machine_.now_ns() >= deadline ? Status(Err::timed_out) : ok_status();
}

void XenstoreService::on_event(uint32_t) { kicked_ = true; }

bool XenstoreService::poll() {
    if (!store_ || (!kicked_ && store_->queued_watch_events() == 0)) return false;
    kicked_ = false;
    auto ran = store_->dispatch_watch_events();
    if (!ran.ok()) {
        LOG_ERROR("xenstore connection failed: %s", err_name(ran.error()));
        return false;
    }
    return true;
}

bool XenstoreService::ready() const { return store_ && (kicked_ || store_->queued_watch_events() > 0); }

}  // namespace domd
