#include "boot/xenstore_service.h"

#include "kernel/log.h"
#include "xen/abi.h"

namespace domd {

Status XenstoreService::connect(Mapper& mapper, TimerQueue& timers, const Clock& clock) {
    uint64_t pfn = TRY(hv_.hvm_get_param(HVM_PARAM_STORE_PFN));
    uint64_t port = TRY(hv_.hvm_get_param(HVM_PARAM_STORE_EVTCHN));
    if (pfn == 0 || port >= xen::EventChannels::max_ports) return Err::not_found;
    page_ = TRY(Mapping::create(mapper, Gfn{pfn}.address(), page_size, MapAttrs::read_write()));
    port_ = static_cast<uint32_t>(port);
    notifier_.emplace(events_, port_);
    ring_.emplace(*page_.as<xenstore_domain_interface>(), *notifier_);
    store_.emplace(*ring_, timers, clock);
    TRY(events_.attach(port_, xen::EventChannels::Handler::to<&XenstoreService::on_event>(this)));
    return ok_status();
}

void XenstoreService::on_event(uint32_t) { kicked_ = true; }

bool XenstoreService::poll() {
    if (!store_ || (!kicked_ && !store_->ready())) return false;
    kicked_ = false;
    return store_->poll();
}

bool XenstoreService::ready() const { return store_ && (kicked_ || store_->ready()); }

}  // namespace domd
