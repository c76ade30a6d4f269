// The storage behind a virtio-blk device: a small asynchronous block-device interface, so that
// stores other than the embedded ramdisk can follow without touching the virtio code. A
// request is submitted with its buffers already mapped; the device completes it (possibly
// before submit() returns) by calling the request's completion exactly once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "kernel/callback.h"
#include "kernel/result.h"

namespace domd::blk {

constexpr uint32_t sector_size = 512;  // virtio-blk's unit for `sector`, whatever the disk's

enum class BlockOp : uint8_t { read, write, flush, discard, write_zeroes };

struct BlockIo {
    BlockOp op = BlockOp::read;
    uint64_t sector = 0;   // in 512-byte sectors; checked against capacity by the caller
    uint64_t sectors = 0;  // for discard / write_zeroes; reads and writes use the buffers
    bool unmap = false;    // write_zeroes: the device may deallocate
    // Reads fill these in order, writes take them in order. Valid until completion.
    std::span<const std::span<uint8_t>> buffers;
    // Called once with the outcome (Err::io for a media error, Err::read_only, ...).
    Callback<void(BlockIo&, Status)> complete;
    void* owner = nullptr;  // the submitter's context (its in-flight request)
};

class BlockDevice {
public:
    virtual uint64_t capacity_sectors() const = 0;
    virtual bool read_only() const = 0;
    // True if discard and write_zeroes do something useful (not just refused).
    virtual bool supports_discard() const = 0;
    // Starts the IO. An error return means it was not started and `complete` will not run.
    virtual Status submit(BlockIo& io) = 0;

protected:
    ~BlockDevice() = default;
};

}  // namespace domd::blk
