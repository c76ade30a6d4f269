// A descriptor chain as a device sees it once a virtqueue has walked and checked it: the
// guest buffers in order (device-readable ones first), and what to hand back when it is used.
// The ring format (split, section 2.7, or packed, section 2.8) is gone at this level: a device
// type works on Chains and UsedTokens only.
#pragma once

#include <cstdint>
#include <span>

#include "virtio/guest_memory.h"
#include "virtio/limits.h"

namespace domd::virtio {

// What the device returns in the used ring: the chain's id (split: the head descriptor's
// index; packed: the Buffer ID), and how many descriptor slots the chain took in the ring (a
// packed ring skips that many when it writes the used descriptor, section 2.8.6).
struct UsedToken {
    uint16_t id = 0;
    uint16_t slots = 0;
};

// A chain that was walked to its end but breaks a rule about its buffers. The device can still
// answer it with an error status if the chain has a usable last device-writable byte.
enum class ChainFault : uint8_t {
    none,
    zero_length,              // a descriptor of length 0 (nothing to map)
    address_wraps,            // addr + len overflows 64 bits
    readable_after_writable,  // section 2.7.4.2: device-writable buffers come last
    too_many_ranges,          // more buffers than one map_request() takes
    too_many_bytes,           // readable or writable total does not fit 32 bits
    grant_not_negotiated,     // a grant address (bit 63) on a legacy device: no ACCESS_PLATFORM
};
constexpr int chain_fault_kinds = 7;

// A ring that cannot be trusted any more: no chain to answer, the device must be reset.
enum class RingFault : uint8_t {
    none,
    avail_index_jump,        // split: avail idx moved by more than the queue size
    head_out_of_range,       // split: avail ring entry >= queue size
    next_out_of_range,       // split: next >= queue size (direct) or table entries (indirect)
    descriptor_loop,         // more descriptors than the queue (or table) holds
    indirect_not_negotiated, // VIRTQ_DESC_F_INDIRECT without VIRTIO_F_INDIRECT_DESC
    indirect_with_next,      // INDIRECT with NEXT (2.7.5.3.1), or in a packed list (2.8.19)
    nested_indirect,         // split: INDIRECT inside an indirect table
    indirect_bad_length,     // table length 0, not a multiple of 16, or over the bound
    indirect_unmappable,     // table outside guest memory
    ring_unmappable,         // the rings could not be (re)mapped
    unanswerable_chain,      // the device found no usable status byte to report an error in
    flags_inconsistent,      // packed: AVAIL/USED flags no driver writes (2.8.1), or a list
                             // whose later descriptors are not available in their lap (2.8.6)
    avail_overrun,           // packed: more descriptors available than the ring has room for
                             // beside those still in flight
    id_out_of_range,         // packed: Buffer ID >= queue size
    id_in_use,               // packed: Buffer ID of a buffer still in flight
};
constexpr int ring_fault_kinds = 16;

// What popping a queue gave.
enum class PopStatus : uint8_t {
    empty,    // nothing new is available
    chain,    // a chain to process (possibly with chain.fault set)
    fatal,    // the ring is broken (ring_fault() says how); the device needs a reset
};

struct Chain {
    UsedToken token;
    uint16_t count = 0;           // ranges[0..count)
    uint16_t readable_count = 0;  // ranges[0..readable_count) are device-readable
    uint32_t readable_bytes = 0;
    uint32_t writable_bytes = 0;
    ChainFault fault = ChainFault::none;
    // For a faulty chain: the last byte of its last usable device-writable descriptor, where
    // a device puts its status (virtio-blk, section 5.2.6). Valid when has_status_byte.
    bool has_status_byte = false;
    GuestRange status_byte;
    GuestRange ranges[limits::max_chain_ranges];

    std::span<const GuestRange> all() const { return {ranges, count}; }
    std::span<const GuestRange> readable() const { return {ranges, readable_count}; }
    std::span<const GuestRange> writable() const {
        return {ranges + readable_count, static_cast<size_t>(count - readable_count)};
    }
};

}  // namespace domd::virtio
