// The virtio-disk backend end to end on the host: the toolstack's xenstore nodes (a fake
// xenstored), Xen's IOREQ and memory interfaces (fake Xen), a guest driver that programs the
// device only through ioreqs (a fake Linux virtio driver over an ioreq-posting shim), and the
// ramdisk behind it. Discovery, InitWait, Connected, requests both ways, refusals that make
// libxl fail at once, teardown down to the last frame, polled and event modes, INVALIDATE.
#include "tests/test_support.h"

#include "blk/disk_catalog.h"
#include "blk/ram_disk.h"
#include "blk/virtio_blk_spec.h"
#include "kernel/coroutine_pool.h"
#include "kernel/frame_allocator.h"
#include "tests/fakes/fake_guest_memory.h"
#include "tests/fakes/fake_hypercall.h"
#include "tests/fakes/fake_memory.h"
#include "tests/fakes/fake_virtio_driver.h"
#include "tests/fakes/fake_xen_dm.h"
#include "tests/fakes/fake_xen_events.h"
#include "tests/fakes/fake_xen_memory.h"
#include "tests/fakes/xenstore_rig.h"
#include "virtio/mmio_transport.h"
#include "xen/event_channels.h"
#include "xen/grant_table.h"
#include "xen/virtio_disk_backend.h"

using namespace domd;
using test::FakeXenDm;

namespace {

constexpr domid_t self = 1;  // domd (the rig's client)
constexpr domid_t guest = 5;
constexpr uint32_t devid = 51712;
constexpr uint64_t base = 0x02000000;
constexpr uint32_t irq = 33;
constexpr uint64_t disk_bytes = 1 << 20;
const std::string be = "/local/domain/1/backend/virtio_disk/5/51712";

struct World;

// The guest's MMIO accesses as Xen delivers them: posted into an ioreq slot, answered by the
// backend from the loop.
class IoreqShim final : public virtio::MmioHandler {
public:
    explicit IoreqShim(World& world) : world_(world) {}
    virtio::MmioAnswer read(uint64_t offset, uint8_t size) override;
    virtio::MmioAnswer write(uint64_t offset, uint8_t size, uint64_t value) override;

private:
    World& world_;
};

struct World {
    test::XenstoreRig rig{self};
    test::FakePhysMemory memory;
    test::FakeMapper mapper{memory};
    test::FakeHypercall hc;
    test::FakeXenMemory xen_memory{hc, memory, mapper};
    test::FakeXenEvents xen_events{hc, xen_memory.shared_info()};
    FakeXenDm dm{hc, memory, mapper, xen_events, guest, 1, 8 << 20};
    xen::EventChannels events{hc, xen::SharedInfoView(xen_memory.shared_info())};
    FrameAllocator frames;
    xen::GrantMapper grants{hc, frames, mapper};
    std::vector<uint8_t> disk_bytes_ = std::vector<uint8_t>(disk_bytes);
    blk::RamDisk disk{disk_bytes_};
    blk::DiskCatalog catalog;
    std::unique_ptr<xen::VirtioDiskBackend> backend;
    test::FakeGuestMemory guest_view{dm.contiguous_ram(), dm.ram_bytes, FakeXenDm::ram_base};
    IoreqShim shim{*this};

    World() {
        for (size_t i = 0; i < disk_bytes_.size(); ++i) disk_bytes_[i] = static_cast<uint8_t>(i * 13 + i / 512);
        (void)frames.add_region(PhysRange{PhysAddr{uint64_t{1} << 33}, uint64_t{1} << 30});
        (void)catalog.add("disk0", disk);
        // What libxl gives a domU: its home, writable by it; backend/ made by the toolstack.
        rig.xsd.set("/local/domain/1", "", {{xen::XsPerm::none, 0}, {xen::XsPerm::read, 1}});
        rig.xsd.set("/local/domain/1/backend", "", {{xen::XsPerm::none, 1}});
        rig.xsd.set("/local/domain/1/data", "", {{xen::XsPerm::none, 1}});
        backend = std::make_unique<xen::VirtioDiskBackend>(
            xen::VirtioDiskBackend::Services{hc, events, frames, mapper, grants, rig.client, rig.timers, rig.xsd}, catalog);
    }
    ~World() {
        backend.reset();
        rig.settle();
    }

    // One pass of domd's loop, then xenstored's turn and due timers.
    bool step() {
        bool did = events.dispatch_pending(64) > 0;
        did |= backend->poll();
        did |= rig.step();
        return did;
    }
    template <typename Done>
    bool run_until(Done done, int limit = 2000) {
        for (int i = 0; i < limit; ++i) {
            if (done()) return true;
            if (!step()) {
                auto next = rig.timers.next_deadline();
                if (next && *next > rig.xsd.clock_ns) rig.xsd.clock_ns = *next;
            }
        }
        return done();
    }
    void settle(int passes = 50) {
        for (int i = 0; i < passes; ++i) step();
    }

    // libxl's device_disk_add for a standalone virtio disk whose backend is domd, then the
    // watch event xenstored would fire.
    void toolstack_adds(const std::map<std::string, std::string>& overrides = {}) {
        std::map<std::string, std::string> keys = {
            {"frontend", "/local/domain/5/device/virtio_disk/51712"}, {"frontend-id", "5"}, {"online", "1"},
            {"state", "1"}, {"mode", "w"}, {"params", "disk0"}, {"type", "standalone"},
            {"specification", "virtio"}, {"transport", "mmio"}, {"base", "33554432"}, {"irq", "33"},
            {"discard-enable", "1"}, {"device-type", "disk"}, {"dev", "xvda"},
        };
        for (auto& [k, v] : overrides) keys[k] = v;
        for (auto& [k, v] : keys)
            if (v != "<absent>") rig.xsd.set(be + "/" + k, v, {{xen::XsPerm::none, 1}});
        rig.xsd.inject_event(be, "domd-virtio-disk");
    }
    void toolstack_removes() {
        rig.xsd.set(be + "/online", "0", {{xen::XsPerm::none, 1}});
        rig.xsd.set(be + "/state", "5", {{xen::XsPerm::none, 1}});
        rig.xsd.inject_event(be + "/state", "domd-virtio-disk");
    }
    std::string node(const std::string& key) { return rig.xsd.get(be + "/" + key).value_or("<absent>"); }
    bool state_is(const std::string& s) { return node("state") == s; }
};

virtio::MmioAnswer IoreqShim::read(uint64_t offset, uint8_t size) {
    world_.dm.post_mmio_read(0, base + offset, size);
    uint64_t data = 0;
    if (!world_.run_until([&] { return world_.dm.take_answer(0, &data); }, 200)) return virtio::MmioAnswer::later();
    return virtio::MmioAnswer::read_value(data);
}

virtio::MmioAnswer IoreqShim::write(uint64_t offset, uint8_t size, uint64_t value) {
    world_.dm.post_mmio_write(0, base + offset, size, value);
    if (!world_.run_until([&] { return world_.dm.take_answer(0); }, 200)) return virtio::MmioAnswer::later();
    return virtio::MmioAnswer::ok();
}

// A read or write of `sectors` at `sector` through queue 0; returns the status byte.
uint8_t transfer(World& w, test::FakeVirtioDriver& driver, bool write, uint64_t sector, uint32_t bytes,
                 uint64_t& data) {
    blk::VirtioBlkReqHeader header{write ? blk::request_type::out : blk::request_type::in, 0, sector};
    uint64_t hdr = driver.alloc_bytes(&header, sizeof header);
    if (!data) data = driver.alloc(bytes, 4096);
    uint64_t status = driver.alloc(1);
    w.guest_view.write<uint8_t>(status, 0xff);
    driver.add(0, {{hdr, sizeof header, false}, {data, bytes, !write}, {status, 1, true}});
    (void)driver.kick(0);
    bool done = w.run_until([&] { return !driver.take_used(0).empty(); }, 500);
    return done ? w.guest_view.read<uint8_t>(status) : 0xee;
}

}  // namespace

TEST_GROUP(VirtioDiskBackend) {
    std::unique_ptr<World> w;
    void setup() override {
        w = std::make_unique<World>();
        CHECK(w->backend->start().ok());
        w->settle();
    }
    void teardown() override {
        w.reset();
        LONGS_EQUAL(0, (long)coroutine_pool().stats().in_use);
    }
    void serve() {
        w->toolstack_adds();
        CHECK(w->run_until([&] { return w->state_is("2"); }));
    }
};

TEST(VirtioDiskBackend, ADeviceIsSetUpToInitWait) {
    serve();
    LONGS_EQUAL(1, (long)w->backend->live_devices());
    LONGS_EQUAL(1, (long)w->dm.servers.size());
    auto& server = w->dm.servers.begin()->second;
    CHECK(server.enabled);
    CHECK(server.ranges.count({base, base + 0x1ff}) == 1);
    CHECK(w->xen_events.ports.size() >= 1);
    UNSIGNED_LONGLONGS_EQUAL(1, w->backend->stats().devices_served);
}

TEST(VirtioDiskBackend, TheGuestDriverProbesAndTheDeviceGoesConnected) {
    serve();
    test::FakeVirtioDriver driver(w->shim, w->guest_view);
    LONGS_EQUAL(0x74726976, (long)driver.read32(virtio::mmio::magic_value));
    LONGS_EQUAL(2, (long)driver.read32(virtio::mmio::device_id));
    CHECK(driver.probe(virtio::features::version_1 | blk::blk_features::flush));
    CHECK(w->run_until([&] { return w->state_is("4"); }));
}

TEST(VirtioDiskBackend, ReadsAndWritesReachTheDisk) {
    serve();
    test::FakeVirtioDriver driver(w->shim, w->guest_view);
    CHECK(driver.probe(virtio::features::version_1));
    uint64_t data = 0;
    LONGS_EQUAL(blk::blk_status::ok, transfer(*w, driver, false, 3, 4096, data));
    CHECK(memcmp(w->guest_view.at(data), w->disk_bytes_.data() + 3 * 512, 4096) == 0);
    memset(w->guest_view.at(data), 0xab, 4096);
    LONGS_EQUAL(blk::blk_status::ok, transfer(*w, driver, true, 100, 4096, data));
    CHECK(w->disk_bytes_[100 * 512] == 0xab && w->disk_bytes_[100 * 512 + 4095] == 0xab);
    // Past the end: an error status, not a crash.
    uint64_t more = 0;
    LONGS_EQUAL(blk::blk_status::ioerr, transfer(*w, driver, false, disk_bytes / 512, 512, more));
    // The guest's RAM was mapped once: no foreign mapping per request.
    size_t batches = w->dm.foreign_batches.size();
    LONGS_EQUAL(blk::blk_status::ok, transfer(*w, driver, false, 8, 4096, data));
    LONGS_EQUAL((long)batches, (long)w->dm.foreign_batches.size());
    // Interrupts went to the device's SPI.
    CHECK(!w->dm.irq_levels.empty() && w->dm.irq_levels.back().first == irq);
}

TEST(VirtioDiskBackend, InPolledModeRequestsAreServedWithoutKicks) {
    w->backend->set_polling(true);
    serve();
    test::FakeVirtioDriver driver(w->shim, w->guest_view);
    CHECK(driver.probe(virtio::features::version_1));
    uint64_t data = 0;
    LONGS_EQUAL(blk::blk_status::ok, transfer(*w, driver, false, 0, 512, data));
    // While polling, the device tells the driver not to notify.
    uint64_t again = 0;
    blk::VirtioBlkReqHeader header{blk::request_type::in, 0, 1};
    uint64_t hdr = driver.alloc_bytes(&header, sizeof header);
    again = driver.alloc(512);
    uint64_t status = driver.alloc(1);
    driver.add(0, {{hdr, sizeof header, false}, {again, 512, true}, {status, 1, true}});
    CHECK_FALSE(driver.kick(0));
    CHECK(w->run_until([&] { return !driver.take_used(0).empty(); }));
    LONGS_EQUAL(blk::blk_status::ok, w->guest_view.read<uint8_t>(status));
}

// While polled, a guest that takes one completion per interrupt (queue depth 1) is interrupted
// at once; after an interrupt that announced several completions, the next waits until the
// guest has submitted nothing for irq_hold_ns, or irq_hold_max_ns passed: a guest that keeps a
// deep queue pays Linux's two register traps per burst, not per completion.
TEST(VirtioDiskBackend, WhilePolledABurstTakesOneInterruptAndDepthOneNeverWaits) {
    w->backend->set_polling(true);
    serve();
    test::FakeVirtioDriver driver(w->shim, w->guest_view);
    CHECK(driver.probe(virtio::features::version_1));
    const xen::VirtioDiskOptions options;
    uint64_t data = driver.alloc(512, 4096);
    auto add = [&](uint64_t sector) {
        blk::VirtioBlkReqHeader header{blk::request_type::in, 0, sector};
        uint64_t hdr = driver.alloc_bytes(&header, sizeof header);
        driver.add(0, {{hdr, sizeof header, false}, {data, 512, true}, {driver.alloc(1), 1, true}});
    };
    auto irqs = [&] { return w->dm.irq_levels.size(); };
    auto advance = [&](uint64_t ns) { w->rig.xsd.clock_ns += ns; };
    // The guest's side of an interrupt: acknowledge it and take what was completed.
    auto take = [&] {
        (void)driver.handle_interrupt();
        return driver.take_used(0).size();
    };

    // Depth 1: every interrupt at once (the loop's clock does not move here).
    for (uint64_t i = 0; i < 3; ++i) {
        size_t before = irqs();
        add(i);
        w->settle(5);
        LONGS_EQUAL(before + 1, irqs());
        LONGS_EQUAL(1, take());
    }
    // A burst in one pass: its interrupt goes at once too (the last one announced one request).
    size_t before = irqs();
    for (uint64_t i = 0; i < 4; ++i) add(10 + i);
    w->settle(5);
    LONGS_EQUAL(before + 1, irqs());
    LONGS_EQUAL(4, take());
    // That interrupt announced four: the next completion's interrupt waits while the guest
    // goes on submitting, and goes once it stopped for irq_hold_ns.
    before = irqs();
    add(20);
    w->settle(5);
    advance(options.irq_hold_ns / 2);
    add(21);
    w->settle(5);
    advance(options.irq_hold_ns / 2 + 1000);
    w->settle(5);
    LONGS_EQUAL(before, irqs());  // 21 came less than irq_hold_ns ago
    advance(options.irq_hold_ns / 2);
    w->settle(5);
    LONGS_EQUAL(before + 1, irqs());
    LONGS_EQUAL(2, take());
    UNSIGNED_LONGLONGS_EQUAL(1, w->backend->stats().irq_holds);
    // A guest that never stops submitting still gets its interrupt after irq_hold_max_ns.
    before = irqs();
    for (uint64_t t = 0; t <= options.irq_hold_max_ns; t += options.irq_hold_ns / 2) {
        add(30);
        w->settle(3);
        advance(options.irq_hold_ns / 2);
    }
    w->settle(3);
    LONGS_EQUAL(before + 1, irqs());
    // Leaving polled mode raises what is held at once: nothing waits for a sleeping loop.
    CHECK(take() > 1);
    before = irqs();
    add(40);
    w->settle(3);
    LONGS_EQUAL(before, irqs());
    w->backend->set_polling(false);
    LONGS_EQUAL(before + 1, irqs());
}

TEST(VirtioDiskBackend, AnInvalidateRemapsAndRequestsGoOn) {
    serve();
    test::FakeVirtioDriver driver(w->shim, w->guest_view);
    CHECK(driver.probe(virtio::features::version_1));
    uint64_t data = 0;
    LONGS_EQUAL(blk::blk_status::ok, transfer(*w, driver, false, 0, 4096, data));
    size_t batches = w->dm.foreign_batches.size();
    w->dm.post(0, IOREQ_TYPE_INVALIDATE, 0, 0, false);
    CHECK(w->run_until([&] { return w->dm.take_answer(0); }));
    LONGS_EQUAL(blk::blk_status::ok, transfer(*w, driver, false, 1, 4096, data));
    CHECK(w->dm.foreign_batches.size() > batches);  // mapped again, lazily
    CHECK(memcmp(w->guest_view.at(data), w->disk_bytes_.data() + 512, 4096) == 0);
}

TEST(VirtioDiskBackend, TeardownGoesToClosedRemovesTheDirectoryAndGivesEverythingBack) {
    uint64_t free_before = w->frames.free_frames();
    serve();
    test::FakeVirtioDriver driver(w->shim, w->guest_view);
    CHECK(driver.probe(virtio::features::version_1));
    uint64_t data = 0;
    LONGS_EQUAL(blk::blk_status::ok, transfer(*w, driver, false, 0, 4096, data));
    w->toolstack_removes();
    CHECK(w->run_until([&] { return !w->rig.xsd.exists(be); }));
    CHECK(w->run_until([&] { return w->backend->live_guests() == 0; }));
    LONGS_EQUAL(0, (long)w->backend->live_devices());
    CHECK(w->dm.servers.empty());
    LONGS_EQUAL(0, (long)w->mapper.live_reservations());
    LONGS_EQUAL(0, (long)w->mapper.pages_mapped_at());
    UNSIGNED_LONGLONGS_EQUAL(free_before, w->frames.free_frames());
    // A new guest's device after that is served again.
    serve();
    LONGS_EQUAL(1, (long)w->backend->live_devices());
}

TEST(VirtioDiskBackend, ClosedStaysReadableForLibxlBeforeTheDirectoryGoes) {
    serve();
    w->toolstack_removes();
    CHECK(w->run_until([&] { return w->state_is("6"); }));
    const uint64_t closed_at = w->rig.xsd.clock_ns;
    // libxl reads the state node when its watch fires: it must still find Closed there.
    w->settle();
    CHECK(w->state_is("6"));
    CHECK(w->run_until([&] { return !w->rig.xsd.exists(be); }));
    CHECK(w->rig.xsd.clock_ns - closed_at >= xen::VirtioDiskBackend::closed_linger_ns);
}

TEST(VirtioDiskBackend, ClosedStaysLongEnoughForABusyToolstackAndGoesWellInsideItsTenSeconds) {
    serve();
    w->toolstack_removes();
    CHECK(w->run_until([&] { return w->state_is("6"); }));
    const uint64_t closed_at = w->rig.xsd.clock_ns;
    // A loaded dom0 took more than 500 ms to act on the state watch (e2e many-frontends: both
    // devices of a destroyed guest came back "unable to remove device"): 1.5 s later, Closed is
    // still there to be read.
    w->settle();  // domd sees its write done and starts the wait (no virtual time passes)
    w->rig.xsd.clock_ns = closed_at + 1'500'000'000;
    w->settle();
    CHECK(w->rig.xsd.exists(be));
    CHECK(w->state_is("6"));
    // libxl then waits at most 10 s (LIBXL_DESTROY_TIMEOUT) for the directory to go.
    CHECK(w->run_until([&] { return !w->rig.xsd.exists(be); }));
    CHECK(w->rig.xsd.clock_ns - closed_at <= 5'000'000'000);
}

TEST(VirtioDiskBackend, AGuestThatIsGoneCountsAsTornDown) {
    serve();
    w->dm.guest_gone = true;
    w->toolstack_removes();
    CHECK(w->run_until([&] { return !w->rig.xsd.exists(be) && w->backend->live_guests() == 0; }));
}

TEST(VirtioDiskBackend, AMissingDiskIsRefusedAtOnceWithItsReason) {
    w->toolstack_adds({{"params", "nosuchdisk"}});
    CHECK(w->run_until([&] { return w->node("state") == "<absent>"; }));
    STRCMP_EQUAL("no such disk", w->node("error").c_str());
    // Still readable once libxl has removed the device's directory.
    CHECK(w->run_until([&] { return w->rig.xsd.exists("/local/domain/1/data/domd/last-refusal"); }));
    STRCMP_EQUAL("domain 5 device 51712: no such disk",
                 w->rig.xsd.get("/local/domain/1/data/domd/last-refusal").value_or("").c_str());
    CHECK(w->dm.servers.empty());
    UNSIGNED_LONGLONGS_EQUAL(1, w->backend->stats().setup_failures);
}

TEST(VirtioDiskBackend, HostileOrBrokenKeysAreRefused) {
    const std::vector<std::map<std::string, std::string>> cases = {
        {{"base", "0x2000000"}},   // libxl 4.17 writes decimal; hex is accepted (4.18 style)...
        {{"base", "33554433"}},    // ...but not a misaligned window
        {{"base", "34603008"}},    // 0x2100000: past the virtio-mmio window
        {{"base", "-1"}},
        {{"irq", "32"}},           // below the virtio SPIs
        {{"irq", "44"}},           // above them
        {{"frontend-id", "6"}},    // not the frontend the path names
        {{"transport", "pci"}},
        {{"irq", "<absent>"}},
    };
    int refused = 0;
    for (size_t i = 0; i < cases.size(); ++i) {
        w.reset();
        w = std::make_unique<World>();
        CHECK(w->backend->start().ok());
        w->settle();
        w->toolstack_adds(cases[i]);
        w->run_until([&] { return w->state_is("2") || w->node("state") == "<absent>"; });
        if (w->node("state") == "<absent>") ++refused;
        if (i == 0) CHECK(w->state_is("2"));
    }
    LONGS_EQUAL((long)cases.size() - 1, refused);
}

TEST(VirtioDiskBackend, AReadOnlyDiskLineRefusesWrites) {
    w->toolstack_adds({{"mode", "r"}});
    CHECK(w->run_until([&] { return w->state_is("2"); }));
    test::FakeVirtioDriver driver(w->shim, w->guest_view);
    CHECK(driver.probe(virtio::features::version_1 | blk::blk_features::ro));
    CHECK(driver.has(blk::blk_features::ro));
    uint64_t data = 0;
    LONGS_EQUAL(blk::blk_status::ioerr, transfer(*w, driver, true, 0, 512, data));
    LONGS_EQUAL(blk::blk_status::ok, transfer(*w, driver, false, 0, 512, data));
}

TEST(VirtioDiskBackend, WithoutIoreqSupportTheReasonSaysSo) {
    w->dm.fail_dm_op[XEN_DMOP_create_ioreq_server] = -XEN_ENOSYS;
    w->toolstack_adds();
    CHECK(w->run_until([&] { return w->node("state") == "<absent>"; }));
    CHECK(w->node("error").find("IOREQ") != std::string::npos);
}

TEST(VirtioDiskBackend, CountersArePublishedAsOneNodePerDevice) {
    serve();
    test::FakeVirtioDriver driver(w->shim, w->guest_view);
    CHECK(driver.probe(virtio::features::version_1 | blk::blk_features::flush));
    uint64_t data = 0;
    LONGS_EQUAL(blk::blk_status::ok, transfer(*w, driver, false, 0, 4096, data));
    LONGS_EQUAL(blk::blk_status::ok, transfer(*w, driver, true, 0, 4096, data));
    w->backend->publish_stats();
    w->settle();
    std::string stats = w->node("stats");
    CHECK(stats.find("in=1 out=1 flush=0") != std::string::npos);
    CHECK(stats.find("err=0") != std::string::npos);
    CHECK(stats.find("map_miss=1") != std::string::npos);  // RAM mapped once
    CHECK(stats.find(" q0=2/2/") != std::string::npos);    // two kicks, two used entries
    CHECK(stats.find("ioreq_w=") != std::string::npos && stats.find("ioreq_r=0") == std::string::npos);
}

TEST(VirtioDiskBackend, ACleanStopDestroysServersAndGivesEverythingBack) {
    uint64_t free_before = w->frames.free_frames();
    serve();
    test::FakeVirtioDriver driver(w->shim, w->guest_view);
    CHECK(driver.probe(virtio::features::version_1));
    uint64_t data = 0;
    LONGS_EQUAL(blk::blk_status::ok, transfer(*w, driver, false, 0, 4096, data));
    LONGS_EQUAL(1, (long)w->backend->stop());
    CHECK(w->dm.servers.empty());
    LONGS_EQUAL(0, (long)w->backend->live_guests());
    LONGS_EQUAL(0, (long)w->mapper.live_reservations());
    UNSIGNED_LONGLONGS_EQUAL(free_before, w->frames.free_frames());
    w->settle();
    CHECK(w->state_is("6"));
}

TEST(VirtioDiskBackend, ADisksProfileChoosesItsDevicesTransport) {
    // The same bytes under two more names: one served by the legacy transport, one without
    // packed rings (disks=...:legacy, ...:split).
    CHECK(w->catalog.add("old", w->disk, blk::DeviceProfile{.legacy_mmio = true, .packed_rings = false}).ok());
    CHECK(w->catalog.add("flat", w->disk, blk::DeviceProfile{.legacy_mmio = false, .packed_rings = false}).ok());

    w->toolstack_adds({{"params", "old"}, {"mode", "r"}});
    CHECK(w->run_until([&] { return w->state_is("2"); }));
    {
        test::FakeVirtioDriver driver(w->shim, w->guest_view);
        LONGS_EQUAL(1, (long)driver.read32(virtio::mmio::version));
        CHECK(driver.probe(virtio::features::version_1 | blk::blk_features::flush));
        CHECK(driver.legacy());
        uint64_t data = 0;
        LONGS_EQUAL(blk::blk_status::ok, transfer(*w, driver, false, 5, 4096, data));
        CHECK(memcmp(w->guest_view.at(data), w->disk_bytes_.data() + 5 * 512, 4096) == 0);
    }
    w->toolstack_removes();
    CHECK(w->run_until([&] { return w->node("state") == "<absent>"; }));

    w->toolstack_adds({{"params", "flat"}, {"mode", "r"}});
    CHECK(w->run_until([&] { return w->state_is("2"); }));
    test::FakeVirtioDriver driver(w->shim, w->guest_view);
    LONGS_EQUAL(2, (long)driver.read32(virtio::mmio::version));
    CHECK(driver.probe(virtio::features::version_1 | virtio::features::ring_packed));
    CHECK_FALSE(driver.packed());  // not offered: the driver falls back to split rings
    uint64_t data = 0;
    LONGS_EQUAL(blk::blk_status::ok, transfer(*w, driver, false, 7, 4096, data));
    CHECK(memcmp(w->guest_view.at(data), w->disk_bytes_.data() + 7 * 512, 4096) == 0);
}
