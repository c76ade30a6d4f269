#include "boot/frontend/guest.h"

#include "arch/arm64/shutdown.h"
#include "kernel/log.h"
#include "xen/abi.h"

extern "C" {
#include <libfdt.h>
}

namespace domd::frontend {
namespace {

const arm64::GenericTimer* log_timer = nullptr;
uint64_t log_clock() { return log_timer->now_ns(); }

constexpr uint64_t max_device_tree = 2u << 20;

uint64_t read_cells(const fdt32_t* cells, int count) {
    uint64_t value = 0;
    for (int i = 0; i < count; ++i) value = (value << 32) | fdt32_to_cpu(cells[i]);
    return value;
}

}  // namespace

namespace {

Result<VirtioNode> read_virtio_node(const void* fdt, int node) {
    VirtioNode v;
    int parent = fdt_parent_offset(fdt, node);
    if (parent < 0) return Err::invalid;
    int ac = fdt_address_cells(fdt, parent);
    int sc = fdt_size_cells(fdt, parent);
    if (ac < 1 || ac > 2 || sc < 1 || sc > 2) return Err::invalid;
    int len = 0;
    auto* reg = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, "reg", &len));
    if (!reg || len < static_cast<int>((ac + sc) * sizeof(fdt32_t))) return Err::invalid;
    v.window = {PhysAddr{read_cells(reg, ac)}, read_cells(reg + ac, sc)};
    // GIC binding: <type number flags>, type 0 = SPI (INTID number + 32).
    auto* irq = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, "interrupts", &len));
    if (irq && len >= static_cast<int>(3 * sizeof(fdt32_t)) && fdt32_to_cpu(irq[0]) == 0)
        v.intid = fdt32_to_cpu(irq[1]) + 32;
    // iommus = <phandle domid>, the phandle naming a xen,grant-dma node.
    auto* iommus = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, "iommus", &len));
    if (iommus && len == static_cast<int>(2 * sizeof(fdt32_t))) {
        int iommu = fdt_node_offset_by_phandle(fdt, fdt32_to_cpu(iommus[0]));
        uint32_t domid = fdt32_to_cpu(iommus[1]);
        if (iommu >= 0 && fdt_node_check_compatible(fdt, iommu, "xen,grant-dma") == 0 && domid < DOMID_FIRST_RESERVED) {
            v.has_backend = true;
            v.backend = static_cast<uint16_t>(domid);
        }
    }
    return v;
}

}  // namespace

Result<size_t> find_virtio_nodes(const void* fdt, VirtioNode* out, size_t max) {
    size_t count = 0;
    for (int node = fdt_node_offset_by_compatible(fdt, -1, "virtio,mmio"); node >= 0 && count < max;
         node = fdt_node_offset_by_compatible(fdt, node, "virtio,mmio")) {
        VirtioNode v = TRY(read_virtio_node(fdt, node));
        // Insertion by base address.
        size_t at = count;
        while (at > 0 && out[at - 1].window.base.value > v.window.base.value) {
            out[at] = out[at - 1];
            --at;
        }
        out[at] = v;
        ++count;
    }
    if (count == 0) return Err::not_found;
    return count;
}

Guest::Guest(uint64_t dt_pa, uint64_t load_pa) : memory_(load_pa), mapper_(memory_.address_space()), dt_pa_(dt_pa) {
    logging::add_sink(&debug_console_);
    logging::add_sink(&boot_log_);
    timer_.init();
    log_timer = &timer_;
    logging::set_clock(log_clock);
}

Status Guest::map_device_tree(uint64_t dt_pa) {
    size_t size = 0;
    {
        auto header = TRY(Mapping::create(mapper_, PhysAddr{dt_pa}, 64, MapAttrs::read_only()));
        size = TRY(devicetree_size(header.as<void>(), 64));
    }
    if (size > max_device_tree) return Err::too_big;
    dt_map_ = TRY(Mapping::create(mapper_, PhysAddr{dt_pa}, size, MapAttrs::read_only()));
    platform_ = TRY(parse_platform(dt_map_.as<void>(), size));
    virtio_count_ = TRY(find_virtio_nodes(dt_map_.as<void>(), virtio_, max_devices));
    return ok_status();
}

Status Guest::start_console() {
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
    logging::remove_sink(&debug_console_);
    return ok_status();
}

Status Guest::bring_up(uint32_t grant_frames) {
    if (Status s = map_device_tree(dt_pa_); !s.ok()) {
        LOG_ERROR("device tree: %s (is there a virtio,mmio node? xl's disk= line makes it)", err_name(s.error()));
        return s;
    }
    if (!platform_.has_hypervisor) return Err::not_found;
    const uint64_t ram_end = platform_.memory[0].base.value + platform_.memory[0].size;
    for (size_t i = 0; i < platform_.extended_count; ++i) {
        PhysRange r = platform_.extended[i];
        const uint64_t keep_until = ram_end + kept_free_after_ram;
        if (r.base.value < keep_until && r.base.value + r.size > ram_end) {
            const uint64_t end = r.base.value + r.size;
            if (end <= keep_until) continue;
            r = {PhysAddr{keep_until}, end - keep_until};
        }
        (void)frames_.add_region(r);
    }
    shared_info_.emplace(TRY(xen::SharedInfoPage::map(hv_, frames_, mapper_)));
    events_.emplace(hvc_, shared_info_->view());
    if (Status s = start_console(); !s.ok()) LOG_WARN("no PV console (%s): Xen's console only", err_name(s.error()));
    grant_table_.emplace(hv_, mapper_);
    TRY(grant_table_->setup(platform_.grant_table_area, grant_frames));
    LOG_INFO("RAM %#llx+%llu MiB; grant table %u refs; %zu virtio-mmio device(s)",
             static_cast<unsigned long long>(platform_.memory[0].base.value),
             static_cast<unsigned long long>(platform_.memory[0].size >> 20), grant_table_->refs(), virtio_count_);
    for (size_t i = 0; i < virtio_count_; ++i)
        LOG_INFO("  virtio-mmio %zu at %#llx+%#llx, INTID %u, backend %s%u", i,
                 static_cast<unsigned long long>(virtio_[i].window.base.value),
                 static_cast<unsigned long long>(virtio_[i].window.size), virtio_[i].intid,
                 virtio_[i].has_backend ? "domain " : "(no xen,grant-dma link) ", virtio_[i].backend);
    return ok_status();
}

void Guest::power_off() {
    if (console_ring_) {
        const uint64_t deadline = now_ns() + 3'000'000'000ull;
        while (now_ns() < deadline) {
            auto space = console_ring_->space();
            if (!space.ok() || space.value() == sizeof(xencons_interface::out)) break;
            console_notifier_->notify();
            (void)hv_.yield();
        }
    }
    arm64::shutdown_domain(xen::ShutdownReason::poweroff);
}

}  // namespace domd::frontend
