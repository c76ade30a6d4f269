#include "tests/test_support.h"

#include "tests/fakes/fake_xen_events.h"

namespace domd::test {

namespace {
constexpr size_t bits = xen::SharedInfoView::bits_per_word;
xen_ulong_t bit_of(uint32_t port) { return xen_ulong_t{1} << (port % bits); }
}  // namespace

FakeXenEvents::FakeXenEvents(FakeHypercall& hc, void* shared_info_page) : hc_(hc), view_(shared_info_page) {
    hc_.on(__HYPERVISOR_event_channel_op, [this](const HypercallRecord& r) { return handle(r); });
}

void FakeXenEvents::raise(uint32_t port) {
    xen_ulong_t bit = bit_of(port);
    xen_ulong_t& word = view_.pending()[port / bits];
    if (word & bit) return;  // already pending: no new edge
    word |= bit;
    if (view_.mask()[port / bits] & bit) return;
    xen_ulong_t sel_bit = xen_ulong_t{1} << (port / bits);
    if (*view_.pending_sel() & sel_bit) return;
    *view_.pending_sel() |= sel_bit;
    *view_.upcall_pending() = 1;
}

bool FakeXenEvents::pending(uint32_t port) const { return view_.pending()[port / bits] & bit_of(port); }
bool FakeXenEvents::masked(uint32_t port) const { return view_.mask()[port / bits] & bit_of(port); }
uint8_t FakeXenEvents::upcall_pending() const { return *view_.upcall_pending(); }
xen_ulong_t FakeXenEvents::selector() const { return *view_.pending_sel(); }

uint32_t FakeXenEvents::allocate_port() {
    if (has_forced_) {
        has_forced_ = false;
        return forced_port_;
    }
    uint32_t port = 1;  // Xen never hands out port 0
    while (ports.count(port) && ports[port].kind != EVTCHNSTAT_closed) ++port;
    return port;
}

long FakeXenEvents::handle(const HypercallRecord& r) {
    unsigned op = static_cast<unsigned>(r.args[0]);
    auto failure = failures_.find(op);
    if (failure != failures_.end()) {
        long rc = failure->second;
        failures_.erase(failure);
        return rc;
    }
    switch (op) {
        case EVTCHNOP_bind_interdomain: {
            auto* a = FakeHypercall::arg<evtchn_bind_interdomain_t>(r, 1);
            a->local_port = allocate_port();
            ports[a->local_port] = {EVTCHNSTAT_interdomain, a->remote_dom, a->remote_port, 0};
            return 0;
        }
        case EVTCHNOP_alloc_unbound: {
            auto* a = FakeHypercall::arg<evtchn_alloc_unbound_t>(r, 1);
            if (a->dom != DOMID_SELF) return -XEN_EPERM;
            a->port = allocate_port();
            ports[a->port] = {EVTCHNSTAT_unbound, a->remote_dom, 0, 0};
            return 0;
        }
        case EVTCHNOP_bind_virq: {
            auto* a = FakeHypercall::arg<evtchn_bind_virq_t>(r, 1);
            if (a->vcpu != 0) return -XEN_ENOENT;
            a->port = allocate_port();
            ports[a->port] = {EVTCHNSTAT_virq, 0, 0, a->virq};
            return 0;
        }
        case EVTCHNOP_close: {
            auto* a = FakeHypercall::arg<evtchn_close_t>(r, 1);
            closes.push_back(a->port);
            auto it = ports.find(a->port);
            if (it == ports.end() || it->second.kind == EVTCHNSTAT_closed) return -XEN_EINVAL;
            ports.erase(it);
            return 0;
        }
        case EVTCHNOP_send: {
            auto* a = FakeHypercall::arg<evtchn_send_t>(r, 1);
            if (!ports.count(a->port)) return -XEN_EINVAL;
            sends.push_back(a->port);
            if (on_send) on_send(a->port);
            return 0;
        }
        case EVTCHNOP_unmask: {
            auto* a = FakeHypercall::arg<evtchn_unmask_t>(r, 1);
            unmask_calls.push_back(a->port);
            if (a->port >= xen::SharedInfoView::max_ports) return -XEN_EINVAL;
            // evtchn_2l_unmask: these in strict order, and only if the mask bit was set.
            xen_ulong_t bit = bit_of(a->port);
            xen_ulong_t& mask = view_.mask()[a->port / bits];
            if (!(mask & bit)) return 0;
            mask &= ~bit;
            if (!(view_.pending()[a->port / bits] & bit)) return 0;
            xen_ulong_t sel_bit = xen_ulong_t{1} << (a->port / bits);
            if (*view_.pending_sel() & sel_bit) return 0;
            *view_.pending_sel() |= sel_bit;
            *view_.upcall_pending() = 1;
            return 0;
        }
        case EVTCHNOP_status: {
            auto* a = FakeHypercall::arg<evtchn_status_t>(r, 1);
            if (a->dom != DOMID_SELF) return -XEN_EPERM;
            auto it = ports.find(a->port);
            a->vcpu = 0;
            if (it == ports.end()) {
                a->status = EVTCHNSTAT_closed;
                return 0;
            }
            a->status = it->second.kind;
            if (it->second.kind == EVTCHNSTAT_interdomain) {
                a->u.interdomain.dom = it->second.remote_dom;
                a->u.interdomain.port = it->second.remote_port;
            } else if (it->second.kind == EVTCHNSTAT_unbound) {
                a->u.unbound.dom = it->second.remote_dom;
            } else if (it->second.kind == EVTCHNSTAT_virq) {
                a->u.virq = it->second.virq;
            }
            return 0;
        }
        default:
            return -XEN_ENOSYS;
    }
}

}  // namespace domd::test
