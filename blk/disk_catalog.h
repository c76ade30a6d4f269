// The disks one domd serves, by name (what a guest's xl disk line says in `target=`), and who
// uses them: any number of read-only users, or one writer, never both (two guests never share a
// writable disk: one would corrupt the other's filesystem, or see it change under its cache).
// A device reaches its disk through a DiskView, which also makes it read-only for a guest whose
// disk line says mode=r.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "blk/block_device.h"
#include "kernel/result.h"

namespace domd::blk {

class DiskCatalog;

// How the devices that serve one disk present themselves (set per disk by the operator: a
// guest cannot choose). The transport reads it when it builds a guest's device.
struct DeviceProfile {
    bool legacy_mmio = false;   // virtio-mmio version 1 (virtio 1.2 section 4.2.4): no VERSION_1
    bool packed_rings = true;   // offer VIRTIO_F_RING_PACKED beside split rings (version 2 only)
    bool operator==(const DeviceProfile&) const = default;
};

// One device's access to a catalogued disk: a BlockDevice that refuses changes when opened
// read-only, and gives the disk back (DiskCatalog::close) when closed or destroyed.
class DiskView final : public BlockDevice {
public:
    DiskView() = default;
    DiskView(const DiskView&) = delete;
    DiskView& operator=(const DiskView&) = delete;
    ~DiskView() { close(); }

    bool open() const { return disk_ != nullptr; }
    void close();

    uint64_t capacity_sectors() const override { return disk_ ? disk_->capacity_sectors() : 0; }
    bool read_only() const override { return !writable_ || (disk_ && disk_->read_only()); }
    bool supports_discard() const override { return disk_ && disk_->supports_discard(); }
    Status submit(BlockIo& io) override;
    // The disk's device profile (the default one while closed).
    DeviceProfile profile() const;

private:
    friend class DiskCatalog;
    DiskCatalog* catalog_ = nullptr;
    BlockDevice* disk_ = nullptr;
    size_t index_ = 0;
    bool writable_ = false;
};

class DiskCatalog {
public:
    static constexpr size_t max_disks = 16;
    static constexpr size_t max_name = 32;

    // Err::exists for a name already there, Err::name_too_long, Err::no_space past max_disks.
    Status add(std::string_view name, BlockDevice& disk, DeviceProfile profile = {});
    // Opens `name` into `view`. Err::not_found: no such disk; Err::busy: it has a writer, or
    // (for a writable open) readers; Err::read_only: writable asked of a read-only disk.
    Status open(std::string_view name, bool writable, DiskView& view);

    size_t size() const { return count_; }
    std::string_view name(size_t i) const { return {disks_[i].name, disks_[i].name_len}; }
    BlockDevice& disk(size_t i) { return *disks_[i].disk; }

private:
    friend class DiskView;
    void close(DiskView& view);

    struct Entry {
        char name[max_name];
        size_t name_len = 0;
        BlockDevice* disk = nullptr;
        DeviceProfile profile;
        uint32_t readers = 0;
        bool writer = false;
    };
    Entry disks_[max_disks];
    size_t count_ = 0;
};

}  // namespace domd::blk
