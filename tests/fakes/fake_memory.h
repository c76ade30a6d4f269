// Fake physical memory and a fake Mapper with real aliasing: every "page" is a page of one
// memfd, our physmap says which page backs each GFN (what Xen's p2m for domd would say), and
// a mapping is a run of host pages mmapped from that file. So a page Xen (the fake) placed at a
// GFN, or a peer's granted page, is the same memory whether the fake reads it through its own
// pointer or domd reads it through the VA its Mapper returned. Read-only mappings are mapped
// PROT_READ: a stray write crashes the test.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "kernel/addr.h"
#include "kernel/mapper.h"

namespace domd::test {

// Pages of "machine memory", each reachable by the fakes through a permanent host pointer.
class FakePhysMemory {
public:
    using PageId = uint32_t;

    FakePhysMemory();
    ~FakePhysMemory();
    FakePhysMemory(const FakePhysMemory&) = delete;
    FakePhysMemory& operator=(const FakePhysMemory&) = delete;

    // A fresh zeroed page.
    PageId new_page();
    void* page(PageId id) const { return pointers_.at(id); }
    int fd() const { return fd_; }
    size_t pages() const { return pointers_.size(); }

private:
    int fd_ = -1;
    std::vector<void*> pointers_;
};

struct MapCall {
    PhysAddr pa;
    uint64_t size;
    MapAttrs attrs;
};

class FakeMapper final : public Mapper {
public:
    explicit FakeMapper(FakePhysMemory& memory) : memory_(memory) {}
    ~FakeMapper();

    // The physmap: which page backs one of our GFNs.
    void place(Gfn gfn, FakePhysMemory::PageId page) { physmap_[gfn.value] = page; }
    bool remove(Gfn gfn) { return physmap_.erase(gfn.value) != 0; }
    bool placed(Gfn gfn) const { return physmap_.count(gfn.value) != 0; }
    // The host pointer to the page at `gfn` (what Xen or a peer sees), nullptr if none.
    void* frame(Gfn gfn) const;

    // Mapping a GFN nothing backs fails with Err::fault (on hardware it would fault on access).
    Result<VirtAddr> map(PhysAddr pa, uint64_t size, MapAttrs attrs) override;
    Status unmap(VirtAddr va, uint64_t size) override;
    Result<PhysAddr> to_phys(VirtAddr va) const override;
    // Reservations are PROT_NONE host address space; map_at puts pages into them (MAP_FIXED),
    // unmap_at turns them back into PROT_NONE.
    Result<VirtAddr> reserve(uint64_t size) override;
    Status release(VirtAddr base, uint64_t size) override;
    Status map_at(VirtAddr va, PhysAddr pa, uint64_t size, MapAttrs attrs) override;
    Status unmap_at(VirtAddr va, uint64_t size) override;
    void begin_unmap_batch() override { ++batch_depth; }
    void end_unmap_batch() override { --batch_depth; }

    size_t live_mappings() const { return live_.size(); }
    size_t live_reservations() const { return reserved_.size(); }
    size_t pages_mapped_at() const { return placed_pages_.size(); }
    std::vector<MapCall> maps;
    int unmaps = 0;
    int batch_depth = 0;  // open UnmapBatch scopes
    Err fail_next_map{};    // injected: the next map() fails with it
    Err fail_next_unmap{};  // injected: the next unmap() fails with it (the mapping stays)

private:
    struct Live {
        PhysAddr pa;  // page aligned
        uint64_t bytes;
    };
    struct Reserved {
        uint64_t bytes;
        uint64_t mapped_pages;
    };
    std::map<uintptr_t, Reserved>::iterator reservation_of(uintptr_t va, uint64_t size);

    FakePhysMemory& memory_;
    std::map<uint64_t, FakePhysMemory::PageId> physmap_;
    std::map<uintptr_t, Live> live_;  // by page-aligned VA
    std::map<uintptr_t, Reserved> reserved_;
    std::map<uintptr_t, PhysAddr> placed_pages_;  // map_at pages, by VA
};

}  // namespace domd::test
