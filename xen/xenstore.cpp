#include "xen/xenstore.h"

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

Status ignore_payload(void*, std::string_view) { return ok_status(); }

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

// ---- request and reply --------------------------------------------------------------------

Status Xenstore::request(uint32_t type, XsTx tx, std::span<const std::string_view> parts, ReplyHandler on_reply) {
    if (ring_.failed()) return Err::protocol;
    if (awaiting_) return Err::busy;  // one request at a time
    size_t len = 0;
    for (auto part : parts) len += part.size();
    if (len > XENSTORE_PAYLOAD_MAX) return Err::too_big;

    ++stats_.requests;
    uint32_t req_id = next_req_id_++;
    uint64_t start = waiter_.now_ns();
    uint64_t deadline = start + timeout_ns_ < start ? std::numeric_limits<uint64_t>::max() : start + timeout_ns_;
    awaiting_ = true;
    expected_req_id_ = req_id;
    expected_type_ = type;
    replied_ = false;
    on_reply_ = on_reply;

    bool staged = false;
    Status result;
    for (;;) {
        // A request abandoned half-sent leaves its tail staged: it goes out before ours.
        if (!staged && ring_.tx_idle()) {
            result = ring_.stage(type, req_id, tx.id, parts);
            if (!result) break;
            staged = true;
        }
        auto flushed = ring_.flush();
        if (!flushed) {
            result = flushed.error();
            break;
        }
        auto drained = pump();
        if (!drained) {
            result = drained.error();
            break;
        }
        if (replied_) {
            result = reply_status_;
            break;
        }
        uint64_t now = waiter_.now_ns();
        if (now >= deadline) {
            // Forget the request: its reply, should it come, no longer matches anything.
            ++stats_.timeouts;
            result = Err::timed_out;
            break;
        }
        if (drained.value()) (void)waiter_.wait(deadline - now);
    }
    if (staged && !replied_) (void)ring_.cancel_unsent();
    awaiting_ = false;
    on_reply_ = {};
    return result;
}

Status Xenstore::request_ok(uint32_t type, XsTx tx, std::span<const std::string_view> parts) {
    return request(type, tx, parts, ReplyHandler::from(ignore_payload, nullptr));
}

Result<bool> Xenstore::pump() {
    for (int i = 0; i < max_messages_per_pump; ++i) {
        auto message = TRY(ring_.receive());
        if (!message) return true;
        handle_message(*message);
        if (awaiting_ && replied_) return true;
    }
    return false;
}

void Xenstore::handle_message(const XsMessage& message) {
    const xsd_sockmsg& header = message.header;
    if (header.type == XS_WATCH_EVENT) {
        queue_event(message.payload);
        return;
    }
    if (awaiting_ && !replied_ && header.req_id == expected_req_id_ &&
        (header.type == expected_type_ || header.type == XS_ERROR)) {
        replied_ = true;
        if (header.type == XS_ERROR)
            reply_status_ = xs_error_from_string(strip_nul(message.payload));
        else
            reply_status_ = on_reply_(message.payload);
        return;
    }
    ++stats_.discarded_replies;
}

// ---- nodes --------------------------------------------------------------------------------

Result<std::string_view> Xenstore::request_into(uint32_t type, XsTx tx, std::span<const std::string_view> parts,
                                                std::span<char> out) {
    size_t length = 0;
    auto copy = [&](std::string_view payload) -> Status {
        if (payload.size() > out.size()) return Err::overflow;
        if (!payload.empty()) memcpy(out.data(), payload.data(), payload.size());
        length = payload.size();
        return ok_status();
    };
    TRY(request(type, tx, parts, ReplyHandler::ref(copy)));
    return std::string_view(out.data(), length);
}

Result<std::string_view> Xenstore::read(std::string_view path, std::span<char> out, XsTx tx) {
    TRY(check_path(path));
    const std::string_view parts[] = {path, nul};
    return request_into(XS_READ, tx, parts, out);
}

Result<uint64_t> Xenstore::read_unsigned(std::string_view path, XsNumber format, XsTx tx) {
    char buffer[64];  // longer than any valid number without absurd leading zeros
    auto text = read(path, buffer, tx);
    if (!text) return text.error() == Err::overflow ? Err::range : text.error();
    return parse_unsigned(text.value(), format);
}

Status Xenstore::write(std::string_view path, std::string_view value, XsTx tx) {
    TRY(check_path(path));
    const std::string_view parts[] = {path, nul, value};
    return request_ok(XS_WRITE, tx, parts);
}

Status Xenstore::mkdir(std::string_view path, XsTx tx) {
    TRY(check_path(path));
    const std::string_view parts[] = {path, nul};
    return request_ok(XS_MKDIR, tx, parts);
}

Status Xenstore::rm(std::string_view path, XsTx tx) {
    TRY(check_path(path));
    const std::string_view parts[] = {path, nul};
    return request_ok(XS_RM, tx, parts);
}

Result<XsDirectory> Xenstore::directory(std::string_view path, std::span<char> out, XsTx tx) {
    TRY(check_path(path));
    const std::string_view parts[] = {path, nul};
    std::string_view listing = TRY(request_into(XS_DIRECTORY, tx, parts, out));
    // Validated on our copy, so iteration needs no checks.
    return XsDirectory::parse(listing);
}

Result<size_t> Xenstore::get_perms(std::string_view path, std::span<XsPerm> out, XsTx tx) {
    TRY(check_path(path));
    size_t count = 0;
    auto parse = [&](std::string_view payload) -> Status {
        if (payload.empty() || payload.back() != '\0') return Err::protocol;
        for (; !payload.empty(); payload = after_nul(payload)) {
            auto perm = parse_xs_perm(until_nul(payload));
            if (!perm) return Err::protocol;
            if (count == out.size()) return Err::overflow;
            out[count++] = perm.value();
        }
        return ok_status();
    };
    const std::string_view parts[] = {path, nul};
    TRY(request(XS_GET_PERMS, tx, parts, ReplyHandler::ref(parse)));
    return count;
}

Status Xenstore::set_perms(std::string_view path, std::span<const XsPerm> perms, XsTx tx) {
    TRY(check_path(path));
    if (perms.empty()) return Err::invalid;
    if (perms.size() > max_set_perms) return Err::too_big;
    char text[max_set_perms * (xs_perm_text_max + 1)];
    size_t used = 0;
    for (const XsPerm& perm : perms) {
        used += TRY(format_xs_perm(perm, std::span<char>(text).subspan(used)));
        text[used++] = '\0';
    }
    const std::string_view parts[] = {path, nul, std::string_view(text, used)};
    return request_ok(XS_SET_PERMS, tx, parts);
}

// ---- transactions -------------------------------------------------------------------------

Result<XsTx> Xenstore::transaction_start() {
    uint32_t id = 0;
    auto parse = [&](std::string_view payload) -> Status {
        auto value = parse_unsigned(strip_nul(payload));
        if (!value || value.value() == 0 || value.value() > std::numeric_limits<uint32_t>::max())
            return Err::protocol;
        id = static_cast<uint32_t>(value.value());
        return ok_status();
    };
    const std::string_view parts[] = {nul};
    TRY(request(XS_TRANSACTION_START, no_tx, parts, ReplyHandler::ref(parse)));
    return XsTx{id};
}

Status Xenstore::transaction_end(XsTx tx, bool commit) {
    if (tx == no_tx) return Err::invalid;
    const std::string_view parts[] = {commit ? "T" : "F", nul};
    return request_ok(XS_TRANSACTION_END, tx, parts);
}

Status Xenstore::transaction(Callback<Status(XsTx)> body, int max_attempts) {
    if (!body || max_attempts <= 0) return Err::invalid;
    for (int attempt = 0; attempt < max_attempts; ++attempt) {
        XsTx tx = TRY(transaction_start());
        Status done = body(tx);
        if (!done) {
            (void)transaction_end(tx, false);
            if (done.error() == Err::again) continue;
            return done;
        }
        done = transaction_end(tx, true);
        if (done || done.error() != Err::again) return done;
    }
    return Err::again;
}

// ---- watches ------------------------------------------------------------------------------

Xenstore::Watch* Xenstore::find_watch(std::string_view token) {
    for (auto& watch : watches_)
        if (watch.state != Watch::free && watch.token_view() == token) return &watch;
    return nullptr;
}

void Xenstore::release(Watch& watch) {
    watch.state = Watch::free;
    watch.missed = false;
    watch.callback = {};
    ++watch.generation;
}

Status Xenstore::send_watch(const Watch& watch) {
    const std::string_view parts[] = {watch.path_view(), nul, watch.token_view(), nul};
    return request_ok(XS_WATCH, no_tx, parts);
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
    slot->state = Watch::pending;
    slot->missed = false;
    slot->callback = callback;
    memcpy(slot->path, path.data(), path.size());
    slot->path_len = static_cast<uint16_t>(path.size());
    memcpy(slot->token, token.data(), token.size());
    slot->token_len = static_cast<uint16_t>(token.size());
    Status sent = send_watch(*slot);
    if (!sent) {
        release(*slot);
        return sent;
    }
    slot->state = Watch::active;
    return ok_status();
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
    return request_ok(XS_UNWATCH, no_tx, parts);
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

Result<size_t> Xenstore::dispatch_watch_events() {
    if (dispatching_ || awaiting_) return size_t{0};  // not re-entrant
    dispatching_ = true;
    Status polled;
    if (!ring_.failed()) {
        auto drained = pump();
        if (!drained) polled = drained.error();
    }

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
    dispatching_ = false;
    if (!polled) return polled.error();
    return ran;
}

// ---- reconnection -------------------------------------------------------------------------

Status Xenstore::reconnect(uint64_t timeout_ns) {
    if (awaiting_) return Err::busy;
    TRY(ring_.request_reconnect());
    uint64_t start = waiter_.now_ns();
    uint64_t deadline = start + timeout_ns < start ? std::numeric_limits<uint64_t>::max() : start + timeout_ns;
    while (!ring_.reconnected()) {
        uint64_t now = waiter_.now_ns();
        if (now >= deadline) return Err::timed_out;
        (void)waiter_.wait(deadline - now);
    }
    TRY(ring_.reset());
    // Queued events are from the old connection; each watch's callback runs once instead.
    queue_count_ = 0;
    Status first;
    for (auto& watch : watches_) {
        if (watch.state == Watch::free) continue;
        watch.missed = true;
        Status sent = send_watch(watch);
        if (!sent && first) first = sent;
    }
    return first;
}

}  // namespace domd::xen
