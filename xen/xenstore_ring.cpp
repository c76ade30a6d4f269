#include "xen/xenstore_ring.h"

#include <cstring>

#include "kernel/atomic.h"

namespace domd::xen {
namespace {

static_assert((XENSTORE_RING_SIZE & (XENSTORE_RING_SIZE - 1)) == 0, "indices are masked");
static_assert(sizeof(xenstore_domain_interface::req) == XENSTORE_RING_SIZE);
static_assert(sizeof(xenstore_domain_interface::rsp) == XENSTORE_RING_SIZE);

constexpr uint32_t mask(uint32_t index) { return index & (XENSTORE_RING_SIZE - 1); }

template <typename T>
constexpr T smaller(T a, T b) { return a < b ? a : b; }

}  // namespace

XenstoreRing::XenstoreRing(xenstore_domain_interface& page, Notifier& peer) : page_(page), peer_(peer) {
    (void)reset();  // an inconsistent page is reported by the first operation
}

Err XenstoreRing::fail() {
    failed_ = true;
    return Err::protocol;
}

Status XenstoreRing::reset() {
    failed_ = false;
    tx_len_ = tx_sent_ = 0;
    rx_len_ = 0;
    rx_delivered_ = false;
    // "Guests must not assume that producer or consumer pointers start at zero."
    req_prod_ = load_acquire(&page_.req_prod);
    rsp_cons_ = load_acquire(&page_.rsp_cons);
    uint32_t req_cons = load_acquire(&page_.req_cons);
    uint32_t rsp_prod = load_acquire(&page_.rsp_prod);
    if (req_prod_ - req_cons > ring_size || rsp_prod - rsp_cons_ > ring_size) return fail();
    return ok_status();
}

uint32_t XenstoreRing::server_features() const { return load_acquire(&page_.server_features); }

Status XenstoreRing::connection_state() const {
    uint32_t features = server_features();
    if ((features & XENSTORE_SERVER_FEATURE_ERROR) && load_acquire(&page_.error) != XENSTORE_ERROR_NONE)
        return Err::not_connected;
    if ((features & XENSTORE_SERVER_FEATURE_RECONNECTION) && load_acquire(&page_.connection) != XENSTORE_CONNECTED)
        return Err::not_connected;
    return ok_status();
}

Status XenstoreRing::request_reconnect() {
    if (!(server_features() & XENSTORE_SERVER_FEATURE_RECONNECTION)) return Err::not_supported;
    store_release(&page_.connection, uint32_t{XENSTORE_RECONNECT});
    peer_.notify();
    return ok_status();
}

bool XenstoreRing::reconnected() const { return load_acquire(&page_.connection) == XENSTORE_CONNECTED; }

Status XenstoreRing::stage(uint32_t type, uint32_t req_id, uint32_t tx_id, std::span<const std::string_view> parts) {
    if (failed_) return Err::protocol;
    if (!tx_idle()) return Err::busy;
    size_t len = 0;
    for (auto part : parts) {
        if (part.size() > payload_max - len) return Err::too_big;
        len += part.size();
    }
    xsd_sockmsg header{type, req_id, tx_id, static_cast<uint32_t>(len)};
    memcpy(tx_, &header, header_size);
    size_t at = header_size;
    for (auto part : parts) {
        if (!part.empty()) memcpy(tx_ + at, part.data(), part.size());
        at += part.size();
    }
    tx_len_ = at;
    tx_sent_ = 0;
    return ok_status();
}

Result<bool> XenstoreRing::flush() {
    if (failed_) return Err::protocol;
    if (tx_idle()) return true;
    TRY(connection_state());
    // Read the peer's consumer index once; acquire: its reads of the bytes it consumed are done
    // before we overwrite them.
    uint32_t cons = load_acquire(&page_.req_cons);
    uint32_t used = req_prod_ - cons;
    if (used > ring_size) return fail();
    uint32_t count = static_cast<uint32_t>(smaller<size_t>(ring_size - used, tx_len_ - tx_sent_));
    if (count == 0) return false;
    for (uint32_t i = 0; i < count; ++i) page_.req[mask(req_prod_ + i)] = tx_[tx_sent_ + i];
    req_prod_ += count;
    tx_sent_ += count;
    // Release: the bytes are visible before the index that publishes them.
    store_release(&page_.req_prod, req_prod_);
    peer_.notify();
    return tx_idle();
}

bool XenstoreRing::cancel_unsent() {
    if (tx_idle() || tx_sent_ != 0) return false;
    tx_len_ = 0;
    return true;
}

Result<uint32_t> XenstoreRing::rsp_available() {
    // Acquire: the peer's bytes are read only after the index that published them.
    uint32_t prod = load_acquire(&page_.rsp_prod);
    uint32_t available = prod - rsp_cons_;
    if (available > ring_size) return fail();
    return available;
}

Result<std::optional<XsMessage>> XenstoreRing::receive() {
    if (failed_) return Err::protocol;
    if (rx_delivered_) {
        rx_len_ = 0;
        rx_delivered_ = false;
    }
    TRY(connection_state());
    uint32_t available = TRY(rsp_available());
    uint32_t consumed = 0;
    auto take = [&](size_t wanted) {
        uint32_t count = static_cast<uint32_t>(smaller<size_t>(wanted, available - consumed));
        for (uint32_t i = 0; i < count; ++i) rx_[rx_len_ + i] = page_.rsp[mask(rsp_cons_ + consumed + i)];
        rx_len_ += count;
        consumed += count;
    };
    if (rx_len_ < header_size) take(header_size - rx_len_);

    std::optional<XsMessage> message;
    bool broken = false;
    if (rx_len_ >= header_size) {
        xsd_sockmsg header;
        memcpy(&header, rx_, header_size);  // our copy: the peer cannot change it under us
        if (header.len > payload_max) {
            broken = true;
        } else {
            size_t total = header_size + header.len;
            if (rx_len_ < total) take(total - rx_len_);
            if (rx_len_ == total) {
                message = XsMessage{header, std::string_view(rx_ + header_size, header.len)};
                rx_delivered_ = true;
            }
        }
    }
    if (consumed != 0) {
        rsp_cons_ += consumed;
        // Release: our reads of the bytes are complete before the peer may reuse the space.
        store_release(&page_.rsp_cons, rsp_cons_);
        peer_.notify();
    }
    if (broken) return fail();
    return message;
}

}  // namespace domd::xen
