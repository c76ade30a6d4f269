// domd-frontend: a hostile virtio-blk frontend, a freestanding guest built from domd's own
// layers (same entry, MMU, vectors, hypercalls, PV console and grant table). `xl create` starts
// it with a virtio disk served by domd; it finds the device in its device tree and drives it
// itself, first with guest-physical descriptors, then with grant descriptors.
//
// Its command line (xl's extra=) picks what it does:
//   mode=hostile (default)  every hostile case of issue 12 item 6, each followed by a
//                           well-formed read, then the whole disk read; "HOSTILE: ..." lines,
//                           ending with "HOSTILE: done P/T"
//   pass=gpa|grant|both     the descriptor addressings of the hostile passes (default both):
//                           guest-physical, then grants
//   mode=verify             only well-formed requests: a read and a write round trip in both
//                           addressings, then the whole disk; "FRONTEND: ..." lines, ending
//                           with "FRONTEND: done P/T" (a later guest is still served correctly)
//   mode=load               well-formed IO without end on every disk (up to two; boot/frontend/
//                           load.h): writes read back, WRITE_ZEROES, DISCARD, and on read-only
//                           disks reads of the image and refused writes; "LOAD: ..." lines,
//                           ending with "LOAD: done P/T"
//   addressing=gpa|grant    mode=load's descriptors (default gpa)
//   rounds=N, seconds=S     mode=load stops after N rounds or S seconds (default: never; the
//                           guest is then destroyed in the middle of its IO)
// It powers off when done.

#include <cstdint>
#include <cstdio>
#include <new>

#include "arch/arm64/sysreg.h"
#include "boot/frontend/guest.h"
#include "boot/frontend/hostile.h"
#include "boot/frontend/load.h"
#include "boot/frontend/virtio_driver.h"
#include "kernel/command_line.h"
#include "kernel/log.h"
#include "virtio/mmio_transport.h"

extern "C" char __tls_base[], __arm64_tls_tcb_offset[];
extern "C" uintptr_t __stack_chk_guard;

namespace domd::frontend {
namespace {

alignas(Guest) unsigned char guest_storage[sizeof(Guest)];
// The devices' rings and buffers: guest RAM of our own, page aligned. mode=load drives every
// disk the guest has, the others the first.
constexpr size_t max_load_devices = 2;
alignas(page_size) uint8_t arenas[max_load_devices][arena_pages * page_size];
alignas(VirtioDriver) unsigned char driver_storage[max_load_devices][sizeof(VirtioDriver)];
// Placement storage: a global with a destructor would need a global constructor (refused).
alignas(Mapping) unsigned char window_storage[max_load_devices][sizeof(Mapping)];

enum class Mode : uint8_t { hostile, verify, load };

struct Options {
    Mode mode = Mode::hostile;
    bool gpa = true;    // pass=gpa|grant|both: the addressings of the hostile passes
    bool grant = true;
    Addressing load_addressing = Addressing::physical;  // mode=load: addressing=gpa|grant
    LoadOptions load;
};

bool parse_u32(std::string_view text, uint32_t& out) {
    if (text.empty() || text.size() > 9) return false;
    uint32_t v = 0;
    for (char ch : text) {
        if (ch < '0' || ch > '9') return false;
        v = v * 10 + static_cast<uint32_t>(ch - '0');
    }
    out = v;
    return true;
}

Options parse_options(std::string_view bootargs) {
    Options o;
    auto visit = [&o](std::string_view key, std::string_view value) {
        if (key == "mode" && (value == "hostile" || value == "verify" || value == "load")) {
            o.mode = value == "verify" ? Mode::verify : value == "load" ? Mode::load : Mode::hostile;
        } else if (key == "pass" && (value == "gpa" || value == "grant" || value == "both")) {
            o.gpa = value != "grant";
            o.grant = value != "gpa";
        } else if (key == "addressing" && (value == "gpa" || value == "grant")) {
            o.load_addressing = value == "grant" ? Addressing::grant : Addressing::physical;
        } else if (key == "rounds" && parse_u32(value, o.load.rounds)) {
        } else if (key == "seconds" && parse_u32(value, o.load.seconds)) {
        } else if (key == "mode" || key == "pass" || key == "addressing" || key == "rounds" || key == "seconds") {
            LOG_WARN("%.*s=%.*s: not understood", static_cast<int>(key.size()), key.data(),
                     static_cast<int>(value.size()), value.data());
        }
    };
    (void)for_each_option(bootargs, Callback<void(std::string_view, std::string_view)>::ref(visit));
    return o;
}

unsigned long long ms_since(Guest& g, uint64_t t0) { return (g.now_ns() - t0) / 1000000; }

class Run {
public:
    Run(Guest& g, VirtioDriver& d, const char* prefix) : g_(g), d_(d), prefix_(prefix) {}

    // One well-formed step in the given addressing; prints its line, counts it.
    template <typename Step>
    void step(Addressing a, const char* what, Step&& body) {
        ++total_;
        const uint64_t t0 = g_.now_ns();
        char why[160] = "";
        bool ok = ensure(a, why, sizeof why) && body(why, sizeof why);
        if (ok) ++passed_;
        logging::rawf("%s: %s/%s %s (%llu ms)%s%s\n", prefix_, a == Addressing::grant ? "grant" : "gpa", what,
                      ok ? "ok" : "FAIL", ms_since(g_, t0), ok ? "" : ": ", ok ? "" : why);
    }
    void add(PassResult r) {
        passed_ += r.passed;
        total_ += r.total;
    }
    // Switches addressing (the device is set up again: the rings' addresses change).
    bool ensure(Addressing a, char* why, size_t why_size) {
        if (started_ && d_.addressing() == a) return true;
        d_.set_addressing(a);
        started_ = d_.start().ok();
        if (!started_) snprintf(why, why_size, "device setup failed");
        return started_;
    }
    uint32_t passed() const { return passed_; }
    uint32_t total() const { return total_; }

private:
    Guest& g_;
    VirtioDriver& d_;
    const char* prefix_;
    bool started_ = false;
    uint32_t passed_ = 0;
    uint32_t total_ = 0;
};

[[noreturn]] void stop(Guest& g, const char* prefix, const char* why) {
    logging::rawf("%s: FAIL: %s\n%s: done 0/1\n", prefix, why, prefix);
    g.power_off();
}

// Maps device `i`, checks it is a virtio-mmio version 2 block device, grants its arena to the
// backend, and starts it in `addressing`; stops the guest (a FAIL line) if any of that fails.
VirtioDriver& open_device(Guest& g, size_t i, Addressing addressing, const char* prefix) {
    const VirtioNode& node = g.virtio(i);
    if (node.window.size < virtio::mmio::window_size) stop(g, prefix, "the virtio-mmio window is smaller than 0x200");
    if (!node.has_backend) stop(g, prefix, "no iommus link to a xen,grant-dma node: whom to grant to?");
    // libxl packs a guest's devices 0x200 apart: the second one starts inside a page. The
    // mapping keeps the offset (kernel/mapper.h), so its address is the device's own.
    auto window = Mapping::create(g.mapper(), node.window.base, virtio::mmio::window_size, MapAttrs::mmio());
    if (!window.ok()) stop(g, prefix, "cannot map the virtio-mmio window");
    auto* mapped = ::new (static_cast<void*>(window_storage[i])) Mapping(std::move(window.value()));
    RawMmio regs(mapped->address());
    const uint32_t magic = regs.read32(virtio::mmio::magic_value);
    const uint32_t version = regs.read32(virtio::mmio::version);
    const uint32_t device = regs.read32(virtio::mmio::device_id);
    if (magic != virtio::mmio::magic || version != 2 || device != virtio::device_id::block) {
        LOG_ERROR("device %zu: magic %#x version %u device %u", i, magic, version, device);
        stop(g, prefix, "not a virtio-mmio version 2 block device");
    }
    uint8_t* arena = arenas[i];
    auto arena_pa = g.phys_of(arena);
    auto arena_last = g.phys_of(arena + (arena_pages - 1) * page_size);
    if (!arena_pa.ok() || !arena_last.ok() ||
        arena_last.value().value != arena_pa.value().value + (arena_pages - 1) * page_size)
        stop(g, prefix, "the arena is not contiguous guest RAM");
    auto* d = ::new (static_cast<void*>(driver_storage[i])) VirtioDriver(g, regs, arena, arena_pa.value());
    if (Status s = d->grant_arena(node.backend); !s.ok()) stop(g, prefix, "granting the arena failed");
    d->set_addressing(addressing);
    if (!d->start().ok()) stop(g, prefix, "the device cannot be set up");
    return *d;
}

[[noreturn]] void load_main(Guest& g, const Options& options, uint64_t t_start) {
    size_t count = g.virtio_count() < max_load_devices ? g.virtio_count() : max_load_devices;
    VirtioDriver* drivers[max_load_devices] = {};
    for (size_t i = 0; i < count; ++i) drivers[i] = &open_device(g, i, options.load_addressing, "LOAD");
    LOG_INFO("load mode: %zu disk(s) of %zu, %s addressing, rounds=%u seconds=%u; up %llu ms after entry", count,
             g.virtio_count(), drivers[0]->addressing_name(), options.load.rounds, options.load.seconds,
             ms_since(g, t_start));
    LoadResult r = run_load(drivers, count, options.load);
    for (size_t i = 0; i < count; ++i) (void)drivers[i]->reset();
    logging::rawf("LOAD: done %llu/%llu in %llu ms\n", static_cast<unsigned long long>(r.passed),
                  static_cast<unsigned long long>(r.total), ms_since(g, t_start));
    g.power_off();
}

[[noreturn]] void frontend_main(Guest& g) {
    const uint64_t t_start = g.now_ns();
    // Two grant-table frames: up to two arenas of consecutive refs (arena_pages each).
    static_assert(max_load_devices * arena_pages + xen::GrantTable::first_free_ref <=
                  2 * xen::GrantTable::entries_per_frame);
    if (Status s = g.bring_up(2); !s.ok()) stop(g, "HOSTILE", "bring-up failed (device tree, console or grants)");
    const Options options = parse_options(g.bootargs());
    const Mode run_mode = options.mode;
    if (run_mode == Mode::load) load_main(g, options, t_start);
    const char* prefix = run_mode == Mode::hostile ? "HOSTILE" : "FRONTEND";
    const VirtioNode& node = g.virtio();
    VirtioDriver& d = open_device(g, 0, Addressing::physical, prefix);
    const uint64_t capacity = d.capacity_sectors();
    const uint64_t offered = d.offered_features();
    LOG_INFO("%s mode: backend domain %u, %llu sectors, features offered %#llx, grant refs %u..%u; up %llu ms "
             "after entry",
             run_mode == Mode::hostile ? "hostile" : "verify", node.backend, static_cast<unsigned long long>(capacity),
             static_cast<unsigned long long>(offered), d.first_ref(), d.last_ref(), ms_since(g, t_start));
    if (capacity < 4096) stop(g, prefix, "the disk is smaller than the cases need (2 MiB)");
    char base_why[64];
    if (!set_pattern_base(d, base_why, sizeof base_why)) stop(g, prefix, base_why);

    // What one trapped register access costs here (Xen, domd's IOREQ server, back).
    const uint64_t t_rt = g.now_ns();
    for (int i = 0; i < 32; ++i) (void)d.device_status();
    LOG_INFO("register read round trip: %llu us (mean of 32)",
             static_cast<unsigned long long>((g.now_ns() - t_rt) / 32 / 1000));

    Run run(g, d, prefix);
    auto read_at = [&d](uint64_t sector) {
        return [&d, sector](char* why, size_t n) { return check_read(d, sector, 8, why, n); };
    };
    auto write_at = [&d](uint64_t sector) {
        return [&d, sector](char* why, size_t n) { return check_write(d, sector, 16, why, n); };
    };
    auto whole_disk = [&d, capacity](char* why, size_t n) { return verify_disk(d, capacity, why, n); };

    if (run_mode == Mode::hostile) {
        HostileEnv env;
        env.capacity = capacity;
        env.ram_base = g.platform().memory[0].base.value;
        env.ram_end = env.ram_base + g.platform().memory[0].size;
        env.window = node.window.base.value;
        env.grant_area = g.platform().grant_table_area.base.value;
        env.shared_info = g.shared_info_address().value;
        const Addressing first = options.gpa ? Addressing::physical : Addressing::grant;
        const Addressing last = options.grant ? Addressing::grant : Addressing::physical;
        run.step(first, "baseline-read", read_at(capacity / 2));
        for (Addressing a : {Addressing::physical, Addressing::grant}) {
            if (a == Addressing::physical ? !options.gpa : !options.grant) continue;
            char why[64];
            if (!run.ensure(a, why, sizeof why)) {
                logging::rawf("HOSTILE: %s pass: %s\n", a == Addressing::grant ? "grant" : "gpa", why);
                continue;
            }
            const uint64_t t0 = g.now_ns();
            const uint64_t accesses = d.mmio().accesses();
            PassResult r = run_hostile_pass(d, env);
            run.add(r);
            logging::rawf("HOSTILE: pass %s: %u/%u cases in %llu ms, %llu register accesses\n", d.addressing_name(),
                          r.passed, r.total, ms_since(g, t0),
                          static_cast<unsigned long long>(d.mmio().accesses() - accesses));
        }
        run.step(last, "whole-disk-read", whole_disk);
    } else {
        for (Addressing a : {Addressing::physical, Addressing::grant}) {
            run.step(a, "read", read_at(capacity / 3));
            run.step(a, "write-read-restore", write_at(capacity / 3 + 64));
        }
        run.step(Addressing::physical, "whole-disk-read", whole_disk);
    }
    (void)d.reset();
    LOG_INFO("driver: %llu register accesses, %llu requests waited for (%llu ms), %llu notifies, %llu skipped (NO_NOTIFY), %llu Status polls, "
             "%llu timeouts",
             static_cast<unsigned long long>(d.mmio().accesses()), static_cast<unsigned long long>(d.stats().waits),
             static_cast<unsigned long long>(d.stats().wait_ns / 1000000),
             static_cast<unsigned long long>(d.stats().notifies),
             static_cast<unsigned long long>(d.stats().notifies_skipped),
             static_cast<unsigned long long>(d.stats().status_polls),
             static_cast<unsigned long long>(d.stats().timeouts));
    logging::rawf("%s: done %u/%u in %llu ms\n", prefix, run.passed(), run.total(), ms_since(g, t_start));
    g.power_off();
}

}  // namespace
}  // namespace domd::frontend

extern "C" [[noreturn]] void kernel_main(uint64_t dt_pa, uint64_t load_pa) {
    // picolibc keeps errno in TLS: point TPIDR_EL0 at the image's own TLS block.
    domd::arm64::write_tpidr_el0(reinterpret_cast<uintptr_t>(__tls_base) -
                                 reinterpret_cast<uintptr_t>(__arm64_tls_tcb_offset));
    __stack_chk_guard = domd::arm64::read_cntvct_el0() * 0x9e3779b97f4a7c15ull;
    auto* guest = ::new (static_cast<void*>(domd::frontend::guest_storage)) domd::frontend::Guest(dt_pa, load_pa);
    domd::frontend::frontend_main(*guest);
}
