#include "xen/xenstore.h"

#include "kernel/log.h"
#include "kernel/number.h"

#include <cstring>

namespace domd::xen {
namespace {

constexpr std::string_view nul{"\0", 1};

// Error replies carry "EINVAL\0": drop the terminator if present.
std::string_view strip_nul(std::string_view text) {
    if (!text.empty() && text.back() == '\0') text.remove_suffix(1);
    return text;
}

// The text before the first NUL (all of it if there is none). No substr(): it can throw.
std::string_view until_nul(std::string_view text) {
    size_t end = text.find('\0');
    return end == std::string_view::npos ? text : std::string_view(text.data(), end);
}

// What follows the first NUL (nothing if there is none).
std::string_view after_nul(std::string_view text) {
    size_t end = text.find('\0');
    if (end == std::string_view::npos) return {};
    text.remove_prefix(end + 1);
    return text;
}

Status check_path(std::string_view path) {
    if (path.empty()) return Err::invalid;
    size_t max = path.front() == '/' ? XENSTORE_ABS_PATH_MAX : XENSTORE_REL_PATH_MAX;
    if (path.size() > max) return Err::name_too_long;
    if (path.find('\0') != std::string_view::npos) return Err::invalid;
    return ok_status();
}

}  // namespace

// ---- text ---------------------------------------------------------------------------------

Result<XsPerm> parse_xs_perm(std::string_view text) {
    if (text.size() < 2 || text.size() > xs_perm_text_max) return Err::invalid;
    XsPerm perm;
    switch (text[0]) {
        case 'n': perm.access = XsPerm::none; break;
        case 'r': perm.access = XsPerm::read; break;
        case 'w': perm.access = XsPerm::write; break;
        case 'b': perm.access = XsPerm::both; break;
        default: return Err::invalid;
    }
    text.remove_prefix(1);
    auto domid = parse_unsigned(text);
    if (!domid || domid.value() > std::numeric_limits<uint16_t>::max()) return Err::invalid;
    perm.domid = static_cast<uint16_t>(domid.value());
    return perm;
}

Result<size_t> format_xs_perm(XsPerm perm, std::span<char> out) {
    static constexpr char letters[] = {'n', 'r', 'w', 'b'};
    if (perm.access > XsPerm::both) return Err::invalid;
    char digits[5];
    size_t count = 0;
    unsigned domid = perm.domid;
    do {
        digits[count++] = static_cast<char>('0' + domid % 10);
        domid /= 10;
    } while (domid != 0);
    if (out.size() < count + 1) return Err::overflow;
    out[0] = letters[perm.access];
    for (size_t i = 0; i < count; ++i) out[1 + i] = digits[count - 1 - i];
    return count + 1;
}

Err xs_error_from_string(std::string_view text) {
    struct Entry {
        std::string_view name;
        Err err;
    };
    // xsd_errors in io/xs_wire.h, plus oxenstored's EQUOTA. Err has no EISDIR or EISCONN: they
    // map to the nearest meaning (an operation invalid for a directory; already connected).
    static constexpr Entry table[] = {
        {"EINVAL", Err::invalid},      {"EACCES", Err::access},     {"EEXIST", Err::exists},
        {"EISDIR", Err::invalid},      {"ENOENT", Err::not_found},  {"ENOMEM", Err::no_memory},
        {"ENOSPC", Err::no_space},     {"EIO", Err::io},            {"ENOTEMPTY", Err::not_empty},
        {"ENOSYS", Err::not_implemented}, {"EROFS", Err::read_only}, {"EBUSY", Err::busy},
        {"EAGAIN", Err::again},        {"EISCONN", Err::exists},    {"E2BIG", Err::too_big},
        {"EPERM", Err::permission},    {"EQUOTA", Err::quota},
    };
    for (const auto& entry : table)
        if (entry.name == text) return entry.err;
    return Err::protocol;
}

Result<XsDirectory> XsDirectory::parse(std::string_view data) {
    // An empty directory is an empty payload; tolerate a lone terminator as well.
    if (data.empty() || data == nul) return XsDirectory(std::string_view(data.data(), 0), 0);
    if (data.back() != '\0') return Err::protocol;
    size_t count = 0;
    for (std::string_view rest = data; !rest.empty(); rest = after_nul(rest)) {
        std::string_view name = until_nul(rest);
        if (name.empty() || name.find('/') != std::string_view::npos) return Err::protocol;
        ++count;
    }
    return XsDirectory(data, count);
}

// ---- awaited operations -------------------------------------------------------------------

XsAwaitable::XsAwaitable(Xenstore& store, uint32_t type, XsTx tx, std::span<const std::string_view> parts,
                         Parse parse)
    : store_(&store), parse_(parse) {
    auto request = store.submit(type, tx, parts, Xenstore::Completion::to<&XsAwaitable::on_reply>(this));
    if (request.ok()) {
        request_ = request.value();
    } else {
        status_ = request.error();
        done_ = true;
    }
}

XsAwaitable::~XsAwaitable() {
    if (!done_) store_->cancel(request_);
}

void XsAwaitable::on_reply(Status status, std::string_view payload) {
    status_ = status.ok() ? parse_(*this, payload) : status;
    done_ = true;
    if (waiter_) waiter_.resume();  // the coroutine may end, and destroy us, in here
}

namespace {

// Parsers of successful replies, one per operation.
Status copy_value(XsOp<std::string_view>& op, std::string_view payload) {
    if (payload.size() > op.out.size()) return Err::overflow;
    if (!payload.empty()) memcpy(op.out.data(), payload.data(), payload.size());
    op.value = std::string_view(op.out.data(), payload.size());
    return ok_status();
}

Status parse_number(XsOp<uint64_t>& op, std::string_view payload) {
    // Longer than any valid number without absurd leading zeros: not a number we take.
    if (payload.size() > 64) return Err::range;
    auto value = parse_unsigned(payload, op.number_format);
    if (!value.ok()) return value.error();
    op.value = value.value();
    return ok_status();
}

Status parse_directory(XsOp<XsDirectory>& op, std::string_view payload) {
    if (payload.size() > op.out.size()) return Err::overflow;
    if (!payload.empty()) memcpy(op.out.data(), payload.data(), payload.size());
    // Validated on our copy, so iteration needs no checks.
    auto listing = XsDirectory::parse(std::string_view(op.out.data(), payload.size()));
    if (!listing.ok()) return listing.error();
    op.value = listing.value();
    return ok_status();
}

Status parse_perms(XsOp<size_t>& op, std::string_view payload) {
    if (payload.empty() || payload.back() != '\0') return Err::protocol;
    size_t count = 0;
    for (; !payload.empty(); payload = after_nul(payload)) {
        auto perm = parse_xs_perm(until_nul(payload));
        if (!perm) return Err::protocol;
        if (count == op.perms_out.size()) return Err::overflow;
        op.perms_out[count++] = perm.value();
    }
    op.value = count;
    return ok_status();
}

Status parse_transaction_id(XsOp<XsTx>& op, std::string_view payload) {
    auto value = parse_unsigned(strip_nul(payload));
    if (!value || value.value() == 0 || value.value() > std::numeric_limits<uint32_t>::max()) return Err::protocol;
    op.value = XsTx{static_cast<uint32_t>(value.value())};
    return ok_status();
}

}  // namespace

// ---- requests -----------------------------------------------------------------------------

Xenstore::Xenstore(XenstoreRing& ring, TimerQueue& timers, const Clock& clock)
    : ring_(ring), timers_(timers), clock_(clock) {
    deadline_timer_.set_callback(Callback<void()>::to<&Xenstore::on_deadline>(this));
    for (auto& watch : watches_) watch.owner = this;
}

Xenstore::~Xenstore() { timers_.cancel(deadline_timer_); }

Xenstore::Request* Xenstore::request_of(uint32_t handle) {
    size_t slot = handle & 0xffff;
    if (slot >= max_requests) return nullptr;
    Request& r = requests_[slot];
    if (r.phase == Request::free || r.generation != (handle >> 16)) return nullptr;
    return &r;
}

Result<uint32_t> Xenstore::submit(uint32_t type, XsTx tx, std::span<const std::string_view> parts, Completion done) {
    if (failed()) return Err::protocol;
    TRY(ring_.connection_state());
    size_t len = 0;
    for (auto part : parts) {
        if (part.size() > max_request_payload - len) return Err::too_big;
        len += part.size();
    }
    size_t slot = max_requests;
    for (size_t i = 0; i < max_requests; ++i) {
        if (requests_[i].phase == Request::free) {
            slot = i;
            break;
        }
    }
    if (slot == max_requests) return Err::no_space;
    Request& r = requests_[slot];
    r.phase = Request::queued;
    r.wanted = true;
    if (++r.generation == 0) r.generation = 1;  // handle 0 never names a request
    r.type = type;
    r.req_id = next_req_id_++;
    r.tx = tx.id;
    r.done = done;
    uint64_t now = clock_.now_ns();
    r.deadline = now + timeout_ns_ < now ? std::numeric_limits<uint64_t>::max() : now + timeout_ns_;
    r.payload_len = static_cast<uint16_t>(len);
    size_t at = 0;
    for (auto part : parts) {
        if (!part.empty()) memcpy(r.payload + at, part.data(), part.size());
        at += part.size();
    }
    send_order_[(send_head_ + send_count_) % max_requests] = static_cast<uint16_t>(slot);
    ++send_count_;
    ++used_slots_;
    ++stats_.requests;
    if (!deadline_timer_.armed() || deadline_timer_.deadline() > r.deadline) timers_.arm(deadline_timer_, r.deadline);
    return handle_of(slot, r.generation);
}

void Xenstore::cancel(uint32_t handle) {
    if (Request* r = request_of(handle)) {
        r->wanted = false;
        r->done = {};
        ++stats_.cancelled;
    }
}

void Xenstore::complete(Request& r, Status status, std::string_view payload) {
    Completion done = r.wanted ? r.done : Completion{};
    r.phase = Request::free;
    r.done = {};
    --used_slots_;
    if (done) done(status, payload);  // may submit or cancel anything
}

Result<uint32_t> Xenstore::submit_detached(uint32_t type, std::span<const std::string_view> parts) {
    return submit(type, no_tx, parts, Completion::to<&Xenstore::on_detached_reply>(this));
}

void Xenstore::on_detached_reply(Status status, std::string_view) {
    if (!status.ok()) ++detached_failures_;
}

void Xenstore::write_detached(std::string_view path, std::string_view value) {
    if (!check_path(path).ok()) {
        ++detached_failures_;
        return;
    }
    const std::string_view parts[] = {path, nul, value};
    if (!submit_detached(XS_WRITE, parts).ok()) ++detached_failures_;
}

// ---- the loop's side ----------------------------------------------------------------------

bool Xenstore::send_queued() {
    bool moved = false;
    while (!ring_.failed()) {
        if (ring_.tx_idle()) {
            staged_ = no_slot;
            // Requests given up on (timed out) while queued are gone from the order already.
            if (send_count_ == 0) break;
            uint16_t slot = send_order_[send_head_];
            Request& r = requests_[slot];
            send_head_ = (send_head_ + 1) % max_requests;
            --send_count_;
            const std::string_view parts[] = {std::string_view(r.payload, r.payload_len)};
            if (!ring_.stage(r.type, r.req_id, r.tx, parts).ok()) break;
            r.phase = Request::sent;
            staged_ = slot;
        }
        size_t pending = ring_.tx_pending();
        auto flushed = ring_.flush();
        if (!flushed.ok()) break;
        moved |= ring_.tx_pending() != pending;
        if (!flushed.value()) break;  // the ring is full: xenstored signals when it has read
    }
    return moved;
}

Result<bool> Xenstore::receive() {
    bool any = false;
    for (int i = 0; i < max_messages_per_poll; ++i) {
        auto message = TRY(ring_.receive());
        if (!message) break;
        any = true;
        handle_message(*message);
    }
    return any;
}

void Xenstore::handle_message(const XsMessage& message) {
    const xsd_sockmsg& header = message.header;
    if (header.type == XS_WATCH_EVENT) {
        queue_event(message.payload);
        return;
    }
    for (Request& r : requests_) {
        if (r.phase != Request::sent || r.req_id != header.req_id) continue;
        if (header.type != r.type && header.type != XS_ERROR) break;  // a reply to someone else
        if (header.type == XS_ERROR)
            complete(r, xs_error_from_string(strip_nul(message.payload)), {});
        else
            complete(r, ok_status(), message.payload);
        return;
    }
    ++stats_.discarded_replies;
}

bool Xenstore::poll() {
    bool did = false;
    // A broken stream (our verdict) or a server that reports a broken connection (its own).
    if (state_ == State::connected && (ring_.failed() || !ring_.connection_state().ok())) did |= drive_reconnection();
    if (state_ == State::reconnecting) did |= drive_reconnection();
    if (state_ != State::connected) return did;
    did |= send_unsent_watches();
    did |= send_queued();
    auto received = receive();
    did |= received.ok() && received.value();
    did |= send_queued();  // completions may have queued more
    // Events queued before a break in the stream are still delivered.
    did |= deliver_events() > 0;
    if (ring_.failed()) did |= drive_reconnection();
    return did;
}

bool Xenstore::ready() const {
    if (queue_count_ > 0) return true;
    if (state_ != State::connected) return false;  // xenstored signals when the ring is back
    if (ring_.failed() || (send_count_ > 0 && ring_.tx_idle())) return true;
    for (const auto& watch : watches_) {
        if (watch.state != Watch::active) continue;
        if (watch.missed || (watch.unsent && used_slots_ < max_requests)) return true;
    }
    return false;
}

// ---- deadlines ----------------------------------------------------------------------------

void Xenstore::arm_deadline() {
    uint64_t earliest = std::numeric_limits<uint64_t>::max();
    for (const Request& r : requests_)
        if (r.phase != Request::free && r.deadline < earliest) earliest = r.deadline;
    if (earliest == std::numeric_limits<uint64_t>::max())
        timers_.cancel(deadline_timer_);
    else
        timers_.arm(deadline_timer_, earliest);
}

void Xenstore::on_deadline() {
    if (state_ == State::reconnecting) {
        request_reconnection();
        return;
    }
    uint64_t now = clock_.now_ns();
    for (size_t slot = 0; slot < max_requests; ++slot) {
        Request& r = requests_[slot];
        if (r.phase == Request::free || r.deadline > now) continue;
        if (r.phase == Request::sent && slot == staged_ && ring_.cancel_unsent()) {
            staged_ = no_slot;  // staged but not a byte out yet: it must not run later
        } else if (r.phase == Request::queued) {
            // Never sent: take it out of the send order so it never goes out.
            size_t kept = 0;
            for (size_t i = 0; i < send_count_; ++i) {
                uint16_t s = send_order_[(send_head_ + i) % max_requests];
                if (s != slot) send_order_[(send_head_ + kept++) % max_requests] = s;
            }
            send_count_ = kept;
        }
        // A sent request's reply, should it come, no longer matches anything.
        ++stats_.timeouts;
        complete(r, Err::timed_out, {});
    }
    arm_deadline();
}

// ---- connection failure and reconnection --------------------------------------------------

void Xenstore::fail_all(Err error) {
    send_count_ = 0;
    staged_ = no_slot;
    for (Request& r : requests_)
        if (r.phase != Request::free) complete(r, error, {});
}

bool Xenstore::drive_reconnection() {
    if (state_ == State::connected) {
        // The stream has no trustworthy message boundary any more: everything in flight is
        // lost, and the ring must be reset with xenstored's help (xenstore-ring.txt).
        LOG_WARN("xenstore: the connection broke: reconnecting");
        state_ = State::reconnecting;
        fail_all(Err::protocol);
        request_reconnection();
        return true;
    }
    if (state_ != State::reconnecting || !ring_.reconnected()) return false;
    if (!ring_.reset().ok()) {
        // xenstored left the ring inconsistent: ask again.
        request_reconnection();
        return true;
    }
    state_ = State::connected;
    timers_.cancel(deadline_timer_);
    ++stats_.reconnects;
    // Queued events are from the old connection. xenstored forgets our old watches, and each
    // watch's callback runs once as "re-read everything".
    queue_count_ = 0;
    (void)submit_detached(XS_RESET_WATCHES, std::span<const std::string_view>());
    for (auto& watch : watches_) {
        if (watch.state == Watch::free) continue;
        watch.missed = true;
        (void)send_watch(watch);
    }
    LOG_INFO("xenstore: ring reconnected, watches registered again");
    return true;
}

void Xenstore::request_reconnection() {
    if (!ring_.request_reconnect().ok()) {
        LOG_ERROR("xenstore: xenstored offers no ring reconnection: xenstore is gone for good");
        state_ = State::broken;
        return;
    }
    // Should xenstored not answer (its event lost, the page scribbled on), ask again later.
    timers_.arm(deadline_timer_, clock_.now_ns() + reconnect_timeout_ns);
}

// ---- typed operations ---------------------------------------------------------------------

XsOp<std::string_view> Xenstore::read(std::string_view path, std::span<char> out, XsTx tx) {
    if (Status valid = check_path(path); !valid.ok()) return XsOp<std::string_view>(valid.error());
    const std::string_view parts[] = {path, nul};
    return XsOp<std::string_view>(*this, XS_READ, tx, parts, &copy_value, out);
}

XsOp<uint64_t> Xenstore::read_unsigned(std::string_view path, XsNumber format, XsTx tx) {
    if (Status valid = check_path(path); !valid.ok()) return XsOp<uint64_t>(valid.error());
    const std::string_view parts[] = {path, nul};
    return XsOp<uint64_t>(*this, XS_READ, tx, parts, &parse_number, {}, {}, format);
}

XsOp<void> Xenstore::write(std::string_view path, std::string_view value, XsTx tx) {
    if (Status valid = check_path(path); !valid.ok()) return XsOp<void>(valid.error());
    const std::string_view parts[] = {path, nul, value};
    return XsOp<void>(*this, XS_WRITE, tx, parts);
}

XsOp<void> Xenstore::mkdir(std::string_view path, XsTx tx) {
    if (Status valid = check_path(path); !valid.ok()) return XsOp<void>(valid.error());
    const std::string_view parts[] = {path, nul};
    return XsOp<void>(*this, XS_MKDIR, tx, parts);
}

XsOp<void> Xenstore::rm(std::string_view path, XsTx tx) {
    if (Status valid = check_path(path); !valid.ok()) return XsOp<void>(valid.error());
    const std::string_view parts[] = {path, nul};
    return XsOp<void>(*this, XS_RM, tx, parts);
}

XsOp<XsDirectory> Xenstore::directory(std::string_view path, std::span<char> out, XsTx tx) {
    if (Status valid = check_path(path); !valid.ok()) return XsOp<XsDirectory>(valid.error());
    const std::string_view parts[] = {path, nul};
    return XsOp<XsDirectory>(*this, XS_DIRECTORY, tx, parts, &parse_directory, out);
}

XsOp<size_t> Xenstore::get_perms(std::string_view path, std::span<XsPerm> out, XsTx tx) {
    if (Status valid = check_path(path); !valid.ok()) return XsOp<size_t>(valid.error());
    const std::string_view parts[] = {path, nul};
    return XsOp<size_t>(*this, XS_GET_PERMS, tx, parts, &parse_perms, {}, out);
}

XsOp<void> Xenstore::set_perms(std::string_view path, std::span<const XsPerm> perms, XsTx tx) {
    if (Status valid = check_path(path); !valid.ok()) return XsOp<void>(valid.error());
    if (perms.empty()) return XsOp<void>(Err::invalid);
    if (perms.size() > max_set_perms) return XsOp<void>(Err::too_big);
    char text[max_set_perms * (xs_perm_text_max + 1)];
    size_t used = 0;
    for (const XsPerm& perm : perms) {
        auto length = format_xs_perm(perm, std::span<char>(text).subspan(used));
        if (!length.ok()) return XsOp<void>(length.error());
        used += length.value();
        text[used++] = '\0';
    }
    const std::string_view parts[] = {path, nul, std::string_view(text, used)};
    return XsOp<void>(*this, XS_SET_PERMS, tx, parts);
}

XsOp<XsTx> Xenstore::transaction_start() {
    const std::string_view parts[] = {nul};
    return XsOp<XsTx>(*this, XS_TRANSACTION_START, no_tx, parts, &parse_transaction_id);
}

XsOp<void> Xenstore::transaction_end(XsTx tx, bool commit) {
    if (tx == no_tx) return XsOp<void>(Err::invalid);
    const std::string_view parts[] = {commit ? "T" : "F", nul};
    return XsOp<void>(*this, XS_TRANSACTION_END, tx, parts);
}

Task<Status> Xenstore::transaction(TransactionBody body, int max_attempts) {
    if (!body || max_attempts <= 0) co_return Err::invalid;
    for (int attempt = 0; attempt < max_attempts; ++attempt) {
        auto started = co_await transaction_start();
        if (!started.ok()) co_return started.error();
        XsTx tx = started.value();
        Status done = co_await body(tx);
        if (!done.ok()) {
            (void)co_await transaction_end(tx, false);
            if (done.error() == Err::again) continue;
            co_return done;
        }
        done = co_await transaction_end(tx, true);
        if (done.ok() || done.error() != Err::again) co_return done;
    }
    co_return Err::again;
}

// ---- watches ------------------------------------------------------------------------------

Xenstore::Watch* Xenstore::find_watch(std::string_view token) {
    for (auto& watch : watches_)
        if (watch.state != Watch::free && watch.token_view() == token) return &watch;
    return nullptr;
}

void Xenstore::release(Watch& watch) {
    if (watch.request) cancel(watch.request);
    watch.request = 0;
    watch.state = Watch::free;
    watch.missed = false;
    watch.unsent = false;
    watch.callback = {};
    ++watch.generation;
}

void Xenstore::on_watch_reply(void* context, Status status, std::string_view) {
    auto& watch = *static_cast<Watch*>(context);
    watch.request = 0;
    if (status.ok()) return;
    ++watch.owner->stats_.watch_failures;
    LOG_WARN("xenstore: watch on %.*s refused: %s", static_cast<int>(watch.path_len), watch.path, err_name(status.error()));
}

Status Xenstore::send_watch(Watch& watch) {
    const std::string_view parts[] = {watch.path_view(), nul, watch.token_view(), nul};
    if (watch.request) cancel(watch.request);
    watch.request = 0;
    auto request = submit(XS_WATCH, no_tx, parts, Completion::from(&Xenstore::on_watch_reply, &watch));
    if (!request.ok()) {
        // Every request slot busy (or the ring down): registered as soon as there is room.
        watch.unsent = request.error() == Err::no_space || request.error() == Err::protocol ||
                       request.error() == Err::not_connected;
        return watch.unsent ? ok_status() : Status(request.error());
    }
    watch.request = request.value();
    watch.unsent = false;
    return ok_status();
}

bool Xenstore::send_unsent_watches() {
    bool sent = false;
    for (auto& watch : watches_) {
        if (watch.state != Watch::active || !watch.unsent) continue;
        if (!send_watch(watch).ok() || watch.unsent) break;
        sent = true;
    }
    return sent;
}

Status Xenstore::watch(std::string_view path, std::string_view token, WatchCallback callback) {
    TRY(check_path(path));
    if (path.size() > max_watch_path || token.size() > max_token) return Err::name_too_long;
    if (token.empty() || token.find('\0') != std::string_view::npos || !callback) return Err::invalid;
    if (find_watch(token)) return Err::exists;
    Watch* slot = nullptr;
    for (auto& watch : watches_) {
        if (watch.state == Watch::free) {
            slot = &watch;
            break;
        }
    }
    if (!slot) return Err::no_space;
    // Registered before the request: the first event may arrive before the acknowledgement.
    slot->state = Watch::active;
    slot->missed = false;
    slot->callback = callback;
    memcpy(slot->path, path.data(), path.size());
    slot->path_len = static_cast<uint16_t>(path.size());
    memcpy(slot->token, token.data(), token.size());
    slot->token_len = static_cast<uint16_t>(token.size());
    Status sent = send_watch(*slot);
    if (!sent) release(*slot);
    return sent;
}

Status Xenstore::unwatch(std::string_view token) {
    Watch* watch = find_watch(token);
    if (!watch) return Err::not_found;
    char path[max_watch_path];
    char copy[max_token];
    size_t path_len = watch->path_len, token_len = watch->token_len;
    memcpy(path, watch->path, path_len);
    memcpy(copy, watch->token, token_len);
    release(*watch);  // from now on its events are unknown and dropped
    const std::string_view parts[] = {{path, path_len}, nul, {copy, token_len}, nul};
    return submit_detached(XS_UNWATCH, parts).ok() ? ok_status() : Status(Err::no_space);
}

void Xenstore::queue_event(std::string_view payload) {
    // "path\0token\0"
    std::string_view path = until_nul(payload);
    std::string_view token = until_nul(after_nul(payload));
    if (path.size() == payload.size() || path.empty() || token.empty()) {
        ++stats_.events_malformed;
        return;
    }
    Watch* watch = find_watch(token);
    if (!watch) {
        ++stats_.events_unknown;
        return;
    }
    if (path.size() > max_event_path || queue_count_ == event_queue_capacity) {
        // The callback still runs once, with the watched path: "re-read everything".
        watch->missed = true;
        ++stats_.events_dropped;
        return;
    }
    Event& event = queue_[(queue_head_ + queue_count_) % event_queue_capacity];
    event.slot = static_cast<uint16_t>(watch - watches_);
    event.generation = watch->generation;
    event.path_len = static_cast<uint16_t>(path.size());
    memcpy(event.path, path.data(), path.size());
    ++queue_count_;
    ++stats_.events_queued;
}

size_t Xenstore::deliver_events() {
    if (delivering_) return 0;  // a callback's own poll() (not expected) must not recurse
    delivering_ = true;
    size_t ran = 0;
    // Only what is queued now: events caused by the callbacks wait for the next call.
    for (size_t n = queue_count_; n > 0 && queue_count_ > 0; --n) {
        // Copied out first: the callback's own requests may queue events into this slot.
        Event event = queue_[queue_head_];
        queue_head_ = (queue_head_ + 1) % event_queue_capacity;
        --queue_count_;
        Watch& watch = watches_[event.slot];
        if (watch.state != Watch::active || watch.generation != event.generation) continue;
        char token[max_token];
        size_t token_len = watch.token_len;
        memcpy(token, watch.token, token_len);
        WatchCallback callback = watch.callback;
        callback(std::string_view(event.path, event.path_len), std::string_view(token, token_len));
        ++ran;
    }
    for (auto& watch : watches_) {
        if (watch.state != Watch::active || !watch.missed) continue;
        watch.missed = false;
        char path[max_watch_path];
        char token[max_token];
        size_t path_len = watch.path_len, token_len = watch.token_len;
        memcpy(path, watch.path, path_len);
        memcpy(token, watch.token, token_len);
        WatchCallback callback = watch.callback;
        callback(std::string_view(path, path_len), std::string_view(token, token_len));
        ++ran;
    }
    delivering_ = false;
    return ran;
}

}  // namespace domd::xen
