// What domd needs from the device tree Xen hands it (read with libfdt): RAM, the /hypervisor
// node (grant-table area, extended regions, event-channel interrupt), the interrupt controller,
// the virtual timer's interrupt, and /chosen (command line, ramdisk).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kernel/addr.h"
#include "kernel/result.h"

namespace domd {

enum class GicVersion : uint8_t { v2, v3 };

struct Platform {
    static constexpr size_t max_memory = 4;
    static constexpr size_t max_extended = 16;

    PhysRange memory[max_memory];
    size_t memory_count = 0;

    // /hypervisor (compatible "xen,xen"): reg[0] is where grant-table frames go, reg[1..] are
    // extended regions (free guest-physical space for foreign and granted pages).
    bool has_hypervisor = false;      // absent for dom0less guests without "xen,enhanced"
    std::string_view xen_compatible;  // e.g. "xen,xen-4.17"
    PhysRange grant_table_area;
    PhysRange extended[max_extended];
    size_t extended_count = 0;
    uint32_t event_intid = 0;  // the event-channel upcall (a PPI, 31 on Xen)

    GicVersion gic = GicVersion::v3;
    PhysRange gic_distributor;
    PhysRange gic_cpu;  // GICv2: CPU interface; GICv3: redistributor region

    uint32_t vtimer_intid = 0;  // the EL1 virtual timer (PPI 11, INTID 27)

    std::string_view model;
    std::string_view bootargs;  // /chosen/bootargs: domd's part of the xl `extra=` line
    PhysRange ramdisk;          // /chosen/linux,initrd-{start,end}: xl's `ramdisk=`
    bool has_ramdisk = false;
};

// The header's totalsize, after checking the magic; to learn how much to map.
Result<size_t> devicetree_size(const void* header, size_t available);

// Parses a flattened device tree of `size` bytes. Strings in the result point into the blob.
Result<Platform> parse_platform(const void* blob, size_t size);

}  // namespace domd
