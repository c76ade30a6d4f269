#include "xen/hypervisor.h"

#include <cstring>

#include "xen/abi.h"

namespace domd::xen {

static_assert(static_cast<unsigned>(ShutdownReason::poweroff) == SHUTDOWN_poweroff);
static_assert(static_cast<unsigned>(ShutdownReason::reboot) == SHUTDOWN_reboot);
static_assert(static_cast<unsigned>(ShutdownReason::suspend) == SHUTDOWN_suspend);
static_assert(static_cast<unsigned>(ShutdownReason::crash) == SHUTDOWN_crash);
static_assert(static_cast<unsigned>(ShutdownReason::watchdog) == SHUTDOWN_watchdog);

Result<XenVersion> Hypervisor::version() {
    long rc = hc_.call(__HYPERVISOR_xen_version, XENVER_version, 0);
    if (rc < 0) return err_from_xen(rc);
    XenVersion v;
    v.major = static_cast<uint16_t>(static_cast<unsigned long>(rc) >> 16);
    v.minor = static_cast<uint16_t>(rc & 0xffff);
    xen_extraversion_t extra;
    static_assert(sizeof extra == sizeof v.extra);
    memset(extra, 0, sizeof extra);
    rc = hc_.call(__HYPERVISOR_xen_version, XENVER_extraversion, handle(&extra));
    if (rc < 0) return err_from_xen(rc);
    memcpy(v.extra, extra, sizeof v.extra - 1);
    return v;
}

Status Hypervisor::debug_console_write(std::string_view text) {
    return status_from(hc_.call(__HYPERVISOR_console_io, CONSOLEIO_write, text.size(),
                                handle(text.data())));
}

Result<uint64_t> Hypervisor::hvm_get_param(uint32_t index) {
    xen_hvm_param_t param{};
    param.domid = DOMID_SELF;
    param.index = index;
    long rc = hc_.call(__HYPERVISOR_hvm_op, HVMOP_get_param, handle(&param));
    if (rc < 0) return err_from_xen(rc);
    return uint64_t{param.value};
}

Status Hypervisor::shutdown(ShutdownReason reason) {
    sched_shutdown_t request{};
    request.reason = static_cast<unsigned>(reason);
    return status_from(hc_.call(__HYPERVISOR_sched_op, SCHEDOP_shutdown, handle(&request)));
}

Status Hypervisor::yield() { return status_from(hc_.call(__HYPERVISOR_sched_op, SCHEDOP_yield, 0)); }

Status Hypervisor::block() { return status_from(hc_.call(__HYPERVISOR_sched_op, SCHEDOP_block, 0)); }

Status Hypervisor::poll(std::span<const uint32_t> ports) {
    sched_poll_t request{};
    static_assert(sizeof(evtchn_port_t) == sizeof(uint32_t));
    set_xen_guest_handle(request.ports, const_cast<evtchn_port_t*>(ports.data()));
    request.nr_ports = static_cast<unsigned>(ports.size());
    request.timeout = 0;
    return status_from(hc_.call(__HYPERVISOR_sched_op, SCHEDOP_poll, handle(&request)));
}

Status Hypervisor::add_to_physmap(unsigned space, uint64_t index, Gfn where) {
    xen_add_to_physmap_t request{};
    request.domid = DOMID_SELF;
    request.space = space;
    request.idx = index;
    request.gpfn = where.value;
    return status_from(hc_.call(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, handle(&request)));
}

Status Hypervisor::remove_from_physmap(Gfn gfn) {
    xen_remove_from_physmap_t request{};
    request.domid = DOMID_SELF;
    request.gpfn = gfn.value;
    return status_from(
        hc_.call(__HYPERVISOR_memory_op, XENMEM_remove_from_physmap, handle(&request)));
}

}  // namespace domd::xen
