// The toolstack's shutdown protocol against the fake xenstored: features advertised, requests
// taken exactly once (the node is cleared), unknown requests ignored.
#include "tests/test_support.h"

#include "kernel/coroutine_pool.h"
#include "tests/fakes/fake_xenstored.h"
#include "tests/fakes/xenstore_rig.h"
#include "xen/guest_control.h"
#include "xen/xenstore.h"
#include "xen/xenstore_ring.h"

using namespace domd;
using domd::test::FakeXenstored;
using domd::xen::ControlRequest;

namespace {
constexpr const char* shutdown_node = "/local/domain/1/control/shutdown";
}

TEST_GROUP(GuestControl) {
    test::XenstoreRig rig;  // the client is domain 1
    FakeXenstored& xsd = rig.xsd;
    xen::Xenstore& store = rig.client;
    std::vector<ControlRequest> seen;
    std::function<void(ControlRequest)> record = [this](ControlRequest r) { seen.push_back(r); };
    xen::GuestControl control{store, xen::GuestControl::Handler::ref(record)};

    void setup() override {
        // What libxl creates for a new domain: control/ read-only for the guest, with
        // control/shutdown and the feature nodes writable by it.
        const FakeXenstored::Perms guest_rw = {{xen::XsPerm::none, 1}};
        xsd.set("/local/domain/1", "", {{xen::XsPerm::none, 0}, {xen::XsPerm::read, 1}});
        xsd.set("/local/domain/1/control", "", {{xen::XsPerm::none, 0}, {xen::XsPerm::read, 1}});
        xsd.set(shutdown_node, "", guest_rw);
        xsd.set("/local/domain/1/control/feature-poweroff", "", guest_rw);
        xsd.set("/local/domain/1/control/feature-reboot", "", guest_rw);
        CHECK(rig.run(control.start()).ok());
        rig.settle();  // the watch's first event: nothing to do
    }

    void teardown() override {
        rig.settle();
        LONGS_EQUAL(0, (long)coroutine_pool().stats().in_use);
    }

    // The toolstack (dom0) writes a request; xenstored fires our watch.
    void toolstack_writes(const std::string& request) {
        xsd.set(shutdown_node, request, {{xen::XsPerm::none, 1}});
        xsd.inject_event(shutdown_node, "domd-control");
        rig.settle();  // the event, the transaction that takes the request, the callback
    }
};

TEST(GuestControl, AdvertisesPoweroffAndRebootButNotSuspend) {
    STRCMP_EQUAL("1", xsd.get("/local/domain/1/control/feature-poweroff")->c_str());
    STRCMP_EQUAL("1", xsd.get("/local/domain/1/control/feature-reboot")->c_str());
    CHECK_FALSE(xsd.exists("/local/domain/1/control/feature-suspend"));
    CHECK(xsd.has_watch(shutdown_node, "domd-control"));
    CHECK(seen.empty());
}

TEST(GuestControl, TakesAPoweroffRequestAndClearsTheNode) {
    toolstack_writes("poweroff");
    CHECK((std::vector<ControlRequest>{ControlRequest::poweroff}) == seen);
    STRCMP_EQUAL("", xsd.get(shutdown_node)->c_str());
}

TEST(GuestControl, HaltIsPoweroffAndRebootIsReboot) {
    toolstack_writes("halt");
    toolstack_writes("reboot");
    CHECK((std::vector<ControlRequest>{ControlRequest::poweroff, ControlRequest::reboot}) == seen);
}

TEST(GuestControl, ARequestIsTakenOnceEvenIfTheWatchFiresAgain) {
    toolstack_writes("reboot");
    xsd.inject_event(shutdown_node, "domd-control");  // e.g. the event for our own clearing write
    rig.settle();
    LONGS_EQUAL(1, (long)seen.size());
}

TEST(GuestControl, IgnoresAndCountsUnknownRequests) {
    toolstack_writes("self-destruct");
    CHECK(seen.empty());
    UNSIGNED_LONGLONGS_EQUAL(1, control.unknown_requests());
    STRCMP_EQUAL("", xsd.get(shutdown_node)->c_str());  // consumed all the same
}

TEST(GuestControl, RetriesTheTakeWhenTheTransactionConflicts) {
    xsd.eagain_commits = 2;
    toolstack_writes("poweroff");
    CHECK((std::vector<ControlRequest>{ControlRequest::poweroff}) == seen);
    STRCMP_EQUAL("", xsd.get(shutdown_node)->c_str());
}

TEST(GuestControl, AVanishedNodeIsNotARequest) {
    CHECK(rig.op([&] { return store.rm(shutdown_node); }).ok());
    xsd.inject_event(shutdown_node, "domd-control");
    rig.settle();
    CHECK(seen.empty());
}

TEST(GuestControl, ARequestWrittenWhileALookIsInProgressIsNotMissed) {
    xsd.hold_replies = true;  // the first look stalls in its transaction
    toolstack_writes("halt");
    CHECK(seen.empty());
    xsd.inject_event(shutdown_node, "domd-control");  // the node changes again meanwhile
    rig.settle();
    xsd.hold_replies = false;
    xsd.release_held();
    rig.settle();
    CHECK((std::vector<ControlRequest>{ControlRequest::poweroff}) == seen);
}

TEST(GuestControl, TheLoopRunsWhileTheTakeWaitsForXenstored) {
    xsd.frozen = true;  // xenstored does not answer for now
    xsd.set(shutdown_node, "reboot", {{xen::XsPerm::none, 1}});
    xsd.inject_event(shutdown_node, "domd-control");
    xsd.frozen = false;
    xsd.serve();  // the event reaches us, then xenstored stalls
    xsd.frozen = true;
    for (int i = 0; i < 50; ++i) (void)store.poll();  // every poll returns: nothing waits
    CHECK(seen.empty());
    xsd.frozen = false;
    rig.settle();
    CHECK((std::vector<ControlRequest>{ControlRequest::reboot}) == seen);
}
