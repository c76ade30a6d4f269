#include "xen/shared_info.h"

#include <utility>

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

Result<SharedInfoPage> SharedInfoPage::map(Hypervisor& hv, FrameAllocator& frames, Mapper& mapper) {
    Gfn gfn = TRY(frames.allocate());
    Status placed = hv.add_to_physmap(XENMAPSPACE_shared_info, 0, gfn);
    if (!placed.ok()) {
        (void)frames.free(gfn);
        return placed.error();
    }
    auto mapping = Mapping::create(mapper, gfn.address(), page_size, MapAttrs::read_write());
    if (!mapping.ok()) {
        if (hv.remove_from_physmap(gfn).ok()) (void)frames.free(gfn);
        return mapping.error();
    }
    return SharedInfoPage(hv, frames, gfn, std::move(mapping).value());
}

void RemoveSharedInfo::release(PlacedSharedInfo& p) {
    p.mapping.reset();
    if (p.hv->remove_from_physmap(p.gfn).ok()) (void)p.frames->free(p.gfn);
}

}  // namespace domd::xen
