#include "blk/ram_disk.h"

#include <cstring>

namespace domd::blk {

Status RamDisk::submit(BlockIo& io) {
    const Status result = execute(io);
    if (!result.ok()) ++stats_.refused;
    io.complete(io, result);
    return ok_status();
}

Status RamDisk::execute(BlockIo& io) {
    const uint64_t capacity = capacity_sectors();
    // The caller checks ranges against capacity; checked again here because this is where a
    // mistake would turn into an out-of-bounds copy.
    if (io.sector > capacity) return Err::range;
    const uint64_t offset = io.sector * sector_size;
    const uint64_t room = bytes_.size() - offset;

    switch (io.op) {
        case BlockOp::read:
        case BlockOp::write: {
            if (io.op == BlockOp::write && read_only_) return Err::read_only;
            uint64_t total = 0;
            for (const auto& buffer : io.buffers) total += buffer.size();
            if (total > room) return Err::range;
            uint8_t* at = bytes_.data() + offset;
            for (const auto& buffer : io.buffers) {
                if (io.op == BlockOp::read) std::memcpy(buffer.data(), at, buffer.size());
                else std::memcpy(at, buffer.data(), buffer.size());
                at += buffer.size();
            }
            ++(io.op == BlockOp::read ? stats_.reads : stats_.writes);
            return ok_status();
        }
        case BlockOp::flush:
            ++stats_.flushes;  // memory is as stable as it gets
            return ok_status();
        case BlockOp::discard:
        case BlockOp::write_zeroes:
            if (read_only_) return Err::read_only;
            if (io.sectors > capacity - io.sector) return Err::range;
            std::memset(bytes_.data() + offset, 0, io.sectors * sector_size);
            ++stats_.zero_fills;
            return ok_status();
    }
    return Err::invalid;
}

}  // namespace domd::blk
