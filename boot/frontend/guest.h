// The frontend's own machine: an ordinary xl-created guest built from domd's layers. It brings
// up only what a virtio driver needs: the device tree (RAM, /hypervisor, the virtio-mmio node
// libxl wrote for its disk), the PV console (the lines the e2e scenario reads), a grant table
// (for grant-based descriptors) and a clock. No GIC, no event loop: the driver polls.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "arch/arm64/generic_timer.h"
#include "arch/arm64/hypercall.h"
#include "arch/arm64/kernel_memory.h"
#include "kernel/addr.h"
#include "kernel/devicetree.h"
#include "kernel/frame_allocator.h"
#include "kernel/log_buffer.h"
#include "kernel/mapper.h"
#include "kernel/result.h"
#include "xen/console_ring.h"
#include "xen/event_channels.h"
#include "xen/grant_table.h"
#include "xen/hypervisor.h"
#include "xen/pv_console.h"
#include "xen/shared_info.h"

namespace domd::frontend {

// The virtio-mmio node libxl 4.17 writes for a `specification=virtio` disk
// (libxl_arm.c make_virtio_mmio_node): compatible "virtio,mmio", one reg (base, 0x200), one
// edge SPI, and, when the backend is not dom0, `iommus = <&xen_iommu BACKEND_DOMID>` where
// xen_iommu is compatible "xen,grant-dma" (Linux's binding xen,grant-dma.yaml).
struct VirtioNode {
    PhysRange window;
    uint32_t intid = 0;
    bool has_backend = false;  // the iommus link to a xen,grant-dma node
    uint16_t backend = 0;      // its one cell: the backend's domid, whom we grant to
};

// The virtio,mmio nodes of the blob, in ascending address order (libxl places a guest's disks
// in the order of its disk= line), at most `max` of them; Err::not_found if there is none.
Result<size_t> find_virtio_nodes(const void* blob, VirtioNode* out, size_t max);

class Guest {
public:
    Guest(uint64_t dt_pa, uint64_t load_pa);
    Guest(const Guest&) = delete;
    Guest& operator=(const Guest&) = delete;

    // Device tree, event channels, PV console, grant table (grant_frames of our own). Logs
    // what it found; an error means the frontend cannot run at all.
    Status bring_up(uint32_t grant_frames);

    const Platform& platform() const { return platform_; }
    static constexpr size_t max_devices = 4;
    const VirtioNode& virtio(size_t i = 0) const { return virtio_[i]; }
    size_t virtio_count() const { return virtio_count_; }
    std::string_view bootargs() const { return platform_.bootargs; }
    Mapper& mapper() { return mapper_; }
    xen::Hypervisor& hv() { return hv_; }
    xen::GrantTable& grants() { return *grant_table_; }
    uint64_t now_ns() const { return timer_.now_ns(); }
    PhysAddr shared_info_address() const { return shared_info_->gfn().address(); }
    // Extended-region space kept free right after RAM: hostile cases aim there and must find
    // nothing (our own pages, shared_info included, go further up).
    static constexpr uint64_t kept_free_after_ram = uint64_t{256} << 20;

    // Where an object of the image (BSS) is in our guest-physical space: through our own page
    // tables, never by assuming an offset.
    Result<PhysAddr> phys_of(const void* p) const { return mapper_.to_phys(VirtAddr::of(p)); }

    // Waits (bounded) until xenconsoled has taken everything we wrote, then powers off: a
    // domain that dies with a full console ring loses its last lines.
    [[noreturn]] void power_off();

private:
    Status map_device_tree(uint64_t dt_pa);
    Status start_console();

    arm64::HvcHypercall hvc_;
    xen::Hypervisor hv_{hvc_};
    xen::DebugConsole debug_console_{hv_};
    LogBuffer boot_log_;
    arm64::KernelMemory memory_;
    Mapper& mapper_;
    FrameAllocator frames_;
    arm64::GenericTimer timer_;
    uint64_t dt_pa_;
    Mapping dt_map_;
    Platform platform_;
    VirtioNode virtio_[max_devices];
    size_t virtio_count_ = 0;
    std::optional<xen::SharedInfoPage> shared_info_;
    std::optional<xen::EventChannels> events_;
    Mapping console_page_;
    std::optional<xen::ConsoleRing> console_ring_;
    std::optional<xen::PortNotifier> console_notifier_;
    std::optional<xen::PvConsole> console_;
    std::optional<xen::GrantTable> grant_table_;
};

}  // namespace domd::frontend
