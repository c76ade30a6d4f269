// The xenstore transport against a shared page the test owns, playing xenstored by hand:
// free-running indices, messages larger than the ring, partial messages, and a hostile peer's
// indices and lengths (docs/misc/xenstore-ring.txt, io/xs_wire.h).
#include "tests/test_support.h"

#include <cstring>
#include <string>

#include "xen/abi.h"
#include "xen/xenstore_ring.h"

using namespace domd;
using domd::xen::XenstoreRing;
using domd::xen::XsMessage;

namespace {

struct CountingPeer final : Notifier {
    int count = 0;
    void notify() override { ++count; }
};

std::string header(uint32_t type, uint32_t req_id, uint32_t tx_id, uint32_t len) {
    xsd_sockmsg h{type, req_id, tx_id, len};
    return std::string(reinterpret_cast<const char*>(&h), sizeof h);
}

std::string message(uint32_t type, uint32_t req_id, const std::string& payload) {
    return header(type, req_id, 0, static_cast<uint32_t>(payload.size())) + payload;
}

// xenstored's side of the reply stream: append what fits, return how much did.
size_t produce(xenstore_domain_interface& page, const std::string& bytes) {
    size_t count = 0;
    while (count < bytes.size() && page.rsp_prod - page.rsp_cons < XENSTORE_RING_SIZE) {
        page.rsp[page.rsp_prod % XENSTORE_RING_SIZE] = bytes[count++];
        ++page.rsp_prod;
    }
    return count;
}

// xenstored's side of the request stream: take everything published so far.
std::string consume(xenstore_domain_interface& page) {
    std::string out;
    while (page.req_cons != page.req_prod) out += page.req[page.req_cons++ % XENSTORE_RING_SIZE];
    return out;
}

std::string payload_of(const XsMessage& m) { return std::string(m.payload); }

}  // namespace

TEST_GROUP(XenstoreRing) {
    xenstore_domain_interface page;
    CountingPeer peer;
    void setup() override { memset(&page, 0, sizeof page); }
};

TEST(XenstoreRing, StagesAWholeMessageAndPublishesIt) {
    XenstoreRing ring(page, peer);
    const std::string_view parts[] = {"/a/b", std::string_view("\0", 1)};
    CHECK(ring.stage(XS_READ, 7, 3, parts).ok());
    CHECK_FALSE(ring.tx_idle());
    CHECK_TRUE(ring.flush().value());
    CHECK_TRUE(ring.tx_idle());
    UNSIGNED_LONGS_EQUAL(16 + 5, page.req_prod);
    LONGS_EQUAL(1, peer.count);
    std::string sent = consume(page);
    STRCMP_EQUAL(header(XS_READ, 7, 3, 5).c_str(), sent.substr(0, 16).c_str());
    CHECK(sent == header(XS_READ, 7, 3, 5) + std::string("/a/b\0", 5));
}

TEST(XenstoreRing, FlushWithNothingStagedDoesNotNotify) {
    XenstoreRing ring(page, peer);
    CHECK_TRUE(ring.flush().value());
    LONGS_EQUAL(0, peer.count);
}

TEST(XenstoreRing, SendsARequestLargerThanTheRingInPieces) {
    XenstoreRing ring(page, peer);
    std::string value(3000, 'v');
    const std::string_view parts[] = {value};
    CHECK(ring.stage(XS_WRITE, 1, 0, parts).ok());
    std::string sent;
    int flushes = 0;
    while (!ring.flush().value()) {
        UNSIGNED_LONGS_EQUAL(XENSTORE_RING_SIZE, page.req_prod - page.req_cons);  // full, never more
        sent += consume(page);
        ++flushes;
    }
    sent += consume(page);
    CHECK(flushes >= 2);
    CHECK(sent == header(XS_WRITE, 1, 0, 3000) + value);
}

TEST(XenstoreRing, StagesOneMessageAtATime) {
    XenstoreRing ring(page, peer);
    std::string big(2000, 'x');
    const std::string_view parts[] = {big};
    CHECK(ring.stage(XS_WRITE, 1, 0, parts).ok());
    CHECK_FALSE(ring.flush().value());
    CHECK_EQUAL(Err::busy, ring.stage(XS_WRITE, 2, 0, parts).error());
}

TEST(XenstoreRing, OnlyAMessageNotYetStartedCanBeCancelled) {
    XenstoreRing ring(page, peer);
    std::string big(2000, 'x');
    const std::string_view partly[] = {big};
    CHECK(ring.stage(XS_WRITE, 1, 0, partly).ok());
    CHECK_FALSE(ring.flush().value());
    CHECK_FALSE(ring.cancel_unsent());  // partly out: it must finish, or the stream loses framing
    consume(page);
    CHECK_TRUE(ring.flush().value());
    consume(page);

    std::string fill(XENSTORE_RING_SIZE - 16, 'f');
    const std::string_view whole[] = {fill};
    CHECK(ring.stage(XS_WRITE, 2, 0, whole).ok());
    CHECK_TRUE(ring.flush().value());  // exactly fills the ring
    CHECK(ring.stage(XS_WRITE, 3, 0, whole).ok());
    CHECK_FALSE(ring.flush().value());  // nothing fits until the peer consumes
    CHECK_TRUE(ring.cancel_unsent());
    CHECK_TRUE(ring.tx_idle());
    CHECK(consume(page) == header(XS_WRITE, 2, 0, XENSTORE_RING_SIZE - 16) + fill);
}

TEST(XenstoreRing, RefusesPayloadsOverTheProtocolMaximum) {
    XenstoreRing ring(page, peer);
    std::string exact(XENSTORE_PAYLOAD_MAX, 'x');
    const std::string_view too_long[] = {exact, "y"};
    CHECK_EQUAL(Err::too_big, ring.stage(XS_WRITE, 1, 0, too_long).error());
    CHECK_TRUE(ring.tx_idle());
    const std::string_view just_fits[] = {exact};
    CHECK(ring.stage(XS_WRITE, 1, 0, just_fits).ok());
}

TEST(XenstoreRing, IndicesAreFreeRunningAndNeedNotStartAtZero) {
    page.req_prod = page.req_cons = page.rsp_prod = page.rsp_cons = 0xfffffff8u;
    XenstoreRing ring(page, peer);
    const std::string_view parts[] = {"0123456789"};
    CHECK(ring.stage(XS_READ, 1, 0, parts).ok());
    CHECK_TRUE(ring.flush().value());
    UNSIGNED_LONGS_EQUAL(0xfffffff8u + 26, page.req_prod);  // wrapped past 2^32
    CHECK(consume(page) == header(XS_READ, 1, 0, 10) + "0123456789");

    produce(page, message(XS_READ, 1, "wrapped value"));
    auto got = ring.receive();
    CHECK(got.ok() && got.value().has_value());
    STRCMP_EQUAL("wrapped value", payload_of(*got.value()).c_str());
    UNSIGNED_LONGS_EQUAL(page.rsp_prod, page.rsp_cons);
}

TEST(XenstoreRing, ReceivesAWholeMessageAndNotifiesAfterConsuming) {
    XenstoreRing ring(page, peer);
    produce(page, message(XS_READ, 9, "hello"));
    auto got = ring.receive();
    CHECK(got.value().has_value());
    const XsMessage& m = *got.value();
    UNSIGNED_LONGS_EQUAL(XS_READ, m.header.type);
    UNSIGNED_LONGS_EQUAL(9, m.header.req_id);
    STRCMP_EQUAL("hello", payload_of(m).c_str());
    UNSIGNED_LONGS_EQUAL(21, page.rsp_cons);
    LONGS_EQUAL(1, peer.count);
    CHECK_FALSE(ring.receive().value().has_value());
    LONGS_EQUAL(1, peer.count);  // nothing consumed, nothing to tell
}

TEST(XenstoreRing, APartialMessageWaitsForTheRestOfItsBytes) {
    XenstoreRing ring(page, peer);
    std::string bytes = message(XS_DIRECTORY, 2, std::string("a\0bb\0", 5));
    produce(page, bytes.substr(0, 7));  // half a header
    CHECK_FALSE(ring.receive().value().has_value());
    produce(page, bytes.substr(7, 12));  // the header and two payload bytes
    CHECK_FALSE(ring.receive().value().has_value());
    UNSIGNED_LONGS_EQUAL(19, page.rsp_cons);  // consumed as it came
    produce(page, bytes.substr(19));
    auto got = ring.receive();
    CHECK(got.value().has_value());
    CHECK(payload_of(*got.value()) == std::string("a\0bb\0", 5));
}

TEST(XenstoreRing, DeliversBackToBackMessagesOneAtATime) {
    XenstoreRing ring(page, peer);
    produce(page, message(XS_WATCH_EVENT, 0, std::string("/p\0t\0", 5)) + message(XS_READ, 4, "v"));
    auto first = ring.receive();
    UNSIGNED_LONGS_EQUAL(XS_WATCH_EVENT, first.value()->header.type);
    auto second = ring.receive();
    UNSIGNED_LONGS_EQUAL(XS_READ, second.value()->header.type);
    STRCMP_EQUAL("v", payload_of(*second.value()).c_str());
}

TEST(XenstoreRing, ReceivesAMessageLargerThanTheRing) {
    XenstoreRing ring(page, peer);
    std::string payload(XENSTORE_PAYLOAD_MAX, '\0');
    for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + i % 26);
    std::string bytes = message(XS_READ, 5, payload);
    size_t sent = 0;
    std::optional<std::string> got;
    for (int round = 0; round < 20 && !got; ++round) {
        sent += produce(page, bytes.substr(sent));
        auto m = ring.receive();
        CHECK(m.ok());
        if (m.value()) got = payload_of(*m.value());
    }
    CHECK(got.has_value());
    CHECK(*got == payload);
}

TEST(XenstoreRing, AProducerIndexBeyondTheRingIsAProtocolErrorThatSticks) {
    XenstoreRing ring(page, peer);
    page.rsp_prod = XENSTORE_RING_SIZE + 1;  // claims more than the ring can hold
    CHECK_EQUAL(Err::protocol, ring.receive().error());
    CHECK_TRUE(ring.failed());
    UNSIGNED_LONGS_EQUAL(0, page.rsp_cons);  // nothing read
    page.rsp_prod = 0;  // even once it looks sane again, the stream is not trusted
    CHECK_EQUAL(Err::protocol, ring.receive().error());
    const std::string_view parts[] = {"x"};
    CHECK_EQUAL(Err::protocol, ring.stage(XS_READ, 1, 0, parts).error());
    CHECK_EQUAL(Err::protocol, ring.flush().error());
    CHECK(ring.reset().ok());
    CHECK_FALSE(ring.failed());
    CHECK(ring.stage(XS_READ, 1, 0, parts).ok());
}

TEST(XenstoreRing, AProducerBehindTheConsumerIsAProtocolError) {
    page.rsp_prod = page.rsp_cons = 100;
    XenstoreRing ring(page, peer);
    page.rsp_prod = 99;  // modulo 2^32: 4 GiB outstanding
    CHECK_EQUAL(Err::protocol, ring.receive().error());
}

TEST(XenstoreRing, AConsumerIndexBeyondTheRingIsAProtocolError) {
    XenstoreRing ring(page, peer);
    const std::string_view parts[] = {"x"};
    CHECK(ring.stage(XS_READ, 1, 0, parts).ok());
    page.req_cons = 5;  // ahead of our producer index
    CHECK_EQUAL(Err::protocol, ring.flush().error());
    UNSIGNED_LONGS_EQUAL(0, page.req_prod);
    LONGS_EQUAL(0, peer.count);
    CHECK_TRUE(ring.failed());
}

TEST(XenstoreRing, AnOversizedLengthIsAProtocolError) {
    XenstoreRing ring(page, peer);
    produce(page, header(XS_READ, 1, 0, XENSTORE_PAYLOAD_MAX + 1));
    CHECK_EQUAL(Err::protocol, ring.receive().error());
    CHECK_TRUE(ring.failed());
}

TEST(XenstoreRing, APayloadOfExactlyTheMaximumIsFine) {
    XenstoreRing ring(page, peer);
    std::string payload(XENSTORE_PAYLOAD_MAX, 'm');
    std::string bytes = message(XS_READ, 1, payload);
    size_t sent = 0;
    bool done = false;
    while (!done) {
        sent += produce(page, bytes.substr(sent));
        auto m = ring.receive();
        CHECK(m.ok());
        done = m.value().has_value();
        if (done) LONGS_EQUAL(XENSTORE_PAYLOAD_MAX, (long)m.value()->payload.size());
    }
}

TEST(XenstoreRing, OurOwnIndicesAreNeverReadBackFromThePage) {
    XenstoreRing ring(page, peer);
    const std::string_view parts[] = {"abc"};
    CHECK(ring.stage(XS_READ, 1, 0, parts).ok());
    CHECK_TRUE(ring.flush().value());
    consume(page);
    page.req_prod = 900;  // the peer scribbles on our producer index
    page.rsp_cons = 700;  // and our consumer index
    CHECK(ring.stage(XS_READ, 2, 0, parts).ok());
    CHECK_TRUE(ring.flush().value());
    UNSIGNED_LONGS_EQUAL(2 * 19, page.req_prod);  // republished from our copy
    std::string reply = message(XS_READ, 2, "ok");
    memcpy(page.rsp, reply.data(), reply.size());
    page.rsp_prod = static_cast<uint32_t>(reply.size());
    auto got = ring.receive();  // measured from our consumer copy (0), not the scribbled 700
    CHECK(got.value().has_value());
    STRCMP_EQUAL("ok", payload_of(*got.value()).c_str());
    UNSIGNED_LONGS_EQUAL(reply.size(), page.rsp_cons);
}

TEST(XenstoreRing, ResetAdoptsThePageIndicesAndRejectsInconsistentOnes) {
    XenstoreRing ring(page, peer);
    page.req_prod = page.req_cons = 5000;
    page.rsp_prod = page.rsp_cons = 7000;
    CHECK(ring.reset().ok());
    produce(page, message(XS_READ, 1, "x"));
    CHECK(ring.receive().value().has_value());
    page.rsp_prod = page.rsp_cons + 2000;
    CHECK_EQUAL(Err::protocol, ring.reset().error());
    CHECK_TRUE(ring.failed());
}

TEST(XenstoreRing, ServerErrorIndicatorMeansNotConnected) {
    XenstoreRing ring(page, peer);
    page.error = XENSTORE_ERROR_RINGIDX;
    CHECK(ring.connection_state().ok());  // the field means nothing without the feature bit
    page.server_features = XENSTORE_SERVER_FEATURE_ERROR;
    CHECK_EQUAL(Err::not_connected, ring.connection_state().error());
    CHECK_EQUAL(Err::not_connected, ring.receive().error());
    CHECK_FALSE(ring.failed());  // not our protocol failure: no reset needed to look again
    page.error = XENSTORE_ERROR_NONE;
    CHECK(ring.receive().ok());
}

TEST(XenstoreRing, ReconnectionNeedsTheFeatureAndTouchesOnlyTheConnectionField) {
    XenstoreRing ring(page, peer);
    CHECK_EQUAL(Err::not_supported, ring.request_reconnect().error());
    UNSIGNED_LONGS_EQUAL(XENSTORE_CONNECTED, page.connection);
    page.server_features = XENSTORE_SERVER_FEATURE_RECONNECTION;
    CHECK(ring.request_reconnect().ok());
    UNSIGNED_LONGS_EQUAL(XENSTORE_RECONNECT, page.connection);
    LONGS_EQUAL(1, peer.count);
    CHECK_FALSE(ring.reconnected());
    CHECK_EQUAL(Err::not_connected, ring.receive().error());  // until xenstored is done
    page.connection = XENSTORE_CONNECTED;
    CHECK_TRUE(ring.reconnected());
}
