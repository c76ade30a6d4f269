// virtio-blk wire formats, virtio 1.2 section 5.2: feature bits (5.2.3), the configuration
// layout (5.2.4), request types, the request header, status values and discard / write-zeroes
// segments (5.2.6). Little-endian, as everything in virtio 1.x (see virtio/spec.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "virtio/spec.h"

namespace domd::blk {

// Section 5.2.3.
namespace blk_features {
using virtio::feature;
constexpr uint64_t size_max = feature(1);
constexpr uint64_t seg_max = feature(2);
constexpr uint64_t geometry = feature(4);
constexpr uint64_t ro = feature(5);
constexpr uint64_t blk_size = feature(6);
constexpr uint64_t flush = feature(9);
constexpr uint64_t topology = feature(10);
constexpr uint64_t config_wce = feature(11);
constexpr uint64_t mq = feature(12);
constexpr uint64_t discard = feature(13);
constexpr uint64_t write_zeroes = feature(14);
}  // namespace blk_features

// struct virtio_blk_config, section 5.2.4 (up to and including the zoned characteristics).
struct VirtioBlkConfig {
    uint64_t capacity;     // in 512-byte sectors
    uint32_t size_max;     // VIRTIO_BLK_F_SIZE_MAX: largest single segment
    uint32_t seg_max;      // VIRTIO_BLK_F_SEG_MAX: segments per request
    uint16_t cylinders;    // geometry (VIRTIO_BLK_F_GEOMETRY, not offered)
    uint8_t heads;
    uint8_t sectors;
    uint32_t blk_size;     // VIRTIO_BLK_F_BLK_SIZE
    uint8_t physical_block_exp;  // topology (VIRTIO_BLK_F_TOPOLOGY)
    uint8_t alignment_offset;
    uint16_t min_io_size;
    uint32_t opt_io_size;
    uint8_t writeback;     // VIRTIO_BLK_F_CONFIG_WCE (not offered)
    uint8_t unused0;
    uint16_t num_queues;   // VIRTIO_BLK_F_MQ
    uint32_t max_discard_sectors;
    uint32_t max_discard_seg;
    uint32_t discard_sector_alignment;
    uint32_t max_write_zeroes_sectors;
    uint32_t max_write_zeroes_seg;
    uint8_t write_zeroes_may_unmap;
    uint8_t unused1[3];
    uint32_t max_secure_erase_sectors;
    uint32_t max_secure_erase_seg;
    uint32_t secure_erase_sector_alignment;
    uint32_t zone_sectors;  // struct virtio_blk_zoned_characteristics
    uint32_t max_open_zones;
    uint32_t max_active_zones;
    uint32_t max_append_sectors;
    uint32_t write_granularity;
    uint8_t model;
    uint8_t unused2[3];
};
static_assert(offsetof(VirtioBlkConfig, capacity) == 0, "virtio 1.2 section 5.2.4");
static_assert(offsetof(VirtioBlkConfig, size_max) == 8);
static_assert(offsetof(VirtioBlkConfig, seg_max) == 12);
static_assert(offsetof(VirtioBlkConfig, cylinders) == 16);
static_assert(offsetof(VirtioBlkConfig, heads) == 18);
static_assert(offsetof(VirtioBlkConfig, sectors) == 19);
static_assert(offsetof(VirtioBlkConfig, blk_size) == 20);
static_assert(offsetof(VirtioBlkConfig, physical_block_exp) == 24);
static_assert(offsetof(VirtioBlkConfig, alignment_offset) == 25);
static_assert(offsetof(VirtioBlkConfig, min_io_size) == 26);
static_assert(offsetof(VirtioBlkConfig, opt_io_size) == 28);
static_assert(offsetof(VirtioBlkConfig, writeback) == 32);
static_assert(offsetof(VirtioBlkConfig, unused0) == 33);
static_assert(offsetof(VirtioBlkConfig, num_queues) == 34);
static_assert(offsetof(VirtioBlkConfig, max_discard_sectors) == 36);
static_assert(offsetof(VirtioBlkConfig, max_discard_seg) == 40);
static_assert(offsetof(VirtioBlkConfig, discard_sector_alignment) == 44);
static_assert(offsetof(VirtioBlkConfig, max_write_zeroes_sectors) == 48);
static_assert(offsetof(VirtioBlkConfig, max_write_zeroes_seg) == 52);
static_assert(offsetof(VirtioBlkConfig, write_zeroes_may_unmap) == 56);
static_assert(offsetof(VirtioBlkConfig, unused1) == 57);
static_assert(offsetof(VirtioBlkConfig, max_secure_erase_sectors) == 60);
static_assert(offsetof(VirtioBlkConfig, max_secure_erase_seg) == 64);
static_assert(offsetof(VirtioBlkConfig, secure_erase_sector_alignment) == 68);
static_assert(offsetof(VirtioBlkConfig, zone_sectors) == 72);
static_assert(offsetof(VirtioBlkConfig, max_open_zones) == 76);
static_assert(offsetof(VirtioBlkConfig, max_active_zones) == 80);
static_assert(offsetof(VirtioBlkConfig, max_append_sectors) == 84);
static_assert(offsetof(VirtioBlkConfig, write_granularity) == 88);
static_assert(offsetof(VirtioBlkConfig, model) == 92);
static_assert(sizeof(VirtioBlkConfig) == 96);

// Request types, section 5.2.6.
namespace request_type {
constexpr uint32_t in = 0;
constexpr uint32_t out = 1;
constexpr uint32_t flush = 4;
constexpr uint32_t get_id = 8;
constexpr uint32_t get_lifetime = 10;
constexpr uint32_t discard = 11;
constexpr uint32_t write_zeroes = 13;
constexpr uint32_t secure_erase = 14;
}  // namespace request_type

// The device-readable header at the start of every request (struct virtio_blk_req, 5.2.6).
struct VirtioBlkReqHeader {
    uint32_t type;
    uint32_t reserved;  // formerly ioprio
    uint64_t sector;
};
static_assert(sizeof(VirtioBlkReqHeader) == 16, "virtio 1.2 section 5.2.6");
static_assert(offsetof(VirtioBlkReqHeader, type) == 0 && offsetof(VirtioBlkReqHeader, reserved) == 4);
static_assert(offsetof(VirtioBlkReqHeader, sector) == 8);

// The status byte, the last byte of the request (5.2.6).
namespace blk_status {
constexpr uint8_t ok = 0;
constexpr uint8_t ioerr = 1;
constexpr uint8_t unsupp = 2;
}  // namespace blk_status

// One discard / write-zeroes segment (struct virtio_blk_discard_write_zeroes, 5.2.6).
struct VirtioBlkDiscardSegment {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;  // bit 0: unmap (write zeroes only); the rest reserved
};
static_assert(sizeof(VirtioBlkDiscardSegment) == 16, "virtio 1.2 section 5.2.6");
static_assert(offsetof(VirtioBlkDiscardSegment, sector) == 0);
static_assert(offsetof(VirtioBlkDiscardSegment, num_sectors) == 8);
static_assert(offsetof(VirtioBlkDiscardSegment, flags) == 12);
constexpr uint32_t segment_flag_unmap = 1;

// VIRTIO_BLK_T_GET_ID answers 20 bytes, NUL-padded, no terminator at full length (5.2.6).
constexpr uint32_t id_bytes = 20;

}  // namespace domd::blk
