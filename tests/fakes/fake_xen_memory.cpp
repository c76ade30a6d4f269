#include "tests/test_support.h"

#include "tests/fakes/fake_xen_memory.h"

namespace domd::test {

namespace {
constexpr uint32_t entries_per_frame = page_size / sizeof(grant_entry_v1_t);
}  // namespace

FakeXenMemory::FakeXenMemory(FakeHypercall& hc, FakePhysMemory& memory, FakeMapper& physmap)
    : memory_(memory), physmap_(physmap), shared_info_page_(memory.new_page()) {
    hc.on(__HYPERVISOR_memory_op, [this](const HypercallRecord& r) { return memory_op(r); });
    hc.on(__HYPERVISOR_grant_table_op, [this](const HypercallRecord& r) { return grant_table_op(r); });
}

long FakeXenMemory::memory_op(const HypercallRecord& r) {
    switch (r.args[0]) {
        case XENMEM_add_to_physmap: {
            auto* a = FakeHypercall::arg<xen_add_to_physmap_t>(r, 1);
            if (a->domid != DOMID_SELF) return -XEN_EPERM;
            if (fail_add_to_physmap) return fail_add_to_physmap;
            if (a->space == XENMAPSPACE_shared_info) {
                if (a->idx != 0) return -XEN_EINVAL;
                physmap_.place(Gfn{a->gpfn}, shared_info_page_);
            } else if (a->space == XENMAPSPACE_grant_table) {
                if (static_cast<long>(a->idx) == fail_grant_frame) return -XEN_EINVAL;
                if (a->idx >= max_nr_frames) return -XEN_EINVAL;
                // Xen grows the table to cover idx.
                while (table_frames_.size() <= a->idx) table_frames_.push_back(memory_.new_page());
                if (nr_frames < table_frames_.size()) nr_frames = static_cast<uint32_t>(table_frames_.size());
                physmap_.place(Gfn{a->gpfn}, table_frames_[a->idx]);
            } else {
                return -XEN_ENOSYS;
            }
            added.push_back({a->space, a->gpfn});
            return 0;
        }
        case XENMEM_remove_from_physmap: {
            auto* a = FakeHypercall::arg<xen_remove_from_physmap_t>(r, 1);
            if (a->domid != DOMID_SELF) return -XEN_EPERM;
            if (fail_remove_from_physmap) return fail_remove_from_physmap;
            removed.push_back(a->gpfn);
            return physmap_.remove(Gfn{a->gpfn}) ? 0 : -XEN_ENOENT;
        }
        default:
            return -XEN_ENOSYS;
    }
}

long FakeXenMemory::grant_table_op(const HypercallRecord& r) {
    unsigned op = static_cast<unsigned>(r.args[0]);
    size_t count = r.args[2];
    switch (op) {
        case GNTTABOP_query_size: {
            if (fail_query_size) return fail_query_size;
            if (count != 1) return -XEN_EINVAL;
            auto* q = FakeHypercall::arg<gnttab_query_size_t>(r, 1);
            if (q->dom != DOMID_SELF) return -XEN_EPERM;
            q->nr_frames = nr_frames;
            q->max_nr_frames = max_nr_frames;
            q->status = query_status;
            return 0;
        }
        case GNTTABOP_map_grant_ref:
            map_batches.push_back(count);
            return map_grants(FakeHypercall::arg<gnttab_map_grant_ref_t>(r, 1), count);
        case GNTTABOP_unmap_grant_ref:
            unmap_batches.push_back(count);
            return unmap_grants(FakeHypercall::arg<gnttab_unmap_grant_ref_t>(r, 1), count);
        default:
            return -XEN_ENOSYS;
    }
}

long FakeXenMemory::map_grants(gnttab_map_grant_ref_t* ops, size_t count) {
    long rc = 0;
    auto failure = call_failures_.find(GNTTABOP_map_grant_ref);
    if (failure != call_failures_.end()) {
        rc = failure->second.rc;
        count = std::min(count, failure->second.processed);
        call_failures_.erase(failure);
    }
    for (size_t i = 0; i < count; ++i) {
        gnttab_map_grant_ref_t& op = ops[i];
        auto injected = ref_failures_.find({op.dom, op.ref});
        auto offer = offers_.find({op.dom, op.ref});
        bool readonly = op.flags & GNTMAP_readonly;
        if (injected != ref_failures_.end()) {
            op.status = injected->second;
        } else if (!(op.flags & GNTMAP_host_map) || (op.host_addr & page_mask)) {
            op.status = GNTST_bad_virt_addr;
        } else if (offer == offers_.end()) {
            op.status = GNTST_bad_gntref;
        } else if (offer->second.readonly && !readonly) {
            op.status = GNTST_permission_denied;
        } else if (physmap_.placed(Gfn::containing(PhysAddr{op.host_addr}))) {
            op.status = GNTST_bad_virt_addr;  // strict: domd must pick free GFNs
        } else {
            physmap_.place(Gfn::containing(PhysAddr{op.host_addr}), offer->second.page);
            op.handle = next_handle_++;
            active[op.handle] = {op.dom, op.ref, op.host_addr >> page_shift, readonly};
            op.status = GNTST_okay;
        }
    }
    return rc;
}

long FakeXenMemory::unmap_grants(gnttab_unmap_grant_ref_t* ops, size_t count) {
    long rc = 0;
    auto failure = call_failures_.find(GNTTABOP_unmap_grant_ref);
    if (failure != call_failures_.end()) {
        rc = failure->second.rc;
        count = std::min(count, failure->second.processed);
        call_failures_.erase(failure);
    }
    for (size_t i = 0; i < count; ++i) {
        gnttab_unmap_grant_ref_t& op = ops[i];
        auto injected = unmap_failures_.find(op.handle);
        auto it = active.find(op.handle);
        if (injected != unmap_failures_.end()) {
            op.status = injected->second;
        } else if (it == active.end()) {
            op.status = GNTST_bad_handle;
        } else if (it->second.gfn != op.host_addr >> page_shift || op.dev_bus_addr != 0) {
            op.status = GNTST_bad_virt_addr;
        } else {
            physmap_.remove(Gfn{it->second.gfn});
            active.erase(it);
            op.status = GNTST_okay;
        }
    }
    return rc;
}

void* FakeXenMemory::offer(domid_t dom, grant_ref_t ref, bool readonly) {
    auto page = memory_.new_page();
    offers_[{dom, ref}] = {page, readonly};
    return memory_.page(page);
}

grant_entry_v1_t* FakeXenMemory::our_entry(grant_ref_t ref) const {
    size_t frame = ref / entries_per_frame;
    if (frame >= table_frames_.size()) return nullptr;
    return static_cast<grant_entry_v1_t*>(memory_.page(table_frames_[frame])) + ref % entries_per_frame;
}

int16_t FakeXenMemory::peer_map(domid_t peer, grant_ref_t ref, bool readonly) {
    grant_entry_v1_t* e = our_entry(ref);
    if (!e) return GNTST_bad_gntref;
    uint16_t flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);
    if ((flags & GTF_type_mask) != GTF_permit_access || e->domid != peer) return GNTST_permission_denied;
    if (!readonly && (flags & GTF_readonly)) return GNTST_permission_denied;
    uint16_t busy = GTF_reading | (readonly ? 0 : GTF_writing);
    __atomic_fetch_or(&e->flags, busy, __ATOMIC_ACQ_REL);
    return GNTST_okay;
}

void FakeXenMemory::peer_unmap(grant_ref_t ref) {
    if (grant_entry_v1_t* e = our_entry(ref))
        __atomic_fetch_and(&e->flags, static_cast<uint16_t>(~(GTF_reading | GTF_writing)), __ATOMIC_ACQ_REL);
}

}  // namespace domd::test
