// Every fixed pool and bound of blk/, in one place (virtio/limits.h holds the ring-side ones).
#pragma once

#include <cstdint>

#include "virtio/limits.h"

namespace domd::blk::limits {

// Requests one virtio-blk device has in flight at once, over all its queues. A queue whose
// device has no free slot waits (its chains stay in the avail ring) until one completes. A
// synchronous store (the ramdisk) never has more than one.
constexpr uint32_t max_requests_in_flight = 32;
// Discard / write-zeroes segments per request (max_discard_seg, max_write_zeroes_seg).
constexpr uint32_t max_discard_segments = 16;
// Data segments per request (seg_max): one map_request() takes the header, the data and the
// status byte, each in at least one descriptor of its own (Linux's layout).
constexpr uint32_t max_data_segments = virtio::limits::max_chain_ranges - 2;

}  // namespace domd::blk::limits
