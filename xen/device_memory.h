// One virtio device's view of its guest's memory (virtio/guest_memory.h), on target:
//  - guest-physical addresses go through the guest's GuestRam (mapped once, shared by the
//    guest's devices): a request costs no hypercall;
//  - grant addresses (bit 63, Linux CONFIG_XEN_VIRTIO): rings are mapped once per queue setup
//    and kept until release_rings(); a request's buffers are mapped with one batched
//    GNTTABOP_map_grant_ref per access kind (device-readable ones read-only, as Xen requires for
//    read-only grants) and unmapped in unmap_request(), before the used entry is published.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "kernel/limits.h"
#include "virtio/guest_memory.h"
#include "xen/grant_table.h"
#include "xen/guest_ram.h"

namespace domd::xen {

class DeviceMemory final : public virtio::GuestMemory {
public:
    // Ring mappings held at once: three areas for each queue of the device.
    static constexpr size_t max_ring_mappings = 3 * limits::max_queues_per_disk;
    // Requests whose grants are mapped at once (their storage has not completed them yet).
    static constexpr size_t max_grant_requests = limits::max_grant_requests_per_disk;
    // Grant batches per request: up to 2 x 64 pages each way (1 MiB of SIZE_MAX, both kinds).
    static constexpr size_t batches_per_request = 4;

    struct Stats {
        uint64_t grant_batches = 0;   // GNTTABOP_map_grant_ref calls for request buffers
        uint64_t grant_pages = 0;
        uint64_t grant_failures = 0;  // refs Xen would not map: the request failed
        uint64_t ring_grant_maps = 0;
    };

    DeviceMemory(GuestRam& ram, GrantMapper& grants, domid_t dom) : ram_(ram), grants_(grants), dom_(dom) {}
    DeviceMemory(const DeviceMemory&) = delete;
    DeviceMemory& operator=(const DeviceMemory&) = delete;

    Result<uint8_t*> map_ring(uint64_t addr, uint64_t len, bool writable) override;
    void release_rings() override;
    Status map_request(std::span<const virtio::GuestRange> ranges, std::span<virtio::HostBytes> out,
                       virtio::RequestMapping& mapping) override;
    void unmap_request(virtio::RequestMapping& mapping) override;
    uint64_t generation() const override { return ram_.generation(); }

    const Stats& stats() const { return stats_; }
    size_t live_ring_grants() const;
    size_t live_request_grants() const;

private:
    struct RequestGrants {
        bool used = false;
        std::array<GrantMapping, batches_per_request> batches;
    };
    // Refs of a grant range: first ref, offset in its page, pages.
    struct GrantSpan {
        grant_ref_t first;
        uint32_t offset;
        uint32_t pages;
    };
    static Result<GrantSpan> grant_span(uint64_t addr, uint64_t len);
    Status map_grants(std::span<const virtio::GuestRange> ranges, std::span<virtio::HostBytes> out,
                      RequestGrants& slot, virtio::Access kind, size_t& batch);

    GuestRam& ram_;
    GrantMapper& grants_;
    domid_t dom_;
    std::array<GrantMapping, max_ring_mappings> rings_;
    std::array<RequestGrants, max_grant_requests> requests_;
    Stats stats_;
};

}  // namespace domd::xen
