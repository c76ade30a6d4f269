#include "xen/shared_info.h"

#include <utility>

#include "kernel/log.h"
#include "kernel/panic.h"
#include "xen_shared_info_layout.h"

namespace domd::xen {

// The generated C layout must agree with what the view assumes.
static_assert(XEN_LAYOUT_EVTCHN_WORDS == SharedInfoView::evtchn_words);
static_assert(XEN_LAYOUT_SHARED_INFO_SIZE <= page_size);
static_assert((XEN_LAYOUT_SHARED_INFO_VCPU_INFO + XEN_LAYOUT_VCPU_INFO_PENDING_SEL) % alignof(xen_ulong_t) == 0);
static_assert(XEN_LAYOUT_SHARED_INFO_EVTCHN_PENDING % alignof(xen_ulong_t) == 0);
static_assert(XEN_LAYOUT_SHARED_INFO_EVTCHN_MASK % alignof(xen_ulong_t) == 0);
static_assert(XEN_LAYOUT_SHARED_INFO_EVTCHN_MASK >=
              XEN_LAYOUT_SHARED_INFO_EVTCHN_PENDING + XEN_LAYOUT_EVTCHN_WORDS * sizeof(xen_ulong_t));

namespace {
template <typename T>
T* at(void* page, size_t offset) {
    return reinterpret_cast<T*>(static_cast<uint8_t*>(page) + offset);
}
}  // namespace

SharedInfoView::SharedInfoView(void* page) {
    if (!page) return;
    // vcpu_info[0] sits at the start of shared_info; only vcpu 0 exists for domd.
    upcall_pending_ = at<uint8_t>(page, XEN_LAYOUT_SHARED_INFO_VCPU_INFO + XEN_LAYOUT_VCPU_INFO_UPCALL_PENDING);
    pending_sel_ = at<xen_ulong_t>(page, XEN_LAYOUT_SHARED_INFO_VCPU_INFO + XEN_LAYOUT_VCPU_INFO_PENDING_SEL);
    pending_ = at<xen_ulong_t>(page, XEN_LAYOUT_SHARED_INFO_EVTCHN_PENDING);
    mask_ = at<xen_ulong_t>(page, XEN_LAYOUT_SHARED_INFO_EVTCHN_MASK);
}

namespace {

// Takes shared_info out of our physmap and gives its frame back; if Xen refuses, the frame still
// holds the page: it stays out of use for good, counted by the allocator.
void remove_and_free(Hypervisor& hv, FrameAllocator& frames, Gfn gfn) {
    Status removed = hv.remove_from_physmap(gfn);
    if (!removed.ok()) {
        frames.withhold(gfn);
        LOG_WARN("shared_info stays at gfn %#llx: %s", static_cast<unsigned long long>(gfn.value),
                 err_name(removed.error()));
        return;
    }
    Status freed = frames.free(gfn);  // the allocation itself: cannot fail
    DOMD_ASSERT(freed.ok());
}

}  // namespace

Result<SharedInfoPage> SharedInfoPage::map(Hypervisor& hv, FrameAllocator& frames, Mapper& mapper) {
    Gfn gfn = TRY(frames.allocate());
    Status placed = hv.add_to_physmap(XENMAPSPACE_shared_info, 0, gfn);
    if (!placed.ok()) {
        Status freed = frames.free(gfn);  // the allocation itself: cannot fail
        DOMD_ASSERT(freed.ok());
        return placed.error();
    }
    auto mapping = Mapping::create(mapper, gfn.address(), page_size, MapAttrs::read_write());
    if (!mapping.ok()) {
        remove_and_free(hv, frames, gfn);
        return mapping.error();
    }
    return SharedInfoPage(hv, frames, gfn, std::move(mapping).value());
}

void RemoveSharedInfo::release(PlacedSharedInfo& p) {
    if (!p.mapping.unmap().ok()) {
        // Our tables still translate to the frame: it must never be reused.
        p.frames->withhold(p.gfn);
        return;
    }
    remove_and_free(*p.hv, *p.frames, p.gfn);
}

}  // namespace domd::xen
