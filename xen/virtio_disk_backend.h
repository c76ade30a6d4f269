// The virtio-disk backend: what makes domd a driver domain. It follows libxl's contract for
// `specification=virtio` disks whose backend is domd (/work/shared/xen-abi.md, "libxl 4.17
// virtio disks") and serves each one through an IOREQ server for its guest:
//
//  - discovery: a watch on backend/virtio_disk under domd's home (libxl 4.17) and on
//    backend/virtio (4.18+'s generic virtio devices, block ones only);
//  - setup of a device: its keys read and checked (they are the toolstack's, but xenstore text
//    is parsed strictly all the same), its disk opened from the catalogue by the `params`
//    (xl's target=) name, the guest's IOREQ server and RAM view created for its first device,
//    its virtio-mmio window claimed, then state InitWait (libxl waits for it 10 s at most);
//    state Connected once the guest's driver sets DRIVER_OK. A device that cannot be served
//    gets the reason in its `error` node and its `state` node removed, which makes libxl's wait
//    fail at once instead of after 10 s;
//  - teardown when libxl takes the device down (online=0 or state Closing): the window, the
//    device, and with the guest's last device its server and RAM mappings go (the mappings in
//    slices from the loop), then state Closed and the backend directory removed. A guest that
//    is already gone counts as torn down;
//  - the loop: every pass answers the guests' ioreqs, services the virtqueues, and gives back
//    a slice of dropped mappings. Polled mode spins with guest notifications suppressed; event
//    mode blocks until an event channel or a guest's kick.
//
// Nothing here waits on xenstore: device conversations are coroutines (kernel/task.h) resumed
// by the xenstore client from the loop, so a slow xenstored delays only the device it concerns.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "blk/disk_catalog.h"
#include "blk/virtio_blk.h"
#include "kernel/event_loop.h"
#include "kernel/frame_allocator.h"
#include "kernel/limits.h"
#include "kernel/mapper.h"
#include "kernel/notifier.h"
#include "kernel/task.h"
#include "virtio/mmio_transport.h"
#include "xen/device_memory.h"
#include "xen/event_channels.h"
#include "xen/grant_table.h"
#include "xen/guest_ram.h"
#include "xen/hypercall.h"
#include "xen/ioreq_server.h"
#include "xen/xenstore.h"

namespace domd::xen {

// What every device gets: its queues (VIRTIO_BLK_F_MQ above one) and their size.
struct VirtioDiskOptions {
    uint16_t queues = 0;  // 0: one per guest vCPU
    uint16_t queue_size = 256;
    // Interrupt holding while polled (irq_hold_us=). Each interrupt costs a Linux virtio-mmio
    // guest two register traps (InterruptStatus, InterruptACK), and Linux re-arms after every
    // one: a guest with a deep queue otherwise takes an interrupt for nearly every completion.
    // When a device's last interrupt announced more than one completion (a guest that does not
    // wait for each one), the next interrupt waits until the guest has submitted nothing for
    // irq_hold_ns, and never longer than irq_hold_max_ns: a burst then costs one interrupt. A
    // guest whose interrupts announce one completion each (queue depth 1) is never held up.
    // 0: every interrupt at once.
    uint32_t irq_hold_ns = 50'000;
    uint32_t irq_hold_max_ns = 400'000;
};

class VirtioDiskBackend final : public EventSource {
public:
    static constexpr size_t max_guests = limits::max_guests;
    static constexpr size_t max_devices = limits::max_devices;
    // Frames given back to Xen per loop pass while a guest's mappings drain (one hypercall
    // each): small enough that another guest's requests wait at most that long.
    static constexpr size_t drain_budget = 64;

    struct Services {
        Hypercall& hypercall;
        EventChannels& events;
        FrameAllocator& frames;
        Mapper& mapper;
        GrantMapper& grants;
        Xenstore& store;
        TimerQueue& timers;
        const Clock& clock;
    };
    // How long a Closed device's directory stays after domd wrote Closed. libxl reads the state
    // node when its watch fires and takes a node already gone for a failed removal ("unable to
    // remove device", libxl_event.c devstate_callback), so it gets time to see Closed; it then
    // waits up to 10 s for the directory to go. 500 ms was seen too short with dom0 sharing both
    // pCPUs with a polling domd and a busy guest under TCG, and in e2e many-frontends: this
    // delays a guest's teardown by 2 s, never its IO.
    static constexpr uint64_t closed_linger_ns = 2'000'000'000;
    using Options = VirtioDiskOptions;
    struct Stats {
        uint64_t devices_served = 0;
        uint64_t devices_closed = 0;
        uint64_t setup_failures = 0;
        uint64_t irq_raises = 0;
        uint64_t irq_failures = 0;
        uint64_t irq_holds = 0;  // interrupts that waited for the guest's burst to end
        uint64_t last_setup_ns = 0;  // discovery to InitWait, the last device
    };

    VirtioDiskBackend(const Services& services, blk::DiskCatalog& disks, const Options& options = {});
    VirtioDiskBackend(const VirtioDiskBackend&) = delete;
    VirtioDiskBackend& operator=(const VirtioDiskBackend&) = delete;
    ~VirtioDiskBackend();

    // Watches both backend directories (xenstored fires each watch once at once: the first
    // scan finds the devices already there).
    Status start();
    // A clean stop of domd: every device's counters logged, every IOREQ server destroyed (Xen
    // keeps a server until its guest dies otherwise, and no later domd could take the guest
    // over), every mapping of guest RAM given back, each device's state set to Closed (written
    // without waiting: the caller flushes the xenstore ring). Returns how many devices it ended.
    size_t stop();

    // Polled (the loop spins): ioreq ports masked, guest notifications suppressed. Otherwise
    // every guest access and kick wakes the loop.
    void set_polling(bool polling) override;
    bool polling() const { return polling_; }

    // EventSource.
    bool poll() override;
    bool ready() const override;
    bool prepare_to_block() override;

    // The devices being served, for counters and tests.
    struct DeviceInfo {
        domid_t frontend;
        uint32_t devid;
        uint64_t base;
        uint32_t irq;
        bool writable;
        const virtio::MmioTransport* transport;
        const blk::VirtioBlk* blk;
        const IoreqServer* server;
        const GuestRam* ram;
    };
    // Counters, on request: one compact line per device into <its backend directory>/stats (a
    // single node each: xenstored limits the nodes a domain may own) and onto the console.
    void publish_stats();
    // The device's counters as that line: ioreqs by type (its guest's server), hypercalls the
    // device caused, interrupts raised and notifications suppressed, guest-memory mapping hits
    // and misses, requests by type and errors, and per queue kicks/used/interrupts.
    size_t format_stats(const DeviceInfo& device, std::span<char> out) const;

    size_t live_devices() const;
    size_t live_guests() const;
    const Stats& stats() const { return stats_; }

    template <typename F>
    void for_each_device(F&& visit) const;

private:
    enum class Root : uint8_t { virtio_disk, virtio };
    struct Guest;
    struct Disk;

    // Raises a device's guest interrupt: one set_irq_level per edge, at once or, while polled,
    // held until the guest's burst of submissions ends (VirtioDiskOptions::irq_hold_ns).
    class IrqLine final : public Notifier {
    public:
        IrqLine(VirtioDiskBackend& backend, Guest& guest, Disk& disk, uint32_t irq)
            : backend_(backend), guest_(guest), disk_(disk), irq_(irq) {}
        void notify() override;
        void raise();
        bool held() const { return held_; }
        uint64_t held_since() const { return held_since_; }

    private:
        VirtioDiskBackend& backend_;
        Guest& guest_;
        Disk& disk_;
        uint32_t irq_;
        bool held_ = false;
        uint64_t held_since_ = 0;
        uint64_t used_at_last_raise_ = 0;
        uint64_t last_batch_ = 0;  // completions the last interrupt announced
    };

    struct Guest {
        domid_t dom = 0;
        bool used = false;
        bool closing = false;  // its last device went: mappings draining
        size_t devices = 0;
        std::optional<IoreqServer> server;
        std::optional<GuestRam> ram;
    };

    struct Disk {
        enum class Phase : uint8_t { free, setting_up, serving, closing, failed };
        Phase phase = Phase::free;
        VirtioDiskBackend* owner = nullptr;
        Root root = Root::virtio_disk;
        domid_t frontend = 0;
        uint32_t devid = 0;
        char path[80];  // relative: backend/virtio_disk/<fe>/<devid>
        size_t path_len = 0;
        uint64_t base = 0;
        uint32_t irq = 0;
        bool writable = true;
        uint64_t discovered_ns = 0;
        int published_state = 0;
        bool seen_in_scan = false;
        Guest* guest = nullptr;
        blk::DiskView view;
        std::optional<DeviceMemory> memory;
        std::optional<IrqLine> irq_line;
        std::optional<blk::VirtioBlk> blk;
        std::optional<virtio::MmioTransport> transport;
        bool window = false;
        Job job;
        bool look_again = false;
        char value[96];  // a key's value while it is read
        char id[24];     // the GET_ID answer
        // While an interrupt is held: requests popped so far and when the count last moved.
        uint64_t chains_seen = 0;
        uint64_t last_pop_ns = 0;
        uint64_t used_total() const;
        uint64_t chains_total() const;
        std::string_view path_view() const { return {path, path_len}; }
    };

    void on_backend_event(std::string_view path, std::string_view token);
    void request_scan();
    void on_scan_done(Status status);
    Task<Status> scan();
    Task<Status> scan_root(Root root);
    Disk* find(Root root, domid_t frontend, uint32_t devid);
    Disk* allocate_disk(Root root, domid_t frontend, uint32_t devid);

    void start_job(Disk& disk);
    static void disk_job_done(void* context, Status status);
    void on_disk_job_done(Disk& disk, Status status);
    Task<Status> run_disk(Disk* disk);
    Task<Status> set_up(Disk& disk);
    Task<Status> reevaluate(Disk& disk);
    Task<Status> refuse(Disk& disk, const char* reason);
    Task<Status> close(Disk& disk);
    Task<Result<std::string_view>> read_key(Disk& disk, std::string_view key);

    Result<Guest*> attach_guest(domid_t dom);
    void detach(Disk& disk);
    void log_connected(const Disk& disk) const;
    void log_counters(const Disk& disk) const;
    // Raises every held interrupt (before the loop stops polling or sleeps).
    void release_held_interrupts();
    void finish_guest(Guest& guest);
    void free_disk(Disk& disk);

    Services s_;
    blk::DiskCatalog& disks_;
    Options options_;
    Hypervisor hv_;
    bool polling_ = false;
    bool started_ = false;
    Job scan_job_;
    bool rescan_ = false;
    char listing_[1024];
    char sublisting_[1024];
    std::array<Guest, max_guests> guests_;
    std::array<Disk, max_devices> disks_slots_;
    Stats stats_;
};

template <typename F>
void VirtioDiskBackend::for_each_device(F&& visit) const {
    for (const Disk& d : disks_slots_) {
        if (d.phase != Disk::Phase::serving || !d.transport) continue;
        visit(DeviceInfo{d.frontend, d.devid, d.base, d.irq, d.writable, &*d.transport, &*d.blk,
                         d.guest && d.guest->server ? &*d.guest->server : nullptr,
                         d.guest && d.guest->ram ? &*d.guest->ram : nullptr});
    }
}

}  // namespace domd::xen
