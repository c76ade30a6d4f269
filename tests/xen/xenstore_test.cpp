// The xenstore client against a fake xenstored (docs/misc/xenstore.txt): requests and
// replies, error strings, watches and their queue, transactions, strict parsing of
// xenstore text, and a xenstored that lies, stalls, floods or scribbles.
#include "tests/test_support.h"

#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "tests/fakes/fake_xenstored.h"
#include "xen/xenstore.h"

using namespace domd;
using domd::test::FakeXenstored;
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

TEST_GROUP(Xenstore) {
    FakeXenstored xsd;  // client is domain 1; /local/domain/1 is its own
    XenstoreRing ring{xsd.page, xsd};
    Xenstore client{ring, xsd};
    char buf[256];
};

TEST(Xenstore, ReadsAValueIntoTheCallersBuffer) {
    xsd.set("/local/domain/1/name", "domd");
    auto value = client.read("/local/domain/1/name", buf);
    STRCMP_EQUAL("domd", str(std::move(value)).c_str());
    const auto& req = xsd.requests.back();
    UNSIGNED_LONGS_EQUAL(XS_READ, req.type);
    CHECK(req.payload == std::string("/local/domain/1/name\0", 21));
    CHECK(xsd.notifications >= 1);
}

TEST(Xenstore, RelativePathsAreTheDomainsOwn) {
    xsd.set("/local/domain/1/domid", "1");
    UNSIGNED_LONGLONGS_EQUAL(1, client.read_unsigned("domid").value());
}

TEST(Xenstore, EachRequestCarriesAFreshReqId) {
    xsd.set("/x", "1");
    CHECK(client.read("/x", buf).ok());
    CHECK(client.read("/x", buf).ok());
    CHECK(xsd.requests[0].req_id != xsd.requests[1].req_id);
    UNSIGNED_LONGS_EQUAL(0, xsd.requests[0].tx_id);
}

TEST(Xenstore, AValueLargerThanTheBufferIsOverflowAndTheReplyIsStillConsumed) {
    xsd.set("/local/domain/1/big", std::string(100, 'b'));
    xsd.set("/local/domain/1/small", "s");
    char tiny[10];
    CHECK_EQUAL(Err::overflow, client.read("/local/domain/1/big", tiny).error());
    STRCMP_EQUAL("s", str(client.read("/local/domain/1/small", tiny)).c_str());
    UNSIGNED_LONGS_EQUAL(0, client.stats().discarded_replies);
}

TEST(Xenstore, ValuesLargerThanTheRingTravelBothWays) {
    std::string big(3000, '\0');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);  // binary, NULs too
    CHECK(client.write("/local/domain/1/blob", big).ok());
    CHECK(*xsd.get("/local/domain/1/blob") == big);
    std::vector<char> out(4096);
    auto value = client.read("/local/domain/1/blob", out);
    CHECK(std::string(value.value()) == big);
}

TEST(Xenstore, AReplyTrickledByteByByteIsReassembled) {
    xsd.set("/local/domain/1/slow", "patience");
    xsd.bytes_per_process = 1;
    STRCMP_EQUAL("patience", str(client.read("/local/domain/1/slow", buf)).c_str());
}

TEST(Xenstore, WriteMkdirAndRm) {
    CHECK(client.write("/local/domain/1/a/b/c", "v").ok());
    STRCMP_EQUAL("v", xsd.get("/local/domain/1/a/b/c")->c_str());
    CHECK(xsd.exists("/local/domain/1/a/b"));  // parents made on the way
    CHECK(client.mkdir("/local/domain/1/d").ok());
    STRCMP_EQUAL("", xsd.get("/local/domain/1/d")->c_str());
    CHECK(client.rm("/local/domain/1/a").ok());
    CHECK_FALSE(xsd.exists("/local/domain/1/a/b/c"));
    CHECK_EQUAL(Err::not_found, client.read("/local/domain/1/a/b/c", buf).error());
    const auto& req = xsd.requests.front();
    CHECK(req.payload == std::string("/local/domain/1/a/b/c\0v", 23));  // no NUL after the value
}

TEST(Xenstore, ListsADirectory) {
    xsd.set("/local/domain/1/device/vbd/51712", "");
    xsd.set("/local/domain/1/device/vbd/51728", "");
    xsd.set("/local/domain/1/device/vif/0", "");
    auto dir = client.directory("/local/domain/1/device/vbd", buf);
    CHECK(dir.ok());
    std::vector<std::string> names;
    dir.value().for_each([&](std::string_view name) { names.emplace_back(name); });
    CHECK((names == std::vector<std::string>{"51712", "51728"}));
    auto empty = client.directory("/local/domain/1/device/vif/0", buf);
    CHECK(empty.ok() && empty.value().empty() && empty.value().begin() == empty.value().end());
    char tiny[8];
    CHECK_EQUAL(Err::overflow, client.directory("/local/domain/1/device/vbd", tiny).error());
    CHECK_EQUAL(Err::not_found, client.directory("/local/domain/1/nothing", buf).error());
}

TEST(Xenstore, AMalformedDirectoryReplyIsRejected) {
    xsd.set("/local/domain/1/d/a", "");
    xsd.reply_filter = [](FakeXenstored::Message& m) { m.payload = std::string("ok\0../../etc\0", 13); };
    CHECK_EQUAL(Err::protocol, client.directory("/local/domain/1/d", buf).error());
    CHECK_FALSE(client.failed());  // a bad reply, not a broken stream
}

TEST(Xenstore, GetsAndSetsPermissions) {
    xsd.set("/local/domain/1/shared", "x");
    const XsPerm perms[] = {{XsPerm::none, 1}, {XsPerm::read, 5}, {XsPerm::both, 7}};
    CHECK(client.set_perms("/local/domain/1/shared", perms).ok());
    CHECK(xsd.requests.back().payload == std::string("/local/domain/1/shared\0n1\0r5\0b7\0", 32));
    XsPerm out[4];
    auto count = client.get_perms("/local/domain/1/shared", out);
    LONGS_EQUAL(3, (long)count.value());
    CHECK(out[0] == perms[0] && out[1] == perms[1] && out[2] == perms[2]);
    XsPerm one[1];
    CHECK_EQUAL(Err::overflow, client.get_perms("/local/domain/1/shared", one).error());
    CHECK_EQUAL(Err::invalid, client.set_perms("/local/domain/1/shared", std::span<const XsPerm>()).error());
    std::vector<XsPerm> many(Xenstore::max_set_perms + 1, XsPerm{XsPerm::read, 65535});
    CHECK_EQUAL(Err::too_big, client.set_perms("/local/domain/1/shared", many).error());
    many.pop_back();
    CHECK(client.set_perms("/local/domain/1/shared", many).ok());
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
        CHECK_EQUAL(Err::protocol, client.get_perms("/local/domain/1/p", out).error());
    }
}

TEST(Xenstore, PermissionsAreEnforcedByXenstored) {
    xsd.set("/vm", "", {{XsPerm::none, 0}});
    xsd.set("/vm/secret", "x", {{XsPerm::none, 0}});
    xsd.set("/vm/public", "y", {{XsPerm::read, 0}});
    CHECK_EQUAL(Err::access, client.read("/vm/secret", buf).error());
    STRCMP_EQUAL("y", str(client.read("/vm/public", buf)).c_str());
    CHECK_EQUAL(Err::access, client.write("/vm/public", "z").error());
    CHECK_EQUAL(Err::access, client.write("/vm/new", "z").error());
    const XsPerm mine[] = {{XsPerm::both, 1}};
    CHECK_EQUAL(Err::access, client.set_perms("/vm/public", mine).error());
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
        CHECK_EQUAL(err, client.write("/local/domain/1/k", "v").error());
    }
    CHECK_FALSE(client.failed());
    CHECK_FALSE(xsd.exists("/local/domain/1/k"));  // the fake did not run them
    CHECK(client.write("/local/domain/1/k", "v").ok());
}

TEST(Xenstore, PathsAndValuesAreCheckedBeforeAnythingIsSent) {
    CHECK_EQUAL(Err::invalid, client.read("", buf).error());
    CHECK_EQUAL(Err::invalid, client.read(std::string_view("/a\0b", 4), buf).error());
    CHECK_EQUAL(Err::name_too_long, client.read(std::string(XENSTORE_ABS_PATH_MAX + 1, '/'), buf).error());
    CHECK_EQUAL(Err::name_too_long, client.write(std::string(XENSTORE_REL_PATH_MAX + 1, 'a'), "v").error());
    CHECK_EQUAL(Err::too_big, client.write("/local/domain/1/v", std::string(XENSTORE_PAYLOAD_MAX, 'v')).error());
    LONGS_EQUAL(0, (long)xsd.requests.size());
    CHECK(client.write("/local/domain/1/v", std::string(XENSTORE_PAYLOAD_MAX - 18, 'v')).ok());  // exactly fits
}

TEST(Xenstore, ReadsStrictUnsignedNumbers) {
    xsd.set("/local/domain/1/base", "33554432");
    xsd.set("/local/domain/1/hex", "0x2000000");
    xsd.set("/local/domain/1/neg", "-1");
    xsd.set("/local/domain/1/huge", "18446744073709551616");
    xsd.set("/local/domain/1/long", std::string(200, '1'));
    UNSIGNED_LONGLONGS_EQUAL(0x2000000, client.read_unsigned("/local/domain/1/base").value());
    CHECK_EQUAL(Err::invalid, client.read_unsigned("/local/domain/1/hex").error());
    UNSIGNED_LONGLONGS_EQUAL(0x2000000, client.read_unsigned("/local/domain/1/hex", XsNumber::decimal_or_hex).value());
    CHECK_EQUAL(Err::invalid, client.read_unsigned("/local/domain/1/neg").error());
    CHECK_EQUAL(Err::range, client.read_unsigned("/local/domain/1/huge").error());
    CHECK_EQUAL(Err::range, client.read_unsigned("/local/domain/1/long").error());
    CHECK_EQUAL(Err::not_found, client.read_unsigned("/local/domain/1/none").error());
}

// ---- a xenstored that misbehaves ----------------------------------------------------------

TEST(Xenstore, NoReplyTimesOutAndTheClientStaysUsable) {
    xsd.set("/x", "1");
    client.set_timeout(1'000'000);
    xsd.never_reply = true;
    uint64_t before = xsd.clock_ns;
    CHECK_EQUAL(Err::timed_out, client.read("/x", buf).error());
    CHECK(xsd.clock_ns - before >= 1'000'000);
    UNSIGNED_LONGS_EQUAL(1, client.stats().timeouts);
    xsd.never_reply = false;
    STRCMP_EQUAL("1", str(client.read("/x", buf)).c_str());
}

TEST(Xenstore, ALateReplyIsDiscardedNotMisattributed) {
    xsd.set("/a", "AAA");
    xsd.set("/b", "BBB");
    client.set_timeout(1'000'000);
    xsd.hold_replies = true;
    CHECK_EQUAL(Err::timed_out, client.read("/a", buf).error());
    xsd.hold_replies = false;
    xsd.release_held();  // "AAA" arrives now, ahead of the next reply
    STRCMP_EQUAL("BBB", str(client.read("/b", buf)).c_str());
    UNSIGNED_LONGS_EQUAL(1, client.stats().discarded_replies);
}

TEST(Xenstore, ALateErrorReplyIsDiscardedToo) {
    xsd.set("/b", "BBB");
    client.set_timeout(1'000'000);
    xsd.hold_replies = true;
    CHECK_EQUAL(Err::timed_out, client.read("/missing", buf).error());
    xsd.hold_replies = false;
    xsd.release_held();  // ENOENT for the old request
    STRCMP_EQUAL("BBB", str(client.read("/b", buf)).c_str());
}

TEST(Xenstore, AReplyWithAnotherReqIdIsIgnored) {
    xsd.set("/x", "1");
    client.set_timeout(1'000'000);
    xsd.wrong_req_id_replies = 1;
    CHECK_EQUAL(Err::timed_out, client.read("/x", buf).error());
    UNSIGNED_LONGS_EQUAL(1, client.stats().discarded_replies);
    STRCMP_EQUAL("1", str(client.read("/x", buf)).c_str());
}

TEST(Xenstore, AReplyOfAnotherTypeIsIgnored) {
    xsd.set("/x", "1");
    client.set_timeout(1'000'000);
    xsd.wrong_type_replies = 1;
    CHECK_EQUAL(Err::timed_out, client.read("/x", buf).error());
    UNSIGNED_LONGS_EQUAL(1, client.stats().discarded_replies);
}

TEST(Xenstore, AStaleReplyAheadOfTheRealOneIsSkipped) {
    xsd.set("/x", "real");
    xsd.stale_before_reply = 1;
    STRCMP_EQUAL("real", str(client.read("/x", buf)).c_str());
    UNSIGNED_LONGS_EQUAL(1, client.stats().discarded_replies);
}

TEST(Xenstore, AnOversizedReplyBreaksTheConnectionUntilReconnect) {
    xsd.set("/x", "1");
    xsd.page.server_features = XENSTORE_SERVER_FEATURE_RECONNECTION;
    xsd.oversized_next_reply = true;
    CHECK_EQUAL(Err::protocol, client.read("/x", buf).error());
    CHECK_TRUE(client.failed());
    size_t sent = xsd.requests.size();
    CHECK_EQUAL(Err::protocol, client.read("/x", buf).error());
    LONGS_EQUAL((long)sent, (long)xsd.requests.size());  // refused without touching the ring
    CHECK(client.reconnect().ok());
    LONGS_EQUAL(1, xsd.reconnects);
    STRCMP_EQUAL("1", str(client.read("/x", buf)).c_str());
}

TEST(Xenstore, ABogusReplyProducerIndexIsAProtocolError) {
    xsd.set("/x", "1");
    xsd.on_wait = [&] { xsd.corrupt_rsp_prod(xsd.page.rsp_cons + XENSTORE_RING_SIZE + 1); };
    xsd.never_reply = true;
    CHECK_EQUAL(Err::protocol, client.read("/x", buf).error());
    CHECK_TRUE(client.failed());
}

TEST(Xenstore, ABogusRequestConsumerIndexIsAProtocolError) {
    xsd.corrupt_req_cons(12345);
    CHECK_EQUAL(Err::protocol, client.read("/x", buf).error());
    CHECK_TRUE(client.failed());
    LONGS_EQUAL(0, (long)xsd.requests.size());
}

TEST(Xenstore, GarbageBytesBreakTheStream) {
    xsd.set("/x", "1");
    xsd.inject_raw(std::string(16, '\xff'));  // a "header" with a 4 GiB length
    CHECK_EQUAL(Err::protocol, client.read("/x", buf).error());
}

TEST(Xenstore, WithoutTheReconnectFeatureABrokenClientStaysBroken) {
    xsd.oversized_next_reply = true;
    CHECK_EQUAL(Err::protocol, client.read("/x", buf).error());
    CHECK_EQUAL(Err::not_supported, client.reconnect().error());
    CHECK_TRUE(client.failed());
}

TEST(Xenstore, ARequestFromInsideAWaitIsRefused) {
    xsd.set("/x", "1");
    Status inner;
    xsd.on_wait = [&] {
        xsd.on_wait = nullptr;
        inner = client.write("/y", "2");
    };
    STRCMP_EQUAL("1", str(client.read("/x", buf)).c_str());
    CHECK_EQUAL(Err::busy, inner.error());
}

TEST(Xenstore, AProtocolErrorSeenWhileIdleIsReportedByDispatch) {
    Recorder rec;
    CHECK(client.watch("/local/domain/1/w", "t", rec.callback()).ok());
    xsd.inject_raw(std::string(16, '\xff'));
    xsd.process();
    auto ran = client.dispatch_watch_events();
    CHECK_EQUAL(Err::protocol, ran.error());
    CHECK(rec.saw("/local/domain/1/w", "t"));  // what was queued before the garbage still ran
    CHECK_TRUE(client.failed());
}

TEST(Xenstore, AServerReportedErrorMeansNotConnected) {
    xsd.page.server_features = XENSTORE_SERVER_FEATURE_ERROR;
    xsd.page.error = XENSTORE_ERROR_COMM;
    CHECK_EQUAL(Err::not_connected, client.read("/x", buf).error());
    LONGS_EQUAL(0, (long)xsd.requests.size());
}

TEST(Xenstore, AHalfSentRequestFinishesBeforeTheNextOne) {
    // xenstored stops consuming mid-request: it times out with its tail still staged.
    client.set_timeout(1'000'000);
    std::string big(3000, 'x');
    xsd.frozen = true;
    CHECK_EQUAL(Err::timed_out, client.write("/local/domain/1/big", big).error());
    CHECK_FALSE(ring.tx_idle());
    // xenstored wakes up: the old tail goes out first (the stream stays framed), then the read.
    xsd.frozen = false;
    xsd.set("/local/domain/1/after", "a");
    STRCMP_EQUAL("a", str(client.read("/local/domain/1/after", buf)).c_str());
    CHECK(*xsd.get("/local/domain/1/big") == big);
    LONGS_EQUAL(2, (long)xsd.requests.size());
    UNSIGNED_LONGS_EQUAL(1, client.stats().discarded_replies);  // the write's late OK
}

TEST(Xenstore, ARequestThatNeverLeftIsDroppedOnTimeout) {
    client.set_timeout(1'000'000);
    xsd.frozen = true;
    // 16 + 18 + 990 bytes: the first request fills the ring exactly and goes out whole.
    CHECK_EQUAL(Err::timed_out, client.write("/local/domain/1/a", std::string(990, 'x')).error());
    CHECK_TRUE(ring.tx_idle());
    // The second is staged but never gets a byte in: dropped, so it cannot run later.
    CHECK_EQUAL(Err::timed_out, client.write("/local/domain/1/b", "b").error());
    CHECK_TRUE(ring.tx_idle());
    xsd.frozen = false;
    CHECK(client.write("/local/domain/1/c", "c").ok());
    CHECK(xsd.exists("/local/domain/1/a"));
    CHECK_FALSE(xsd.exists("/local/domain/1/b"));
    CHECK(xsd.exists("/local/domain/1/c"));
}

// ---- watches ------------------------------------------------------------------------------

TEST(Xenstore, AWatchFiresOnceUpFrontAndOnChangesBelowItsPath) {
    Recorder rec;
    CHECK(client.watch("/local/domain/1/backend", "be", rec.callback()).ok());
    CHECK(xsd.has_watch("/local/domain/1/backend", "be"));
    CHECK(xsd.requests.back().payload == std::string("/local/domain/1/backend\0be\0", 27));
    LONGS_EQUAL(0, (long)rec.calls.size());  // nothing runs inside a request
    CHECK(client.write("/local/domain/1/backend/vbd/5/state", "2").ok());
    LONGS_EQUAL(0, (long)rec.calls.size());
    LONGS_EQUAL(2, (long)client.dispatch_watch_events().value());
    LONGS_EQUAL(2, (long)rec.calls.size());
    CHECK(rec.calls[0] == std::make_pair(std::string("/local/domain/1/backend"), std::string("be")));
    CHECK(rec.calls[1] == std::make_pair(std::string("/local/domain/1/backend/vbd/5/state"), std::string("be")));
    LONGS_EQUAL(0, (long)client.dispatch_watch_events().value());
}

TEST(Xenstore, EventsThatArriveWhileIdleArePickedUpByDispatch) {
    Recorder rec;
    CHECK(client.watch("/local/domain/1/x", "t", rec.callback()).ok());
    (void)client.dispatch_watch_events();
    rec.calls.clear();
    xsd.inject_event("/local/domain/1/x/y", "t");
    xsd.process();  // xenstored writes it into the ring and notifies; nobody is waiting
    LONGS_EQUAL(1, (long)client.dispatch_watch_events().value());
    CHECK(rec.saw("/local/domain/1/x/y", "t"));
}

TEST(Xenstore, AWatchStormIsBoundedAndTheWatchIsToldItMissedEvents) {
    Recorder rec;
    Recorder quiet;
    CHECK(client.watch("/local/domain/1/storm", "s", rec.callback()).ok());
    CHECK(client.watch("/local/domain/1/calm", "c", quiet.callback()).ok());
    xsd.watch_storm("/local/domain/1/storm", "s", 500);
    xsd.set("/x", "1");
    STRCMP_EQUAL("1", str(client.read("/x", buf)).c_str());  // the reply is behind the storm
    LONGS_EQUAL((long)Xenstore::event_queue_capacity, (long)client.queued_watch_events());
    CHECK(client.stats().events_dropped >= 500 + 2 - Xenstore::event_queue_capacity);
    auto ran = client.dispatch_watch_events();
    // Every queued event, then one more call with the watched path itself: "re-read all".
    LONGS_EQUAL((long)Xenstore::event_queue_capacity + 1, (long)ran.value());
    CHECK(rec.calls.back() == std::make_pair(std::string("/local/domain/1/storm"), std::string("s")));
    LONGS_EQUAL(1, (long)quiet.calls.size());  // its initial event, no spurious "missed"
    rec.calls.clear();
    LONGS_EQUAL(0, (long)client.dispatch_watch_events().value());
}

TEST(Xenstore, AnEventPathTooLongToQueueCountsAsMissed) {
    Recorder rec;
    CHECK(client.watch("/local/domain/1/w", "t", rec.callback()).ok());
    (void)client.dispatch_watch_events();
    rec.calls.clear();
    xsd.inject_event("/local/domain/1/w/" + std::string(Xenstore::max_event_path, 'p'), "t");
    xsd.process();
    LONGS_EQUAL(1, (long)client.dispatch_watch_events().value());
    CHECK(rec.saw("/local/domain/1/w", "t"));
}

TEST(Xenstore, EventsForUnknownTokensOrMalformedAreDropped) {
    Recorder rec;
    CHECK(client.watch("/local/domain/1/w", "t", rec.callback()).ok());
    (void)client.dispatch_watch_events();
    rec.calls.clear();
    xsd.inject_event("/local/domain/1/w", "someone-else");
    xsd.inject_message({XS_WATCH_EVENT, 0, 0, "no-separator"});
    xsd.inject_message({XS_WATCH_EVENT, 0, 0, std::string("\0t\0", 3)});
    xsd.process();
    LONGS_EQUAL(0, (long)client.dispatch_watch_events().value());
    UNSIGNED_LONGS_EQUAL(1, client.stats().events_unknown);
    UNSIGNED_LONGS_EQUAL(2, client.stats().events_malformed);
}

TEST(Xenstore, UnwatchStopsCallbacksAndDropsQueuedEvents) {
    Recorder rec;
    CHECK(client.watch("/local/domain/1/w", "t", rec.callback()).ok());
    CHECK(client.write("/local/domain/1/w/a", "1").ok());
    CHECK(client.unwatch("t").ok());
    CHECK_FALSE(xsd.has_watch("/local/domain/1/w", "t"));
    CHECK(xsd.requests.back().payload == std::string("/local/domain/1/w\0t\0", 20));
    CHECK(client.write("/local/domain/1/w/b", "1").ok());
    LONGS_EQUAL(0, (long)client.dispatch_watch_events().value());
    LONGS_EQUAL(0, (long)rec.calls.size());
    CHECK_EQUAL(Err::not_found, client.unwatch("t").error());
}

TEST(Xenstore, ATokenSlotReusedAfterUnwatchGetsNoStaleEvents) {
    Recorder old_rec, new_rec;
    CHECK(client.watch("/local/domain/1/w", "t", old_rec.callback()).ok());
    CHECK(client.unwatch("t").ok());
    CHECK(client.watch("/local/domain/1/v", "t", new_rec.callback()).ok());
    (void)client.dispatch_watch_events();
    LONGS_EQUAL(0, (long)old_rec.calls.size());
    LONGS_EQUAL(1, (long)new_rec.calls.size());
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
    for (size_t i = 1; i < Xenstore::max_watches; ++i)
        CHECK(client.watch("/local/domain/1/w", "t" + std::to_string(i), rec.callback()).ok());
    CHECK_EQUAL(Err::no_space, client.watch("/local/domain/1/w", "full", rec.callback()).error());
}

TEST(Xenstore, AFailedWatchLeavesNoTrace) {
    Recorder rec;
    xsd.error_replies.push_back("EACCES");
    xsd.inject_event("/local/domain/1/w", "t");  // even an event racing ahead of the error
    CHECK_EQUAL(Err::access, client.watch("/local/domain/1/w", "t", rec.callback()).error());
    LONGS_EQUAL(0, (long)client.dispatch_watch_events().value());
    CHECK_EQUAL(Err::not_found, client.unwatch("t").error());
}

TEST(Xenstore, ACallbackMayReadAndUnwatchItself) {
    xsd.set("/local/domain/1/fe/state", "4");
    std::string seen;
    int calls = 0;
    auto on_change = [&](std::string_view, std::string_view token) {
        ++calls;
        char value[16];
        auto v = client.read("/local/domain/1/fe/state", value);
        seen = v.ok() ? std::string(v.value()) : "error";
        CHECK(client.unwatch(token).ok());
    };
    CHECK(client.watch("/local/domain/1/fe", "fe", Xenstore::WatchCallback::ref(on_change)).ok());
    CHECK(client.write("/local/domain/1/fe/state", "5").ok());  // a second queued event
    LONGS_EQUAL(1, (long)client.dispatch_watch_events().value());
    LONGS_EQUAL(1, calls);
    STRCMP_EQUAL("5", seen.c_str());
    CHECK_FALSE(xsd.has_watch("/local/domain/1/fe", "fe"));
}

TEST(Xenstore, EventsCausedByACallbackWaitForTheNextDispatch) {
    int calls = 0;
    auto echo = [&](std::string_view, std::string_view) {
        ++calls;
        CHECK(client.write("/local/domain/1/loop/x", std::to_string(calls)).ok());
    };
    CHECK(client.watch("/local/domain/1/loop", "l", Xenstore::WatchCallback::ref(echo)).ok());
    LONGS_EQUAL(1, (long)client.dispatch_watch_events().value());
    LONGS_EQUAL(1, (long)client.dispatch_watch_events().value());
    LONGS_EQUAL(2, calls);
}

TEST(Xenstore, DispatchIsNotReentrant) {
    size_t inner = 99;
    auto nested = [&](std::string_view, std::string_view) { inner = client.dispatch_watch_events().value(); };
    CHECK(client.watch("/local/domain/1/n", "n", Xenstore::WatchCallback::ref(nested)).ok());
    LONGS_EQUAL(1, (long)client.dispatch_watch_events().value());
    LONGS_EQUAL(0, (long)inner);
}

TEST(Xenstore, ReconnectRegistersWatchesAgainAndTellsThemToReRead) {
    xsd.page.server_features = XENSTORE_SERVER_FEATURE_RECONNECTION;
    Recorder rec;
    CHECK(client.watch("/local/domain/1/w", "t", rec.callback()).ok());
    (void)client.dispatch_watch_events();
    rec.calls.clear();
    CHECK(client.reconnect().ok());
    CHECK(xsd.has_watch("/local/domain/1/w", "t"));
    auto ran = client.dispatch_watch_events();
    CHECK(ran.value() >= 1);
    CHECK(rec.saw("/local/domain/1/w", "t"));
}

// ---- transactions -------------------------------------------------------------------------

TEST(Xenstore, TransactionsCommitOrAbort) {
    XsTx tx = client.transaction_start().value();
    CHECK(tx.id != 0);
    CHECK(client.write("/local/domain/1/t", "1", tx).ok());
    UNSIGNED_LONGS_EQUAL(tx.id, xsd.requests.back().tx_id);
    CHECK_FALSE(xsd.exists("/local/domain/1/t"));
    STRCMP_EQUAL("1", str(client.read("/local/domain/1/t", buf, tx)).c_str());
    CHECK(client.transaction_end(tx, true).ok());
    STRCMP_EQUAL("1", xsd.get("/local/domain/1/t")->c_str());

    tx = client.transaction_start().value();
    CHECK(client.write("/local/domain/1/t", "2", tx).ok());
    CHECK(client.transaction_end(tx, false).ok());
    STRCMP_EQUAL("1", xsd.get("/local/domain/1/t")->c_str());
    LONGS_EQUAL(0, (long)xsd.open_transactions());
    CHECK_EQUAL(Err::invalid, client.transaction_end(xen::no_tx, true).error());
}

TEST(Xenstore, AConflictingCommitIsEagain) {
    XsTx tx = client.transaction_start().value();
    CHECK(client.write("/local/domain/1/t", "mine", tx).ok());
    CHECK(client.write("/local/domain/1/other", "theirs").ok());  // outside, meanwhile
    CHECK_EQUAL(Err::again, client.transaction_end(tx, true).error());
    CHECK_FALSE(xsd.exists("/local/domain/1/t"));
}

TEST(Xenstore, ABogusTransactionIdIsRejected) {
    for (const char* bad : {"0", "-3", "4294967296", "12x", ""}) {
        std::string payload = std::string(bad) + '\0';
        xsd.reply_filter = [payload](FakeXenstored::Message& m) { m.payload = payload; };
        CHECK_EQUAL(Err::protocol, client.transaction_start().error());
    }
}

TEST(Xenstore, TheTransactionHelperRetriesOnEagain) {
    xsd.eagain_commits = 2;
    int runs = 0;
    auto status = client.transaction([&](XsTx tx) -> Status {
        ++runs;
        TRY(client.write("/local/domain/1/backend/state", "2", tx));
        return client.write("/local/domain/1/backend/ready", "1", tx);
    });
    CHECK(status.ok());
    LONGS_EQUAL(3, runs);
    STRCMP_EQUAL("2", xsd.get("/local/domain/1/backend/state")->c_str());
    LONGS_EQUAL(0, (long)xsd.open_transactions());
}

TEST(Xenstore, TheTransactionHelperGivesUpAfterBoundedAttempts) {
    xsd.eagain_commits = 100;
    int runs = 0;
    auto status = client.transaction([&](XsTx tx) -> Status {
        ++runs;
        return client.write("/local/domain/1/x", "1", tx);
    }, 4);
    CHECK_EQUAL(Err::again, status.error());
    LONGS_EQUAL(4, runs);
    CHECK_FALSE(xsd.exists("/local/domain/1/x"));
}

TEST(Xenstore, ABodyErrorAbortsTheTransaction) {
    int runs = 0;
    auto status = client.transaction([&](XsTx tx) -> Status {
        ++runs;
        TRY(client.write("/local/domain/1/x", "1", tx));
        return Err::invalid;
    });
    CHECK_EQUAL(Err::invalid, status.error());
    LONGS_EQUAL(1, runs);
    CHECK_FALSE(xsd.exists("/local/domain/1/x"));
    LONGS_EQUAL(0, (long)xsd.open_transactions());
    CHECK(xsd.requests.back().payload == std::string("F\0", 2));
}

// ---- torture ------------------------------------------------------------------------------

namespace {

// A xenstored that is right sometimes: each wait it may answer properly, garble the reply,
// inject random messages (some with plausible req_ids), spray garbage, or set random indices.
class ChaosWaiter final : public xen::XenstoreWaiter {
public:
    ChaosWaiter(FakeXenstored& xsd, uint64_t seed) : xsd_(xsd), rng_(seed) {
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
    }

    uint64_t now_ns() override { return xsd_.clock_ns; }

    Status wait(uint64_t timeout_ns) override {
        ++waits;
        if (calm) return xsd_.wait(timeout_ns);
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
            case 7: xsd_.clock_ns += timeout_ns; return Err::timed_out;  // silence
            default: break;
        }
        xsd_.bytes_per_process = pick(4) ? SIZE_MAX : 1 + pick(64);
        return xsd_.wait(timeout_ns);
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

    int waits = 0;
    bool calm = false;  // an honest xenstored from now on

private:
    FakeXenstored& xsd_;
    std::mt19937_64 rng_;
};

}  // namespace

TEST_GROUP(XenstoreTorture) {};

TEST(XenstoreTorture, ARandomPeerGetsOnlyErrorsNeverACrashOrAHang) {
    for (uint64_t seed : {1u, 2u, 3u, 0xd0d0u}) {
        FakeXenstored xsd;
        xsd.page.server_features = XENSTORE_SERVER_FEATURE_RECONNECTION | XENSTORE_SERVER_FEATURE_ERROR;
        ChaosWaiter chaos(xsd, seed);
        XenstoreRing ring(xsd.page, xsd);
        Xenstore client(ring, chaos);
        client.set_timeout(50'000);
        std::mt19937_64 ops(seed * 7919);
        int callbacks = 0;
        auto on_event = [&](std::string_view path, std::string_view token) {
            ++callbacks;
            CHECK(!path.empty() && path.size() <= Xenstore::max_event_path);
            CHECK(!token.empty() && token.size() <= Xenstore::max_token);
            if (ops() % 8 == 0) (void)client.unwatch(token);
            char v[32];
            (void)client.read("/local/domain/1/w", v);
        };
        auto callback = Xenstore::WatchCallback::ref(on_event);
        int ok = 0, failed = 0, reconnects = 0;
        std::map<Err, int> errors;

        for (int i = 0; i < 3000; ++i) {
            uint64_t started = xsd.clock_ns;
            char small[16];
            char big[512];
            XsPerm perms[3];
            Status status;
            switch (ops() % 12) {
                case 0: {
                    auto r = client.read("/local/domain/1/w", (ops() & 1) ? std::span<char>(small) : std::span<char>(big));
                    if (r.ok()) CHECK(r.value().size() <= sizeof big && (r.value().data() == small || r.value().data() == big));
                    status = r.ok() ? Status() : Status(r.error());
                    break;
                }
                case 1: status = client.write("/local/domain/1/w/" + std::to_string(ops() % 5), std::string(ops() % 2000, 'x')); break;
                case 2: {
                    auto d = client.directory("/local/domain/1", big);
                    if (d.ok())
                        for (auto name : d.value()) CHECK(!name.empty() && name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos);
                    status = d.ok() ? Status() : Status(d.error());
                    break;
                }
                case 3: {
                    auto n = client.get_perms("/local/domain/1/w", perms);
                    if (n.ok()) CHECK(n.value() >= 1 && n.value() <= 3);
                    status = n.ok() ? Status() : Status(n.error());
                    break;
                }
                case 4: {
                    const XsPerm p[] = {{XsPerm::none, 1}, {XsPerm::read, static_cast<uint16_t>(ops())}};
                    status = client.set_perms("/local/domain/1/w", p);
                    break;
                }
                case 5: status = client.watch("/local/domain/1/w", "t" + std::to_string(ops() % 4), callback); break;
                case 6: status = client.unwatch("t" + std::to_string(ops() % 4)); break;
                case 7: {
                    auto v = client.read_unsigned("/local/domain/1/w", XsNumber::decimal_or_hex);
                    status = v.ok() ? Status() : Status(v.error());
                    break;
                }
                case 8:
                    status = client.transaction([&](XsTx tx) -> Status {
                        TRY(client.mkdir("/local/domain/1/w/tx", tx));
                        return client.write("/local/domain/1/w/tx/k", "v", tx);
                    }, 3);
                    break;
                case 9:
                case 10: {
                    auto n = client.dispatch_watch_events();
                    status = n.ok() ? Status() : Status(n.error());
                    break;
                }
                default: status = client.rm("/local/domain/1/w/" + std::to_string(ops() % 5)); break;
            }
            // Bounded: no request outlives its deadline by more than a few waits.
            CHECK(xsd.clock_ns - started <= 200 * 50'000);
            CHECK(client.queued_watch_events() <= Xenstore::event_queue_capacity);
            if (status.ok()) {
                ++ok;
            } else {
                ++failed;
                ++errors[status.error()];
            }
            if (client.failed() || (!status.ok() && status.error() == Err::not_connected)) {
                ++reconnects;
                (void)client.reconnect(1'000'000);
            }
        }
        // The run exercised both sides: successes and every kind of breakage.
        CHECK(ok > 100);
        CHECK(failed > 100);
        CHECK(reconnects > 10);
        CHECK(errors[Err::protocol] > 0);
        CHECK(errors[Err::timed_out] > 0);
        CHECK(callbacks > 0);
        CHECK(client.stats().discarded_replies > 0);
        CHECK(client.stats().events_dropped > 0);

        // Once xenstored behaves again, one reconnection gives a fully working client.
        chaos.calm = true;
        xsd.bytes_per_process = SIZE_MAX;
        CHECK(client.reconnect().ok());
        CHECK(client.write("/local/domain/1/after", "fine").ok());
        char value[16];
        auto got = client.read("/local/domain/1/after", value);
        CHECK(got.ok() && got.value() == "fine");
        CHECK(client.dispatch_watch_events().ok());
        CHECK(client.watch("/local/domain/1/after", "final", callback).ok());
        int before = callbacks;
        CHECK(client.dispatch_watch_events().value() >= 1);
        CHECK(callbacks > before);
    }
}
