// How device-side virtio code reaches one guest's memory. Descriptor addresses are written by
// the guest and are hostile until GuestMemory says otherwise: every method checks the whole
// range (overflow included) and answers an error, never a pointer outside what the guest owns.
//
// Two kinds of address reach a device (virtio 1.2 section 2.7; Xen's grant-based virtio):
//  - guest-physical addresses (a stock guest kernel): xen/ maps the guest's RAM lazily, in
//    large chunks, and keeps it mapped, so steady-state access costs no hypercall;
//  - grant addresses, bit 63 set (Linux CONFIG_XEN_VIRTIO): `gref = (addr & ~bit63) >> 12`,
//    offset `addr & 0xfff`, a buffer spanning pages uses consecutive refs. These must be mapped
//    per request and unmapped before the request's used entry is published.
// The implementation on target is xen/ (foreign mappings and grant maps); host tests use a fake
// that owns a buffer standing for guest RAM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "kernel/result.h"

namespace domd::virtio {

// Which way the device moves bytes through a buffer (virtio's VIRTQ_DESC_F_WRITE = to_guest).
enum class Access : uint8_t {
    from_guest,  // device-readable: the device only reads it
    to_guest,    // device-writable: the device writes it (and may read back what it wrote)
};

// A guest buffer as the device names it: an address in the guest's space and a length.
struct GuestRange {
    uint64_t addr = 0;
    uint32_t len = 0;
    Access access = Access::from_guest;
};

// The bytes of one GuestRange in our address space.
using HostBytes = std::span<uint8_t>;

// What a request's buffers are mapped with; handed back to unmap_request(). Opaque to virtio/.
struct RequestMapping {
    static constexpr size_t max_ranges = 64;
    uint64_t cookie = 0;  // implementation-defined (for grants: which batch of mapped pages)
    uint32_t ranges = 0;
};

class GuestMemory {
public:
    // Bit 63 of a descriptor address marks a grant (with VIRTIO_F_ACCESS_PLATFORM).
    static constexpr uint64_t grant_bit = uint64_t{1} << 63;

    // A long-lived mapping of a ring (descriptor table, driver area, device area). Valid until
    // release_rings(), or until generation() changes (the guest's RAM was remapped: map again).
    // `writable` is false for rings the device only reads. Err::fault: not guest memory (or
    // not all of it); Err::range: the range wraps.
    virtual Result<uint8_t*> map_ring(uint64_t addr, uint64_t len, bool writable) = 0;
    // Drops every ring mapping (device reset, queue disabled). Ring pointers die here.
    virtual void release_rings() = 0;

    // Maps the buffers of one request, all at once (grants: one batched hypercall). out[i]
    // receives range i's bytes; `mapping` records what to undo. Any range that fails fails
    // the whole call and leaves nothing mapped. ranges.size() <= RequestMapping::max_ranges.
    virtual Status map_request(std::span<const GuestRange> ranges, std::span<HostBytes> out,
                               RequestMapping& mapping) = 0;
    // Undoes map_request. Must be called before the request's used entry is published: a
    // grant-based driver revokes its grants when it takes the used entry.
    virtual void unmap_request(RequestMapping& mapping) = 0;

    // Changes whenever earlier ring pointers may no longer be valid (an INVALIDATE from Xen
    // dropped the guest RAM mappings). Cheap: compared on every pass over a queue.
    virtual uint64_t generation() const = 0;

protected:
    ~GuestMemory() = default;
};

}  // namespace domd::virtio
