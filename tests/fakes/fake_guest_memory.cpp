// No tests/test_support.h: the libFuzzer harness builds this file without CppUTest.
#include "tests/fakes/fake_guest_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace domd::test {
namespace {

constexpr uint64_t page = 4096;

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "FakeGuestMemory: %s\n", what);
    std::abort();
}

}  // namespace

FakeGuestMemory::FakeGuestMemory(size_t bytes, uint64_t base, bool strict)
    : base_(base), size_((bytes + page - 1) / page * page), strict_(strict) {
    fd_ = memfd_create("fake-guest-ram", 0);
    if (fd_ < 0 || ftruncate(fd_, static_cast<off_t>(size_)) != 0) die("memfd");
    void* view = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (view == MAP_FAILED) die("mmap");
    driver_view_ = static_cast<uint8_t*>(view);
    if (!strict_) {
        view = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
        if (view == MAP_FAILED) die("mmap");
        device_view_ = static_cast<uint8_t*>(view);
    }
}

FakeGuestMemory::FakeGuestMemory(uint8_t* external_ram, size_t bytes, uint64_t base)
    : base_(base), size_(bytes), strict_(false), driver_view_(external_ram) {}

FakeGuestMemory::~FakeGuestMemory() {
    if (fd_ < 0) return;  // external RAM: nothing of ours
    drop_views(ring_views_);
    for (auto& [cookie, views] : requests_) drop_views(views);
    if (device_view_ != nullptr) munmap(device_view_, size_);
    munmap(driver_view_, size_);
    close(fd_);
}

uint8_t* FakeGuestMemory::at(uint64_t gpa) {
    if (!contains(gpa, 1)) die("driver access outside guest RAM");
    return driver_view_ + (gpa - base_);
}

uint64_t FakeGuestMemory::grant(uint64_t gpa, uint64_t len, bool readonly) {
    if (!contains(gpa, len == 0 ? 1 : len)) die("grant outside guest RAM");
    const uint64_t first = (gpa - base_) / page;
    const uint64_t last = (gpa - base_ + (len == 0 ? 0 : len - 1)) / page;
    for (uint64_t ref = first; ref <= last; ++ref) grants_[ref] = readonly;
    return grant_bit | (first * page) | (gpa & (page - 1));
}

Result<uint64_t> FakeGuestMemory::translate(uint64_t addr, uint64_t len, bool writable) const {
    if (len == 0) return Err::invalid;
    if (addr + (len - 1) < addr) return Err::range;
    if (addr & grant_bit) {
        // gref = (addr & ~bit63) >> 12 and consecutive refs for the following pages (xen-abi.md).
        const uint64_t offset = addr & ~grant_bit;
        if (offset + (len - 1) < offset || offset + len > size_) return Err::fault;
        for (uint64_t ref = offset / page; ref <= (offset + len - 1) / page; ++ref) {
            auto it = grants_.find(ref);
            if (it == grants_.end()) return Err::fault;
            if (writable && it->second) return Err::permission;
        }
        return offset;
    }
    if (!contains(addr, len)) return Err::fault;
    return addr - base_;
}

Result<uint8_t*> FakeGuestMemory::make_view(uint64_t offset, uint64_t len, bool writable, std::vector<View>& views) {
    if (!strict_) return device_view_ + offset;
    const uint64_t start = offset / page * page;
    const uint64_t bytes = (offset + len - start + page - 1) / page * page;
    // A guard page on each side: an overrun past the view's last page faults, even when other
    // mappings happen to sit right next to it.
    void* region = mmap(nullptr, bytes + 2 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (region == MAP_FAILED) die("mmap guard");
    uint8_t* view = static_cast<uint8_t*>(region) + page;
    if (mmap(view, bytes, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED | MAP_FIXED, fd_,
             static_cast<off_t>(start)) == MAP_FAILED)
        die("mmap view");
    views.push_back({region, bytes + 2 * page});
    return view + (offset - start);
}

void FakeGuestMemory::drop_views(std::vector<View>& views) {
    for (const View& v : views) munmap(v.base, v.bytes);
    views.clear();
}

void FakeGuestMemory::record(Op op, uint64_t cookie) {
    uint16_t watched = 0;
    if (watching_ && contains(watch_, 2)) std::memcpy(&watched, driver_view_ + (watch_ - base_), 2);
    events.push_back({op, cookie, watched});
}

Result<uint8_t*> FakeGuestMemory::map_ring(uint64_t addr, uint64_t len, bool writable) {
    ++map_ring_calls;
    record(Op::map_ring, 0);
    if (fail_map_ring_after == 0) {
        fail_map_ring_after = -1;
        return Err::fault;
    }
    if (fail_map_ring_after > 0) --fail_map_ring_after;
    auto offset = translate(addr, len, writable);
    if (!offset.ok()) return offset.error();
    return make_view(offset.value(), len, writable, ring_views_);
}

void FakeGuestMemory::release_rings() {
    ++release_rings_calls;
    record(Op::release_rings, 0);
    drop_views(ring_views_);
}

Status FakeGuestMemory::map_request(std::span<const virtio::GuestRange> ranges, std::span<virtio::HostBytes> out,
                                    virtio::RequestMapping& mapping) {
    ++map_request_calls;
    if (ranges.size() > virtio::RequestMapping::max_ranges || out.size() < ranges.size())
        die("map_request beyond its contract");
    if (ranges.size() > largest_request) largest_request = ranges.size();
    if (fail_map_request_after == 0) {
        fail_map_request_after = -1;
        return Err::fault;
    }
    if (fail_map_request_after > 0) --fail_map_request_after;
    // Check everything first: a failure leaves nothing mapped.
    for (const auto& range : ranges) {
        auto offset = translate(range.addr, range.len, range.access == virtio::Access::to_guest);
        if (!offset.ok()) return offset.error();
    }
    const uint64_t cookie = next_cookie_++;
    std::vector<View>& views = requests_[cookie];
    for (size_t i = 0; i < ranges.size(); ++i) {
        const bool writable = ranges[i].access == virtio::Access::to_guest;
        const uint64_t offset = translate(ranges[i].addr, ranges[i].len, writable).value();
        out[i] = {make_view(offset, ranges[i].len, writable, views).value(), ranges[i].len};
    }
    ranges_mapped += ranges.size();
    mapping.cookie = cookie;
    mapping.ranges = static_cast<uint32_t>(ranges.size());
    record(Op::map_request, cookie);
    return ok_status();
}

void FakeGuestMemory::unmap_request(virtio::RequestMapping& mapping) {
    ++unmap_request_calls;
    auto it = requests_.find(mapping.cookie);
    if (it == requests_.end()) die("unmap_request of a mapping that is not live");
    record(Op::unmap_request, mapping.cookie);
    drop_views(it->second);
    requests_.erase(it);
    mapping = {};
}

void FakeGuestMemory::bump_generation() {
    ++generation_;
    record(Op::generation, 0);
    drop_views(ring_views_);
}

}  // namespace domd::test
