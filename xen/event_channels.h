// Event channels, 2-level ABI (xen/include/public/event_channel.h, xen.h's shared_info
// comments): binding, per-port handlers, masking and the pending scan.
//
// Delivery, as Xen does it for an unmasked port: set its pending bit; on a 0->1 change set the
// word's bit in vcpu0's pending_sel, then upcall_pending, and raise the upcall PPI. A masked
// port only gets its pending bit. dispatch_pending() consumes that state fairly and in time
// proportional to the number of pending ports, not of ports.
//
// Single vCPU, single thread: handlers run from dispatch_pending() and must not call it again.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "kernel/callback.h"
#include "kernel/limits.h"
#include "kernel/notifier.h"
#include "kernel/owned.h"
#include "kernel/result.h"
#include "xen/abi.h"
#include "xen/hypercall.h"
#include "xen/shared_info.h"

namespace domd::xen {

class EventChannels;

// A Notifier that sends on one port (EVTCHNOP_send): what protocol code holds.
class PortNotifier final : public Notifier {
public:
    PortNotifier(EventChannels& channels, uint32_t port) : channels_(&channels), port_(port) {}
    void notify() override;
    uint32_t port() const { return port_; }

private:
    EventChannels* channels_;
    uint32_t port_;
};

// What an EventBinding holds, and how it lets go: close the port (and drop its handler).
struct BoundPort {
    EventChannels* channels = nullptr;
    uint32_t port = 0;
};
struct ClosePort {
    static void release(BoundPort& b);
};

// Owns a port we bound: closing it (and dropping its handler) when destroyed.
class EventBinding : public Owned<BoundPort, ClosePort> {
public:
    EventBinding() = default;

    uint32_t port() const { return resource().port; }
    // Only for a valid() binding; the notifier must not outlive the port.
    PortNotifier notifier() const { return PortNotifier(*resource().channels, resource().port); }

    // Closes now; the handle is empty afterwards whatever Xen answered.
    Status close();

private:
    friend class EventChannels;
    EventBinding(EventChannels& channels, uint32_t port) : Owned(BoundPort{&channels, port}) {}
};

class EventChannels {
public:
    using Handler = Callback<void(uint32_t port)>;

    // The 2-level ABI's limit (event_channel.h, EVTCHN_2L_NR_CHANNELS): 4096 on arm64.
    static constexpr uint32_t max_ports = SharedInfoView::max_ports;
    // Ports with a handler at the same time (kernel/limits.h). The per-port index is one byte.
    static constexpr size_t max_handlers = limits::max_event_handlers;

    struct Stats {
        uint64_t dispatched = 0;     // handler calls
        uint64_t unhandled = 0;      // events on ports without a handler: cleared and dropped
        uint64_t words_scanned = 0;  // pending words read by dispatch_pending
        uint64_t send_errors = 0;    // failed PortNotifier sends
        uint64_t close_errors = 0;   // EVTCHNOP_close refused when a binding let go
    };

    // Masks every port: only ports given a handler (bind_*, attach) are unmasked.
    EventChannels(Hypercall& hypercall, SharedInfoView shared);
    EventChannels(const EventChannels&) = delete;
    EventChannels& operator=(const EventChannels&) = delete;

    // Each binds a new port, installs `handler` for it and unmasks it. A port beyond
    // max_ports is closed again and refused (Err::range). No free handler slot: Err::no_space,
    // checked before Xen is asked.
    Result<EventBinding> bind_interdomain(domid_t remote_dom, uint32_t remote_port, Handler handler);
    Result<EventBinding> alloc_unbound(domid_t remote_dom, Handler handler);
    Result<EventBinding> bind_virq(uint32_t virq, Handler handler);  // on vcpu 0

    // Ports that someone else bound for us (the console and xenstore ports from HVM params):
    // attach installs a handler and unmasks; detach masks and drops the handler, the port stays.
    Status attach(uint32_t port, Handler handler);
    Status detach(uint32_t port);
    // Masks, drops the handler, EVTCHNOP_close, then clears a stale pending bit so a later
    // binding that reuses the number does not inherit it.
    Status close(uint32_t port);

    Status send(uint32_t port);
    // EVTCHNOP_status of one of our ports.
    Result<evtchn_status_t> status(uint32_t port);

    Status mask(uint32_t port);
    Status unmask(uint32_t port);
    Result<bool> is_masked(uint32_t port) const;
    Result<bool> is_pending(uint32_t port) const;
    Status clear(uint32_t port);
    // Polled mode: consumes the pending bit of a masked port (Err::invalid if unmasked, where
    // dispatch_pending owns the bit).
    Result<bool> test_and_clear(uint32_t port);

    // Serves at most `budget` pending, unmasked ports (handled or not); returns how many.
    // Round robin: the scan resumes after the last port served, across words and bits, so a
    // port that fires all the time cannot starve the others. Selector bits left when the
    // budget runs out are kept for the next call. Each pending bit is cleared before its
    // handler runs: an event raised meanwhile marks the port again.
    size_t dispatch_pending(size_t budget);
    // True if dispatch_pending has something to do (spurious true is possible, a missed
    // pending unmasked port is not): for the decision to block.
    bool work_pending() const;

    const Stats& stats() const { return stats_; }
    size_t handlers_in_use() const;
    bool has_handler(uint32_t port) const { return port < max_ports && slot_of_[port] != 0; }

private:
    friend class PortNotifier;
    friend struct ClosePort;

    struct Slot {
        Handler handler;
        uint32_t port = 0;
        bool used = false;
    };

    Result<size_t> reserve_slot();
    void release_slot(size_t slot);
    void drop_handler(uint32_t port);
    Result<EventBinding> finish_bind(size_t slot, long rc, uint32_t port, Handler handler);
    Status close_port(uint32_t port);

    Hypercall& hc_;
    SharedInfoView shared_;
    std::array<uint8_t, max_ports> slot_of_{};  // 0: no handler, else slot index + 1
    std::array<Slot, max_handlers> slots_{};
    xen_ulong_t held_sel_ = 0;  // selector bits not yet served when a budget ran out
    size_t next_word_ = 0;      // the scan resumes here: just after the last port served
    size_t next_bit_ = 0;
    Stats stats_{};
};

}  // namespace domd::xen
