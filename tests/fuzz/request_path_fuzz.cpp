// libFuzzer harness: the guest is the attacker, over the whole virtio-blk request path. The
// input scripts what a guest could do: any MMIO access to the device window (including the
// Linux bring-up sequence, so deep states are reached), raw writes into its RAM, descriptors
// and avail-ring entries of its choosing, well-formed and malformed virtio-blk requests, while
// the backend runs service passes, polls, completes or fails requests later, and sees its
// guest memory remapped or refusing to map.
//
// The first byte picks the device: bit 0 a store that completes later, bits 1-5 the queue count,
// bits 6-7 the variant: 0 virtio-mmio version 2 with a driver that never wants packed rings (the
// seeds written before packed rings existed keep their meaning), 1 version 2 where the driver
// may take packed rings (section 2.8), 2 the legacy transport (version 1, split rings placed by
// QueuePFN), 3 version 2 offering no packed rings to a driver that asks for everything. On a
// packed queue the raw operations write packed descriptors (any flags, IDs, laps) and event
// suppression structures instead of split ring entries.
//
// Beyond ASan/UBSan (no access outside what the guest owns, no write into a buffer the device
// may only read: FakeGuestMemory maps those read-only) the harness checks that a final reset
// always completes and leaves nothing mapped and nothing in flight.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

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
    size_t position() const { return pos_; }
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
    // Legacy registers (section 4.2.4): page size, alignment and ring placement. Picked from on
    // legacy devices only, so that the older seeds pick the registers they were written for.
    mmio::guest_page_size, mmio::queue_align, mmio::queue_pfn,
};
constexpr size_t legacy_registers = 3;
constexpr size_t all_registers = sizeof registers / sizeof registers[0];

enum class Variant : uint8_t { v2_split_driver, v2_packed_driver, legacy, v2_no_packed };

MmioOptions options_for(Variant variant) {
    MmioOptions options;
    if (variant == Variant::legacy) options.version = mmio::version_legacy;
    if (variant == Variant::v2_no_packed) options.ring_packed = false;
    return options;
}

struct Bench {
    Bench(bool deferred_store, uint16_t queues, Variant variant)
        : variant(variant),
          disk_storage(disk_bytes, 0),
          ram(std::span<uint8_t>(disk_storage), false),
          deferred(ram),
          memory(ram_bytes),
          blk(deferred_store ? static_cast<blk::BlockDevice&>(deferred) : ram, memory,
              blk::VirtioBlkOptions{.queues = queues, .queue_size = 64, .id = "fuzz"}),
          transport(blk, memory, interrupt, options_for(variant)),
          driver(transport, memory) {}

    Variant variant;

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
        if (s.u8() & 1) wanted = ~uint64_t{0};
        if (variant == Variant::v2_split_driver) wanted &= ~features::ring_packed;
        if (!driver.negotiate(wanted)) return;
        const uint16_t count = static_cast<uint16_t>(1 + s.u8() % queue_count);
        for (uint16_t q = 0; q < count; ++q) {
            // Powers of two up to 64; with bit 7, any size up to 64 (packed rings take them,
            // split rings refuse them).
            const uint8_t pick = s.u8();
            const uint16_t size = static_cast<uint16_t>((pick & 0x80) ? 1 + (pick & 0x7f) % 64 : 1u << (pick % 7));
            queues_set_up[q] = driver.setup_queue(q, size);
        }
        driver.driver_ok();
    }

    bool packed(uint16_t q) { return driver.queue(q).packed; }

    uint16_t fuzzed_flags(Script& s) {
        // NEXT, WRITE, INDIRECT and the packed AVAIL/USED bits are what rings look at.
        const uint8_t pick = s.u8();
        uint16_t flags = pick & 7;
        if (pick & 0x08) flags |= packed::desc_f_avail;
        if (pick & 0x10) flags |= packed::desc_f_used;
        if (pick & 0x20) flags = s.u16();
        return flags;
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
        const auto& queue = driver.queue(q);
        if (queue.packed ? queue.free_ids.empty() || queue.num_free < needed : queue.free.size() < needed) return;
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

// What one input did (REQUEST_PATH_REPORT=1 BINARY SEED): which faults the rings saw and how the
// requests were answered, to check that a seed reaches the case it is named after.
void report(Bench& bench) {
    std::fprintf(stderr, "request_path: version %u, %s", bench.transport.version(),
                 bench.transport.device_status() & status::device_needs_reset ? "NEEDS_RESET" : "no reset needed");
    for (uint16_t q = 0; q < bench.transport.queue_count(); ++q) {
        const Virtqueue& queue = bench.transport.queue(q);
        const QueueStats& stats = queue.stats();
        std::fprintf(stderr, "; queue %u %s chains %llu used %llu", q,
                     queue.live() ? (queue.format() == RingFormat::packed ? "packed" : "split") : "off",
                     static_cast<unsigned long long>(stats.chains),
                     static_cast<unsigned long long>(stats.used));
        for (int f = 0; f < ring_fault_kinds; ++f) {
            if (stats.ring_faults[f] != 0) std::fprintf(stderr, " ring_fault[%d]", f);
        }
        for (int f = 0; f < chain_fault_kinds; ++f) {
            if (stats.chain_faults[f] != 0) std::fprintf(stderr, " chain_fault[%d]x%llu", f, static_cast<unsigned long long>(stats.chain_faults[f]));
        }
    }
    const blk::BlkStats t = bench.blk.totals();
    std::fprintf(stderr, "; blk ok %llu malformed %llu range %llu unmappable %llu bad_chain %llu unanswerable %llu; setups refused %llu\n",
                 static_cast<unsigned long long>(t.ok), static_cast<unsigned long long>(t.err_malformed),
                 static_cast<unsigned long long>(t.err_range), static_cast<unsigned long long>(t.err_unmappable),
                 static_cast<unsigned long long>(t.err_bad_chain), static_cast<unsigned long long>(t.unanswerable),
                 static_cast<unsigned long long>(bench.transport.stats().queue_setups_refused));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Script s(data, size);
    const uint8_t setup = s.u8();
    const auto queues = static_cast<uint16_t>(1 + ((setup >> 1) & 0x1f) % 3);
    Bench bench((setup & 1) != 0, queues, static_cast<Variant>(setup >> 6));
    bench.queue_count = queues;

    const bool trace = std::getenv("REQUEST_PATH_REPORT") != nullptr;
    for (int step = 0; step < 256 && !s.empty(); ++step) {
        const uint8_t op = s.u8() % 18;
        if (trace) std::fprintf(stderr, "request_path: step %d op %u at byte %zu\n", step, op, s.position() - 1);
        switch (op) {
            case 0: bench.probe(s); break;
            case 1: {
                const size_t choices = bench.variant == Variant::legacy ? all_registers : all_registers - legacy_registers;
                const uint32_t offset = registers[s.u8() % choices];
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
            case 5: {  // a descriptor of the guest's choosing, anywhere in the ring
                const uint16_t q = static_cast<uint16_t>(s.u8() % bench.queue_count);
                if (!bench.queues_set_up[q]) break;
                const uint16_t index = static_cast<uint16_t>(s.u16() % bench.driver.queue(q).size);
                const uint64_t addr = bench.address(s);
                const uint32_t len = (s.u8() & 1) ? s.u32() : s.u8();
                if (bench.packed(q)) {
                    const uint16_t flags = bench.fuzzed_flags(s);
                    bench.driver.write_packed(q, index, {addr, len, s.u16(), flags});
                } else {
                    const uint16_t flags = static_cast<uint16_t>(s.u8() % 8);
                    bench.driver.write_desc(q, index, addr, len, flags, s.u16());
                }
                break;
            }
            case 6: {  // split: an avail entry of the guest's choosing; packed: a list made
                       // available at the driver's next slots (lap flags, or any flags)
                const uint16_t q = static_cast<uint16_t>(s.u8() % bench.queue_count);
                if (!bench.queues_set_up[q]) break;
                if (bench.packed(q)) {
                    const uint8_t shape = s.u8();
                    std::vector<PackedDesc> list;
                    for (int i = 0; i <= (shape & 3); ++i) {
                        const uint64_t addr = bench.address(s);
                        const uint32_t len = (s.u8() & 1) ? s.u32() : s.u8();
                        const uint16_t id = (shape & 4) ? s.u16() : static_cast<uint16_t>(s.u8() % bench.driver.queue(q).size);
                        list.push_back({addr, len, id, bench.fuzzed_flags(s)});
                    }
                    bench.driver.add_packed_raw(q, list, (shape & 8) != 0);
                } else {
                    bench.driver.publish(q, s.u16());
                }
                if (s.u8() & 1) (void)bench.transport.write(mmio::queue_notify, 4, q);
                break;
            }
            case 7: {  // split: the avail index; packed: the driver's event suppression
                const uint16_t q = static_cast<uint16_t>(s.u8() % bench.queue_count);
                if (!bench.queues_set_up[q]) break;
                if (bench.packed(q)) {
                    const uint16_t flags = s.u16();
                    bench.driver.set_driver_event(q, flags, s.u16());
                } else {
                    bench.driver.set_avail_idx(q, s.u16());
                }
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
            default: {  // split: used_event; packed: the device's event suppression (our area)
                const uint16_t q = static_cast<uint16_t>(s.u8() % bench.queue_count);
                if (!bench.queues_set_up[q]) break;
                if (bench.packed(q)) {
                    const uint64_t area = bench.driver.queue(q).used;
                    bench.memory.write<uint16_t>(area + packed::event_off_wrap_offset, s.u16());
                    bench.memory.write<uint16_t>(area + packed::event_flags_offset, s.u16());
                } else {
                    bench.driver.set_used_event(q, s.u16());
                }
                break;
            }
        }
        if (bench.transport.needs_service()) (void)bench.transport.service();
    }
    if (trace) report(bench);

    // However the guest behaved, a reset completes and leaves nothing behind.
    bench.memory.fail_map_request_after = -1;
    bench.write_until_done(mmio::status, 0);
    if (bench.blk.in_flight() != 0) broken("requests in flight after a reset");
    if (bench.memory.live_requests() != 0) broken("request buffers still mapped after a reset");
    if (bench.memory.live_ring_views() != 0) broken("rings still mapped after a reset");
    if (bench.transport.device_status() != 0) broken("status not 0 after a reset");
    return 0;
}
