// The IOREQ server against a fake Xen (tests/fakes/fake_xen_dm.h): setup in the order Xen needs
// and its undoing on every failure, every READY slot answered whatever its type, MMIO routed to
// the right window with its offset and width, deferred writes, INVALIDATE before its answer,
// hostile slot contents, polled and event-driven modes, teardown (a gone guest included).
#include "tests/test_support.h"

#include "kernel/frame_allocator.h"
#include "tests/fakes/fake_hypercall.h"
#include "tests/fakes/fake_memory.h"
#include "tests/fakes/fake_xen_dm.h"
#include "tests/fakes/fake_xen_events.h"
#include "tests/fakes/fake_xen_memory.h"
#include "virtio/mmio_handler.h"
#include "xen/event_channels.h"
#include "xen/ioreq_server.h"

using namespace domd;
using domd::test::FakeXenDm;
using virtio::MmioAnswer;

namespace {

constexpr domid_t guest = 7;
constexpr uint64_t window = 0x02000000;

// Records accesses; answers reads with offset + 0x1000, and `retry` while `busy` writes remain.
struct RecordingHandler final : public virtio::MmioHandler {
    struct Access {
        bool read;
        uint64_t offset;
        uint8_t size;
        uint64_t value;
    };
    MmioAnswer read(uint64_t offset, uint8_t size) override {
        log.push_back({true, offset, size, 0});
        return MmioAnswer::read_value(read_value ? read_value : offset + 0x1000);
    }
    MmioAnswer write(uint64_t offset, uint8_t size, uint64_t value) override {
        log.push_back({false, offset, size, value});
        if (busy > 0) {
            --busy;
            return MmioAnswer::later();
        }
        return MmioAnswer::ok();
    }
    std::vector<Access> log;
    int busy = 0;
    uint64_t read_value = 0;
};

}  // namespace

TEST_GROUP(IoreqServer) {
    test::FakePhysMemory memory;
    test::FakeMapper mapper{memory};
    test::FakeHypercall hc;
    test::FakeXenMemory xen_memory{hc, memory, mapper};
    test::FakeXenEvents xen_events{hc, xen_memory.shared_info()};
    FakeXenDm dm{hc, memory, mapper, xen_events, guest, 2, 64 << 20};
    std::unique_ptr<xen::EventChannels> events;
    FrameAllocator frames;
    std::unique_ptr<xen::IoreqServer> server;
    RecordingHandler handler;

    void setup() override {
        events = std::make_unique<xen::EventChannels>(hc, xen::SharedInfoView(xen_memory.shared_info()));
        CHECK(frames.add_region(PhysRange{PhysAddr{0x80000000}, 64 << 20}).ok());
        server = std::make_unique<xen::IoreqServer>(hc, *events, frames, mapper, guest);
    }
    void teardown() override {
        server.reset();
        events.reset();
    }
    void create_with_window() {
        CHECK(server->create().ok());
        CHECK(server->add_window(window, 0x200, handler).ok());
    }
};

TEST(IoreqServer, IsBuiltInTheOrderXenNeeds) {
    CHECK(server->create().ok());
    std::vector<unsigned> expected = {XEN_DMOP_nr_vcpus, XEN_DMOP_create_ioreq_server, XEN_DMOP_set_ioreq_server_state};
    CHECK(expected == dm.dm_ops);
    LONGS_EQUAL(1, (long)dm.servers.size());
    CHECK(dm.servers.begin()->second.enabled);
    UNSIGNED_LONGS_EQUAL(2, server->vcpus());
    // One of our ports bound to each vCPU's port, which Xen wrote into the page on enable.
    int bound = 0;
    for (const auto& [local, p] : xen_events.ports)
        if (p.kind == EVTCHNSTAT_interdomain && p.remote_dom == guest) {
            CHECK(p.remote_port == FakeXenDm::first_guest_port || p.remote_port == FakeXenDm::first_guest_port + 1);
            ++bound;
        }
    LONGS_EQUAL(2, bound);
}

TEST(IoreqServer, WithoutIoreqSupportXenSaysNotImplementedAndNothingIsLeft) {
    dm.fail_dm_op[XEN_DMOP_create_ioreq_server] = -XEN_ENOSYS;
    CHECK_EQUAL(Err::not_implemented, server->create().error());
    CHECK_FALSE(server->created());
    CHECK(dm.servers.empty());
}

TEST(IoreqServer, AFailureHalfWayUndoesEverything) {
    uint64_t free_before = frames.free_frames();
    dm.fail_acquire = -XEN_EACCES;
    CHECK_EQUAL(Err::access, server->create().error());
    CHECK(dm.servers.empty());  // destroyed again
    UNSIGNED_LONGLONGS_EQUAL(free_before, frames.free_frames());
    dm.fail_acquire = 0;
    xen_events.fail_next(EVTCHNOP_bind_interdomain, -XEN_ENOSPC);
    CHECK_EQUAL(Err::no_space, server->create().error());
    CHECK(dm.servers.empty());
    LONGS_EQUAL(0, (long)mapper.live_mappings());
    UNSIGNED_LONGLONGS_EQUAL(free_before, frames.free_frames());
    CHECK(server->create().ok());  // and it works afterwards
}

TEST(IoreqServer, VcpuCountIsCheckedAtItsBound) {
    dm.vcpus = xen::IoreqServer::max_vcpus;
    CHECK(server->create().ok());
    CHECK(server->destroy().ok());
    dm.vcpus = xen::IoreqServer::max_vcpus + 1;
    CHECK_EQUAL(Err::too_big, server->create().error());
    dm.vcpus = 0;
    CHECK_EQUAL(Err::too_big, server->create().error());
}

TEST(IoreqServer, AnMmioReadIsAnsweredWithTheHandlersValueMaskedToItsWidth) {
    create_with_window();
    handler.read_value = 0x1122334455667788;
    dm.post_mmio_read(1, window + 0x70, 2);
    CHECK(server->pending());
    CHECK(server->poll());
    uint64_t data = 0;
    CHECK(dm.take_answer(1, &data));
    UNSIGNED_LONGLONGS_EQUAL(0x7788, data);
    LONGS_EQUAL(1, (long)handler.log.size());
    CHECK(handler.log[0].read && handler.log[0].offset == 0x70 && handler.log[0].size == 2);
    UNSIGNED_LONGLONGS_EQUAL(1, server->stats().mmio_reads);
}

TEST(IoreqServer, AnMmioWriteReachesTheHandlerWithOnlyItsWidthsBits) {
    create_with_window();
    dm.post_mmio_write(0, window + 0x50, 4, 0xffffffff00000003);
    CHECK(server->poll());
    CHECK(dm.take_answer(0));
    CHECK(!handler.log[0].read && handler.log[0].offset == 0x50 && handler.log[0].value == 3);
}

TEST(IoreqServer, EveryVcpuIsServedInOnePass) {
    create_with_window();
    dm.post_mmio_read(0, window + 0x0, 4);
    dm.post_mmio_read(1, window + 0x4, 4);
    CHECK(server->poll());
    CHECK(dm.take_answer(0));
    CHECK(dm.take_answer(1));
    CHECK_FALSE(server->pending());
}

TEST(IoreqServer, WindowsRouteByAddressWithTheirOwnOffsets) {
    RecordingHandler second;
    create_with_window();
    CHECK(server->add_window(window + 0x200, 0x200, second).ok());
    CHECK_EQUAL(Err::exists, server->add_window(window + 0x100, 0x200, second).error());
    dm.post_mmio_read(0, window + 0x204, 4);
    CHECK(server->poll());
    CHECK(dm.take_answer(0));
    CHECK(handler.log.empty());
    LONGS_EQUAL(1, (long)second.log.size());
    UNSIGNED_LONGLONGS_EQUAL(4, second.log[0].offset);
    CHECK(server->remove_window(window + 0x200).ok());
    CHECK_EQUAL(Err::not_found, server->remove_window(window + 0x200).error());
}

TEST(IoreqServer, AccessesAtAWindowsEdges) {
    create_with_window();
    dm.post_mmio_read(0, window + 0x1fc, 4);  // the last word: inside
    CHECK(server->poll());
    CHECK(dm.take_answer(0));
    LONGS_EQUAL(1, (long)handler.log.size());
    dm.post_mmio_read(0, window + 0x1fe, 4);  // straddles the end: outside
    uint64_t data = 0;
    CHECK(server->poll());
    CHECK(dm.take_answer(0, &data));
    UNSIGNED_LONGLONGS_EQUAL(~uint64_t{0}, data);
    dm.post_mmio_read(0, window + 0x200, 4);  // just past it
    CHECK(server->poll());
    CHECK(dm.take_answer(0));
    dm.post_mmio_read(0, window - 4, 4);  // just before it
    CHECK(server->poll());
    CHECK(dm.take_answer(0));
    LONGS_EQUAL(1, (long)handler.log.size());
    UNSIGNED_LONGLONGS_EQUAL(3, server->stats().bad_accesses);
}

TEST(IoreqServer, HostileSlotContentsAreAnsweredNotTrusted) {
    create_with_window();
    dm.post(0, IOREQ_TYPE_COPY, window, 4, true, 0, 2);           // rep
    CHECK(server->poll());
    CHECK(dm.take_answer(0));
    dm.post(0, IOREQ_TYPE_COPY, window, 4, false, 0x1234, 1, true);  // data is a pointer
    CHECK(server->poll());
    CHECK(dm.take_answer(0));
    for (uint32_t size : {0u, 3u, 16u, 0xffffffffu}) {
        dm.post(0, IOREQ_TYPE_COPY, window, size, true);
        CHECK(server->poll());
        CHECK(dm.take_answer(0));
    }
    CHECK(handler.log.empty());
    UNSIGNED_LONGLONGS_EQUAL(6, server->stats().bad_accesses);
}

TEST(IoreqServer, UnknownTypesAreAnsweredAndCounted) {
    create_with_window();
    for (uint8_t type : {uint8_t{IOREQ_TYPE_PIO}, uint8_t{IOREQ_TYPE_PCI_CONFIG}, uint8_t{IOREQ_TYPE_TIMEOFFSET}, uint8_t{200}}) {
        dm.post(1, type, 0, 4, true);
        CHECK(server->poll());
        CHECK(dm.take_answer(1));
    }
    UNSIGNED_LONGLONGS_EQUAL(4, server->stats().other_types);
}

TEST(IoreqServer, InvalidateRunsItsHandlerBeforeTheAnswer) {
    create_with_window();
    bool answered_when_called = true;
    auto on_invalidate = [&] { answered_when_called = dm.state(0) == STATE_IORESP_READY; };
    server->set_invalidate_handler(Callback<void()>::ref(on_invalidate));
    dm.post(0, IOREQ_TYPE_INVALIDATE, 0, 0, false);
    CHECK(server->poll());
    CHECK_FALSE(answered_when_called);
    CHECK(dm.take_answer(0));
    UNSIGNED_LONGLONGS_EQUAL(1, server->stats().invalidates);
}

TEST(IoreqServer, ADeferredWriteHoldsItsVcpuUntilTheHandlerIsDone) {
    create_with_window();
    handler.busy = 2;
    dm.post_mmio_write(0, window + 0x70, 4, 0);
    CHECK_FALSE(server->poll());
    UNSIGNED_LONGS_EQUAL(STATE_IOREQ_INPROCESS, dm.state(0));
    CHECK(server->pending());
    dm.post_mmio_read(1, window, 4);  // the other vCPU is not held up
    CHECK(server->poll());
    CHECK(dm.take_answer(1));
    CHECK_FALSE(dm.take_answer(0));
    CHECK(server->poll());  // the third offer is taken
    CHECK(dm.take_answer(0));
    LONGS_EQUAL(3 + 1, (long)handler.log.size());
    UNSIGNED_LONGLONGS_EQUAL(2, server->stats().retries);
}

TEST(IoreqServer, PolledModeMasksThePortsEventModeUnmasksThem) {
    create_with_window();
    server->set_polling(true);
    for (const auto& [local, p] : xen_events.ports)
        if (p.remote_dom == guest) CHECK(xen_events.masked(local));
    dm.post_mmio_read(0, window, 4);
    CHECK(server->pending());  // seen in the slot, not through the port
    CHECK(server->poll());
    CHECK(dm.take_answer(0));  // and the answer is still sent: Xen never polls
    server->set_polling(false);
    for (const auto& [local, p] : xen_events.ports)
        if (p.remote_dom == guest) CHECK_FALSE(xen_events.masked(local));
}

TEST(IoreqServer, DestroyUndoesItAllAndAGoneGuestCountsAsDone) {
    uint64_t free_before = frames.free_frames();
    create_with_window();
    CHECK(server->destroy().ok());
    CHECK(dm.servers.empty());
    UNSIGNED_LONGLONGS_EQUAL(free_before, frames.free_frames());
    LONGS_EQUAL(0, (long)mapper.live_mappings());
    CHECK_FALSE(server->poll());
    create_with_window();
    dm.guest_gone = true;
    CHECK(server->destroy().ok());
    UNSIGNED_LONGLONGS_EQUAL(free_before, frames.free_frames());
}
