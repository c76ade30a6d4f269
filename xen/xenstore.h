// domd's xenstore client: the request/reply protocol of Xen's docs/misc/xenstore.txt over a
// XenstoreRing, with watches and transactions. It never waits: requests are queued and sent as
// the ring allows, replies complete them from the main loop (poll()), deadlines come from the
// loop's timer queue. A slow or hostile xenstored therefore delays only the conversations that
// wait for it, never another guest's IO.
//
// Callers either pass a completion callback (submit()) or, in a coroutine (kernel/task.h),
// `co_await` one of the typed operations (read, write, directory, ...). Fixed capacities, no
// heap; replies land in caller-supplied buffers. Everything xenstored sends is untrusted text:
// replies are matched to their request by req_id and type (anything else is a late reply of an
// abandoned request, and is dropped), watch events are queued with a fixed capacity and
// delivered from poll(). After a protocol error the client reconnects the ring
// (xenstore-ring.txt), resets its watches on xenstored's side (XS_RESET_WATCHES) and registers
// them again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <type_traits>

#include "kernel/callback.h"
#include "kernel/clock.h"
#include "kernel/limits.h"
#include "kernel/number.h"
#include "kernel/result.h"
#include "kernel/task.h"
#include "kernel/timer_queue.h"
#include "xen/xenstore_ring.h"

namespace domd::xen {

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

class Xenstore;

// The part of an awaited operation the client talks to: filled from the reply (inside poll())
// and resumes the awaiting coroutine. Typed operations (XsOp<T>) derive from it.
class XsAwaitable {
public:
    XsAwaitable(const XsAwaitable&) = delete;
    XsAwaitable& operator=(const XsAwaitable&) = delete;

    bool await_ready() const noexcept { return done_; }
    void await_suspend(std::coroutine_handle<> waiter) noexcept { waiter_ = waiter; }

protected:
    // Parses a successful reply's payload into the operation's result (valid only during the
    // call); a failure becomes the operation's error.
    using Parse = Status (*)(XsAwaitable& self, std::string_view payload);

    XsAwaitable(Xenstore& store, uint32_t type, XsTx tx, std::span<const std::string_view> parts, Parse parse);
    // An operation refused before it reached xenstored (a malformed path, say).
    explicit XsAwaitable(Err refused) : status_(refused), store_(nullptr), parse_(nullptr), done_(true) {}
    // Destroyed before its reply (its coroutine was cancelled): the reply is dropped.
    ~XsAwaitable();

    Status status_;

private:
    void on_reply(Status status, std::string_view payload);

    Xenstore* store_;
    Parse parse_;
    uint32_t request_ = 0;  // the client's handle while the request is outstanding
    bool done_ = false;
    std::coroutine_handle<> waiter_;
};

// `co_await` yields Result<T> (Status for T = void).
template <typename T>
class [[nodiscard]] XsOp final : public XsAwaitable {
public:
    using Parser = Status (*)(XsOp& self, std::string_view payload);

    XsOp(Xenstore& store, uint32_t type, XsTx tx, std::span<const std::string_view> parts, Parser parser,
         std::span<char> out = {}, std::span<XsPerm> perms_out = {}, XsNumber format = XsNumber::decimal)
        : XsAwaitable(store, type, tx, parts, &XsOp::dispatch),
          out(out),
          perms_out(perms_out),
          number_format(format),
          parser_(parser) {}
    explicit XsOp(Err refused) : XsAwaitable(refused), parser_(nullptr) {}
    Result<T> await_resume() {
        if (!status_.ok()) return status_.error();
        return value;
    }

    // Where the parser puts the result, and what it needs (public for the parsers).
    T value{};
    std::span<char> out;
    std::span<XsPerm> perms_out;
    XsNumber number_format = XsNumber::decimal;

private:
    static Status dispatch(XsAwaitable& self, std::string_view payload) {
        auto& op = static_cast<XsOp&>(self);
        return op.parser_(op, payload);
    }
    Parser parser_;
};

template <>
class [[nodiscard]] XsOp<void> final : public XsAwaitable {
public:
    XsOp(Xenstore& store, uint32_t type, XsTx tx, std::span<const std::string_view> parts)
        : XsAwaitable(store, type, tx, parts, &XsOp::ignore) {}
    explicit XsOp(Err refused) : XsAwaitable(refused) {}
    Status await_resume() { return status_; }

private:
    static Status ignore(XsAwaitable&, std::string_view) { return ok_status(); }
};

class Xenstore {
public:
    using WatchCallback = Callback<void(std::string_view path, std::string_view token)>;
    // A request's outcome; `payload` (a successful reply's) is valid only during the call.
    using Completion = Callback<void(Status status, std::string_view payload)>;

    // Requests queued or awaiting their reply at once (kernel/limits.h says why).
    static constexpr size_t max_requests = limits::max_xenstore_requests;
    // The payload of a request we send: xenstored's own limit (XENSTORE_PAYLOAD_MAX).
    static constexpr size_t max_request_payload = XENSTORE_PAYLOAD_MAX;
    static constexpr size_t max_watches = limits::max_xenstore_watches;
    static constexpr size_t max_watch_path = 256;  // longer watched paths: Err::name_too_long
    static constexpr size_t max_token = 40;         // longer tokens: Err::name_too_long
    static constexpr size_t event_queue_capacity = limits::max_xenstore_queued_events;
    static constexpr size_t max_event_path = 256;  // a longer event path counts as a missed event
    static constexpr uint64_t default_timeout_ns = 5'000'000'000;
    static constexpr uint64_t reconnect_timeout_ns = 5'000'000'000;
    static constexpr int default_transaction_attempts = 8;
    static constexpr size_t max_set_perms = 64;
    // Messages handled per poll(), so that a peer that keeps producing cannot keep the main
    // loop busy forever.
    static constexpr int max_messages_per_poll = 256;

    struct Stats {
        uint64_t requests = 0;
        uint64_t timeouts = 0;
        uint64_t discarded_replies = 0;  // late or mismatched replies dropped
        uint64_t cancelled = 0;          // requests whose reply nobody wanted any more
        uint64_t events_queued = 0;
        uint64_t events_dropped = 0;    // queue full or path too long: the watch was flagged
        uint64_t events_unknown = 0;    // no watch with that token
        uint64_t events_malformed = 0;  // payload not "path\0token\0"
        uint64_t reconnects = 0;        // ring reconnections after a protocol error
        uint64_t watch_failures = 0;    // XS_WATCH requests xenstored refused
    };

    Xenstore(XenstoreRing& ring, TimerQueue& timers, const Clock& clock);
    Xenstore(const Xenstore&) = delete;
    Xenstore& operator=(const Xenstore&) = delete;
    ~Xenstore();

    // Deadline for each request (from the moment it is submitted until its reply).
    void set_timeout(uint64_t timeout_ns) { timeout_ns_ = timeout_ns; }
    // True while the ring is broken and not (yet) reconnected: requests fail with Err::protocol.
    bool failed() const { return ring_.failed() || state_ != State::connected; }
    const Stats& stats() const { return stats_; }
    size_t outstanding() const { return used_slots_; }

    // ---- the main loop's side ----
    // Does whatever is ready: sends queued requests as far as the ring allows, completes
    // requests whose replies arrived, queues and then delivers watch events, reconnects a
    // broken ring. Completions and watch callbacks run from here. True if anything happened.
    bool poll();
    // True if poll() has work without new input from xenstored (events queued, requests
    // waiting for ring space, a reconnection in progress).
    bool ready() const;

    // ---- requests ----
    // Queues one request; `done` runs exactly once from poll() (or from a timer: Err::timed_out)
    // unless cancel() is called first. Returns a handle for cancel(). Err::no_space when
    // max_requests are outstanding, Err::too_big for a payload over max_request_payload.
    Result<uint32_t> submit(uint32_t type, XsTx tx, std::span<const std::string_view> parts, Completion done);
    // The completion of `request` will not run. A request already sent still reaches xenstored.
    void cancel(uint32_t request);

    // Typed operations for coroutines: `co_await store.read(path, buffer)`. The request is
    // queued when the operation is created, so await it right away; arguments need only live
    // until then.
    // The value at `path` copied into `out`; the result is the part of `out` that holds it (no
    // NUL is added). A value larger than `out` is Err::overflow.
    XsOp<std::string_view> read(std::string_view path, std::span<char> out, XsTx tx = no_tx);
    // A strictly parsed number (kernel/number.h); a value too long to be one is Err::range.
    XsOp<uint64_t> read_unsigned(std::string_view path, XsNumber format = XsNumber::decimal, XsTx tx = no_tx);
    XsOp<void> write(std::string_view path, std::string_view value, XsTx tx = no_tx);
    XsOp<void> mkdir(std::string_view path, XsTx tx = no_tx);
    XsOp<void> rm(std::string_view path, XsTx tx = no_tx);
    // Children of `path`, stored in `out`. Err::overflow if the list does not fit.
    XsOp<XsDirectory> directory(std::string_view path, std::span<char> out, XsTx tx = no_tx);
    // Permissions of `path` into `out`; the result is how many. Err::overflow if too short.
    XsOp<size_t> get_perms(std::string_view path, std::span<XsPerm> out, XsTx tx = no_tx);
    // `perms` must hold at least the owner entry and at most max_set_perms (Err::too_big).
    XsOp<void> set_perms(std::string_view path, std::span<const XsPerm> perms, XsTx tx = no_tx);
    XsOp<XsTx> transaction_start();
    // Err::again when xenstored refused the commit because of a conflict: run it again.
    XsOp<void> transaction_end(XsTx tx, bool commit);
    // Runs `body(tx)` in a transaction and commits it; when the commit (or the body) fails
    // with Err::again the whole transaction runs again, at most `max_attempts` times in all
    // (then Err::again). Any other body error aborts the transaction and is returned.
    using TransactionBody = Callback<Task<Status>(XsTx)>;
    Task<Status> transaction(TransactionBody body, int max_attempts = default_transaction_attempts);

    // A write whose outcome nobody waits for (status nodes, counters); failures are counted.
    void write_detached(std::string_view path, std::string_view value);
    uint64_t detached_failures() const { return detached_failures_; }

    // ---- watches ----
    // Watches `path` (and everything below it) under `token`, which must be unique among our
    // watches (Err::exists otherwise); the XS_WATCH request is queued. xenstored fires one
    // event right away. The callback runs from poll() with the changed path; it may submit
    // requests and unwatch (itself included). When events for a watch had to be dropped, or the
    // connection was re-established, it is called once more with the watched path itself,
    // meaning "re-read everything".
    Status watch(std::string_view path, std::string_view token, WatchCallback callback);
    // Forgets the watch locally (its queued events are dropped) and queues XS_UNWATCH.
    // Err::not_found if we have no watch with that token.
    Status unwatch(std::string_view token);
    size_t queued_watch_events() const { return queue_count_; }

private:
    template <typename T>
    friend class XsOp;
    friend class XsAwaitable;

    enum class State : uint8_t { connected, reconnecting, broken };

    struct Request {
        enum Phase : uint8_t { free, queued, sent };
        Phase phase = free;
        bool wanted = true;  // false once cancelled: the reply is dropped
        uint16_t generation = 0;
        uint32_t type = 0;
        uint32_t req_id = 0;
        uint32_t tx = 0;
        uint64_t deadline = 0;
        Completion done;
        uint16_t payload_len = 0;
        char payload[max_request_payload];
    };

    struct Watch {
        enum State : uint8_t { free, active };
        State state = free;
        bool missed = false;
        Xenstore* owner = nullptr;
        uint32_t request = 0;  // the XS_WATCH request awaiting its reply, 0 if none
        bool unsent = false;   // no request slot was free: poll() sends it when one is
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

    static uint32_t handle_of(size_t slot, uint16_t generation) { return (uint32_t{generation} << 16) | uint32_t(slot); }
    Request* request_of(uint32_t handle);
    // Ends a request: frees its slot, then runs its completion if still wanted.
    void complete(Request& request, Status status, std::string_view payload);
    Result<uint32_t> submit_detached(uint32_t type, std::span<const std::string_view> parts);
    void on_detached_reply(Status status, std::string_view payload);
    static void on_watch_reply(void* watch, Status status, std::string_view payload);

    bool send_queued();
    Result<bool> receive();
    void handle_message(const XsMessage& message);
    void queue_event(std::string_view payload);
    size_t deliver_events();
    Watch* find_watch(std::string_view token);
    void release(Watch& watch);
    Status send_watch(Watch& watch);
    bool send_unsent_watches();
    void arm_deadline();
    void on_deadline();
    void fail_all(Err error);
    bool drive_reconnection();
    void request_reconnection();
    Task<Status> run_transaction(TransactionBody body, int max_attempts);

    XenstoreRing& ring_;
    TimerQueue& timers_;
    const Clock& clock_;
    Timer deadline_timer_;
    uint64_t timeout_ns_ = default_timeout_ns;
    uint32_t next_req_id_ = 1;
    Stats stats_;
    State state_ = State::connected;
    uint64_t reconnect_deadline_ = 0;
    uint64_t detached_failures_ = 0;

    Request requests_[max_requests];
    size_t used_slots_ = 0;
    uint16_t send_order_[max_requests];  // queued requests, oldest first
    static constexpr uint16_t no_slot = 0xffff;
    uint16_t staged_ = no_slot;  // the request in the ring's staging buffer (maybe part sent)
    size_t send_head_ = 0;
    size_t send_count_ = 0;

    bool delivering_ = false;
    Watch watches_[max_watches];
    Event queue_[event_queue_capacity];
    size_t queue_head_ = 0;
    size_t queue_count_ = 0;
};

}  // namespace domd::xen
