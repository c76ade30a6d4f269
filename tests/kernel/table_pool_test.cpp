#include "tests/test_support.h"

#include "kernel/table_pool.h"

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
