// virtio-blk (virtio 1.2 section 5.2) as a virtio::Device: turns descriptor chains into
// BlockDevice requests and writes the answers back. Transport-agnostic; virtio-mmio drives it.
//
// A request is one chain: a 16-byte device-readable header (it may be split over several
// descriptors), data, and a status byte, the last byte of the last device-writable descriptor.
// Descriptor boundaries carry no meaning (VIRTIO_F_VERSION_1 implies ANY_LAYOUT): the readable
// buffers are one byte stream and the writable buffers another. Every buffer of a request is
// mapped with one GuestMemory::map_request() and unmapped before its used element is written.
// Header, segments and anything else the device decides on are copied out of guest memory
// once, then checked; only data moves directly between the guest and the store.
//
// No heap: requests in flight live in a fixed pool (blk/limits.h).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "blk/block_device.h"
#include "blk/limits.h"
#include "blk/virtio_blk_spec.h"
#include "virtio/chain.h"
#include "virtio/device.h"
#include "virtio/guest_memory.h"

namespace domd::blk {

struct VirtioBlkOptions {
    uint16_t queues = 1;         // more than 1 offers VIRTIO_BLK_F_MQ (at most virtio::limits::max_queues)
    uint16_t queue_size = 256;   // QueueNumMax of each queue (at most virtio::limits::max_queue_size)
    std::string_view id = {};    // VIRTIO_BLK_T_GET_ID answer; the first 20 bytes are used
    uint32_t size_max = 1u << 20;       // largest data segment advertised; 0: SIZE_MAX not offered
    uint32_t block_size = 512;          // VIRTIO_BLK_F_BLK_SIZE
    bool flush = true;                  // offer VIRTIO_BLK_F_FLUSH
    bool discard = true;                // offer DISCARD and WRITE_ZEROES if the store supports them
    uint32_t max_discard_sectors = 1u << 16;       // per segment (32 MiB)
    uint32_t max_write_zeroes_sectors = 1u << 16;  // per segment
};

// Request kinds for the counters.
enum class RequestKind : uint8_t { in, out, flush, get_id, discard, write_zeroes, unsupported };
constexpr int request_kinds = 7;

struct BlkStats {
    uint64_t requests[request_kinds] = {};
    uint64_t bytes_read = 0;      // data read from the store into the guest
    uint64_t bytes_written = 0;   // data written from the guest to the store
    uint64_t ok = 0;
    // Errors by kind (each one status byte with IOERR, except unsupported: UNSUPP).
    uint64_t err_malformed = 0;   // bad layout: short header, wrong direction, length not a multiple
    uint64_t err_range = 0;       // sectors past the capacity, overflow included
    uint64_t err_read_only = 0;   // a change to a read-only disk
    uint64_t err_media = 0;       // the store failed the request
    uint64_t err_unmappable = 0;  // buffers outside guest memory
    uint64_t err_bad_chain = 0;   // the chain broke a ring rule but had a status byte
    uint64_t unsupported = 0;     // UNSUPP answers
    uint64_t unanswerable = 0;    // no status byte at all: the device needs a reset
    uint64_t slot_waits = 0;      // passes that stopped because every request slot was busy
    uint64_t multi_segment = 0;   // reads and writes whose data came in more than one buffer
};

class VirtioBlk final : public virtio::Device {
public:
    VirtioBlk(BlockDevice& disk, virtio::GuestMemory& memory, const VirtioBlkOptions& options = {});
    VirtioBlk(const VirtioBlk&) = delete;
    VirtioBlk& operator=(const VirtioBlk&) = delete;

    // ---- virtio::Device ----
    uint32_t device_id() const override { return virtio::device_id::block; }
    uint64_t device_features() const override { return features_; }
    bool accept_features(uint64_t negotiated) override;
    uint16_t queue_count() const override { return queues_; }
    uint16_t queue_max_size(uint16_t queue) const override { return queue < queues_ ? queue_size_ : 0; }
    std::span<const uint8_t> config_space() const override;
    void write_config(uint32_t, std::span<const uint8_t>) override {}  // nothing writable offered
    virtio::ProcessResult process(virtio::Virtqueue& queue, uint32_t budget) override;
    void reset() override;

    uint32_t in_flight() const { return in_flight_; }
    const BlkStats& queue_stats(uint16_t queue) const { return stats_[queue]; }
    BlkStats totals() const;
    const VirtioBlkConfig& config() const { return config_; }

private:
    struct Request;
    void start(Request& request, virtio::Virtqueue& queue, const virtio::Chain& chain);
    void reject_chain(Request& request, const virtio::Chain& chain, uint64_t BlkStats::*counter);
    void run(Request& request);
    void on_complete(BlockIo& io, Status result);
    void finish(Request& request, uint8_t status, uint64_t BlkStats::*counter);
    void release(Request& request);
    BlkStats& stats_for(const Request& request);

    void start_read_write(Request& request, const VirtioBlkReqHeader& header, bool write);
    void start_segments(Request& request, bool discard);
    void succeed(Request& request);
    void answer_get_id(Request& request);

    BlockDevice& disk_;
    virtio::GuestMemory& memory_;
    uint64_t features_ = 0;
    uint64_t negotiated_ = 0;
    uint16_t queues_ = 1;
    uint16_t queue_size_ = 0;
    uint32_t max_discard_sectors_ = 0;
    uint32_t max_write_zeroes_sectors_ = 0;
    uint8_t id_[id_bytes] = {};
    VirtioBlkConfig config_{};

    struct Request {
        Request* next_free = nullptr;
        virtio::Virtqueue* queue = nullptr;
        virtio::UsedToken token;
        virtio::RequestMapping mapping;
        uint8_t* status = nullptr;      // the status byte, in the mapped buffers
        RequestKind kind = RequestKind::unsupported;
        uint16_t ranges = 0;            // mapped ranges (host[0..ranges))
        uint16_t readable = 0;          // host[0..readable) are device-readable
        uint32_t readable_bytes = 0;
        uint32_t writable_bytes = 0;
        uint32_t data_written = 0;      // bytes written at the start of the writable part
        uint64_t data_bytes = 0;
        // Discard / write zeroes: the checked copies of the segments, done one at a time.
        uint32_t segment_count = 0;
        uint32_t next_segment = 0;
        VirtioBlkDiscardSegment segments[limits::max_discard_segments];
        // A completion that runs inside submit() is recorded here and acted on after it returns.
        bool in_submit = false;
        bool completed_inline = false;
        bool inline_ok = false;
        BlockIo io;
        virtio::HostBytes host[virtio::limits::max_chain_ranges];
    };

    Request requests_[limits::max_requests_in_flight];
    Request* free_ = nullptr;
    uint32_t in_flight_ = 0;
    virtio::Chain chain_;  // scratch for pops: process() is not re-entered
    BlkStats stats_[virtio::limits::max_queues];
};

}  // namespace domd::blk
