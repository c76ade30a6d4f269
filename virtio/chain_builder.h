// Builds a Chain from the descriptors a ring walk finds, in order, whatever the ring format:
// the buffer rules that do not depend on the format (sections 2.7.4 and 2.8.5: device-readable
// buffers first; lengths and addresses a buffer can have; what one request can map) live here
// once, for SplitRing and PackedRing alike. A broken rule marks the chain (ChainFault) and the
// walk goes on, so the device can still answer it in the last usable device-writable byte.
#pragma once

#include <cstdint>

#include "virtio/chain.h"
#include "virtio/guest_memory.h"
#include "virtio/limits.h"

namespace domd::virtio {

constexpr bool range_wraps(uint64_t addr, uint32_t len) { return len != 0 && addr + (len - 1) < addr; }

class ChainBuilder {
public:
    // `grants`: whether bit-63 addresses may reach GuestMemory (false on a legacy device, which
    // has no VIRTIO_F_ACCESS_PLATFORM: its addresses are guest-physical only).
    ChainBuilder(Chain& out, bool grants) : out_(out), grants_(grants) {
        out.count = out.readable_count = 0;
        out.fault = ChainFault::none;
        out.has_status_byte = false;
    }

    void add(uint64_t addr, uint32_t len, bool writable) {
        const GuestRange range{addr, len, writable ? Access::to_guest : Access::from_guest};
        ChainFault fault = ChainFault::none;
        if (len == 0) fault = ChainFault::zero_length;
        else if (range_wraps(addr, len)) fault = ChainFault::address_wraps;
        else if (!grants_ && (addr & GuestMemory::grant_bit)) fault = ChainFault::grant_not_negotiated;

        if (writable) {
            seen_writable_ = true;
            writable_bytes_ += len;
            last_writable_ = range;
            last_writable_usable_ = fault == ChainFault::none;
        } else {
            if (seen_writable_ && fault == ChainFault::none) fault = ChainFault::readable_after_writable;
            readable_bytes_ += len;
        }
        if (fault != ChainFault::none && out_.fault == ChainFault::none) out_.fault = fault;

        // Past the limit the walk goes on (bounded by the ring, to find the status byte),
        // storing nothing.
        if (out_.count >= limits::max_chain_ranges) {
            if (out_.fault == ChainFault::none) out_.fault = ChainFault::too_many_ranges;
            return;
        }
        out_.ranges[out_.count++] = range;
        if (!seen_writable_) out_.readable_count = out_.count;
    }

    // The walk reached the end of the chain: totals, the status byte, the token.
    void finish(UsedToken token) {
        if (readable_bytes_ > UINT32_MAX || writable_bytes_ > UINT32_MAX) {
            if (out_.fault == ChainFault::none) out_.fault = ChainFault::too_many_bytes;
        }
        out_.readable_bytes = static_cast<uint32_t>(readable_bytes_ > UINT32_MAX ? UINT32_MAX : readable_bytes_);
        out_.writable_bytes = static_cast<uint32_t>(writable_bytes_ > UINT32_MAX ? UINT32_MAX : writable_bytes_);
        if (last_writable_usable_) {
            out_.has_status_byte = true;
            out_.status_byte = {last_writable_.addr + last_writable_.len - 1, 1, Access::to_guest};
        }
        out_.token = token;
    }

private:
    Chain& out_;
    bool grants_;
    // Totals in 64 bits: at most 2 x 1024 descriptors of < 4 GiB each, so they cannot overflow.
    uint64_t readable_bytes_ = 0;
    uint64_t writable_bytes_ = 0;
    bool seen_writable_ = false;
    bool last_writable_usable_ = false;
    GuestRange last_writable_;
};

}  // namespace domd::virtio
