#include "kernel/devicetree.h"

extern "C" {
#include <libfdt.h>
}

namespace domd {
namespace {

uint64_t read_cells(const fdt32_t* cells, int count) {
    uint64_t value = 0;
    for (int i = 0; i < count; ++i) value = (value << 32) | fdt32_to_cpu(cells[i]);
    return value;
}

// Reads up to `max` (address, size) pairs of a node's reg, using the parent's cell counts.
Result<size_t> read_reg(const void* fdt, int node, PhysRange* out, size_t max) {
    int parent = fdt_parent_offset(fdt, node);
    if (parent < 0) return Err::invalid;
    int address_cells = fdt_address_cells(fdt, parent);
    int size_cells = fdt_size_cells(fdt, parent);
    if (address_cells < 1 || address_cells > 2 || size_cells < 0 || size_cells > 2) return Err::invalid;
    int length = 0;
    auto* cells = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, "reg", &length));
    if (!cells || length < 0) return Err::not_found;
    size_t entry_bytes = static_cast<size_t>(address_cells + size_cells) * sizeof(fdt32_t);
    size_t entries = static_cast<size_t>(length) / entry_bytes;
    size_t count = 0;
    for (size_t i = 0; i < entries && count < max; ++i) {
        const fdt32_t* entry = cells + i * static_cast<size_t>(address_cells + size_cells);
        out[count].base = PhysAddr{read_cells(entry, address_cells)};
        out[count].size = read_cells(entry + address_cells, size_cells);
        ++count;
    }
    return count;
}

// An interrupts property entry in the GIC binding: <type number flags>, type 0 = SPI, 1 = PPI.
Result<uint32_t> read_interrupt(const void* fdt, int node, int index) {
    int length = 0;
    auto* cells = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, "interrupts", &length));
    if (!cells || length < static_cast<int>((index + 1) * 3 * sizeof(fdt32_t))) return Err::not_found;
    uint32_t type = fdt32_to_cpu(cells[index * 3]);
    uint32_t number = fdt32_to_cpu(cells[index * 3 + 1]);
    if (type == 1 && number < 16) return number + 16;
    if (type == 0 && number < 988) return number + 32;
    return Err::invalid;
}

std::string_view string_prop(const void* fdt, int node, const char* name) {
    int length = 0;
    auto* value = static_cast<const char*>(fdt_getprop(fdt, node, name, &length));
    if (!value || length <= 0) return {};
    // Property strings end in NUL; do not trust that the blob says so.
    size_t n = 0;
    while (n < static_cast<size_t>(length) && value[n]) ++n;
    return {value, n};
}

Result<uint64_t> u64_or_u32_prop(const void* fdt, int node, const char* name) {
    int length = 0;
    auto* cells = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, name, &length));
    if (!cells) return Err::not_found;
    if (length == 4) return uint64_t{fdt32_to_cpu(cells[0])};
    if (length == 8) return read_cells(cells, 2);
    return Err::invalid;
}

Status parse_memory(const void* fdt, Platform& p) {
    for (int node = fdt_node_offset_by_prop_value(fdt, -1, "device_type", "memory", sizeof "memory");
         node >= 0; node = fdt_node_offset_by_prop_value(fdt, node, "device_type", "memory", sizeof "memory")) {
        size_t n = TRY(read_reg(fdt, node, p.memory + p.memory_count, Platform::max_memory - p.memory_count));
        p.memory_count += n;
    }
    return p.memory_count ? ok_status() : Status(Err::not_found);
}

Status parse_hypervisor(const void* fdt, Platform& p) {
    int node = fdt_node_offset_by_compatible(fdt, -1, "xen,xen");
    if (node < 0) return ok_status();  // a guest without PV interfaces (plain dom0less)
    p.has_hypervisor = true;
    p.xen_compatible = string_prop(fdt, node, "compatible");
    PhysRange regs[1 + Platform::max_extended];
    size_t n = TRY(read_reg(fdt, node, regs, 1 + Platform::max_extended));
    if (n == 0) return Err::invalid;
    p.grant_table_area = regs[0];
    for (size_t i = 1; i < n; ++i) p.extended[p.extended_count++] = regs[i];
    p.event_intid = TRY(read_interrupt(fdt, node, 0));
    return ok_status();
}

Status parse_gic(const void* fdt, Platform& p) {
    PhysRange regs[2];
    int node = fdt_node_offset_by_compatible(fdt, -1, "arm,gic-v3");
    if (node >= 0) {
        p.gic = GicVersion::v3;
    } else {
        static constexpr const char* v2_names[] = {"arm,gic-400", "arm,cortex-a15-gic", "arm,cortex-a9-gic"};
        for (const char* name : v2_names) {
            node = fdt_node_offset_by_compatible(fdt, -1, name);
            if (node >= 0) break;
        }
        if (node < 0) return Err::not_found;
        p.gic = GicVersion::v2;
    }
    size_t n = TRY(read_reg(fdt, node, regs, 2));
    if (n < 2) return Err::invalid;
    p.gic_distributor = regs[0];
    p.gic_cpu = regs[1];
    return ok_status();
}

Status parse_timer(const void* fdt, Platform& p) {
    int node = fdt_node_offset_by_compatible(fdt, -1, "arm,armv8-timer");
    if (node < 0) return Err::not_found;
    // Order per the binding: secure phys, non-secure phys, virtual, hypervisor.
    p.vtimer_intid = TRY(read_interrupt(fdt, node, 2));
    return ok_status();
}

void parse_chosen(const void* fdt, Platform& p) {
    int node = fdt_path_offset(fdt, "/chosen");
    if (node < 0) return;
    p.bootargs = string_prop(fdt, node, "bootargs");
    auto start = u64_or_u32_prop(fdt, node, "linux,initrd-start");
    auto end = u64_or_u32_prop(fdt, node, "linux,initrd-end");
    if (start.ok() && end.ok() && end.value() > start.value()) {
        p.ramdisk = {PhysAddr{start.value()}, end.value() - start.value()};
        p.has_ramdisk = true;
    }
}

}  // namespace

Result<size_t> devicetree_size(const void* header, size_t available) {
    if (available < sizeof(fdt_header)) return Err::invalid;
    if (fdt_magic(header) != FDT_MAGIC) return Err::invalid;
    size_t total = fdt_totalsize(header);
    if (total < sizeof(fdt_header)) return Err::invalid;
    return total;
}

Result<Platform> parse_platform(const void* blob, size_t size) {
    if (size < sizeof(fdt_header) || fdt_check_header(blob) != 0 || fdt_totalsize(blob) > size)
        return Err::invalid;
    Platform p;
    int root = fdt_path_offset(blob, "/");
    if (root >= 0) p.model = string_prop(blob, root, "model");
    TRY(parse_memory(blob, p));
    TRY(parse_hypervisor(blob, p));
    TRY(parse_gic(blob, p));
    TRY(parse_timer(blob, p));
    parse_chosen(blob, p);
    return p;
}

}  // namespace domd
