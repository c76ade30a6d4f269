#include "boot/frontend/load.h"

#include <cstdio>
#include <cstring>

#include "blk/virtio_blk_spec.h"
#include "boot/frontend/disk_pattern.h"
#include "kernel/log.h"
#include "virtio/mmio_transport.h"

namespace domd::frontend {
namespace {

namespace rt = blk::request_type;
namespace mmio = virtio::mmio;
using Kind = Reply::Kind;

constexpr uint32_t window_sectors = 16;
constexpr uint32_t segment_sectors = 8;  // WRITE_ZEROES and DISCARD, each on half the window
constexpr uint64_t progress_every_ns = 1'000'000'000ull;

struct Disk {
    VirtioDriver* d = nullptr;
    size_t index = 0;
    uint64_t capacity = 0;
    bool read_only = false;
    bool discard = false;
    bool write_zeroes = false;
    uint32_t discard_alignment = 1;  // sectors
    uint64_t pattern_base = 0;       // read-only disk: the lab image's sector number of our sector 0
    uint64_t requests = 0;
    uint64_t discards = 0;
    uint64_t zeroes = 0;
    uint64_t refused = 0;  // writes a read-only disk refused, as it must
};

class Load {
public:
    explicit Load(const LoadOptions& options) : options_(options) {}

    // What a request must get: false (with the reason said) otherwise.
    bool expect(Disk& disk, const char* what, const Reply& r, uint8_t status) {
        ++result_.total;
        ++disk.requests;
        const uint8_t got = r.kind == Kind::used ? disk.d->status_byte() : 0xff;
        uint32_t first_held = 0;
        if (r.kind == Kind::used && disk.d->buffer_grants_held(&first_held) != 0) {
            snprintf(why_, sizeof why_, "disk %zu %s: the backend still maps buffer grant %u after the used entry",
                     disk.index, what, first_held);
            return false;
        }
        if (r.kind == Kind::used && got == status) {
            ++result_.passed;
            return true;
        }
        snprintf(why_, sizeof why_, "disk %zu %s: %s (status %#x, wanted %#x)", disk.index, what,
                 r.kind == Kind::used ? "used" : r.kind == Kind::needs_reset ? "NEEDS_RESET" : "no used entry", got,
                 status);
        return false;
    }
    // A request expect() counted as passed returned the wrong bytes: it did not pass after all.
    bool fail_data(Disk& disk, const char* what) {
        snprintf(why_, sizeof why_, "disk %zu %s", disk.index, what);
        --result_.passed;
        return false;
    }

    Reply segments(Disk& disk, uint32_t type, uint64_t sector, uint32_t count) {
        VirtioDriver& d = *disk.d;
        d.put_header(type, 0);
        blk::VirtioBlkDiscardSegment seg{sector, count, 0};
        memcpy(d.ptr(Area::header, sizeof(blk::VirtioBlkReqHeader)), &seg, sizeof seg);
        d.poison_status();
        ChainWriter(d.desc_table(), VirtioDriver::queue_size)
            .add(d.addr(Area::header), sizeof(blk::VirtioBlkReqHeader) + sizeof seg, 0)
            .add(d.addr(Area::status), 1, virtio::desc_flags::write);
        d.publish(0);
        return d.wait();
    }

    bool writable_round(Disk& disk, uint32_t round) {
        VirtioDriver& d = *disk.d;
        const uint64_t span = disk.capacity - window_sectors;
        const uint64_t sector = (uint64_t{round} * 4099 * window_sectors) % span / window_sectors * window_sectors;
        const uint32_t bytes = window_sectors * sector_bytes;
        for (uint32_t i = 0; i < window_sectors; ++i)
            fill_test_sector(sector + i, round, d.ptr(Area::data, uint64_t{i} * sector_bytes));
        if (!expect(disk, "write", d.write(sector, bytes), blk::blk_status::ok)) return false;
        memset(d.ptr(Area::data), 0, bytes);
        if (!expect(disk, "read back", d.read(sector, bytes), blk::blk_status::ok)) return false;
        uint8_t expected[sector_bytes];
        for (uint32_t i = 0; i < window_sectors; ++i) {
            fill_test_sector(sector + i, round, expected);
            if (memcmp(expected, d.ptr(Area::data, uint64_t{i} * sector_bytes), sector_bytes) != 0)
                return fail_data(disk, "read back what it did not write");
        }
        if (disk.write_zeroes) {
            if (!expect(disk, "write-zeroes", segments(disk, rt::write_zeroes, sector, segment_sectors),
                        blk::blk_status::ok))
                return false;
            ++disk.zeroes;
            memset(d.ptr(Area::data), 0xa5, segment_sectors * sector_bytes);
            if (!expect(disk, "read of zeroes", d.read(sector, segment_sectors * sector_bytes), blk::blk_status::ok))
                return false;
            for (uint32_t i = 0; i < segment_sectors * sector_bytes; ++i)
                if (*d.ptr(Area::data, i) != 0) return fail_data(disk, "reads non-zero after WRITE_ZEROES");
        }
        if (disk.discard) {
            uint64_t first = sector + segment_sectors;
            first -= first % disk.discard_alignment;
            if (!expect(disk, "discard", segments(disk, rt::discard, first, segment_sectors), blk::blk_status::ok))
                return false;
            ++disk.discards;
        }
        return true;
    }

    bool read_only_round(Disk& disk, uint32_t round) {
        VirtioDriver& d = *disk.d;
        const uint64_t span = disk.capacity - window_sectors;
        const uint64_t sector = (uint64_t{round} * 4099 * window_sectors) % span;
        const uint32_t bytes = window_sectors * sector_bytes;
        memset(d.ptr(Area::data), 0, bytes);
        if (!expect(disk, "read", d.read(sector, bytes), blk::blk_status::ok)) return false;
        char why[128];
        if (!check_pattern(d.ptr(Area::data), disk.pattern_base + sector, window_sectors, why, sizeof why))
            return fail_data(disk, why);
        if (round % 4 == 0) {
            fill_test_sector(sector, round, d.ptr(Area::data));
            if (!expect(disk, "write to a read-only disk", d.write(sector, sector_bytes), blk::blk_status::ioerr))
                return false;
            ++disk.refused;
            if (disk.discard) {
                if (!expect(disk, "discard on a read-only disk", segments(disk, rt::discard, 0, segment_sectors),
                            blk::blk_status::ioerr))
                    return false;
                ++disk.refused;
            }
            // Nothing reached the disk: the sector still reads as the image's.
            if (!expect(disk, "read after the refused write", d.read(sector, sector_bytes), blk::blk_status::ok))
                return false;
            if (!check_pattern(d.ptr(Area::data), disk.pattern_base + sector, 1, why, sizeof why))
                return fail_data(disk, why);
        }
        return true;
    }

    // A read-only disk holds a piece of the lab image: its sector 0 names where (the pattern's
    // sector number), so the rest can be checked.
    bool learn_pattern_base(Disk& disk) {
        VirtioDriver& d = *disk.d;
        if (!expect(disk, "first read", d.read(0, sector_bytes), blk::blk_status::ok)) return false;
        if (!pattern_base_of(d.ptr(Area::data), &disk.pattern_base))
            return fail_data(disk, "sector 0 is not the lab image's");
        return true;
    }

    LoadResult run(VirtioDriver* const* drivers, size_t count) {
        Disk disks[Guest::max_devices];
        for (size_t i = 0; i < count; ++i) {
            Disk& k = disks[i];
            k.d = drivers[i];
            k.index = i;
            k.capacity = k.d->capacity_sectors();
            const uint64_t features = k.d->wanted_features();
            k.read_only = features & blk::blk_features::ro;
            k.discard = features & blk::blk_features::discard;
            k.write_zeroes = features & blk::blk_features::write_zeroes;
            if (k.discard) {
                const uint32_t a =
                    k.d->reg(mmio::config + offsetof(blk::VirtioBlkConfig, discard_sector_alignment));
                k.discard_alignment = a == 0 || a > segment_sectors ? 1 : a;
            }
            if (k.read_only && !learn_pattern_base(k)) return finish(disks, count, 0);
            logging::rawf("LOAD: disk %zu: %llu sectors, %s, %s addressing%s%s\n", i,
                          static_cast<unsigned long long>(k.capacity), k.read_only ? "read-only" : "writable",
                          k.d->addressing_name(), k.discard ? ", DISCARD" : "", k.write_zeroes ? ", WRITE_ZEROES" : "");
            if (k.capacity < 4 * window_sectors) {
                snprintf(why_, sizeof why_, "disk %zu is too small", i);
                return finish(disks, count, 0);
            }
        }
        const uint64_t t0 = drivers[0]->guest().now_ns();
        uint64_t next_progress = t0 + progress_every_ns;
        uint32_t round = 0;
        for (;;) {
            ++round;
            for (size_t i = 0; i < count; ++i) {
                bool ok = disks[i].read_only ? read_only_round(disks[i], round) : writable_round(disks[i], round);
                if (!ok) return finish(disks, count, round);
            }
            const uint64_t now = drivers[0]->guest().now_ns();
            if (now >= next_progress) {
                next_progress = now + progress_every_ns;
                logging::rawf("LOAD: round %u: %llu requests in %llu ms, all answered right\n", round,
                              static_cast<unsigned long long>(result_.total),
                              static_cast<unsigned long long>((now - t0) / 1000000));
            }
            if (options_.rounds != 0 && round >= options_.rounds) break;
            if (options_.seconds != 0 && now - t0 >= uint64_t{options_.seconds} * 1'000'000'000ull) break;
        }
        return finish(disks, count, round);
    }

private:
    LoadResult finish(const Disk* disks, size_t count, uint32_t round) {
        for (size_t i = 0; i < count; ++i)
            logging::rawf("LOAD: disk %zu: %llu requests, %llu WRITE_ZEROES, %llu DISCARD, %llu writes refused\n", i,
                          static_cast<unsigned long long>(disks[i].requests),
                          static_cast<unsigned long long>(disks[i].zeroes),
                          static_cast<unsigned long long>(disks[i].discards),
                          static_cast<unsigned long long>(disks[i].refused));
        if (why_[0]) logging::rawf("LOAD: FAIL in round %u: %s\n", round, why_);
        return result_;
    }

    LoadOptions options_;
    LoadResult result_;
    char why_[192] = "";
};

}  // namespace

LoadResult run_load(VirtioDriver* const* drivers, size_t count, const LoadOptions& options) {
    Load load(options);
    return load.run(drivers, count);
}

}  // namespace domd::frontend
