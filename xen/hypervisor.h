// Typed wrappers for the general-purpose hypercalls: version, debug console, HVM parameters,
// scheduling and physmap changes. Event channels, grants, xenstore and dm_op have their own
// classes; all of them marshal Xen's public structs through the one Hypercall door.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "kernel/addr.h"
#include "kernel/result.h"
#include "xen/hypercall.h"

namespace domd::xen {

struct XenVersion {
    uint16_t major = 0;
    uint16_t minor = 0;
    char extra[16] = {};  // XENVER_extraversion, NUL-terminated (e.g. ".5-pre")
};

enum class ShutdownReason : unsigned {
    poweroff = 0,  // SHUTDOWN_poweroff
    reboot = 1,    // SHUTDOWN_reboot
    suspend = 2,   // SHUTDOWN_suspend
    crash = 3,     // SHUTDOWN_crash
    watchdog = 4,  // SHUTDOWN_watchdog
};

class Hypervisor {
public:
    explicit Hypervisor(Hypercall& hypercall) : hc_(hypercall) {}

    Hypercall& door() { return hc_; }

    Result<XenVersion> version();
    // HYPERVISOR_console_io write: Xen's own serial console (needs a debug-enabled Xen for
    // xl-created guests; Xen answers EPERM otherwise).
    Status debug_console_write(std::string_view text);
    Result<uint64_t> hvm_get_param(uint32_t index);

    Status shutdown(ShutdownReason reason);
    Status yield();
    // Unmasks interrupts and blocks until an event is pending (SCHEDOP_block on Arm).
    Status block();
    // Blocks until one of `ports` is pending, whatever its mask, or until the vCPU is woken
    // by an interrupt (SCHEDOP_poll with no Xen-side timeout: callers arm their own timer).
    Status poll(std::span<const uint32_t> ports);

    // Places a Xen-owned frame (shared_info, grant-table frame) at `where` in our physmap.
    Status add_to_physmap(unsigned space, uint64_t index, Gfn where);
    Status remove_from_physmap(Gfn gfn);

private:
    Hypercall& hc_;
};

}  // namespace domd::xen
