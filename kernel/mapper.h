// Run-time mappings into domd's address space. Every page shared with Xen or another domain
// (shared_info, console and xenstore rings, grant-table frames, ioreq pages, guest memory) is
// reached through this interface; the target implements it with the kernel page tables, host
// tests with plain host memory.
#pragma once

#include <cstdint>

#include "kernel/addr.h"
#include "kernel/log.h"
#include "kernel/owned.h"
#include "kernel/page_table.h"
#include "kernel/result.h"

namespace domd {

class Mapper {
public:
    // Maps the pages covering [pa, pa+size) and returns the address of `pa` itself (the page
    // offset is preserved). `pa` need not be page aligned.
    virtual Result<VirtAddr> map(PhysAddr pa, uint64_t size, MapAttrs attrs) = 0;
    // Undoes one map() call: same address and size as given/returned there.
    virtual Status unmap(VirtAddr va, uint64_t size) = 0;
    // Where a mapped virtual address lands in our physmap (through the page tables).
    virtual Result<PhysAddr> to_phys(VirtAddr va) const = 0;

    // A stretch of virtual space kept for mappings made piecewise at fixed places inside it (a
    // guest's RAM, mapped 2 MiB at a time where the guest's address says): 2 MiB aligned,
    // nothing mapped. release() gives it back; Err::busy while anything is mapped in it.
    virtual Result<VirtAddr> reserve(uint64_t size) = 0;
    virtual Status release(VirtAddr base, uint64_t size) = 0;
    // Maps [va, va + size) inside one reservation (page aligned), in 2 MiB blocks where va and
    // pa allow; unmap_at takes away exactly what one map_at made (or a part of a 4 KiB run).
    virtual Status map_at(VirtAddr va, PhysAddr pa, uint64_t size, MapAttrs attrs) = 0;
    virtual Status unmap_at(VirtAddr va, uint64_t size) = 0;

    // The unmaps between these share one completion of their TLB maintenance, at the outermost
    // end (kernel/page_table.h, PageTable::Batch): nothing may touch an address unmapped inside
    // the batch until it ends. Use UnmapBatch rather than calling these.
    virtual void begin_unmap_batch() = 0;
    virtual void end_unmap_batch() = 0;

    // Unmaps a Mapping could not undo: its pages stay mapped (and its window pages in use).
    uint64_t failed_unmaps() const { return failed_unmaps_; }

protected:
    ~Mapper() = default;

private:
    friend struct UnmapRange;
    uint64_t failed_unmaps_ = 0;
};

// A scope whose unmaps share one TLB completion: e.g. the mappings of many finished requests
// released together.
using UnmapBatch = Scope<Mapper, &Mapper::begin_unmap_batch, &Mapper::end_unmap_batch>;

// What a Mapping holds, and how it lets go.
struct MappedRange {
    Mapper* mapper = nullptr;
    VirtAddr va{};
    uint64_t size = 0;
};
struct UnmapRange {
    // Unmaps; a failure is counted (Mapper::failed_unmaps) and logged, and returned.
    static Status unmap(MappedRange& m) {
        Status unmapped = m.mapper->unmap(m.va, m.size);
        if (unmapped.ok()) return unmapped;
        ++m.mapper->failed_unmaps_;
        LOG_WARN("unmapping %#llx (+%#llx) failed: %s; its pages stay mapped",
                 static_cast<unsigned long long>(m.va.value), static_cast<unsigned long long>(m.size),
                 err_name(unmapped.error()));
        return unmapped;
    }
    static void release(MappedRange& m) { (void)unmap(m); }
};

// Owns one mapping and removes it when destroyed.
class Mapping : public Owned<MappedRange, UnmapRange> {
public:
    Mapping() = default;
    Mapping(Mapper& mapper, VirtAddr va, uint64_t size) : Owned(MappedRange{&mapper, va, size}) {}

    static Result<Mapping> create(Mapper& mapper, PhysAddr pa, uint64_t size, MapAttrs attrs) {
        VirtAddr va = TRY(mapper.map(pa, size, attrs));
        return Mapping(mapper, va, size);
    }

    // Unmaps now and says how that went (reset() only counts and logs a failure); the handle
    // is empty afterwards either way.
    Status unmap() {
        if (!valid()) return ok_status();
        MappedRange m = disown();
        return UnmapRange::unmap(m);
    }

    VirtAddr address() const { return resource().va; }
    uint64_t size() const { return resource().size; }
    template <typename T>
    T* as() const { return resource().va.template as<T>(); }
};

}  // namespace domd
