// A BlockDevice over a span of bytes: the ramdisk module domd maps at boot, or a buffer in a
// test. Every request completes inside submit(). Discard and write-zeroes fill with zeroes, so
// reads after either return zeroes, as section 5.2.6.2 requires of write zeroes.
#pragma once

#include <cstdint>
#include <span>

#include "blk/block_device.h"

namespace domd::blk {

struct RamDiskStats {
    uint64_t reads = 0;
    uint64_t writes = 0;
    uint64_t flushes = 0;
    uint64_t zero_fills = 0;  // discard and write_zeroes
    uint64_t refused = 0;     // out of range, or a write to a read-only disk
};

class RamDisk final : public BlockDevice {
public:
    // The disk is bytes.size() / 512 sectors long (a partial last sector is not used).
    explicit RamDisk(std::span<uint8_t> bytes, bool read_only = false) : bytes_(bytes), read_only_(read_only) {}

    uint64_t capacity_sectors() const override { return bytes_.size() / sector_size; }
    bool read_only() const override { return read_only_; }
    bool supports_discard() const override { return true; }
    // Completes `io` before returning: Err::range for sectors past the end, Err::read_only for
    // a change to a read-only disk (the completion then carries the error).
    Status submit(BlockIo& io) override;

    const RamDiskStats& stats() const { return stats_; }

private:
    Status execute(BlockIo& io);

    std::span<uint8_t> bytes_;
    bool read_only_;
    RamDiskStats stats_;
};

}  // namespace domd::blk
