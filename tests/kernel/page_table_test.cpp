// The generic walker on a deliberately different descriptor encoding: if kernel/page_table.h
// leaned on real arm64 bit positions, these tests would fail.
#include "tests/test_support.h"

#include <functional>
#include <string>
#include <vector>

#include "kernel/address_space.h"
#include "kernel/limits.h"
#include "kernel/page_table.h"
#include "tests/fakes/dies.h"

using namespace domd;

namespace {

// Valid at bit 63, table at bit 62, attributes at 56-61, frame number in the low bits; the
// invalid entry is not zero, so the walker must fill new tables itself.
struct FakeEncoding {
    static constexpr int levels = 4;
    static constexpr int root_level = 0;
    static constexpr int leaf_level = 3;
    static constexpr unsigned index_bits = 9;
    static constexpr unsigned shift(int level) { return 12 + 9 * static_cast<unsigned>(3 - level); }
    static constexpr bool can_be_leaf(int level) { return level >= 2; }  // only 2 MiB blocks

    static constexpr uint64_t valid_bit = uint64_t{1} << 63;
    static constexpr uint64_t table_bit = uint64_t{1} << 62;
    static constexpr uint64_t write_bit = uint64_t{1} << 61;
    static constexpr uint64_t exec_bit = uint64_t{1} << 60;
    static constexpr unsigned type_shift = 58;

    static constexpr uint64_t invalid() { return 0x5a; }
    static constexpr uint64_t disabled(uint64_t e) { return e & ~valid_bit; }
    static constexpr bool is_valid(uint64_t e) { return e & valid_bit; }
    static constexpr bool is_table(uint64_t e, int level) { return level < leaf_level && (e & table_bit); }
    static constexpr uint64_t make_table(PhysAddr next) { return valid_bit | table_bit | (next.value >> 12); }
    static constexpr uint64_t make_leaf(PhysAddr pa, MapAttrs a, int) {
        return valid_bit | (a.writable ? write_bit : 0) | (a.executable ? exec_bit : 0) |
               (uint64_t(a.type) << type_shift) | (pa.value >> 12);
    }
    static constexpr PhysAddr output(uint64_t e, int) { return {(e & ((uint64_t{1} << 40) - 1)) << 12}; }
    static constexpr MapAttrs attrs(uint64_t e) {
        return {MemType((e >> type_shift) & 3), bool(e & write_bit), bool(e & exec_bit)};
    }
};

// Table pages with a retire step: a retired page is still in use until release_retired().
// Retiring and releasing are logged with the TLB operations, so tests see their order.
struct FakeTableMemory {
    static constexpr uint64_t base = 0x7700000000;  // far from any host pointer
    std::vector<std::vector<uint64_t>> pages;
    std::vector<bool> used;
    std::vector<bool> retired;
    size_t limit = 64;
    std::vector<std::string>* log = nullptr;

    size_t index(PhysAddr pa) const { return (pa.value - base) / page_size; }
    Result<PhysAddr> alloc() {
        for (size_t i = 0; i < pages.size(); ++i) {
            if (!used[i]) {
                used[i] = true;
                pages[i].assign(512, 0);
                return PhysAddr{base + i * page_size};
            }
        }
        if (pages.size() == limit) return Err::no_memory;
        pages.emplace_back(512, 0);
        used.push_back(true);
        retired.push_back(false);
        return PhysAddr{base + (pages.size() - 1) * page_size};
    }
    void free(PhysAddr pa) {
        CHECK(used.at(index(pa)));  // never freed twice
        used[index(pa)] = false;
        retired[index(pa)] = false;
    }
    void retire(PhysAddr pa) {
        CHECK(used.at(index(pa)));
        CHECK_FALSE(retired[index(pa)]);
        retired[index(pa)] = true;
        if (log) log->push_back("retire");
    }
    void release_retired() {
        bool any = false;
        for (size_t i = 0; i < retired.size(); ++i) {
            if (retired[i]) used[i] = false, retired[i] = false, any = true;
        }
        if (log && any) log->push_back("release retired");
    }
    uint64_t* entries(PhysAddr pa) { return pages.at(index(pa)).data(); }
    size_t available() const {
        size_t free_now = 0;
        for (bool u : used) free_now += !u;
        return free_now + (limit - pages.size());
    }
    size_t in_use() const {
        size_t n = 0;
        for (bool u : used) n += u;
        return n;
    }
};

// Records every TLB operation, in order, into the log it shares with the table memory; a test
// may look at the tables at each step.
struct FakeTlb {
    std::vector<std::string> events;
    std::function<void()> on_publish;
    std::function<void(VirtAddr)> on_invalidate;
    std::function<void()> on_complete;
    void publish() {
        if (on_publish) on_publish();
        events.push_back("publish");
    }
    void invalidate(VirtAddr va) {
        if (on_invalidate) on_invalidate(va);
        char text[64];
        snprintf(text, sizeof text, "invalidate %llx", (unsigned long long)va.value);
        events.push_back(text);
    }
    void invalidate_all() { events.push_back("invalidate all"); }
    void complete() {
        if (on_complete) on_complete();
        events.push_back("complete");
    }
    size_t count(const std::string& what) const { return std::count(events.begin(), events.end(), what); }
};

using Table = PageTable<FakeEncoding, FakeTableMemory, FakeTlb>;
constexpr VirtAddr kva{0xffff000000200000};

}  // namespace

TEST_GROUP(PageTable) {
    FakeTableMemory mem;
    FakeTlb tlb;
    Table* table = nullptr;
    void setup() override {
        mem.log = &tlb.events;
        table = new Table(mem, tlb);
        CHECK(table->create().ok());
    }
    void teardown() override { delete table; }
    bool mapped(VirtAddr va) const { return table->translate(va).ok(); }
};

TEST(PageTable, NewTablesAreFilledWithTheEncodingsInvalidEntry) {
    uint64_t* root = mem.entries(table->root());
    for (int i = 0; i < 512; ++i) UNSIGNED_LONGLONGS_EQUAL(0x5a, root[i]);
}

TEST(PageTable, MapsAndTranslatesPagesWithAttributes) {
    CHECK(table->map(kva, PhysAddr{0x40000000}, 3 * page_size, MapAttrs::read_write()).ok());
    auto t = table->translate(kva + page_size + 0x123);
    CHECK(t.ok());
    UNSIGNED_LONGLONGS_EQUAL(0x40001123, t.value().pa.value);
    CHECK(t.value().attrs == MapAttrs::read_write());
    LONGS_EQUAL(3, t.value().level);
    CHECK_EQUAL(Err::not_found, table->translate(kva + 3 * page_size).error());
    // Root, level-1, level-2 and level-3 tables.
    LONGS_EQUAL(4, (long)mem.in_use());
}

TEST(PageTable, RefusesWritableAndExecutable) {
    MapAttrs wx{MemType::normal, true, true};
    CHECK_EQUAL(Err::invalid, table->map(kva, PhysAddr{0x40000000}, page_size, wx).error());
}

TEST(PageTable, RefusesUnalignedRequests) {
    CHECK_EQUAL(Err::invalid, table->map(kva + 1, PhysAddr{0x40000000}, page_size, MapAttrs::read_only()).error());
    CHECK_EQUAL(Err::invalid, table->map(kva, PhysAddr{0x40000010}, page_size, MapAttrs::read_only()).error());
    CHECK_EQUAL(Err::invalid, table->map(kva, PhysAddr{0x40000000}, 100, MapAttrs::read_only()).error());
    CHECK_EQUAL(Err::invalid, table->map(kva, PhysAddr{0x40000000}, 0, MapAttrs::read_only()).error());
}

TEST(PageTable, FailedMapChangesNothing) {
    CHECK(table->map(kva + 2 * page_size, PhysAddr{0x50000000}, page_size, MapAttrs::read_only()).ok());
    size_t tables_before = mem.in_use();
    // Overlaps the page mapped above: refused as a whole, the first two pages stay unmapped.
    CHECK_EQUAL(Err::exists, table->map(kva, PhysAddr{0x40000000}, 4 * page_size, MapAttrs::read_only()).error());
    CHECK_EQUAL(Err::not_found, table->translate(kva).error());
    CHECK_EQUAL(Err::not_found, table->translate(kva + page_size).error());
    UNSIGNED_LONGLONGS_EQUAL(0x50000000, table->translate(kva + 2 * page_size).value().pa.value);
    LONGS_EQUAL((long)tables_before, (long)mem.in_use());
}

TEST(PageTable, RunningOutOfTableMemoryChangesNothing) {
    mem.limit = mem.pages.size() + 2;  // a new region needs three more tables
    VirtAddr far{0xffff008000000000};
    CHECK_EQUAL(Err::no_memory, table->map(far, PhysAddr{0x40000000}, page_size, MapAttrs::read_only()).error());
    LONGS_EQUAL(1, (long)mem.in_use());
    CHECK_EQUAL(Err::not_found, table->translate(far).error());
}

TEST(PageTable, CountsSharedTablesOnceWhenBudgeting) {
    // 1024 pages span exactly two level-3 tables under one level-2 table: 1 (root) + 1 + 1 + 2.
    mem.limit = 5;
    CHECK(table->map(kva, PhysAddr{0x40000000}, 1024 * page_size, MapAttrs::read_only()).ok());
    LONGS_EQUAL(5, (long)mem.in_use());
}

TEST(PageTable, UsesBlocksWhenAllowedAndAligned) {
    VirtAddr va{0xffff000040000000};
    CHECK(table->map(va, PhysAddr{0x80000000}, 4u << 20, MapAttrs::read_write(), true).ok());
    auto t = table->translate(va + (3u << 20) + 5);
    CHECK(t.ok());
    LONGS_EQUAL(2, t.value().level);
    UNSIGNED_LONGLONGS_EQUAL(0x80300005, t.value().pa.value);
    LONGS_EQUAL(3, (long)mem.in_use());  // root, L1, L2: no level-3 tables
}

TEST(PageTable, FallsBackToPagesWhenPhysicalAddressIsNotBlockAligned) {
    VirtAddr va{0xffff000040000000};
    CHECK(table->map(va, PhysAddr{0x80001000}, 2u << 20, MapAttrs::read_write(), true).ok());
    LONGS_EQUAL(3, table->translate(va).value().level);
}

// ---- break-before-make, in strict order ----------------------------------------------------

// Unmap: every entry invalid, then one publish, then the TLBIs, then one completion.
TEST(PageTable, UnmapInvalidatesEveryEntryBeforeOnePublishThenTlbisThenOneCompletion) {
    CHECK(table->map(kva, PhysAddr{0x40000000}, 3 * page_size, MapAttrs::read_write()).ok());
    CHECK(table->map(kva + 3 * page_size, PhysAddr{0x50000000}, page_size, MapAttrs::read_write()).ok());
    tlb.events.clear();
    int publishes = 0;
    tlb.on_publish = [&] {
        ++publishes;
        for (int i = 0; i < 3; ++i) CHECK_FALSE(mapped(kva + i * page_size));  // all broken first
        CHECK(mapped(kva + 3 * page_size));  // the neighbour is untouched
    };
    CHECK(table->unmap(kva, 3 * page_size).ok());
    LONGS_EQUAL(1, publishes);
    std::vector<std::string> expected = {"publish", "invalidate ffff000000200000", "invalidate ffff000000201000",
                                         "invalidate ffff000000202000", "complete"};
    CHECK(expected == tlb.events);
    tlb.on_publish = nullptr;
    // The range can be mapped again, to something else.
    CHECK(table->map(kva, PhysAddr{0x60000000}, page_size, MapAttrs::read_only()).ok());
    UNSIGNED_LONGLONGS_EQUAL(0x60000000, table->translate(kva).value().pa.value);
}

TEST(PageTable, UnmapUpToTheLimitInvalidatesPageByPage) {
    const uint64_t n = limits::tlbi_page_limit;
    CHECK(table->map(kva, PhysAddr{0x40000000}, n * page_size, MapAttrs::read_write()).ok());
    tlb.events.clear();
    CHECK(table->unmap(kva, n * page_size).ok());
    long per_page = std::count_if(tlb.events.begin(), tlb.events.end(),
                                  [](const std::string& e) { return e.rfind("invalidate ff", 0) == 0; });
    LONGS_EQUAL(n, per_page);
    LONGS_EQUAL(0, (long)tlb.count("invalidate all"));
    LONGS_EQUAL(1, (long)tlb.count("complete"));
}

TEST(PageTable, UnmapAboveTheLimitInvalidatesTheWholeTlbOnce) {
    const uint64_t n = limits::tlbi_page_limit + 1;
    CHECK(table->map(kva, PhysAddr{0x40000000}, n * page_size, MapAttrs::read_write()).ok());
    CHECK(table->map(kva + n * page_size, PhysAddr{0x50000000}, page_size, MapAttrs::read_write()).ok());
    tlb.events.clear();
    CHECK(table->unmap(kva, n * page_size).ok());
    std::vector<std::string> expected = {"publish", "invalidate all", "complete"};
    CHECK(expected == tlb.events);
}

TEST(PageTable, ABlockIsInvalidatedWithTheWholeTlb) {
    VirtAddr va{0xffff000040000000};
    CHECK(table->map(va, PhysAddr{0x80000000}, 2u << 20, MapAttrs::read_write(), true).ok());
    CHECK(table->map(va + (2u << 20), PhysAddr{0x90000000}, page_size, MapAttrs::read_write()).ok());
    tlb.events.clear();
    CHECK(table->unmap(va, 2u << 20).ok());
    std::vector<std::string> expected = {"publish", "invalidate all", "complete"};
    CHECK(expected == tlb.events);
}

TEST(PageTable, UnmapRefusalsChangeNothingAndIssueNothing) {
    CHECK(table->map(kva, PhysAddr{0x40000000}, page_size, MapAttrs::read_write()).ok());
    tlb.events.clear();
    CHECK_EQUAL(Err::not_found, table->unmap(kva, 2 * page_size).error());
    CHECK_EQUAL(Err::invalid, table->unmap(kva + 1, page_size).error());
    CHECK_EQUAL(Err::invalid, table->unmap(kva, 0).error());
    CHECK(tlb.events.empty());
    CHECK(mapped(kva));
}

TEST(PageTable, UnmapRefusesHolesAndPartialBlocks) {
    CHECK(table->map(kva, PhysAddr{0x40000000}, page_size, MapAttrs::read_write()).ok());
    CHECK_EQUAL(Err::not_found, table->unmap(kva, 2 * page_size).error());
    UNSIGNED_LONGLONGS_EQUAL(0x40000000, table->translate(kva).value().pa.value);  // untouched
    VirtAddr va{0xffff000040000000};
    CHECK(table->map(va, PhysAddr{0x80000000}, 2u << 20, MapAttrs::read_write(), true).ok());
    CHECK_EQUAL(Err::invalid, table->unmap(va, page_size).error());
    CHECK(table->unmap(va, 2u << 20).ok());
}

// Protect: all entries invalid, one publish, the TLBIs, one completion, and only then the new
// entries, published once.
TEST(PageTable, ProtectBreaksTheWholeRangeBeforeMakingItAgain) {
    CHECK(table->map(kva, PhysAddr{0x40000000}, 2 * page_size, MapAttrs::read_write()).ok());
    tlb.events.clear();
    int publishes = 0;
    tlb.on_publish = [&] {
        // First publish: the break, nothing mapped; second: the make, all mapped read-only.
        bool broken = ++publishes == 1;
        for (int i = 0; i < 2; ++i) CHECK_EQUAL(!broken, mapped(kva + i * page_size));
    };
    tlb.on_complete = [&] { CHECK_FALSE(mapped(kva) || mapped(kva + page_size)); };
    CHECK(table->protect(kva, 2 * page_size, MapAttrs::read_only()).ok());
    std::vector<std::string> expected = {"publish", "invalidate ffff000000200000", "invalidate ffff000000201000",
                                         "complete", "publish"};
    CHECK(expected == tlb.events);
    for (uint64_t i = 0; i < 2; ++i) {
        auto t = table->translate(kva + i * page_size);
        CHECK(t.value().attrs == MapAttrs::read_only());
        UNSIGNED_LONGLONGS_EQUAL(0x40000000 + i * page_size, t.value().pa.value);
    }
}

TEST(PageTable, ProtectKeepsBlocksAndTheirOutput) {
    VirtAddr va{0xffff000040000000};
    CHECK(table->map(va, PhysAddr{0x80000000}, 4u << 20, MapAttrs::read_write(), true).ok());
    CHECK(table->protect(va, 4u << 20, MapAttrs::read_only()).ok());
    auto t = table->translate(va + (2u << 20) + 0x10);
    LONGS_EQUAL(2, t.value().level);
    UNSIGNED_LONGLONGS_EQUAL(0x80200010, t.value().pa.value);
    CHECK(t.value().attrs == MapAttrs::read_only());
    CHECK_EQUAL(Err::invalid, table->protect(va, 4u << 20, MapAttrs{MemType::normal, true, true}).error());
    CHECK_EQUAL(Err::not_found, table->protect(va + (4u << 20), page_size, MapAttrs::read_only()).error());
}

// Map: a new table is filled (every entry invalid) and published before the entry that links
// it is written, so the walker never follows a link into garbage; the leaves are written
// before the final publish.
TEST(PageTable, MapPublishesEachNewTableBeforeLinkingItAndTheLeavesAtTheEnd) {
    struct Seen {
        bool unlinked_and_filled = false;
    };
    std::map<uint64_t, Seen> tables;  // by physical address, every table but the root
    auto reachable = [&] {
        std::set<uint64_t> found;
        std::function<void(PhysAddr, int)> walk = [&](PhysAddr t, int level) {
            if (level == FakeEncoding::leaf_level) return;
            for (int i = 0; i < 512; ++i) {
                uint64_t e = mem.entries(t)[i];
                if (FakeEncoding::is_valid(e) && FakeEncoding::is_table(e, level)) {
                    found.insert(FakeEncoding::output(e, level).value);
                    walk(FakeEncoding::output(e, level), level + 1);
                }
            }
        };
        walk(table->root(), 0);
        return found;
    };
    int publishes = 0;
    tlb.on_publish = [&] {
        ++publishes;
        std::set<uint64_t> linked = reachable();
        for (size_t i = 0; i < mem.pages.size(); ++i) {
            uint64_t pa = FakeTableMemory::base + i * page_size;
            if (!mem.used[i] || pa == table->root().value || linked.count(pa)) continue;
            bool filled = std::all_of(mem.pages[i].begin(), mem.pages[i].end(), [](uint64_t e) { return e == 0x5a; });
            if (filled) tables[pa].unlinked_and_filled = true;
        }
    };
    bool leaves_written_at_last_publish = false;
    auto last_publish = tlb.on_publish;
    tlb.on_publish = [&] {
        last_publish();
        leaves_written_at_last_publish = mapped(kva) && mapped(kva + page_size);
    };
    CHECK(table->map(kva, PhysAddr{0x40000000}, 2 * page_size, MapAttrs::read_only()).ok());
    LONGS_EQUAL(4, publishes);  // three tables linked, then the leaves
    std::set<uint64_t> linked = reachable();
    LONGS_EQUAL(3, (long)linked.size());
    for (uint64_t pa : linked) CHECK(tables[pa].unlinked_and_filled);
    CHECK(leaves_written_at_last_publish);
}

// ---- batches of unmaps -----------------------------------------------------------------------

TEST(PageTable, ABatchOfUnmapsCompletesOnceAtItsEnd) {
    for (uint64_t i = 0; i < 3; ++i)
        CHECK(table->map(kva + i * page_size, PhysAddr{0x40000000 + i * page_size}, page_size, MapAttrs::read_write()).ok());
    CHECK(table->map(kva + 3 * page_size, PhysAddr{0x50000000}, page_size, MapAttrs::read_write()).ok());
    tlb.events.clear();
    {
        Table::Batch batch(*table);
        for (uint64_t i = 0; i < 3; ++i) CHECK(table->unmap(kva + i * page_size, page_size).ok());
        LONGS_EQUAL(0, (long)tlb.count("complete"));
    }
    std::vector<std::string> expected = {"publish", "invalidate ffff000000200000", "publish", "invalidate ffff000000201000",
                                         "publish", "invalidate ffff000000202000", "complete"};
    CHECK(expected == tlb.events);
}

TEST(PageTable, NestedBatchesCompleteAtTheOutermostEnd) {
    CHECK(table->map(kva, PhysAddr{0x40000000}, 2 * page_size, MapAttrs::read_write()).ok());
    CHECK(table->map(kva + 2 * page_size, PhysAddr{0x50000000}, page_size, MapAttrs::read_write()).ok());
    tlb.events.clear();
    {
        Table::Batch outer(*table);
        {
            Table::Batch inner(*table);
            CHECK(table->unmap(kva, page_size).ok());
        }
        LONGS_EQUAL(0, (long)tlb.count("complete"));
        CHECK(table->unmap(kva + page_size, page_size).ok());
    }
    LONGS_EQUAL(1, (long)tlb.count("complete"));
    CHECK_EQUAL("complete", tlb.events.back());
}

TEST(PageTable, AnEmptyBatchIssuesNothing) {
    { Table::Batch batch(*table); }
    CHECK(tlb.events.empty());
    table->end_batch();  // unbalanced: ignored
    CHECK(tlb.events.empty());
    // ...so an unmap outside any batch still completes at once.
    CHECK(table->map(kva, PhysAddr{0x40000000}, page_size, MapAttrs::read_write()).ok());
    CHECK(table->map(kva + page_size, PhysAddr{0x50000000}, page_size, MapAttrs::read_write()).ok());
    tlb.events.clear();
    CHECK(table->unmap(kva, page_size).ok());
    CHECK_EQUAL("complete", tlb.events.back());
}

// An address unmapped in an open batch may still translate until the completion: a map()
// completes first, so it can never break break-before-make, even when it reuses the address.
TEST(PageTable, AMapInsideABatchCompletesTheOutstandingInvalidationsFirst) {
    CHECK(table->map(kva, PhysAddr{0x40000000}, page_size, MapAttrs::read_write()).ok());
    CHECK(table->map(kva + page_size, PhysAddr{0x50000000}, page_size, MapAttrs::read_write()).ok());
    Table::Batch batch(*table);
    CHECK(table->unmap(kva, page_size).ok());
    tlb.events.clear();
    CHECK(table->map(kva, PhysAddr{0x60000000}, page_size, MapAttrs::read_only()).ok());
    std::vector<std::string> expected = {"complete", "publish"};
    CHECK(expected == tlb.events);
}

// ---- the table pool: reclaimed on unmap ------------------------------------------------------

TEST(PageTable, ATableEmptiedByUnmapGoesBackOnlyAfterTheCompletion) {
    size_t start = mem.in_use();
    VirtAddr far{0xffff008000000000};  // a new L1, L2 and L3 table
    CHECK(table->map(far, PhysAddr{0x40000000}, page_size, MapAttrs::read_write()).ok());
    LONGS_EQUAL(start + 3, (long)mem.in_use());
    tlb.events.clear();
    tlb.on_publish = [&] {
        // The root no longer links the emptied L1 table when the publish makes that visible.
        uint64_t root_entry = mem.entries(table->root())[(far.value >> 39) & 511];
        CHECK_FALSE(FakeEncoding::is_valid(root_entry));
    };
    tlb.on_complete = [&] { LONGS_EQUAL(start + 3, (long)mem.in_use()); };  // retired, not free
    CHECK(table->unmap(far, page_size).ok());
    std::vector<std::string> expected = {"retire", "retire", "retire", "publish", "invalidate ffff008000000000",
                                         "complete", "release retired"};
    CHECK(expected == tlb.events);
    LONGS_EQUAL(start, (long)mem.in_use());
}

TEST(PageTable, ATableThatStillMapsSomethingIsKept) {
    CHECK(table->map(kva, PhysAddr{0x40000000}, 2 * page_size, MapAttrs::read_write()).ok());
    VirtAddr next_l3 = kva + (2u << 20);  // the same L2 table, the next L3 table
    CHECK(table->map(next_l3, PhysAddr{0x50000000}, page_size, MapAttrs::read_write()).ok());
    size_t tables = mem.in_use();
    CHECK(table->unmap(kva, page_size).ok());
    LONGS_EQUAL(tables, (long)mem.in_use());  // its L3 still maps kva + 4 KiB
    CHECK(table->unmap(kva + page_size, page_size).ok());
    LONGS_EQUAL(tables - 1, (long)mem.in_use());  // that L3 is empty now; the L2 is not
    CHECK(mapped(next_l3));
    CHECK(table->unmap(next_l3, page_size).ok());
    LONGS_EQUAL(1, (long)mem.in_use());  // only the root is left
}

TEST(PageTable, TablesFreedInABatchComeBackAtItsEnd) {
    VirtAddr far{0xffff008000000000};
    CHECK(table->map(far, PhysAddr{0x40000000}, page_size, MapAttrs::read_write()).ok());
    size_t tables = mem.in_use();
    {
        Table::Batch batch(*table);
        CHECK(table->unmap(far, page_size).ok());
        LONGS_EQUAL(tables, (long)mem.in_use());
    }
    LONGS_EQUAL(tables - 3, (long)mem.in_use());
}

// Mapping and unmapping, in any sizes and places, leaves the pool where it started.
TEST(PageTable, MapUnmapCyclesLeaveThePoolWhereItStarted) {
    size_t start = mem.in_use();
    mem.limit = 256;
    struct Range {
        uint64_t va, pa, size;
        bool blocks;
    };
    const std::vector<Range> ranges = {
        {0xffff000000200000, 0x40000000, page_size, false},
        {0xffff0000003ff000, 0x40100000, 2 * page_size, false},  // crosses an L3 boundary
        {0xffff00013ffff000, 0x40200000, 2 * page_size, false},  // crosses an L2 boundary
        {0xffff007ffffff000, 0x40300000, 2 * page_size, false},  // crosses an L1 boundary
        {0xffff000040000000, 0x80000000, 6u << 20, true},        // blocks
        {0xffff000080000000, 0x80001000, 3u << 20, true},        // unaligned PA: pages
        {0xffff0000c0000000, 0xa0000000, 3u << 20, true},        // a block and pages
    };
    uint32_t seed = 12345;
    for (int round = 0; round < 200; ++round) {
        seed = seed * 1103515245 + 12345;
        std::vector<size_t> order(ranges.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::rotate(order.begin(), order.begin() + (seed >> 16) % order.size(), order.end());
        for (size_t i : order)
            CHECK(table->map(VirtAddr{ranges[i].va}, PhysAddr{ranges[i].pa}, ranges[i].size, MapAttrs::read_write(),
                             ranges[i].blocks).ok());
        std::reverse(order.begin(), order.end());
        std::rotate(order.begin(), order.begin() + (seed >> 20) % order.size(), order.end());
        Table::Batch batch(*table);
        for (size_t i : order) CHECK(table->unmap(VirtAddr{ranges[i].va}, ranges[i].size).ok());
    }
    LONGS_EQUAL(start, (long)mem.in_use());
}

TEST(PageTable, DestroyFreesTheWholeTreeRootIncluded) {
    CHECK(table->map(kva, PhysAddr{0x40000000}, page_size, MapAttrs::read_write()).ok());
    CHECK(table->map(VirtAddr{0xffff008000000000}, PhysAddr{0x40001000}, page_size, MapAttrs::read_write()).ok());
    CHECK(mem.in_use() > 1);
    tlb.events.clear();
    table->destroy();
    LONGS_EQUAL(0, (long)mem.in_use());
    CHECK(tlb.events.empty());  // only for trees nothing walks any more: no maintenance
    table->destroy();  // twice: nothing left to free
    LONGS_EQUAL(0, (long)mem.in_use());
}

// ---- AddressSpace: the Mapper over a table and a window -----------------------------------

TEST_GROUP(AddressSpace) {
    static constexpr uint64_t block_bytes = AddressSpace<Table>::block_bytes;
    static constexpr uint64_t block_pages = AddressSpace<Table>::block_pages;
    FakeTableMemory mem;
    FakeTlb tlb;
    Table* table = nullptr;
    AddressSpace<Table>* space = nullptr;
    void setup() override {
        mem.log = &tlb.events;
        table = new Table(mem, tlb);
        CHECK(table->create().ok());
        space = new AddressSpace<Table>(*table, VirtAddr{0xffff000000000000}, uint64_t{1} << 30);
    }
    void teardown() override {
        delete space;
        delete table;
    }
};

TEST(AddressSpace, KeepsThePageOffsetAndTranslatesBack) {
    auto va = space->map(PhysAddr{0x39000010}, 16, MapAttrs::read_write());
    CHECK(va.ok());
    UNSIGNED_LONGLONGS_EQUAL(0x10, va.value().page_offset());
    UNSIGNED_LONGLONGS_EQUAL(0x39000010, space->to_phys(va.value()).value().value);
    CHECK(space->unmap(va.value(), 16).ok());
    CHECK_EQUAL(Err::not_found, space->to_phys(va.value()).error());
}

TEST(AddressSpace, NeverHandsOutTheFirstWindowPage) {
    auto va = space->map(PhysAddr{0x40000000}, page_size, MapAttrs::read_only());
    CHECK(va.value().value != 0xffff000000000000);
}

TEST(AddressSpace, ReusesFreedVirtualPages) {
    uint64_t free_before = space->free_window_pages();
    auto a = space->map(PhysAddr{0x40000000}, 3 * page_size, MapAttrs::read_only());
    CHECK(a.ok());
    UNSIGNED_LONGLONGS_EQUAL(free_before - 3, space->free_window_pages());
    CHECK(space->unmap(a.value(), 3 * page_size).ok());
    UNSIGNED_LONGLONGS_EQUAL(free_before, space->free_window_pages());
    UNSIGNED_LONGLONGS_EQUAL(0, space->live_mappings());
}

TEST(AddressSpace, FailedMapGivesTheVirtualPagesBack) {
    mem.limit = 1;  // no table can be added
    uint64_t free_before = space->free_window_pages();
    CHECK_EQUAL(Err::no_memory, space->map(PhysAddr{0x40000000}, page_size, MapAttrs::read_only()).error());
    UNSIGNED_LONGLONGS_EQUAL(free_before, space->free_window_pages());
}

// The window is [0xffff000000000000, +1 GiB). Addresses the table maps outside it are not the
// address space's to unmap, below or above.
TEST(AddressSpace, RefusesToUnmapOutsideTheWindow) {
    const uint64_t base = 0xffff000000000000, end = base + (uint64_t{1} << 30);
    CHECK(table->map(VirtAddr{base - page_size}, PhysAddr{0x40000000}, page_size, MapAttrs::read_only()).ok());
    CHECK(table->map(VirtAddr{end}, PhysAddr{0x40001000}, page_size, MapAttrs::read_only()).ok());
    CHECK_EQUAL(Err::invalid, space->unmap(VirtAddr{0x1000}, page_size).error());
    CHECK_EQUAL(Err::invalid, space->unmap(VirtAddr{base - page_size}, page_size).error());
    CHECK_EQUAL(Err::invalid, space->unmap(VirtAddr{end}, page_size).error());
    CHECK_EQUAL(Err::invalid, space->unmap(VirtAddr{end - page_size}, 2 * page_size).error());  // runs past the end
    CHECK(table->translate(VirtAddr{base - page_size}).ok());
    CHECK(table->translate(VirtAddr{end}).ok());
    // Inside, only what the space mapped is its to unmap.
    CHECK_EQUAL(Err::invalid, space->unmap(VirtAddr{end - page_size}, page_size).error());
}

// An unmap undoes one map, exactly: part of a mapping, or two at once, is refused and leaves
// them whole (their window pages stay theirs).
TEST(AddressSpace, UnmapTakesExactlyOneMapping) {
    auto a = space->map(PhysAddr{0x40000000}, 2 * page_size, MapAttrs::read_write());
    auto b = space->map(PhysAddr{0x50000000}, page_size, MapAttrs::read_write());
    CHECK(b.value() == a.value() + 2 * page_size);
    uint64_t free_before = space->free_window_pages();
    CHECK_EQUAL(Err::invalid, space->unmap(a.value(), page_size).error());
    CHECK_EQUAL(Err::invalid, space->unmap(a.value() + page_size, page_size).error());
    CHECK_EQUAL(Err::invalid, space->unmap(a.value(), 3 * page_size).error());
    CHECK(space->to_phys(a.value() + page_size).ok());
    UNSIGNED_LONGLONGS_EQUAL(free_before, space->free_window_pages());
    LONGS_EQUAL(2, (long)space->live_mappings());
    CHECK(space->unmap(a.value(), 2 * page_size).ok());
    CHECK(space->unmap(b.value(), page_size).ok());
    CHECK_EQUAL(Err::invalid, space->unmap(b.value(), page_size).error());  // twice
}

// A Mapping whose unmap fails counts it, and logs it: nothing is dropped silently.
TEST(AddressSpace, AFailedUnmapOfAMappingIsCounted) {
    {
        Mapping bogus(*space, VirtAddr{0xffff000000005000}, page_size);  // never mapped
    }
    UNSIGNED_LONGLONGS_EQUAL(1, space->failed_unmaps());
    auto m = Mapping::create(*space, PhysAddr{0x40000000}, page_size, MapAttrs::read_only());
    CHECK(m.value().unmap().ok());
    CHECK_FALSE(m.value().valid());
    CHECK(m.value().unmap().ok());  // empty: nothing to do
    Mapping other(*space, VirtAddr{0xffff000000005000}, page_size);
    CHECK_EQUAL(Err::invalid, other.unmap().error());
    CHECK_FALSE(other.valid());
    UNSIGNED_LONGLONGS_EQUAL(2, space->failed_unmaps());
}

// The layout is ours, not a peer's: a window without a block area, or not 2 MiB aligned, is a
// bug that stops domd.
TEST(AddressSpace, ABadLayoutIsRefusedAtConstruction) {
    const uint64_t gib = uint64_t{1} << 30;
    VirtAddr base{0xffff008000000000};
    CHECK_FALSE(test::dies([&] { AddressSpace<Table> ok(*table, base, gib, gib - block_bytes); }));
    CHECK(test::dies([&] { AddressSpace<Table> no_block_area(*table, base, gib, gib); }));
    CHECK(test::dies([&] { AddressSpace<Table> bigger(*table, base, gib, gib + block_bytes); }));
    CHECK(test::dies([&] { AddressSpace<Table> odd(*table, base + page_size, gib, block_bytes); }));
    CHECK(test::dies([&] { AddressSpace<Table> odd(*table, base, gib + page_size, block_bytes); }));
    CHECK(test::dies([&] { AddressSpace<Table> odd(*table, base, gib, block_bytes + page_size); }));
}

// A mapping as big as the window cannot fit (page 0 stays free); one byte more is no size at all.
TEST(AddressSpace, TheWindowSizeIsTheEdge) {
    const uint64_t window = uint64_t{1} << 30;
    CHECK_EQUAL(Err::no_space, space->map(PhysAddr{0x80000000}, window, MapAttrs::read_only()).error());
    CHECK_EQUAL(Err::invalid, space->map(PhysAddr{0x80000000}, window + 1, MapAttrs::read_only()).error());
    CHECK_EQUAL(Err::invalid, space->unmap(VirtAddr{0xffff000000200000}, window + 1).error());
}

// A size so big that offset + size wraps around to one page must not pass for that page.
TEST(AddressSpace, AnUnmapSizeThatWrapsIsRefused) {
    auto va = space->map(PhysAddr{0x40000002}, 1, MapAttrs::read_only());  // page offset 2
    CHECK_EQUAL(Err::invalid, space->unmap(va.value(), ~uint64_t{0}).error());  // 2 + (2^64 - 1) wraps to 1
    CHECK(space->to_phys(va.value()).ok());
    CHECK(space->unmap(va.value(), 1).ok());
}

TEST(AddressSpace, RefusesSizesNoWindowCouldHold) {
    CHECK_EQUAL(Err::invalid, space->map(PhysAddr{0x40000000}, 0, MapAttrs::read_only()).error());
    CHECK_EQUAL(Err::invalid, space->map(PhysAddr{0x40000000}, (uint64_t{1} << 30) + 1, MapAttrs::read_only()).error());
    CHECK_EQUAL(Err::invalid, space->map(PhysAddr{0x40000fff}, ~uint64_t{0}, MapAttrs::read_only()).error());
    CHECK_EQUAL(Err::invalid, space->unmap(VirtAddr{0xffff000000001000}, 0).error());
    CHECK_EQUAL(Err::invalid, space->unmap(VirtAddr{0xffff000000001fff}, ~uint64_t{0}).error());
}

TEST(AddressSpace, SmallMappingsUseThePageAreaBigOnesTheBlockArea) {
    const uint64_t page_area_end = 0xffff000000000000 + limits::page_area_bytes;
    auto small = space->map(PhysAddr{0x40000000}, block_bytes - page_size, MapAttrs::read_only());
    CHECK(small.value().value < page_area_end);
    LONGS_EQUAL(3, table->translate(small.value()).value().level);
    auto big = space->map(PhysAddr{0x80000000}, block_bytes, MapAttrs::read_only());
    CHECK(big.value().value >= page_area_end);
    CHECK(is_aligned(big.value().value, block_bytes));
    LONGS_EQUAL(2, table->translate(big.value()).value().level);
    CHECK(space->unmap(small.value(), block_bytes - page_size).ok());
    CHECK(space->unmap(big.value(), block_bytes).ok());
    UNSIGNED_LONGLONGS_EQUAL(0, space->live_mappings());
}

TEST(AddressSpace, MappingHandleUnmapsWhenDestroyed) {
    VirtAddr va;
    {
        auto m = Mapping::create(*space, PhysAddr{0x40000000}, page_size, MapAttrs::read_only());
        CHECK(m.ok());
        va = m.value().address();
        CHECK(space->to_phys(va).ok());
    }
    CHECK_EQUAL(Err::not_found, space->to_phys(va).error());
    UNSIGNED_LONGLONGS_EQUAL(0, space->live_mappings());
}

// A full page area refuses small mappings cleanly, and however they were placed they needed no
// more tables than the area allows: one last-level table per 2 MiB.
TEST(AddressSpace, ThePageAreaBoundsTheTablesSmallMappingsNeed) {
    AddressSpace<Table> small_area(*table, VirtAddr{0xffff008000000000}, uint64_t{1} << 30, 2 * block_bytes);
    size_t tables_before = mem.in_use();
    std::vector<VirtAddr> mapped_pages;
    for (uint64_t i = 0; i < 2 * block_pages - 1; ++i) {  // every page but the window's first
        auto va = small_area.map(PhysAddr{0x40000000 + i * page_size}, 1, MapAttrs::read_write());
        CHECK(va.ok());
        mapped_pages.push_back(va.value());
    }
    CHECK_EQUAL(Err::no_space, small_area.map(PhysAddr{0x50000000}, page_size, MapAttrs::read_write()).error());
    LONGS_EQUAL(tables_before + 1 + 1 + 2, (long)mem.in_use());  // L1, L2, two L3
    auto big = small_area.map(PhysAddr{0x80000000}, block_bytes, MapAttrs::read_write());
    CHECK(big.ok());  // the block area is separate
    CHECK(small_area.unmap(big.value(), block_bytes).ok());
    for (VirtAddr va : mapped_pages) CHECK(small_area.unmap(va, 1).ok());
    LONGS_EQUAL(tables_before, (long)mem.in_use());
    UNSIGNED_LONGLONGS_EQUAL(2 * block_pages - 1, small_area.free_page_area_pages());
}

TEST(AddressSpace, BigMappingsGetBlockAlignedVirtualAddresses) {
    auto va = space->map(PhysAddr{0x80000000}, 4u << 20, MapAttrs::read_write());
    CHECK(va.ok());
    CHECK(is_aligned(va.value().value, 2u << 20));
    LONGS_EQUAL(2, table->translate(va.value()).value().level);
}

TEST(AddressSpace, MappingsReleasedInABatchShareOneCompletion) {
    std::vector<Mapping> mappings;
    for (uint64_t i = 0; i < 4; ++i)
        mappings.push_back(std::move(Mapping::create(*space, PhysAddr{0x40000000 + i * page_size}, page_size,
                                                     MapAttrs::read_write()).value()));
    tlb.events.clear();
    {
        UnmapBatch batch(*space);
        mappings.clear();
        LONGS_EQUAL(0, (long)tlb.count("complete"));
    }
    LONGS_EQUAL(4, (long)tlb.count("publish"));
    LONGS_EQUAL(1, (long)tlb.count("complete"));
    auto complete = std::find(tlb.events.begin(), tlb.events.end(), "complete");
    CHECK(std::find(complete, tlb.events.end(), "publish") == tlb.events.end());  // after every unmap
    UNSIGNED_LONGLONGS_EQUAL(0, space->live_mappings());
}

// ---- reservations: a guest's RAM mapped piecewise at fixed places ----------------------------

TEST(AddressSpace, AReservationTakesMappingsAtFixedPlacesInBlocksWhereAligned) {
    auto base = space->reserve(8 * block_bytes);
    CHECK(base.ok());
    CHECK(is_aligned(base.value().value, block_bytes));
    VirtAddr at = base.value() + 2 * block_bytes;
    CHECK(space->map_at(at, PhysAddr{0x80000000}, block_bytes, MapAttrs::read_write()).ok());
    CHECK_EQUAL(2, space->to_phys(at).ok() ? table->translate(at).value().level : -1);  // one 2 MiB block
    CHECK(space->map_at(at + block_bytes + page_size, PhysAddr{0x90001000}, page_size, MapAttrs::read_write()).ok());
    CHECK_EQUAL(3, table->translate(at + block_bytes + page_size).value().level);
    CHECK_EQUAL(Err::busy, space->release(base.value(), 8 * block_bytes).error());  // still mapped in it
    CHECK(space->unmap_at(at, block_bytes).ok());
    CHECK(space->unmap_at(at + block_bytes + page_size, page_size).ok());
    CHECK(space->release(base.value(), 8 * block_bytes).ok());
}

TEST(AddressSpace, MapAtStaysInsideItsReservationAtBothEdges) {
    VirtAddr base = space->reserve(2 * block_bytes).value();
    VirtAddr last = base + (2 * block_bytes - page_size);
    CHECK(space->map_at(last, PhysAddr{0x80000000}, page_size, MapAttrs::read_write()).ok());  // the last page
    CHECK_EQUAL(Err::invalid, space->map_at(last + page_size, PhysAddr{0x80001000}, page_size,
                                            MapAttrs::read_write()).error());  // just past it
    CHECK_EQUAL(Err::invalid, space->map_at(last, PhysAddr{0x80001000}, 2 * page_size,
                                            MapAttrs::read_write()).error());  // straddling the end
    CHECK_EQUAL(Err::invalid, space->map_at(VirtAddr{base.value - page_size}, PhysAddr{0x80002000}, page_size,
                                            MapAttrs::read_write()).error());  // just before it
    CHECK_EQUAL(Err::invalid, space->map_at(base + 16, PhysAddr{0x80003000}, page_size,
                                            MapAttrs::read_write()).error());  // VA not page aligned
    CHECK_EQUAL(Err::invalid, space->map_at(base, PhysAddr{0x80003010}, page_size,
                                            MapAttrs::read_write()).error());  // PA not page aligned
    CHECK_EQUAL(Err::invalid, space->map_at(VirtAddr{~uint64_t{0} & ~page_mask}, PhysAddr{0x80004000}, 2 * page_size,
                                            MapAttrs::read_write()).error());  // wraps
    CHECK(space->unmap_at(last, page_size).ok());
    CHECK_EQUAL(Err::invalid, space->unmap_at(last + page_size, page_size).error());
    CHECK(space->release(base, 2 * block_bytes).ok());
    CHECK_EQUAL(Err::invalid, space->release(base, 2 * block_bytes).error());  // gone already
}

TEST(AddressSpace, ReservationsAreBoundedAndComeBack) {
    std::vector<VirtAddr> held;
    for (size_t i = 0; i < limits::max_reservations; ++i) held.push_back(space->reserve(block_bytes).value());
    CHECK_EQUAL(Err::no_space, space->reserve(block_bytes).error());
    CHECK(space->release(held.back(), block_bytes).ok());
    held.pop_back();
    CHECK(space->reserve(block_bytes).ok());
    CHECK_EQUAL(Err::invalid, space->reserve(block_bytes + page_size).error());  // whole blocks only
}
