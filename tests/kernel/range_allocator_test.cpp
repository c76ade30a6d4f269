#include "tests/test_support.h"

#include "kernel/frame_allocator.h"
#include "kernel/range_allocator.h"

using namespace domd;

TEST_GROUP(RangeAllocator) {
    RangeAllocator<4> ranges;
};

TEST(RangeAllocator, AllocatesFirstFitAndCoalescesOnFree) {
    CHECK(ranges.add(100, 50).ok());
    auto a = ranges.allocate(10);
    auto b = ranges.allocate(10);
    UNSIGNED_LONGLONGS_EQUAL(100, a.value());
    UNSIGNED_LONGLONGS_EQUAL(110, b.value());
    UNSIGNED_LONGLONGS_EQUAL(30, ranges.free_units());
    CHECK(ranges.free(100, 10).ok());
    LONGS_EQUAL(2, (long)ranges.extents());
    CHECK(ranges.free(110, 10).ok());
    LONGS_EQUAL(1, (long)ranges.extents());
    UNSIGNED_LONGLONGS_EQUAL(50, ranges.free_units());
}

TEST(RangeAllocator, HonoursAlignment) {
    CHECK(ranges.add(3, 100).ok());
    auto a = ranges.allocate(8, 16);
    UNSIGNED_LONGLONGS_EQUAL(16, a.value());
    LONGS_EQUAL(2, (long)ranges.extents());  // [3,16) and [24,103)
    CHECK_EQUAL(Err::invalid, ranges.allocate(1, 3).error());
}

TEST(RangeAllocator, RefusesDoubleFreeAndOverlap) {
    CHECK(ranges.add(0, 10).ok());
    CHECK_EQUAL(Err::exists, ranges.free(5, 1).error());
    CHECK_EQUAL(Err::exists, ranges.add(9, 5).error());
    UNSIGNED_LONGLONGS_EQUAL(10, ranges.free_units());
}

TEST(RangeAllocator, ReportsExhaustion) {
    CHECK(ranges.add(0, 4).ok());
    CHECK_EQUAL(Err::no_space, ranges.allocate(5).error());
    CHECK(ranges.allocate(4).ok());
    CHECK_EQUAL(Err::no_space, ranges.allocate(1).error());
}

TEST(RangeAllocator, NeverNeedsMoreExtentsThanItHas) {
    CHECK(ranges.add(1, 9).ok());
    CHECK(ranges.add(21, 9).ok());
    CHECK(ranges.add(41, 9).ok());
    CHECK(ranges.add(65, 135).ok());
    // Every aligned single unit would split an extent in two: a fifth extent, which it lacks.
    CHECK_EQUAL(Err::no_space, ranges.allocate(1, 4).error());
    UNSIGNED_LONGLONGS_EQUAL(162, ranges.free_units());
    // Taking from an extent's head needs no split.
    UNSIGNED_LONGLONGS_EQUAL(1, ranges.allocate(1).value());
    // A free that cannot coalesce when the table is full is refused, not lost silently.
    CHECK_EQUAL(Err::no_space, ranges.free(12, 1).error());
}

TEST(RangeAllocator, RefusesWrapAround) {
    CHECK_EQUAL(Err::range, ranges.add(~uint64_t{0} - 1, 5).error());
}

TEST_GROUP(FrameAllocator) {};

TEST(FrameAllocator, TakesWholeFramesOfExtendedRegions) {
    FrameAllocator frames;
    CHECK(frames.add_region({PhysAddr{0x50000800}, 0x3000}).ok());  // whole frames 0x50001, 0x50002
    UNSIGNED_LONGLONGS_EQUAL(2, frames.free_frames());
    auto g = frames.allocate(2);
    UNSIGNED_LONGLONGS_EQUAL(0x50001, g.value().value);
    CHECK_EQUAL(Err::no_space, frames.allocate().error());
    CHECK(frames.free(g.value(), 2).ok());
    CHECK_EQUAL(Err::invalid, frames.add_region({PhysAddr{0x1000}, 0x800}).error());
}
