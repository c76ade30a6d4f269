// domd, assembled: the concrete arm64 pieces under the portable kernel/ and xen/ layers, and
// the event loop that runs everything. One instance, in static storage (boot/main.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "arch/arm64/hypercall.h"
#include "arch/arm64/kernel_memory.h"
#include "arch/arm64/platform.h"
#include "boot/event_channel_source.h"
#include "boot/options.h"
#include "boot/test_hooks.h"
#include "boot/xenstore_service.h"
#include "blk/disk_catalog.h"
#include "blk/disk_layout.h"
#include "blk/ram_disk.h"
#include "kernel/devicetree.h"
#include "kernel/event_loop.h"
#include "kernel/frame_allocator.h"
#include "kernel/log_buffer.h"
#include "kernel/mapper.h"
#include "kernel/task.h"
#include "xen/console_ring.h"
#include "xen/counting_hypercall.h"
#include "xen/event_channels.h"
#include "xen/grant_table.h"
#include "xen/guest_control.h"
#include "xen/hypervisor.h"
#include "xen/pv_console.h"
#include "xen/shared_info.h"
#include "xen/virtio_disk_backend.h"

namespace domd {

class Domd {
public:
    Domd(uint64_t dt_pa, uint64_t load_pa);
    [[noreturn]] void run();

private:
    Status map_device_tree();
    void take_extended_regions();
    Status start_event_channels();
    Status start_console();
    Status start_xenstore();
    Status start_grant_tables();
    // The disk in xl's ramdisk= module, mapped and catalogued under its name.
    Status start_disk();
    void apply_mode(IdleMode mode);
    static const char* mode_name(IdleMode mode);
    // dom0 writes data/domd/stats-request: every device's counters into its backend directory,
    // domd's own into data/domd/stats, and the same onto the console.
    void on_stats_request(std::string_view path, std::string_view token);
    void publish_stats();
    void log_footprint();
    void on_mode_node(std::string_view path, std::string_view token);
    Task<Status> read_mode();
    void print_boot_facts();
    void print_xen_facts();
    void on_control_request(xen::ControlRequest request);
    void on_log_level_node(std::string_view path, std::string_view token);
    Task<Status> read_log_level();
    Task<Status> bring_up();
    void on_brought_up(Status status);
    Status fail_step(const char* what, Err error);
    [[noreturn]] void fail(const char* what, Err error);
    [[noreturn]] void stop(xen::ShutdownReason reason);

    arm64::HvcHypercall hvc_;
    // Every hypercall goes through this door, counted by kind (data/domd/stats).
    xen::CountingHypercall hypercall_{hvc_};
    xen::Hypervisor hv_{hypercall_};
    xen::DebugConsole debug_console_{hv_};
    LogBuffer boot_log_;
    arm64::KernelMemory memory_;
    Mapper& mapper_;
    FrameAllocator frames_;

    uint64_t dt_pa_ = 0;
    Mapping dt_map_;
    Platform platform_;
    Options options_;
    arm64::Arm64Platform machine_{hv_};
    EventLoop loop_{machine_, IdleMode::block};

    std::optional<xen::SharedInfoPage> shared_info_;
    std::optional<xen::EventChannels> events_;
    std::optional<EventChannelSource> event_source_;

    Mapping console_page_;
    std::optional<xen::ConsoleRing> console_ring_;
    std::optional<xen::PortNotifier> console_notifier_;
    std::optional<xen::PvConsole> console_;

    std::optional<xen::GrantTable> grant_table_;
    std::optional<xen::GrantMapper> grant_mapper_;

    std::optional<XenstoreService> xenstore_;
    std::optional<xen::GuestControl> control_;
    std::optional<TestHooks> test_hooks_;
    blk::DiskCatalog disks_;
    static constexpr size_t max_ram_disks = 8;
    std::array<std::optional<blk::RamDisk>, max_ram_disks> ram_disks_;
    std::optional<xen::VirtioDiskBackend> backend_;
    Job mode_job_;
    bool first_stats_event_seen_ = false;
    char mode_text_[16];
    Job bring_up_job_;
    Job log_level_job_;
    char log_level_text_[16];
    uint64_t domid_ = 0;
    xen::ShutdownReason exit_reason_ = xen::ShutdownReason::poweroff;
};

}  // namespace domd
