// The blk suite's test bench: a ram disk (optionally behind a device that completes later),
// virtio-blk behind the real virtio-mmio transport, fake guest RAM and a fake driver that
// builds requests as Linux's virtio_blk does (header, data, status in their own descriptors),
// on split or packed rings, over virtio-mmio version 2 or legacy (tests/virtio/ring_variant.h).
#pragma once

#include <cstring>
#include <vector>

#include "blk/ram_disk.h"
#include "blk/virtio_blk.h"
#include "tests/fakes/fake_block_device.h"
#include "tests/fakes/fake_guest_memory.h"
#include "tests/fakes/fake_virtio_driver.h"
#include "tests/virtio/ring_variant.h"
#include "virtio/mmio_transport.h"

namespace domd::test {

using ::StringFrom;  // CppUTest's overloads, hidden by domd::StringFrom(Err) in here
using Buffer = FakeVirtioDriver::Buffer;

constexpr uint64_t blk_wanted = virtio::features::version_1 | virtio::features::ring_event_idx |
                                virtio::features::indirect_desc | blk::blk_features::seg_max |
                                blk::blk_features::size_max | blk::blk_features::blk_size | blk::blk_features::flush |
                                blk::blk_features::ro | blk::blk_features::mq | blk::blk_features::discard |
                                blk::blk_features::write_zeroes;

struct BlkRigOptions {
    size_t disk_bytes = 1 << 20;  // 2048 sectors
    bool read_only = false;
    bool deferred = false;        // completions wait for the test
    blk::VirtioBlkOptions blk{.id = "domd-test-disk"};
    uint16_t queue_size = 64;
    uint64_t wanted = blk_wanted;
    bool probe = true;
    virtio::MmioOptions mmio{};
};

// `options` in `variant`: packed rings wanted or not, the legacy transport or version 2.
inline BlkRigOptions in(Variant variant, BlkRigOptions options = {}) {
    if (variant.packed) options.wanted |= virtio::features::ring_packed;
    else options.wanted &= ~virtio::features::ring_packed;
    options.mmio.version = variant.legacy ? virtio::mmio::version_legacy : virtio::mmio::version_2;
    return options;
}

struct BlkRig {
    explicit BlkRig(const BlkRigOptions& options = {})
        : options(options),
          disk_bytes(make_disk(options.disk_bytes)),
          ram(std::span<uint8_t>(disk_bytes), options.read_only),
          deferred(ram),
          blk(options.deferred ? static_cast<blk::BlockDevice&>(deferred) : ram, memory, options.blk),
          transport(blk, memory, interrupt, options.mmio),
          driver(transport, memory) {
        if (options.probe) probe();
    }

    static std::vector<uint8_t> make_disk(size_t bytes) {
        std::vector<uint8_t> disk(bytes);
        for (size_t i = 0; i < bytes; ++i) disk[i] = static_cast<uint8_t>(i * 7 + i / 512);
        return disk;
    }
    void probe() {
        if (!driver.probe(options.wanted, options.blk.queues, options.queue_size)) FAIL("probe failed");
        const bool packed = (options.wanted & virtio::features::ring_packed) && options.mmio.version != 1;
        if (driver.packed() != packed) FAIL("the ring format is not the one wanted");
    }

    // A request header in guest RAM.
    uint64_t header(uint32_t type, uint64_t sector) {
        const blk::VirtioBlkReqHeader h{type, 0, sector};
        return driver.alloc_bytes(&h, sizeof h);
    }
    // A status byte in guest RAM, preset to a value no answer uses.
    uint64_t status_byte() {
        const uint64_t at = driver.alloc(1, 1);
        memory.write<uint8_t>(at, 0xee);
        return at;
    }
    uint64_t data(uint64_t bytes, uint8_t fill = 0) {
        const uint64_t at = driver.alloc(bytes, 64);
        std::memset(memory.at(at), fill, bytes);
        return at;
    }
    // Runs one chain to completion (synchronous store) and returns its used element.
    virtio::VirtqUsedElem run(const std::vector<Buffer>& buffers, bool indirect = false, uint16_t queue = 0) {
        const uint16_t head = driver.add(queue, buffers, indirect);
        driver.kick(queue);
        transport.service();
        auto used = driver.take_used(queue);
        if (used.size() != 1 || used[0].id != head) FAIL("the request did not complete");
        return used[0];
    }
    // A request in Linux's layout: header, data (if any), status. Returns the status byte.
    uint8_t request(uint32_t type, uint64_t sector, uint64_t data_addr, uint32_t data_len, bool data_writable,
                    bool indirect = false, uint16_t queue = 0) {
        const uint64_t status = status_byte();
        std::vector<Buffer> buffers{{header(type, sector), 16, false}};
        if (data_len != 0) buffers.push_back({data_addr, data_len, data_writable});
        buffers.push_back({status, 1, true});
        last_used = run(buffers, indirect, queue);
        return memory.read<uint8_t>(status);
    }
    uint8_t read(uint64_t sector, uint64_t data_addr, uint32_t len) {
        return request(blk::request_type::in, sector, data_addr, len, true);
    }
    uint8_t write(uint64_t sector, uint64_t data_addr, uint32_t len) {
        return request(blk::request_type::out, sector, data_addr, len, false);
    }
    // A discard / write-zeroes request with these segments.
    uint8_t segments(uint32_t type, const std::vector<blk::VirtioBlkDiscardSegment>& segs) {
        const uint64_t table = driver.alloc_bytes(segs.data(), 16 * segs.size());
        return request(type, 0, table, static_cast<uint32_t>(16 * segs.size()), false);
    }
    bool disk_equals(uint64_t sector, uint64_t gpa, size_t len) {
        return std::memcmp(disk_bytes.data() + sector * 512, memory.at(gpa), len) == 0;
    }
    bool disk_zero(uint64_t sector, uint64_t sectors) {
        for (size_t i = 0; i < sectors * 512; ++i) {
            if (disk_bytes[sector * 512 + i] != 0) return false;
        }
        return true;
    }
    uint32_t status() { return driver.read32(virtio::mmio::status); }
    bool needs_reset() { return (status() & virtio::status::device_needs_reset) != 0; }
    // A well-formed read still works (after a reset if the device asked for one).
    void expect_works() {
        if (needs_reset()) probe();
        const uint64_t buffer = data(512);
        if (read(1, buffer, 512) != blk::blk_status::ok) FAIL("a good read failed");
        if (!disk_equals(1, buffer, 512)) FAIL("a good read returned wrong data");
    }

    BlkRigOptions options;
    std::vector<uint8_t> disk_bytes;
    blk::RamDisk ram;
    DeferredBlockDevice deferred;
    FakeGuestMemory memory;
    FakeInterrupt interrupt;
    blk::VirtioBlk blk;
    virtio::MmioTransport transport;
    FakeVirtioDriver driver;
    virtio::VirtqUsedElem last_used{};
};

}  // namespace domd::test
