// Event channels, 2-level ABI, against a fake Xen that marks ports the way Xen does: binding
// marshalling, the pending scan (clear before handler, round robin, budget carry-over, cost
// following pending ports), masking, polled mode, and the owning binding handle.
#include "tests/test_support.h"

#include <cstring>
#include <vector>

#include "tests/fakes/fake_hypercall.h"
#include "tests/fakes/fake_memory.h"
#include "tests/fakes/fake_xen_events.h"
#include "tests/fakes/fake_xen_memory.h"
#include "tests/fakes/single_step.h"
#include "xen/abi.h"
#include "xen/event_channels.h"
#include "xen/shared_info.h"

using namespace domd;
using domd::test::FakeHypercall;
using domd::test::FakeXenEvents;
using domd::test::HypercallRecord;
using Handler = xen::EventChannels::Handler;

namespace {

// Records which ports fired, in order; may run an extra action per event.
struct Recorder {
    std::vector<uint32_t> seen;
    std::function<void(uint32_t)> also;
    void on_event(uint32_t port) {
        seen.push_back(port);
        if (also) also(port);
    }
    Handler handler() { return Handler::to<&Recorder::on_event>(this); }
};

}  // namespace

// ---- the shared_info view ------------------------------------------------------------------

TEST_GROUP(SharedInfoView) {
    test::FakePhysMemory memory;
    uint8_t* page = static_cast<uint8_t*>(memory.page(memory.new_page()));
};

// The arm64 C layout (xen.h; vcpu_info is 48 bytes there, 64 on x86): what Xen reads.
TEST(SharedInfoView, MatchesTheArm64CLayout) {
    xen::SharedInfoView view(page);
    POINTERS_EQUAL(page + 0, view.upcall_pending());
    POINTERS_EQUAL(page + 8, view.pending_sel());
    POINTERS_EQUAL(page + 48, view.pending().data());
    POINTERS_EQUAL(page + 48 + 512, view.mask().data());
    LONGS_EQUAL(64, (long)view.pending().size());
    LONGS_EQUAL(4096, (long)xen::SharedInfoView::max_ports);
}

TEST_GROUP(SharedInfoPage) {
    test::FakePhysMemory memory;
    test::FakeMapper mapper{memory};
    FakeHypercall fake;
    test::FakeXenMemory xen_memory{fake, memory, mapper};
    xen::Hypervisor hv{fake};
    FrameAllocator frames;
    void setup() override { CHECK(frames.add_region({PhysAddr{0x50000000}, 16 * page_size}).ok()); }
};

TEST(SharedInfoPage, PlacesTheFrameThenMapsIt) {
    auto page = xen::SharedInfoPage::map(hv, frames, mapper);
    CHECK(page.ok());
    LONGS_EQUAL(1, (long)xen_memory.added.size());
    LONGS_EQUAL(XENMAPSPACE_shared_info, xen_memory.added[0].first);
    UNSIGNED_LONGLONGS_EQUAL(page.value().gfn().value, xen_memory.added[0].second);
    UNSIGNED_LONGLONGS_EQUAL(0x50000, page.value().gfn().value);
    LONGS_EQUAL(15, (long)frames.free_frames());
    // The view reaches Xen's page.
    *page.value().view().pending_sel() = 0x5;
    xen_ulong_t sel;
    memcpy(&sel, static_cast<uint8_t*>(xen_memory.shared_info()) + 8, sizeof sel);
    UNSIGNED_LONGLONGS_EQUAL(0x5, sel);
}

TEST(SharedInfoPage, DestructionUnmapsRemovesAndFreesTheFrame) {
    {
        auto page = xen::SharedInfoPage::map(hv, frames, mapper);
        CHECK(page.ok());
        LONGS_EQUAL(1, (long)mapper.live_mappings());
    }
    LONGS_EQUAL(0, (long)mapper.live_mappings());
    LONGS_EQUAL(1, (long)xen_memory.removed.size());
    LONGS_EQUAL(16, (long)frames.free_frames());
}

TEST(SharedInfoPage, XenRefusalGivesTheFrameBack) {
    xen_memory.fail_add_to_physmap = -XEN_EPERM;
    CHECK_EQUAL(Err::permission, xen::SharedInfoPage::map(hv, frames, mapper).error());
    LONGS_EQUAL(16, (long)frames.free_frames());
    LONGS_EQUAL(0, (long)mapper.maps.size());
}

TEST(SharedInfoPage, AFrameXenWillNotTakeBackIsWithheldAndCounted) {
    {
        auto page = xen::SharedInfoPage::map(hv, frames, mapper);
        CHECK(page.ok());
        xen_memory.fail_remove_from_physmap = -XEN_EBUSY;
    }
    LONGS_EQUAL(0, (long)mapper.live_mappings());
    UNSIGNED_LONGLONGS_EQUAL(1, frames.withheld_frames());
    LONGS_EQUAL(15, (long)frames.free_frames());
}

TEST(SharedInfoPage, AFrameOurTablesStillMapIsWithheld) {
    {
        auto page = xen::SharedInfoPage::map(hv, frames, mapper);
        mapper.fail_next_unmap = Err::io;
    }
    UNSIGNED_LONGLONGS_EQUAL(1, mapper.failed_unmaps());
    UNSIGNED_LONGLONGS_EQUAL(1, frames.withheld_frames());
    LONGS_EQUAL(15, (long)frames.free_frames());
}

TEST(SharedInfoPage, MapFailureTakesThePageOutAgain) {
    mapper.fail_next_map = Err::no_memory;
    CHECK_EQUAL(Err::no_memory, xen::SharedInfoPage::map(hv, frames, mapper).error());
    LONGS_EQUAL(1, (long)xen_memory.removed.size());
    LONGS_EQUAL(16, (long)frames.free_frames());
}

// ---- event channels ------------------------------------------------------------------------

TEST_GROUP(EventChannels) {
    test::FakePhysMemory memory;
    void* page = memory.page(memory.new_page());  // zeroed, page aligned
    FakeHypercall fake;
    FakeXenEvents* xen = nullptr;
    xen::EventChannels* events = nullptr;
    Recorder rec;

    void setup() override {
        xen = new FakeXenEvents(fake, page);
        events = new xen::EventChannels(fake, xen::SharedInfoView(page));
    }
    void teardown() override {
        delete events;
        delete xen;
    }
    xen::EventBinding bind(domid_t dom, uint32_t remote, Handler h) {
        auto b = events->bind_interdomain(dom, remote, h);
        CHECK(b.ok());
        return std::move(b).value();
    }
    // Binds `port` (forced) with the recorder's handler.
    xen::EventBinding bind_port(uint32_t port) {
        xen->force_next_port(port);
        auto b = bind(1, port, rec.handler());
        LONGS_EQUAL(port, b.port());
        return b;
    }
};

TEST(EventChannels, StartsWithEveryPortMasked) {
    CHECK(xen->masked(0));
    CHECK(xen->masked(4095));
    xen->raise(7);
    CHECK_FALSE(events->work_pending());
}

TEST(EventChannels, BindInterdomainMarshalsTheRemoteEndAndUnmasks) {
    xen::EventBinding b = bind(3, 17, rec.handler());
    LONGS_EQUAL(1, (long)fake.count(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_interdomain));
    LONGS_EQUAL(1, b.port());
    LONGS_EQUAL(3, xen->ports[1].remote_dom);
    LONGS_EQUAL(17, (long)xen->ports[1].remote_port);
    CHECK_FALSE(xen->masked(1));
    CHECK(events->has_handler(1));
}

TEST(EventChannels, AllocUnboundNamesUsAndThePeer) {
    auto b = events->alloc_unbound(5, rec.handler());
    CHECK(b.ok());
    LONGS_EQUAL(EVTCHNSTAT_unbound, xen->ports[b.value().port()].kind);
    LONGS_EQUAL(5, xen->ports[b.value().port()].remote_dom);
}

TEST(EventChannels, BindVirqAsksForVcpu0) {
    auto b = events->bind_virq(VIRQ_DEBUG, rec.handler());
    CHECK(b.ok());
    LONGS_EQUAL(EVTCHNSTAT_virq, xen->ports[b.value().port()].kind);
    LONGS_EQUAL(VIRQ_DEBUG, (long)xen->ports[b.value().port()].virq);
}

TEST(EventChannels, StatusReportsTheBinding) {
    xen::EventBinding b = bind(3, 17, rec.handler());
    auto s = events->status(b.port());
    CHECK(s.ok());
    LONGS_EQUAL(EVTCHNSTAT_interdomain, (long)s.value().status);
    LONGS_EQUAL(3, s.value().u.interdomain.dom);
    LONGS_EQUAL(17, (long)s.value().u.interdomain.port);
}

TEST(EventChannels, XenRefusalLeavesNoHandlerBehind) {
    xen->fail_next(EVTCHNOP_bind_interdomain, -XEN_EACCES);
    CHECK_EQUAL(Err::access, events->bind_interdomain(3, 17, rec.handler()).error());
    LONGS_EQUAL(0, (long)events->handlers_in_use());
}

TEST(EventChannels, APortBeyondTheTwoLevelLimitIsClosedAndRefused) {
    xen->force_next_port(4096);
    CHECK_EQUAL(Err::range, events->bind_interdomain(3, 17, rec.handler()).error());
    LONGS_EQUAL(1, (long)xen->closes.size());
    LONGS_EQUAL(4096, (long)xen->closes[0]);
    LONGS_EQUAL(0, (long)events->handlers_in_use());
}

// Every call that takes a port checks the 2-level bound (4096 ports): the last port, 4095,
// is a port like any other; 4096 and 4097 are refused with Err::range before anything is
// touched or Xen is asked.
TEST(EventChannels, ThePortBoundHoldsAtItsEdgeEverywhere) {
    const uint32_t last = xen::EventChannels::max_ports - 1;
    LONGS_EQUAL(4095, (long)last);
    for (uint32_t port : {last + 1, last + 2, 0xffffffffu}) {
        size_t calls = fake.calls.size();
        CHECK_EQUAL(Err::range, events->send(port).error());
        CHECK_EQUAL(Err::range, events->status(port).error());
        CHECK_EQUAL(Err::range, events->mask(port).error());
        CHECK_EQUAL(Err::range, events->unmask(port).error());
        CHECK_EQUAL(Err::range, events->is_masked(port).error());
        CHECK_EQUAL(Err::range, events->is_pending(port).error());
        CHECK_EQUAL(Err::range, events->clear(port).error());
        CHECK_EQUAL(Err::range, events->test_and_clear(port).error());
        CHECK_EQUAL(Err::range, events->attach(port, rec.handler()).error());
        CHECK_EQUAL(Err::range, events->detach(port).error());
        CHECK_EQUAL(Err::range, events->close(port).error());
        CHECK_FALSE(events->has_handler(port));
        LONGS_EQUAL(calls, (long)fake.calls.size());
        LONGS_EQUAL(0, (long)events->handlers_in_use());  // no slot taken on the way
    }
    // The last port works: attach, raise, dispatch, poll, detach.
    CHECK(events->attach(last, rec.handler()).ok());
    CHECK(events->has_handler(last));
    CHECK_FALSE(events->is_masked(last).value());
    xen->raise(last);
    CHECK(events->is_pending(last).value());
    LONGS_EQUAL(1, (long)events->dispatch_pending(10));
    CHECK(rec.seen == std::vector<uint32_t>{last});
    CHECK(events->mask(last).ok());
    CHECK(events->is_masked(last).value());
    xen->raise(last);
    CHECK(events->test_and_clear(last).value());
    CHECK(events->unmask(last).ok());
    CHECK(events->detach(last).ok());
    CHECK_FALSE(events->has_handler(last));
    CHECK(events->clear(last).ok());
    CHECK_EQUAL(Err::invalid, events->send(last).error());  // it reached Xen, which knows no such port
    CHECK(events->status(last).ok());
}

// has_handler() reads a per-port table: past its end it must say no, even while handler slots
// (the memory right after that table) are in use.
TEST(EventChannels, NoHandlerBeyondTheLastPort) {
    xen::EventBinding b = bind_port(1);
    CHECK(events->has_handler(1));
    CHECK_FALSE(events->has_handler(xen::EventChannels::max_ports));
    CHECK_FALSE(events->has_handler(xen::EventChannels::max_ports + 1));
}

TEST(EventChannels, ABindingOnTheLastPortIsKeptOnePastItIsClosed) {
    xen->force_next_port(4095);
    auto b = events->bind_interdomain(3, 17, rec.handler());
    CHECK(b.ok());
    LONGS_EQUAL(4095, (long)b.value().port());
    xen->force_next_port(4097);
    CHECK_EQUAL(Err::range, events->bind_interdomain(3, 18, rec.handler()).error());
    CHECK(xen->closes == std::vector<uint32_t>{4097});
    LONGS_EQUAL(1, (long)events->handlers_in_use());
}

TEST(EventChannels, AFullHandlerTableIsRefusedBeforeAskingXen) {
    std::vector<xen::EventBinding> all;
    for (size_t i = 0; i < xen::EventChannels::max_handlers; ++i) all.push_back(bind(1, 1, rec.handler()));
    size_t calls = fake.calls.size();
    CHECK_EQUAL(Err::no_space, events->alloc_unbound(1, rec.handler()).error());
    LONGS_EQUAL(calls, (long)fake.calls.size());
    all.pop_back();
    CHECK(events->alloc_unbound(1, rec.handler()).ok());
}

TEST(EventChannels, BindingHandleClosesAndDropsTheHandler) {
    uint32_t port;
    {
        xen::EventBinding b = bind(3, 17, rec.handler());
        port = b.port();
    }
    LONGS_EQUAL(1, (long)xen->closes.size());
    LONGS_EQUAL(port, xen->closes[0]);
    CHECK_FALSE(events->has_handler(port));
    CHECK(xen->masked(port));
    // A late event for the closed port reaches nobody.
    xen->raise(port);
    LONGS_EQUAL(0, (long)events->dispatch_pending(10));
    CHECK(rec.seen.empty());
}

TEST(EventChannels, ClosingClearsAStalePendingBit) {
    xen::EventBinding b = bind_port(9);
    CHECK(events->mask(9).ok());
    xen->raise(9);
    CHECK(b.close().ok());
    CHECK_FALSE(xen->pending(9));
    CHECK_FALSE(b.valid());
}

TEST(EventChannels, MovedBindingClosesOnce) {
    xen::EventBinding a = bind(3, 17, rec.handler());
    xen::EventBinding b = std::move(a);
    CHECK_FALSE(a.valid());
    a.reset();
    LONGS_EQUAL(0, (long)xen->closes.size());
    b.reset();
    LONGS_EQUAL(1, (long)xen->closes.size());
}

TEST(EventChannels, SendAndPortNotifierUseThePort) {
    xen::EventBinding b = bind(3, 17, rec.handler());
    CHECK(events->send(b.port()).ok());
    xen::PortNotifier n = b.notifier();
    Notifier& as_notifier = n;
    as_notifier.notify();
    LONGS_EQUAL(2, (long)xen->sends.size());
    LONGS_EQUAL(b.port(), xen->sends[1]);
    xen::PortNotifier broken(*events, 999);  // never bound: Xen refuses
    broken.notify();
    UNSIGNED_LONGLONGS_EQUAL(1, events->stats().send_errors);
}

TEST(EventChannels, DispatchClearsThePendingBitAndUpcallBeforeTheHandler) {
    xen::EventBinding b = bind_port(5);
    bool cleared_first = false;
    rec.also = [&](uint32_t port) { cleared_first = !xen->pending(port) && xen->upcall_pending() == 0; };
    xen->raise(5);
    CHECK(xen->upcall_pending());
    CHECK(events->work_pending());
    LONGS_EQUAL(1, (long)events->dispatch_pending(10));
    CHECK(cleared_first);
    CHECK(rec.seen == std::vector<uint32_t>{5});
    CHECK_FALSE(events->work_pending());
    UNSIGNED_LONGLONGS_EQUAL(0, xen->selector());
}

TEST(EventChannels, AnEventDuringItsHandlerIsNotLost) {
    xen::EventBinding b = bind_port(5);
    int raised = 0;
    rec.also = [&](uint32_t port) {
        if (raised++ == 0) xen->raise(port);  // the peer notifies again while we handle it
    };
    xen->raise(5);
    events->dispatch_pending(1);
    CHECK(events->work_pending());
    events->dispatch_pending(1);
    LONGS_EQUAL(2, (long)rec.seen.size());
    LONGS_EQUAL(0, (long)events->dispatch_pending(1));  // the budget ran out: one more look
    CHECK_FALSE(events->work_pending());
}

TEST(EventChannels, ServesPendingPortsInPortOrderFromTheStart) {
    std::vector<xen::EventBinding> bs;
    for (uint32_t p : {3u, 70u, 64u, 4000u, 1u}) bs.push_back(bind_port(p));
    for (uint32_t p : {4000u, 64u, 3u, 70u, 1u}) xen->raise(p);
    LONGS_EQUAL(5, (long)events->dispatch_pending(100));
    CHECK((rec.seen == std::vector<uint32_t>{1, 3, 64, 70, 4000}));
}

// A port whose handler makes it fire again at once (a busy peer) must not starve the others:
// with any budget, every other pending port is served before the busy one comes round again.
TEST(EventChannels, AConstantlyFiringPortDoesNotStarveTheOthers) {
    std::vector<xen::EventBinding> bs;
    for (uint32_t p : {2u, 3u, 130u}) bs.push_back(bind_port(p));
    rec.also = [&](uint32_t port) {
        if (port == 2) xen->raise(2);
    };
    for (uint32_t p : {2u, 3u, 130u}) xen->raise(p);
    LONGS_EQUAL(7, (long)events->dispatch_pending(7));
    CHECK((rec.seen == std::vector<uint32_t>{2, 3, 130, 2, 2, 2, 2}));
    CHECK(events->work_pending());
}

TEST(EventChannels, RoundRobinHoldsAcrossCallsWithABudgetOfOne) {
    std::vector<xen::EventBinding> bs;
    for (uint32_t p : {10u, 11u, 700u}) bs.push_back(bind_port(p));
    rec.also = [&](uint32_t port) { xen->raise(port); };  // all three always busy
    for (uint32_t p : {10u, 11u, 700u}) xen->raise(p);
    for (int i = 0; i < 7; ++i) LONGS_EQUAL(1, (long)events->dispatch_pending(1));
    CHECK((rec.seen == std::vector<uint32_t>{10, 11, 700, 10, 11, 700, 10}));
}

TEST(EventChannels, RoundRobinWrapsWithinOneWord) {
    std::vector<xen::EventBinding> bs;
    for (uint32_t p : {1u, 40u}) bs.push_back(bind_port(p));
    xen->raise(40);
    events->dispatch_pending(1);  // the resume point is now after 40
    xen->raise(1);
    xen->raise(40);
    LONGS_EQUAL(2, (long)events->dispatch_pending(10));
    CHECK((rec.seen == std::vector<uint32_t>{40, 1, 40}));
}

TEST(EventChannels, SelectorBitsLeftByTheBudgetAreKept) {
    std::vector<xen::EventBinding> bs;
    for (uint32_t p : {5u, 200u, 3000u}) bs.push_back(bind_port(p));
    for (uint32_t p : {5u, 200u, 3000u}) xen->raise(p);
    LONGS_EQUAL(1, (long)events->dispatch_pending(1));
    // Xen's selector was taken whole; the rest lives on in EventChannels.
    UNSIGNED_LONGLONGS_EQUAL(0, xen->selector());
    CHECK(events->work_pending());
    LONGS_EQUAL(1, (long)events->dispatch_pending(1));
    CHECK(events->work_pending());
    LONGS_EQUAL(1, (long)events->dispatch_pending(1));
    CHECK((rec.seen == std::vector<uint32_t>{5, 200, 3000}));
    LONGS_EQUAL(0, (long)events->dispatch_pending(1));
    CHECK_FALSE(events->work_pending());
}

TEST(EventChannels, CostFollowsThePendingPortsNotThePortCount) {
    std::vector<xen::EventBinding> bs;
    for (uint32_t p : {17u, 2100u, 4095u}) bs.push_back(bind_port(p));
    for (uint32_t p : {17u, 2100u, 4095u}) xen->raise(p);
    LONGS_EQUAL(3, (long)events->dispatch_pending(100));
    // One read per port served, plus one per word to see it is empty: 6 of 64 words' worth.
    UNSIGNED_LONGLONGS_EQUAL(6, events->stats().words_scanned);
    // A pending word whose selector bit Xen did not set is never looked at.
    uint64_t before = events->stats().words_scanned;
    xen::SharedInfoView(page).pending()[33] = ~xen_ulong_t{0};
    LONGS_EQUAL(0, (long)events->dispatch_pending(100));
    UNSIGNED_LONGLONGS_EQUAL(before, events->stats().words_scanned);
}

TEST(EventChannels, MaskedPortsWaitAndUnmaskRedeliversThroughXen) {
    xen::EventBinding b = bind_port(8);
    CHECK(events->mask(8).ok());
    xen->raise(8);
    CHECK_FALSE(events->work_pending());  // Xen set no selector bit for a masked port
    LONGS_EQUAL(0, (long)events->dispatch_pending(10));
    CHECK(events->is_pending(8).value());
    CHECK(events->unmask(8).ok());
    LONGS_EQUAL(1, (long)xen->unmask_calls.size());  // pending: Xen must re-raise the upcall
    CHECK(events->work_pending());
    LONGS_EQUAL(1, (long)events->dispatch_pending(10));
    CHECK(rec.seen == std::vector<uint32_t>{8});
}

// The race unmask() guards against: Xen marks the port pending after unmask() found it clear
// but before it cleared the mask bit, so Xen saw it masked and set no selector bit. The event
// must not be lost. Xen plays its part at every instruction boundary of unmask() in turn
// (single-stepped): after each run, a port that is pending and unmasked must be seen by
// work_pending() and delivered.
TEST(EventChannels, AnEventRaisedAtAnyPointOfUnmaskIsDelivered) {
    xen::EventBinding b = bind_port(8);
    auto reset = [&] {
        CHECK(events->mask(8).ok());
        CHECK(events->clear(8).ok());
        for (int i = 0; i < 8 && events->work_pending(); ++i) events->dispatch_pending(64);
        CHECK_FALSE(events->work_pending());
        rec.seen.clear();
    };
    reset();
    long total = test::single_step([&] { CHECK(events->unmask(8).ok()); }, [](long) { return true; });
    CHECK(total > 10);
    int in_the_window = 0;  // raised after the check, before the mask was cleared
    for (long k = 0; k <= total; ++k) {
        reset();
        size_t xen_unmasks = xen->unmask_calls.size();
        bool raised = false, raised_masked = false;
        test::single_step([&] { CHECK(events->unmask(8).ok()); },
                          [&](long step) {
                              if (step < k) return true;
                              raised = true;
                              raised_masked = xen->masked(8);
                              xen->raise(8);
                              return false;
                          });
        if (!raised) xen->raise(8);  // past the end: an event after unmask() returned
        CHECK_FALSE(xen->masked(8));
        CHECK(xen->pending(8));
        bool local_path = xen->unmask_calls.size() == xen_unmasks;
        if (local_path && raised_masked) ++in_the_window;
        CHECK(events->work_pending());
        LONGS_EQUAL(1, (long)events->dispatch_pending(64));
        CHECK(rec.seen == std::vector<uint32_t>{8});
    }
    CHECK(in_the_window > 0);  // the window exists, and the runs above went through it
}

TEST(EventChannels, UnmaskWithoutAPendingEventStaysLocal) {
    xen::EventBinding b = bind_port(8);
    CHECK(events->mask(8).ok());
    CHECK(events->unmask(8).ok());
    CHECK_FALSE(xen->masked(8));
    LONGS_EQUAL(0, (long)xen->unmask_calls.size());
}

TEST(EventChannels, MaskedBitsInASelectedWordAreSkipped) {
    xen::EventBinding a = bind_port(4);
    xen::EventBinding b = bind_port(6);
    CHECK(events->mask(6).ok());
    xen->raise(6);
    xen->raise(4);
    LONGS_EQUAL(1, (long)events->dispatch_pending(10));
    CHECK(rec.seen == std::vector<uint32_t>{4});
    CHECK(xen->pending(6));
}

TEST(EventChannels, TestAndClearPollsAMaskedPort) {
    xen::EventBinding b = bind_port(12);
    CHECK_EQUAL(Err::invalid, events->test_and_clear(12).error());  // unmasked: dispatch owns it
    CHECK(events->mask(12).ok());
    CHECK_FALSE(events->test_and_clear(12).value());
    xen->raise(12);
    CHECK(events->test_and_clear(12).value());
    CHECK_FALSE(xen->pending(12));
    CHECK_FALSE(events->test_and_clear(12).value());
    CHECK(rec.seen.empty());
}

TEST(EventChannels, EventsWithoutAHandlerAreClearedAndCounted) {
    // A toolstack port we unmask without caring about it.
    CHECK(events->unmask(30).ok());
    xen->raise(30);
    LONGS_EQUAL(1, (long)events->dispatch_pending(10));
    CHECK_FALSE(xen->pending(30));
    UNSIGNED_LONGLONGS_EQUAL(1, events->stats().unhandled);
    UNSIGNED_LONGLONGS_EQUAL(0, events->stats().dispatched);
}

// attach() means handled and unmasked: if the unmask fails, no handler stays behind.
TEST(EventChannels, AnAttachWhoseUnmaskFailsLeavesNoHandler) {
    xen->raise(2);  // pending while masked: unmask() must ask Xen
    xen->fail_next(EVTCHNOP_unmask, -XEN_EINVAL);
    CHECK_EQUAL(Err::invalid, events->attach(2, rec.handler()).error());
    CHECK_FALSE(events->has_handler(2));
    LONGS_EQUAL(0, (long)events->handlers_in_use());
    CHECK(events->attach(2, rec.handler()).ok());  // and it can be attached again
}

TEST(EventChannels, AttachAndDetachKeepThePortOpen) {
    CHECK(events->attach(2, rec.handler()).ok());
    CHECK_EQUAL(Err::exists, events->attach(2, rec.handler()).error());
    xen->raise(2);
    events->dispatch_pending(10);
    CHECK(rec.seen == std::vector<uint32_t>{2});
    CHECK(events->detach(2).ok());
    CHECK(xen->masked(2));
    CHECK_FALSE(events->has_handler(2));
    LONGS_EQUAL(0, (long)xen->closes.size());
}

TEST(EventChannels, AHandlerMayCloseItsOwnPort) {
    xen::EventBinding b = bind_port(5);
    xen::EventBinding other = bind_port(6);
    rec.also = [&](uint32_t port) {
        if (port == 5) b.reset();
    };
    xen->raise(5);
    xen->raise(6);
    LONGS_EQUAL(2, (long)events->dispatch_pending(10));
    CHECK((rec.seen == std::vector<uint32_t>{5, 6}));
    CHECK_FALSE(events->has_handler(5));
}
