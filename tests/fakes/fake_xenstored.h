// A fake xenstored on a host-allocated xenstore page: an in-memory tree with permissions,
// watches and transactions, answering through the real ring layout, plus switches that make it
// misbehave the ways a hostile or broken xenstored could. It is also the client's Notifier
// (client -> xenstored) and its Clock (virtual time, moved on by the test rig,
// tests/fakes/xenstore_rig.h).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kernel/clock.h"
#include "kernel/notifier.h"
#include "xen/abi.h"
#include "xen/xenstore.h"

namespace domd::test {

class FakeXenstored final : public Notifier, public Clock {
public:
    struct Message {
        uint32_t type = 0;
        uint32_t req_id = 0;
        uint32_t tx_id = 0;
        std::string payload;
    };
    using Perms = std::vector<xen::XsPerm>;

    // The client is domain `client_domid` (0 is privileged and passes every permission
    // check); `start_index` is where all four ring indices start (they need not be zero).
    explicit FakeXenstored(uint16_t client_domid = 1, uint32_t start_index = 0);

    // The shared page. Public: tests play with its fields directly too.
    xenstore_domain_interface page;

    // ---- Notifier and Clock ----
    void notify() override { ++notifications; }
    uint64_t now_ns() const override { return clock_ns; }

    // One turn of xenstored as the rig runs it: on_serve, then process() unless frozen.
    bool serve();

    // Runs xenstored once: honours a reconnection request, consumes requests, answers them,
    // pushes as much pending output as the ring (and bytes_per_process) allows. True if
    // anything moved.
    bool process();

    // ---- the tree (direct access, no watches fire) ----
    void set(const std::string& path, const std::string& value, Perms perms = {});
    std::optional<std::string> get(const std::string& path) const;
    bool exists(const std::string& path) const { return tree_.count(path) != 0; }
    Perms perms(const std::string& path) const;
    std::vector<std::string> children(const std::string& path) const;
    size_t watch_count() const { return watches_.size(); }
    bool has_watch(const std::string& path, const std::string& token) const;
    size_t open_transactions() const { return transactions_.size(); }

    // ---- raw output ----
    // Queues a watch event "path\0token\0" (as if a watched node changed).
    void inject_event(const std::string& path, const std::string& token);
    // `count` events for the same watch: a storm.
    void watch_storm(const std::string& path, const std::string& token, int count);
    // A whole message with any header, or plain bytes (garbage) into the reply stream.
    void inject_message(const Message& message);
    void inject_raw(const std::string& bytes);
    // Writes a peer index into the page directly (a hostile xenstored).
    void corrupt_rsp_prod(uint32_t value) { page.rsp_prod = value; }
    void corrupt_req_cons(uint32_t value) { page.req_cons = value; }
    // Replies held back while hold_replies was set go out now (late replies).
    void release_held();
    size_t pending_output() const { return out_.size(); }

    // ---- misbehaviour switches ----
    bool frozen = false;                  // xenstored never runs (serve() does nothing)
    bool never_reply = false;             // swallow every request (still recorded)
    bool hold_replies = false;            // answer into a held queue instead of the ring
    std::deque<std::string> error_replies;  // the next requests fail with these strings, unexecuted
    int wrong_req_id_replies = 0;         // the next N replies carry another req_id (real one lost)
    int wrong_type_replies = 0;           // the next N replies carry another type (real one lost)
    int stale_before_reply = 0;           // the next N replies are preceded by a late reply
    bool oversized_next_reply = false;    // the next reply's header claims PAYLOAD_MAX + 1 bytes
    int eagain_commits = 0;               // the next N commits fail with EAGAIN
    size_t bytes_per_process = SIZE_MAX;  // trickle output this many bytes per run
    std::function<void(Message&)> reply_filter;  // sees (and may garble) every reply
    std::function<void()> on_serve;       // runs at the start of every serve()

    // ---- what happened ----
    std::vector<Message> requests;
    int notifications = 0;  // client -> xenstored
    int serves = 0;
    int reconnects = 0;
    uint64_t clock_ns = 0;

    // The client sent something a real xenstored rejects: like xenstored, the fake then stops
    // talking (setting `error` if it advertises XENSTORE_SERVER_FEATURE_ERROR) until the
    // ring is reconnected.
    bool client_broke_protocol = false;
    uint16_t client_domid;

private:
    struct Node {
        std::string value;
        Perms perms;
    };
    using Tree = std::map<std::string, Node>;
    struct Transaction {
        Tree tree;
        uint64_t base_generation;
        std::vector<std::pair<std::string, bool>> changes;  // path, recursive
    };
    struct Watch {
        std::string path;
        std::string token;
    };

    void handle(const Message& request);
    void reply(const Message& request, uint32_t type, const std::string& payload);
    void reply_error(const Message& request, const std::string& error);
    void emit(const Message& message, std::string& into);
    std::optional<std::string> canonical(const std::string& path) const;
    Tree* tree_for(uint32_t tx_id);
    bool can(const Node& node, unsigned access) const;
    // Creates `path` and missing ancestors (inheriting the perms of the nearest existing one).
    // EACCES unless the client may write that ancestor (when `check_perms`).
    std::optional<std::string> create(Tree& tree, const std::string& path, bool check_perms = true);
    void changed(uint32_t tx_id, const std::string& path, bool recursive);
    void fire(const std::string& path, bool recursive);
    void reset_connection();

    Tree tree_;
    uint64_t generation_ = 0;
    std::map<uint32_t, Transaction> transactions_;
    uint32_t next_tx_ = 1;
    std::vector<Watch> watches_;
    std::string in_;   // request bytes consumed but not yet handled
    std::string out_;  // reply bytes not yet in the ring
    std::string held_;
    uint32_t req_cons_;
    uint32_t rsp_prod_;
    uint32_t start_index_;
};

}  // namespace domd::test
