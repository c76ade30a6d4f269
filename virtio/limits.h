// Every fixed pool and bound of the device-side virtio code, in one place. Nothing in virtio/
// allocates: these constants size the arrays that stand in for a heap.
#pragma once

#include <cstddef>
#include <cstdint>

#include "virtio/guest_memory.h"

namespace domd::virtio::limits {

// Largest queue a device offers (QueueNumMax); split rings need a power of two (section 2.7).
constexpr uint16_t max_queue_size = 1024;
// Queues per device (virtio-blk with VIRTIO_BLK_F_MQ: one per guest vCPU is the usual choice).
constexpr uint16_t max_queues = 16;
// Buffers per request, direct and indirect together: what one map_request() can take.
constexpr uint16_t max_chain_ranges = static_cast<uint16_t>(RequestMapping::max_ranges);
// An indirect table longer than this is refused without being mapped. The spec bounds a chain
// by the queue size (section 2.7.5.3.1); tables are bounded by the largest queue we offer, so
// a driver that sizes its tables by seg_max (Linux) is never refused for its table size.
constexpr uint32_t max_indirect_entries = max_queue_size;
// Chains a service() pass pops over all queues unless the caller says otherwise.
constexpr uint32_t default_service_budget = 64;

static_assert((max_queue_size & (max_queue_size - 1)) == 0);
static_assert(max_queues <= 32, "notified queues are one bit each in a 32-bit mask");

}  // namespace domd::virtio::limits
