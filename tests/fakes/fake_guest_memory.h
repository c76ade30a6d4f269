// A fake virtio::GuestMemory: one host buffer stands for a guest's RAM at a guest-physical base
// (0x40000000 by default, where a Xen guest's RAM starts on arm64), plus fake grants for
// addresses with bit 63 set (gref N names page N of that buffer).
//
// Strict mode (the default) hands the device a fresh mapping of the buffer for every ring and
// every request range, read-only where the device may only read, and unmaps it on release:
// a device write into a device-readable buffer, or any use of a pointer after unmap_request,
// release_rings or a generation bump, faults (the test dies with SIGSEGV under ASan). The test
// plays the driver through a separate, permanent view (at()).
//
// Every call is recorded with an optional snapshot of a 16-bit guest location (the used idx),
// so a test can check that a request was unmapped before its used entry was published.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <vector>

#include "virtio/guest_memory.h"

namespace domd::test {

class FakeGuestMemory final : public virtio::GuestMemory {
public:
    static constexpr uint64_t default_base = 0x40000000;
    static constexpr size_t default_size = 4 << 20;

    explicit FakeGuestMemory(size_t bytes = default_size, uint64_t base = default_base, bool strict = true);
    // The driver's side only, over guest RAM someone else owns (a fake Xen's): at() and alloc
    // work, the device-side methods are not for use.
    FakeGuestMemory(uint8_t* external_ram, size_t bytes, uint64_t base);
    ~FakeGuestMemory();
    FakeGuestMemory(const FakeGuestMemory&) = delete;
    FakeGuestMemory& operator=(const FakeGuestMemory&) = delete;

    uint64_t base() const { return base_; }
    size_t size() const { return size_; }
    bool contains(uint64_t gpa, uint64_t len) const {
        return gpa >= base_ && len <= size_ && gpa - base_ <= size_ - len;
    }
    // The driver's view of guest RAM (aborts the test for an address outside it).
    uint8_t* at(uint64_t gpa);
    template <typename T>
    T read(uint64_t gpa) {
        T value;
        std::memcpy(&value, at(gpa), sizeof value);
        return value;
    }
    template <typename T>
    void write(uint64_t gpa, T value) {
        std::memcpy(at(gpa), &value, sizeof value);
    }

    // Grants the pages covering [gpa, gpa + len) and returns the grant address of gpa
    // (bit 63 | gref << 12 | offset) as a Linux CONFIG_XEN_VIRTIO guest would put it in a
    // descriptor. Read-only grants refuse device-writable mappings, as Xen does.
    uint64_t grant(uint64_t gpa, uint64_t len, bool readonly);
    void revoke_grants() { grants_.clear(); }

    // ---- virtio::GuestMemory ----
    Result<uint8_t*> map_ring(uint64_t addr, uint64_t len, bool writable) override;
    void release_rings() override;
    Status map_request(std::span<const virtio::GuestRange> ranges, std::span<virtio::HostBytes> out,
                       virtio::RequestMapping& mapping) override;
    void unmap_request(virtio::RequestMapping& mapping) override;
    uint64_t generation() const override { return generation_; }

    // ---- injected trouble ----
    // The next map_request / map_ring after `n` more successful ones fails (-1: never).
    int fail_map_request_after = -1;
    int fail_map_ring_after = -1;
    // Makes every ring pointer handed out so far invalid (unmapped), as an INVALIDATE would.
    void bump_generation();

    // ---- records ----
    enum class Op : uint8_t { map_ring, release_rings, map_request, unmap_request, generation };
    struct Event {
        Op op;
        uint64_t cookie;    // map_request / unmap_request: the mapping's cookie
        uint16_t watched;   // the watched u16 at that moment
    };
    std::vector<Event> events;
    void watch_u16(uint64_t gpa) {
        watch_ = gpa;
        watching_ = true;
    }
    size_t live_requests() const { return requests_.size(); }
    size_t live_ring_views() const { return ring_views_.size(); }
    uint64_t map_request_calls = 0;
    uint64_t unmap_request_calls = 0;
    uint64_t ranges_mapped = 0;
    uint64_t map_ring_calls = 0;
    uint64_t release_rings_calls = 0;
    size_t largest_request = 0;  // most ranges in one map_request

private:
    struct View {
        void* base;
        size_t bytes;
    };
    // Guest address -> offset into the buffer, checking bounds and grants.
    Result<uint64_t> translate(uint64_t addr, uint64_t len, bool writable) const;
    Result<uint8_t*> make_view(uint64_t offset, uint64_t len, bool writable, std::vector<View>& views);
    void drop_views(std::vector<View>& views);
    void record(Op op, uint64_t cookie);

    uint64_t base_;
    size_t size_;
    bool strict_;
    int fd_ = -1;
    uint8_t* driver_view_ = nullptr;
    uint8_t* device_view_ = nullptr;  // non-strict mode: one persistent mapping
    uint64_t generation_ = 1;
    uint64_t next_cookie_ = 1;
    std::map<uint64_t, bool> grants_;  // gref -> read-only
    std::vector<View> ring_views_;
    std::map<uint64_t, std::vector<View>> requests_;
    bool watching_ = false;
    uint64_t watch_ = 0;
};

}  // namespace domd::test
