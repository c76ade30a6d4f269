// Device-model hypercalls for one guest (hvm/dm_op.h, memory.h): what an IOREQ server backend
// asks of Xen. Every call names the target domain; whether domd may make it is Xen's XSM
// decision (FLASK: `hvm dm` and `domain2 resource_map` over the guest's type), and a refusal
// arrives as Err::access / Err::permission, a missing IOREQ build as Err::not_implemented.
#pragma once

#include <cstdint>
#include <span>

#include "kernel/addr.h"
#include "kernel/result.h"
#include "xen/abi.h"
#include "xen/hypercall.h"

namespace domd::xen {

// ioservid_t: an IOREQ server's id, unique per target domain.
using IoreqServerId = uint16_t;
static_assert(sizeof(ioservid_t) == sizeof(IoreqServerId));

class DeviceModel {
public:
    DeviceModel(Hypercall& hypercall, domid_t target) : hc_(hypercall), target_(target) {}

    domid_t target() const { return target_; }

    // XEN_DMOP_nr_vcpus: how many ioreq slots the server's page holds (one per vCPU).
    Result<uint32_t> vcpu_count();
    // XEN_DMOP_create_ioreq_server without buffered ioreqs (Arm refuses them).
    Result<IoreqServerId> create_ioreq_server();
    Status destroy_ioreq_server(IoreqServerId id);
    // XEN_DMOP_map_io_range_to_ioreq_server, type MMIO, [first, last] inclusive as Xen wants.
    Status map_mmio_range(IoreqServerId id, uint64_t first, uint64_t last);
    Status unmap_mmio_range(IoreqServerId id, uint64_t first, uint64_t last);
    Status set_ioreq_server_state(IoreqServerId id, bool enabled);
    // XEN_DMOP_set_irq_level: one call with level 1 per edge-triggered interrupt is enough on
    // Xen 4.17's Arm vGIC (level 0 changes nothing there).
    Status set_irq_level(uint32_t irq, bool level);

    // XENMEM_acquire_resource of the server's synchronous ioreq page (frame 1; frame 0 is the
    // x86-only buffered page): on Arm Xen places it at `where`, one of OUR free frames.
    Status acquire_ioreq_page(IoreqServerId id, Gfn where);

    // XENMEM_add_to_physmap_batch(XENMAPSPACE_gmfn_foreign): the target's frames `guest[i]` are
    // placed at our frames `ours[i]`. `errors[i]` receives each entry's outcome (0 or a
    // negative Xen errno); the call's own result says whether Xen looked at the entries.
    Status map_foreign(std::span<const uint64_t> guest, std::span<const uint64_t> ours, std::span<int> errors);

private:
    Status dm_op(xen_dm_op& op);

    Hypercall& hc_;
    domid_t target_;
};

}  // namespace domd::xen
