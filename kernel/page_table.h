// A generic multi-level page-table walker. Everything about descriptor bits lives in the
// Encoding (arch/arm64/pte.h on target, a deliberately different fake in the host tests), so
// this code cannot lean on real bit positions.
//
// Rules it keeps:
//  - prepare, then commit: map() first counts the tables it will need and checks every target
//    entry is free; only then does it write. A failed map changes nothing.
//  - map() only ever fills invalid entries, so it never needs break-before-make; changing a live
//    entry (protect) or removing it (unmap) is break-before-make (Arm ARM D8.14.1): every entry
//    of the range goes invalid, one publish, the TLB invalidations, one completion; only then
//    may an entry be made again (protect) or the address or a freed table be reused.
//  - unmap() frees the tables it leaves empty, with the same break-before-make for the entry
//    that linked them; batches of unmaps share one completion (Batch).
//  - no pointers are kept in the table tree, only physical addresses: the same tree is built
//    before the MMU is on (addresses are physical) and used after (addresses are virtual).
//
// Encoding requirements (static members):
//   levels, root_level (0), leaf_level, index_bits; shift(level);
//   can_be_leaf(level); invalid(); is_valid(e); is_table(e, level);
//   make_table(PhysAddr); make_leaf(PhysAddr, MapAttrs, level); output(e, level); attrs(e);
//   disabled(e): an invalid entry that still holds e's output address (protect's "break").
// TableMemory: Result<PhysAddr> alloc(); void free(PhysAddr); uint64_t* entries(PhysAddr);
//   size_t available() const; void retire(PhysAddr): an unlinked table the walker may still
//   read until the TLB maintenance completes; void release_retired(): those are free now.
// Tlb: void publish(): table writes reach the table walker;
//   void invalidate(VirtAddr): starts dropping the cached translations of that address, leaf
//   and table-walk entries at every level (does not wait);
//   void invalidate_all(): starts dropping every cached translation of the regime;
//   void complete(): waits until every invalidation started so far is done.
#pragma once

#include <cstdint>

#include "kernel/addr.h"
#include "kernel/atomic.h"
#include "kernel/limits.h"
#include "kernel/owned.h"
#include "kernel/result.h"

namespace domd {

enum class MemType : uint8_t {
    normal,           // write-back cacheable RAM
    device,           // Device-nGnRE: MMIO
    normal_uncached,  // normal, non-cacheable
};

// Abstract mapping attributes; encodings translate them. Writable and executable together is
// refused: nothing in domd needs W+X.
struct MapAttrs {
    MemType type = MemType::normal;
    bool writable = false;
    bool executable = false;

    static constexpr MapAttrs code() { return {MemType::normal, false, true}; }
    static constexpr MapAttrs read_only() { return {MemType::normal, false, false}; }
    static constexpr MapAttrs read_write() { return {MemType::normal, true, false}; }
    static constexpr MapAttrs mmio() { return {MemType::device, true, false}; }
    constexpr bool operator==(const MapAttrs&) const = default;
};

struct Translation {
    PhysAddr pa;
    MapAttrs attrs;
    int level = 0;  // the level of the leaf that maps it (bigger blocks at lower levels)
};

template <typename Encoding, typename TableMemory, typename Tlb>
class PageTable {
public:
    using Enc = Encoding;
    static constexpr int levels = Enc::levels;

    PageTable(TableMemory& memory, Tlb& tlb) : mem_(memory), tlb_(tlb) {}
    PageTable(const PageTable&) = delete;
    PageTable& operator=(const PageTable&) = delete;

    // Allocates an empty root table.
    Status create() {
        root_ = TRY(new_table());
        return ok_status();
    }
    // Takes over a tree built earlier (before the MMU was on).
    void adopt(PhysAddr root) { root_ = root; }
    PhysAddr root() const { return root_; }

    static constexpr uint64_t leaf_size(int level) { return uint64_t{1} << Enc::shift(level); }

    // Maps [va, va+size) to [pa, pa+size). Uses the biggest leaves that alignment allows when
    // `allow_blocks` is set. Fails with Err::exists if any page is already mapped, Err::no_memory
    // if the table memory cannot hold the new tables, Err::invalid for unaligned or W+X requests.
    Status map(VirtAddr va, PhysAddr pa, uint64_t size, MapAttrs attrs, bool allow_blocks = false) {
        if (!is_aligned(va.value, page_size) || !is_aligned(pa.value, page_size) ||
            !is_aligned(size, page_size) || size == 0)
            return Err::invalid;
        if (attrs.writable && attrs.executable) return Err::invalid;
        if (va.value + size < va.value || pa.value + size < pa.value) return Err::range;
        // An address or a table given up by an unmap of an open batch may only be used again
        // once its invalidation is complete.
        settle();

        // Prepare: check every target entry is free and count missing tables.
        size_t tables_needed = 0;
        TRY(walk_range(va, pa, size, allow_blocks, [&](Step& s) -> Status {
            if (s.existing_leaf) return Err::exists;
            tables_needed += s.missing_tables;
            return ok_status();
        }));
        if (tables_needed > mem_.available()) return Err::no_memory;

        // Commit: cannot fail now.
        uint64_t done = 0;
        while (done < size) {
            VirtAddr v = va + done;
            PhysAddr p = pa + done;
            int level = leaf_level_for(v, p, size - done, allow_blocks);
            uint64_t* slot = ensure_slot(v, level);
            store_relaxed(slot, Enc::make_leaf(p, attrs, level));
            done += leaf_size(level);
        }
        // The new entries reach the walker before anyone uses the addresses.
        tlb_.publish();
        return ok_status();
    }

    // Removes the mappings of [va, va+size). Every page must be mapped, and a block leaf must be
    // removed whole (blocks are not split). Tables left empty are freed.
    Status unmap(VirtAddr va, uint64_t size) {
        TRY(check_leaves(va, size));
        // Break-before-make, "break" half: every leaf of the range goes invalid, then the entry
        // of every table the range left empty...
        for_each_leaf(va, size, [](uint64_t* slot, VirtAddr, int) { store_relaxed(slot, Enc::invalid()); });
        unlink_empty_tables(va.value, va.value + (size - 1));
        // ...one publish, so the walker sees them all invalid before any TLB entry is dropped...
        tlb_.publish();
        // ...the invalidations. They also drop walk-cache copies of the unlinked table entries:
        // each unlinked table covered some page of the range (TLBI VAAE1IS is not last-level only).
        invalidate_range(va, size);
        owed_ = true;
        // ...and the completion, here or at the end of the batch.
        if (batch_depth_ == 0) settle();
        return ok_status();
    }

    // Changes the attributes of a mapped range, break-before-make for the whole range.
    Status protect(VirtAddr va, uint64_t size, MapAttrs attrs) {
        if (attrs.writable && attrs.executable) return Err::invalid;
        TRY(check_leaves(va, size));
        // Break: every leaf goes invalid (keeping its output address), one publish, the
        // invalidations, and their completion before any entry is made again.
        for_each_leaf(va, size, [](uint64_t* slot, VirtAddr, int) {
            store_relaxed(slot, Enc::disabled(load_relaxed(slot)));
        });
        tlb_.publish();
        invalidate_range(va, size);
        owed_ = true;
        settle();
        // Make: the same outputs with the new attributes, published once.
        for (uint64_t done = 0; done < size;) {
            Found f = find_slot(va + done);
            PhysAddr out = Enc::output(load_relaxed(f.slot), f.level);
            store_relaxed(f.slot, Enc::make_leaf(out, attrs, f.level));
            done += leaf_size(f.level);
        }
        tlb_.publish();
        return ok_status();
    }

    Result<Translation> translate(VirtAddr va) const {
        Found f = find(va);
        if (!f.slot) return Err::not_found;
        uint64_t e = load_relaxed(f.slot);
        uint64_t offset = va.value & (leaf_size(f.level) - 1);
        return Translation{Enc::output(e, f.level) + offset, Enc::attrs(e), f.level};
    }

    // Several unmaps behind one completion. While a batch is open, unmap() issues its TLB
    // invalidations but leaves their completion, and the freeing of the tables it emptied, to
    // the end of the outermost batch, or to the next map() or protect(), which complete first.
    // Nothing may touch an address unmapped in the batch: it may still translate until the end.
    void begin_batch() { ++batch_depth_; }
    void end_batch() {
        if (batch_depth_ > 0 && --batch_depth_ == 0) settle();
    }
    using Batch = Scope<PageTable, &PageTable::begin_batch, &PageTable::end_batch>;

    // Frees every table of this tree, the root included. Only for a tree that no translation
    // regime walks any more and whose TLB entries are gone (the boot identity map once TTBR0
    // walks are off and the TLB was invalidated): no break-before-make is left to do.
    void destroy() {
        if (root_ == PhysAddr{}) return;
        free_tree(root_, Enc::root_level);
        root_ = {};
    }

private:
    struct Step {
        size_t missing_tables = 0;
        bool existing_leaf = false;
        int level = 0;
    };
    struct Found {
        uint64_t* slot = nullptr;  // the valid leaf entry, or nullptr
        int level = 0;
    };

    static constexpr unsigned index_at(VirtAddr va, int level) {
        return static_cast<unsigned>((va.value >> Enc::shift(level)) & ((uint64_t{1} << Enc::index_bits) - 1));
    }

    int leaf_level_for(VirtAddr v, PhysAddr p, uint64_t remaining, bool allow_blocks) const {
        if (allow_blocks) {
            for (int level = Enc::root_level; level < Enc::leaf_level; ++level) {
                uint64_t sz = leaf_size(level);
                if (Enc::can_be_leaf(level) && is_aligned(v.value, sz) && is_aligned(p.value, sz) &&
                    remaining >= sz && !table_exists_at(v, level))
                    return level;
            }
        }
        return Enc::leaf_level;
    }

    // True when the walk down to `level` for v already passes through a table at `level`
    // (so a block cannot go there without replacing that table).
    bool table_exists_at(VirtAddr v, int level) const {
        PhysAddr table = root_;
        for (int l = Enc::root_level; l <= level; ++l) {
            uint64_t e = load_relaxed(&mem_.entries(table)[index_at(v, l)]);
            if (!Enc::is_valid(e)) return false;
            if (!Enc::is_table(e, l)) return l == level;  // a leaf there: map() will report exists
            if (l == level) return true;
            table = Enc::output(e, l);
        }
        return false;
    }

    // Visits each leaf-sized step of a prospective mapping, reporting missing tables (counting a
    // table only once even if several steps need it) and collisions with existing leaves.
    template <typename Visit>
    Status walk_range(VirtAddr va, PhysAddr pa, uint64_t size, bool allow_blocks, Visit&& visit) {
        uint64_t done = 0;
        // Tables counted as "to be created" are identified by (level, VA prefix) of the last
        // step; steps are in address order so a new prefix means a new table.
        uint64_t last_prefix[levels] = {};
        bool have_prefix[levels] = {};
        while (done < size) {
            VirtAddr v = va + done;
            PhysAddr p = pa + done;
            int leaf = leaf_level_for(v, p, size - done, allow_blocks);
            Step s;
            s.level = leaf;
            PhysAddr table = root_;
            bool missing = false;
            for (int l = Enc::root_level; l < leaf; ++l) {
                if (!missing) {
                    uint64_t e = load_relaxed(&mem_.entries(table)[index_at(v, l)]);
                    if (Enc::is_valid(e) && !Enc::is_table(e, l)) {
                        s.existing_leaf = true;  // a bigger leaf covers this address
                        break;
                    }
                    if (Enc::is_valid(e)) {
                        table = Enc::output(e, l);
                        continue;
                    }
                    missing = true;
                }
                // The table at level l+1 for this address does not exist yet.
                uint64_t prefix = v.value >> Enc::shift(l);
                if (!have_prefix[l + 1] || last_prefix[l + 1] != prefix) {
                    have_prefix[l + 1] = true;
                    last_prefix[l + 1] = prefix;
                    s.missing_tables++;
                }
            }
            if (!missing && !s.existing_leaf) {
                uint64_t e = load_relaxed(&mem_.entries(table)[index_at(v, leaf)]);
                if (Enc::is_valid(e)) s.existing_leaf = true;
            }
            TRY(visit(s));
            done += leaf_size(leaf);
        }
        return ok_status();
    }

    // Table memory arrives zeroed; an encoding whose invalid entry is not zero gets it filled.
    Result<PhysAddr> new_table() {
        PhysAddr table = TRY(mem_.alloc());
        if constexpr (Enc::invalid() != 0) {
            uint64_t* e = mem_.entries(table);
            for (uint64_t i = 0; i < (uint64_t{1} << Enc::index_bits); ++i) store_relaxed(&e[i], Enc::invalid());
        }
        return table;
    }

    // Returns the slot for v at `level`, creating intermediate tables (already budgeted).
    uint64_t* ensure_slot(VirtAddr v, int level) {
        PhysAddr table = root_;
        for (int l = Enc::root_level; l < level; ++l) {
            uint64_t* slot = &mem_.entries(table)[index_at(v, l)];
            uint64_t e = load_relaxed(slot);
            if (!Enc::is_valid(e)) {
                auto fresh = new_table();  // cannot fail: counted in prepare
                e = Enc::make_table(fresh.value());
                // The new table's contents must be visible before the entry that links it.
                tlb_.publish();
                store_relaxed(slot, e);
            }
            table = Enc::output(e, l);
        }
        return &mem_.entries(table)[index_at(v, level)];
    }

    Found find(VirtAddr v) const {
        PhysAddr table = root_;
        for (int l = Enc::root_level; l <= Enc::leaf_level; ++l) {
            uint64_t* slot = &mem_.entries(table)[index_at(v, l)];
            uint64_t e = load_relaxed(slot);
            if (!Enc::is_valid(e)) return {};
            if (l == Enc::leaf_level || !Enc::is_table(e, l)) return {slot, l};
            table = Enc::output(e, l);
        }
        return {};
    }

    Status check_leaves(VirtAddr va, uint64_t size) const {
        if (!is_aligned(va.value, page_size) || !is_aligned(size, page_size) || size == 0)
            return Err::invalid;
        uint64_t done = 0;
        while (done < size) {
            VirtAddr v = va + done;
            Found f = find(v);
            if (!f.slot) return Err::not_found;
            uint64_t sz = leaf_size(f.level);
            if (!is_aligned(v.value, sz) || size - done < sz) return Err::invalid;  // partial block
            done += sz;
        }
        return ok_status();
    }

    // Calls visit(slot, va, level) for each leaf of [va, va+size) (all present: check_leaves).
    template <typename Visit>
    void for_each_leaf(VirtAddr va, uint64_t size, Visit&& visit) {
        for (uint64_t done = 0; done < size;) {
            Found f = find(va + done);
            visit(f.slot, va + done, f.level);
            done += leaf_size(f.level);
        }
    }

    // The slot that holds v's leaf, valid or disabled: the walk follows valid tables only.
    Found find_slot(VirtAddr v) const {
        PhysAddr table = root_;
        for (int l = Enc::root_level; l <= Enc::leaf_level; ++l) {
            uint64_t* slot = &mem_.entries(table)[index_at(v, l)];
            uint64_t e = load_relaxed(slot);
            if (l == Enc::leaf_level || !Enc::is_valid(e) || !Enc::is_table(e, l)) return {slot, l};
            table = Enc::output(e, l);
        }
        return {};
    }

    // Pages invalidated one by one up to limits::tlbi_page_limit, above it the whole TLB. A
    // range of at most that many pages holds no block (blocks are removed whole and are bigger),
    // so one TLBI per 4 KiB page names each of its leaves.
    static constexpr uint64_t smallest_block_pages() {
        for (int level = Enc::leaf_level - 1; level >= Enc::root_level; --level)
            if (Enc::can_be_leaf(level)) return leaf_size(level) / page_size;
        return ~uint64_t{0};
    }
    static_assert(leaf_size(Enc::leaf_level) == page_size);
    static_assert(limits::tlbi_page_limit < smallest_block_pages());

    void invalidate_range(VirtAddr va, uint64_t size) {
        uint64_t pages = size / page_size;
        if (pages > limits::tlbi_page_limit) {
            tlb_.invalidate_all();
            return;
        }
        for (uint64_t i = 0; i < pages; ++i) tlb_.invalidate(va + i * page_size);
    }

    // Completes the invalidations issued so far and frees the tables they made unreachable.
    void settle() {
        if (!owed_) return;
        tlb_.complete();
        owed_ = false;
        mem_.release_retired();
    }

    // Unlinks every table below the root that covers part of [first, last] and holds no valid
    // entry any more: its entry goes invalid now, the table is retired until the TLB
    // maintenance that follows completes.
    void unlink_empty_tables(uint64_t first, uint64_t last) { (void)unlink_below(root_, Enc::root_level, first, last); }

    // Returns true if `table` (at `level`) holds no valid entry once done.
    bool unlink_below(PhysAddr table, int level, uint64_t first, uint64_t last) {
        if (level == Enc::leaf_level) return is_empty(table);
        bool kept_child = false;
        for (uint64_t v = first;;) {
            uint64_t region_last = align_down(v, leaf_size(level)) + (leaf_size(level) - 1);
            uint64_t sub_last = region_last < last ? region_last : last;
            uint64_t* slot = &mem_.entries(table)[index_at(VirtAddr{v}, level)];
            uint64_t e = load_relaxed(slot);
            if (Enc::is_valid(e) && Enc::is_table(e, level)) {
                PhysAddr child = Enc::output(e, level);
                if (unlink_below(child, level + 1, v, sub_last)) {
                    store_relaxed(slot, Enc::invalid());
                    mem_.retire(child);
                } else {
                    kept_child = true;
                }
            }
            if (sub_last == last) break;
            v = sub_last + 1;
        }
        return !kept_child && level != Enc::root_level && is_empty(table);
    }

    bool is_empty(PhysAddr table) const {
        const uint64_t* e = mem_.entries(table);
        for (uint64_t i = 0; i < (uint64_t{1} << Enc::index_bits); ++i)
            if (Enc::is_valid(load_relaxed(&e[i]))) return false;
        return true;
    }

    void free_tree(PhysAddr table, int level) {
        if (level < Enc::leaf_level) {
            const uint64_t* e = mem_.entries(table);
            for (uint64_t i = 0; i < (uint64_t{1} << Enc::index_bits); ++i) {
                uint64_t entry = load_relaxed(&e[i]);
                if (Enc::is_valid(entry) && Enc::is_table(entry, level)) free_tree(Enc::output(entry, level), level + 1);
            }
        }
        mem_.free(table);
    }

    TableMemory& mem_;
    Tlb& tlb_;
    PhysAddr root_{};
    int batch_depth_ = 0;
    bool owed_ = false;  // invalidations issued whose completion is still owed
};

}  // namespace domd
