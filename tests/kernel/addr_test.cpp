// Typed addresses and their range checks, at the edges: below, at the first unit, at the last,
// one past it.
#include "tests/test_support.h"

#include "kernel/addr.h"

using namespace domd;

TEST_GROUP(Addr) {};

TEST(Addr, PhysRangeContainsExactlyItsBytes) {
    PhysRange r{PhysAddr{0x40000000}, 0x1000};
    CHECK_FALSE(r.contains(PhysAddr{0x3fffffff}));
    CHECK(r.contains(PhysAddr{0x40000000}));
    CHECK(r.contains(PhysAddr{0x40000fff}));
    CHECK_FALSE(r.contains(PhysAddr{0x40001000}));
    CHECK_FALSE(r.contains(PhysAddr{0x40001001}));
    CHECK_FALSE(r.contains(PhysAddr{0}));
    CHECK_FALSE(r.contains(PhysAddr{~uint64_t{0}}));
    UNSIGNED_LONGLONGS_EQUAL(0x40001000, r.end().value);
}

TEST(Addr, AnEmptyRangeContainsNothing) {
    PhysRange r{PhysAddr{0x40000000}, 0};
    CHECK_FALSE(r.contains(PhysAddr{0x40000000}));
    CHECK_FALSE(r.contains(PhysAddr{0x3fffffff}));
}

// A range that ends at the top of the address space: no wrap-around makes low addresses its.
TEST(Addr, ARangeAtTheTopDoesNotWrap) {
    PhysRange r{PhysAddr{~uint64_t{0} - 0xfff}, 0x1000};
    CHECK(r.contains(PhysAddr{~uint64_t{0}}));
    CHECK(r.contains(PhysAddr{~uint64_t{0} - 0xfff}));
    CHECK_FALSE(r.contains(PhysAddr{~uint64_t{0} - 0x1000}));
    CHECK_FALSE(r.contains(PhysAddr{0}));
}

TEST(Addr, AlignmentHelpersAtTheirEdges) {
    UNSIGNED_LONGLONGS_EQUAL(0x1000, align_up(0x1000, page_size));
    UNSIGNED_LONGLONGS_EQUAL(0x2000, align_up(0x1001, page_size));
    UNSIGNED_LONGLONGS_EQUAL(0x1000, align_up(0xfff, page_size));
    UNSIGNED_LONGLONGS_EQUAL(0x1000, align_down(0x1fff, page_size));
    UNSIGNED_LONGLONGS_EQUAL(0x2000, align_down(0x2000, page_size));
    CHECK(is_aligned(0x2000, page_size));
    CHECK_FALSE(is_aligned(0x2001, page_size));
    CHECK_FALSE(is_aligned(0x1fff, page_size));
    UNSIGNED_LONGLONGS_EQUAL(0, pages_for(0));
    UNSIGNED_LONGLONGS_EQUAL(1, pages_for(1));
    UNSIGNED_LONGLONGS_EQUAL(1, pages_for(page_size));
    UNSIGNED_LONGLONGS_EQUAL(2, pages_for(page_size + 1));
}

TEST(Addr, FramesAndPageOffsets) {
    UNSIGNED_LONGLONGS_EQUAL(0x40000, Gfn::containing(PhysAddr{0x40000fff}).value);
    UNSIGNED_LONGLONGS_EQUAL(0x40001, Gfn::containing(PhysAddr{0x40001000}).value);
    UNSIGNED_LONGLONGS_EQUAL(0x40001000, Gfn{0x40001}.address().value);
    UNSIGNED_LONGLONGS_EQUAL(0xfff, PhysAddr{0x40000fff}.page_offset());
    UNSIGNED_LONGLONGS_EQUAL(0, VirtAddr{0xffff000000001000}.page_offset());
}
