// The xenstore transport: two byte streams in one shared page (Xen's io/xs_wire.h,
// docs/misc/xenstore-ring.txt). We produce requests into `req` and consume replies and watch
// events from `rsp`; xenstored does the opposite. Indices are free-running 32-bit offsets into
// each stream, masked with XENSTORE_RING_SIZE - 1 on use, and need not start at zero.
//
// The peer is untrusted. Our own indices live in private copies (the page's copies are only
// published, never read back); each read of a peer index is checked, and an index claiming more
// than the ring holds, or a header announcing more than XENSTORE_PAYLOAD_MAX, is a protocol
// error that sticks until reset(): after it the stream has no trustworthy message boundary.
// Payload bytes are copied out of the ring once and only the copy is looked at.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "kernel/notifier.h"
#include "kernel/result.h"
#include "xen/abi.h"

namespace domd::xen {

// One whole message as received: the header and a view of its payload. The view points into
// the ring's reassembly buffer and is valid until the next call to XenstoreRing::receive().
struct XsMessage {
    xsd_sockmsg header;
    std::string_view payload;
};

class XenstoreRing {
public:
    static constexpr uint32_t ring_size = XENSTORE_RING_SIZE;
    static constexpr size_t header_size = sizeof(xsd_sockmsg);
    static constexpr size_t payload_max = XENSTORE_PAYLOAD_MAX;
    static constexpr size_t message_max = header_size + payload_max;

    // Adopts the indices found in the page (see reset()).
    XenstoreRing(xenstore_domain_interface& page, Notifier& peer);

    XenstoreRing(const XenstoreRing&) = delete;
    XenstoreRing& operator=(const XenstoreRing&) = delete;

    // Forgets every partial message in either direction, clears a protocol failure and adopts
    // the indices now in the page as the starting point (after xenstored has reset the ring).
    // Err::protocol if the page's indices are already inconsistent.
    Status reset();

    // True after a protocol error: every operation fails with Err::protocol until reset().
    bool failed() const { return failed_; }

    // Connection state (xenstore-ring.txt): Err::not_connected while the server reports an
    // error in `error` or a reconnection is in progress (only when it advertises the feature).
    Status connection_state() const;
    uint32_t server_features() const;
    // Ring reconnection: sets the connection state to XENSTORE_RECONNECT and notifies;
    // Err::not_supported unless xenstored advertises the feature. Once reconnected() is true,
    // call reset(); until then the guest must look at no other field of the page.
    Status request_reconnect();
    bool reconnected() const;

    // ---- requests (we produce) ----
    // True when no staged request bytes wait to go out.
    bool tx_idle() const { return tx_sent_ == tx_len_; }
    // Bytes of the staged message not yet in the ring.
    size_t tx_pending() const { return tx_len_ - tx_sent_; }
    // Stages one message: the header with `len` set from `parts`, then the parts back to back
    // (callers include the NUL separators they need). Err::busy while a previous message has
    // not been flushed completely; Err::too_big if the payload exceeds XENSTORE_PAYLOAD_MAX.
    Status stage(uint32_t type, uint32_t req_id, uint32_t tx_id, std::span<const std::string_view> parts);
    // Copies as much of the staged message as fits into `req`, publishes it and notifies the
    // peer if anything moved. Returns true once the whole message has gone out.
    Result<bool> flush();
    // Drops the staged message if none of it has gone out yet (a request given up on before it
    // started must not run later); true if it did. A message already partly out must finish.
    bool cancel_unsent();

    // ---- replies and watch events (we consume) ----
    // Consumes available bytes of the current message; returns it once complete, or nullopt
    // while it is still partial (the rest comes later). Notifies the peer after consuming.
    Result<std::optional<XsMessage>> receive();

private:
    Err fail();
    Result<uint32_t> rsp_available();

    xenstore_domain_interface& page_;
    Notifier& peer_;
    bool failed_ = false;

    // Private copies of the indices we own.
    uint32_t req_prod_ = 0;
    uint32_t rsp_cons_ = 0;

    // Staged request.
    size_t tx_len_ = 0;
    size_t tx_sent_ = 0;
    char tx_[message_max];

    // Reply or event being reassembled.
    size_t rx_len_ = 0;         // bytes of the current message received so far
    bool rx_delivered_ = false;  // the message in rx_ was handed out: drop it on the next call
    char rx_[message_max];
};

}  // namespace domd::xen
