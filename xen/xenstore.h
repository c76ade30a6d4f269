// domd's xenstore client: the request/reply protocol of Xen's docs/misc/xenstore.txt over a
// XenstoreRing, with watches and transactions. Fixed capacities, no heap; replies land in
// caller-supplied buffers. Everything xenstored sends is untrusted text: replies are matched to
// their request by req_id and type (anything else is a late reply of an abandoned request, and
// is dropped), watch events are queued with a fixed capacity and delivered from the main loop
// by dispatch_watch_events(), never from inside a request.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <type_traits>

#include "kernel/callback.h"
#include "kernel/number.h"
#include "kernel/result.h"
#include "xen/xenstore_ring.h"

namespace domd::xen {

// "Block until the xenstore event channel fires or the timeout passes." On target the event
// loop implements it; host tests let a fake xenstored run when waited on.
class XenstoreWaiter {
public:
    // Monotonic nanoseconds: request deadlines are measured with it.
    virtual uint64_t now_ns() = 0;
    // Returns early when the event channel fired (spurious returns are fine), Err::timed_out
    // when the timeout passed. The client re-checks the ring and its deadline either way.
    // Whatever runs meanwhile must not issue xenstore requests: they fail with Err::busy.
    virtual Status wait(uint64_t timeout_ns) = 0;

protected:
    ~XenstoreWaiter() = default;
};

// A transaction id; id 0 means "not in a transaction".
struct XsTx {
    uint32_t id = 0;
    friend bool operator==(XsTx, XsTx) = default;
};
inline constexpr XsTx no_tx{};

// One entry of a node's permission list (xenstore.txt "permissions"): the first entry names
// the owner (who has full access) and the access of every domain not listed later.
struct XsPerm {
    enum Access : uint8_t { none, read, write, both };  // 'n', 'r', 'w', 'b' on the wire
    Access access = none;
    uint16_t domid = 0;
    friend bool operator==(const XsPerm&, const XsPerm&) = default;
};

// Longest permission string: access letter and a 5-digit domid ("b65535").
inline constexpr size_t xs_perm_text_max = 6;

// Parses "n0", "r5", "b32752": one access letter, then a decimal domid <= 65535 without sign,
// spaces or leading zeros. Err::invalid otherwise.
Result<XsPerm> parse_xs_perm(std::string_view text);
// Formats a permission into `out` (no NUL); returns its length. Err::overflow if it does not fit.
Result<size_t> format_xs_perm(XsPerm perm, std::span<char> out);

// Numbers in xenstore text are parsed strictly (kernel/number.h).
using XsNumber = NumberFormat;

// Maps xenstored's error strings ("ENOENT", "EAGAIN", ... see xsd_errors in io/xs_wire.h, plus
// oxenstored's "EQUOTA") to Err. Unknown strings are a protocol error (Err::protocol).
Err xs_error_from_string(std::string_view text);

// The reply to XS_DIRECTORY: child names, each NUL-terminated, validated when received (no
// empty names, no '/'). A view over the caller's buffer.
class XsDirectory {
public:
    class iterator {
    public:
        using value_type = std::string_view;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        std::string_view operator*() const { return {rest_.data(), name_length()}; }
        iterator& operator++() {
            size_t length = name_length();
            rest_.remove_prefix(length < rest_.size() ? length + 1 : length);
            return *this;
        }
        iterator operator++(int) {
            iterator old = *this;
            ++*this;
            return old;
        }
        friend bool operator==(const iterator& a, const iterator& b) {
            return a.rest_.size() == b.rest_.size();
        }

    private:
        friend class XsDirectory;
        explicit iterator(std::string_view rest) : rest_(rest) {}
        size_t name_length() const {
            size_t end = rest_.find('\0');
            return end == std::string_view::npos ? rest_.size() : end;
        }
        std::string_view rest_;
    };

    XsDirectory() = default;
    // Validates `data` (the raw reply payload); Err::protocol if it is malformed.
    static Result<XsDirectory> parse(std::string_view data);

    iterator begin() const { return iterator(data_); }
    iterator end() const { return iterator(std::string_view(data_.data() + data_.size(), 0)); }
    bool empty() const { return data_.empty(); }
    size_t size() const { return count_; }
    template <typename F>
    void for_each(F&& f) const {
        for (std::string_view name : *this) f(name);
    }

private:
    XsDirectory(std::string_view data, size_t count) : data_(data), count_(count) {}
    std::string_view data_;
    size_t count_ = 0;
};

class Xenstore {
public:
    using WatchCallback = Callback<void(std::string_view path, std::string_view token)>;

    static constexpr size_t max_watches = 16;
    static constexpr size_t max_watch_path = 256;  // longer watched paths: Err::name_too_long
    static constexpr size_t max_token = 40;         // longer tokens: Err::name_too_long
    static constexpr size_t event_queue_capacity = 32;
    static constexpr size_t max_event_path = 256;  // a longer event path counts as a missed event
    static constexpr uint64_t default_timeout_ns = 5'000'000'000;
    static constexpr int default_transaction_attempts = 8;
    static constexpr size_t max_set_perms = 64;
    // Messages handled per look at the ring before the deadline is checked again, so that a
    // peer that keeps producing cannot keep a request (or the main loop) busy forever.
    static constexpr int max_messages_per_pump = 256;

    struct Stats {
        uint64_t requests = 0;
        uint64_t timeouts = 0;
        uint64_t discarded_replies = 0;  // late or mismatched replies dropped
        uint64_t events_queued = 0;
        uint64_t events_dropped = 0;    // queue full or path too long: the watch was flagged
        uint64_t events_unknown = 0;    // no watch with that token
        uint64_t events_malformed = 0;  // payload not "path\0token\0"
    };

    Xenstore(XenstoreRing& ring, XenstoreWaiter& waiter) : ring_(ring), waiter_(waiter) {}
    Xenstore(const Xenstore&) = delete;
    Xenstore& operator=(const Xenstore&) = delete;

    // Deadline for each request (from the moment it is issued until its reply).
    void set_timeout(uint64_t timeout_ns) { timeout_ns_ = timeout_ns; }
    // After a protocol error every request fails with Err::protocol until reconnect().
    bool failed() const { return ring_.failed(); }
    const Stats& stats() const { return stats_; }

    // ---- nodes ----
    // The value at `path` copied into `out`; returns the part of `out` that holds it (no NUL is
    // added). A value larger than `out` is Err::overflow (the reply is consumed anyway).
    Result<std::string_view> read(std::string_view path, std::span<char> out, XsTx tx = no_tx);
    Result<uint64_t> read_unsigned(std::string_view path, XsNumber format = XsNumber::decimal, XsTx tx = no_tx);
    Status write(std::string_view path, std::string_view value, XsTx tx = no_tx);
    Status mkdir(std::string_view path, XsTx tx = no_tx);
    Status rm(std::string_view path, XsTx tx = no_tx);
    // Children of `path`, stored in `out`. Err::overflow if the list does not fit.
    Result<XsDirectory> directory(std::string_view path, std::span<char> out, XsTx tx = no_tx);
    // Permissions of `path` into `out`; returns how many. Err::overflow if `out` is too short.
    Result<size_t> get_perms(std::string_view path, std::span<XsPerm> out, XsTx tx = no_tx);
    // `perms` must hold at least the owner entry and at most max_set_perms (Err::too_big).
    Status set_perms(std::string_view path, std::span<const XsPerm> perms, XsTx tx = no_tx);

    // ---- transactions ----
    Result<XsTx> transaction_start();
    // Err::again when xenstored refused the commit because of a conflict: run it again.
    Status transaction_end(XsTx tx, bool commit);
    // Runs `body(tx)` in a transaction and commits it; when the commit (or the body) fails with
    // Err::again the whole transaction runs again, at most `max_attempts` times in all (then
    // Err::again). Any other body error aborts the transaction and is returned.
    Status transaction(Callback<Status(XsTx)> body, int max_attempts = default_transaction_attempts);
    template <typename F>
        requires(!std::is_same_v<std::remove_cvref_t<F>, Callback<Status(XsTx)>>)
    Status transaction(F&& body, int max_attempts = default_transaction_attempts) {
        auto& callable = body;
        return transaction(Callback<Status(XsTx)>::ref(callable), max_attempts);
    }

    // ---- watches ----
    // Watches `path` (and everything below it) under `token`, which must be unique among our
    // watches (Err::exists otherwise). xenstored fires one event right away. The callback
    // runs from dispatch_watch_events() with the changed path; it may issue requests and
    // unwatch (itself included). When events for a watch had to be dropped it is called once
    // more with the watched path itself, meaning "re-read everything".
    Status watch(std::string_view path, std::string_view token, WatchCallback callback);
    // Forgets the watch locally even if xenstored fails the request; queued events for it are
    // dropped. Err::not_found if we have no watch with that token.
    Status unwatch(std::string_view token);
    // Reads whatever xenstored sent since the last look (without waiting), then runs the
    // callbacks of the events queued so far and of watches that missed events. Events that
    // callbacks cause are left for the next call. Returns the number of callbacks run, or the
    // ring's error (after running the callbacks of what was already queued).
    Result<size_t> dispatch_watch_events();
    size_t queued_watch_events() const { return queue_count_; }

    // Ring reconnection (xenstore-ring.txt): asks xenstored to reset the ring, waits for it, and
    // registers our watches again (their callbacks then run once, as after missed events).
    // Err::not_supported if xenstored does not offer the feature.
    Status reconnect(uint64_t timeout_ns = default_timeout_ns);

private:
    using ReplyHandler = Callback<Status(std::string_view payload)>;

    struct Watch {
        enum State : uint8_t { free, pending, active };
        State state = free;
        bool missed = false;
        uint16_t path_len = 0;
        uint16_t token_len = 0;
        uint32_t generation = 0;  // bumped when the slot is freed: stale queued events die
        WatchCallback callback;
        char path[max_watch_path];
        char token[max_token];
        std::string_view path_view() const { return {path, path_len}; }
        std::string_view token_view() const { return {token, token_len}; }
    };

    struct Event {
        uint16_t slot;
        uint16_t path_len;
        uint32_t generation;
        char path[max_event_path];
    };

    // Sends one request and waits for its reply; `on_reply` sees the payload of a successful
    // reply (valid only during the call). XS_ERROR replies become their Err.
    Status request(uint32_t type, XsTx tx, std::span<const std::string_view> parts, ReplyHandler on_reply);
    Status request_ok(uint32_t type, XsTx tx, std::span<const std::string_view> parts);
    // A request whose reply payload is copied into `out` (Err::overflow if it does not fit).
    Result<std::string_view> request_into(uint32_t type, XsTx tx, std::span<const std::string_view> parts,
                                          std::span<char> out);
    // Reads every complete message now in the ring (bounded); events are queued, replies that
    // are not `expected_` are dropped. Sets `reply_` when the awaited reply arrives.
    Result<bool> pump();
    void handle_message(const XsMessage& message);
    void queue_event(std::string_view payload);
    Watch* find_watch(std::string_view token);
    void release(Watch& watch);
    Status send_watch(const Watch& watch);

    XenstoreRing& ring_;
    XenstoreWaiter& waiter_;
    uint64_t timeout_ns_ = default_timeout_ns;
    uint32_t next_req_id_ = 1;
    Stats stats_;

    // The request in flight.
    bool awaiting_ = false;
    uint32_t expected_req_id_ = 0;
    uint32_t expected_type_ = 0;
    bool replied_ = false;
    Status reply_status_;
    ReplyHandler on_reply_;

    bool dispatching_ = false;
    Watch watches_[max_watches];
    Event queue_[event_queue_capacity];
    size_t queue_head_ = 0;
    size_t queue_count_ = 0;
};

}  // namespace domd::xen
