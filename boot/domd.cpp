#include "boot/domd.h"

#include <cstdio>
#include <cstring>

#include "arch/arm64/shutdown.h"
#include "kernel/coroutine_pool.h"
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
    // Xen's own console until the PV console is up (it also works for dom0less guests); the
    // boot log is kept and replayed into the PV console once it exists.
    logging::add_sink(&debug_console_);
    logging::add_sink(&boot_log_);
    machine_.timer().init();
    log_timer = &machine_.timer();
    logging::set_clock(log_clock);
}

Status Domd::map_device_tree() {
    // Map the header to learn the size, then the whole blob, read-only.
    size_t size = 0;
    {
        auto header = TRY(Mapping::create(mapper_, PhysAddr{dt_pa_}, 64, MapAttrs::read_only()));
        size = TRY(devicetree_size(header.as<void>(), 64));
    }
    if (size > max_device_tree) return Err::too_big;
    dt_map_ = TRY(Mapping::create(mapper_, PhysAddr{dt_pa_}, size, MapAttrs::read_only()));
    platform_ = TRY(parse_platform(dt_map_.as<void>(), size));
    return ok_status();
}

void Domd::take_extended_regions() {
    for (size_t i = 0; i < platform_.extended_count; ++i) {
        Status added = frames_.add_region(platform_.extended[i]);
        if (!added.ok())
            LOG_WARN("extended region %#llx+%#llx unusable: %s",
                     static_cast<unsigned long long>(platform_.extended[i].base.value),
                     static_cast<unsigned long long>(platform_.extended[i].size), err_name(added.error()));
    }
}

Status Domd::start_event_channels() {
    shared_info_.emplace(TRY(xen::SharedInfoPage::map(hv_, frames_, mapper_)));
    events_.emplace(hypercall_, shared_info_->view());
    event_source_.emplace(*events_);
    loop_.add_source(*event_source_);
    return ok_status();
}

Status Domd::start_console() {
    uint64_t pfn = TRY(hv_.hvm_get_param(HVM_PARAM_CONSOLE_PFN));
    uint64_t port = TRY(hv_.hvm_get_param(HVM_PARAM_CONSOLE_EVTCHN));
    if (pfn == 0) return Err::not_found;
    console_page_ = TRY(Mapping::create(mapper_, Gfn{pfn}.address(), page_size, MapAttrs::read_write()));
    console_ring_.emplace(*console_page_.as<xencons_interface>());
    console_notifier_.emplace(*events_, static_cast<uint32_t>(port));
    console_.emplace(*console_ring_, *console_notifier_, hv_);
    logging::remove_sink(&boot_log_);
    boot_log_.replay(*console_);
    logging::add_sink(&*console_);
    if (!options_.xen_console) logging::remove_sink(&debug_console_);
    return ok_status();
}

Status Domd::start_xenstore() {
    xenstore_.emplace(hv_, *events_);
    TRY(xenstore_->connect(mapper_, loop_.timers(), machine_));
    loop_.add_source(*xenstore_);
    return ok_status();
}

Status Domd::start_grant_tables() {
    grant_table_.emplace(hv_, mapper_);
    TRY(grant_table_->setup(platform_.grant_table_area));
    grant_mapper_.emplace(hypercall_, frames_, mapper_);
    return ok_status();
}

Status Domd::start_disk() {
    if (!platform_.has_ramdisk) {
        LOG_WARN("no ramdisk module (xl ramdisk=): domd serves no disk");
        return ok_status();
    }
    // Mapped so that virtual and physical addresses agree modulo 2 MiB: the interior of the
    // disk then takes 2 MiB blocks, whatever page the module starts at.
    constexpr uint64_t block = uint64_t{2} << 20;
    PhysAddr start = platform_.ramdisk.base;
    uint64_t size = platform_.ramdisk.size;
    PhysAddr first_page{align_down(start.value, page_size)};
    uint64_t mapped = align_up(start.value + size, page_size) - first_page.value;
    uint64_t in_block = first_page.value % block;
    VirtAddr reserved = TRY(mapper_.reserve(align_up(in_block + mapped, block)));
    VirtAddr va = reserved + in_block;
    TRY(mapper_.map_at(va, first_page, mapped, MapAttrs::read_write()));
    auto* bytes = (va + (start.value - first_page.value)).as<uint8_t>();
    // A fingerprint of the content (FNV-1a over 64-bit words): the same image, the same value.
    uint64_t hash = 0xcbf29ce484222325;
    size_t words = size / 8;
    const auto* w = reinterpret_cast<const uint64_t*>(bytes);
    for (size_t i = 0; i < words; ++i) hash = (hash ^ w[i]) * 0x100000001b3;
    for (size_t i = words * 8; i < size; ++i) hash = (hash ^ bytes[i]) * 0x100000001b3;
    LOG_INFO("ramdisk module: %llu bytes at %#llx, volatile (guests' writes live in RAM); content fnv64 %016llx",
             static_cast<unsigned long long>(size), static_cast<unsigned long long>(start.value),
             static_cast<unsigned long long>(hash));

    blk::DiskSpec specs[max_ram_disks];
    size_t count = 0;
    if (options_.disks.empty()) {
        blk::DiskSpec& whole = specs[count++];
        whole.name_len = strlen(options_.disk_name);
        memcpy(whole.name, options_.disk_name, whole.name_len + 1);
        whole.size = size / blk::sector_size * blk::sector_size;
        whole.read_only = options_.disk_read_only;
    } else {
        auto parsed = blk::parse_disk_layout(options_.disks, size, specs);
        if (!parsed.ok()) {
            LOG_ERROR("disks=%.*s does not describe this %llu-byte module: %s", static_cast<int>(options_.disks.size()),
                      options_.disks.data(), static_cast<unsigned long long>(size), err_name(parsed.error()));
            return parsed.error();
        }
        count = parsed.value();
    }
    for (size_t i = 0; i < count; ++i) {
        const blk::DiskSpec& d = specs[i];
        ram_disks_[i].emplace(std::span<uint8_t>(bytes + d.offset, d.size), d.read_only);
        TRY(disks_.add(d.name_view(), *ram_disks_[i], d.profile));
        LOG_INFO("disk '%s': %llu sectors at +%#llx of the module, %s, virtio-mmio %s", d.name,
                 static_cast<unsigned long long>(d.size / blk::sector_size), static_cast<unsigned long long>(d.offset),
                 d.read_only ? "read-only" : "read-write",
                 d.profile.legacy_mmio ? "version 1 (legacy)" : d.profile.packed_rings ? "version 2, split and packed rings"
                                                                                       : "version 2, split rings");
    }
    return ok_status();
}

void Domd::apply_mode(IdleMode mode) {
    loop_.set_quiet_window(options_.quiet_us * 1000);
    loop_.set_mode(mode);  // it tells the sources whether they are polled
}

const char* Domd::mode_name(IdleMode mode) {
    switch (mode) {
        case IdleMode::poll: return "poll";
        case IdleMode::block: return "event";
        case IdleMode::adaptive: return "adaptive";
    }
    return "?";
}

void Domd::on_mode_node(std::string_view, std::string_view) {
    if (mode_job_.running()) return;  // it reads the node's latest value anyway
    mode_job_.start(read_mode());
}

Task<Status> Domd::read_mode() {
    auto text = co_await xenstore_->store().read("data/domd/mode", mode_text_);
    if (!text.ok() || text.value().empty()) co_return ok_status();
    IdleMode mode;
    if (text.value() == "poll")
        mode = IdleMode::poll;
    else if (text.value() == "event" || text.value() == "block")
        mode = IdleMode::block;
    else if (text.value() == "adaptive")
        mode = IdleMode::adaptive;
    else {
        LOG_WARN("data/domd/mode: '%.*s' is not poll, event or adaptive", static_cast<int>(text.value().size()),
                 text.value().data());
        co_return Err::invalid;
    }
    if (mode != loop_.mode()) {
        apply_mode(mode);
        LOG_INFO("loop mode is now %s", mode_name(mode));
    }
    co_return ok_status();
}

void Domd::on_stats_request(std::string_view, std::string_view) {
    if (!first_stats_event_seen_) {
        first_stats_event_seen_ = true;  // the watch's own first event, not a request
        return;
    }
    publish_stats();
}

void Domd::publish_stats() {
    if (backend_) backend_->publish_stats();
    char line[512];
    int used = snprintf(line, sizeof line, "mode=%s iterations=%llu idle_waits=%llu spells=%llu hypercalls=%llu",
                        mode_name(loop_.mode()), static_cast<unsigned long long>(loop_.stats().iterations),
                        static_cast<unsigned long long>(loop_.stats().idle_waits),
                        static_cast<unsigned long long>(loop_.stats().spells),
                        static_cast<unsigned long long>(hypercall_.total()));
    for (int k = 0; k < xen::CountingHypercall::kinds && used > 0 && used < static_cast<int>(sizeof line); ++k) {
        auto kind = static_cast<xen::CountingHypercall::Kind>(k);
        used += snprintf(line + used, sizeof line - static_cast<size_t>(used), " %s=%llu",
                         xen::CountingHypercall::kind_name(kind), static_cast<unsigned long long>(hypercall_.count(kind)));
    }
    if (used > 0 && used < static_cast<int>(sizeof line)) {
        used += snprintf(line + used, sizeof line - static_cast<size_t>(used),
                         " coroutines_peak_frame=%zu table_pages=%zu free_frames=%llu",
                         coroutine_pool().stats().largest_request, arm64::kernel_table_pool.in_use(),
                         static_cast<unsigned long long>(frames_.free_frames()));
    }
    size_t len = used < 0 ? 0 : (used < static_cast<int>(sizeof line) ? static_cast<size_t>(used) : sizeof line - 1);
    xenstore_->store().write_detached("data/domd/stats", std::string_view(line, len));
    LOG_INFO("stats domd: %.*s", static_cast<int>(len), line);
}

void Domd::log_footprint() {
    auto bytes = [](const char* a, const char* b) { return static_cast<unsigned long long>(b - a); };
    LOG_INFO("footprint: image file %llu KiB; in memory %llu KiB (text %llu, rodata %llu, data+bss %llu of which "
             "page-table pool %zu, stacks %llu)",
             bytes(arm64::__image_start, arm64::__file_end) >> 10, bytes(arm64::__image_start, arm64::__image_end) >> 10,
             bytes(arm64::__text_start, arm64::__text_end) >> 10, bytes(arm64::__rodata_start, arm64::__rodata_end) >> 10,
             bytes(arm64::__data_start, arm64::__bss_end) >> 10, sizeof(arm64::kernel_table_pool) >> 10,
             (bytes(arm64::__main_stack_bottom, arm64::__main_stack_top) +
              bytes(arm64::__exception_stack_bottom, arm64::__exception_stack_top)) >> 10);
}

void Domd::print_boot_facts() {
    uint64_t ram = 0;
    for (size_t i = 0; i < platform_.memory_count; ++i) ram += platform_.memory[i].size;
    logging::rawf("\ndomd %s: Xen driver domain for virtio disks\n", DOMD_VERSION);
    LOG_INFO("%llu MiB RAM at %#llx, %s; device tree at %#llx: model \"%.*s\", command line \"%.*s\"",
             static_cast<unsigned long long>(ram >> 20), static_cast<unsigned long long>(platform_.memory[0].base.value),
             machine_.gic_name(), static_cast<unsigned long long>(dt_pa_), static_cast<int>(platform_.model.size()),
             platform_.model.data(), static_cast<int>(platform_.bootargs.size()), platform_.bootargs.data());
    LOG_INFO("options: loglevel=%s idle=%s quiet_us=%u irq_hold_us=%u disk=%s queues=%u xen_console=%d testhooks=%d",
             logging::level_name(options_.log_level), mode_name(options_.idle), options_.quiet_us, options_.irq_hold_us,
             options_.disk_name, options_.queues, options_.xen_console, options_.test_hooks);
    memory_.log_memory_map();
    log_footprint();
}

void Domd::print_xen_facts() {
    auto version = hv_.version();
    LOG_INFO("running on Xen %u.%u%s (%.*s) as domain %llu", version.ok() ? version.value().major : 0,
             version.ok() ? version.value().minor : 0, version.ok() ? version.value().extra : "?",
             static_cast<int>(platform_.xen_compatible.size()), platform_.xen_compatible.data(),
             static_cast<unsigned long long>(domid_));
    LOG_INFO("extended regions: %zu, %llu free frames for foreign and granted pages; shared_info at gfn %#llx",
             platform_.extended_count, static_cast<unsigned long long>(frames_.free_frames()),
             static_cast<unsigned long long>(shared_info_->gfn().value));
    LOG_INFO("grant table: %u frames, %u refs", grant_table_->frames(), grant_table_->refs());
}

void Domd::on_control_request(xen::ControlRequest request) {
    LOG_INFO("%s requested by the toolstack", xen::control_request_name(request));
    switch (request) {
        case xen::ControlRequest::poweroff: exit_reason_ = xen::ShutdownReason::poweroff; break;
        case xen::ControlRequest::reboot: exit_reason_ = xen::ShutdownReason::reboot; break;
        case xen::ControlRequest::crash: exit_reason_ = xen::ShutdownReason::crash; break;
        case xen::ControlRequest::suspend:
            LOG_WARN("suspend is not supported (feature-suspend is not advertised): ignored");
            return;
    }
    loop_.stop();
}

void Domd::on_log_level_node(std::string_view, std::string_view) {
    if (log_level_job_.running()) return;  // it reads the node's latest value anyway
    log_level_job_.start(read_log_level());
}

Task<Status> Domd::read_log_level() {
    auto text = co_await xenstore_->store().read("data/domd/loglevel", log_level_text_);
    if (!text.ok() || text.value().empty()) co_return ok_status();
    LogLevel level;
    if (!logging::parse_level(text.value(), level)) {
        LOG_WARN("data/domd/loglevel: '%.*s' is not a log level", static_cast<int>(text.value().size()),
                 text.value().data());
        co_return Err::invalid;
    }
    logging::set_level(level);
    logging::rawf("domd: log level is now %s\n", logging::level_name(level));
    co_return ok_status();
}

// Everything that needs xenstored's answers, run from the loop so that nothing ever waits.
Task<Status> Domd::bring_up() {
    xen::Xenstore& store = xenstore_->store();
    // Relative paths are under our home, /local/domain/<domid>, which libxl also records here.
    auto domid = co_await store.read_unsigned("domid");
    if (!domid.ok()) co_return fail_step("reading domid", domid.error());
    domid_ = domid.value();
    if (Status s = start_grant_tables(); !s.ok()) co_return fail_step("grant table", s.error());
    print_xen_facts();

    control_.emplace(store, xen::GuestControl::Handler::to<&Domd::on_control_request>(this));
    if (Status s = co_await control_->start(); !s.ok()) co_return fail_step("control/shutdown watch", s.error());
    if (Status s = store.watch("data/domd/loglevel", "domd-loglevel",
                               xen::Xenstore::WatchCallback::to<&Domd::on_log_level_node>(this));
        !s.ok())
        co_return fail_step("data/domd/loglevel watch", s.error());
    if (Status s = start_disk(); !s.ok()) co_return fail_step("disk", s.error());
    backend_.emplace(xen::VirtioDiskBackend::Services{hypercall_, *events_, frames_, mapper_, *grant_mapper_, store,
                                                      loop_.timers(), machine_},
                     disks_, xen::VirtioDiskOptions{options_.queues, 256, options_.irq_hold_us * 1000, 400'000});
    if (!loop_.add_source(*backend_)) co_return fail_step("virtio-disk backend", Err::no_space);
    if (Status s = backend_->start(); !s.ok()) co_return fail_step("virtio-disk backend", s.error());
    if (Status s = store.watch("data/domd/mode", "domd-mode", xen::Xenstore::WatchCallback::to<&Domd::on_mode_node>(this));
        !s.ok())
        co_return fail_step("data/domd/mode watch", s.error());
    if (Status s = store.watch("data/domd/stats-request", "domd-stats",
                               xen::Xenstore::WatchCallback::to<&Domd::on_stats_request>(this));
        !s.ok())
        co_return fail_step("data/domd/stats-request watch", s.error());
    if (options_.test_hooks) {
        test_hooks_.emplace(TestHookServices{store, loop_, machine_, *events_, *grant_table_, *grant_mapper_, mapper_,
                                             hypercall_, frames_, static_cast<uint16_t>(domid_)});
        if (Status s = test_hooks_->start(); !s.ok()) co_return fail_step("test hooks", s.error());
    }
    store.write_detached("data/domd/version", DOMD_VERSION);
    if (Status s = co_await store.write("data/domd/status", "ready"); !s.ok())
        co_return fail_step("data/domd/status", s.error());
    LOG_INFO("ready");
    co_return ok_status();
}

Status Domd::fail_step(const char* what, Err error) {
    LOG_ERROR("startup failed: %s: %s", what, err_name(error));
    return error;
}

void Domd::on_brought_up(Status status) {
    if (!status.ok()) stop(xen::ShutdownReason::crash);
}

void Domd::run() {
    Status step = map_device_tree();
    if (!step.ok()) fail("device tree", step.error());
    options_ = parse_options(platform_.bootargs);
    logging::set_level(options_.log_level);
    apply_mode(options_.idle);
    if (!(step = machine_.init(platform_, mapper_)).ok()) fail("interrupt controller", step.error());
    print_boot_facts();
    if (!platform_.has_hypervisor) fail("Xen interfaces (no /hypervisor node in the device tree)", Err::not_found);
    take_extended_regions();
    if (!(step = start_event_channels()).ok()) fail("event channels", step.error());
    if (!(step = start_console()).ok()) LOG_WARN("no PV console (%s): logging to Xen's console", err_name(step.error()));
    if (!(step = start_xenstore()).ok()) fail("xenstore", step.error());
    bring_up_job_.start(bring_up(), Callback<void(Status)>::to<&Domd::on_brought_up>(this));

    loop_.run();

    // Servers go first: Xen would keep them until their guests die, and no later domd could
    // take those guests over. Then the toolstack learns we are going (best effort).
    if (backend_) {
        size_t ended = backend_->stop();
        if (ended) LOG_INFO("stopped serving %zu device(s): their guests lose the disk until they reboot", ended);
    }
    xenstore_->store().write_detached("data/domd/status", "stopping");
    (void)xenstore_->poll();
    LOG_INFO("stopping: loop ran %llu iterations, blocked %llu times; %llu events dispatched",
             static_cast<unsigned long long>(loop_.stats().iterations),
             static_cast<unsigned long long>(loop_.stats().idle_waits),
             static_cast<unsigned long long>(events_->stats().dispatched));
    stop(exit_reason_);
}

void Domd::fail(const char* what, Err error) {
    LOG_ERROR("startup failed: %s: %s", what, err_name(error));
    stop(xen::ShutdownReason::crash);
}

void Domd::stop(xen::ShutdownReason reason) { arm64::shutdown_domain(reason); }

}  // namespace domd
