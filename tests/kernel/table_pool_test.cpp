#include "tests/test_support.h"

#include "kernel/table_pool.h"
#include "tests/fakes/dies.h"

using namespace domd;

TEST_GROUP(TablePool) {
    // The pool is 4 KiB-aligned page storage: on the heap here, as in the image's BSS on target.
    std::unique_ptr<TablePool<3>> pool = std::make_unique<TablePool<3>>();
    void setup() override { pool->set_physical_base(PhysAddr{0x40100000}); }
};

TEST(TablePool, HandsOutZeroedPagesAtTheirPhysicalAddresses) {
    auto a = pool->alloc();
    auto b = pool->alloc();
    UNSIGNED_LONGLONGS_EQUAL(0x40100000, a.value().value);
    UNSIGNED_LONGLONGS_EQUAL(0x40101000, b.value().value);
    uint64_t* entries = pool->entries(b.value());
    CHECK(is_aligned(reinterpret_cast<uintptr_t>(entries), page_size));
    for (size_t i = 0; i < TablePool<3>::entries_per_table; ++i) UNSIGNED_LONGLONGS_EQUAL(0, entries[i]);
    LONGS_EQUAL(1, (long)pool->available());
}

TEST(TablePool, ReusesFreedPagesAndClearsThem) {
    auto a = pool->alloc();
    pool->entries(a.value())[7] = 0x1234;
    pool->free(a.value());
    auto again = pool->alloc();
    UNSIGNED_LONGLONGS_EQUAL(a.value().value, again.value().value);
    UNSIGNED_LONGLONGS_EQUAL(0, pool->entries(again.value())[7]);
}

TEST(TablePool, ReportsExhaustion) {
    for (int i = 0; i < 3; ++i) CHECK(pool->alloc().ok());
    CHECK_EQUAL(Err::no_memory, pool->alloc().error());
    LONGS_EQUAL(3, (long)pool->in_use());
}

// An unlinked table the walker may still read is retired: still in use, not handed out, until
// the TLB maintenance completed and release_retired() frees it.
TEST(TablePool, RetiredPagesStayInUseUntilReleased) {
    auto a = pool->alloc();
    auto b = pool->alloc();
    pool->retire(a.value());
    LONGS_EQUAL(2, (long)pool->in_use());
    auto c = pool->alloc();
    CHECK(c.value() != a.value());  // the retired page is not handed out
    CHECK_EQUAL(Err::no_memory, pool->alloc().error());
    pool->release_retired();
    LONGS_EQUAL(2, (long)pool->in_use());
    UNSIGNED_LONGLONGS_EQUAL(a.value().value, pool->alloc().value().value);
    pool->release_retired();  // nothing retired: nothing changes
    LONGS_EQUAL(3, (long)pool->in_use());
    pool->free(b.value());
    LONGS_EQUAL(2, (long)pool->in_use());
}

TEST(TablePool, EveryPageCanBeRetiredAndComesBack) {
    PhysAddr pages[3];
    for (auto& p : pages) p = pool->alloc().value();
    for (auto& p : pages) pool->retire(p);
    pool->release_retired();
    LONGS_EQUAL(0, (long)pool->in_use());
    LONGS_EQUAL(3, (long)pool->available());
}

// Only addresses the pool handed out may come back to it: the last page is one, the page past
// the pool and the page below it are our own bug, and stop domd at once.
TEST(TablePool, AnAddressOutsideThePoolTraps) {
    PhysAddr last{0x40100000 + 2 * page_size};
    CHECK_FALSE(test::dies([&] { (void)pool->entries(last); }));
    CHECK(test::dies([&] { (void)pool->entries(PhysAddr{0x40100000 + 3 * page_size}); }));
    CHECK(test::dies([&] { (void)pool->entries(PhysAddr{0x40100000 + 4 * page_size}); }));
    CHECK(test::dies([&] { (void)pool->entries(PhysAddr{0x40100000 - page_size}); }));
    CHECK(test::dies([&] { pool->free(PhysAddr{0x40100000}); }));  // never handed out: a double free
}
