// A guest's RAM as domd reaches it: for a stock guest kernel, virtio descriptors carry
// guest-physical addresses, so domd maps the guest's RAM with foreign mappings (the guest's
// frames placed at frames of ours with XENMEM_add_to_physmap_batch, then mapped by our page
// tables) lazily, 2 MiB at a time, and keeps it mapped: in steady state a request costs no
// mapping hypercall at all.
//
//  - Addresses: Arm guests have two RAM banks (arch-arm.h: 3 GiB at 1 GiB, the rest at 8 GiB).
//    domd reserves virtual space for each bank up front (the second up to
//    limits::max_guest_ram_gib) and maps each 2 MiB chunk at its fixed place in it, so a buffer
//    that crosses chunks is still contiguous for domd.
//  - A chunk whose 512 frames all mapped becomes one 2 MiB block in domd's tables; a hole (the
//    end of RAM, a refused frame, ENOMEM from Xen's p2m pool for domd) stays unmapped at 4 KiB,
//    and a request touching it fails.
//  - invalidate() (Xen's mapcache invalidation) drops every mapping from domd's tables at once
//    and bumps generation(); the frames then leave domd's physmap in slices from the loop
//    (drain()), one hypercall per page, so that a big guest's teardown never stalls another.
//    Until drained they keep the guest's old pages referenced, harmlessly: nothing reaches them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "kernel/addr.h"
#include "kernel/frame_allocator.h"
#include "kernel/limits.h"
#include "kernel/mapper.h"
#include "kernel/result.h"
#include "xen/abi.h"
#include "xen/device_model.h"
#include "xen/hypervisor.h"

namespace domd::xen {

// The second-level chunk tables of every guest: one per GiB of guest RAM mapped (or draining).
class ChunkTablePool;

class GuestRam {
public:
    static constexpr uint64_t chunk_bytes = uint64_t{2} << 20;
    static constexpr uint64_t chunk_pages = chunk_bytes >> page_shift;
    static constexpr uint64_t group_bytes = uint64_t{1} << 30;  // one chunk table covers 1 GiB
    static constexpr uint64_t chunks_per_group = group_bytes / chunk_bytes;
    static constexpr uint64_t bank0_base = GUEST_RAM0_BASE;
    static constexpr uint64_t bank0_size = GUEST_RAM0_SIZE;
    static constexpr uint64_t bank1_base = GUEST_RAM1_BASE;
    static constexpr uint64_t bank1_size = limits::max_guest_ram_gib * group_bytes;
    static_assert(bank1_size <= GUEST_RAM1_SIZE);
    static constexpr size_t groups = (bank0_size + bank1_size) / group_bytes;

    struct Stats {
        uint64_t chunks_mapped = 0;
        uint64_t chunks_partial = 0;    // mapped with holes
        uint64_t frames_refused = 0;    // entries Xen refused (beyond RAM, ENOMEM, ...)
        uint64_t enomem = 0;            // of those, Xen's p2m pool for domd ran out
        uint64_t hits = 0;              // translations that found their chunks mapped
        uint64_t misses = 0;            // translations that had to map a chunk first
        uint64_t faults = 0;            // addresses that are not (mappable) guest RAM
        uint64_t invalidations = 0;
        uint64_t pages_drained = 0;     // our frames given back to Xen after invalidation
        uint64_t chunks_withheld = 0;   // runs kept out of use: Xen refused to remove a page
    };

    GuestRam(DeviceModel& dm, Hypervisor& hv, FrameAllocator& frames, Mapper& mapper);
    GuestRam(const GuestRam&) = delete;
    GuestRam& operator=(const GuestRam&) = delete;
    ~GuestRam();

    // Reserves domd's virtual space for the banks.
    Status start();

    // Where [gpa, gpa + len) is in domd's address space, mapping what is not mapped yet.
    // Err::fault: not guest RAM, or a hole; Err::range: the range wraps.
    Result<uint8_t*> translate(uint64_t gpa, uint64_t len);

    // Drops every mapping (invalidation, or the guest going away); ring pointers die.
    void invalidate();
    uint64_t generation() const { return generation_; }
    // Gives back up to `budget` frames of dropped mappings; true while some remain.
    bool drain(size_t budget);
    bool draining() const;
    // Everything dropped and drained, the reservations returned: the guest's pages are free.
    bool idle() const { return !draining() && !reserved_; }
    // invalidate(), then drain everything and release the virtual space (a teardown that does
    // not need to be sliced: tests, and a guest with nothing mapped).
    void stop();
    void release_reservations();

    const Stats& stats() const { return stats_; }

private:
    struct Chunk;
    // [from, to] lies in one chunk: maps the chunk if needed, checks its pages if it has holes.
    Result<uint8_t*> map_span(uint64_t from, uint64_t to);
    uint32_t* chunk_entry(uint64_t gpa, size_t group);
    Status map_chunk(size_t group, uint32_t* entry, uint64_t chunk_gpa, VirtAddr va);
    Result<VirtAddr> va_of(uint64_t gpa) const;
    Result<size_t> group_of(uint64_t gpa) const;
    bool page_present(VirtAddr va) const;
    void give_back(Gfn first);

    DeviceModel& dm_;
    Hypervisor& hv_;
    FrameAllocator& frames_;
    Mapper& mapper_;
    VirtAddr bank0_va_{};
    VirtAddr bank1_va_{};
    bool reserved_ = false;
    uint64_t generation_ = 1;
    // Index + 1 into the chunk-table pool for each GiB of both banks (0: nothing mapped there).
    std::array<uint16_t, groups> tables_{};
    // Tables whose chunks were dropped and whose frames are being given back.
    std::array<uint16_t, groups * 2> draining_{};
    size_t draining_count_ = 0;
    size_t drain_chunk_ = 0;  // within draining_[0]
    size_t drain_page_ = 0;   // within that chunk
    bool drain_refused_ = false;
    bool logged_enomem_ = false;
    Stats stats_;
};

}  // namespace domd::xen
