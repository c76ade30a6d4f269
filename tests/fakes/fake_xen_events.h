// A fake Xen for 2-level event channels. It answers EVTCHNOP_* through a FakeHypercall and
// marks ports pending in a shared_info page exactly as Xen's evtchn_2l_set_pending does: set
// the pending bit; only on a 0->1 change of an unmasked port, set the word's selector bit and
// then upcall_pending. EVTCHNOP_unmask follows evtchn_2l_unmask (acts only if the mask bit was
// set). It reaches the page through xen::SharedInfoView, whose offsets come from the C layout.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "tests/fakes/fake_hypercall.h"
#include "xen/abi.h"
#include "xen/shared_info.h"

namespace domd::test {

class FakeXenEvents {
public:
    struct Port {
        unsigned kind = EVTCHNSTAT_closed;  // EVTCHNSTAT_*
        domid_t remote_dom = 0;
        uint32_t remote_port = 0;
        uint32_t virq = 0;
    };

    // Installs the __HYPERVISOR_event_channel_op handler on `hc`.
    FakeXenEvents(FakeHypercall& hc, void* shared_info_page);

    // Xen's side of a notification on one of our ports.
    void raise(uint32_t port);

    bool pending(uint32_t port) const;
    bool masked(uint32_t port) const;
    uint8_t upcall_pending() const;
    xen_ulong_t selector() const;

    // The port the next bind hands out (default: lowest free from 1, as Xen does).
    void force_next_port(uint32_t port) { forced_port_ = port; has_forced_ = true; }
    // The next EVTCHNOP `op` fails with `rc` (a negative errno).
    void fail_next(unsigned op, long rc) { failures_[op] = rc; }

    std::map<uint32_t, Port> ports;
    std::vector<uint32_t> sends;
    std::vector<uint32_t> closes;
    std::vector<uint32_t> unmask_calls;
    // Called on each send after it is recorded (a test plays the peer: it may raise ports).
    std::function<void(uint32_t port)> on_send;

private:
    long handle(const HypercallRecord& r);
    uint32_t allocate_port();

    FakeHypercall& hc_;
    xen::SharedInfoView view_;
    std::map<unsigned, long> failures_;
    uint32_t forced_port_ = 0;
    bool has_forced_ = false;
};

}  // namespace domd::test
