#include "xen/device_model.h"

#include <cstring>

namespace domd::xen {

// The dm_op buffer and the argument structs Xen reads through our pointers (arm64 layout).
static_assert(sizeof(xen_dm_op_buf_t) == 16);
static_assert(offsetof(xen_dm_op, u) == 8);
static_assert(sizeof(xen_dm_op_create_ioreq_server_t) == 6);
static_assert(sizeof(xen_dm_op_ioreq_server_range_t) == 24 && offsetof(xen_dm_op_ioreq_server_range_t, start) == 8);
static_assert(sizeof(xen_dm_op_set_irq_level_t) == 8);
static_assert(sizeof(xen_mem_acquire_resource_t) == 32 && offsetof(xen_mem_acquire_resource_t, frame) == 16);
static_assert(sizeof(xen_add_to_physmap_batch_t) == 32 && offsetof(xen_add_to_physmap_batch_t, idxs) == 8);

Status DeviceModel::dm_op(xen_dm_op& op) {
    xen_dm_op_buf_t buf{};
    set_xen_guest_handle(buf.h, &op);
    buf.size = sizeof op;
    return status_from(hc_.call(__HYPERVISOR_dm_op, target_, 1, handle(&buf)));
}

Result<uint32_t> DeviceModel::vcpu_count() {
    xen_dm_op op{};
    op.op = XEN_DMOP_nr_vcpus;
    TRY(dm_op(op));
    return op.u.nr_vcpus.vcpus;
}

Result<IoreqServerId> DeviceModel::create_ioreq_server() {
    xen_dm_op op{};
    op.op = XEN_DMOP_create_ioreq_server;
    op.u.create_ioreq_server.handle_bufioreq = HVM_IOREQSRV_BUFIOREQ_OFF;
    TRY(dm_op(op));
    return op.u.create_ioreq_server.id;
}

Status DeviceModel::destroy_ioreq_server(IoreqServerId id) {
    xen_dm_op op{};
    op.op = XEN_DMOP_destroy_ioreq_server;
    op.u.destroy_ioreq_server.id = id;
    return dm_op(op);
}

Status DeviceModel::map_mmio_range(IoreqServerId id, uint64_t first, uint64_t last) {
    if (last < first) return Err::invalid;
    xen_dm_op op{};
    op.op = XEN_DMOP_map_io_range_to_ioreq_server;
    op.u.map_io_range_to_ioreq_server.id = id;
    op.u.map_io_range_to_ioreq_server.type = XEN_DMOP_IO_RANGE_MEMORY;
    op.u.map_io_range_to_ioreq_server.start = first;
    op.u.map_io_range_to_ioreq_server.end = last;
    return dm_op(op);
}

Status DeviceModel::unmap_mmio_range(IoreqServerId id, uint64_t first, uint64_t last) {
    if (last < first) return Err::invalid;
    xen_dm_op op{};
    op.op = XEN_DMOP_unmap_io_range_from_ioreq_server;
    op.u.unmap_io_range_from_ioreq_server.id = id;
    op.u.unmap_io_range_from_ioreq_server.type = XEN_DMOP_IO_RANGE_MEMORY;
    op.u.unmap_io_range_from_ioreq_server.start = first;
    op.u.unmap_io_range_from_ioreq_server.end = last;
    return dm_op(op);
}

Status DeviceModel::set_ioreq_server_state(IoreqServerId id, bool enabled) {
    xen_dm_op op{};
    op.op = XEN_DMOP_set_ioreq_server_state;
    op.u.set_ioreq_server_state.id = id;
    op.u.set_ioreq_server_state.enabled = enabled ? 1 : 0;
    return dm_op(op);
}

Status DeviceModel::set_irq_level(uint32_t irq, bool level) {
    xen_dm_op op{};
    op.op = XEN_DMOP_set_irq_level;
    op.u.set_irq_level.irq = irq;
    op.u.set_irq_level.level = level ? 1 : 0;
    return dm_op(op);
}

Status DeviceModel::acquire_ioreq_page(IoreqServerId id, Gfn where) {
    xen_pfn_t frame = where.value;
    xen_mem_acquire_resource_t op{};
    op.domid = target_;
    op.type = XENMEM_resource_ioreq_server;
    op.id = id;
    op.nr_frames = 1;
    op.frame = XENMEM_resource_ioreq_server_frame_ioreq(0);
    set_xen_guest_handle(op.frame_list, &frame);
    return status_from(hc_.call(__HYPERVISOR_memory_op, XENMEM_acquire_resource, handle(&op)));
}

Status DeviceModel::map_foreign(std::span<const uint64_t> guest, std::span<const uint64_t> ours,
                                std::span<int> errors) {
    if (guest.size() != ours.size() || errors.size() != guest.size() || guest.empty()) return Err::invalid;
    if (guest.size() > UINT16_MAX) return Err::too_big;
    static_assert(sizeof(xen_ulong_t) == sizeof(uint64_t) && sizeof(xen_pfn_t) == sizeof(uint64_t));
    xen_add_to_physmap_batch_t op{};
    op.domid = DOMID_SELF;
    op.space = XENMAPSPACE_gmfn_foreign;
    op.size = static_cast<uint16_t>(guest.size());
    op.u.foreign_domid = target_;
    set_xen_guest_handle(op.idxs, const_cast<xen_ulong_t*>(reinterpret_cast<const xen_ulong_t*>(guest.data())));
    set_xen_guest_handle(op.gpfns, const_cast<xen_pfn_t*>(reinterpret_cast<const xen_pfn_t*>(ours.data())));
    set_xen_guest_handle(op.errs, errors.data());
    return status_from(hc_.call(__HYPERVISOR_memory_op, XENMEM_add_to_physmap_batch, handle(&op)));
}

}  // namespace domd::xen
