// How domd's one ramdisk module becomes named disks: the `disks=` option lists them in order,
// each taking the next stretch of the module, as `name[:size][:flag...]` separated by commas, e.g.
//   disks=root:24M,scratch:4M:legacy,iso:ro
// Sizes are bytes with an optional K, M or G suffix (powers of 1024) and whole 512-byte
// sectors; the last disk may leave its size out and takes the rest. Flags, each at most once and
// after the size: `ro` (read-only for every guest), `legacy` (its devices use the legacy
// virtio-mmio transport, version 1, for guests whose drivers need it), `split` (no packed rings
// offered). Names are what guests give in their disk line's `target=`. Parsed strictly: anything
// malformed is an error, never a guess.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "blk/disk_catalog.h"
#include "kernel/result.h"

namespace domd::blk {

struct DiskSpec {
    char name[DiskCatalog::max_name + 1] = {};
    size_t name_len = 0;
    uint64_t offset = 0;  // bytes into the module
    uint64_t size = 0;    // bytes
    bool read_only = false;
    DeviceProfile profile;
    std::string_view name_view() const { return {name, name_len}; }
};

// Fills `out` from `text` for a module of `total` bytes; returns how many disks. Err::invalid
// for malformed text or a size that is not whole sectors, Err::range when the disks do not fit
// in the module (or one is empty), Err::exists for a repeated name, Err::too_big past out.size().
Result<size_t> parse_disk_layout(std::string_view text, uint64_t total, std::span<DiskSpec> out);

}  // namespace domd::blk
