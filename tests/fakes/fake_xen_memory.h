// A fake Xen for our physmap and grant tables, over FakePhysMemory and FakeMapper:
//  - XENMEM_add_to_physmap places Xen-owned pages at our GFNs: shared_info (one page it keeps)
//    and grant-table frames (grown on demand up to max_nr_frames, as Xen does);
//    XENMEM_remove_from_physmap takes any page away again;
//  - GNTTABOP_query_size reports nr_frames/max_nr_frames;
//  - GNTTABOP_map_grant_ref / unmap_grant_ref map grants that peer domains offered (offer())
//    at the GFN given as host_addr, with per-ref status and whole-call failure injection;
//  - peer_map()/peer_unmap() play a peer mapping one of OUR grants: they check our entry and
//    set/clear GTF_reading/GTF_writing in it, as Xen does.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "tests/fakes/fake_hypercall.h"
#include "tests/fakes/fake_memory.h"
#include "xen/abi.h"

namespace domd::test {

class FakeXenMemory {
public:
    FakeXenMemory(FakeHypercall& hc, FakePhysMemory& memory, FakeMapper& physmap);

    // ---- physmap ----
    void* shared_info() const { return memory_.page(shared_info_page_); }
    // XENMEM_add_to_physmap / remove_from_physmap calls answered with this errno (negative)
    // instead.
    long fail_add_to_physmap = 0;
    long fail_remove_from_physmap = 0;
    // Fail only the add_to_physmap of grant-table frame `idx` (-1: none).
    long fail_grant_frame = -1;
    std::vector<std::pair<unsigned, uint64_t>> added;  // (space, gpfn)
    std::vector<uint64_t> removed;                      // gpfns

    // ---- our own grant table ----
    uint32_t nr_frames = 1;
    uint32_t max_nr_frames = 32;
    long fail_query_size = 0;
    int16_t query_status = GNTST_okay;
    // Our grant entry `ref`, as Xen sees it (nullptr if that frame was never set up).
    grant_entry_v1_t* our_entry(grant_ref_t ref) const;
    // A peer maps our grant `ref`: checks the entry grants `peer` access (and write access
    // unless readonly), then sets GTF_reading (and GTF_writing). Returns a GNTST_* status.
    int16_t peer_map(domid_t peer, grant_ref_t ref, bool readonly);
    void peer_unmap(grant_ref_t ref);

    // ---- grants offered to us by other domains ----
    // Domain `dom` grants us a fresh page under `ref`; returns the page (the peer's view).
    void* offer(domid_t dom, grant_ref_t ref, bool readonly);
    // The map of (dom, ref) answers this GNTST_* status instead.
    void fail_ref(domid_t dom, grant_ref_t ref, int16_t status) { ref_failures_[{dom, ref}] = status; }
    // The next GNTTABOP `op` processes only `processed` entries, then returns `rc`.
    void fail_call(unsigned op, long rc, size_t processed) { call_failures_[op] = {rc, processed}; }
    // The unmap of this handle answers this GNTST_* status instead.
    void fail_unmap(grant_handle_t handle, int16_t status) { unmap_failures_[handle] = status; }

    struct Active {
        domid_t dom;
        grant_ref_t ref;
        uint64_t gfn;
        bool readonly;
    };
    std::map<grant_handle_t, Active> active;  // grant mappings Xen holds for us, by handle
    std::vector<size_t> map_batches;          // entries per GNTTABOP_map_grant_ref call
    std::vector<size_t> unmap_batches;        // entries per GNTTABOP_unmap_grant_ref call

private:
    struct Offer {
        FakePhysMemory::PageId page;
        bool readonly;
    };
    struct CallFailure {
        long rc;
        size_t processed;
    };

    long memory_op(const HypercallRecord& r);
    long grant_table_op(const HypercallRecord& r);
    long map_grants(gnttab_map_grant_ref_t* ops, size_t count);
    long unmap_grants(gnttab_unmap_grant_ref_t* ops, size_t count);

    FakePhysMemory& memory_;
    FakeMapper& physmap_;
    FakePhysMemory::PageId shared_info_page_;
    std::vector<FakePhysMemory::PageId> table_frames_;
    std::map<std::pair<domid_t, grant_ref_t>, Offer> offers_;
    std::map<std::pair<domid_t, grant_ref_t>, int16_t> ref_failures_;
    std::map<unsigned, CallFailure> call_failures_;
    std::map<grant_handle_t, int16_t> unmap_failures_;
    grant_handle_t next_handle_ = 100;
};

}  // namespace domd::test
