// Grant tables against a fake Xen with real page aliasing (FakePhysMemory): our own table's
// setup and entries (flags written last, revocation refused while mapped, refs recycled), and
// batched mapping of other domains' grants (one hypercall per batch, all-or-nothing, one
// batched unmap when the handle goes).
#include "tests/test_support.h"

#include <cstring>
#include <vector>

#include "tests/fakes/fake_hypercall.h"
#include "tests/fakes/fake_memory.h"
#include "tests/fakes/fake_xen_memory.h"
#include "tests/fakes/single_step.h"
#include "xen/abi.h"
#include "xen/grant_table.h"

using namespace domd;
using domd::test::FakeHypercall;
using domd::test::HypercallRecord;

namespace {

// Watches one grant entry while a piece of code runs single-stepped: after every instruction
// the entry is snapshotted, so the test sees each state a peer could observe, in order,
// whatever the compiler did with the stores.
struct EntryState {
    uint16_t flags;
    uint16_t domid;
    uint32_t frame;
    bool operator==(const EntryState&) const = default;
};

template <typename F>
std::vector<EntryState> watch_entry(const grant_entry_v1_t* entry, F&& run) {
    const volatile grant_entry_v1_t* watched = entry;
    std::vector<EntryState> states;
    states.reserve(4096);  // no allocation while stepping
    auto snapshot = [&] {
        EntryState s{watched->flags, watched->domid, watched->frame};
        if ((states.empty() || !(states.back() == s)) && states.size() < states.capacity()) states.push_back(s);
    };
    snapshot();
    test::single_step(run, [&](long) {
        snapshot();
        return true;
    });
    snapshot();
    return states;
}

}  // namespace

// ---- our own grant table -------------------------------------------------------------------

TEST_GROUP(GrantTable) {
    test::FakePhysMemory memory;
    test::FakeMapper mapper{memory};
    FakeHypercall fake;
    test::FakeXenMemory xen{fake, memory, mapper};
    xen::Hypervisor hv{fake};
    xen::GrantTable table{hv, mapper};
    PhysRange area{PhysAddr{0x38000000}, 16u << 20};  // /hypervisor reg[0]

    void ready(uint32_t frames = 1) { CHECK(table.setup(area, frames).ok()); }
};

TEST(GrantTable, SetupQueriesTheSizeThenPlacesAndMapsTheFrames) {
    xen.max_nr_frames = 2;
    CHECK(table.setup(area).ok());
    LONGS_EQUAL(1, (long)fake.count(__HYPERVISOR_grant_table_op, GNTTABOP_query_size));
    LONGS_EQUAL(2, (long)table.frames());
    LONGS_EQUAL(2, (long)xen.added.size());
    for (uint64_t i = 0; i < 2; ++i) {
        LONGS_EQUAL(XENMAPSPACE_grant_table, xen.added[i].first);
        UNSIGNED_LONGLONGS_EQUAL(0x38000 + i, xen.added[i].second);
    }
    LONGS_EQUAL(1, (long)mapper.maps.size());
    UNSIGNED_LONGLONGS_EQUAL(0x38000000, mapper.maps[0].pa.value);
    UNSIGNED_LONGLONGS_EQUAL(2 * page_size, mapper.maps[0].size);
    CHECK(mapper.maps[0].attrs == MapAttrs::read_write());
    LONGS_EQUAL(1024, (long)table.refs());
    LONGS_EQUAL(1024 - GNTTAB_NR_RESERVED_ENTRIES, (long)table.free_refs());
}

TEST(GrantTable, FramesAreBoundedByOurCapAndTheArea) {
    CHECK(table.setup(area, 100).ok());
    LONGS_EQUAL(xen::GrantTable::max_frames, (long)table.frames());

    xen::GrantTable small(hv, mapper);
    CHECK(small.setup({PhysAddr{0x39000800}, 2 * page_size}).ok());  // one whole frame inside
    LONGS_EQUAL(1, (long)small.frames());
    UNSIGNED_LONGLONGS_EQUAL(0x39001, small.first_frame().value);

    xen::GrantTable none(hv, mapper);
    CHECK_EQUAL(Err::no_space, none.setup({PhysAddr{0x3a000800}, page_size}).error());
}

TEST(GrantTable, SetupFailureLeavesNothingPlaced) {
    xen.fail_grant_frame = 2;
    CHECK_EQUAL(Err::invalid, table.setup(area, 3).error());
    CHECK_FALSE(table.ready());
    LONGS_EQUAL(2, (long)xen.removed.size());
    LONGS_EQUAL(0, (long)mapper.live_mappings());
    CHECK_EQUAL(Err::not_connected, table.grant_access(1, Gfn{0x40000}, false).error());
}

TEST(GrantTable, SetupReportsQueryFailures) {
    xen.fail_query_size = -XEN_ENOSYS;
    CHECK_EQUAL(Err::not_implemented, table.setup(area).error());
    xen.fail_query_size = 0;
    xen.query_status = GNTST_permission_denied;
    CHECK_EQUAL(Err::permission, table.setup(area).error());
    LONGS_EQUAL(0, (long)xen.added.size());
}

TEST(GrantTable, GrantWritesTheEntryAndSkipsReservedRefs) {
    ready();
    auto ref = table.grant_access(7, Gfn{0x41234}, false);
    CHECK(ref.ok());
    CHECK(ref.value() >= GNTTAB_NR_RESERVED_ENTRIES);
    grant_entry_v1_t* e = xen.our_entry(ref.value());
    LONGS_EQUAL(GTF_permit_access, e->flags);
    LONGS_EQUAL(7, e->domid);
    UNSIGNED_LONGS_EQUAL(0x41234, e->frame);

    auto ro = table.grant_access(7, Gfn{0x41235}, true);
    LONGS_EQUAL(GTF_permit_access | GTF_readonly, xen.our_entry(ro.value())->flags);
}

// grant_table.h: Xen may act on an entry as soon as its flags grant access, so domid and
// frame must be in place before the flags are: every state a peer could see says so.
TEST(GrantTable, FlagsAreWrittenLast) {
    ready();
    grant_entry_v1_t* entry = xen.our_entry(GNTTAB_NR_RESERVED_ENTRIES);  // the next ref handed out
    entry->domid = 0x3333;  // stale contents from an earlier grant
    entry->frame = 0x5555;
    auto seen = watch_entry(entry, [&] { CHECK(table.grant_access(9, Gfn{0x42000}, false).ok()); });
    CHECK(seen.size() >= 3);  // the writes were observed one by one
    for (const EntryState& s : seen) {
        if (s.flags == 0) continue;
        LONGS_EQUAL(9, s.domid);
        UNSIGNED_LONGS_EQUAL(0x42000, s.frame);
    }
    LONGS_EQUAL(GTF_permit_access, seen.back().flags);
}

// The watcher itself: a flags-first writer is caught.
TEST(GrantTable, TheOrderWatcherCatchesFlagsFirst) {
    grant_entry_v1_t entry{};
    auto seen = watch_entry(&entry, [&] {
        __atomic_store_n(&entry.flags, uint16_t{GTF_permit_access}, __ATOMIC_RELEASE);
        __atomic_store_n(&entry.domid, uint16_t{9}, __ATOMIC_RELAXED);
        __atomic_store_n(&entry.frame, uint32_t{0x42000}, __ATOMIC_RELAXED);
    });
    bool flags_before_frame = false;
    for (const EntryState& s : seen) flags_before_frame |= s.flags != 0 && s.frame != 0x42000;
    CHECK(flags_before_frame);
}

TEST(GrantTable, EndAccessIsRefusedWhileThePeerMapsTheGrant) {
    ready();
    grant_ref_t ref = table.grant_access(7, Gfn{0x41234}, false).value();
    LONGS_EQUAL(GNTST_okay, xen.peer_map(7, ref, false));
    CHECK_EQUAL(Err::busy, table.end_access(ref).error());
    CHECK(xen.our_entry(ref)->flags & GTF_permit_access);  // still granted
    xen.peer_unmap(ref);
    CHECK(table.end_access(ref).ok());
    LONGS_EQUAL(0, xen.our_entry(ref)->flags);
    // Now revoked: the peer cannot map it any more.
    LONGS_EQUAL(GNTST_permission_denied, xen.peer_map(7, ref, false));
}

TEST(GrantTable, MappedByPeerFollowsThePeersMappings) {
    ready();
    grant_ref_t ref = table.grant_access(7, Gfn{0x41234}, false).value();
    grant_ref_t ro = table.grant_access(7, Gfn{0x41235}, true).value();
    CHECK_FALSE(table.mapped_by_peer(ref));
    LONGS_EQUAL(GNTST_okay, xen.peer_map(7, ref, false));
    LONGS_EQUAL(GNTST_okay, xen.peer_map(7, ro, true));
    CHECK(table.mapped_by_peer(ref));  // GTF_writing
    CHECK(table.mapped_by_peer(ro));   // GTF_reading
    xen.peer_unmap(ref);
    CHECK_FALSE(table.mapped_by_peer(ref));
    CHECK(table.mapped_by_peer(ro));
    CHECK_FALSE(table.mapped_by_peer(GNTTAB_RESERVED_XENSTORE));
    CHECK_FALSE(table.mapped_by_peer(table.refs()));  // beyond the table
    CHECK_FALSE(table.mapped_by_peer(0xffffffff));
}

TEST(GrantTable, ReadOnlyGrantsRefuseWritableMaps) {
    ready();
    grant_ref_t ref = table.grant_access(7, Gfn{0x41234}, true).value();
    LONGS_EQUAL(GNTST_permission_denied, xen.peer_map(7, ref, false));
    LONGS_EQUAL(GNTST_permission_denied, xen.peer_map(8, ref, true));  // someone else
    LONGS_EQUAL(GNTST_okay, xen.peer_map(7, ref, true));
    CHECK_EQUAL(Err::busy, table.end_access(ref).error());
}

TEST(GrantTable, EndAccessRefusesRefsThatAreNotOurs) {
    ready();
    CHECK_EQUAL(Err::invalid, table.end_access(GNTTAB_RESERVED_XENSTORE).error());
    CHECK_EQUAL(Err::invalid, table.end_access(GNTTAB_NR_RESERVED_ENTRIES - 1).error());  // the last reserved
    CHECK_EQUAL(Err::invalid, table.end_access(GNTTAB_NR_RESERVED_ENTRIES).error());      // not granted
    grant_ref_t ref = table.grant_access(7, Gfn{1}, false).value();
    CHECK(table.end_access(ref).ok());
    CHECK_EQUAL(Err::invalid, table.end_access(ref).error());
}

// The table's bound, at refs()-1 (the last ref: ours once granted), refs() and refs()+1.
TEST(GrantTable, EndAccessChecksTheTableBoundAtItsEdge) {
    ready();
    const grant_ref_t last = table.refs() - 1;
    CHECK_EQUAL(Err::invalid, table.end_access(last).error());  // inside, not granted
    CHECK_EQUAL(Err::range, table.end_access(table.refs()).error());
    CHECK_EQUAL(Err::range, table.end_access(table.refs() + 1).error());
    CHECK_EQUAL(Err::range, table.end_access(0xffffffff).error());
    // Grant every ref: the last one handed out is refs()-1, and it can be ended.
    std::vector<grant_ref_t> refs;
    while (table.free_refs() > 0) refs.push_back(table.grant_access(7, Gfn{1}, false).value());
    CHECK(refs.back() == last);
    CHECK(table.end_access(last).ok());
    LONGS_EQUAL(1, (long)table.free_refs());
}

// setup() takes at most max_frames frames, at most Xen's max_nr_frames, at most what fits in
// the area: each bound at N-1, N and N+1.
TEST(GrantTable, SetupBoundsAtTheirEdges) {
    const uint32_t max = xen::GrantTable::max_frames;
    struct Case {
        uint32_t wanted, xen_max;
        uint64_t area_frames;
        uint32_t expected;
    } cases[] = {
        {max - 1, 32, 64, max - 1}, {max, 32, 64, max}, {max + 1, 32, 64, max},          // our cap
        {max, max - 1, 64, max - 1}, {max, max, 64, max}, {max, max + 1, 64, max},       // Xen's
        {max, 32, max - 1, max - 1}, {max, 32, max, max}, {max, 32, max + 1, max},       // the area
    };
    uint64_t base = 0x38000000;
    for (const Case& c : cases) {
        test::FakePhysMemory mem2;
        test::FakeMapper mapper2{mem2};
        FakeHypercall fake2;
        test::FakeXenMemory xen2{fake2, mem2, mapper2};
        xen::Hypervisor hv2{fake2};
        xen::GrantTable t(hv2, mapper2);
        xen2.max_nr_frames = c.xen_max;
        CHECK(t.setup({PhysAddr{base}, c.area_frames * page_size}, c.wanted).ok());
        LONGS_EQUAL(c.expected, (long)t.frames());
        LONGS_EQUAL(c.expected * xen::GrantTable::entries_per_frame, (long)t.refs());
    }
    CHECK_EQUAL(Err::no_space, table.setup(area, 0).error());
}

TEST(GrantTable, TheHighestThirtyTwoBitFrameCanBeGranted) {
    ready();
    auto ref = table.grant_access(1, Gfn{UINT32_MAX}, false);
    CHECK(ref.ok());
    UNSIGNED_LONGS_EQUAL(UINT32_MAX, xen.our_entry(ref.value())->frame);
}

TEST(GrantTable, RefsRunOutThenComeBack) {
    ready();
    size_t n = table.free_refs();
    LONGS_EQUAL(512 - GNTTAB_NR_RESERVED_ENTRIES, (long)n);
    std::vector<grant_ref_t> refs;
    for (size_t i = 0; i < n; ++i) refs.push_back(table.grant_access(1, Gfn{i}, false).value());
    CHECK_EQUAL(Err::no_space, table.grant_access(1, Gfn{0}, false).error());
    CHECK(table.end_access(refs[100]).ok());
    UNSIGNED_LONGS_EQUAL(refs[100], table.grant_access(1, Gfn{0}, false).value());
}

TEST(GrantTable, AFrameBeyondThirtyTwoBitsIsRefused) {
    ready();
    size_t n = table.free_refs();
    CHECK_EQUAL(Err::range, table.grant_access(1, Gfn{uint64_t{1} << 32}, false).error());
    LONGS_EQUAL(n, (long)table.free_refs());
}

TEST(GrantTable, GrantHandleEndsAccessWhenDestroyed) {
    ready();
    grant_ref_t ref;
    {
        auto g = table.grant(7, Gfn{0x41234}, false);
        CHECK(g.ok());
        ref = g.value().ref();
        CHECK(xen.our_entry(ref)->flags & GTF_permit_access);
    }
    LONGS_EQUAL(0, xen.our_entry(ref)->flags);
    LONGS_EQUAL(512 - GNTTAB_NR_RESERVED_ENTRIES, (long)table.free_refs());
}

TEST(GrantTable, AGrantStillMappedAtDestructionIsRetired) {
    ready();
    size_t n = table.free_refs();
    grant_ref_t ref;
    {
        xen::Grant g = std::move(table.grant(7, Gfn{0x41234}, false).value());
        ref = g.ref();
        xen.peer_map(7, ref, false);
        CHECK_EQUAL(Err::busy, g.end().error());
        CHECK(g.valid());  // kept: the owner may retry
    }
    UNSIGNED_LONGLONGS_EQUAL(1, table.stuck_refs());
    LONGS_EQUAL(n - 1, (long)table.free_refs());  // never handed out again
    CHECK(xen.our_entry(ref)->flags & GTF_permit_access);
}

// ---- mapping other domains' grants ---------------------------------------------------------

TEST_GROUP(GrantMapper) {
    test::FakePhysMemory memory;
    test::FakeMapper mapper{memory};
    FakeHypercall fake;
    test::FakeXenMemory xen{fake, memory, mapper};
    FrameAllocator frames;
    xen::GrantMapper grants{fake, frames, mapper};
    std::vector<void*> peer_pages;
    const std::vector<grant_ref_t> refs{10, 11, 12, 13};

    void setup() override {
        CHECK(frames.add_region({PhysAddr{0x50000000}, 256 * page_size}).ok());
        for (grant_ref_t r : refs) {
            peer_pages.push_back(xen.offer(5, r, false));
            memset(peer_pages.back(), 'a' + static_cast<int>(r), page_size);
        }
    }
    void nothing_left() {
        CHECK(xen.active.empty());
        LONGS_EQUAL(0, (long)mapper.live_mappings());
        LONGS_EQUAL(256, (long)frames.free_frames());
    }
};

TEST(GrantMapper, MapsABatchWithOneHypercallIntoConsecutiveFrames) {
    auto m = grants.map(5, refs, false);
    CHECK(m.ok());
    LONGS_EQUAL(1, (long)fake.count(__HYPERVISOR_grant_table_op, GNTTABOP_map_grant_ref));
    CHECK(xen.map_batches == std::vector<size_t>{4});
    LONGS_EQUAL(4, (long)xen.active.size());
    for (const auto& [handle, a] : xen.active) {
        UNSIGNED_LONGLONGS_EQUAL(m.value().first_gfn().value + (a.ref - 10), a.gfn);
        CHECK_FALSE(a.readonly);
    }
    // One mapping of the whole run.
    LONGS_EQUAL(1, (long)mapper.maps.size());
    UNSIGNED_LONGLONGS_EQUAL(m.value().first_gfn().address().value, mapper.maps[0].pa.value);
    UNSIGNED_LONGLONGS_EQUAL(4 * page_size, mapper.maps[0].size);
    CHECK(mapper.maps[0].attrs == MapAttrs::read_write());
    LONGS_EQUAL(252, (long)frames.free_frames());
}

// limits::max_grant_batch refs are one hypercall; one more is refused before Xen is asked.
TEST(GrantMapper, ABatchOfExactlyTheLimitIsOneCallOneMoreIsRefused) {
    const size_t n = xen::GrantMapper::max_batch;
    std::vector<grant_ref_t> many;
    for (grant_ref_t r = 200; r < 200 + n + 1; ++r) {
        xen.offer(5, r, false);
        many.push_back(r);
    }
    CHECK_EQUAL(Err::too_big, grants.map(5, std::span(many).first(n + 1), false).error());
    LONGS_EQUAL(0, (long)fake.calls.size());
    {
        auto m = grants.map(5, std::span(many).first(n), false);
        CHECK(m.ok());
        CHECK(xen.map_batches == std::vector<size_t>{n});
        LONGS_EQUAL(n, (long)m.value().pages());
    }
    CHECK(xen.unmap_batches == std::vector<size_t>{n});
    CHECK(grants.map(5, std::span(many).first(n - 1), false).ok());
    CHECK_EQUAL(Err::invalid, grants.map(5, std::span(many).first(0), false).error());
}

TEST(GrantMapper, EachPageShowsThePeersPage) {
    auto m = grants.map(5, refs, false);
    for (size_t i = 0; i < 4; ++i) {
        auto* bytes = m.value().page(i).value().as<char>();
        LONGS_EQUAL('a' + 10 + static_cast<int>(i), bytes[0]);
        LONGS_EQUAL('a' + 10 + static_cast<int>(i), bytes[page_size - 1]);
    }
    m.value().page(2).value().as<char>()[0] = 'Z';  // writable: the peer sees it
    LONGS_EQUAL('Z', static_cast<char*>(peer_pages[2])[0]);
    CHECK(m.value().page(3).ok());  // the last page
    CHECK_EQUAL(Err::range, m.value().page(4).error());
    CHECK_EQUAL(Err::range, m.value().page(5).error());
}

TEST(GrantMapper, ReadOnlyMapsAskXenForReadOnlyAndMapReadOnly) {
    auto m = grants.map(5, std::span(refs).first(2), true);
    CHECK(m.ok());
    CHECK(m.value().readonly());
    for (const auto& [handle, a] : xen.active) CHECK(a.readonly);
    CHECK(mapper.maps[0].attrs == MapAttrs::read_only());
}

TEST(GrantMapper, AReadOnlyGrantCannotBeMappedWritable) {
    xen.offer(6, 1, true);
    CHECK_EQUAL(Err::permission, grants.map(6, std::vector<grant_ref_t>{1}, false).error());
    nothing_left();
}

TEST(GrantMapper, APartialFailureUnmapsTheRestInOneCall) {
    xen.fail_ref(5, 12, GNTST_bad_page);
    CHECK_EQUAL(Err::fault, grants.map(5, refs, false).error());
    CHECK(xen.unmap_batches == std::vector<size_t>{3});
    LONGS_EQUAL(0, (long)mapper.maps.size());  // nothing was ever mapped in our tables
    nothing_left();
}

TEST(GrantMapper, AFailedHypercallStillUnmapsWhatXenProcessed) {
    xen.fail_call(GNTTABOP_map_grant_ref, -XEN_EFAULT, 2);
    CHECK_EQUAL(Err::fault, grants.map(5, refs, false).error());
    CHECK(xen.unmap_batches == std::vector<size_t>{2});
    nothing_left();
}

TEST(GrantMapper, AMapperFailureUnmapsEverything) {
    mapper.fail_next_map = Err::no_memory;
    CHECK_EQUAL(Err::no_memory, grants.map(5, refs, false).error());
    CHECK(xen.unmap_batches == std::vector<size_t>{4});
    nothing_left();
}

TEST(GrantMapper, UnknownRefsFailWithNothingMapped) {
    CHECK_EQUAL(Err::invalid, grants.map(5, std::vector<grant_ref_t>{10, 99}, false).error());
    nothing_left();
}

TEST(GrantMapper, DestructionUnmapsTheAddressThenTheGrantsInOneCall) {
    size_t live_at_unmap = 99;
    auto inner = fake.handlers[__HYPERVISOR_grant_table_op];
    fake.on(__HYPERVISOR_grant_table_op, [&](const HypercallRecord& r) {
        if (r.args[0] == GNTTABOP_unmap_grant_ref) live_at_unmap = mapper.live_mappings();
        return inner(r);
    });
    {
        auto m = grants.map(5, refs, false);
        CHECK(m.ok());
        LONGS_EQUAL(1, (long)mapper.live_mappings());
    }
    LONGS_EQUAL(0, (long)live_at_unmap);  // our own mapping went first
    LONGS_EQUAL(1, (long)fake.count(__HYPERVISOR_grant_table_op, GNTTABOP_unmap_grant_ref));
    CHECK(xen.unmap_batches == std::vector<size_t>{4});
    nothing_left();
    UNSIGNED_LONGLONGS_EQUAL(1, grants.stats().unmap_calls);
}

// A run is one allocation: if Xen keeps any of its grants, the whole run stays out of use (a
// free gives back whole allocations only), counted, and the others are still unmapped at Xen.
TEST(GrantMapper, ARunXenWillNotFullyUnmapIsNeverReusedAndIsCounted) {
    {
        auto m = grants.map(5, refs, false);
        grant_handle_t second = 0;
        for (const auto& [handle, a] : xen.active)
            if (a.ref == 11) second = handle;
        xen.fail_unmap(second, GNTST_general_error);
    }
    UNSIGNED_LONGLONGS_EQUAL(1, grants.stats().leaked_runs);
    UNSIGNED_LONGLONGS_EQUAL(4, grants.stats().leaked_frames);
    UNSIGNED_LONGLONGS_EQUAL(4, frames.withheld_frames());
    LONGS_EQUAL(252, (long)frames.free_frames());
    LONGS_EQUAL(1, (long)xen.active.size());  // the other three went back to their owner
    // The next mapping gets other frames.
    auto again = grants.map(5, std::span(refs).first(1), false);
    CHECK(again.value().first_gfn().value >= 0x50004);
}

// Our own translation that would not go: Xen still gets its grants back, but the frames stay
// out of use (our tables still point at them).
TEST(GrantMapper, ARunOurTablesStillTranslateIsNeverReused) {
    {
        auto m = grants.map(5, refs, false);
        mapper.fail_next_unmap = Err::io;
    }
    CHECK(xen.active.empty());
    UNSIGNED_LONGLONGS_EQUAL(1, mapper.failed_unmaps());
    UNSIGNED_LONGLONGS_EQUAL(1, grants.stats().leaked_runs);
    UNSIGNED_LONGLONGS_EQUAL(4, frames.withheld_frames());
    LONGS_EQUAL(252, (long)frames.free_frames());
}

// Many mappings released out of order at the backend's queue depth: every frame comes back.
TEST(GrantMapper, MappingsReleasedInAnyOrderGiveEveryFrameBack) {
    std::vector<grant_ref_t> many;
    for (grant_ref_t r = 100; r < 164; ++r) {
        xen.offer(5, r, false);
        many.push_back(r);
    }
    std::vector<xen::GrantMapping> live;
    for (size_t i = 0; i < 64; ++i) live.push_back(std::move(grants.map(5, std::span(many).subspan(i, 1), false).value()));
    LONGS_EQUAL(192, (long)frames.free_frames());
    for (size_t i = 0; i < live.size(); i += 2) live[i].reset();  // every other one first
    for (size_t i = live.size(); i-- > 0;) live[i].reset();       // then the rest, backwards
    nothing_left();
}

TEST(GrantMapper, AMovedMappingIsReleasedOnce) {
    xen::GrantMapping kept;
    {
        auto m = grants.map(5, refs, false);
        kept = std::move(m.value());
        CHECK_FALSE(m.value().valid());
    }
    LONGS_EQUAL(0, (long)xen.unmap_batches.size());
    CHECK(kept.valid());
    kept.reset();
    CHECK(xen.unmap_batches == std::vector<size_t>{4});
    nothing_left();
}

TEST(GrantMapper, BatchSizesAreBounded) {
    CHECK_EQUAL(Err::invalid, grants.map(5, std::span<const grant_ref_t>(), false).error());
    std::vector<grant_ref_t> many(xen::GrantMapper::max_batch + 1, 10);
    CHECK_EQUAL(Err::too_big, grants.map(5, many, false).error());
    LONGS_EQUAL(0, (long)fake.calls.size());
    nothing_left();
}

TEST(GrantMapper, NoFramesLeftFailsBeforeAskingXen) {
    FrameAllocator empty;
    xen::GrantMapper starved(fake, empty, mapper);
    CHECK_EQUAL(Err::no_space, starved.map(5, refs, false).error());
    LONGS_EQUAL(0, (long)fake.calls.size());
}

TEST(GrantMapper, GrantStatusesBecomeErrors) {
    CHECK_EQUAL(Err::not_found, xen::err_from_gntst(GNTST_bad_domain));
    CHECK_EQUAL(Err::invalid, xen::err_from_gntst(GNTST_bad_gntref));
    CHECK_EQUAL(Err::permission, xen::err_from_gntst(GNTST_permission_denied));
    CHECK_EQUAL(Err::again, xen::err_from_gntst(GNTST_eagain));
    CHECK_EQUAL(Err::io, xen::err_from_gntst(GNTST_general_error));
    CHECK_EQUAL(Err::io, xen::err_from_gntst(-99));
}
