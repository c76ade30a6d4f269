// The asynchronous xenstore client against a fake xenstored (docs/misc/xenstore.txt): requests
// and replies, error strings, watches and their queue, transactions, strict parsing of
// xenstore text, requests in flight at once, and a xenstored that lies, stalls, floods or
// scribbles. The rig (tests/fakes/xenstore_rig.h) drives client and xenstored like the loop.
#include "tests/test_support.h"

#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernel/coroutine_pool.h"
#include "tests/fakes/fake_xenstored.h"
#include "tests/fakes/xenstore_rig.h"
#include "xen/xenstore.h"

using namespace domd;
using domd::test::FakeXenstored;
using domd::test::XenstoreRig;
using domd::xen::parse_xs_perm;
using domd::xen::Xenstore;
using domd::xen::XenstoreRing;
using domd::xen::XsDirectory;
using domd::xen::XsNumber;
using domd::xen::XsPerm;
using domd::xen::XsTx;

namespace {

constexpr std::string_view nul("\0", 1);

// Records every watch callback.
struct Recorder {
    std::vector<std::pair<std::string, std::string>> calls;
    void on(std::string_view path, std::string_view token) { calls.emplace_back(path, token); }
    Xenstore::WatchCallback callback() { return Xenstore::WatchCallback::to<&Recorder::on>(this); }
    bool saw(const std::string& path, const std::string& token) const {
        return std::find(calls.begin(), calls.end(), std::make_pair(path, token)) != calls.end();
    }
};

std::string str(Result<std::string_view> r) { return r.ok() ? std::string(r.value()) : "<error>"; }

}  // namespace

// ---- text parsing -------------------------------------------------------------------------

TEST_GROUP(XsText) {};

TEST(XsText, ParsesAndFormatsPermissions) {
    CHECK(parse_xs_perm("n0").value() == (XsPerm{XsPerm::none, 0}));
    CHECK(parse_xs_perm("r5").value() == (XsPerm{XsPerm::read, 5}));
    CHECK(parse_xs_perm("w32752").value() == (XsPerm{XsPerm::write, 32752}));
    CHECK(parse_xs_perm("b65535").value() == (XsPerm{XsPerm::both, 65535}));
    for (const char* junk : {"", "n", "x0", "N0", "r-1", "r+1", "r 1", "r65536", "r01", "r1x", "b655350", "0"})
        CHECK_EQUAL(Err::invalid, parse_xs_perm(junk).error());
    char buf[8];
    auto n = xen::format_xs_perm(XsPerm{XsPerm::both, 65535}, buf);
    STRCMP_EQUAL("b65535", std::string(buf, n.value()).c_str());
    auto m = xen::format_xs_perm(XsPerm{XsPerm::none, 0}, buf);
    STRCMP_EQUAL("n0", std::string(buf, m.value()).c_str());
    char tiny[2];
    CHECK_EQUAL(Err::overflow, xen::format_xs_perm(XsPerm{XsPerm::read, 10}, tiny).error());
}

TEST(XsText, MapsEveryXenstoredErrorString) {
    const std::pair<const char*, Err> known[] = {
        {"ENOENT", Err::not_found}, {"EACCES", Err::access},     {"EAGAIN", Err::again},
        {"EINVAL", Err::invalid},   {"EEXIST", Err::exists},     {"EQUOTA", Err::quota},
        {"ENOSPC", Err::no_space},  {"E2BIG", Err::too_big},     {"EROFS", Err::read_only},
        {"EBUSY", Err::busy},       {"ENOSYS", Err::not_implemented}, {"ENOMEM", Err::no_memory},
        {"EIO", Err::io},           {"ENOTEMPTY", Err::not_empty}, {"EPERM", Err::permission},
        {"EISDIR", Err::invalid},   {"EISCONN", Err::exists},
    };
    for (const auto& [name, err] : known) CHECK_EQUAL(err, xen::xs_error_from_string(name));
    for (const char* unknown : {"", "enoent", "ENOENT ", "EWHATEVER", "OK"})
        CHECK_EQUAL(Err::protocol, xen::xs_error_from_string(unknown));
}

TEST(XsText, DirectoryRepliesAreValidatedBeforeIteration) {
    auto dir = XsDirectory::parse(std::string_view("vbd\0vif\0console\0", 16));
    CHECK(dir.ok());
    LONGS_EQUAL(3, (long)dir.value().size());
    std::vector<std::string> names(dir.value().begin(), dir.value().end());
    CHECK((names == std::vector<std::string>{"vbd", "vif", "console"}));
    CHECK(XsDirectory::parse("").value().empty());
    CHECK(XsDirectory::parse(nul).value().empty());
    CHECK_EQUAL(Err::protocol, XsDirectory::parse("abc").error());                          // unterminated
    CHECK_EQUAL(Err::protocol, XsDirectory::parse(std::string_view("a\0\0b\0", 5)).error());  // empty name
    CHECK_EQUAL(Err::protocol, XsDirectory::parse(std::string_view("../x\0", 5)).error());     // '/'
}

// ---- the client ---------------------------------------------------------------------------

namespace {

// The client's operations, each run to completion through the rig.
struct ClientOps {
    XenstoreRig& rig;
    Xenstore& client;

    Result<std::string_view> read(std::string path, std::span<char> out, XsTx tx = xen::no_tx) {
        return rig.op([&] { return client.read(path, out, tx); });
    }
    Result<uint64_t> read_unsigned(std::string path, XsNumber format = XsNumber::decimal) {
        return rig.op([&] { return client.read_unsigned(path, format); });
    }
    Status write(std::string path, std::string value, XsTx tx = xen::no_tx) {
        return rig.op([&] { return client.write(path, value, tx); });
    }
    Status mkdir(std::string path, XsTx tx = xen::no_tx) { return rig.op([&] { return client.mkdir(path, tx); }); }
    Status rm(std::string path, XsTx tx = xen::no_tx) { return rig.op([&] { return client.rm(path, tx); }); }
    Result<XsDirectory> directory(std::string path, std::span<char> out) {
        return rig.op([&] { return client.directory(path, out); });
    }
    Result<size_t> get_perms(std::string path, std::span<XsPerm> out) {
        return rig.op([&] { return client.get_perms(path, out); });
    }
    Status set_perms(std::string path, std::span<const XsPerm> perms) {
        return rig.op([&] { return client.set_perms(path, perms); });
    }
    Result<XsTx> transaction_start() { return rig.op([&] { return client.transaction_start(); }); }
    Status transaction_end(XsTx tx, bool commit) { return rig.op([&] { return client.transaction_end(tx, commit); }); }
};

const std::string_view read_x[] = {"/x", std::string_view("\0", 1)};

}  // namespace

TEST_GROUP(Xenstore) {
    XenstoreRig rig;  // client is domain 1; /local/domain/1 is its own
    FakeXenstored& xsd = rig.xsd;
    XenstoreRing& ring = rig.ring;
    Xenstore& client = rig.client;
    ClientOps ops{rig, client};
    char buf[256];

    void teardown() override {
        rig.settle();
        LONGS_EQUAL(0, rig.unfinished_runs);  // no operation hung
        // Every coroutine frame went back to the pool.
        LONGS_EQUAL(0, (long)coroutine_pool().stats().in_use);
    }
};

TEST(Xenstore, ReadsAValueIntoTheCallersBuffer) {
    xsd.set("/local/domain/1/name", "domd");
    auto value = ops.read("/local/domain/1/name", buf);
    CHECK(value.value().data() == buf);
    STRCMP_EQUAL("domd", str(std::move(value)).c_str());
    const auto& req = xsd.requests.back();
    UNSIGNED_LONGS_EQUAL(XS_READ, req.type);
    CHECK(req.payload == std::string("/local/domain/1/name\0", 21));
    CHECK(xsd.notifications >= 1);
}

TEST(Xenstore, NothingIsSentOrCompletedOutsidePoll) {
    xsd.set("/x", "1");
    Status seen = Err::io;
    bool called = false;
    auto done = [&](Status s, std::string_view) {
        seen = s;
        called = true;
    };
    CHECK(client.submit(XS_READ, xen::no_tx, read_x, Xenstore::Completion::ref(done)).ok());
    LONGS_EQUAL(0, (long)xsd.requests.size());  // queued only
    CHECK(client.ready());
    xsd.serve();
    CHECK_FALSE(called);
    rig.run_until([&] { return called; });
    CHECK(seen.ok());
}

TEST(Xenstore, RelativePathsAreTheDomainsOwn) {
    xsd.set("/local/domain/1/domid", "1");
    UNSIGNED_LONGLONGS_EQUAL(1, ops.read_unsigned("domid").value());
}

TEST(Xenstore, EachRequestCarriesAFreshReqId) {
    xsd.set("/x", "1");
    CHECK(ops.read("/x", buf).ok());
    CHECK(ops.read("/x", buf).ok());
    CHECK(xsd.requests[0].req_id != xsd.requests[1].req_id);
    UNSIGNED_LONGS_EQUAL(0, xsd.requests[0].tx_id);
}

TEST(Xenstore, ManyRequestsInFlightCompleteEachWithItsOwnReply) {
    std::vector<std::string> got(10);
    std::vector<std::function<void(Status, std::string_view)>> done;
    std::vector<std::string> paths;
    for (int i = 0; i < 10; ++i) {
        paths.push_back("/v/" + std::to_string(i));
        xsd.set(paths.back(), "value" + std::to_string(i));
        done.push_back([&got, i](Status s, std::string_view payload) { got[i] = s.ok() ? std::string(payload) : "error"; });
    }
    for (int i = 0; i < 10; ++i) {
        const std::string_view parts[] = {paths[i], std::string_view("\0", 1)};
        CHECK(client.submit(XS_READ, xen::no_tx, parts, Xenstore::Completion::ref(done[i])).ok());
    }
    LONGS_EQUAL(10, (long)client.outstanding());
    rig.settle();
    for (int i = 0; i < 10; ++i) STRCMP_EQUAL(("value" + std::to_string(i)).c_str(), got[i].c_str());
    LONGS_EQUAL(0, (long)client.outstanding());
}

TEST(Xenstore, TheRequestTableIsBoundedAtItsEdges) {
    std::function<void(Status, std::string_view)> ignore = [](Status, std::string_view) {};
    for (size_t i = 0; i + 1 < Xenstore::max_requests; ++i)
        CHECK(client.submit(XS_READ, xen::no_tx, read_x, Xenstore::Completion::ref(ignore)).ok());
    CHECK(client.submit(XS_READ, xen::no_tx, read_x, Xenstore::Completion::ref(ignore)).ok());  // the Nth
    CHECK_EQUAL(Err::no_space, client.submit(XS_READ, xen::no_tx, read_x, Xenstore::Completion::ref(ignore)).error());
    rig.settle();
    CHECK(client.submit(XS_READ, xen::no_tx, read_x, Xenstore::Completion::ref(ignore)).ok());
    rig.settle();
}

TEST(Xenstore, ACancelledRequestNeverCallsBack) {
    xsd.set("/x", "1");
    bool called = false;
    auto done = [&](Status, std::string_view) { called = true; };
    uint32_t handle = client.submit(XS_READ, xen::no_tx, read_x, Xenstore::Completion::ref(done)).value();
    rig.step();
    client.cancel(handle);
    rig.settle();
    CHECK_FALSE(called);
    UNSIGNED_LONGS_EQUAL(1, client.stats().cancelled);
    UNSIGNED_LONGS_EQUAL(0, client.stats().discarded_replies);  // its reply still matched its slot
    client.cancel(handle);  // a stale handle is harmless
    UNSIGNED_LONGS_EQUAL(1, client.stats().cancelled);
}

TEST(Xenstore, ACancelledCoroutineLeavesNoDanglingCompletion) {
    xsd.set("/x", "1");
    xsd.hold_replies = true;
    auto task = [&]() -> Task<Status> {
        auto r = co_await client.read("/x", buf);
        co_return r.ok() ? ok_status() : Status(r.error());
    };
    {
        Job job;
        job.start(task());
        rig.settle();
        CHECK(job.running());
        LONGS_EQUAL(1, (long)client.outstanding());
    }  // destroyed while awaiting the reply
    xsd.hold_replies = false;
    xsd.release_held();
    rig.settle();  // the reply arrives: nobody is called (ASan would see a use after free)
    UNSIGNED_LONGS_EQUAL(1, client.stats().cancelled);
}

TEST(Xenstore, AStalledXenstoredDelaysOnlyTheRequestsWaitingForIt) {
    // Nothing in the client waits: while xenstored is frozen, poll() returns at once.
    xsd.frozen = true;
    bool called = false;
    auto done = [&](Status, std::string_view) { called = true; };
    CHECK(client.submit(XS_READ, xen::no_tx, read_x, Xenstore::Completion::ref(done)).ok());
    for (int i = 0; i < 100; ++i) (void)client.poll();
    CHECK_FALSE(called);
    UNSIGNED_LONGLONGS_EQUAL(0, xsd.clock_ns);  // no time passed inside the client
    xsd.frozen = false;
    rig.settle();
    CHECK(called);
}

TEST(Xenstore, AValueLargerThanTheBufferIsOverflowAndTheReplyIsStillConsumed) {
    xsd.set("/local/domain/1/big", std::string(100, 'b'));
    xsd.set("/local/domain/1/small", "s");
    char tiny[10];
    CHECK_EQUAL(Err::overflow, ops.read("/local/domain/1/big", tiny).error());
    STRCMP_EQUAL("s", str(ops.read("/local/domain/1/small", tiny)).c_str());
    UNSIGNED_LONGS_EQUAL(0, client.stats().discarded_replies);
    xsd.set("/local/domain/1/ten", std::string(10, 't'));
    CHECK(ops.read("/local/domain/1/ten", tiny).ok());  // exactly fits
}

TEST(Xenstore, ValuesLargerThanTheRingTravelBothWays) {
    std::string big(3000, '\0');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);  // binary, NULs too
    CHECK(ops.write("/local/domain/1/blob", big).ok());
    CHECK(*xsd.get("/local/domain/1/blob") == big);
    std::vector<char> out(4096);
    auto value = ops.read("/local/domain/1/blob", out);
    CHECK(std::string(value.value()) == big);
}

TEST(Xenstore, AReplyTrickledByteByByteIsReassembled) {
    xsd.set("/local/domain/1/slow", "patience");
    xsd.bytes_per_process = 1;
    STRCMP_EQUAL("patience", str(ops.read("/local/domain/1/slow", buf)).c_str());
}

TEST(Xenstore, WriteMkdirAndRm) {
    CHECK(ops.write("/local/domain/1/a/b/c", "v").ok());
    STRCMP_EQUAL("v", xsd.get("/local/domain/1/a/b/c")->c_str());
    CHECK(xsd.exists("/local/domain/1/a/b"));  // parents made on the way
    CHECK(ops.mkdir("/local/domain/1/d").ok());
    STRCMP_EQUAL("", xsd.get("/local/domain/1/d")->c_str());
    CHECK(ops.rm("/local/domain/1/a").ok());
    CHECK_FALSE(xsd.exists("/local/domain/1/a/b/c"));
    CHECK_EQUAL(Err::not_found, ops.read("/local/domain/1/a/b/c", buf).error());
    const auto& req = xsd.requests.front();
    CHECK(req.payload == std::string("/local/domain/1/a/b/c\0v", 23));  // no NUL after the value
}

TEST(Xenstore, DetachedWritesCountTheirFailures) {
    client.write_detached("/local/domain/1/ok", "1");
    rig.settle();
    xsd.error_replies.push_back("EACCES");
    client.write_detached("/local/domain/1/refused", "1");
    client.write_detached("", "1");  // refused before sending
    rig.settle();
    CHECK(xsd.exists("/local/domain/1/ok"));
    CHECK_FALSE(xsd.exists("/local/domain/1/refused"));
    UNSIGNED_LONGLONGS_EQUAL(2, client.detached_failures());
}

TEST(Xenstore, ListsADirectory) {
    xsd.set("/local/domain/1/device/vbd/51712", "");
    xsd.set("/local/domain/1/device/vbd/51728", "");
    xsd.set("/local/domain/1/device/vif/0", "");
    auto dir = ops.directory("/local/domain/1/device/vbd", buf);
    CHECK(dir.ok());
    std::vector<std::string> names;
    dir.value().for_each([&](std::string_view name) { names.emplace_back(name); });
    CHECK((names == std::vector<std::string>{"51712", "51728"}));
    auto empty = ops.directory("/local/domain/1/device/vif/0", buf);
    CHECK(empty.ok() && empty.value().empty() && empty.value().begin() == empty.value().end());
    char tiny[8];
    CHECK_EQUAL(Err::overflow, ops.directory("/local/domain/1/device/vbd", tiny).error());
    CHECK_EQUAL(Err::not_found, ops.directory("/local/domain/1/nothing", buf).error());
}

TEST(Xenstore, AMalformedDirectoryReplyIsRejected) {
    xsd.set("/local/domain/1/d/a", "");
    xsd.reply_filter = [](FakeXenstored::Message& m) { m.payload = std::string("ok\0../../etc\0", 13); };
    CHECK_EQUAL(Err::protocol, ops.directory("/local/domain/1/d", buf).error());
    CHECK_FALSE(client.failed());  // a bad reply, not a broken stream
}

TEST(Xenstore, GetsAndSetsPermissions) {
    xsd.set("/local/domain/1/shared", "x");
    const XsPerm perms[] = {{XsPerm::none, 1}, {XsPerm::read, 5}, {XsPerm::both, 7}};
    CHECK(ops.set_perms("/local/domain/1/shared", perms).ok());
    CHECK(xsd.requests.back().payload == std::string("/local/domain/1/shared\0n1\0r5\0b7\0", 32));
    XsPerm out[4];
    auto count = ops.get_perms("/local/domain/1/shared", out);
    LONGS_EQUAL(3, (long)count.value());
    CHECK(out[0] == perms[0] && out[1] == perms[1] && out[2] == perms[2]);
    XsPerm three[3];
    LONGS_EQUAL(3, (long)ops.get_perms("/local/domain/1/shared", three).value());  // exactly fits
    XsPerm two[2];
    CHECK_EQUAL(Err::overflow, ops.get_perms("/local/domain/1/shared", two).error());
    CHECK_EQUAL(Err::invalid, ops.set_perms("/local/domain/1/shared", std::span<const XsPerm>()).error());
    std::vector<XsPerm> many(Xenstore::max_set_perms + 1, XsPerm{XsPerm::read, 65535});
    CHECK_EQUAL(Err::too_big, ops.set_perms("/local/domain/1/shared", many).error());
    many.pop_back();
    CHECK(ops.set_perms("/local/domain/1/shared", many).ok());
}

TEST(Xenstore, MalformedPermissionRepliesAreRejected) {
    xsd.set("/local/domain/1/p", "");
    XsPerm out[4];
    const std::string bad[] = {
        "",                         // no owner entry
        "n1",                       // unterminated
        std::string("q1\0", 3),     // unknown access letter
        std::string("r-1\0", 4),    // signed domid
        std::string("n1\0\0", 4),  // empty entry
        std::string("r70000\0", 7), // domid out of range
    };
    for (const auto& payload : bad) {
        xsd.reply_filter = [payload](FakeXenstored::Message& m) { m.payload = payload; };
        CHECK_EQUAL(Err::protocol, ops.get_perms("/local/domain/1/p", out).error());
    }
}

TEST(Xenstore, PermissionsAreEnforcedByXenstored) {
    xsd.set("/vm", "", {{XsPerm::none, 0}});
    xsd.set("/vm/secret", "x", {{XsPerm::none, 0}});
    xsd.set("/vm/public", "y", {{XsPerm::read, 0}});
    CHECK_EQUAL(Err::access, ops.read("/vm/secret", buf).error());
    STRCMP_EQUAL("y", str(ops.read("/vm/public", buf)).c_str());
    CHECK_EQUAL(Err::access, ops.write("/vm/public", "z").error());
    CHECK_EQUAL(Err::access, ops.write("/vm/new", "z").error());
    const XsPerm mine[] = {{XsPerm::both, 1}};
    CHECK_EQUAL(Err::access, ops.set_perms("/vm/public", mine).error());
}

TEST(Xenstore, ErrorRepliesBecomeErrValues) {
    const std::pair<const char*, Err> cases[] = {
        {"ENOENT", Err::not_found}, {"EACCES", Err::access}, {"EAGAIN", Err::again},
        {"EQUOTA", Err::quota},     {"ENOSPC", Err::no_space}, {"E2BIG", Err::too_big},
        {"EBUSY", Err::busy},       {"EROFS", Err::read_only}, {"EEXIST", Err::exists},
        {"EINVAL", Err::invalid},   {"ENOSYS", Err::not_implemented},
        {"EGIBBERISH", Err::protocol},
    };
    for (const auto& [name, err] : cases) {
        xsd.error_replies.push_back(name);
        CHECK_EQUAL(err, ops.write("/local/domain/1/k", "v").error());
    }
    CHECK_FALSE(client.failed());
    CHECK_FALSE(xsd.exists("/local/domain/1/k"));  // the fake did not run them
    CHECK(ops.write("/local/domain/1/k", "v").ok());
}

TEST(Xenstore, PathsAndValuesAreCheckedBeforeAnythingIsSent) {
    CHECK_EQUAL(Err::invalid, ops.read("", buf).error());
    CHECK_EQUAL(Err::invalid, ops.read(std::string("/a\0b", 4), buf).error());
    CHECK_EQUAL(Err::name_too_long, ops.read(std::string(XENSTORE_ABS_PATH_MAX + 1, '/'), buf).error());
    CHECK_EQUAL(Err::name_too_long, ops.write(std::string(XENSTORE_REL_PATH_MAX + 1, 'a'), "v").error());
    CHECK_EQUAL(Err::too_big, ops.write("/local/domain/1/v", std::string(XENSTORE_PAYLOAD_MAX, 'v')).error());
    LONGS_EQUAL(0, (long)xsd.requests.size());
    CHECK(ops.read(std::string(XENSTORE_ABS_PATH_MAX, '/'), buf).error() != Err::name_too_long);  // N is fine
    CHECK(ops.write("/local/domain/1/v", std::string(XENSTORE_PAYLOAD_MAX - 18, 'v')).ok());  // exactly fits
    CHECK_EQUAL(Err::too_big, ops.write("/local/domain/1/v", std::string(XENSTORE_PAYLOAD_MAX - 17, 'v')).error());
}

TEST(Xenstore, ReadsStrictUnsignedNumbers) {
    xsd.set("/local/domain/1/base", "33554432");
    xsd.set("/local/domain/1/hex", "0x2000000");
    xsd.set("/local/domain/1/neg", "-1");
    xsd.set("/local/domain/1/huge", "18446744073709551616");
    xsd.set("/local/domain/1/long", std::string(200, '1'));
    UNSIGNED_LONGLONGS_EQUAL(0x2000000, ops.read_unsigned("/local/domain/1/base").value());
    CHECK_EQUAL(Err::invalid, ops.read_unsigned("/local/domain/1/hex").error());
    UNSIGNED_LONGLONGS_EQUAL(0x2000000, ops.read_unsigned("/local/domain/1/hex", XsNumber::decimal_or_hex).value());
    CHECK_EQUAL(Err::invalid, ops.read_unsigned("/local/domain/1/neg").error());
    CHECK_EQUAL(Err::range, ops.read_unsigned("/local/domain/1/huge").error());
    CHECK_EQUAL(Err::range, ops.read_unsigned("/local/domain/1/long").error());
    CHECK_EQUAL(Err::not_found, ops.read_unsigned("/local/domain/1/none").error());
}

// ---- a xenstored that misbehaves ----------------------------------------------------------

TEST(Xenstore, NoReplyTimesOutAndTheClientStaysUsable) {
    xsd.set("/x", "1");
    client.set_timeout(1'000'000);
    xsd.never_reply = true;
    uint64_t before = xsd.clock_ns;
    CHECK_EQUAL(Err::timed_out, ops.read("/x", buf).error());
    CHECK(xsd.clock_ns - before >= 1'000'000);
    CHECK(xsd.clock_ns - before < 2'000'000);
    UNSIGNED_LONGS_EQUAL(1, client.stats().timeouts);
    xsd.never_reply = false;
    STRCMP_EQUAL("1", str(ops.read("/x", buf)).c_str());
}

TEST(Xenstore, ARequestTimesOutAtItsDeadlineNotBefore) {
    xsd.set("/x", "1");
    client.set_timeout(1'000'000);
    xsd.never_reply = true;
    bool called = false;
    auto done = [&](Status, std::string_view) { called = true; };
    CHECK(client.submit(XS_READ, xen::no_tx, read_x, Xenstore::Completion::ref(done)).ok());
    rig.settle();
    xsd.clock_ns = 999'999;
    rig.timers.run_expired(xsd.clock_ns);
    CHECK_FALSE(called);
    xsd.clock_ns = 1'000'000;
    rig.timers.run_expired(xsd.clock_ns);
    CHECK(called);
}

TEST(Xenstore, ALateReplyIsDiscardedNotMisattributed) {
    xsd.set("/a", "AAA");
    xsd.set("/b", "BBB");
    client.set_timeout(1'000'000);
    xsd.hold_replies = true;
    CHECK_EQUAL(Err::timed_out, ops.read("/a", buf).error());
    xsd.hold_replies = false;
    xsd.release_held();  // "AAA" arrives now, ahead of the next reply
    STRCMP_EQUAL("BBB", str(ops.read("/b", buf)).c_str());
    UNSIGNED_LONGS_EQUAL(1, client.stats().discarded_replies);
}

TEST(Xenstore, ALateErrorReplyIsDiscardedToo) {
    xsd.set("/b", "BBB");
    client.set_timeout(1'000'000);
    xsd.hold_replies = true;
    CHECK_EQUAL(Err::timed_out, ops.read("/missing", buf).error());
    xsd.hold_replies = false;
    xsd.release_held();  // ENOENT for the old request
    STRCMP_EQUAL("BBB", str(ops.read("/b", buf)).c_str());
}

TEST(Xenstore, AReplyWithAnotherReqIdIsIgnored) {
    xsd.set("/x", "1");
    client.set_timeout(1'000'000);
    xsd.wrong_req_id_replies = 1;
    CHECK_EQUAL(Err::timed_out, ops.read("/x", buf).error());
    UNSIGNED_LONGS_EQUAL(1, client.stats().discarded_replies);
    STRCMP_EQUAL("1", str(ops.read("/x", buf)).c_str());
}

TEST(Xenstore, AReplyOfAnotherTypeIsIgnored) {
    xsd.set("/x", "1");
    client.set_timeout(1'000'000);
    xsd.wrong_type_replies = 1;
    CHECK_EQUAL(Err::timed_out, ops.read("/x", buf).error());
    UNSIGNED_LONGS_EQUAL(1, client.stats().discarded_replies);
}

TEST(Xenstore, AStaleReplyAheadOfTheRealOneIsSkipped) {
    xsd.set("/x", "real");
    xsd.stale_before_reply = 1;
    STRCMP_EQUAL("real", str(ops.read("/x", buf)).c_str());
    UNSIGNED_LONGS_EQUAL(1, client.stats().discarded_replies);
}

TEST(Xenstore, AnOversizedReplyBreaksTheConnectionAndTheClientReconnects) {
    xsd.set("/x", "1");
    xsd.page.server_features = XENSTORE_SERVER_FEATURE_RECONNECTION;
    xsd.oversized_next_reply = true;
    CHECK_EQUAL(Err::protocol, ops.read("/x", buf).error());
    rig.settle();
    LONGS_EQUAL(1, xsd.reconnects);
    UNSIGNED_LONGS_EQUAL(1, client.stats().reconnects);
    CHECK_FALSE(client.failed());
    STRCMP_EQUAL("1", str(ops.read("/x", buf)).c_str());
}

TEST(Xenstore, RequestsMadeWhileReconnectingAreRefusedWithoutTouchingTheRing) {
    xsd.page.server_features = XENSTORE_SERVER_FEATURE_RECONNECTION;
    xsd.oversized_next_reply = true;
    xsd.set("/x", "1");
    bool called = false;
    Status seen;
    auto done = [&](Status s, std::string_view) {
        seen = s;
        called = true;
    };
    CHECK(client.submit(XS_READ, xen::no_tx, read_x, Xenstore::Completion::ref(done)).ok());
    for (int i = 0; i < 100 && !called; ++i) {
        (void)client.poll();
        if (!called) xsd.serve();
    }
    CHECK(called);
    CHECK_EQUAL(Err::protocol, seen.error());
    CHECK_TRUE(client.failed());  // xenstored has not honoured the reconnection yet
    size_t sent = xsd.requests.size();
    CHECK_EQUAL(Err::protocol, client.submit(XS_READ, xen::no_tx, read_x, Xenstore::Completion::ref(done)).error());
    LONGS_EQUAL((long)sent, (long)xsd.requests.size());
    rig.settle();
    CHECK_FALSE(client.failed());
}

TEST(Xenstore, ABogusReplyProducerIndexIsAProtocolError) {
    xsd.set("/x", "1");
    xsd.on_serve = [&] { xsd.corrupt_rsp_prod(xsd.page.rsp_cons + XENSTORE_RING_SIZE + 1); };
    xsd.never_reply = true;
    CHECK_EQUAL(Err::protocol, ops.read("/x", buf).error());
    CHECK_TRUE(client.failed());
    xsd.on_serve = nullptr;
}

TEST(Xenstore, ABogusRequestConsumerIndexIsAProtocolError) {
    xsd.corrupt_req_cons(12345);
    CHECK_EQUAL(Err::protocol, ops.read("/x", buf).error());
    CHECK_TRUE(client.failed());
    LONGS_EQUAL(0, (long)xsd.requests.size());
}

TEST(Xenstore, GarbageBytesBreakTheStream) {
    xsd.set("/x", "1");
    xsd.inject_raw(std::string(16, '\xff'));  // a "header" with a 4 GiB length
    CHECK_EQUAL(Err::protocol, ops.read("/x", buf).error());
}

TEST(Xenstore, WithoutTheReconnectFeatureABrokenClientStaysBroken) {
    xsd.oversized_next_reply = true;
    CHECK_EQUAL(Err::protocol, ops.read("/x", buf).error());
    rig.settle();
    CHECK_TRUE(client.failed());
    LONGS_EQUAL(0, xsd.reconnects);
    CHECK_EQUAL(Err::protocol, ops.read("/x", buf).error());
}

TEST(Xenstore, EventsQueuedBeforeABreakInTheStreamAreStillDelivered) {
    Recorder rec;
    CHECK(client.watch("/local/domain/1/w", "t", rec.callback()).ok());
    rig.settle();
    rec.calls.clear();
    xsd.inject_event("/local/domain/1/w/a", "t");
    xsd.inject_raw(std::string(16, '\xff'));
    xsd.serve();
    (void)client.poll();
    CHECK(rec.saw("/local/domain/1/w/a", "t"));  // what came before the garbage still ran
    CHECK_TRUE(client.failed());
}

TEST(Xenstore, AServerReportedErrorMeansNotConnected) {
    xsd.page.server_features = XENSTORE_SERVER_FEATURE_ERROR;
    xsd.page.error = XENSTORE_ERROR_COMM;
    CHECK_EQUAL(Err::not_connected, ops.read("/x", buf).error());
    LONGS_EQUAL(0, (long)xsd.requests.size());
}

TEST(Xenstore, AServerReportedErrorIsHealedByReconnecting) {
    xsd.page.server_features = XENSTORE_SERVER_FEATURE_ERROR | XENSTORE_SERVER_FEATURE_RECONNECTION;
    xsd.set("/x", "1");
    Recorder rec;
    CHECK(client.watch("/local/domain/1/w", "t", rec.callback()).ok());
    rig.settle();
    xsd.page.error = XENSTORE_ERROR_COMM;
    rig.settle();
    LONGS_EQUAL(1, xsd.reconnects);
    UNSIGNED_LONGS_EQUAL(XENSTORE_ERROR_NONE, xsd.page.error);
    STRCMP_EQUAL("1", str(ops.read("/x", buf)).c_str());
    CHECK(xsd.has_watch("/local/domain/1/w", "t"));
}

TEST(Xenstore, AHalfSentRequestFinishesBeforeTheNextOne) {
    // xenstored stops consuming mid-request: it times out with its tail still staged.
    client.set_timeout(1'000'000);
    std::string big(3000, 'x');
    xsd.frozen = true;
    CHECK_EQUAL(Err::timed_out, ops.write("/local/domain/1/big", big).error());
    UNSIGNED_LONGS_EQUAL(1, client.stats().timeouts);
    CHECK_FALSE(ring.tx_idle());
    // xenstored wakes up: the old tail goes out first (the stream stays framed), then the read.
    xsd.frozen = false;
    xsd.set("/local/domain/1/after", "a");
    STRCMP_EQUAL("a", str(ops.read("/local/domain/1/after", buf)).c_str());
    CHECK(*xsd.get("/local/domain/1/big") == big);
    LONGS_EQUAL(2, (long)xsd.requests.size());
    UNSIGNED_LONGS_EQUAL(1, client.stats().discarded_replies);  // the write's late OK
}

TEST(Xenstore, ARequestThatNeverLeftIsDroppedOnTimeout) {
    client.set_timeout(1'000'000);
    xsd.frozen = true;
    // 16 + 18 + 990 bytes: the first request fills the ring exactly and goes out whole.
    CHECK_EQUAL(Err::timed_out, ops.write("/local/domain/1/a", std::string(990, 'x')).error());
    CHECK_TRUE(ring.tx_idle());
    // The second is staged but never gets a byte in: dropped, so it cannot run later.
    CHECK_EQUAL(Err::timed_out, ops.write("/local/domain/1/b", "b").error());
    CHECK_TRUE(ring.tx_idle());
    xsd.frozen = false;
    CHECK(ops.write("/local/domain/1/c", "c").ok());
    CHECK(xsd.exists("/local/domain/1/a"));
    CHECK_FALSE(xsd.exists("/local/domain/1/b"));
    CHECK(xsd.exists("/local/domain/1/c"));
}

TEST(Xenstore, AQueuedRequestThatTimesOutNeverGoesOut) {
    client.set_timeout(1'000'000);
    xsd.frozen = true;
    std::function<void(Status, std::string_view)> ignore = [](Status, std::string_view) {};
    const std::string big(2000, 'x');
    const std::string_view a[] = {"/local/domain/1/a", std::string_view("\0", 1), big};
    const std::string_view b[] = {"/local/domain/1/b", std::string_view("\0", 1), big};
    const std::string_view c[] = {"/local/domain/1/c", std::string_view("\0", 1), "c"};
    CHECK(client.submit(XS_WRITE, xen::no_tx, a, Xenstore::Completion::ref(ignore)).ok());  // half in the ring
    CHECK(client.submit(XS_WRITE, xen::no_tx, b, Xenstore::Completion::ref(ignore)).ok());  // queued
    CHECK(client.submit(XS_WRITE, xen::no_tx, c, Xenstore::Completion::ref(ignore)).ok());  // queued
    rig.run_until([&] { return client.outstanding() == 0; });
    UNSIGNED_LONGS_EQUAL(3, client.stats().timeouts);
    xsd.frozen = false;
    rig.settle();
    CHECK(xsd.exists("/local/domain/1/a"));  // had started: must finish to keep the stream framed
    CHECK_FALSE(xsd.exists("/local/domain/1/b"));
    CHECK_FALSE(xsd.exists("/local/domain/1/c"));
}

// ---- watches ------------------------------------------------------------------------------

TEST(Xenstore, AWatchFiresOnceUpFrontAndOnChangesBelowItsPath) {
    Recorder rec;
    CHECK(client.watch("/local/domain/1/backend", "be", rec.callback()).ok());
    LONGS_EQUAL(0, (long)rec.calls.size());  // nothing runs before poll()
    rig.settle();
    CHECK(xsd.has_watch("/local/domain/1/backend", "be"));
    CHECK(xsd.requests.back().payload == std::string("/local/domain/1/backend\0be\0", 27));
    CHECK(ops.write("/local/domain/1/backend/vbd/5/state", "2").ok());
    rig.settle();
    LONGS_EQUAL(2, (long)rec.calls.size());
    CHECK(rec.calls[0] == std::make_pair(std::string("/local/domain/1/backend"), std::string("be")));
    CHECK(rec.calls[1] == std::make_pair(std::string("/local/domain/1/backend/vbd/5/state"), std::string("be")));
    rig.settle();
    LONGS_EQUAL(2, (long)rec.calls.size());
}

TEST(Xenstore, EventsThatArriveWhileIdleArePickedUpByPoll) {
    Recorder rec;
    CHECK(client.watch("/local/domain/1/x", "t", rec.callback()).ok());
    rig.settle();
    rec.calls.clear();
    xsd.inject_event("/local/domain/1/x/y", "t");
    xsd.serve();  // xenstored writes it into the ring and notifies
    CHECK(client.poll());
    LONGS_EQUAL(1, (long)rec.calls.size());
    CHECK(rec.saw("/local/domain/1/x/y", "t"));
}

TEST(Xenstore, AWatchStormIsServedInBoundedSlicesAndOtherWatchesStayQuiet) {
    Recorder rec;
    Recorder quiet;
    CHECK(client.watch("/local/domain/1/storm", "s", rec.callback()).ok());
    CHECK(client.watch("/local/domain/1/calm", "c", quiet.callback()).ok());
    rig.settle();
    rec.calls.clear();
    xsd.watch_storm("/local/domain/1/storm", "s", 500);
    xsd.set("/x", "1");
    // A request behind the storm still completes; each poll serves at most one ring's worth.
    size_t most_per_poll = 0;
    bool answered = false;
    auto done = [&](Status s, std::string_view) { answered = s.ok(); };
    CHECK(client.submit(XS_READ, xen::no_tx, read_x, Xenstore::Completion::ref(done)).ok());
    for (int i = 0; i < 1000 && (rec.calls.size() < 500 || !answered); ++i) {
        size_t before = rec.calls.size();
        (void)client.poll();
        most_per_poll = std::max(most_per_poll, rec.calls.size() - before);
        xsd.serve();
    }
    LONGS_EQUAL(500, (long)rec.calls.size());
    CHECK(answered);
    CHECK(most_per_poll <= Xenstore::event_queue_capacity);
    UNSIGNED_LONGS_EQUAL(0, client.stats().events_dropped);
    LONGS_EQUAL(1, (long)quiet.calls.size());  // its initial event only
}

TEST(Xenstore, AnEventPathTooLongToQueueCountsAsMissed) {
    Recorder rec;
    CHECK(client.watch("/local/domain/1/w", "t", rec.callback()).ok());
    rig.settle();
    rec.calls.clear();
    xsd.inject_event("/local/domain/1/w/" + std::string(Xenstore::max_event_path, 'p'), "t");
    rig.settle();
    LONGS_EQUAL(1, (long)rec.calls.size());
    CHECK(rec.saw("/local/domain/1/w", "t"));
    UNSIGNED_LONGS_EQUAL(1, client.stats().events_dropped);
}

TEST(Xenstore, EventsForUnknownTokensOrMalformedAreDropped) {
    Recorder rec;
    CHECK(client.watch("/local/domain/1/w", "t", rec.callback()).ok());
    rig.settle();
    rec.calls.clear();
    xsd.inject_event("/local/domain/1/w", "someone-else");
    xsd.inject_message({XS_WATCH_EVENT, 0, 0, "no-separator"});
    xsd.inject_message({XS_WATCH_EVENT, 0, 0, std::string("\0t\0", 3)});
    rig.settle();
    LONGS_EQUAL(0, (long)rec.calls.size());
    UNSIGNED_LONGS_EQUAL(1, client.stats().events_unknown);
    UNSIGNED_LONGS_EQUAL(2, client.stats().events_malformed);
}

TEST(Xenstore, UnwatchStopsCallbacksAndDropsQueuedEvents) {
    Recorder rec;
    CHECK(client.watch("/local/domain/1/w", "t", rec.callback()).ok());
    rig.settle();
    rec.calls.clear();
    xsd.inject_event("/local/domain/1/w/a", "t");
    xsd.serve();
    CHECK(client.unwatch("t").ok());
    rig.settle();
    CHECK_FALSE(xsd.has_watch("/local/domain/1/w", "t"));
    CHECK(xsd.requests.back().payload == std::string("/local/domain/1/w\0t\0", 20));
    CHECK(ops.write("/local/domain/1/w/b", "1").ok());
    rig.settle();
    LONGS_EQUAL(0, (long)rec.calls.size());
    CHECK_EQUAL(Err::not_found, client.unwatch("t").error());
}

TEST(Xenstore, ATokenSlotReusedAfterUnwatchGetsNoStaleEvents) {
    Recorder old_rec, new_rec;
    CHECK(client.watch("/local/domain/1/w", "t", old_rec.callback()).ok());
    CHECK(client.unwatch("t").ok());
    CHECK(client.watch("/local/domain/1/v", "t", new_rec.callback()).ok());
    rig.settle();
    LONGS_EQUAL(0, (long)old_rec.calls.size());
    CHECK(new_rec.saw("/local/domain/1/v", "t"));
}

TEST(Xenstore, WatchArgumentsAndCapacityAreChecked) {
    Recorder rec;
    CHECK(client.watch("/local/domain/1/w", "t", rec.callback()).ok());
    CHECK_EQUAL(Err::exists, client.watch("/local/domain/1/other", "t", rec.callback()).error());
    CHECK_EQUAL(Err::invalid, client.watch("/local/domain/1/w", "", rec.callback()).error());
    CHECK_EQUAL(Err::invalid, client.watch("/local/domain/1/w", "u", Xenstore::WatchCallback()).error());
    CHECK_EQUAL(Err::name_too_long,
                client.watch("/local/domain/1/" + std::string(Xenstore::max_watch_path, 'p'), "u", rec.callback()).error());
    CHECK_EQUAL(Err::name_too_long,
                client.watch("/local/domain/1/w", std::string(Xenstore::max_token + 1, 'k'), rec.callback()).error());
    CHECK(client.watch("/local/domain/1/w", std::string(Xenstore::max_token, 'k'), rec.callback()).ok());  // N fits
    for (size_t i = 2; i < Xenstore::max_watches; ++i)
        CHECK(client.watch("/local/domain/1/w", "t" + std::to_string(i), rec.callback()).ok());
    CHECK_EQUAL(Err::no_space, client.watch("/local/domain/1/w", "full", rec.callback()).error());
    rig.settle();
}

TEST(Xenstore, ARefusedWatchIsCounted) {
    Recorder rec;
    xsd.error_replies.push_back("EACCES");
    CHECK(client.watch("/local/domain/1/w", "t", rec.callback()).ok());
    rig.settle();
    UNSIGNED_LONGS_EQUAL(1, client.stats().watch_failures);
    CHECK_FALSE(xsd.has_watch("/local/domain/1/w", "t"));
    CHECK(client.unwatch("t").ok());
}

TEST(Xenstore, ACallbackMayStartAConversationAndUnwatchItself) {
    xsd.set("/local/domain/1/fe/state", "4");
    std::string seen;
    int calls = 0;
    Job job;
    char value[16];
    auto read_state = [&]() -> Task<Status> {
        auto v = co_await client.read("/local/domain/1/fe/state", value);
        seen = v.ok() ? std::string(v.value()) : "error";
        co_return ok_status();
    };
    auto on_change = [&](std::string_view, std::string_view token) {
        ++calls;
        job.start(read_state());
        CHECK(client.unwatch(token).ok());
    };
    CHECK(client.watch("/local/domain/1/fe", "fe", Xenstore::WatchCallback::ref(on_change)).ok());
    xsd.set("/local/domain/1/fe/state", "5");
    xsd.inject_event("/local/domain/1/fe/state", "fe");  // a second queued event
    rig.settle();
    LONGS_EQUAL(1, calls);
    STRCMP_EQUAL("5", seen.c_str());
    CHECK_FALSE(xsd.has_watch("/local/domain/1/fe", "fe"));
}

TEST(Xenstore, EventsCausedByACallbackWaitForALaterPoll) {
    std::vector<int> delivered_at;  // the rig step of each call
    auto echo = [&](std::string_view, std::string_view) {
        delivered_at.push_back(rig.steps);
        if (delivered_at.size() == 1) client.write_detached("/local/domain/1/loop/x", "1");
    };
    CHECK(client.watch("/local/domain/1/loop", "l", Xenstore::WatchCallback::ref(echo)).ok());
    rig.run_until([&] { return delivered_at.size() >= 2; }, 50);
    CHECK(client.unwatch("l").ok());
    rig.settle();
    LONGS_EQUAL(2, (long)delivered_at.size());
    CHECK(delivered_at[1] > delivered_at[0]);
}

TEST(Xenstore, PollIsNotReentrantFromACallback) {
    bool inner = true;
    auto nested = [&](std::string_view, std::string_view) { inner = client.poll(); };
    CHECK(client.watch("/local/domain/1/n", "n", Xenstore::WatchCallback::ref(nested)).ok());
    rig.settle();
    CHECK_FALSE(inner);
    CHECK(client.unwatch("n").ok());
}

TEST(Xenstore, ReconnectResetsWatchesRegistersThemAgainAndTellsThemToReRead) {
    xsd.page.server_features = XENSTORE_SERVER_FEATURE_RECONNECTION;
    Recorder rec;
    CHECK(client.watch("/local/domain/1/w", "t", rec.callback()).ok());
    rig.settle();
    rec.calls.clear();
    xsd.inject_raw(std::string(16, '\xff'));  // the stream breaks
    rig.settle();
    LONGS_EQUAL(1, xsd.reconnects);
    bool reset_sent = false;
    for (const auto& r : xsd.requests) reset_sent |= r.type == XS_RESET_WATCHES;
    CHECK(reset_sent);
    CHECK(xsd.has_watch("/local/domain/1/w", "t"));
    CHECK(rec.saw("/local/domain/1/w", "t"));
}

// ---- transactions -------------------------------------------------------------------------

TEST(Xenstore, TransactionsCommitOrAbort) {
    XsTx tx = ops.transaction_start().value();
    CHECK(tx.id != 0);
    CHECK(ops.write("/local/domain/1/t", "1", tx).ok());
    UNSIGNED_LONGS_EQUAL(tx.id, xsd.requests.back().tx_id);
    CHECK_FALSE(xsd.exists("/local/domain/1/t"));
    STRCMP_EQUAL("1", str(ops.read("/local/domain/1/t", buf, tx)).c_str());
    CHECK(ops.transaction_end(tx, true).ok());
    STRCMP_EQUAL("1", xsd.get("/local/domain/1/t")->c_str());

    tx = ops.transaction_start().value();
    CHECK(ops.write("/local/domain/1/t", "2", tx).ok());
    CHECK(ops.transaction_end(tx, false).ok());
    STRCMP_EQUAL("1", xsd.get("/local/domain/1/t")->c_str());
    LONGS_EQUAL(0, (long)xsd.open_transactions());
    CHECK_EQUAL(Err::invalid, ops.transaction_end(xen::no_tx, true).error());
}

TEST(Xenstore, AConflictingCommitIsEagain) {
    XsTx tx = ops.transaction_start().value();
    CHECK(ops.write("/local/domain/1/t", "mine", tx).ok());
    CHECK(ops.write("/local/domain/1/other", "theirs").ok());  // outside, meanwhile
    CHECK_EQUAL(Err::again, ops.transaction_end(tx, true).error());
    CHECK_FALSE(xsd.exists("/local/domain/1/t"));
}

TEST(Xenstore, ABogusTransactionIdIsRejected) {
    for (const char* bad : {"0", "-3", "4294967296", "12x", ""}) {
        std::string payload = std::string(bad) + '\0';
        xsd.reply_filter = [payload](FakeXenstored::Message& m) { m.payload = payload; };
        CHECK_EQUAL(Err::protocol, ops.transaction_start().error());
    }
}

TEST(Xenstore, TheTransactionHelperRetriesOnEagain) {
    xsd.eagain_commits = 2;
    int runs = 0;
    auto body = [&](XsTx tx) -> Task<Status> {
        ++runs;
        Status s = co_await client.write("/local/domain/1/backend/state", "2", tx);
        if (!s.ok()) co_return s;
        co_return co_await client.write("/local/domain/1/backend/ready", "1", tx);
    };
    auto status = rig.run(client.transaction(Xenstore::TransactionBody::ref(body)));
    CHECK(status.ok());
    LONGS_EQUAL(3, runs);
    STRCMP_EQUAL("2", xsd.get("/local/domain/1/backend/state")->c_str());
    LONGS_EQUAL(0, (long)xsd.open_transactions());
}

TEST(Xenstore, TheTransactionHelperGivesUpAfterBoundedAttempts) {
    xsd.eagain_commits = 100;
    int runs = 0;
    auto body = [&](XsTx tx) -> Task<Status> {
        ++runs;
        co_return co_await client.write("/local/domain/1/x", "1", tx);
    };
    auto status = rig.run(client.transaction(Xenstore::TransactionBody::ref(body), 4));
    CHECK_EQUAL(Err::again, status.error());
    LONGS_EQUAL(4, runs);
    CHECK_FALSE(xsd.exists("/local/domain/1/x"));
}

TEST(Xenstore, ABodyErrorAbortsTheTransaction) {
    int runs = 0;
    auto body = [&](XsTx tx) -> Task<Status> {
        ++runs;
        Status s = co_await client.write("/local/domain/1/x", "1", tx);
        if (!s.ok()) co_return s;
        co_return Err::invalid;
    };
    auto status = rig.run(client.transaction(Xenstore::TransactionBody::ref(body)));
    CHECK_EQUAL(Err::invalid, status.error());
    LONGS_EQUAL(1, runs);
    CHECK_FALSE(xsd.exists("/local/domain/1/x"));
    LONGS_EQUAL(0, (long)xsd.open_transactions());
    CHECK(xsd.requests.back().payload == std::string("F\0", 2));
}

// ---- torture ------------------------------------------------------------------------------

namespace {

// A xenstored that is right sometimes: each turn it may answer properly, garble the reply,
// inject random messages (some with plausible req_ids), spray garbage, set random indices or
// report a broken connection.
class Chaos {
public:
    Chaos(FakeXenstored& xsd, uint64_t seed) : xsd_(xsd), rng_(seed) {
        xsd_.reply_filter = [this](FakeXenstored::Message& m) {
            if (calm || pick(4) != 0) return;
            switch (pick(5)) {
                case 0: m.payload = random_bytes(pick(64)); break;
                case 1: m.type = static_cast<uint32_t>(pick(XS_TYPE_COUNT + 2)); break;
                case 2: m.req_id += static_cast<uint32_t>(pick(3)) - 1; break;
                case 3: m.payload = std::string("E") + random_bytes(pick(8)) + '\0'; m.type = XS_ERROR; break;
                default: m.payload.resize(pick(8)); break;
            }
        };
        xsd_.on_serve = [this] { turn(); };
    }
    ~Chaos() {
        xsd_.reply_filter = nullptr;
        xsd_.on_serve = nullptr;
    }

    void turn() {
        if (calm) return;
        xsd_.frozen = pick(16) == 0;  // silence for a turn
        switch (pick(16)) {
            case 0: xsd_.inject_raw(random_bytes(1 + pick(40))); break;
            case 1: xsd_.corrupt_rsp_prod(static_cast<uint32_t>(rng_())); break;
            case 2: xsd_.corrupt_req_cons(static_cast<uint32_t>(rng_())); break;
            case 3: {
                uint32_t last = xsd_.requests.empty() ? 0 : xsd_.requests.back().req_id;
                uint32_t type = pick(2) ? static_cast<uint32_t>(pick(XS_TYPE_COUNT)) : uint32_t{XS_WATCH_EVENT};
                uint32_t len = pick(8) ? static_cast<uint32_t>(pick(300)) : static_cast<uint32_t>(pick(XENSTORE_PAYLOAD_MAX + 1));
                xsd_.inject_message({type, last + static_cast<uint32_t>(pick(3)), 0, random_bytes(len)});
                break;
            }
            case 4: xsd_.watch_storm("/local/domain/1/w", pick(2) ? "t0" : "t1", static_cast<int>(pick(200))); break;
            case 5: xsd_.inject_event(random_path(), "t" + std::to_string(pick(4))); break;
            case 6: xsd_.page.rsp[pick(XENSTORE_RING_SIZE)] = static_cast<char>(rng_()); break;
            case 7: xsd_.page.error = pick(4) ? XENSTORE_ERROR_NONE : XENSTORE_ERROR_COMM; break;
            default: break;
        }
        xsd_.bytes_per_process = pick(4) ? SIZE_MAX : 1 + pick(64);
    }

    size_t pick(size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng_() % n); }
    std::string random_bytes(size_t n) {
        std::string s(n, '\0');
        for (auto& c : s) c = pick(3) ? static_cast<char>('a' + pick(26)) : static_cast<char>(rng_());
        return s;
    }
    std::string random_path() {
        static const char* const paths[] = {"/local/domain/1/w", "/local/domain/1/w/a", "/local/domain/1/v",
                                            "/local/domain/1/n", "/vm", "w", "/"};
        return paths[pick(std::size(paths))];
    }

    bool calm = false;  // an honest xenstored from now on

private:
    FakeXenstored& xsd_;
    std::mt19937_64 rng_;
};

}  // namespace

TEST_GROUP(XenstoreTorture) {
    void teardown() override { LONGS_EQUAL(0, (long)coroutine_pool().stats().in_use); }
};

TEST(XenstoreTorture, ARandomPeerGetsOnlyErrorsNeverACrashOrAHang) {
    for (uint64_t seed : {1u, 2u, 3u, 0xd0d0u}) {
        XenstoreRig rig;
        FakeXenstored& xsd = rig.xsd;
        Xenstore& client = rig.client;
        xsd.page.server_features = XENSTORE_SERVER_FEATURE_RECONNECTION | XENSTORE_SERVER_FEATURE_ERROR;
        ClientOps ops{rig, client};
        client.set_timeout(50'000);
        std::mt19937_64 dice(seed * 7919);
        int callbacks = 0;
        auto on_event = [&](std::string_view path, std::string_view token) {
            ++callbacks;
            CHECK(!path.empty() && path.size() <= Xenstore::max_event_path);
            CHECK(!token.empty() && token.size() <= Xenstore::max_token);
            if (dice() % 8 == 0) (void)client.unwatch(token);
            client.write_detached("/local/domain/1/w/seen", "1");
        };
        auto callback = Xenstore::WatchCallback::ref(on_event);
        auto body = [&](XsTx tx) -> Task<Status> {
            Status s = co_await client.mkdir("/local/domain/1/w/tx", tx);
            if (!s.ok()) co_return s;
            co_return co_await client.write("/local/domain/1/w/tx/k", "v", tx);
        };
        int ok = 0, failed = 0;
        std::map<Err, int> errors;
        {
            Chaos chaos(xsd, seed);
            for (int i = 0; i < 2000; ++i) {
                uint64_t started = xsd.clock_ns;
                int steps = rig.steps;
                char small[16];
                char big[512];
                XsPerm perms[3];
                Status status;
                switch (dice() % 12) {
                    case 0: {
                        auto r = ops.read("/local/domain/1/w", (dice() & 1) ? std::span<char>(small) : std::span<char>(big));
                        if (r.ok()) CHECK(r.value().size() <= sizeof big && (r.value().data() == small || r.value().data() == big));
                        status = r.ok() ? Status() : Status(r.error());
                        break;
                    }
                    case 1: status = ops.write("/local/domain/1/w/" + std::to_string(dice() % 5), std::string(dice() % 2000, 'x')); break;
                    case 2: {
                        auto d = ops.directory("/local/domain/1", big);
                        if (d.ok())
                            for (auto name : d.value()) CHECK(!name.empty() && name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos);
                        status = d.ok() ? Status() : Status(d.error());
                        break;
                    }
                    case 3: {
                        auto n = ops.get_perms("/local/domain/1/w", perms);
                        if (n.ok()) CHECK(n.value() >= 1 && n.value() <= 3);
                        status = n.ok() ? Status() : Status(n.error());
                        break;
                    }
                    case 4: {
                        const XsPerm p[] = {{XsPerm::none, 1}, {XsPerm::read, static_cast<uint16_t>(dice())}};
                        status = ops.set_perms("/local/domain/1/w", p);
                        break;
                    }
                    case 5: status = client.watch("/local/domain/1/w", "t" + std::to_string(dice() % 4), callback); break;
                    case 6: status = client.unwatch("t" + std::to_string(dice() % 4)); break;
                    case 7: {
                        auto v = ops.read_unsigned("/local/domain/1/w", XsNumber::decimal_or_hex);
                        status = v.ok() ? Status() : Status(v.error());
                        break;
                    }
                    case 8: status = rig.run(client.transaction(Xenstore::TransactionBody::ref(body), 3)); break;
                    case 9:
                    case 10: rig.step(); break;
                    default: status = ops.rm("/local/domain/1/w/" + std::to_string(dice() % 5)); break;
                }
                // Bounded: an operation (a transaction is at most 3 x 4 requests) finishes by
                // its requests' deadlines, in a bounded number of loop passes.
                CHECK(xsd.clock_ns - started <= 12 * 50'000);
                CHECK(rig.steps - steps < 5000);
                CHECK(client.queued_watch_events() <= Xenstore::event_queue_capacity);
                if (status.ok()) {
                    ++ok;
                } else {
                    ++failed;
                    ++errors[status.error()];
                }
            }
            chaos.calm = true;
        }
        LONGS_EQUAL(0, rig.unfinished_runs);
        // The run exercised both sides: successes and every kind of breakage.
        CHECK(ok > 100);
        CHECK(failed > 100);
        CHECK(client.stats().reconnects > 10);
        CHECK(errors[Err::protocol] > 0);
        CHECK(errors[Err::timed_out] > 0);
        CHECK(callbacks > 0);
        CHECK(client.stats().discarded_replies > 0);
        CHECK(client.stats().events_unknown + client.stats().events_malformed > 0);

        // Once xenstored behaves again, the client heals by itself.
        xsd.frozen = false;
        xsd.bytes_per_process = SIZE_MAX;
        xsd.page.error = XENSTORE_ERROR_NONE;
        rig.settle();
        CHECK_FALSE(client.failed());
        // The last chaotic turn may have left a bogus index in the page, which only the next
        // request finds: that request fails, the client reconnects, and all is well again.
        Status after = ops.write("/local/domain/1/after", "fine");
        if (!after.ok()) {
            CHECK_EQUAL(Err::protocol, after.error());
            rig.settle();
            after = ops.write("/local/domain/1/after", "fine");
        }
        CHECK(after.ok());
        char value[16];
        auto got = ops.read("/local/domain/1/after", value);
        CHECK(got.ok() && got.value() == "fine");
        CHECK(client.watch("/local/domain/1/after", "final", callback).ok());
        int before = callbacks;
        rig.settle();
        CHECK(callbacks > before);
        for (int t = 0; t < 4; ++t) (void)client.unwatch("t" + std::to_string(t));
        (void)client.unwatch("final");
        rig.settle();
    }
}

TEST(Xenstore, WatchesBeyondTheFreeRequestSlotsAreRegisteredAsSlotsFree) {
    std::function<void(Status, std::string_view)> ignore = [](Status, std::string_view) {};
    xsd.frozen = true;  // every request slot taken and stuck for now
    for (size_t i = 0; i < Xenstore::max_requests; ++i)
        CHECK(client.submit(XS_READ, xen::no_tx, read_x, Xenstore::Completion::ref(ignore)).ok());
    Recorder rec;
    CHECK(client.watch("/local/domain/1/late", "late", rec.callback()).ok());
    CHECK_FALSE(xsd.has_watch("/local/domain/1/late", "late"));
    xsd.frozen = false;
    rig.settle();
    CHECK(xsd.has_watch("/local/domain/1/late", "late"));
    CHECK(rec.saw("/local/domain/1/late", "late"));
    CHECK(client.unwatch("late").ok());
}
