// A guest's RAM mapped lazily, 2 MiB at a time, with foreign mappings against a fake Xen: one
// batch per chunk and none in steady state, holes that stay holes, ranges across chunks,
// invalidation (old frames unreachable at once, given back in slices), and grant-addressed
// rings and buffers through the per-device view (DeviceMemory).
#include "tests/test_support.h"

#include "kernel/frame_allocator.h"
#include "tests/fakes/fake_hypercall.h"
#include "tests/fakes/fake_memory.h"
#include "tests/fakes/fake_xen_dm.h"
#include "tests/fakes/fake_xen_events.h"
#include "tests/fakes/fake_xen_memory.h"
#include "xen/device_memory.h"
#include "xen/guest_ram.h"

using namespace domd;
using domd::test::FakeXenDm;
using xen::GuestRam;

namespace {
constexpr domid_t guest = 9;
constexpr uint64_t ram = FakeXenDm::ram_base;
constexpr uint64_t chunk = GuestRam::chunk_bytes;
}  // namespace

TEST_GROUP(GuestRam) {
    test::FakePhysMemory memory;
    test::FakeMapper mapper{memory};
    test::FakeHypercall hc;
    test::FakeXenMemory xen_memory{hc, memory, mapper};
    test::FakeXenEvents xen_events{hc, xen_memory.shared_info()};
    FakeXenDm dm{hc, memory, mapper, xen_events, guest, 1, 16 << 20};  // 16 MiB: 8 chunks
    xen::DeviceModel model{hc, guest};
    xen::Hypervisor hv{hc};
    FrameAllocator frames;
    std::unique_ptr<GuestRam> guest_ram;

    void setup() override {
        CHECK(frames.add_region(PhysRange{PhysAddr{uint64_t{1} << 33}, uint64_t{1} << 30}).ok());
        guest_ram = std::make_unique<GuestRam>(model, hv, frames, mapper);
        CHECK(guest_ram->start().ok());
    }
    void teardown() override { guest_ram.reset(); }
};

TEST(GuestRam, AChunkIsMappedOnceWithOneBatchAndThenCostsNothing) {
    memcpy(dm.ram(ram + 0x1234), "guest", 5);
    auto p = guest_ram->translate(ram + 0x1234, 5);
    CHECK(p.ok());
    CHECK(memcmp(p.value(), "guest", 5) == 0);
    LONGS_EQUAL(1, (long)dm.foreign_batches.size());
    UNSIGNED_LONGS_EQUAL(GuestRam::chunk_pages, dm.foreign_batches[0]);
    size_t calls = hc.calls.size();
    for (int i = 0; i < 100; ++i) CHECK(guest_ram->translate(ram + 4096 * (i % 512), 64).ok());
    LONGS_EQUAL((long)calls, (long)hc.calls.size());  // zero hypercalls in steady state
    UNSIGNED_LONGLONGS_EQUAL(100, guest_ram->stats().hits);
    UNSIGNED_LONGLONGS_EQUAL(1, guest_ram->stats().misses);
    p.value()[0] = 'G';  // writes reach the guest's page
    CHECK(*dm.ram(ram + 0x1234) == 'G');
}

TEST(GuestRam, ARangeAcrossChunksIsContiguous) {
    memcpy(dm.ram(ram + chunk - 2), "ab", 2);
    memcpy(dm.ram(ram + chunk), "cd", 2);
    auto p = guest_ram->translate(ram + chunk - 2, 4);
    CHECK(p.ok());
    CHECK(memcmp(p.value(), "abcd", 4) == 0);
    LONGS_EQUAL(2, (long)dm.foreign_batches.size());
}

TEST(GuestRam, AddressesOutsideGuestRamAreFaults) {
    CHECK_EQUAL(Err::fault, guest_ram->translate(ram - 1, 1).error());
    CHECK_EQUAL(Err::fault, guest_ram->translate(0, 4096).error());
    CHECK_EQUAL(Err::fault, guest_ram->translate(ram + GuestRam::bank0_size, 1).error());
    CHECK_EQUAL(Err::fault, guest_ram->translate(GuestRam::bank1_base + GuestRam::bank1_size, 1).error());
    // Crossing from below RAM into it, or out of the first bank.
    CHECK_EQUAL(Err::fault, guest_ram->translate(ram - 1, 2).error());
    CHECK_EQUAL(Err::fault, guest_ram->translate(ram + GuestRam::bank0_size - 1, 2).error());
    CHECK_EQUAL(Err::range, guest_ram->translate(~uint64_t{0} - 1, 4).error());
    // Past the guest's actual RAM (16 MiB): Xen refuses every frame.
    CHECK_EQUAL(Err::fault, guest_ram->translate(ram + (16 << 20), 1).error());
    CHECK(guest_ram->translate(ram + (16 << 20) - 1, 1).ok());  // its last byte
}

TEST(GuestRam, AHoleStaysAHoleAndTheRestOfItsChunkWorks) {
    dm.foreign_errors[(ram >> page_shift) + 3] = -XEN_ENOMEM;
    CHECK(guest_ram->translate(ram, page_size).ok());
    CHECK_EQUAL(Err::fault, guest_ram->translate(ram + 3 * page_size, 1).error());
    CHECK_EQUAL(Err::fault, guest_ram->translate(ram + 2 * page_size, page_size + 1).error());  // touches it
    CHECK(guest_ram->translate(ram + 4 * page_size, page_size).ok());
    UNSIGNED_LONGLONGS_EQUAL(1, guest_ram->stats().chunks_partial);
    UNSIGNED_LONGLONGS_EQUAL(1, guest_ram->stats().enomem);
    LONGS_EQUAL(1, (long)dm.foreign_batches.size());  // the hole is not retried on every access
}

TEST(GuestRam, AGoneGuestFailsTheMapping) {
    dm.guest_gone = true;
    CHECK_EQUAL(Err::no_such_domain, guest_ram->translate(ram, 1).error());
}

TEST(GuestRam, InvalidationMakesOldFramesUnreachableAtOnce) {
    auto before = guest_ram->translate(ram, page_size);
    CHECK(before.ok());
    uint64_t generation = guest_ram->generation();
    dm.replace_frame(ram);  // the guest's p2m entry changed; Xen says INVALIDATE
    guest_ram->invalidate();
    CHECK(guest_ram->generation() != generation);
    CHECK(guest_ram->draining());
    auto after = guest_ram->translate(ram, page_size);
    CHECK(after.ok());
    after.value()[0] = 'N';
    CHECK(*dm.ram(ram) == 'N');  // the new frame got it: nothing goes to the old one
    LONGS_EQUAL(2, (long)dm.foreign_batches.size());
}

TEST(GuestRam, DroppedFramesAreGivenBackInSlices) {
    uint64_t free_before = frames.free_frames();
    CHECK(guest_ram->translate(ram, 1).ok());
    CHECK(guest_ram->translate(ram + chunk, 1).ok());
    guest_ram->invalidate();
    size_t removes_before = xen_memory.removed.size();
    CHECK(guest_ram->drain(100));
    LONGS_EQUAL(100, (long)(xen_memory.removed.size() - removes_before));  // the budget, exactly
    int passes = 1;
    while (guest_ram->drain(100)) ++passes;
    LONGS_EQUAL(10, passes);  // 1024 pages: ten slices say "more", the eleventh finishes
    UNSIGNED_LONGLONGS_EQUAL(2 * 512, guest_ram->stats().pages_drained);
    UNSIGNED_LONGLONGS_EQUAL(free_before, frames.free_frames());
    guest_ram->release_reservations();
    CHECK(guest_ram->idle());
    LONGS_EQUAL(0, (long)mapper.live_reservations());
}

TEST(GuestRam, StopGivesEverythingBack) {
    CHECK(guest_ram->translate(ram + 5 * chunk, 1).ok());
    guest_ram->stop();
    CHECK(guest_ram->idle());
    LONGS_EQUAL(0, (long)mapper.pages_mapped_at());
    LONGS_EQUAL(0, (long)mapper.live_reservations());
}

// ---- one device's view: guest-physical and grant addresses ------------------------------------

TEST_GROUP(DeviceMemory) {
    test::FakePhysMemory memory;
    test::FakeMapper mapper{memory};
    test::FakeHypercall hc;
    test::FakeXenMemory xen_memory{hc, memory, mapper};
    test::FakeXenEvents xen_events{hc, xen_memory.shared_info()};
    FakeXenDm dm{hc, memory, mapper, xen_events, guest, 1, 16 << 20};
    xen::DeviceModel model{hc, guest};
    xen::Hypervisor hv{hc};
    FrameAllocator frames;
    std::unique_ptr<GuestRam> guest_ram;
    std::unique_ptr<xen::GrantMapper> grants;
    std::unique_ptr<xen::DeviceMemory> view;

    void setup() override {
        CHECK(frames.add_region(PhysRange{PhysAddr{uint64_t{1} << 33}, uint64_t{1} << 30}).ok());
        guest_ram = std::make_unique<GuestRam>(model, hv, frames, mapper);
        CHECK(guest_ram->start().ok());
        grants = std::make_unique<xen::GrantMapper>(hc, frames, mapper);
        view = std::make_unique<xen::DeviceMemory>(*guest_ram, *grants, guest);
    }
    void teardown() override {
        view.reset();
        grants.reset();
        guest_ram.reset();
    }
    static uint64_t grant(grant_ref_t ref, uint32_t offset = 0) {
        return virtio::GuestMemory::grant_bit | (uint64_t{ref} << page_shift) | offset;
    }
};

TEST(DeviceMemory, GuestPhysicalBuffersNeedNoMapping) {
    memcpy(dm.ram(ram + 0x100), "hdr", 3);
    const virtio::GuestRange ranges[] = {{ram + 0x100, 3, virtio::Access::from_guest},
                                         {ram + 0x2000, 512, virtio::Access::to_guest}};
    virtio::HostBytes out[2];
    virtio::RequestMapping mapping;
    CHECK(view->map_request(ranges, out, mapping).ok());
    CHECK(memcmp(out[0].data(), "hdr", 3) == 0);
    LONGS_EQUAL(512, (long)out[1].size());
    view->unmap_request(mapping);
    LONGS_EQUAL(0, (long)xen_memory.map_batches.size());
}

TEST(DeviceMemory, GrantBuffersAreMappedPerKindAndUnmappedWhenDone) {
    auto* header = static_cast<char*>(xen_memory.offer(guest, 20, true));
    memcpy(header + 8, "hdr", 3);
    xen_memory.offer(guest, 21, false);
    xen_memory.offer(guest, 22, false);
    const virtio::GuestRange ranges[] = {{grant(20, 8), 3, virtio::Access::from_guest},
                                         {grant(21, 4000), 200, virtio::Access::to_guest}};  // spans refs 21, 22
    virtio::HostBytes out[2];
    virtio::RequestMapping mapping;
    CHECK(view->map_request(ranges, out, mapping).ok());
    CHECK(memcmp(out[0].data(), "hdr", 3) == 0);
    LONGS_EQUAL(2, (long)xen_memory.map_batches.size());  // one read-only batch, one writable
    LONGS_EQUAL(3, (long)xen_memory.active.size());
    bool readonly_header = false;
    for (const auto& [handle, a] : xen_memory.active)
        if (a.ref == 20) readonly_header = a.readonly;
    CHECK(readonly_header);
    memset(out[1].data(), 'x', 200);  // across the two pages of the writable mapping
    view->unmap_request(mapping);
    LONGS_EQUAL(0, (long)xen_memory.active.size());
    LONGS_EQUAL(0, (long)view->live_request_grants());
}

TEST(DeviceMemory, ARefThatFailsFailsTheWholeRequestAndLeavesNothingMapped) {
    xen_memory.offer(guest, 30, true);
    xen_memory.offer(guest, 31, false);
    xen_memory.fail_ref(guest, 31, GNTST_bad_gntref);
    const virtio::GuestRange ranges[] = {{grant(30), 16, virtio::Access::from_guest},
                                         {grant(31), 512, virtio::Access::to_guest}};
    virtio::HostBytes out[2];
    virtio::RequestMapping mapping;
    CHECK_FALSE(view->map_request(ranges, out, mapping).ok());
    LONGS_EQUAL(0, (long)xen_memory.active.size());
    LONGS_EQUAL(0, (long)view->live_request_grants());
}

TEST(DeviceMemory, GrantRingsStayMappedUntilReleased) {
    xen_memory.offer(guest, 40, false);
    auto ring = view->map_ring(grant(40), 1024, true);
    CHECK(ring.ok());
    LONGS_EQUAL(1, (long)view->live_ring_grants());
    view->release_rings();
    LONGS_EQUAL(0, (long)view->live_ring_grants());
    LONGS_EQUAL(0, (long)xen_memory.active.size());
}

TEST(DeviceMemory, AGrantSpanLongerThanABatchIsRefused) {
    const virtio::GuestRange ranges[] = {{grant(50), (xen::GrantMapping::max_batch + 1) * 4096, virtio::Access::to_guest}};
    virtio::HostBytes out[1];
    virtio::RequestMapping mapping;
    CHECK_EQUAL(Err::too_big, view->map_request(ranges, out, mapping).error());
}

TEST(GuestRam, AFrameXenWillNotGiveBackIsWithheldNotReused) {
    uint64_t free_before = frames.free_frames();
    CHECK(guest_ram->translate(ram, 1).ok());
    guest_ram->invalidate();
    xen_memory.fail_remove_from_physmap = -XEN_EBUSY;
    while (guest_ram->drain(512)) {
    }
    UNSIGNED_LONGLONGS_EQUAL(1, guest_ram->stats().chunks_withheld);
    UNSIGNED_LONGLONGS_EQUAL(free_before - GuestRam::chunk_pages, frames.free_frames());
    UNSIGNED_LONGLONGS_EQUAL(GuestRam::chunk_pages, frames.withheld_frames());
    xen_memory.fail_remove_from_physmap = 0;
}
