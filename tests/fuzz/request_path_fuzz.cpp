// libFuzzer harness: the guest is the attacker, over the whole virtio-blk request path. The
// input scripts what a guest could do: any MMIO access to the device window (including the
// Linux bring-up sequence, so deep states are reached), raw writes into its RAM, descriptors
// and avail-ring entries of its choosing, well-formed and malformed virtio-blk requests, while
// the backend runs service passes, polls, completes or fails requests later, and sees its
// guest memory remapped or refusing to map.
//
// Beyond ASan/UBSan (no access outside what the guest owns, no write into a buffer the device
// may only read: FakeGuestMemory maps those read-only) the harness checks that a final reset
// always completes and leaves nothing mapped and nothing in flight.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "blk/ram_disk.h"
#include "blk/virtio_blk.h"
#include "tests/fakes/fake_block_device.h"
#include "tests/fakes/fake_guest_memory.h"
#include "tests/fakes/fake_virtio_driver.h"
#include "virtio/mmio_transport.h"

namespace {

using namespace domd;
using namespace domd::virtio;
using domd::test::FakeGuestMemory;
using domd::test::FakeInterrupt;
using domd::test::FakeVirtioDriver;

constexpr size_t ram_bytes = 256 << 10;
constexpr size_t disk_bytes = 64 << 10;

class Script {
public:
    Script(const uint8_t* data, size_t size) : data_(data), size_(size) {}
    bool empty() const { return pos_ >= size_; }
    uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
    uint16_t u16() { return static_cast<uint16_t>(u8() | (u8() << 8)); }
    uint32_t u32() { return u16() | (uint32_t{u16()} << 16); }
    uint64_t u64() { return u32() | (uint64_t{u32()} << 32); }

private:
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
};

[[noreturn]] void broken(const char* what) {
    std::fprintf(stderr, "request_path_fuzz: %s\n", what);
    std::abort();
}

constexpr uint32_t registers[] = {
    mmio::magic_value, mmio::version, mmio::device_id, mmio::vendor_id, mmio::device_features,
    mmio::device_features_sel, mmio::driver_features, mmio::driver_features_sel, mmio::queue_sel,
    mmio::queue_num_max, mmio::queue_num, mmio::queue_ready, mmio::queue_notify, mmio::interrupt_status,
    mmio::interrupt_ack, mmio::status, mmio::queue_desc_low, mmio::queue_desc_high, mmio::queue_driver_low,
    mmio::queue_driver_high, mmio::queue_device_low, mmio::queue_device_high, mmio::shm_sel, mmio::shm_len_low,
    mmio::queue_reset, mmio::config_generation, mmio::config, mmio::config + 8, mmio::config + 34,
};

struct Bench {
    explicit Bench(bool deferred_store, uint16_t queues)
        : disk_storage(disk_bytes, 0),
          ram(std::span<uint8_t>(disk_storage), false),
          deferred(ram),
          memory(ram_bytes),
          blk(deferred_store ? static_cast<blk::BlockDevice&>(deferred) : ram, memory,
              blk::VirtioBlkOptions{.queues = queues, .queue_size = 64, .id = "fuzz"}),
          transport(blk, memory, interrupt),
          driver(transport, memory) {}

    std::vector<uint8_t> disk_storage;
    blk::RamDisk ram;
    domd::test::DeferredBlockDevice deferred;
    FakeGuestMemory memory;
    FakeInterrupt interrupt;
    blk::VirtioBlk blk;
    MmioTransport transport;
    FakeVirtioDriver driver;
    bool queues_set_up[limits::max_queues] = {};
    uint16_t queue_count = 1;
    int probes = 0;

    // Offers a write until it is done, completing the store's requests in between (what the
    // loop does while a reset waits). Bounded: a write that never completes is a bug.
    void write_until_done(uint32_t offset, uint32_t value) {
        for (int i = 0; i < 1000; ++i) {
            if (transport.write(offset, 4, value).kind == MmioAnswer::Kind::done) return;
            deferred.complete_all();
            transport.service();
        }
        broken("a write kept answering retry with nothing in flight");
    }

    uint64_t address(Script& s) {
        switch (s.u8() % 4) {
            case 0: return memory.base() + s.u32() % ram_bytes;
            case 1: return FakeGuestMemory::grant_bit | (s.u32() % ram_bytes);
            case 2: return memory.base() + ram_bytes - (s.u8() % 64);
            default: return s.u64();
        }
    }

    // Linux's bring-up, with fuzzed features and queue sizes.
    void probe(Script& s) {
        if (++probes > 4) return;  // each bring-up takes fresh ring memory from the fake driver
        for (bool& q : queues_set_up) q = false;
        write_until_done(mmio::status, 0);
        uint64_t wanted = s.u64() | features::version_1;
        if (s.u8() & 1) wanted = ~uint64_t{0} & ~features::ring_packed;
        if (!driver.negotiate(wanted)) return;
        const uint16_t count = static_cast<uint16_t>(1 + s.u8() % queue_count);
        for (uint16_t q = 0; q < count; ++q) {
            const uint16_t size = static_cast<uint16_t>(1u << (s.u8() % 7));  // 1 .. 64
            queues_set_up[q] = driver.setup_queue(q, size);
        }
        driver.driver_ok();
    }

    // A virtio-blk request in Linux's layout with fuzzed contents.
    void request(Script& s) {
        const uint16_t q = static_cast<uint16_t>(s.u8() % queue_count);
        if (!queues_set_up[q]) return;
        const uint8_t shape = s.u8();
        const uint32_t type = (shape & 0x80) ? s.u32() : static_cast<uint32_t>(shape % 14);
        const uint64_t sector = (shape & 0x40) ? s.u64() : s.u8();
        const uint32_t data_len = (shape & 0x20) ? s.u32() % 70000 : 512u * (s.u8() % 9);
        const bool indirect = (shape & 0x10) && driver.has(features::indirect_desc);
        const bool split_header = shape & 0x08;
        std::vector<FakeVirtioDriver::Buffer> buffers;
        const blk::VirtioBlkReqHeader h{type, 0, sector};
        const uint64_t header = alloc(16);
        if (header == 0) return;
        std::memcpy(memory.at(header), &h, sizeof h);
        if (split_header) {
            buffers.push_back({header, 5, false});
            buffers.push_back({header + 5, 11, false});
        } else {
            buffers.push_back({header, 16, false});
        }
        if (data_len != 0) {
            const uint64_t data = (shape & 0x04) ? address(s) : alloc(data_len);
            if (data == 0) return;
            const bool writable = (type == blk::request_type::in || type == blk::request_type::get_id) != ((shape & 0x02) != 0);
            buffers.push_back({data, data_len, writable});
        }
        const uint64_t status = (shape & 0x01) ? address(s) : alloc(1);
        if (status == 0) return;
        buffers.push_back({status, 1, (s.u8() & 7) != 0});
        const size_t needed = indirect ? 1 : buffers.size();
        if (driver.queue(q).free.size() < needed) return;
        driver.add(q, buffers, indirect);
        driver.kick(q);
    }

    uint64_t alloc(uint64_t bytes) {
        // The fake driver's allocator aborts when RAM runs out; wrap around instead.
        if (next_alloc + bytes > ram_bytes) next_alloc = 0;
        if (bytes > ram_bytes) return 0;
        const uint64_t at = memory.base() + next_alloc;
        next_alloc = (next_alloc + bytes + 63) & ~uint64_t{63};
        return at;
    }
    uint64_t next_alloc = ram_bytes / 2;  // the upper half; the driver's rings live below
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Script s(data, size);
    const uint8_t setup = s.u8();
    Bench bench((setup & 1) != 0, static_cast<uint16_t>(1 + (setup >> 1) % 3));
    bench.queue_count = static_cast<uint16_t>(1 + (setup >> 1) % 3);

    for (int step = 0; step < 256 && !s.empty(); ++step) {
        switch (s.u8() % 18) {
            case 0: bench.probe(s); break;
            case 1: {
                const uint32_t offset = registers[s.u8() % (sizeof registers / sizeof registers[0])];
                (void)bench.transport.write(offset, 4, s.u32());
                break;
            }
            case 2: (void)bench.transport.read(s.u16() % 0x220, static_cast<uint8_t>(s.u8() % 9)); break;
            case 3: (void)bench.transport.write(s.u16() % 0x220, static_cast<uint8_t>(s.u8() % 9), s.u64()); break;
            case 4: {  // raw bytes anywhere in guest RAM (rings included)
                const uint32_t at = s.u32() % ram_bytes;
                const uint8_t n = s.u8() % 32;
                for (uint8_t i = 0; i < n && at + i < ram_bytes; ++i) *bench.memory.at(bench.memory.base() + at + i) = s.u8();
                break;
            }
            case 5: {  // a descriptor of the guest's choosing
                const uint16_t q = static_cast<uint16_t>(s.u8() % bench.queue_count);
                if (!bench.queues_set_up[q]) break;
                const uint16_t index = static_cast<uint16_t>(s.u16() % bench.driver.queue(q).size);
                const uint64_t addr = bench.address(s);
                const uint32_t len = (s.u8() & 1) ? s.u32() : s.u8();
                const uint16_t flags = static_cast<uint16_t>(s.u8() % 8);
                bench.driver.write_desc(q, index, addr, len, flags, s.u16());
                break;
            }
            case 6: {  // an avail entry of the guest's choosing
                const uint16_t q = static_cast<uint16_t>(s.u8() % bench.queue_count);
                if (!bench.queues_set_up[q]) break;
                bench.driver.publish(q, s.u16());
                if (s.u8() & 1) (void)bench.transport.write(mmio::queue_notify, 4, q);
                break;
            }
            case 7: {
                const uint16_t q = static_cast<uint16_t>(s.u8() % bench.queue_count);
                if (bench.queues_set_up[q]) bench.driver.set_avail_idx(q, s.u16());
                break;
            }
            case 8:
            case 9:
            case 10: bench.request(s); break;
            case 11: (void)bench.transport.service(1 + s.u8() % 64); break;
            case 12: bench.transport.set_polling(s.u8() & 1); break;
            case 13: (void)bench.transport.prepare_to_sleep(); break;
            case 14:
                if (bench.deferred.pending() != 0) {
                    if (s.u8() & 1) bench.deferred.complete_one();
                    else bench.deferred.fail_one(Err::io);
                }
                break;
            case 15:
                switch (s.u8() % 3) {
                    case 0: bench.memory.bump_generation(); break;
                    case 1: bench.memory.fail_map_request_after = s.u8() % 4; break;
                    default: bench.memory.fail_map_ring_after = s.u8() % 4; break;
                }
                break;
            case 16: {
                const uint16_t q = static_cast<uint16_t>(s.u8() % bench.queue_count);
                if (bench.queues_set_up[q]) (void)bench.driver.take_used(q, s.u8() & 1);
                (void)bench.driver.handle_interrupt();
                break;
            }
            default: {
                const uint16_t q = static_cast<uint16_t>(s.u8() % bench.queue_count);
                if (bench.queues_set_up[q]) bench.driver.set_used_event(q, s.u16());
                break;
            }
        }
        if (bench.transport.needs_service()) (void)bench.transport.service();
    }

    // However the guest behaved, a reset completes and leaves nothing behind.
    bench.memory.fail_map_request_after = -1;
    bench.write_until_done(mmio::status, 0);
    if (bench.blk.in_flight() != 0) broken("requests in flight after a reset");
    if (bench.memory.live_requests() != 0) broken("request buffers still mapped after a reset");
    if (bench.memory.live_ring_views() != 0) broken("rings still mapped after a reset");
    if (bench.transport.device_status() != 0) broken("status not 0 after a reset");
    return 0;
}
