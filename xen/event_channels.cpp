#include "xen/event_channels.h"

#include <bit>
#include <cstddef>
#include <utility>

#include "kernel/atomic.h"
#include "kernel/log.h"

namespace domd::xen {

static_assert(EventChannels::max_handlers < 256, "the per-port slot index is a byte");
// The argument structs Xen reads and writes through our pointers (event_channel.h, arm64).
static_assert(sizeof(evtchn_alloc_unbound_t) == 8 && offsetof(evtchn_alloc_unbound_t, port) == 4);
static_assert(sizeof(evtchn_bind_interdomain_t) == 12 && offsetof(evtchn_bind_interdomain_t, local_port) == 8);
static_assert(sizeof(evtchn_bind_virq_t) == 12 && offsetof(evtchn_bind_virq_t, port) == 8);
static_assert(sizeof(evtchn_close_t) == 4 && sizeof(evtchn_send_t) == 4 && sizeof(evtchn_unmask_t) == 4);
static_assert(sizeof(evtchn_status_t) == 24);

namespace {

constexpr size_t word_of(uint32_t port) { return port / SharedInfoView::bits_per_word; }
constexpr xen_ulong_t bit_of(uint32_t port) {
    return xen_ulong_t{1} << (port % SharedInfoView::bits_per_word);
}

}  // namespace

// ---- PortNotifier, EventBinding ----------------------------------------------------------

void PortNotifier::notify() {
    if (!channels_->send(port_).ok()) ++channels_->stats_.send_errors;
}

Status EventBinding::close() {
    if (!valid()) return ok_status();
    BoundPort b = disown();
    return b.channels->close(b.port);
}

void ClosePort::release(BoundPort& b) {
    Status closed = b.channels->close(b.port);
    if (closed.ok()) return;
    ++b.channels->stats_.close_errors;
    LOG_WARN("closing event channel %u failed: %s", b.port, err_name(closed.error()));
}

// ---- EventChannels -------------------------------------------------------------------------

EventChannels::EventChannels(Hypercall& hypercall, SharedInfoView shared) : hc_(hypercall), shared_(shared) {
    for (xen_ulong_t& word : shared_.mask()) store_release(&word, ~xen_ulong_t{0});
}

Result<size_t> EventChannels::reserve_slot() {
    for (size_t i = 0; i < slots_.size(); ++i) {
        if (!slots_[i].used) {
            slots_[i].used = true;
            slots_[i].port = max_ports;  // not installed yet
            return i;
        }
    }
    return Err::no_space;
}

void EventChannels::release_slot(size_t slot) { slots_[slot] = Slot{}; }

void EventChannels::drop_handler(uint32_t port) {
    uint8_t s = slot_of_[port];
    if (!s) return;
    slot_of_[port] = 0;
    release_slot(s - 1u);
}

size_t EventChannels::handlers_in_use() const {
    size_t n = 0;
    for (const Slot& s : slots_) n += s.used;
    return n;
}

Result<EventBinding> EventChannels::finish_bind(size_t slot, long rc, uint32_t port, Handler handler) {
    if (rc < 0) {
        release_slot(slot);
        return err_from_xen(rc);
    }
    // Xen never hands out a port the 2-level ABI cannot signal, but it is not ours to index
    // with: give it back.
    if (port >= max_ports || slot_of_[port] != 0) {
        release_slot(slot);
        evtchn_close_t op{};
        op.port = port;
        (void)hc_.call(__HYPERVISOR_event_channel_op, EVTCHNOP_close, handle(&op));
        return port >= max_ports ? Err::range : Err::exists;
    }
    slots_[slot].handler = handler;
    slots_[slot].port = port;
    slot_of_[port] = static_cast<uint8_t>(slot + 1);
    EventBinding binding(*this, port);
    TRY(unmask(port));
    return binding;
}

Result<EventBinding> EventChannels::bind_interdomain(domid_t remote_dom, uint32_t remote_port, Handler handler) {
    if (!handler) return Err::invalid;
    size_t slot = TRY(reserve_slot());
    evtchn_bind_interdomain_t op{};
    op.remote_dom = remote_dom;
    op.remote_port = remote_port;
    long rc = hc_.call(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_interdomain, handle(&op));
    return finish_bind(slot, rc, op.local_port, handler);
}

Result<EventBinding> EventChannels::alloc_unbound(domid_t remote_dom, Handler handler) {
    if (!handler) return Err::invalid;
    size_t slot = TRY(reserve_slot());
    evtchn_alloc_unbound_t op{};
    op.dom = DOMID_SELF;
    op.remote_dom = remote_dom;
    long rc = hc_.call(__HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound, handle(&op));
    return finish_bind(slot, rc, op.port, handler);
}

Result<EventBinding> EventChannels::bind_virq(uint32_t virq, Handler handler) {
    if (!handler) return Err::invalid;
    size_t slot = TRY(reserve_slot());
    evtchn_bind_virq_t op{};
    op.virq = virq;
    op.vcpu = 0;
    long rc = hc_.call(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_virq, handle(&op));
    return finish_bind(slot, rc, op.port, handler);
}

Status EventChannels::attach(uint32_t port, Handler handler) {
    if (port >= max_ports) return Err::range;
    if (!handler) return Err::invalid;
    if (slot_of_[port] != 0) return Err::exists;
    size_t slot = TRY(reserve_slot());
    slots_[slot].handler = handler;
    slots_[slot].port = port;
    slot_of_[port] = static_cast<uint8_t>(slot + 1);
    Status unmasked = unmask(port);
    if (!unmasked.ok()) drop_handler(port);  // attached means unmasked: all or nothing
    return unmasked;
}

Status EventChannels::detach(uint32_t port) {
    TRY(mask(port));  // checks the port
    drop_handler(port);
    return ok_status();
}

Status EventChannels::close(uint32_t port) {
    if (port >= max_ports) return Err::range;
    (void)mask(port);
    drop_handler(port);
    evtchn_close_t op{};
    op.port = port;
    long rc = hc_.call(__HYPERVISOR_event_channel_op, EVTCHNOP_close, handle(&op));
    (void)clear(port);
    return status_from(rc);
}

Status EventChannels::send(uint32_t port) {
    if (port >= max_ports) return Err::range;
    evtchn_send_t op{};
    op.port = port;
    return status_from(hc_.call(__HYPERVISOR_event_channel_op, EVTCHNOP_send, handle(&op)));
}

Result<evtchn_status_t> EventChannels::status(uint32_t port) {
    if (port >= max_ports) return Err::range;
    evtchn_status_t op{};
    op.dom = DOMID_SELF;
    op.port = port;
    long rc = hc_.call(__HYPERVISOR_event_channel_op, EVTCHNOP_status, handle(&op));
    if (rc < 0) return err_from_xen(rc);
    return op;
}

Status EventChannels::mask(uint32_t port) {
    if (port >= max_ports) return Err::range;
    fetch_or(&shared_.mask()[word_of(port)], bit_of(port));
    return ok_status();
}

Status EventChannels::unmask(uint32_t port) {
    if (port >= max_ports) return Err::range;
    xen_ulong_t* mask = &shared_.mask()[word_of(port)];
    xen_ulong_t* pending = &shared_.pending()[word_of(port)];
    xen_ulong_t bit = bit_of(port);
    if (load_acquire(pending) & bit) {
        // The edge was lost while masked (xen.h, shared_info). EVTCHNOP_unmask clears the mask
        // and, as the port is pending, marks the selector and re-raises the upcall (it only
        // acts if the mask bit is still set: so do not clear it here first).
        evtchn_unmask_t op{};
        op.port = port;
        return status_from(hc_.call(__HYPERVISOR_event_channel_op, EVTCHNOP_unmask, handle(&op)));
    }
    fetch_and(mask, ~bit);
    full_barrier();
    // Xen may have set the pending bit between the check and the clear, seen the mask and left
    // the selector alone: mark it ourselves so work_pending() and the scan see the port.
    if ((load_acquire(pending) & bit) && !(load_acquire(mask) & bit)) {
        fetch_or(shared_.pending_sel(), xen_ulong_t{1} << word_of(port));
        store_release(shared_.upcall_pending(), uint8_t{1});
    }
    return ok_status();
}

Result<bool> EventChannels::is_masked(uint32_t port) const {
    if (port >= max_ports) return Err::range;
    return (load_acquire(&shared_.mask()[word_of(port)]) & bit_of(port)) != 0;
}

Result<bool> EventChannels::is_pending(uint32_t port) const {
    if (port >= max_ports) return Err::range;
    return (load_acquire(&shared_.pending()[word_of(port)]) & bit_of(port)) != 0;
}

Status EventChannels::clear(uint32_t port) {
    if (port >= max_ports) return Err::range;
    fetch_and(&shared_.pending()[word_of(port)], ~bit_of(port));
    return ok_status();
}

Result<bool> EventChannels::test_and_clear(uint32_t port) {
    if (!TRY(is_masked(port))) return Err::invalid;  // checks the port
    xen_ulong_t bit = bit_of(port);
    return (fetch_and(&shared_.pending()[word_of(port)], ~bit) & bit) != 0;
}

bool EventChannels::work_pending() const {
    return held_sel_ != 0 || load_acquire(shared_.upcall_pending()) != 0 ||
           load_acquire(shared_.pending_sel()) != 0;
}

size_t EventChannels::dispatch_pending(size_t budget) {
    constexpr size_t words = SharedInfoView::evtchn_words;
    constexpr size_t bits = SharedInfoView::bits_per_word;
    auto pending = shared_.pending();
    auto mask = shared_.mask();

    // Clear the upcall flag before taking the selector: Xen sets the selector bit first and
    // the flag second (xen.h, vcpu_info), so an event marked after the exchange raises it again.
    auto take_selector = [&] {
        store_release(shared_.upcall_pending(), uint8_t{0});
        return exchange(shared_.pending_sel(), xen_ulong_t{0});
    };
    xen_ulong_t sel = held_sel_ | take_selector();
    held_sel_ = 0;
    size_t served = 0;

    while (served < budget) {
        if (sel == 0) {
            if (load_acquire(shared_.upcall_pending()) == 0) break;
            sel = take_selector();
            if (sel == 0) break;
        }
        // The first selected word at or after the resume point, circularly.
        size_t w = (next_word_ + static_cast<size_t>(std::countr_zero(std::rotr(sel, static_cast<int>(next_word_))))) % words;
        if (w != next_word_) {
            next_word_ = w;
            next_bit_ = 0;
        }
        ++stats_.words_scanned;
        xen_ulong_t live = load_acquire(&pending[w]) & ~load_acquire(&mask[w]);
        xen_ulong_t ahead = live & (~xen_ulong_t{0} << next_bit_);
        if (ahead == 0) {
            if (live == 0) {
                sel &= ~(xen_ulong_t{1} << w);  // nothing left here
            } else {
                // Only ports before the resume point: their turn comes when the scan wraps.
                next_word_ = (w + 1) % words;
                next_bit_ = 0;
            }
            continue;
        }
        size_t b = static_cast<size_t>(std::countr_zero(ahead));
        uint32_t port = static_cast<uint32_t>(w * bits + b);
        fetch_and(&pending[w], ~(xen_ulong_t{1} << b));
        if (b + 1 == bits) {
            next_word_ = (w + 1) % words;
            next_bit_ = 0;
        } else {
            next_bit_ = b + 1;
        }
        ++served;
        uint8_t s = slot_of_[port];
        if (s) {
            Handler handler = slots_[s - 1u].handler;  // a copy: the handler may close its port
            ++stats_.dispatched;
            handler(port);
        } else {
            ++stats_.unhandled;
        }
    }
    held_sel_ = sel;
    return served;
}

}  // namespace domd::xen
