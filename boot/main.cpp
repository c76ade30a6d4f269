// kernel_main: where head.S lands once the MMU is on. Wires the concrete pieces together:
// arm64 page tables and hypercalls under the portable kernel/ and xen/ layers.

#include <cstdint>
#include <cstring>
#include <new>

#include "arch/arm64/generic_timer.h"
#include "arch/arm64/hypercall.h"
#include "arch/arm64/kernel_memory.h"
#include "arch/arm64/sysreg.h"
#include "kernel/devicetree.h"
#include "kernel/log.h"
#include "kernel/mapper.h"
#include "xen/abi.h"
#include "xen/console_ring.h"
#include "xen/hypervisor.h"
#include "xen/pv_console.h"

extern "C" char __tls_base[], __arm64_tls_tcb_offset[];

namespace domd {
namespace {

arm64::GenericTimer boot_clock;
uint64_t clock_now() { return boot_clock.now_ns(); }

// picolibc keeps errno in TLS: point TPIDR_EL0 at the image's own TLS block.
void setup_tls() {
    arm64::write_tpidr_el0(reinterpret_cast<uintptr_t>(__tls_base) -
                           reinterpret_cast<uintptr_t>(__arm64_tls_tcb_offset));
}

[[noreturn]] void halt(xen::Hypervisor& hv, xen::ShutdownReason reason) {
    (void)hv.shutdown(reason);
    for (;;) asm volatile("wfi");
}

// Sends on an event channel (EVTCHNOP_send).
class EventSend final : public Notifier {
public:
    EventSend(xen::Hypercall& hc, uint32_t port) : hc_(hc), port_(port) {}
    void notify() override {
        evtchn_send_t send{port_};
        hc_.call(__HYPERVISOR_event_channel_op, EVTCHNOP_send, xen::handle(&send));
    }

private:
    xen::Hypercall& hc_;
    uint32_t port_;
};

}  // namespace

extern "C" [[noreturn]] void kernel_main(uint64_t dt_pa, uint64_t load_pa) {
    setup_tls();
    arm64::HvcHypercall hypercall;
    xen::Hypervisor hv(hypercall);
    xen::DebugConsole debug_console(hv);
    logging::add_sink(&debug_console);
    boot_clock.init();
    logging::set_clock(clock_now);

    arm64::KernelMemory memory(load_pa);
    Mapper& mapper = memory.address_space();

    // The device tree: map its header, learn its size, map it whole (read-only).
    auto header = Mapping::create(mapper, PhysAddr{dt_pa}, 64, MapAttrs::read_only());
    if (!header.ok()) {
        LOG_ERROR("cannot map the device tree header at %#llx: %s", static_cast<unsigned long long>(dt_pa),
                  err_name(header.error()));
        halt(hv, xen::ShutdownReason::crash);
    }
    auto dt_size = devicetree_size(header.value().as<void>(), 64);
    if (!dt_size.ok() || dt_size.value() > (2u << 20)) {
        LOG_ERROR("no valid device tree at %#llx", static_cast<unsigned long long>(dt_pa));
        halt(hv, xen::ShutdownReason::crash);
    }
    header.value().reset();
    auto dt = Mapping::create(mapper, PhysAddr{dt_pa}, dt_size.value(), MapAttrs::read_only());
    auto platform = dt.ok() ? parse_platform(dt.value().as<void>(), dt_size.value()) : Result<Platform>(dt.error());
    if (!platform.ok()) {
        LOG_ERROR("device tree unusable: %s", err_name(platform.error()));
        halt(hv, xen::ShutdownReason::crash);
    }
    const Platform& p = platform.value();

    // The PV console: its ring is a page Xen put in our physmap (HVM_PARAM_CONSOLE_PFN). A
    // dom0less guest without PV interfaces has none: it keeps Xen's debug console.
    auto console_pfn = hv.hvm_get_param(HVM_PARAM_CONSOLE_PFN);
    auto console_port = hv.hvm_get_param(HVM_PARAM_CONSOLE_EVTCHN);
    auto console_page = [&]() -> Result<Mapping> {
        if (!console_pfn.ok() || !console_port.ok()) return console_pfn.ok() ? console_port.error() : console_pfn.error();
        if (console_pfn.value() == 0) return Err::not_found;
        return Mapping::create(mapper, Gfn{console_pfn.value()}.address(), page_size, MapAttrs::read_write());
    }();
    xen::ConsoleRing ring(*(console_page.ok() ? console_page.value().as<xencons_interface>() : nullptr));
    EventSend console_notify(hypercall, console_port.ok() ? static_cast<uint32_t>(console_port.value()) : 0);
    xen::PvConsole console(ring, console_notify, hv);
    if (console_page.ok()) {
        logging::add_sink(&console);
        logging::remove_sink(&debug_console);
    } else {
        LOG_WARN("no PV console (%s): logging to Xen's console only", err_name(console_page.error()));
    }

    auto version = hv.version();
    uint64_t ram = 0;
    for (size_t i = 0; i < p.memory_count; ++i) ram += p.memory[i].size;
    logging::rawf("\ndomd %s: Xen driver domain for virtio disks\n", DOMD_VERSION);
    LOG_INFO("running on Xen %u.%u%s (%.*s), %llu MiB RAM at %#llx, %s",
             version.ok() ? version.value().major : 0, version.ok() ? version.value().minor : 0,
             version.ok() ? version.value().extra : "?", static_cast<int>(p.xen_compatible.size()),
             p.xen_compatible.data(), static_cast<unsigned long long>(ram >> 20),
             static_cast<unsigned long long>(p.memory[0].base.value), p.gic == GicVersion::v3 ? "GICv3" : "GICv2");
    LOG_INFO("device tree at %#llx (%zu bytes), model \"%.*s\", bootargs \"%.*s\"",
             static_cast<unsigned long long>(dt_pa), dt_size.value(), static_cast<int>(p.model.size()),
             p.model.data(), static_cast<int>(p.bootargs.size()), p.bootargs.data());
    memory.log_memory_map();

    halt(hv, xen::ShutdownReason::poweroff);
}

}  // namespace domd
