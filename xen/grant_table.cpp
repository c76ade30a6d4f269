#include "xen/grant_table.h"

#include "kernel/log.h"

#include <bit>
#include <cstddef>
#include <utility>

#include "kernel/atomic.h"
#include "kernel/panic.h"

namespace domd::xen {

// The v1 entry as grant_table.h lays it out: flags, domid, frame.
static_assert(sizeof(grant_entry_v1_t) == 8);
static_assert(offsetof(grant_entry_v1_t, flags) == 0);
static_assert(offsetof(grant_entry_v1_t, domid) == 2);
static_assert(offsetof(grant_entry_v1_t, frame) == 4);
static_assert(sizeof(gnttab_map_grant_ref_t) == 32);
static_assert(sizeof(gnttab_unmap_grant_ref_t) == 24);
static_assert(sizeof(gnttab_query_size_t) == 16);
static_assert(offsetof(gnttab_map_grant_ref_t, handle) == 20 && offsetof(gnttab_unmap_grant_ref_t, handle) == 16);

namespace {
// Marks an op Xen has not processed: GNTST_* values are 0 or negative.
constexpr int16_t not_processed = 1;
}  // namespace

Err err_from_gntst(int16_t status) {
    switch (status) {
        case GNTST_okay: return Err{};
        case GNTST_bad_domain: return Err::not_found;
        case GNTST_bad_gntref:
        case GNTST_bad_handle: return Err::invalid;
        case GNTST_bad_virt_addr:
        case GNTST_bad_dev_addr:
        case GNTST_bad_page:
        case GNTST_bad_copy_arg: return Err::fault;
        case GNTST_no_device_space:
        case GNTST_no_space: return Err::no_space;
        case GNTST_permission_denied: return Err::permission;
        case GNTST_address_too_big: return Err::range;
        case GNTST_eagain: return Err::again;
        default: return Err::io;  // GNTST_general_error and anything newer
    }
}

// ---- Grant ---------------------------------------------------------------------------------

Status Grant::end() {
    if (!valid()) return ok_status();
    TRY(resource().table->end_access(resource().ref));
    disown();
    return ok_status();
}

void EndGrant::release(GrantedRef& g) {
    if (!g.table->end_access(g.ref).ok()) ++g.table->stuck_;  // stays in use: never handed out again
}

// ---- GrantTable ----------------------------------------------------------------------------

void GrantTable::set_in_use(grant_ref_t ref, bool used) {
    uint64_t bit = uint64_t{1} << (ref % 64);
    if (used)
        in_use_[ref / 64] |= bit;
    else
        in_use_[ref / 64] &= ~bit;
}

void GrantTable::remove_frames(uint32_t count) {
    for (uint32_t i = 0; i < count; ++i) {
        Status removed = hv_.remove_from_physmap(first_gfn_ + i);
        if (!removed.ok())
            LOG_WARN("grant-table frame %u stays at gfn %#llx: %s", i,
                     static_cast<unsigned long long>((first_gfn_ + i).value), err_name(removed.error()));
    }
}

Status GrantTable::setup(PhysRange area, uint32_t frames_wanted) {
    if (entries_) return Err::exists;
    gnttab_query_size_t query{};
    query.dom = DOMID_SELF;
    long rc = hv_.door().call(__HYPERVISOR_grant_table_op, GNTTABOP_query_size, handle(&query), 1);
    if (rc < 0) return err_from_xen(rc);
    if (query.status != GNTST_okay) return err_from_gntst(query.status);

    uint64_t first = align_up(area.base.value, page_size) >> page_shift;
    uint64_t end = align_down(area.base.value + area.size, page_size) >> page_shift;
    uint64_t fit = end > first ? end - first : 0;
    uint64_t frames = frames_wanted;
    if (frames > max_frames) frames = max_frames;
    if (frames > query.max_nr_frames) frames = query.max_nr_frames;
    if (frames > fit) frames = fit;
    if (frames == 0) return Err::no_space;

    first_gfn_ = Gfn{first};
    // Xen grows the table to cover each index asked for (XENMAPSPACE_grant_table, memory.h).
    for (uint32_t i = 0; i < frames; ++i) {
        Status placed = hv_.add_to_physmap(XENMAPSPACE_grant_table, i, first_gfn_ + i);
        if (!placed.ok()) {
            remove_frames(i);
            return placed.error();
        }
    }
    auto mapping = Mapping::create(mapper_, first_gfn_.address(), frames * page_size, MapAttrs::read_write());
    if (!mapping.ok()) {
        remove_frames(static_cast<uint32_t>(frames));
        return mapping.error();
    }
    mapping_ = std::move(mapping).value();
    entries_ = mapping_.as<grant_entry_v1_t>();
    frames_ = static_cast<uint32_t>(frames);
    refs_ = frames_ * entries_per_frame;
    // Lowest refs on top of the stack, so they are handed out first.
    free_count_ = 0;
    for (uint32_t ref = refs_; ref-- > first_free_ref;) free_[free_count_++] = static_cast<uint16_t>(ref);
    return ok_status();
}

Result<grant_ref_t> GrantTable::grant_access(domid_t domid, Gfn frame, bool readonly) {
    if (!entries_) return Err::not_connected;
    if (frame.value > UINT32_MAX) return Err::range;  // a v1 entry holds a 32-bit frame
    if (free_count_ == 0) return Err::no_space;
    grant_ref_t ref = free_[--free_count_];
    set_in_use(ref, true);
    grant_entry_v1_t& e = entries_[ref];
    // grant_table.h: the [GST] fields first; Xen may use the entry as soon as flags say so.
    store_relaxed(&e.domid, domid);
    store_relaxed(&e.frame, static_cast<uint32_t>(frame.value));
    write_barrier();
    store_release(&e.flags, static_cast<uint16_t>(GTF_permit_access | (readonly ? GTF_readonly : 0)));
    return ref;
}

Result<Grant> GrantTable::grant(domid_t domid, Gfn frame, bool readonly) {
    grant_ref_t ref = TRY(grant_access(domid, frame, readonly));
    return Grant(*this, ref);
}

Status GrantTable::end_access(grant_ref_t ref) {
    if (!entries_) return Err::invalid;
    if (ref >= refs_) return Err::range;  // beyond our table
    if (ref < first_free_ref || !in_use(ref)) return Err::invalid;  // the toolstack's, or not granted
    // Xen sets GTF_reading/GTF_writing while the peer maps the page: only clear flags that
    // show neither, atomically, so a map racing with us either fails or makes us back off.
    uint16_t* flags = &entries_[ref].flags;
    uint16_t seen = load_acquire(flags);
    do {
        if (seen & (GTF_reading | GTF_writing)) return Err::busy;
    } while (!compare_exchange(flags, seen, uint16_t{0}));
    set_in_use(ref, false);
    free_[free_count_++] = static_cast<uint16_t>(ref);
    return ok_status();
}

bool GrantTable::mapped_by_peer(grant_ref_t ref) const {
    if (!entries_ || ref >= refs_) return false;
    return load_acquire(&entries_[ref].flags) & (GTF_reading | GTF_writing);
}

// ---- GrantMapping --------------------------------------------------------------------------

Result<VirtAddr> GrantMapping::page(size_t i) const {
    if (!valid() || !resource().va.valid() || i >= resource().count) return Err::range;
    return resource().va.address() + i * page_size;
}

void UnmapGrants::release(MappedGrants& m) { m.owner->release(m); }

// ---- GrantMapper ---------------------------------------------------------------------------

Result<GrantMapping> GrantMapper::map(domid_t dom, std::span<const grant_ref_t> refs, bool readonly) {
    if (refs.empty()) return Err::invalid;
    if (refs.size() > max_batch) return Err::too_big;
    const size_t n = refs.size();
    Gfn first = TRY(frames_.allocate(n));
    // From here the handle owns the GFNs: returning early releases whatever got mapped.
    GrantMapping owner(*this, first, n, readonly);
    MappedGrants& m = owner.resource();

    std::array<gnttab_map_grant_ref_t, max_batch> ops{};
    uint32_t flags = GNTMAP_host_map | (readonly ? GNTMAP_readonly : 0);
    for (size_t i = 0; i < n; ++i) {
        ops[i].host_addr = (first + i).address().value;  // Arm: where in our physmap
        ops[i].flags = flags;
        ops[i].ref = refs[i];
        ops[i].dom = dom;
        ops[i].status = not_processed;
    }
    ++stats_.map_calls;
    long rc = hc_.call(__HYPERVISOR_grant_table_op, GNTTABOP_map_grant_ref, handle(ops.data()), n);
    Err failure{};
    if (rc < 0) failure = err_from_xen(rc);
    // Xen may have processed part of the batch even when the call as a whole failed: every
    // entry it mapped is recorded so the handle can unmap it.
    for (size_t i = 0; i < n; ++i) {
        if (ops[i].status == GNTST_okay) {
            m.mapped |= uint64_t{1} << i;
            m.handles[i] = ops[i].handle;
        } else if (failure == Err{}) {
            failure = ops[i].status == not_processed ? Err::io : err_from_gntst(ops[i].status);
        }
    }
    if (failure != Err{}) {
        LOG_DEBUG("grant map of %zu ref(s) from domain %u failed: rc %ld, status of the first %d", n, dom, rc,
                 static_cast<int>(ops[0].status));
        return failure;
    }

    auto va = Mapping::create(mapper_, first.address(), n * page_size,
                              readonly ? MapAttrs::read_only() : MapAttrs::read_write());
    if (!va.ok()) return va.error();
    m.va = std::move(va).value();
    return owner;
}

void GrantMapper::release(MappedGrants& m) {
    // Our own translation goes first, so nothing can touch the page once Xen takes it back.
    bool translation_gone = m.va.unmap().ok();
    std::array<gnttab_unmap_grant_ref_t, max_batch> ops{};
    std::array<uint8_t, max_batch> index{};
    size_t k = 0;
    for (size_t i = 0; i < m.count; ++i) {
        if (!((m.mapped >> i) & 1)) continue;
        ops[k].host_addr = (m.first + i).address().value;
        ops[k].dev_bus_addr = 0;
        ops[k].handle = m.handles[i];
        ops[k].status = not_processed;
        index[k] = static_cast<uint8_t>(i);
        ++k;
    }
    if (k) {
        ++stats_.unmap_calls;
        long rc = hc_.call(__HYPERVISOR_grant_table_op, GNTTABOP_unmap_grant_ref, handle(ops.data()), k);
        for (size_t j = 0; j < k; ++j)
            if (ops[j].status == GNTST_okay) m.mapped &= ~(uint64_t{1} << index[j]);
        if (m.mapped)
            LOG_WARN("grant unmap of %zu page(s) at gfn %#llx: rc %ld, %d still mapped", k,
                     static_cast<unsigned long long>(m.first.value), rc, std::popcount(m.mapped));
    }
    if (m.mapped == 0 && translation_gone) {
        // The run goes back whole, exactly as it was allocated: that cannot fail.
        Status freed = frames_.free(m.first, m.count);
        DOMD_ASSERT(freed.ok());
    } else {
        // A GFN Xen still maps a foreign page at, or one our tables still translate to, must
        // never be handed out again; the run is one allocation, so all of it stays.
        frames_.withhold(m.first, m.count);
        ++stats_.leaked_runs;
        stats_.leaked_frames += m.count;
    }
    m.mapped = 0;
    m.count = 0;
}

}  // namespace domd::xen
