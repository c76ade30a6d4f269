// Grant tables (xen/include/public/grant_table.h), both directions:
//  - GrantTable: domd's own v1 table, to let another domain map one of our pages;
//  - GrantMapper: mapping pages other domains granted to us, a batch at a time.
//
// On Arm the frames involved are guest-physical: our table frames are placed in our physmap
// with XENMEM_add_to_physmap(XENMAPSPACE_grant_table) and a foreign grant is mapped at a GFN we
// choose (host_addr is that guest-physical address); both are then mapped with the Mapper.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "kernel/addr.h"
#include "kernel/frame_allocator.h"
#include "kernel/limits.h"
#include "kernel/mapper.h"
#include "kernel/owned.h"
#include "kernel/result.h"
#include "xen/abi.h"
#include "xen/hypercall.h"
#include "xen/hypervisor.h"

namespace domd::xen {

// A GNTST_* status (grant_table.h, enum grant_status) as an Err.
Err err_from_gntst(int16_t status);

class GrantTable;

// What a Grant holds, and how it lets go: it ends access, or, if the peer still has the page
// mapped, retires the ref for good (GrantTable::stuck_refs) rather than reuse it.
struct GrantedRef {
    GrantTable* table = nullptr;
    grant_ref_t ref = 0;
};
struct EndGrant {
    static void release(GrantedRef& g);
};

// Owns one grant of ours: ends access when destroyed. Call end() first to be able to retry
// while the peer still maps it.
class Grant : public Owned<GrantedRef, EndGrant> {
public:
    Grant() = default;

    grant_ref_t ref() const { return resource().ref; }
    // Ends access; on Err::busy (the peer still maps it) the handle keeps the grant.
    Status end();

private:
    friend class GrantTable;
    Grant(GrantTable& table, grant_ref_t ref) : Owned(GrantedRef{&table, ref}) {}
};

class GrantTable {
public:
    static constexpr uint32_t entries_per_frame = static_cast<uint32_t>(page_size / sizeof(grant_entry_v1_t));
    // kernel/limits.h says why; bounded further by what Xen allows (GNTTABOP_query_size).
    static constexpr uint32_t max_frames = limits::max_own_grant_frames;
    static constexpr uint32_t max_refs = max_frames * entries_per_frame;
    // grant_table.h: the first entries are the toolstack's (console, xenstore): never handed out.
    static constexpr grant_ref_t first_free_ref = GNTTAB_NR_RESERVED_ENTRIES;

    GrantTable(Hypervisor& hv, Mapper& mapper) : hv_(hv), mapper_(mapper) {}
    GrantTable(const GrantTable&) = delete;
    GrantTable& operator=(const GrantTable&) = delete;

    // Places up to `frames_wanted` table frames at the first GFNs of `area` (the device tree's
    // /hypervisor reg[0], what Linux uses too), bounded by Xen's maximum and the area, and maps
    // them. A failure leaves nothing placed.
    Status setup(PhysRange area, uint32_t frames_wanted = max_frames);

    // Lets `domid` map our frame `frame` (read-only if asked). Returns the ref to pass on.
    Result<grant_ref_t> grant_access(domid_t domid, Gfn frame, bool readonly);
    Result<Grant> grant(domid_t domid, Gfn frame, bool readonly);
    // Revokes a grant unless the peer has it mapped (GTF_reading/GTF_writing): Err::busy then.
    // A ref beyond the table is Err::range; a reserved or ungranted one Err::invalid.
    Status end_access(grant_ref_t ref);
    // True while the peer has `ref` mapped: Xen sets GTF_reading/GTF_writing in our entry for
    // as long as a mapping lasts (grant_table.h). A guest-side check that a backend let go of a
    // buffer before answering for it (xen-abi.md, grant-based virtio). False beyond the table.
    bool mapped_by_peer(grant_ref_t ref) const;

    bool ready() const { return entries_ != nullptr; }
    uint32_t frames() const { return frames_; }
    uint32_t refs() const { return refs_; }
    size_t free_refs() const { return free_count_; }
    uint64_t stuck_refs() const { return stuck_; }
    Gfn first_frame() const { return first_gfn_; }

private:
    friend struct EndGrant;

    bool in_use(grant_ref_t ref) const { return (in_use_[ref / 64] >> (ref % 64)) & 1; }
    void set_in_use(grant_ref_t ref, bool used);
    void remove_frames(uint32_t count);

    Hypervisor& hv_;
    Mapper& mapper_;
    Mapping mapping_;
    grant_entry_v1_t* entries_ = nullptr;
    Gfn first_gfn_{};
    uint32_t frames_ = 0;
    uint32_t refs_ = 0;
    uint64_t stuck_ = 0;
    // LIFO free list; refs fit 16 bits at this capacity.
    static_assert(max_refs <= 65536);
    std::array<uint16_t, max_refs> free_{};
    size_t free_count_ = 0;
    std::array<uint64_t, (max_refs + 63) / 64> in_use_{};
};

class GrantMapper;

// What a GrantMapping holds: one consecutive run of GFNs, the grants Xen mapped there, and
// one virtual mapping of the run.
struct MappedGrants {
    static constexpr size_t max_batch = limits::max_grant_batch;
    static_assert(max_batch <= 64, "`mapped` tracks the batch in one 64-bit word");

    GrantMapper* owner = nullptr;
    Gfn first{};
    size_t count = 0;
    bool readonly = false;
    uint64_t mapped = 0;  // bit i: Xen mapped grant i (its handle is valid)
    std::array<grant_handle_t, max_batch> handles{};
    Mapping va;
};
struct UnmapGrants {
    static void release(MappedGrants& m);
};

// Owns a run of mapped foreign grants. Destruction unmaps the VA, then unmaps every grant in
// one batched GNTTABOP_unmap_grant_ref, then gives the GFNs back: all of them, as the one run
// they were allocated as. If Xen refuses to unmap any of them (or our own unmap failed), the
// whole run stays out of use for good (FrameAllocator::withhold), counted and logged.
class GrantMapping : public Owned<MappedGrants, UnmapGrants> {
public:
    static constexpr size_t max_batch = MappedGrants::max_batch;

    GrantMapping() = default;

    size_t pages() const { return resource().count; }
    bool readonly() const { return resource().readonly; }
    Gfn first_gfn() const { return resource().first; }
    VirtAddr address() const { return resource().va.address(); }
    // Where page i of the batch is in our address space.
    Result<VirtAddr> page(size_t i) const;
    template <typename T>
    T* as() const { return resource().va.as<T>(); }

private:
    friend class GrantMapper;
    GrantMapping(GrantMapper& owner, Gfn first, size_t count, bool readonly)
        : Owned(MappedGrants{&owner, first, count, readonly, 0, {}, {}}) {}
};

class GrantMapper {
public:
    static constexpr size_t max_batch = GrantMapping::max_batch;

    struct Stats {
        uint64_t map_calls = 0;
        uint64_t unmap_calls = 0;
        uint64_t leaked_runs = 0;    // runs kept out of use: a grant Xen would not unmap, or our
        uint64_t leaked_frames = 0;  // own translation that would not go; and their GFNs
    };

    GrantMapper(Hypercall& hypercall, FrameAllocator& frames, Mapper& mapper)
        : hc_(hypercall), frames_(frames), mapper_(mapper) {}
    GrantMapper(const GrantMapper&) = delete;
    GrantMapper& operator=(const GrantMapper&) = delete;

    // Maps `refs` of domain `dom` with one GNTTABOP_map_grant_ref into consecutive GFNs and one
    // virtual mapping. Any failing entry fails the whole call and leaves nothing mapped.
    Result<GrantMapping> map(domid_t dom, std::span<const grant_ref_t> refs, bool readonly);

    const Stats& stats() const { return stats_; }

private:
    friend struct UnmapGrants;
    void release(MappedGrants& m);

    Hypercall& hc_;
    FrameAllocator& frames_;
    Mapper& mapper_;
    Stats stats_{};
};

}  // namespace domd::xen
