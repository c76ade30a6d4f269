#include "tests/test_support.h"

#include "tests/fakes/fake_xenstored.h"

#include <cstring>

namespace domd::test {
namespace {

using xen::XsPerm;

constexpr uint32_t ring_mask = XENSTORE_RING_SIZE - 1;
constexpr size_t header_size = sizeof(xsd_sockmsg);

std::vector<std::string> split_nul(const std::string& payload) {
    std::vector<std::string> args;
    size_t start = 0;
    while (start < payload.size()) {
        size_t end = payload.find('\0', start);
        if (end == std::string::npos) end = payload.size();
        args.push_back(payload.substr(start, end - start));
        start = end + 1;
    }
    return args;
}

std::string perm_text(const XsPerm& perm) {
    char buf[8];
    size_t n = xen::format_xs_perm(perm, buf).value();
    return std::string(buf, n);
}

bool is_under(const std::string& path, const std::string& ancestor) {
    if (ancestor == "/") return path.size() > 1 && path[0] == '/';
    return path.size() > ancestor.size() && path.compare(0, ancestor.size(), ancestor) == 0 &&
           path[ancestor.size()] == '/';
}

std::string parent_of(const std::string& path) {
    size_t slash = path.rfind('/');
    return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

FakeXenstored::FakeXenstored(uint16_t domid, uint32_t start_index)
    : client_domid(domid), req_cons_(start_index), rsp_prod_(start_index), start_index_(start_index) {
    memset(&page, 0, sizeof page);
    page.req_cons = page.req_prod = page.rsp_cons = page.rsp_prod = start_index;
    tree_["/"] = Node{"", {{XsPerm::none, 0}}};
    set("/local", "", {{XsPerm::none, 0}});
    set("/local/domain", "", {{XsPerm::none, 0}});
    std::string home = "/local/domain/" + std::to_string(domid);
    set(home, "", {{XsPerm::none, domid}});
}

// ---- the tree -----------------------------------------------------------------------------

void FakeXenstored::set(const std::string& path, const std::string& value, Perms perms) {
    auto where = canonical(path);
    if (!where) return;
    if (!exists(*where)) (void)create(tree_, *where, false);
    Node& node = tree_[*where];
    node.value = value;
    if (!perms.empty()) node.perms = perms;
    ++generation_;
}

std::optional<std::string> FakeXenstored::get(const std::string& path) const {
    auto where = canonical(path);
    if (!where) return std::nullopt;
    auto it = tree_.find(*where);
    if (it == tree_.end()) return std::nullopt;
    return it->second.value;
}

FakeXenstored::Perms FakeXenstored::perms(const std::string& path) const {
    auto where = canonical(path);
    if (!where) return {};
    auto it = tree_.find(*where);
    return it == tree_.end() ? Perms{} : it->second.perms;
}

std::vector<std::string> FakeXenstored::children(const std::string& path) const {
    std::vector<std::string> names;
    for (const auto& [key, node] : tree_) {
        if (!is_under(key, path)) continue;
        std::string rest = key.substr(path == "/" ? 1 : path.size() + 1);
        if (rest.find('/') == std::string::npos) names.push_back(rest);
    }
    return names;
}

bool FakeXenstored::has_watch(const std::string& path, const std::string& token) const {
    for (const auto& w : watches_)
        if (w.path == path && w.token == token) return true;
    return false;
}

std::optional<std::string> FakeXenstored::canonical(const std::string& path) const {
    if (path.empty()) return std::nullopt;
    std::string full = path[0] == '/' ? path : "/local/domain/" + std::to_string(client_domid) + "/" + path;
    if (full.size() > XENSTORE_ABS_PATH_MAX) return std::nullopt;
    if (full != "/" && full.back() == '/') return std::nullopt;
    if (full.find("//") != std::string::npos) return std::nullopt;
    for (char c : full)
        if (!(isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '-' || c == '_' || c == '@')) return std::nullopt;
    return full;
}

bool FakeXenstored::can(const Node& node, unsigned access) const {
    if (client_domid == 0) return true;
    if (node.perms.empty()) return false;
    if (node.perms[0].domid == client_domid) return true;
    unsigned granted = node.perms[0].access;
    for (size_t i = 1; i < node.perms.size(); ++i)
        if (node.perms[i].domid == client_domid) granted = node.perms[i].access;
    return (granted & access) == access;
}

std::optional<std::string> FakeXenstored::create(Tree& tree, const std::string& path, bool check_perms) {
    std::string ancestor = parent_of(path);
    while (!tree.count(ancestor)) ancestor = parent_of(ancestor);
    const Node& base = tree[ancestor];
    if (check_perms && !can(base, XsPerm::write)) return "EACCES";
    Perms inherited = base.perms;
    if (!check_perms) inherited = {{XsPerm::none, client_domid}};  // set(): the test's node, the client's
    else if (client_domid != 0) inherited[0].domid = client_domid;
    // Every missing node between the ancestor and the path itself.
    for (size_t at = ancestor.size() == 1 ? 1 : ancestor.size() + 1; at <= path.size(); ++at) {
        if (at == path.size() || path[at] == '/') {
            std::string step = path.substr(0, at);
            if (!tree.count(step)) tree[step] = Node{"", inherited};
        }
    }
    return std::nullopt;
}

FakeXenstored::Tree* FakeXenstored::tree_for(uint32_t tx_id) {
    if (tx_id == 0) return &tree_;
    auto it = transactions_.find(tx_id);
    return it == transactions_.end() ? nullptr : &it->second.tree;
}

// ---- watches ------------------------------------------------------------------------------

void FakeXenstored::changed(uint32_t tx_id, const std::string& path, bool recursive) {
    if (tx_id != 0) {
        transactions_[tx_id].changes.emplace_back(path, recursive);
        return;
    }
    ++generation_;
    fire(path, recursive);
}

void FakeXenstored::fire(const std::string& path, bool recursive) {
    for (const auto& w : watches_) {
        if (w.path == path || is_under(path, w.path))
            inject_event(path, w.token);
        else if (recursive && is_under(w.path, path))
            inject_event(w.path, w.token);
    }
}

void FakeXenstored::inject_event(const std::string& path, const std::string& token) {
    emit(Message{XS_WATCH_EVENT, 0, 0, path + '\0' + token + '\0'}, out_);
}

void FakeXenstored::watch_storm(const std::string& path, const std::string& token, int count) {
    for (int i = 0; i < count; ++i) inject_event(path + "/" + std::to_string(i), token);
}

void FakeXenstored::inject_message(const Message& message) { emit(message, out_); }

void FakeXenstored::inject_raw(const std::string& bytes) { out_ += bytes; }

void FakeXenstored::release_held() {
    out_ += held_;
    held_.clear();
}

// ---- the ring -----------------------------------------------------------------------------

void FakeXenstored::emit(const Message& message, std::string& into) {
    xsd_sockmsg header{message.type, message.req_id, message.tx_id, static_cast<uint32_t>(message.payload.size())};
    into.append(reinterpret_cast<const char*>(&header), header_size);
    into += message.payload;
}

void FakeXenstored::reply(const Message& request, uint32_t type, const std::string& payload) {
    Message m{type, request.req_id, request.tx_id, payload};
    if (stale_before_reply > 0) {
        --stale_before_reply;
        emit(Message{request.type, request.req_id - 1, request.tx_id, "stale"}, hold_replies ? held_ : out_);
    }
    if (wrong_req_id_replies > 0) {
        --wrong_req_id_replies;
        m.req_id += 0x1000;
    }
    if (wrong_type_replies > 0) {
        --wrong_type_replies;
        m.type = m.type == XS_READ ? XS_DIRECTORY : XS_READ;
    }
    if (reply_filter) reply_filter(m);
    std::string& into = hold_replies ? held_ : out_;
    if (oversized_next_reply) {
        oversized_next_reply = false;
        xsd_sockmsg header{m.type, m.req_id, m.tx_id, XENSTORE_PAYLOAD_MAX + 1};
        into.append(reinterpret_cast<const char*>(&header), header_size);
        return;
    }
    emit(m, into);
}

void FakeXenstored::reply_error(const Message& request, const std::string& error) {
    reply(request, XS_ERROR, error + '\0');
}

void FakeXenstored::reset_connection() {
    in_.clear();
    out_.clear();
    held_.clear();
    watches_.clear();
    transactions_.clear();
    req_cons_ = rsp_prod_ = start_index_;
    page.req_cons = page.req_prod = page.rsp_cons = page.rsp_prod = start_index_;
    page.error = XENSTORE_ERROR_NONE;
    page.connection = XENSTORE_CONNECTED;
    client_broke_protocol = false;
    ++reconnects;
}

bool FakeXenstored::serve() {
    ++serves;
    if (on_serve) on_serve();
    return !frozen && process();
}

bool FakeXenstored::process() {
    if ((page.server_features & XENSTORE_SERVER_FEATURE_RECONNECTION) && page.connection == XENSTORE_RECONNECT) {
        reset_connection();
        return true;
    }
    if (client_broke_protocol) return false;
    auto broken = [this] {
        client_broke_protocol = true;
        if (page.server_features & XENSTORE_SERVER_FEATURE_ERROR) page.error = XENSTORE_ERROR_PROTO;
        return false;
    };
    uint32_t available = page.req_prod - req_cons_;
    if (available > XENSTORE_RING_SIZE) return broken();
    for (uint32_t i = 0; i < available; ++i) in_ += page.req[(req_cons_ + i) & ring_mask];
    // Publish only what moved: a test may have put a bogus value there on purpose.
    if (available != 0) {
        req_cons_ += available;
        page.req_cons = req_cons_;
    }
    bool moved = available != 0;

    while (in_.size() >= header_size) {
        xsd_sockmsg header;
        memcpy(&header, in_.data(), header_size);
        if (header.len > XENSTORE_PAYLOAD_MAX) return broken();
        if (in_.size() < header_size + header.len) break;
        Message request{header.type, header.req_id, header.tx_id, in_.substr(header_size, header.len)};
        in_.erase(0, header_size + header.len);
        requests.push_back(request);
        if (!never_reply) handle(request);
    }

    uint32_t used = rsp_prod_ - page.rsp_cons;
    uint32_t space = used > XENSTORE_RING_SIZE ? 0 : XENSTORE_RING_SIZE - used;
    size_t count = std::min<size_t>({space, out_.size(), bytes_per_process});
    for (size_t i = 0; i < count; ++i) page.rsp[(rsp_prod_ + i) & ring_mask] = out_[i];
    out_.erase(0, count);
    if (count != 0) {
        rsp_prod_ += static_cast<uint32_t>(count);
        page.rsp_prod = rsp_prod_;
    }
    return moved || count != 0;
}

// ---- requests -----------------------------------------------------------------------------

void FakeXenstored::handle(const Message& request) {
    if (!error_replies.empty()) {
        std::string error = error_replies.front();
        error_replies.pop_front();
        reply_error(request, error);
        return;
    }
    std::vector<std::string> args = split_nul(request.payload);
    // Every request but TRANSACTION_START names a path (or a transaction verdict) first.
    auto path_arg = [&]() -> std::optional<std::string> {
        if (args.empty()) return std::nullopt;
        return canonical(args[0]);
    };
    const std::string ok("OK\0", 3);

    switch (request.type) {
        case XS_READ:
        case XS_DIRECTORY:
        case XS_GET_PERMS: {
            auto path = path_arg();
            Tree* tree = tree_for(request.tx_id);
            if (!path) return reply_error(request, "EINVAL");
            if (!tree) return reply_error(request, "ENOENT");
            auto it = tree->find(*path);
            if (it == tree->end()) return reply_error(request, "ENOENT");
            if (!can(it->second, XsPerm::read)) return reply_error(request, "EACCES");
            std::string payload;
            if (request.type == XS_READ) {
                payload = it->second.value;
            } else if (request.type == XS_DIRECTORY) {
                for (const auto& [key, node] : *tree) {
                    if (!is_under(key, *path)) continue;
                    std::string rest = key.substr(*path == "/" ? 1 : path->size() + 1);
                    if (rest.find('/') == std::string::npos) payload += rest + '\0';
                }
            } else {
                for (const auto& perm : it->second.perms) payload += perm_text(perm) + '\0';
            }
            return reply(request, request.type, payload);
        }
        case XS_WRITE:
        case XS_MKDIR: {
            size_t nul = request.payload.find('\0');
            auto path = nul == std::string::npos ? std::nullopt : canonical(request.payload.substr(0, nul));
            Tree* tree = tree_for(request.tx_id);
            if (!path) return reply_error(request, "EINVAL");
            if (!tree) return reply_error(request, "ENOENT");
            auto it = tree->find(*path);
            if (it != tree->end()) {
                if (request.type == XS_MKDIR) return reply(request, request.type, ok);
                if (!can(it->second, XsPerm::write)) return reply_error(request, "EACCES");
            } else if (auto error = create(*tree, *path)) {
                return reply_error(request, *error);
            }
            if (request.type == XS_WRITE) (*tree)[*path].value = request.payload.substr(nul + 1);
            reply(request, request.type, ok);
            return changed(request.tx_id, *path, false);
        }
        case XS_RM: {
            auto path = path_arg();
            Tree* tree = tree_for(request.tx_id);
            if (!path || *path == "/") return reply_error(request, "EINVAL");
            if (!tree) return reply_error(request, "ENOENT");
            auto it = tree->find(*path);
            if (it == tree->end()) {
                // Like xenstored: removing a missing child of an existing node succeeds.
                if (tree->count(parent_of(*path))) return reply(request, request.type, ok);
                return reply_error(request, "ENOENT");
            }
            if (!can(it->second, XsPerm::write)) return reply_error(request, "EACCES");
            for (auto at = tree->begin(); at != tree->end();)
                at = (at->first == *path || is_under(at->first, *path)) ? tree->erase(at) : std::next(at);
            reply(request, request.type, ok);
            return changed(request.tx_id, *path, true);
        }
        case XS_SET_PERMS: {
            auto path = path_arg();
            Tree* tree = tree_for(request.tx_id);
            if (!path || args.size() < 2) return reply_error(request, "EINVAL");
            if (!tree) return reply_error(request, "ENOENT");
            auto it = tree->find(*path);
            if (it == tree->end()) return reply_error(request, "ENOENT");
            if (client_domid != 0 && it->second.perms[0].domid != client_domid) return reply_error(request, "EACCES");
            Perms perms;
            for (size_t i = 1; i < args.size(); ++i) {
                auto perm = xen::parse_xs_perm(args[i]);
                if (!perm) return reply_error(request, "EINVAL");
                perms.push_back(perm.value());
            }
            it->second.perms = perms;
            reply(request, request.type, ok);
            return changed(request.tx_id, *path, false);
        }
        case XS_WATCH:
        case XS_UNWATCH: {
            if (args.size() != 2) return reply_error(request, "EINVAL");
            const std::string& path = args[0];
            const std::string& token = args[1];
            bool special = !path.empty() && path[0] == '@';
            auto where = special ? std::optional<std::string>(path) : canonical(path);
            if (!where) return reply_error(request, "EINVAL");
            auto it = std::find_if(watches_.begin(), watches_.end(),
                                   [&](const Watch& w) { return w.path == *where && w.token == token; });
            if (request.type == XS_WATCH) {
                if (it != watches_.end()) return reply_error(request, "EEXIST");
                watches_.push_back(Watch{*where, token});
                reply(request, request.type, ok);
                // "We fire once up front: simplifies clients and restart."
                return inject_event(path, token);
            }
            if (it == watches_.end()) return reply_error(request, "ENOENT");
            watches_.erase(it);
            return reply(request, request.type, ok);
        }
        case XS_TRANSACTION_START: {
            if (request.tx_id != 0) return reply_error(request, "EBUSY");
            uint32_t id = next_tx_++;
            transactions_[id] = Transaction{tree_, generation_, {}};
            return reply(request, request.type, std::to_string(id) + '\0');
        }
        case XS_TRANSACTION_END: {
            auto it = transactions_.find(request.tx_id);
            if (it == transactions_.end()) return reply_error(request, "ENOENT");
            if (args.size() != 1 || (args[0] != "T" && args[0] != "F")) return reply_error(request, "EINVAL");
            Transaction tx = std::move(it->second);
            transactions_.erase(it);
            if (args[0] == "F") return reply(request, request.type, ok);
            if (eagain_commits > 0) {
                --eagain_commits;
                return reply_error(request, "EAGAIN");
            }
            if (tx.base_generation != generation_) return reply_error(request, "EAGAIN");
            tree_ = std::move(tx.tree);
            reply(request, request.type, ok);
            for (const auto& [path, recursive] : tx.changes) changed(0, path, recursive);
            return;
        }
        default:
            return reply_error(request, "EINVAL");
    }
}

}  // namespace domd::test
