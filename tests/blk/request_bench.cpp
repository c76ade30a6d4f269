// Host micro-benchmark of the virtio-blk request path (not a test; built optimised, without
// sanitizers): 4 KiB reads and writes pushed through a split virtqueue, virtio-mmio and
// virtio-blk into a ram disk, over guest memory that is already mapped (what the
// guest-physical path costs once guest RAM is mapped). Prints ns per request beside a plain
// 4 KiB memcpy, which is the floor: the data has to move once.
//
// The guest side is reduced to a few stores into the avail ring and a load of the used index,
// so the time is the device's. Trap costs on Xen (tens of microseconds, see xen-lab.md) are
// not in here: this measures only what domd adds on top of them.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "blk/ram_disk.h"
#include "blk/virtio_blk.h"
#include "tests/fakes/fake_guest_memory.h"
#include "tests/fakes/fake_virtio_driver.h"
#include "virtio/mmio_transport.h"

using namespace domd;
using namespace domd::virtio;
using domd::test::FakeGuestMemory;
using domd::test::FakeInterrupt;
using domd::test::FakeVirtioDriver;

namespace {

constexpr uint32_t request_bytes = 4096;

// Guest memory as the guest-physical path costs in steady state: guest RAM already mapped,
// so a mapping is a bounds check and an addition, and unmapping is nothing. (FakeGuestMemory
// records every call for the tests; that bookkeeping would dominate here.)
class MappedGuestMemory final : public GuestMemory {
public:
    explicit MappedGuestMemory(FakeGuestMemory& ram) : ram_(ram), base_(ram.at(ram.base())) {}
    Result<uint8_t*> map_ring(uint64_t addr, uint64_t len, bool) override {
        if (!ram_.contains(addr, len)) return Err::fault;
        return base_ + (addr - ram_.base());
    }
    void release_rings() override {}
    Status map_request(std::span<const GuestRange> ranges, std::span<HostBytes> out, RequestMapping& mapping) override {
        for (size_t i = 0; i < ranges.size(); ++i) {
            if (!ram_.contains(ranges[i].addr, ranges[i].len)) return Err::fault;
            out[i] = {base_ + (ranges[i].addr - ram_.base()), ranges[i].len};
        }
        mapping.ranges = static_cast<uint32_t>(ranges.size());
        return ok_status();
    }
    void unmap_request(RequestMapping& mapping) override { mapping = {}; }
    uint64_t generation() const override { return 1; }

private:
    FakeGuestMemory& ram_;
    uint8_t* base_;
};
constexpr int max_depth = 32;
using Clock = std::chrono::steady_clock;

struct Bench {
    FakeGuestMemory memory{32 << 20, FakeGuestMemory::default_base, false};
    MappedGuestMemory mapped{memory};
    std::vector<uint8_t> disk = std::vector<uint8_t>(64 << 20, 0x5a);
    blk::RamDisk ram{std::span<uint8_t>(disk)};
    FakeInterrupt interrupt;
    blk::VirtioBlk device{ram, mapped, blk::VirtioBlkOptions{.queue_size = 256}};
    MmioTransport transport{device, mapped, interrupt};
    FakeVirtioDriver driver{transport, memory};

    struct Slot {
        uint16_t head;
        uint64_t header;
    };
    Slot slots[max_depth];
    uint16_t* avail_ring = nullptr;
    uint16_t* avail_idx = nullptr;
    uint16_t* used_idx = nullptr;
    uint16_t avail = 0;
    uint16_t size = 0;

    bool setup(uint64_t features) {
        if (!driver.probe(features, 1, 256)) return false;
        const auto& q = driver.queue(0);
        size = q.size;
        avail_ring = reinterpret_cast<uint16_t*>(memory.at(q.avail + split::avail_ring_offset));
        avail_idx = reinterpret_cast<uint16_t*>(memory.at(q.avail + split::avail_idx_offset));
        used_idx = reinterpret_cast<uint16_t*>(memory.at(q.used + split::used_idx_offset));
        for (int i = 0; i < max_depth; ++i) {
            const uint16_t d = static_cast<uint16_t>(3 * i);
            slots[i].header = driver.alloc(16, 16);
            const uint64_t data = driver.alloc(request_bytes, 4096);
            const uint64_t status = driver.alloc(1, 1);
            const blk::VirtioBlkReqHeader h{blk::request_type::in, 0, uint64_t(i) * 8};
            memory.write(slots[i].header, h);
            driver.write_desc(0, d, slots[i].header, 16, desc_flags::next, d + 1);
            driver.write_desc(0, d + 1, data, request_bytes, desc_flags::next | desc_flags::write, d + 2);
            driver.write_desc(0, d + 2, status, 1, desc_flags::write, 0);
            slots[i].head = d;
        }
        return true;
    }

    void set_type(uint32_t type) {
        for (int i = 0; i < max_depth; ++i) {
            memory.write<uint32_t>(slots[i].header, type);
            // OUT: the data buffer becomes device-readable.
            const uint64_t desc = driver.queue(0).desc + 16 * uint64_t(slots[i].head + 1);
            const uint16_t flags = type == blk::request_type::out ? desc_flags::next : desc_flags::next | desc_flags::write;
            memory.write<uint16_t>(desc + 12, flags);
        }
    }

    // `rounds` batches of `depth` requests; with `notify`, a QueueNotify per batch and the
    // driver's interrupt handling (InterruptStatus read, InterruptACK write).
    double run(int depth, int rounds, bool notify) {
        const auto start = Clock::now();
        for (int r = 0; r < rounds; ++r) {
            for (int i = 0; i < depth; ++i) avail_ring[(avail + i) & (size - 1)] = slots[i].head;
            avail = static_cast<uint16_t>(avail + depth);
            __atomic_store_n(avail_idx, avail, __ATOMIC_RELEASE);
            if (notify) (void)transport.write(mmio::queue_notify, 4, 0);
            transport.service(max_depth);
            if (__atomic_load_n(used_idx, __ATOMIC_ACQUIRE) != avail) {
                std::fprintf(stderr, "requests did not complete\n");
                return -1;
            }
            if (notify && transport.interrupt_status() != 0) {
                const uint64_t isr = transport.read(mmio::interrupt_status, 4).value;
                (void)transport.write(mmio::interrupt_ack, 4, isr);
            }
        }
        const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
        return ns / (double(rounds) * depth);
    }
};

double memcpy_ns(int rounds) {
    std::vector<uint8_t> from(64 << 20, 1), to(max_depth * request_bytes, 0);
    const auto start = Clock::now();
    for (int r = 0; r < rounds; ++r) {
        const int i = r % max_depth;
        std::memcpy(to.data() + i * request_bytes, from.data() + size_t(i) * 8 * 512, request_bytes);
        __asm__ volatile("" : : "r"(to.data()) : "memory");
    }
    return std::chrono::duration<double, std::nano>(Clock::now() - start).count() / rounds;
}

}  // namespace

int main() {
    constexpr int requests = 400000;
    const uint64_t features = features::version_1 | features::ring_event_idx | features::indirect_desc |
                              blk::blk_features::seg_max | blk::blk_features::flush | blk::blk_features::blk_size;
    std::printf("virtio-blk request path, 4 KiB requests, host CPU, ns per request (median of 5)\n");
    std::printf("%-34s %10s\n", "what", "ns/req");
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    std::vector<double> copies;
    for (int i = 0; i < 5; ++i) copies.push_back(memcpy_ns(requests));
    std::printf("%-34s %10.1f\n", "memcpy 4 KiB", median(copies));

    for (bool notify : {false, true}) {
        for (uint32_t type : {blk::request_type::in, blk::request_type::out}) {
            for (int depth : {1, max_depth}) {
                Bench bench;
                if (!bench.setup(features)) {
                    std::fprintf(stderr, "probe failed\n");
                    return 1;
                }
                bench.transport.set_polling(!notify);
                bench.set_type(type);
                (void)bench.run(depth, 2000 / depth + 1, notify);  // warm-up
                std::vector<double> samples;
                for (int i = 0; i < 5; ++i) samples.push_back(bench.run(depth, requests / depth, notify));
                char what[64];
                std::snprintf(what, sizeof what, "%s %s, depth %d", type == blk::request_type::in ? "read" : "write",
                              notify ? "notified" : "polled", depth);
                std::printf("%-34s %10.1f\n", what, median(samples));
                if (bench.device.totals().err_malformed + bench.device.totals().err_range != 0) {
                    std::fprintf(stderr, "requests failed\n");
                    return 1;
                }
            }
        }
    }
    return 0;
}
