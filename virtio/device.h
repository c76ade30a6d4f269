// A virtio device type (virtio-blk, ...) as a transport sees it: identity, features, its
// configuration space, its queues, and request processing. The transport (virtio-mmio today)
// knows nothing of what the device does; the device knows nothing of registers. Calls are per
// queue pass or per register access, never per descriptor.
#pragma once

#include <cstdint>
#include <span>

#include "virtio/virtqueue.h"

namespace domd::virtio {

struct ProcessResult {
    uint32_t popped = 0;        // chains taken from the queue
    bool out_of_slots = false;  // stopped because every request slot is busy
};

class Device {
public:
    // Section 5: the device ID the transport presents (2 for block).
    virtual uint32_t device_id() const = 0;
    // Device-type feature bits offered (the transport adds VERSION_1 and the ring features; a
    // legacy transport offers bits 0..31 only).
    virtual uint64_t device_features() const = 0;
    // Called when the driver sets FEATURES_OK with `negotiated` (already checked to be a subset
    // of what is offered, VERSION_1 included), or, on a legacy transport (no VERSION_1, no
    // FEATURES_OK), when the driver first sets up a queue or writes DRIVER_OK. False refuses
    // them: FEATURES_OK stays clear (legacy: the queue setup or DRIVER_OK is refused).
    virtual bool accept_features(uint64_t negotiated) = 0;

    // Queues the device has (section 5.x.2) and the largest size each takes.
    virtual uint16_t queue_count() const = 0;
    virtual uint16_t queue_max_size(uint16_t queue) const = 0;

    // The device-specific configuration space, little-endian (read by the transport at 0x100+).
    virtual std::span<const uint8_t> config_space() const = 0;
    // A driver write into the configuration space, already checked to fall inside it.
    virtual void write_config(uint32_t offset, std::span<const uint8_t> bytes) = 0;

    // Pops chains from `queue` and starts their requests: until the queue is empty, `budget`
    // chains were taken, or the device has no free request slot. Completions (now or later)
    // go back through queue.push() / queue.fail_chain().
    virtual ProcessResult process(Virtqueue& queue, uint32_t budget) = 0;

    // Device reset (section 2.4), called once no request is in flight on any queue.
    virtual void reset() = 0;

protected:
    ~Device() = default;
};

}  // namespace domd::virtio
