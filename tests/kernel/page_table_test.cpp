// The generic walker on a deliberately different descriptor encoding: if kernel/page_table.h
// leaned on real arm64 bit positions, these tests would fail.
#include "tests/test_support.h"

#include <functional>
#include <string>
#include <vector>

#include "kernel/address_space.h"
#include "kernel/limits.h"
#include "kernel/page_table.h"

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

// ---- AddressSpace: the Mapper over a table and a window -----------------------------------

TEST_GROUP(AddressSpace) {
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

TEST(AddressSpace, RefusesToUnmapOutsideTheWindow) {
    CHECK_EQUAL(Err::invalid, space->unmap(VirtAddr{0x1000}, page_size).error());
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
