#include "xen/virtio_disk_backend.h"

#include <cstdio>
#include <cstring>

#include "kernel/log.h"
#include "kernel/number.h"
#include "kernel/sleep.h"

namespace domd::xen {
namespace {

// Xenbus states (io/xenbus.h).
constexpr int state_init_wait = XenbusStateInitWait;
constexpr int state_connected = XenbusStateConnected;
constexpr int state_closing = XenbusStateClosing;

constexpr std::string_view root_name(bool generic) { return generic ? "backend/virtio" : "backend/virtio_disk"; }
constexpr uint64_t window_size = virtio::mmio::window_size;
// virtio 1.2 section 5.2.4: VIRTIO_BLK_S_* does not apply here; the Linux driver's status bit.
constexpr uint32_t driver_ok = 4;

// "backend/virtio_disk/<fe>/<devid>/..." (relative, or absolute under our home): which
// directory, frontend and device it names, as far as it goes.
struct EventPath {
    bool generic = false;
    bool has_frontend = false;
    bool has_device = false;
    domid_t frontend = 0;
    uint32_t devid = 0;
};

std::string_view next_component(std::string_view& rest) {
    size_t slash = rest.find('/');
    std::string_view part = slash == std::string_view::npos ? rest : std::string_view(rest.data(), slash);
    rest.remove_prefix(slash == std::string_view::npos ? rest.size() : slash + 1);
    return part;
}

Result<EventPath> parse_event_path(std::string_view path) {
    // An absolute path is /local/domain/<us>/backend/...: skip to "backend".
    if (!path.empty() && path.front() == '/') {
        size_t at = path.find("/backend/");
        if (at == std::string_view::npos) {
            at = path.find("/backend");
            if (at == std::string_view::npos || at + 8 != path.size()) return Err::invalid;
        }
        path.remove_prefix(at + 1);
    }
    EventPath e;
    std::string_view rest = path;
    if (next_component(rest) != "backend") return Err::invalid;
    std::string_view kind = next_component(rest);
    if (kind == "virtio")
        e.generic = true;
    else if (kind != "virtio_disk")
        return Err::invalid;
    if (rest.empty()) return e;
    auto fe = parse_unsigned(next_component(rest));
    if (!fe.ok() || fe.value() >= DOMID_FIRST_RESERVED) return e;
    e.has_frontend = true;
    e.frontend = static_cast<domid_t>(fe.value());
    if (rest.empty()) return e;
    auto dev = parse_unsigned(next_component(rest));
    if (!dev.ok() || dev.value() > UINT32_MAX) return e;
    e.has_device = true;
    e.devid = static_cast<uint32_t>(dev.value());
    return e;
}

const char* explain(Err e) {
    switch (e) {
        case Err::not_implemented: return "Xen has no IOREQ server support (build it with CONFIG_IOREQ_SERVER)";
        case Err::access:
        case Err::permission: return "the XSM policy does not let domd be this guest's device model";
        case Err::no_such_domain: return "the guest is gone";
        case Err::no_memory: return "out of memory";
        case Err::no_space: return "out of slots";
        default: return err_name(e);
    }
}

}  // namespace

// ---- the interrupt line ----------------------------------------------------------------------

void VirtioDiskBackend::IrqLine::notify() {
    if (backend_.polling_ && backend_.options_.irq_hold_ns && last_batch_ > 1) {
        if (!held_) {
            held_ = true;
            held_since_ = backend_.s_.clock.now_ns();
            ++backend_.stats_.irq_holds;
        }
        return;  // the loop raises it once the guest's burst ends (poll())
    }
    raise();
}

void VirtioDiskBackend::IrqLine::raise() {
    held_ = false;
    const uint64_t used = disk_.used_total();
    last_batch_ = used - used_at_last_raise_;
    used_at_last_raise_ = used;
    if (!guest_.server) return;
    if (guest_.server->device_model().set_irq_level(irq_, true).ok())
        ++backend_.stats_.irq_raises;
    else
        ++backend_.stats_.irq_failures;
}

uint64_t VirtioDiskBackend::Disk::used_total() const {
    uint64_t n = 0;
    if (transport)
        for (uint16_t q = 0; q < transport->queue_count(); ++q) n += transport->queue(q).stats().used;
    return n;
}

uint64_t VirtioDiskBackend::Disk::chains_total() const {
    uint64_t n = 0;
    if (transport)
        for (uint16_t q = 0; q < transport->queue_count(); ++q) n += transport->queue(q).stats().chains;
    return n;
}

void VirtioDiskBackend::release_held_interrupts() {
    for (Disk& d : disks_slots_)
        if (d.irq_line && d.irq_line->held()) d.irq_line->raise();
}

// ---- setup and teardown of the backend ---------------------------------------------------------

VirtioDiskBackend::VirtioDiskBackend(const Services& services, blk::DiskCatalog& disks, const Options& options)
    : s_(services), disks_(disks), options_(options), hv_(services.hypercall) {}

VirtioDiskBackend::~VirtioDiskBackend() {
    if (started_) {
        (void)s_.store.unwatch("domd-virtio-disk");
        (void)s_.store.unwatch("domd-virtio");
    }
    scan_job_.reset();
    for (Disk& d : disks_slots_) {
        d.job.reset();
        if (d.phase == Disk::Phase::serving || d.phase == Disk::Phase::setting_up) detach(d);
    }
    for (Guest& g : guests_)
        if (g.used) {
            if (g.server) (void)g.server->destroy();
            if (g.ram) g.ram->stop();
        }
}

Status VirtioDiskBackend::start() {
    if (started_) return Err::exists;
    auto on_event = Xenstore::WatchCallback::to<&VirtioDiskBackend::on_backend_event>(this);
    TRY(s_.store.watch(root_name(false), "domd-virtio-disk", on_event));
    TRY(s_.store.watch(root_name(true), "domd-virtio", on_event));
    started_ = true;
    return ok_status();
}

void VirtioDiskBackend::set_polling(bool polling) {
    if (!polling) release_held_interrupts();  // nothing waits for a loop that is about to sleep
    polling_ = polling;
    for (Guest& g : guests_)
        if (g.used && g.server && g.server->created()) g.server->set_polling(polling);
    for (Disk& d : disks_slots_)
        if (d.transport) d.transport->set_polling(polling);
}

// ---- discovery ---------------------------------------------------------------------------------

void VirtioDiskBackend::on_backend_event(std::string_view path, std::string_view) {
    auto parsed = parse_event_path(path);
    if (parsed.ok() && parsed.value().has_device) {
        const EventPath& e = parsed.value();
        if (Disk* d = find(e.generic ? Root::virtio : Root::virtio_disk, e.frontend, e.devid)) {
            if (d->phase == Disk::Phase::failed) {
                request_scan();  // the directory may be gone: a scan forgets it then
            } else if (d->job.running()) {
                d->look_again = true;
            } else {
                start_job(*d);
            }
            return;
        }
    }
    request_scan();
}

void VirtioDiskBackend::request_scan() {
    if (scan_job_.running()) {
        rescan_ = true;
        return;
    }
    scan_job_.start(scan(), Callback<void(Status)>::to<&VirtioDiskBackend::on_scan_done>(this));
}

void VirtioDiskBackend::on_scan_done(Status status) {
    if (!status.ok() && status.error() != Err::not_found) LOG_WARN("virtio-disk: scan failed: %s", err_name(status.error()));
    if (rescan_) {
        rescan_ = false;
        request_scan();
    }
}

Task<Status> VirtioDiskBackend::scan() {
    for (Disk& d : disks_slots_) d.seen_in_scan = false;
    Status a = co_await scan_root(Root::virtio_disk);
    Status b = co_await scan_root(Root::virtio);
    // A device whose setup failed is forgotten once its directory is gone.
    for (Disk& d : disks_slots_)
        if (d.phase == Disk::Phase::failed && !d.seen_in_scan) free_disk(d);
    co_return !a.ok() ? a : b;
}

Task<Status> VirtioDiskBackend::scan_root(Root root) {
    std::string_view base = root_name(root == Root::virtio);
    auto frontends = co_await s_.store.directory(base, listing_);
    if (!frontends.ok()) co_return frontends.error() == Err::not_found ? ok_status() : Status(frontends.error());
    for (std::string_view fe_name : frontends.value()) {
        auto fe = parse_unsigned(fe_name);
        if (!fe.ok() || fe.value() >= DOMID_FIRST_RESERVED) continue;
        char path[64];
        int n = snprintf(path, sizeof path, "%.*s/%u", static_cast<int>(base.size()), base.data(),
                         static_cast<unsigned>(fe.value()));
        if (n <= 0 || n >= static_cast<int>(sizeof path)) continue;
        auto devices = co_await s_.store.directory(std::string_view(path, static_cast<size_t>(n)), sublisting_);
        if (!devices.ok()) continue;
        for (std::string_view dev_name : devices.value()) {
            auto dev = parse_unsigned(dev_name);
            if (!dev.ok() || dev.value() > UINT32_MAX) continue;
            auto frontend = static_cast<domid_t>(fe.value());
            auto devid = static_cast<uint32_t>(dev.value());
            Disk* d = find(root, frontend, devid);
            if (!d) {
                d = allocate_disk(root, frontend, devid);
                if (!d) {
                    LOG_WARN("virtio-disk: no slot for domain %u device %u (at most %zu devices)", frontend, devid,
                             max_devices);
                    continue;
                }
                start_job(*d);
            }
            d->seen_in_scan = true;
        }
    }
    co_return ok_status();
}

VirtioDiskBackend::Disk* VirtioDiskBackend::find(Root root, domid_t frontend, uint32_t devid) {
    for (Disk& d : disks_slots_)
        if (d.phase != Disk::Phase::free && d.root == root && d.frontend == frontend && d.devid == devid) return &d;
    return nullptr;
}

VirtioDiskBackend::Disk* VirtioDiskBackend::allocate_disk(Root root, domid_t frontend, uint32_t devid) {
    for (Disk& d : disks_slots_) {
        if (d.phase != Disk::Phase::free) continue;
        std::string_view base = root_name(root == Root::virtio);
        int n = snprintf(d.path, sizeof d.path, "%.*s/%u/%u", static_cast<int>(base.size()), base.data(), frontend, devid);
        if (n <= 0 || n >= static_cast<int>(sizeof d.path)) return nullptr;
        d.path_len = static_cast<size_t>(n);
        d.phase = Disk::Phase::setting_up;
        d.root = root;
        d.frontend = frontend;
        d.devid = devid;
        d.published_state = 0;
        d.look_again = false;
        d.discovered_ns = s_.clock.now_ns();
        return &d;
    }
    return nullptr;
}

void VirtioDiskBackend::free_disk(Disk& d) {
    d.job.reset();
    d.phase = Disk::Phase::free;
    d.guest = nullptr;
}

// ---- a device's conversations ---------------------------------------------------------------

void VirtioDiskBackend::start_job(Disk& disk) {
    disk.owner = this;
    disk.look_again = false;
    disk.job.start(run_disk(&disk), Callback<void(Status)>::from(&VirtioDiskBackend::disk_job_done, &disk));
}

void VirtioDiskBackend::disk_job_done(void* context, Status status) {
    Disk& disk = *static_cast<Disk*>(context);
    disk.owner->on_disk_job_done(disk, status);
}

void VirtioDiskBackend::on_disk_job_done(Disk& disk, Status) {
    // The job's frame is gone already (kernel/task.h): the slot may be reused from here.
    if (disk.phase == Disk::Phase::closing) {
        free_disk(disk);
        return;
    }
    if (disk.look_again && (disk.phase == Disk::Phase::serving || disk.phase == Disk::Phase::setting_up)) start_job(disk);
}

Task<Status> VirtioDiskBackend::run_disk(Disk* disk) {
    Status outcome;
    for (;;) {
        disk->look_again = false;
        if (disk->phase == Disk::Phase::setting_up)
            outcome = co_await set_up(*disk);
        else if (disk->phase == Disk::Phase::serving)
            outcome = co_await reevaluate(*disk);
        // Events that came in meanwhile: look again (the state may have moved on).
        if (!disk->look_again || disk->phase != Disk::Phase::serving) break;
    }
    co_return outcome;
}

Task<Result<std::string_view>> VirtioDiskBackend::read_key(Disk& disk, std::string_view key) {
    char path[128];
    int n = snprintf(path, sizeof path, "%.*s/%.*s", static_cast<int>(disk.path_len), disk.path,
                     static_cast<int>(key.size()), key.data());
    if (n <= 0 || n >= static_cast<int>(sizeof path)) co_return Err::name_too_long;
    auto value = co_await s_.store.read(std::string_view(path, static_cast<size_t>(n)), disk.value);
    if (!value.ok()) co_return value.error();
    co_return value.value();
}

Task<Status> VirtioDiskBackend::set_up(Disk& disk) {
    // ---- the keys libxl wrote ----
    auto frontend_id = co_await read_key(disk, "frontend-id");
    if (!frontend_id.ok()) {
        if (frontend_id.error() == Err::not_found) {
            // Not (yet) complete: libxl writes a device's keys in one transaction, so this is a
            // directory being removed. Forget it.
            disk.phase = Disk::Phase::closing;
            co_return ok_status();
        }
        co_return co_await refuse(disk, "frontend-id unreadable");
    }
    auto fe = parse_unsigned(frontend_id.value());
    if (!fe.ok() || fe.value() != disk.frontend) co_return co_await refuse(disk, "frontend-id does not match the path");

    auto online = co_await read_key(disk, "online");
    if (online.ok() && online.value() == "0") {
        disk.phase = Disk::Phase::closing;  // being taken down before we set it up
        co_return ok_status();
    }
    auto state = co_await read_key(disk, "state");
    if (state.ok()) {
        auto s = parse_unsigned(state.value());
        if (s.ok() && s.value() >= static_cast<uint64_t>(state_closing)) {
            disk.phase = Disk::Phase::closing;
            co_return ok_status();
        }
    }

    auto transport = co_await read_key(disk, "transport");
    if (transport.ok() && transport.value() != "mmio") co_return co_await refuse(disk, "transport is not mmio");
    if (disk.root == Root::virtio) {
        // 4.18+ generic virtio devices: only block devices are domd's.
        auto type = co_await read_key(disk, "type");
        if (!type.ok() || type.value() != "virtio,device2") co_return co_await refuse(disk, "not a virtio block device");
    } else {
        auto spec = co_await read_key(disk, "specification");
        if (spec.ok() && spec.value() != "virtio") co_return co_await refuse(disk, "specification is not virtio");
    }

    auto base_text = co_await read_key(disk, "base");
    if (!base_text.ok()) co_return co_await refuse(disk, "no base");
    auto base = parse_unsigned(base_text.value(), NumberFormat::decimal_or_hex);
    if (!base.ok() || base.value() < GUEST_VIRTIO_MMIO_BASE || base.value() % window_size != 0 ||
        base.value() - GUEST_VIRTIO_MMIO_BASE > GUEST_VIRTIO_MMIO_SIZE - window_size)
        co_return co_await refuse(disk, "base outside the virtio-mmio window");
    disk.base = base.value();

    auto irq_text = co_await read_key(disk, "irq");
    if (!irq_text.ok()) co_return co_await refuse(disk, "no irq");
    auto irq = parse_unsigned(irq_text.value());
    if (!irq.ok() || irq.value() < GUEST_VIRTIO_MMIO_SPI_FIRST || irq.value() > GUEST_VIRTIO_MMIO_SPI_LAST)
        co_return co_await refuse(disk, "irq outside the virtio-mmio SPIs");
    disk.irq = static_cast<uint32_t>(irq.value());

    auto mode = co_await read_key(disk, "mode");
    disk.writable = !(mode.ok() && mode.value() == "r");

    // ---- the disk ----
    char target[blk::DiskCatalog::max_name + 1];
    size_t target_len = 0;
    if (disk.root == Root::virtio_disk) {
        auto params = co_await read_key(disk, "params");
        if (!params.ok() || params.value().empty()) co_return co_await refuse(disk, "no target= disk named");
        if (params.value().size() > blk::DiskCatalog::max_name) co_return co_await refuse(disk, "no such disk");
        target_len = params.value().size();
        memcpy(target, params.value().data(), target_len);
    } else if (disks_.size() > 0) {
        // A generic virtio device names no disk: the first one.
        target_len = disks_.name(0).size();
        memcpy(target, disks_.name(0).data(), target_len);
    }
    std::string_view target_name(target, target_len);
    if (Status opened = disks_.open(target_name, disk.writable, disk.view); !opened.ok()) {
        LOG_WARN("virtio-disk: domain %u device %u: disk '%.*s': %s", disk.frontend, disk.devid,
                 static_cast<int>(target_len), target, err_name(opened.error()));
        co_return co_await refuse(disk, opened.error() == Err::not_found  ? "no such disk"
                                        : opened.error() == Err::busy     ? "disk in use by another guest"
                                        : opened.error() == Err::read_only ? "disk is read-only"
                                                                            : "disk unavailable");
    }

    // ---- the guest's server and RAM, the device, its window ----
    auto guest = attach_guest(disk.frontend);
    if (!guest.ok()) {
        disk.view.close();
        LOG_ERROR("virtio-disk: domain %u: no IOREQ server: %s (%s)", disk.frontend, explain(guest.error()),
                  err_name(guest.error()));
        co_return co_await refuse(disk, explain(guest.error()));
    }
    Guest& g = *guest.value();
    disk.guest = &g;
    ++g.devices;
    snprintf(disk.id, sizeof disk.id, "domd-%u-%u", disk.frontend, disk.devid);
    disk.memory.emplace(*g.ram, s_.grants, disk.frontend);
    disk.irq_line.emplace(*this, g, disk, disk.irq);
    blk::VirtioBlkOptions blk_options;
    // One queue per guest vCPU unless the options say how many (virtio-mmio has one interrupt
    // per device: queues buy per-vCPU submission and poll queues, not interrupts).
    uint32_t queues = options_.queues ? options_.queues : g.server->vcpus();
    blk_options.queues = static_cast<uint16_t>(queues < virtio::limits::max_queues ? queues : virtio::limits::max_queues);
    blk_options.queue_size = options_.queue_size;
    blk_options.id = disk.id;
    disk.blk.emplace(disk.view, *disk.memory, blk_options);
    // The transport the operator chose for this disk (disks=name:legacy|split).
    const blk::DeviceProfile profile = disk.view.profile();
    virtio::MmioOptions mmio_options;
    mmio_options.version = profile.legacy_mmio ? virtio::mmio::version_legacy : virtio::mmio::version_2;
    mmio_options.ring_packed = profile.packed_rings;
    disk.transport.emplace(*disk.blk, *disk.memory, *disk.irq_line, mmio_options);
    disk.transport->set_polling(polling_);
    if (Status added = g.server->add_window(disk.base, window_size, *disk.transport); !added.ok()) {
        detach(disk);
        LOG_ERROR("virtio-disk: domain %u device %u: window %#llx: %s", disk.frontend, disk.devid,
                  static_cast<unsigned long long>(disk.base), err_name(added.error()));
        co_return co_await refuse(disk, added.error() == Err::exists ? "window in use" : explain(added.error()));
    }
    disk.window = true;
    // Served from now on: libxl unpauses the guest as soon as it sees InitWait.
    disk.phase = Disk::Phase::serving;
    ++stats_.devices_served;
    stats_.last_setup_ns = s_.clock.now_ns() - disk.discovered_ns;

    char path[128];
    int n = snprintf(path, sizeof path, "%.*s/state", static_cast<int>(disk.path_len), disk.path);
    Status written = co_await s_.store.write(std::string_view(path, static_cast<size_t>(n)), "2");
    if (!written.ok()) {
        detach(disk);
        co_return co_await refuse(disk, "state unwritable");
    }
    disk.published_state = state_init_wait;
    LOG_INFO("virtio-disk: domain %u device %u: disk '%.*s' (%llu MiB, %s) at %#llx irq %u, %u vCPU(s): InitWait "
             "%llu ms after discovery",
             disk.frontend, disk.devid, static_cast<int>(target_len), target,
             static_cast<unsigned long long>(disk.view.capacity_sectors() * blk::sector_size >> 20),
             disk.view.read_only() ? "ro" : "rw", static_cast<unsigned long long>(disk.base), disk.irq,
             g.server->vcpus(), static_cast<unsigned long long>(stats_.last_setup_ns / 1000000));
    co_return ok_status();
}

Task<Status> VirtioDiskBackend::refuse(Disk& disk, const char* reason) {
    // The reason where the toolstack and the user look; the state node goes, so that libxl's
    // wait for InitWait fails at once ("backend ... was removed") rather than after 10 s.
    ++stats_.setup_failures;
    LOG_WARN("virtio-disk: domain %u device %u refused: %s", disk.frontend, disk.devid, reason);
    disk.phase = Disk::Phase::failed;
    char path[128];
    int n = snprintf(path, sizeof path, "%.*s/error", static_cast<int>(disk.path_len), disk.path);
    (void)co_await s_.store.write(std::string_view(path, static_cast<size_t>(n)), reason);
    n = snprintf(path, sizeof path, "%.*s/state", static_cast<int>(disk.path_len), disk.path);
    (void)co_await s_.store.rm(std::string_view(path, static_cast<size_t>(n)));
    // libxl removes the device's directory, error node included, as it fails the guest's
    // creation: the last refusal stays readable under domd's own home.
    char line[96];
    n = snprintf(line, sizeof line, "domain %u device %u: %s", disk.frontend, disk.devid, reason);
    if (n > 0)
        (void)co_await s_.store.write("data/domd/last-refusal",
                                      std::string_view(line, static_cast<size_t>(n) < sizeof line ? n : sizeof line - 1));
    co_return Err::invalid;
}

Task<Status> VirtioDiskBackend::reevaluate(Disk& disk) {
    auto online = co_await read_key(disk, "online");
    bool gone = !online.ok() && online.error() == Err::not_found;
    bool going = online.ok() && online.value() == "0";
    if (!gone && !going) {
        auto state = co_await read_key(disk, "state");
        gone = !state.ok() && state.error() == Err::not_found;
        if (state.ok()) {
            auto s = parse_unsigned(state.value());
            going = s.ok() && s.value() == static_cast<uint64_t>(state_closing);
        }
    }
    if (!gone && !going) co_return ok_status();
    co_return co_await close(disk);
}

void VirtioDiskBackend::log_connected(const Disk& disk) const {
    // What the guest's driver chose: which ring format and features its requests will take.
    const uint64_t f = disk.transport->negotiated_features();
    uint16_t live = 0;
    for (uint16_t q = 0; q < disk.transport->queue_count(); ++q)
        if (disk.transport->queue(q).live()) ++live;
    using namespace virtio::features;
    LOG_INFO("virtio-disk: domain %u device %u: Connected: virtio-mmio version %u, %u of %u queues live, %s rings%s%s%s",
             disk.frontend, disk.devid, disk.transport->version(), live, disk.transport->queue_count(),
             (f & ring_packed) ? "packed" : "split", (f & ring_event_idx) ? ", event idx" : "",
             (f & indirect_desc) ? ", indirect" : "", (f & access_platform) ? ", platform access (grants)" : "");
}

void VirtioDiskBackend::log_counters(const Disk& disk) const {
    if (!disk.blk || !disk.transport) return;
    blk::BlkStats t = disk.blk->totals();
    using blk::RequestKind;
    auto n = [&](RequestKind k) { return static_cast<unsigned long long>(t.requests[static_cast<int>(k)]); };
    uint64_t errors = t.err_malformed + t.err_range + t.err_read_only + t.err_media + t.err_unmappable + t.err_bad_chain;
    LOG_INFO("virtio-disk: domain %u device %u: requests in %llu out %llu flush %llu get_id %llu discard %llu "
             "write_zeroes %llu unsupported %llu; multi-segment %llu; errors %llu; %llu KiB read, %llu KiB written; "
             "interrupts %llu",
             disk.frontend, disk.devid, n(RequestKind::in), n(RequestKind::out), n(RequestKind::flush),
             n(RequestKind::get_id), n(RequestKind::discard), n(RequestKind::write_zeroes), n(RequestKind::unsupported),
             static_cast<unsigned long long>(t.multi_segment), static_cast<unsigned long long>(errors),
             static_cast<unsigned long long>(t.bytes_read >> 10), static_cast<unsigned long long>(t.bytes_written >> 10),
             static_cast<unsigned long long>(disk.transport->stats().interrupts));
}

Task<Status> VirtioDiskBackend::close(Disk& disk) {
    LOG_INFO("virtio-disk: domain %u device %u: closing", disk.frontend, disk.devid);
    log_counters(disk);
    detach(disk);
    disk.phase = Disk::Phase::closing;
    ++stats_.devices_closed;
    char path[128];
    int n = snprintf(path, sizeof path, "%.*s/state", static_cast<int>(disk.path_len), disk.path);
    Status closed = co_await s_.store.write(std::string_view(path, static_cast<size_t>(n)), "6");
    co_await SleepFor(s_.timers, s_.clock, closed_linger_ns);
    Status removed = co_await s_.store.rm(disk.path_view());
    if (!removed.ok() && removed.error() != Err::not_found)
        LOG_WARN("virtio-disk: removing %.*s: %s", static_cast<int>(disk.path_len), disk.path, err_name(removed.error()));
    co_return closed;
}

size_t VirtioDiskBackend::stop() {
    size_t ended = 0;
    scan_job_.reset();
    for (Disk& d : disks_slots_) {
        d.job.reset();
        if (d.phase != Disk::Phase::serving && d.phase != Disk::Phase::setting_up) continue;
        if (d.phase == Disk::Phase::serving) {
            log_counters(d);
            char path[128];
            int n = snprintf(path, sizeof path, "%.*s/state", static_cast<int>(d.path_len), d.path);
            if (n > 0 && n < static_cast<int>(sizeof path))
                s_.store.write_detached(std::string_view(path, static_cast<size_t>(n)), "6");
            ++ended;
        }
        detach(d);
        d.phase = Disk::Phase::free;
    }
    for (Guest& g : guests_) {
        if (!g.used) continue;
        if (!g.closing) {
            (void)g.server->destroy();
            g.ram->invalidate();
            g.closing = true;
        }
        while (g.ram->drain(GuestRam::chunk_pages)) {
        }
        finish_guest(g);
    }
    return ended;
}

// ---- guests ------------------------------------------------------------------------------------

Result<VirtioDiskBackend::Guest*> VirtioDiskBackend::attach_guest(domid_t dom) {
    for (Guest& g : guests_)
        if (g.used && !g.closing && g.dom == dom) return &g;
    Guest* slot = nullptr;
    for (Guest& g : guests_)
        if (!g.used) {
            slot = &g;
            break;
        }
    if (!slot) return Err::no_space;
    Guest& g = *slot;
    g.server.emplace(s_.hypercall, s_.events, s_.frames, s_.mapper, dom);
    Status created = g.server->create();
    if (!created.ok()) {
        g.server.reset();
        return created.error();
    }
    g.ram.emplace(g.server->device_model(), hv_, s_.frames, s_.mapper);
    if (Status started = g.ram->start(); !started.ok()) {
        g.ram.reset();
        (void)g.server->destroy();
        g.server.reset();
        return started.error();
    }
    g.server->set_invalidate_handler(Callback<void()>::to<&GuestRam::invalidate>(&*g.ram));
    g.server->set_polling(polling_);
    g.dom = dom;
    g.used = true;
    g.closing = false;
    g.devices = 0;
    return &g;
}

void VirtioDiskBackend::detach(Disk& disk) {
    Guest* g = disk.guest;
    if (disk.window && g && g->server) (void)g->server->remove_window(disk.base);
    disk.window = false;
    // No request can be in flight: the stores complete inside submit(), and the loop is the only
    // caller. The rings' grant mappings go with the device's memory view.
    disk.transport.reset();
    disk.blk.reset();
    disk.irq_line.reset();
    disk.memory.reset();
    disk.view.close();
    disk.guest = nullptr;
    if (!g) return;
    if (g->devices > 0) --g->devices;
    if (g->devices > 0) return;
    // The guest's last device: its server goes now, its RAM mappings drain from the loop.
    Status destroyed = g->server->destroy();
    if (!destroyed.ok())
        LOG_WARN("virtio-disk: domain %u: destroying its IOREQ server: %s", g->dom, err_name(destroyed.error()));
    g->ram->invalidate();
    g->closing = true;
}

void VirtioDiskBackend::finish_guest(Guest& g) {
    g.ram->release_reservations();
    LOG_INFO("virtio-disk: domain %u: torn down (%llu frames given back)", g.dom,
             static_cast<unsigned long long>(g.ram->stats().pages_drained));
    g.ram.reset();
    g.server.reset();
    g.used = false;
    g.closing = false;
}

// ---- the loop ----------------------------------------------------------------------------------

bool VirtioDiskBackend::poll() {
    bool did = false;
    for (Guest& g : guests_)
        if (g.used && !g.closing && g.server->pending()) did |= g.server->poll();
    for (Disk& d : disks_slots_) {
        if (d.phase != Disk::Phase::serving || !d.transport) continue;
        if (d.transport->needs_service()) did |= d.transport->service();
        if (d.irq_line && d.irq_line->held()) {
            // Held while the guest keeps submitting: raised once it paused for irq_hold_ns.
            const uint64_t now = s_.clock.now_ns();
            const uint64_t chains = d.chains_total();
            if (chains != d.chains_seen) {
                d.chains_seen = chains;
                d.last_pop_ns = now;
            }
            if (now - d.last_pop_ns >= options_.irq_hold_ns || now - d.irq_line->held_since() >= options_.irq_hold_max_ns) {
                d.irq_line->raise();
                did = true;
            }
        }
        if (d.published_state < state_connected && (d.transport->device_status() & driver_ok)) {
            // The guest's driver is up: Connected (libxl does not wait for it; tools look).
            char path[128];
            int n = snprintf(path, sizeof path, "%.*s/state", static_cast<int>(d.path_len), d.path);
            s_.store.write_detached(std::string_view(path, static_cast<size_t>(n)), "4");
            d.published_state = state_connected;
            log_connected(d);
        }
    }
    for (Guest& g : guests_) {
        if (!g.used || !g.closing) continue;
        did = true;
        if (!g.ram->drain(drain_budget)) finish_guest(g);
    }
    return did;
}

bool VirtioDiskBackend::ready() const {
    for (const Guest& g : guests_) {
        if (!g.used) continue;
        if (g.closing) return true;
        if (g.server->pending()) return true;
    }
    for (const Disk& d : disks_slots_)
        if (d.phase == Disk::Phase::serving && d.transport && d.transport->needs_service()) return true;
    return false;
}

bool VirtioDiskBackend::prepare_to_block() {
    release_held_interrupts();
    bool pending = false;
    for (Disk& d : disks_slots_)
        if (d.phase == Disk::Phase::serving && d.transport) pending |= d.transport->prepare_to_sleep();
    return pending || ready();
}

size_t VirtioDiskBackend::format_stats(const DeviceInfo& d, std::span<char> out) const {
    blk::BlkStats t = d.blk->totals();
    using blk::RequestKind;
    auto n = [&](RequestKind k) { return static_cast<unsigned long long>(t.requests[static_cast<int>(k)]); };
    auto u = [](uint64_t v) { return static_cast<unsigned long long>(v); };
    uint64_t errors = t.err_malformed + t.err_range + t.err_read_only + t.err_media + t.err_unmappable + t.err_bad_chain;
    const IoreqServer::Stats& io = d.server->stats();
    const GuestRam::Stats& ram = d.ram->stats();
    int used = snprintf(out.data(), out.size(),
                        "ioreq_r=%llu ioreq_w=%llu ioreq_inv=%llu ioreq_other=%llu ioreq_bad=%llu irq=%llu "
                        "map_hit=%llu map_miss=%llu in=%llu out=%llu flush=%llu get_id=%llu discard=%llu wz=%llu "
                        "unsupp=%llu err=%llu multiseg=%llu kib_r=%llu kib_w=%llu",
                        u(io.mmio_reads), u(io.mmio_writes), u(io.invalidates), u(io.other_types),
                        u(io.bad_accesses), u(d.transport->stats().interrupts), u(ram.hits), u(ram.misses),
                        n(RequestKind::in), n(RequestKind::out), n(RequestKind::flush), n(RequestKind::get_id),
                        n(RequestKind::discard), n(RequestKind::write_zeroes), n(RequestKind::unsupported), u(errors),
                        u(t.multi_segment), u(t.bytes_read >> 10), u(t.bytes_written >> 10));
    for (uint16_t q = 0; q < d.transport->queue_count() && used > 0 && static_cast<size_t>(used) < out.size(); ++q) {
        const virtio::QueueStats& qs = d.transport->queue(q).stats();
        used += snprintf(out.data() + used, out.size() - static_cast<size_t>(used), " q%u=%llu/%llu/%llu/%llu", q,
                         u(qs.kicks), u(qs.used), u(qs.interrupts_wanted), u(qs.interrupts_suppressed));
    }
    if (used < 0) return 0;
    return static_cast<size_t>(used) < out.size() ? static_cast<size_t>(used) : out.size() - 1;
}

void VirtioDiskBackend::publish_stats() {
    for (const Disk& disk : disks_slots_) {
        if (disk.phase != Disk::Phase::serving || !disk.transport) continue;
        DeviceInfo info{disk.frontend, disk.devid, disk.base, disk.irq, disk.writable, &*disk.transport, &*disk.blk,
                        &*disk.guest->server, &*disk.guest->ram};
        char line[512];
        size_t len = format_stats(info, line);
        char path[128];
        int n = snprintf(path, sizeof path, "%.*s/stats", static_cast<int>(disk.path_len), disk.path);
        if (n > 0 && n < static_cast<int>(sizeof path))
            s_.store.write_detached(std::string_view(path, static_cast<size_t>(n)), std::string_view(line, len));
        LOG_INFO("stats domain %u device %u: %.*s", disk.frontend, disk.devid, static_cast<int>(len), line);
    }
}

size_t VirtioDiskBackend::live_devices() const {
    size_t n = 0;
    for (const Disk& d : disks_slots_) n += d.phase == Disk::Phase::serving;
    return n;
}

size_t VirtioDiskBackend::live_guests() const {
    size_t n = 0;
    for (const Guest& g : guests_) n += g.used;
    return n;
}

}  // namespace domd::xen
