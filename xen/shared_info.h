// The shared_info page (xen/include/public/xen.h): vcpu 0's event-channel upcall flag and
// selector, and the 2-level event-channel pending and mask bit arrays.
//
// Never through `struct shared_info`/`struct vcpu_info`: on Arm they contain empty structs,
// which C++ sizes differently from C. SharedInfoView holds pointers computed from offsets that
// xen/layout_gen.c takes from the C layout (see shared_info.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "kernel/addr.h"
#include "kernel/frame_allocator.h"
#include "kernel/mapper.h"
#include "kernel/owned.h"
#include "kernel/result.h"
#include "xen/abi.h"
#include "xen/hypervisor.h"

namespace domd::xen {

class SharedInfoView {
public:
    static constexpr size_t bits_per_word = sizeof(xen_ulong_t) * 8;
    // xen.h: `xen_ulong_t evtchn_pending[sizeof(xen_ulong_t) * 8]`, same for evtchn_mask.
    static constexpr size_t evtchn_words = sizeof(xen_ulong_t) * 8;
    static constexpr uint32_t max_ports = static_cast<uint32_t>(evtchn_words * bits_per_word);
    static_assert(max_ports == EVTCHN_2L_NR_CHANNELS);
    // One selector bit per pending word (xen.h, vcpu_info.evtchn_pending_sel).
    static_assert(evtchn_words <= bits_per_word);

    using Words = std::span<xen_ulong_t, evtchn_words>;

    SharedInfoView() = default;
    // `page`: the shared_info page as mapped in our address space (page aligned).
    explicit SharedInfoView(void* page);

    bool valid() const { return upcall_pending_ != nullptr; }
    // vcpu_info[0].evtchn_upcall_pending: Xen sets it after a selector bit.
    uint8_t* upcall_pending() const { return upcall_pending_; }
    // vcpu_info[0].evtchn_pending_sel: bit w covers pending word w.
    xen_ulong_t* pending_sel() const { return pending_sel_; }
    Words pending() const { return Words(pending_, evtchn_words); }
    Words mask() const { return Words(mask_, evtchn_words); }

private:
    uint8_t* upcall_pending_ = nullptr;
    xen_ulong_t* pending_sel_ = nullptr;
    xen_ulong_t* pending_ = nullptr;
    xen_ulong_t* mask_ = nullptr;
};

// What a SharedInfoPage holds, and how it lets go: unmap, take the page out of the physmap,
// give the frame back (kept, and counted, if Xen refuses the removal: it still holds the page).
struct PlacedSharedInfo {
    Hypervisor* hv = nullptr;
    FrameAllocator* frames = nullptr;
    Gfn gfn{};
    Mapping mapping;
};
struct RemoveSharedInfo {
    static void release(PlacedSharedInfo& p);
};

// Places shared_info in our physmap with XENMEM_add_to_physmap(XENMAPSPACE_shared_info, idx 0)
// at a frame from the extended regions, and maps it. Destruction undoes both.
class SharedInfoPage : public Owned<PlacedSharedInfo, RemoveSharedInfo> {
public:
    static Result<SharedInfoPage> map(Hypervisor& hv, FrameAllocator& frames, Mapper& mapper);

    SharedInfoPage() = default;

    SharedInfoView view() const { return SharedInfoView(resource().mapping.as<void>()); }
    Gfn gfn() const { return resource().gfn; }

private:
    SharedInfoPage(Hypervisor& hv, FrameAllocator& frames, Gfn gfn, Mapping mapping)
        : Owned(PlacedSharedInfo{&hv, &frames, gfn, std::move(mapping)}) {}
};

}  // namespace domd::xen
