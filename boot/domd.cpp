#include "boot/domd.h"

#include "arch/arm64/sysreg.h"
#include "kernel/log.h"
#include "xen/abi.h"

namespace domd {
namespace {

arm64::GenericTimer* log_timer = nullptr;
uint64_t log_clock() { return log_timer->now_ns(); }

// The largest device tree domd accepts (Xen's are a few KiB).
constexpr uint64_t max_device_tree = 2u << 20;

}  // namespace

Domd::Domd(uint64_t dt_pa, uint64_t load_pa) : memory_(load_pa), mapper_(memory_.address_space()), dt_pa_(dt_pa) {
    logging::add_sink(&debug_console_);
    machine_.timer().init();
    log_timer = &machine_.timer();
    logging::set_clock(log_clock);
}

Status Domd::map_device_tree(uint64_t dt_pa) {
    // Map the header to learn the size, then the whole blob, read-only.
    size_t size = 0;
    {
        auto header = TRY(Mapping::create(mapper_, PhysAddr{dt_pa}, 64, MapAttrs::read_only()));
        size = TRY(devicetree_size(header.as<void>(), 64));
    }
    if (size > max_device_tree) return Err::too_big;
    dt_map_ = TRY(Mapping::create(mapper_, PhysAddr{dt_pa}, size, MapAttrs::read_only()));
    platform_ = TRY(parse_platform(dt_map_.as<void>(), size));
    return ok_status();
}

Status Domd::take_extended_regions() {
    for (size_t i = 0; i < platform_.extended_count; ++i) {
        Status added = frames_.add_region(platform_.extended[i]);
        if (!added.ok())
            LOG_WARN("extended region %#llx+%#llx unusable: %s",
                     static_cast<unsigned long long>(platform_.extended[i].base.value),
                     static_cast<unsigned long long>(platform_.extended[i].size), err_name(added.error()));
    }
    return frames_.free_frames() ? ok_status() : Status(Err::no_space);
}

void Domd::print_banner() {
    auto version = hv_.version();
    uint64_t ram = 0;
    for (size_t i = 0; i < platform_.memory_count; ++i) ram += platform_.memory[i].size;
    logging::rawf("\ndomd %s: Xen driver domain for virtio disks\n", DOMD_VERSION);
    LOG_INFO("running on Xen %u.%u%s (%.*s), %llu MiB RAM at %#llx, %s", version.ok() ? version.value().major : 0,
             version.ok() ? version.value().minor : 0, version.ok() ? version.value().extra : "?",
             static_cast<int>(platform_.xen_compatible.size()), platform_.xen_compatible.data(),
             static_cast<unsigned long long>(ram >> 20), static_cast<unsigned long long>(platform_.memory[0].base.value),
             machine_.gic_name());
    LOG_INFO("device tree at %#llx, model \"%.*s\", command line \"%.*s\"", static_cast<unsigned long long>(dt_pa_),
             static_cast<int>(platform_.model.size()), platform_.model.data(),
             static_cast<int>(platform_.bootargs.size()), platform_.bootargs.data());
    memory_.log_memory_map();
    LOG_INFO("extended regions: %zu, %llu free frames for foreign and granted pages", platform_.extended_count,
             static_cast<unsigned long long>(frames_.free_frames()));
}

void Domd::run() {
    Status dt = map_device_tree(dt_pa_);
    if (!dt.ok()) {
        LOG_ERROR("device tree at %#llx unusable: %s", static_cast<unsigned long long>(dt_pa_), err_name(dt.error()));
        stop(xen::ShutdownReason::crash);
    }
    options_ = parse_options(platform_.bootargs);
    logging::set_level(options_.log_level);
    loop_.set_mode(options_.idle);
    Status machine = machine_.init(platform_, mapper_);
    if (!machine.ok()) {
        LOG_ERROR("interrupt controller setup failed: %s", err_name(machine.error()));
        stop(xen::ShutdownReason::crash);
    }
    if (!take_extended_regions().ok()) LOG_WARN("no extended regions: cannot map foreign or granted pages");
    print_banner();

    // First-light self-check: a timer deadline through the loop, then power off.
    Timer check;
    uint64_t armed_at = machine_.now_ns();
    auto fired = [&] {
        LOG_INFO("self-check timer fired after %llu us",
                 static_cast<unsigned long long>((machine_.now_ns() - armed_at) / 1000));
        loop_.stop();
    };
    check.set_callback(Callback<void()>::ref(fired));
    loop_.timers().arm(check, armed_at + 50 * 1000 * 1000);
    loop_.run();
    LOG_INFO("loop: %llu iterations, %llu idle waits; irqs: %llu timer, %llu event, %llu spurious",
             static_cast<unsigned long long>(loop_.stats().iterations),
             static_cast<unsigned long long>(loop_.stats().idle_waits),
             static_cast<unsigned long long>(machine_.interrupt_stats().timer),
             static_cast<unsigned long long>(machine_.interrupt_stats().event_upcalls),
             static_cast<unsigned long long>(machine_.interrupt_stats().spurious));
    stop(xen::ShutdownReason::poweroff);
}

void Domd::stop(xen::ShutdownReason reason) {
    (void)hv_.shutdown(reason);
    for (;;) asm volatile("wfi");
}

}  // namespace domd
