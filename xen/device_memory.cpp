#include "xen/device_memory.h"

namespace domd::xen {

using virtio::Access;
using virtio::GuestRange;
using virtio::HostBytes;

Result<DeviceMemory::GrantSpan> DeviceMemory::grant_span(uint64_t addr, uint64_t len) {
    uint64_t ref_and_offset = addr & ~grant_bit;
    uint64_t first = ref_and_offset >> page_shift;
    uint64_t offset = ref_and_offset & page_mask;
    if (len == 0) len = 1;
    uint64_t pages = (offset + len + page_size - 1) >> page_shift;
    // Consecutive refs, all of them valid grant_ref_t values.
    if (pages > GrantMapping::max_batch || first + pages - 1 > UINT32_MAX) return Err::too_big;
    return GrantSpan{static_cast<grant_ref_t>(first), static_cast<uint32_t>(offset), static_cast<uint32_t>(pages)};
}

Result<uint8_t*> DeviceMemory::map_ring(uint64_t addr, uint64_t len, bool writable) {
    if (!(addr & grant_bit)) return ram_.translate(addr, len);
    GrantSpan span = TRY(grant_span(addr, len));
    GrantMapping* slot = nullptr;
    for (auto& r : rings_)
        if (!r.valid()) {
            slot = &r;
            break;
        }
    if (!slot) return Err::no_space;
    grant_ref_t refs[GrantMapping::max_batch];
    for (uint32_t i = 0; i < span.pages; ++i) refs[i] = span.first + i;
    *slot = TRY(grants_.map(dom_, std::span<const grant_ref_t>(refs, span.pages), !writable));
    ++stats_.ring_grant_maps;
    return slot->address().as<uint8_t>() + span.offset;
}

void DeviceMemory::release_rings() {
    for (auto& r : rings_) r.reset();
}

Status DeviceMemory::map_grants(std::span<const GuestRange> ranges, std::span<HostBytes> out, RequestGrants& slot,
                                Access kind, size_t& batch) {
    grant_ref_t refs[GrantMapping::max_batch];
    size_t count = 0;
    size_t first_range = 0;
    // Ranges of this kind go into batches of up to max_batch consecutive pages' refs; a range
    // is never split across batches, so its bytes are contiguous in one mapping.
    auto flush = [&](size_t upto) -> Status {
        if (count == 0) return ok_status();
        if (batch == batches_per_request) return Err::too_big;
        auto mapped = grants_.map(dom_, std::span<const grant_ref_t>(refs, count), kind == Access::from_guest);
        ++stats_.grant_batches;
        if (!mapped.ok()) {
            ++stats_.grant_failures;
            return mapped.error();
        }
        stats_.grant_pages += count;
        GrantMapping& m = slot.batches[batch++] = std::move(mapped).value();
        size_t page = 0;
        for (size_t i = first_range; i < upto; ++i) {
            if (!(ranges[i].addr & grant_bit) || ranges[i].access != kind) continue;
            GrantSpan span = grant_span(ranges[i].addr, ranges[i].len).value();
            out[i] = HostBytes(m.address().as<uint8_t>() + page * page_size + span.offset, ranges[i].len);
            page += span.pages;
        }
        count = 0;
        return ok_status();
    };
    for (size_t i = 0; i < ranges.size(); ++i) {
        if (!(ranges[i].addr & grant_bit) || ranges[i].access != kind) continue;
        GrantSpan span = TRY(grant_span(ranges[i].addr, ranges[i].len));
        if (count + span.pages > GrantMapping::max_batch) {
            TRY(flush(i));
            first_range = i;
        }
        for (uint32_t p = 0; p < span.pages; ++p) refs[count++] = span.first + p;
    }
    return flush(ranges.size());
}

Status DeviceMemory::map_request(std::span<const GuestRange> ranges, std::span<HostBytes> out,
                                 virtio::RequestMapping& mapping) {
    if (ranges.size() > virtio::RequestMapping::max_ranges || out.size() < ranges.size()) return Err::too_big;
    mapping = virtio::RequestMapping{};
    bool any_grant = false;
    for (size_t i = 0; i < ranges.size(); ++i) {
        if (ranges[i].addr & grant_bit) {
            any_grant = true;
            continue;
        }
        uint8_t* p = TRY(ram_.translate(ranges[i].addr, ranges[i].len));
        out[i] = HostBytes(p, ranges[i].len);
    }
    if (!any_grant) return ok_status();
    size_t index = max_grant_requests;
    for (size_t i = 0; i < max_grant_requests; ++i)
        if (!requests_[i].used) {
            index = i;
            break;
        }
    if (index == max_grant_requests) return Err::no_space;
    RequestGrants& slot = requests_[index];
    slot.used = true;
    size_t batch = 0;
    Status mapped = map_grants(ranges, out, slot, Access::from_guest, batch);
    if (mapped.ok()) mapped = map_grants(ranges, out, slot, Access::to_guest, batch);
    if (!mapped.ok()) {
        for (auto& b : slot.batches) b.reset();  // nothing of a failed request stays mapped
        slot.used = false;
        return mapped;
    }
    mapping.cookie = index + 1;
    mapping.ranges = static_cast<uint32_t>(ranges.size());
    return ok_status();
}

void DeviceMemory::unmap_request(virtio::RequestMapping& mapping) {
    if (mapping.cookie == 0 || mapping.cookie > max_grant_requests) return;
    RequestGrants& slot = requests_[mapping.cookie - 1];
    {
        // One completion of the TLB maintenance for all of this request's batches.
        for (auto& b : slot.batches) b.reset();
    }
    slot.used = false;
    mapping = virtio::RequestMapping{};
}

size_t DeviceMemory::live_ring_grants() const {
    size_t n = 0;
    for (const auto& r : rings_) n += r.valid();
    return n;
}

size_t DeviceMemory::live_request_grants() const {
    size_t n = 0;
    for (const auto& r : requests_) n += r.used;
    return n;
}

}  // namespace domd::xen
