// The run allocator behind frames and window pages: first fit, alignment, exact frees, and the
// property the backend stands on: whatever the order of frees, every free succeeds and the
// free space comes back whole; a full allocator says so in allocate(), never in free().
#include "tests/test_support.h"

#include <random>

#include "kernel/frame_allocator.h"
#include "kernel/range_allocator.h"

using namespace domd;

TEST_GROUP(RangeAllocator) {
    RangeAllocator<4, 2> ranges;
};

TEST(RangeAllocator, AllocatesFirstFitAndReusesFreedRuns) {
    CHECK(ranges.add(100, 50).ok());
    auto a = ranges.allocate(10);
    auto b = ranges.allocate(10);
    UNSIGNED_LONGLONGS_EQUAL(100, a.value());
    UNSIGNED_LONGLONGS_EQUAL(110, b.value());
    UNSIGNED_LONGLONGS_EQUAL(30, ranges.free_units());
    CHECK(ranges.free(100, 10).ok());
    UNSIGNED_LONGLONGS_EQUAL(100, ranges.allocate(5).value());  // the lowest hole that fits
    UNSIGNED_LONGLONGS_EQUAL(120, ranges.allocate(6).value());  // [105,110) is too small
    UNSIGNED_LONGLONGS_EQUAL(29, ranges.free_units());
}

TEST(RangeAllocator, HonoursAlignment) {
    CHECK(ranges.add(3, 100).ok());
    UNSIGNED_LONGLONGS_EQUAL(16, ranges.allocate(8, 16).value());
    UNSIGNED_LONGLONGS_EQUAL(3, ranges.allocate(13).value());  // the hole below the aligned run
    UNSIGNED_LONGLONGS_EQUAL(32, ranges.allocate(1, 32).value());
    CHECK_EQUAL(Err::invalid, ranges.allocate(1, 3).error());
    CHECK_EQUAL(Err::invalid, ranges.allocate(1, 0).error());
    CHECK_EQUAL(Err::invalid, ranges.allocate(0).error());
}

TEST(RangeAllocator, SearchesEveryRegionInOrder) {
    CHECK(ranges.add(1000, 10).ok());
    CHECK(ranges.add(100, 5).ok());  // added later, lower
    UNSIGNED_LONGLONGS_EQUAL(100, ranges.allocate(5).value());
    UNSIGNED_LONGLONGS_EQUAL(1000, ranges.allocate(1).value());
    CHECK_EQUAL(Err::no_space, ranges.allocate(10).error());  // 9 left, and not across regions
    UNSIGNED_LONGLONGS_EQUAL(1001, ranges.allocate(9).value());
}

// A run fits a hole of exactly its size, not one unit less: at the ends of a region and
// between two allocations.
TEST(RangeAllocator, ARunFitsAHoleOfExactlyItsSize) {
    CHECK(ranges.add(0, 30).ok());
    UNSIGNED_LONGLONGS_EQUAL(0, ranges.allocate(10).value());
    UNSIGNED_LONGLONGS_EQUAL(10, ranges.allocate(10).value());
    UNSIGNED_LONGLONGS_EQUAL(20, ranges.allocate(10).value());  // ends at the region's end
    CHECK(ranges.free(10, 10).ok());
    CHECK_EQUAL(Err::no_space, ranges.allocate(11).error());
    UNSIGNED_LONGLONGS_EQUAL(10, ranges.allocate(10).value());
    CHECK_EQUAL(Err::no_space, ranges.allocate(1).error());
}

TEST(RangeAllocator, AFreeMustBeExactlyOneAllocation) {
    CHECK(ranges.add(0, 100).ok());
    UNSIGNED_LONGLONGS_EQUAL(0, ranges.allocate(10).value());
    UNSIGNED_LONGLONGS_EQUAL(10, ranges.allocate(10).value());
    CHECK_EQUAL(Err::invalid, ranges.free(0, 5).error());    // part of one
    CHECK_EQUAL(Err::invalid, ranges.free(5, 5).error());    // its tail
    CHECK_EQUAL(Err::invalid, ranges.free(0, 11).error());   // more than one
    CHECK_EQUAL(Err::invalid, ranges.free(0, 20).error());   // two at once
    CHECK_EQUAL(Err::invalid, ranges.free(50, 10).error());  // never allocated
    CHECK_EQUAL(Err::invalid, ranges.free(9, 1).error());    // the last unit of one
    UNSIGNED_LONGLONGS_EQUAL(80, ranges.free_units());       // nothing changed
    CHECK(ranges.is_allocation(0, 10));
    CHECK_FALSE(ranges.is_allocation(0, 9));
    CHECK(ranges.free(0, 10).ok());
    CHECK_EQUAL(Err::invalid, ranges.free(0, 10).error());  // twice
    CHECK(ranges.free(10, 10).ok());
    UNSIGNED_LONGLONGS_EQUAL(100, ranges.free_units());
}

// MaxLive runs live at once, not one more, and one free makes room again.
TEST(RangeAllocator, TheLiveAllocationBoundIsMetInAllocate) {
    CHECK(ranges.add(0, 100).ok());
    for (uint64_t i = 0; i < 3; ++i) CHECK(ranges.allocate(1, 8).ok());
    LONGS_EQUAL(3, (long)ranges.live());
    CHECK(ranges.allocate(1, 8).ok());  // the fourth: the bound
    CHECK_EQUAL(Err::no_space, ranges.allocate(1).error());
    UNSIGNED_LONGLONGS_EQUAL(96, ranges.free_units());
    CHECK(ranges.free(8, 1).ok());
    UNSIGNED_LONGLONGS_EQUAL(1, ranges.allocate(1).value());
}

// Regions that touch stay apart: an allocation at the start of the second is not taken for
// one at the end of the first.
TEST(RangeAllocator, TouchingRegionsKeepTheirAllocationsApart) {
    CHECK(ranges.add(0, 10).ok());
    CHECK(ranges.add(10, 10).ok());
    UNSIGNED_LONGLONGS_EQUAL(0, ranges.allocate(10).value());
    UNSIGNED_LONGLONGS_EQUAL(10, ranges.allocate(1).value());
    UNSIGNED_LONGLONGS_EQUAL(11, ranges.allocate(1).value());
    UNSIGNED_LONGLONGS_EQUAL(8, ranges.free_units());
}

TEST(RangeAllocator, RegionsAreBoundedAndMayNotOverlap) {
    CHECK(ranges.add(10, 10).ok());
    CHECK_EQUAL(Err::exists, ranges.add(19, 5).error());  // overlaps the end
    CHECK_EQUAL(Err::exists, ranges.add(5, 6).error());   // overlaps the start
    CHECK_EQUAL(Err::exists, ranges.add(12, 2).error());  // inside
    CHECK(ranges.add(20, 5).ok());                        // touching is fine
    CHECK_EQUAL(Err::no_space, ranges.add(100, 5).error());  // MaxRegions = 2
    UNSIGNED_LONGLONGS_EQUAL(15, ranges.free_units());
    CHECK_EQUAL(Err::no_space, ranges.allocate(15).error());  // a run lies inside one region
}

TEST(RangeAllocator, RefusesEmptyAndWrappingRegions) {
    CHECK_EQUAL(Err::invalid, ranges.add(5, 0).error());
    CHECK_EQUAL(Err::range, ranges.add(~uint64_t{0} - 1, 5).error());
    CHECK_EQUAL(Err::range, ranges.add(~uint64_t{0} - 4, 5).error());  // would end at 2^64
    CHECK(ranges.add(~uint64_t{0} - 5, 5).ok());                        // ends at 2^64 - 1
    UNSIGNED_LONGLONGS_EQUAL(~uint64_t{0} - 5, ranges.allocate(5).value());
}

TEST(RangeAllocator, AnAlignmentThatWrapsFindsNothing) {
    CHECK(ranges.add(~uint64_t{0} - 100, 50).ok());
    CHECK_EQUAL(Err::no_space, ranges.allocate(1, uint64_t{1} << 63).error());
}

// The property, on random workloads: allocate runs of random sizes and alignments, free them
// in random order, check each against a model of which units are taken. Every free succeeds,
// no run overlaps another or leaves the regions, an allocation fails only when no hole fits or
// the bound is reached, and at the end the free space is back where it started.
TEST(RangeAllocator, AnyPatternOfFreesSucceedsAndGivesEverythingBack) {
    constexpr size_t max_live = 64;
    struct Region {
        uint64_t base, count;
    };
    const Region layout[] = {{16, 700}, {716, 300}, {5000, 64}};  // the first two touch
    std::mt19937_64 rng(20261201);
    for (int workload = 0; workload < 300; ++workload) {
        auto ranges = std::make_unique<RangeAllocator<max_live, 3>>();
        uint64_t total = 0;
        for (const Region& r : layout) {
            CHECK(ranges->add(r.base, r.count).ok());
            total += r.count;
        }
        std::vector<std::pair<uint64_t, uint64_t>> live;
        std::set<uint64_t> taken;
        auto inside = [&](uint64_t base, uint64_t count) {
            for (const Region& r : layout)
                if (base >= r.base && base + count <= r.base + r.count) return true;
            return false;
        };
        auto fits_somewhere = [&](uint64_t count, uint64_t align) {
            for (const Region& r : layout)
                for (uint64_t s = (r.base + align - 1) & ~(align - 1); s + count <= r.base + r.count; s += align) {
                    bool free_run = true;
                    for (uint64_t u = s; u < s + count && free_run; ++u) free_run = !taken.count(u);
                    if (free_run) return true;
                }
            return false;
        };
        for (int step = 0; step < 400; ++step) {
            bool do_alloc = live.empty() || rng() % 100 < 55;
            if (do_alloc) {
                uint64_t count = 1 + rng() % (rng() % 4 == 0 ? 40 : 6);
                uint64_t align = uint64_t{1} << (rng() % 4 == 0 ? rng() % 5 : 0);
                auto got = ranges->allocate(count, align);
                if (!got.ok()) {
                    CHECK_EQUAL(Err::no_space, got.error());
                    CHECK(live.size() == max_live || !fits_somewhere(count, align));
                    continue;
                }
                uint64_t base = got.value();
                CHECK(base % align == 0);
                CHECK(inside(base, count));
                for (uint64_t u = base; u < base + count; ++u) CHECK(taken.insert(u).second);
                live.push_back({base, count});
            } else {
                size_t pick = rng() % live.size();
                auto [base, count] = live[pick];
                live.erase(live.begin() + static_cast<long>(pick));
                CHECK(ranges->free(base, count).ok());
                for (uint64_t u = base; u < base + count; ++u) taken.erase(u);
            }
            UNSIGNED_LONGLONGS_EQUAL(total - taken.size(), ranges->free_units());
        }
        std::shuffle(live.begin(), live.end(), rng);
        for (auto [base, count] : live) CHECK(ranges->free(base, count).ok());
        UNSIGNED_LONGLONGS_EQUAL(total, ranges->free_units());
        LONGS_EQUAL(0, (long)ranges->live());
        // Whole again: the biggest region can be taken in one run.
        UNSIGNED_LONGLONGS_EQUAL(16, ranges->allocate(700).value());
    }
}

// ---- frames ------------------------------------------------------------------------------

TEST_GROUP(FrameAllocator) {
    std::unique_ptr<FrameAllocator> frames = std::make_unique<FrameAllocator>();
};

TEST(FrameAllocator, TakesWholeFramesOfExtendedRegions) {
    CHECK(frames->add_region({PhysAddr{0x50000800}, 0x3000}).ok());  // whole frames 0x50001, 0x50002
    UNSIGNED_LONGLONGS_EQUAL(2, frames->free_frames());
    auto g = frames->allocate(2);
    UNSIGNED_LONGLONGS_EQUAL(0x50001, g.value().value);
    CHECK_EQUAL(Err::no_space, frames->allocate().error());
    CHECK(frames->free(g.value(), 2).ok());
    CHECK_EQUAL(Err::invalid, frames->add_region({PhysAddr{0x1000}, 0x800}).error());
    CHECK_EQUAL(Err::range, frames->add_region({PhysAddr{~uint64_t{0} - 0xfff}, 0x2000}).error());
}

// A region must hold one whole frame: empty, or less than a frame, is refused; a region that
// ends at the very top of the address space is not a wrap-around.
TEST(FrameAllocator, RegionSizesAtTheirEdges) {
    CHECK_EQUAL(Err::invalid, frames->add_region({PhysAddr{0x50000000}, 0}).error());
    CHECK_EQUAL(Err::invalid, frames->add_region({PhysAddr{0x50000000}, page_size - 1}).error());
    CHECK(frames->add_region({PhysAddr{0x50000000}, page_size}).ok());
    UNSIGNED_LONGLONGS_EQUAL(1, frames->free_frames());
    CHECK(frames->add_region({PhysAddr{~uint64_t{0} - 2 * page_size + 1}, 2 * page_size - 1}).ok());
    UNSIGNED_LONGLONGS_EQUAL(2, frames->free_frames());  // one whole frame below the top
}

// The review's case: 200 single frames mapped, every other one freed, then the rest. With a
// 64-extent free list 37 frames were lost; here every free succeeds and all 200 come back.
TEST(FrameAllocator, TwoHundredSingleFramesFreedEveryOtherOneAllComeBack) {
    CHECK(frames->add_region({PhysAddr{0x50000000}, 200 * page_size}).ok());
    std::vector<Gfn> got;
    for (int i = 0; i < 200; ++i) got.push_back(frames->allocate().value());
    UNSIGNED_LONGLONGS_EQUAL(0, frames->free_frames());
    for (size_t i = 0; i < got.size(); i += 2) CHECK(frames->free(got[i]).ok());
    UNSIGNED_LONGLONGS_EQUAL(100, frames->free_frames());
    for (size_t i = 1; i < got.size(); i += 2) CHECK(frames->free(got[i]).ok());
    UNSIGNED_LONGLONGS_EQUAL(200, frames->free_frames());
    UNSIGNED_LONGLONGS_EQUAL(0x50000, frames->allocate(200).value().value);
}

// At the backend's full load every run is live at once, and they all come back in any order.
TEST(FrameAllocator, HoldsItsLiveAllocationBoundAndNotOneMore) {
    const uint64_t n = FrameAllocator::max_allocations;
    CHECK(frames->add_region({PhysAddr{0x100000000}, (2 * n + 2) * page_size}).ok());
    std::vector<Gfn> got;
    for (uint64_t i = 0; i < n; ++i) got.push_back(frames->allocate(1, 2).value());  // a hole after each
    LONGS_EQUAL(n, (long)frames->live_allocations());
    CHECK_EQUAL(Err::no_space, frames->allocate().error());  // frames are left, but no room to track them
    UNSIGNED_LONGLONGS_EQUAL(n + 2, frames->free_frames());
    std::mt19937 rng(7);
    std::shuffle(got.begin(), got.end(), rng);
    for (Gfn g : got) CHECK(frames->free(g).ok());
    UNSIGNED_LONGLONGS_EQUAL(2 * n + 2, frames->free_frames());
}

TEST(FrameAllocator, WithheldRunsStayAllocatedAndAreCounted) {
    CHECK(frames->add_region({PhysAddr{0x50000000}, 8 * page_size}).ok());
    Gfn a = frames->allocate(4).value();
    frames->withhold(a, 4);
    UNSIGNED_LONGLONGS_EQUAL(4, frames->withheld_frames());
    UNSIGNED_LONGLONGS_EQUAL(4, frames->free_frames());
    UNSIGNED_LONGLONGS_EQUAL(a.value + 4, frames->allocate(4).value().value);  // never handed out again
    frames->withhold(Gfn{0x12345}, 1);  // not an allocation: nothing to count
    UNSIGNED_LONGLONGS_EQUAL(4, frames->withheld_frames());
}
