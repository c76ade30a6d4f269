// virtio-blk (virtio 1.2 section 5.2) through the whole device path: a fake driver builds
// requests in fake guest RAM and talks virtio-mmio; virtio-blk maps the buffers and drives a
// ram disk. Covers the configuration space and features, every request type, layouts Linux
// never sends but the spec allows (split headers, shared descriptors, indirect tables), sector
// and length bounds at N-1, N and N+1, read-only disks, requests in flight across a reset, and
// hostile chains (status byte in a device-readable buffer, data on the wrong side, buffers
// outside guest RAM, map failures). After each hostile case a good request still works.
// Nearly every test runs for each ring variant (VARIANT_TEST: split rings, packed rings, and
// split rings on the legacy transport); grant addresses are refused on the legacy one.
#include "tests/test_support.h"

#include "tests/blk/blk_rig.h"

using namespace domd;
using namespace domd::blk;
using namespace domd::test;
using virtio::mmio::config;

namespace {

constexpr uint64_t capacity = 2048;  // sectors of the default 1 MiB disk

uint64_t config_read(BlkRig& rig, uint32_t offset, uint8_t size) { return rig.driver.read_config(offset, size); }

}  // namespace

TEST_GROUP(VirtioBlk) {};

VARIANT_TEST(VirtioBlk, ConfigurationSpace) {
    BlkRig rig(in(variant));
    // Linux reads the 64-bit capacity as two 32-bit halves.
    CHECK_EQUAL(capacity, config_read(rig, 0, 4) | (config_read(rig, 4, 4) << 32));
    CHECK_EQUAL(capacity, config_read(rig, 0, 8));
    CHECK_EQUAL(1u << 20, config_read(rig, 8, 4));                    // size_max
    CHECK_EQUAL(limits::max_data_segments, config_read(rig, 12, 4));  // seg_max
    CHECK_EQUAL(62u, limits::max_data_segments);
    CHECK_EQUAL(512u, config_read(rig, 20, 4));                       // blk_size
    CHECK_EQUAL(0u, config_read(rig, 24, 1));                         // physical_block_exp
    CHECK_EQUAL(0u, config_read(rig, 25, 1));                         // alignment_offset
    CHECK_EQUAL(1u, config_read(rig, 26, 2));                         // min_io_size
    CHECK_EQUAL(0u, config_read(rig, 28, 4));                         // opt_io_size
    CHECK_EQUAL(1u, config_read(rig, 34, 2));                         // num_queues
    CHECK_EQUAL(1u << 16, config_read(rig, 36, 4));                   // max_discard_sectors
    CHECK_EQUAL(limits::max_discard_segments, config_read(rig, 40, 4));
    CHECK_EQUAL(1u, config_read(rig, 44, 4));                         // discard_sector_alignment
    CHECK_EQUAL(1u << 16, config_read(rig, 48, 4));                   // max_write_zeroes_sectors
    CHECK_EQUAL(limits::max_discard_segments, config_read(rig, 52, 4));
    CHECK_EQUAL(1u, config_read(rig, 56, 1));                         // write_zeroes_may_unmap
    CHECK_EQUAL(0u, config_read(rig, 33, 1));                         // unused0
    CHECK_EQUAL(0u, config_read(rig, 96, 4));                         // past the structure
}

TEST(VirtioBlk, FeaturesOffered) {
    BlkRig rig(in(split_v2));
    const uint64_t offered = rig.transport.offered_features();
    for (uint64_t f : {blk_features::seg_max, blk_features::size_max, blk_features::blk_size, blk_features::flush,
                       blk_features::discard, blk_features::write_zeroes, blk_features::topology,
                       virtio::features::version_1, virtio::features::ring_event_idx, virtio::features::indirect_desc}) {
        CHECK_TRUE(offered & f);
    }
    for (uint64_t f : {blk_features::ro, blk_features::mq, blk_features::geometry, blk_features::config_wce}) {
        CHECK_FALSE(offered & f);
    }
    CHECK_EQUAL(offered & blk_wanted, rig.transport.negotiated_features());
}

VARIANT_TEST(VirtioBlk, ReadOnlyMultiQueueAndNoDiscardVariants) {
    BlkRig ro(in(variant, {.read_only = true}));
    CHECK_TRUE(ro.transport.offered_features() & blk_features::ro);
    BlkRig mq(in(variant, {.blk = {.queues = 4}}));
    CHECK_TRUE(mq.transport.offered_features() & blk_features::mq);
    CHECK_EQUAL(4u, config_read(mq, 34, 2));
    CHECK_EQUAL(4, mq.transport.queue_count());
    BlkRig plain(in(variant, {.blk = {.size_max = 0, .flush = false, .discard = false}}));
    const uint64_t offered = plain.transport.offered_features();
    CHECK_FALSE(offered & (blk_features::discard | blk_features::write_zeroes | blk_features::flush |
                           blk_features::size_max));
    CHECK_EQUAL(0u, config_read(plain, 40, 4));
}

VARIANT_TEST(VirtioBlk, QueueSizeIsTheOption) {
    BlkRig rig(in(variant, {.blk = {.queue_size = 128}, .queue_size = 0}));
    CHECK_EQUAL(128, rig.driver.queue(0).size);
}

VARIANT_TEST(VirtioBlk, WriteThenReadBack) {
    BlkRig rig(in(variant));
    const uint64_t out = rig.data(4096);
    for (int i = 0; i < 4096; ++i) rig.memory.write<uint8_t>(out + i, static_cast<uint8_t>(i * 13));
    CHECK_EQUAL(blk_status::ok, rig.write(8, out, 4096));
    CHECK_EQUAL(1u, rig.last_used.len);  // only the status byte was written
    CHECK_TRUE(rig.disk_equals(8, out, 4096));
    const uint64_t in = rig.data(4096, 0xcc);
    CHECK_EQUAL(blk_status::ok, rig.read(8, in, 4096));
    CHECK_EQUAL(4097u, rig.last_used.len);  // data, then the status byte
    CHECK_EQUAL(0, std::memcmp(rig.memory.at(in), rig.memory.at(out), 4096));

    const BlkStats& stats = rig.blk.queue_stats(0);
    CHECK_EQUAL(1u, stats.requests[static_cast<int>(RequestKind::in)] - 0);
    CHECK_EQUAL(1u, stats.requests[static_cast<int>(RequestKind::out)]);
    CHECK_EQUAL(4096u, stats.bytes_read);
    CHECK_EQUAL(4096u, stats.bytes_written);
    CHECK_EQUAL(2u, stats.ok);
    CHECK_EQUAL(0u, rig.memory.live_requests());
}

VARIANT_TEST(VirtioBlk, ScatteredDataBuffers) {
    BlkRig rig(in(variant));
    std::vector<Buffer> buffers{{rig.header(request_type::in, 16), 16, false}};
    std::vector<uint64_t> pieces;
    for (int i = 0; i < 8; ++i) {
        pieces.push_back(rig.data(512));
        buffers.push_back({pieces.back(), 512, true});
    }
    const uint64_t status = rig.status_byte();
    buffers.push_back({status, 1, true});
    rig.run(buffers);
    CHECK_EQUAL(blk_status::ok, rig.memory.read<uint8_t>(status));
    for (int i = 0; i < 8; ++i) CHECK_TRUE(rig.disk_equals(16 + i, pieces[i], 512));
    // Counted as a multi-segment request; a one-buffer read is not.
    CHECK_EQUAL(1u, rig.blk.totals().multi_segment);
    CHECK_EQUAL(blk_status::ok, rig.read(0, rig.data(512), 512));
    CHECK_EQUAL(1u, rig.blk.totals().multi_segment);
}

VARIANT_TEST(VirtioBlk, MostSegmentsARequestMayHave) {
    BlkRig rig(in(variant, {.queue_size = 128}));
    for (uint32_t segments : {limits::max_data_segments - 1, limits::max_data_segments, limits::max_data_segments + 1}) {
        std::vector<Buffer> buffers{{rig.header(request_type::in, 0), 16, false}};
        const uint64_t data = rig.data(512 * segments);
        for (uint32_t i = 0; i < segments; ++i) buffers.push_back({data + 512 * i, 512, true});
        const uint64_t status = rig.status_byte();
        buffers.push_back({status, 1, true});
        rig.run(buffers);
        const bool fits = segments <= limits::max_data_segments;
        CHECK_EQUAL(fits ? blk_status::ok : blk_status::ioerr, rig.memory.read<uint8_t>(status));
        if (fits) CHECK_TRUE(rig.disk_equals(0, data, 512 * segments));
    }
    CHECK_EQUAL(virtio::limits::max_chain_ranges, rig.memory.largest_request);
    CHECK_EQUAL(1u, rig.blk.queue_stats(0).err_bad_chain);
    rig.expect_works();
}

VARIANT_TEST(VirtioBlk, HeaderSplitAcrossDescriptors) {
    BlkRig rig(in(variant, {.queue_size = 64}));
    const uint64_t header = rig.header(request_type::in, 3);
    for (uint32_t pieces : {2u, 4u, 16u}) {
        std::vector<Buffer> buffers;
        for (uint32_t i = 0; i < pieces; ++i) buffers.push_back({header + i * 16 / pieces, 16 / pieces, false});
        const uint64_t data = rig.data(1024);
        const uint64_t status = rig.status_byte();
        buffers.push_back({data, 1024, true});
        buffers.push_back({status, 1, true});
        rig.run(buffers);
        CHECK_EQUAL(blk_status::ok, rig.memory.read<uint8_t>(status));
        CHECK_TRUE(rig.disk_equals(3, data, 1024));
    }
    // 4 + 12: the same header cut unevenly.
    const uint64_t data = rig.data(512);
    const uint64_t status = rig.status_byte();
    rig.run({{header, 4, false}, {header + 4, 12, false}, {data, 512, true}, {status, 1, true}});
    CHECK_EQUAL(blk_status::ok, rig.memory.read<uint8_t>(status));
    CHECK_TRUE(rig.disk_equals(3, data, 512));
}

VARIANT_TEST(VirtioBlk, HeaderAndDataInOneDescriptorForWrite) {
    BlkRig rig(in(variant));
    const uint64_t both = rig.data(16 + 1024);
    const VirtioBlkReqHeader h{request_type::out, 0, 40};
    rig.memory.write(both, h);
    for (int i = 0; i < 1024; ++i) rig.memory.write<uint8_t>(both + 16 + i, static_cast<uint8_t>(i ^ 0x5a));
    const uint64_t status = rig.status_byte();
    rig.run({{both, 16 + 1024, false}, {status, 1, true}});
    CHECK_EQUAL(blk_status::ok, rig.memory.read<uint8_t>(status));
    CHECK_TRUE(rig.disk_equals(40, both + 16, 1024));
    // Header and part of the data in one, the rest in another.
    const uint64_t rest = rig.data(512, 0x77);
    rig.memory.write(both, VirtioBlkReqHeader{request_type::out, 0, 50});
    rig.run({{both, 16 + 512, false}, {rest, 512, false}, {status, 1, true}});
    CHECK_EQUAL(blk_status::ok, rig.memory.read<uint8_t>(status));
    CHECK_TRUE(rig.disk_equals(50, both + 16, 512));
    CHECK_TRUE(rig.disk_equals(51, rest, 512));
}

VARIANT_TEST(VirtioBlk, DataAndStatusInOneDescriptorForRead) {
    BlkRig rig(in(variant));
    const uint64_t both = rig.data(513, 0xee);
    rig.run({{rig.header(request_type::in, 9), 16, false}, {both, 513, true}});
    CHECK_EQUAL(blk_status::ok, rig.memory.read<uint8_t>(both + 512));
    CHECK_TRUE(rig.disk_equals(9, both, 512));
    CHECK_EQUAL(513u, rig.blk.queue_stats(0).bytes_read + 1);
}

VARIANT_TEST(VirtioBlk, IndirectRequests) {
    BlkRig rig(in(variant));
    const uint64_t in = rig.data(2048);
    CHECK_EQUAL(blk_status::ok, rig.request(request_type::in, 100, in, 2048, true, true));
    CHECK_TRUE(rig.disk_equals(100, in, 2048));
    const uint64_t out = rig.data(512, 0x42);
    CHECK_EQUAL(blk_status::ok, rig.request(request_type::out, 7, out, 512, false, true));
    CHECK_TRUE(rig.disk_equals(7, out, 512));
}

VARIANT_TEST(VirtioBlk, SectorBounds) {
    struct Case {
        uint64_t sector;
        uint32_t sectors;
        bool ok;
    };
    BlkRig rig(in(variant));
    for (Case c : {Case{capacity - 2, 1, true}, Case{capacity - 1, 1, true}, Case{capacity, 1, false},
                   Case{capacity - 9, 8, true}, Case{capacity - 8, 8, true}, Case{capacity - 7, 8, false},
                   Case{capacity + 1, 1, false}, Case{uint64_t{1} << 63, 1, false}, Case{~uint64_t{0}, 1, false},
                   Case{~uint64_t{0} - 6, 8, false}, Case{0, 1, true}}) {
        const uint64_t in = rig.data(512 * c.sectors);
        CHECK_EQUAL(c.ok ? blk_status::ok : blk_status::ioerr, rig.read(c.sector, in, 512 * c.sectors));
        const uint64_t out = rig.data(512 * c.sectors, 0x99);
        CHECK_EQUAL(c.ok ? blk_status::ok : blk_status::ioerr, rig.write(c.sector, out, 512 * c.sectors));
        CHECK_FALSE(rig.needs_reset());
    }
    CHECK_EQUAL(12u, rig.blk.queue_stats(0).err_range);
    rig.expect_works();
}

VARIANT_TEST(VirtioBlk, EmptyTransferAtTheEndIsFine) {
    BlkRig rig(in(variant));
    CHECK_EQUAL(blk_status::ok, rig.request(request_type::in, capacity, 0, 0, true));
    CHECK_EQUAL(blk_status::ioerr, rig.request(request_type::in, capacity + 1, 0, 0, true));
}

VARIANT_TEST(VirtioBlk, DataLengthIsWholeSectors) {
    BlkRig rig(in(variant));
    for (uint32_t len : {511u, 512u, 513u, 1023u, 1024u, 1025u}) {
        const bool ok = len % 512 == 0;
        CHECK_EQUAL(ok ? blk_status::ok : blk_status::ioerr, rig.read(4, rig.data(len), len));
        CHECK_EQUAL(ok ? blk_status::ok : blk_status::ioerr, rig.write(4, rig.data(len), len));
    }
    CHECK_EQUAL(8u, rig.blk.queue_stats(0).err_malformed);
    rig.expect_works();
}

VARIANT_TEST(VirtioBlk, Flush) {
    BlkRig rig(in(variant));
    CHECK_EQUAL(blk_status::ok, rig.request(request_type::flush, 0, 0, 0, false));
    CHECK_EQUAL(1u, rig.ram.stats().flushes);
    CHECK_EQUAL(1u, rig.blk.queue_stats(0).requests[static_cast<int>(RequestKind::flush)]);
}

VARIANT_TEST(VirtioBlk, GetIdAnswersTwentyBytesNulPadded) {
    BlkRig rig(in(variant));
    const uint64_t id = rig.data(20, 0xff);
    CHECK_EQUAL(blk_status::ok, rig.request(request_type::get_id, 0, id, 20, true));
    CHECK_EQUAL(0, std::memcmp(rig.memory.at(id), "domd-test-disk\0\0\0\0\0\0", 20));
    CHECK_EQUAL(21u, rig.last_used.len);
    // A shorter buffer gets what fits; none at all is an error.
    const uint64_t short_id = rig.data(8, 0xff);
    CHECK_EQUAL(blk_status::ok, rig.request(request_type::get_id, 0, short_id, 8, true));
    CHECK_EQUAL(0, std::memcmp(rig.memory.at(short_id), "domd-tes", 8));
    CHECK_EQUAL(blk_status::ioerr, rig.request(request_type::get_id, 0, 0, 0, true));
}

VARIANT_TEST(VirtioBlk, GetIdOfExactlyTwentyHasNoTerminator) {
    BlkRig rig(in(variant, {.blk = {.id = "0123456789abcdefghijKLMN"}}));
    const uint64_t id = rig.data(24, 0xff);
    CHECK_EQUAL(blk_status::ok, rig.request(request_type::get_id, 0, id, 24, true));
    CHECK_EQUAL(0, std::memcmp(rig.memory.at(id), "0123456789abcdefghij", 20));
    CHECK_EQUAL(0xff, rig.memory.read<uint8_t>(id + 20));  // nothing past the 20 bytes
}

VARIANT_TEST(VirtioBlk, OtherTypesAreUnsupported) {
    BlkRig rig(in(variant));
    for (uint32_t type : {2u, 3u, 5u, request_type::get_lifetime, 12u, request_type::secure_erase, 15u, 0x80000000u,
                          0xffffffffu}) {
        CHECK_EQUAL(blk_status::unsupp, rig.request(type, 0, rig.data(512), 512, true));
    }
    CHECK_EQUAL(9u, rig.blk.queue_stats(0).unsupported);
    CHECK_EQUAL(9u, rig.blk.queue_stats(0).requests[static_cast<int>(RequestKind::unsupported)]);
    rig.expect_works();
}

VARIANT_TEST(VirtioBlk, WriteZeroesAndDiscardZeroFill) {
    BlkRig rig(in(variant));
    CHECK_FALSE(rig.disk_zero(10, 4));
    CHECK_EQUAL(blk_status::ok, rig.segments(request_type::write_zeroes, {{10, 4, 0}}));
    CHECK_TRUE(rig.disk_zero(10, 4));
    CHECK_FALSE(rig.disk_zero(14, 1));
    CHECK_EQUAL(blk_status::ok, rig.segments(request_type::write_zeroes, {{20, 2, segment_flag_unmap}, {30, 1, 0}}));
    CHECK_TRUE(rig.disk_zero(20, 2));
    CHECK_TRUE(rig.disk_zero(30, 1));
    CHECK_EQUAL(blk_status::ok, rig.segments(request_type::discard, {{40, 8, 0}}));
    CHECK_TRUE(rig.disk_zero(40, 8));
    CHECK_EQUAL(1u, rig.blk.queue_stats(0).requests[static_cast<int>(RequestKind::discard)]);
    CHECK_EQUAL(2u, rig.blk.queue_stats(0).requests[static_cast<int>(RequestKind::write_zeroes)]);
}

VARIANT_TEST(VirtioBlk, DiscardFlagsRules) {
    BlkRig rig(in(variant));
    // Section 5.2.6.2: unmap on a discard, or any unknown flag, is UNSUPP; nothing is changed.
    CHECK_EQUAL(blk_status::unsupp, rig.segments(request_type::discard, {{10, 1, segment_flag_unmap}}));
    CHECK_EQUAL(blk_status::unsupp, rig.segments(request_type::discard, {{10, 1, 0}, {11, 1, 2}}));
    CHECK_EQUAL(blk_status::unsupp, rig.segments(request_type::write_zeroes, {{10, 1, 0x80000000}}));
    CHECK_FALSE(rig.disk_zero(10, 1));
    CHECK_EQUAL(3u, rig.blk.queue_stats(0).unsupported);
    rig.expect_works();
}

VARIANT_TEST(VirtioBlk, DiscardSegmentCountBounds) {
    BlkRig rig(in(variant));
    for (uint32_t count : {limits::max_discard_segments - 1, limits::max_discard_segments, limits::max_discard_segments + 1}) {
        std::vector<VirtioBlkDiscardSegment> segs;
        const uint64_t first = 100 * count;
        for (uint32_t i = 0; i < count; ++i) segs.push_back({first + 2 * uint64_t{i}, 1, 0});
        const bool ok = count <= limits::max_discard_segments;
        CHECK_EQUAL(ok ? blk_status::ok : blk_status::ioerr, rig.segments(request_type::discard, segs));
        // Refused as a whole: not one segment was discarded.
        for (uint32_t i = 0; i < count; ++i) CHECK_EQUAL(ok, rig.disk_zero(first + 2 * i, 1));
    }
    // No segment, or a partial one, is malformed.
    CHECK_EQUAL(blk_status::ioerr, rig.request(request_type::discard, 0, 0, 0, false));
    const uint64_t partial = rig.data(24);
    CHECK_EQUAL(blk_status::ioerr, rig.request(request_type::discard, 0, partial, 24, false));
    rig.expect_works();
}

VARIANT_TEST(VirtioBlk, DiscardSectorBounds) {
    BlkRig rig(in(variant));
    const uint32_t max = 1u << 16;
    BlkRig big(in(variant, {.disk_bytes = size_t{max + 16} * 512}));
    CHECK_EQUAL(blk_status::ok, big.segments(request_type::write_zeroes, {{0, max - 1, 0}}));
    CHECK_EQUAL(blk_status::ok, big.segments(request_type::write_zeroes, {{0, max, 0}}));
    CHECK_EQUAL(blk_status::ioerr, big.segments(request_type::write_zeroes, {{0, max + 1, 0}}));
    CHECK_EQUAL(blk_status::ok, rig.segments(request_type::discard, {{capacity - 1, 1, 0}}));
    CHECK_EQUAL(blk_status::ioerr, rig.segments(request_type::discard, {{capacity, 1, 0}}));
    CHECK_EQUAL(blk_status::ioerr, rig.segments(request_type::discard, {{capacity - 1, 2, 0}}));
    CHECK_EQUAL(blk_status::ioerr, rig.segments(request_type::discard, {{~uint64_t{0}, 2, 0}}));
    CHECK_EQUAL(blk_status::ok, rig.segments(request_type::discard, {{capacity, 0, 0}}));
    CHECK_EQUAL(3u, rig.blk.queue_stats(0).err_range);  // refused by virtio-blk, not by the store
    CHECK_EQUAL(1u, big.blk.queue_stats(0).err_malformed);
    rig.expect_works();
}

VARIANT_TEST(VirtioBlk, DiscardNeedsTheFeature) {
    BlkRig rig(in(variant, {.wanted = blk_wanted & ~(blk_features::discard | blk_features::write_zeroes)}));
    CHECK_EQUAL(blk_status::unsupp, rig.segments(request_type::discard, {{10, 1, 0}}));
    CHECK_EQUAL(blk_status::unsupp, rig.segments(request_type::write_zeroes, {{10, 1, 0}}));
    CHECK_FALSE(rig.disk_zero(10, 1));
}

VARIANT_TEST(VirtioBlk, ReadOnlyDiskRefusesChanges) {
    BlkRig rig(in(variant, {.read_only = true}));
    const uint64_t out = rig.data(512, 0x11);
    CHECK_EQUAL(blk_status::ioerr, rig.write(5, out, 512));
    CHECK_FALSE(rig.disk_equals(5, out, 512));
    CHECK_EQUAL(blk_status::ioerr, rig.segments(request_type::discard, {{5, 1, 0}}));
    CHECK_EQUAL(blk_status::ioerr, rig.segments(request_type::write_zeroes, {{5, 1, 0}}));
    CHECK_FALSE(rig.disk_zero(5, 1));
    CHECK_EQUAL(3u, rig.blk.queue_stats(0).err_read_only);
    CHECK_EQUAL(0u, rig.ram.stats().writes);
    CHECK_EQUAL(blk_status::ok, rig.request(request_type::flush, 0, 0, 0, false));
    rig.expect_works();
}

VARIANT_TEST(VirtioBlk, StatusInADeviceReadableDescriptor) {
    BlkRig rig(in(variant));
    // The last device-writable byte is in the data buffer: the error goes there.
    const uint64_t data = rig.data(512, 0x33);
    const uint64_t status = rig.status_byte();
    rig.run({{rig.header(request_type::in, 0), 16, false}, {data, 512, true}, {status, 1, false}});
    CHECK_EQUAL(blk_status::ioerr, rig.memory.read<uint8_t>(data + 511));
    CHECK_EQUAL(0xee, rig.memory.read<uint8_t>(status));
    CHECK_EQUAL(1u, rig.blk.queue_stats(0).err_bad_chain);
    CHECK_FALSE(rig.needs_reset());
    rig.expect_works();
    // Nothing device-writable at all: no way to answer.
    rig.driver.add(0, {{rig.header(request_type::in, 0), 16, false}, {status, 1, false}});
    rig.driver.kick(0);
    rig.transport.service();
    CHECK_TRUE(rig.needs_reset());
    CHECK_EQUAL(1u, rig.blk.queue_stats(0).unanswerable);
    CHECK_EQUAL(0xee, rig.memory.read<uint8_t>(status));
    rig.expect_works();
}

VARIANT_TEST(VirtioBlk, DataOnTheWrongSideIsAnError) {
    BlkRig rig(in(variant));
    // IN with a device-readable data buffer: strict fake memory maps it read-only, so a write
    // into it would crash the test.
    const uint64_t data = rig.data(512, 0x44);
    CHECK_EQUAL(blk_status::ioerr, rig.request(request_type::in, 0, data, 512, false));
    for (int i = 0; i < 512; ++i) CHECK_EQUAL(0x44, rig.memory.read<uint8_t>(data + i));
    // OUT with a device-writable data buffer.
    CHECK_EQUAL(blk_status::ioerr, rig.request(request_type::out, 0, data, 512, true));
    CHECK_FALSE(rig.disk_equals(0, data, 512));
    // Discard with writable segments.
    CHECK_EQUAL(blk_status::ioerr, rig.request(request_type::discard, 0, data, 16, true));
    CHECK_EQUAL(3u, rig.blk.queue_stats(0).err_malformed);
    rig.expect_works();
}

VARIANT_TEST(VirtioBlk, HeaderShorterThanSixteenBytes) {
    BlkRig rig(in(variant));
    for (uint32_t len : {1u, 8u, 15u}) {
        const uint64_t status = rig.status_byte();
        rig.run({{rig.header(request_type::in, 0), len, false}, {status, 1, true}});
        CHECK_EQUAL(blk_status::ioerr, rig.memory.read<uint8_t>(status));
    }
    const uint64_t status = rig.status_byte();
    rig.run({{status, 1, true}});  // no header at all
    CHECK_EQUAL(blk_status::ioerr, rig.memory.read<uint8_t>(status));
    CHECK_EQUAL(4u, rig.blk.queue_stats(0).err_malformed);
    rig.expect_works();
}

VARIANT_TEST(VirtioBlk, BuffersOutsideGuestMemory) {
    BlkRig rig(in(variant));
    const uint64_t end = rig.memory.base() + rig.memory.size();
    // Data outside: the status byte alone is mapped to say so.
    CHECK_EQUAL(blk_status::ioerr, rig.read(0, end, 512));
    CHECK_EQUAL(blk_status::ioerr, rig.read(0, end - 256, 512));
    CHECK_EQUAL(blk_status::ioerr, rig.read(0, 0x1000, 512));
    CHECK_EQUAL(blk_status::ok, rig.read(0, end - 512, 512));
    // A huge length.
    CHECK_EQUAL(blk_status::ioerr, rig.read(0, rig.data(512), 0xfffffe00));
    CHECK_EQUAL(4u, rig.blk.queue_stats(0).err_unmappable);
    CHECK_FALSE(rig.needs_reset());
    // Status outside too: nothing can be said, the device needs a reset.
    rig.driver.add(0, {{rig.header(request_type::in, 0), 16, false}, {end, 1, true}});
    rig.driver.kick(0);
    rig.transport.service();
    CHECK_TRUE(rig.needs_reset());
    CHECK_EQUAL(0u, rig.memory.live_requests());
    rig.expect_works();
}

VARIANT_TEST(VirtioBlk, MapFailureIsAnIoError) {
    BlkRig rig(in(variant));
    rig.memory.fail_map_request_after = 0;
    const uint64_t in = rig.data(512, 0x55);
    CHECK_EQUAL(blk_status::ioerr, rig.read(0, in, 512));
    CHECK_EQUAL(0x55, rig.memory.read<uint8_t>(in));
    CHECK_EQUAL(0u, rig.memory.live_requests());
    rig.expect_works();
}

VARIANT_TEST(VirtioBlk, ZeroLengthDescriptorInARequest) {
    BlkRig rig(in(variant));
    const uint64_t status = rig.status_byte();
    rig.run({{rig.header(request_type::in, 0), 16, false}, {rig.data(512), 0, true}, {status, 1, true}});
    CHECK_EQUAL(blk_status::ioerr, rig.memory.read<uint8_t>(status));
    CHECK_EQUAL(0u, rig.last_used.len);
    rig.expect_works();
}

TEST(VirtioBlk, UnmappedBeforeTheUsedEntryIsPublished) {
    BlkRig rig(in(split_v2));
    const auto& q = rig.driver.queue(0);
    rig.memory.watch_u16(q.used + virtio::split::used_idx_offset);
    rig.memory.events.clear();
    for (int i = 0; i < 3; ++i) CHECK_EQUAL(blk_status::ok, rig.read(i, rig.data(512), 512));
    // Three batched passes as well: several requests published by one index store.
    for (int i = 0; i < 3; ++i) {
        rig.driver.add(0, {{rig.header(request_type::in, 0), 16, false}, {rig.data(512), 512, true}, {rig.status_byte(), 1, true}});
    }
    rig.driver.kick(0);
    rig.transport.service();
    CHECK_EQUAL(3u, rig.driver.take_used(0).size());

    int unmaps = 0;
    for (const auto& e : rig.memory.events) {
        if (e.op != FakeGuestMemory::Op::unmap_request) continue;
        // The k-th request's entry is published at index k+1: at unmap time the index is at most k.
        CHECK_TRUE(e.watched <= unmaps);
        CHECK_EQUAL(unmaps < 3 ? unmaps : 3, e.watched);
        ++unmaps;
    }
    CHECK_EQUAL(6, unmaps);
    CHECK_EQUAL(6, rig.driver.used_idx(0));
    CHECK_EQUAL(0u, rig.memory.live_requests());
}

TEST(VirtioBlk, UnmappedBeforeThePackedUsedDescriptorIsVisible) {
    // The packed form of the test above: a used descriptor becomes visible by its flags. Three
    // requests of three slots each in one pass, their used descriptors at slots 0, 3 and 6;
    // watching each slot in turn, no request's flags say "used" before its buffers are unmapped.
    for (int watched = 0; watched < 3; ++watched) {
        BlkRig rig(in(packed_v2));
        for (int i = 0; i < 3; ++i) {
            rig.driver.add(0, {{rig.header(request_type::in, 0), 16, false}, {rig.data(512), 512, true}, {rig.status_byte(), 1, true}});
        }
        rig.memory.watch_u16(rig.driver.queue(0).desc + 16 * 3 * uint64_t(watched) + offsetof(virtio::PackedDesc, flags));
        rig.memory.events.clear();
        rig.driver.kick(0);
        rig.transport.service();
        int unmaps = 0;
        for (const auto& e : rig.memory.events) {
            if (e.op != FakeGuestMemory::Op::unmap_request) continue;
            if (unmaps <= watched) CHECK_FALSE(e.watched & virtio::packed::desc_f_used);
            ++unmaps;
        }
        CHECK_EQUAL(3, unmaps);
        CHECK_TRUE(rig.memory.read<uint16_t>(rig.driver.queue(0).desc + 16 * 3 * uint64_t(watched) + 14) & virtio::packed::desc_f_used);
        CHECK_EQUAL(3u, rig.driver.take_used(0).size());
    }
}

TEST(VirtioBlk, LegacyDeviceFeaturesAndConfiguration) {
    BlkRig rig(in(split_legacy));
    const uint64_t offered = rig.transport.offered_features();
    CHECK_EQUAL(0u, offered >> 32);
    for (uint64_t f : {blk_features::seg_max, blk_features::size_max, blk_features::blk_size, blk_features::flush,
                       blk_features::discard, blk_features::write_zeroes, virtio::features::ring_event_idx,
                       virtio::features::indirect_desc, virtio::features::any_layout}) {
        CHECK_TRUE(offered & f);
    }
    CHECK_EQUAL(offered & blk_wanted, rig.transport.negotiated_features());
    // The legacy configuration is the same structure, in the guest's (little-endian) order, read
    // byte by byte as Linux's legacy driver does.
    uint64_t capacity_bytes = 0;
    for (uint32_t i = 0; i < 8; ++i) capacity_bytes |= config_read(rig, i, 1) << (8 * i);
    CHECK_EQUAL(capacity, capacity_bytes);
    CHECK_EQUAL(512u, config_read(rig, 20, 4));
    CHECK_EQUAL(limits::max_data_segments, config_read(rig, 12, 4));
    rig.expect_works();
}

VARIANT_TEST(VirtioBlk, GrantAddressedBuffers) {
    BlkRig rig(in(variant));
    // Grants are per page: every buffer gets pages of its own.
    const uint64_t header = rig.driver.alloc(16, 4096);
    rig.memory.write(header, VirtioBlkReqHeader{request_type::in, 0, 12});
    const uint64_t data = rig.driver.alloc(8192, 4096);
    const uint64_t status = rig.driver.alloc(1, 4096);
    const uint64_t g_header = rig.memory.grant(header, 16, true);
    const uint64_t g_data = rig.memory.grant(data + 100, 8000, false);  // spans pages: consecutive refs
    const uint64_t g_status = rig.memory.grant(status, 1, false);
    CHECK_TRUE(g_data & virtio::GuestMemory::grant_bit);
    if (variant.legacy) {
        // No ACCESS_PLATFORM on a legacy device: bit 63 is an address outside guest RAM. The
        // request is refused in its status byte, or with a reset when that is a "grant" too.
        const uint64_t plain_status = rig.status_byte();
        std::memset(rig.memory.at(data), 0x3c, 8192);
        rig.run({{g_header, 16, false}, {g_data, 7680, true}, {plain_status, 1, true}});
        CHECK_EQUAL(blk_status::ioerr, rig.memory.read<uint8_t>(plain_status));
        CHECK_EQUAL(0x3c, rig.memory.read<uint8_t>(data + 100));
        CHECK_EQUAL(1u, rig.blk.queue_stats(0).err_bad_chain);
        CHECK_EQUAL(0u, rig.ram.stats().reads);
        rig.driver.add(0, {{g_header, 16, false}, {g_data, 512, true}, {g_status, 1, true}});
        rig.driver.kick(0);
        rig.transport.service();
        CHECK_TRUE(rig.needs_reset());
        CHECK_EQUAL(0u, rig.memory.live_requests());
        rig.expect_works();
        return;
    }
    rig.run({{g_header, 16, false}, {g_data, 7680, true}, {g_status, 1, true}});
    CHECK_EQUAL(blk_status::ok, rig.memory.read<uint8_t>(status));
    CHECK_TRUE(rig.disk_equals(12, data + 100, 7680));
    // Data granted read-only for a read: the map fails, the status byte says so.
    const uint64_t ro_data = rig.driver.alloc(512, 4096);
    rig.run({{g_header, 16, false}, {rig.memory.grant(ro_data, 512, true), 512, true}, {g_status, 1, true}});
    CHECK_EQUAL(blk_status::ioerr, rig.memory.read<uint8_t>(status));
    // A grant that was never made.
    rig.run({{g_header, 16, false}, {virtio::GuestMemory::grant_bit | 0x300000, 512, true}, {g_status, 1, true}});
    CHECK_EQUAL(blk_status::ioerr, rig.memory.read<uint8_t>(status));
    CHECK_FALSE(rig.needs_reset());
    // A status byte granted read-only: nowhere to answer.
    const uint64_t ro_status = rig.driver.alloc(1, 4096);
    rig.memory.write<uint8_t>(ro_status, 0xee);
    rig.driver.add(0, {{g_header, 16, false}, {g_data, 512, true}, {rig.memory.grant(ro_status, 1, true), 1, true}});
    rig.driver.kick(0);
    rig.transport.service();
    CHECK_TRUE(rig.needs_reset());
    CHECK_EQUAL(0xee, rig.memory.read<uint8_t>(ro_status));
    rig.expect_works();
}

VARIANT_TEST(VirtioBlk, CompletionLaterThanSubmit) {
    BlkRig rig(in(variant, {.deferred = true}));
    const uint64_t in = rig.data(1024);
    const uint64_t status = rig.status_byte();
    rig.driver.add(0, {{rig.header(request_type::in, 30), 16, false}, {in, 1024, true}, {status, 1, true}});
    rig.driver.kick(0);
    rig.transport.service();
    CHECK_EQUAL(1u, rig.deferred.pending());
    CHECK_EQUAL(1u, rig.blk.in_flight());
    CHECK_EQUAL(1u, rig.memory.live_requests());
    CHECK_FALSE(rig.transport.needs_service());
    rig.deferred.complete_one();
    CHECK_EQUAL(0u, rig.memory.live_requests());
    CHECK_TRUE(rig.transport.needs_service());  // a used entry to publish
    CHECK_FALSE(rig.driver.has_used(0));
    rig.transport.service();
    CHECK_EQUAL(1u, rig.driver.take_used(0).size());
    CHECK_EQUAL(blk_status::ok, rig.memory.read<uint8_t>(status));
    CHECK_TRUE(rig.disk_equals(30, in, 1024));
    CHECK_EQUAL(1, rig.interrupt.count);
}

VARIANT_TEST(VirtioBlk, StoreErrorsAreIoErrors) {
    BlkRig rig(in(variant, {.deferred = true}));
    rig.deferred.refuse_next = Err::busy;
    const uint64_t s1 = rig.status_byte();
    rig.driver.add(0, {{rig.header(request_type::in, 0), 16, false}, {rig.data(512), 512, true}, {s1, 1, true}});
    rig.driver.kick(0);
    rig.transport.service();
    CHECK_EQUAL(blk_status::ioerr, rig.memory.read<uint8_t>(s1));
    const uint64_t s2 = rig.status_byte();
    rig.driver.add(0, {{rig.header(request_type::in, 0), 16, false}, {rig.data(512), 512, true}, {s2, 1, true}});
    rig.driver.kick(0);
    rig.transport.service();
    rig.deferred.fail_one(Err::io);
    rig.transport.service();
    CHECK_EQUAL(blk_status::ioerr, rig.memory.read<uint8_t>(s2));
    CHECK_EQUAL(2u, rig.blk.queue_stats(0).err_media);
    CHECK_EQUAL(2u, rig.driver.take_used(0).size());
    CHECK_EQUAL(0u, rig.memory.live_requests());
}

VARIANT_TEST(VirtioBlk, ResetWaitsForRequestsInFlight) {
    BlkRig rig(in(variant, {.deferred = true}));
    std::vector<uint64_t> statuses;
    for (int i = 0; i < 3; ++i) {
        statuses.push_back(rig.status_byte());
        rig.driver.add(0, {{rig.header(request_type::in, i), 16, false}, {rig.data(512), 512, true}, {statuses.back(), 1, true}});
    }
    rig.driver.kick(0);
    rig.transport.service();
    CHECK_EQUAL(3u, rig.blk.in_flight());
    CHECK_TRUE(rig.driver.write_raw(virtio::mmio::status, 0).kind == virtio::MmioAnswer::Kind::retry);
    rig.deferred.complete_one();
    CHECK_TRUE(rig.driver.write_raw(virtio::mmio::status, 0).kind == virtio::MmioAnswer::Kind::retry);
    rig.deferred.complete_all();
    CHECK_EQUAL(0u, rig.memory.live_requests());  // every buffer was unmapped
    CHECK_TRUE(rig.driver.write_raw(virtio::mmio::status, 0).kind == virtio::MmioAnswer::Kind::done);
    CHECK_FALSE(rig.driver.has_used(0));  // no used entries after the reset began
    CHECK_EQUAL(0u, rig.blk.in_flight());
    rig.options.deferred = false;
    rig.probe();
    const uint64_t in = rig.data(512);
    rig.driver.add(0, {{rig.header(request_type::in, 2), 16, false}, {in, 512, true}, {rig.status_byte(), 1, true}});
    rig.driver.kick(0);
    rig.transport.service();
    rig.deferred.complete_all();
    rig.transport.service();
    CHECK_EQUAL(1u, rig.driver.take_used(0).size());
    CHECK_TRUE(rig.disk_equals(2, in, 512));
}

VARIANT_TEST(VirtioBlk, RequestSlotsRunOutAndComeBack) {
    BlkRig rig(in(variant, {.deferred = true, .queue_size = 128}));
    const uint32_t total = limits::max_requests_in_flight + 2;
    for (uint32_t i = 0; i < total; ++i) {
        rig.driver.add(0, {{rig.header(request_type::in, i), 16, false}, {rig.data(512), 512, true}, {rig.status_byte(), 1, true}});
    }
    rig.driver.kick(0);
    rig.transport.service();
    CHECK_EQUAL(limits::max_requests_in_flight, rig.deferred.pending());
    CHECK_TRUE(rig.blk.queue_stats(0).slot_waits >= 1);
    CHECK_FALSE(rig.transport.needs_service());
    rig.deferred.complete_all();
    CHECK_TRUE(rig.transport.needs_service());
    rig.transport.service();
    CHECK_EQUAL(2u, rig.deferred.pending());
    rig.deferred.complete_all();
    rig.transport.service();
    CHECK_EQUAL(total, rig.driver.take_used(0).size());
    CHECK_EQUAL(total, rig.blk.queue_stats(0).ok);
}

VARIANT_TEST(VirtioBlk, MultiSegmentDiscardCompletingLater) {
    BlkRig rig(in(variant, {.deferred = true}));
    const uint64_t table = rig.driver.alloc(48);
    const VirtioBlkDiscardSegment segs[3] = {{60, 1, 0}, {62, 2, 0}, {70, 1, 0}};
    std::memcpy(rig.memory.at(table), segs, sizeof segs);
    const uint64_t status = rig.status_byte();
    rig.driver.add(0, {{rig.header(request_type::discard, 0), 16, false}, {table, 48, false}, {status, 1, true}});
    rig.driver.kick(0);
    rig.transport.service();
    for (int i = 0; i < 3; ++i) {
        CHECK_EQUAL(1u, rig.deferred.pending());
        CHECK_EQUAL(0xee, rig.memory.read<uint8_t>(status));
        rig.deferred.complete_one();
    }
    rig.transport.service();
    CHECK_EQUAL(blk_status::ok, rig.memory.read<uint8_t>(status));
    CHECK_TRUE(rig.disk_zero(60, 1) && rig.disk_zero(62, 2) && rig.disk_zero(70, 1));
    CHECK_FALSE(rig.disk_zero(61, 1));
}

VARIANT_TEST(VirtioBlk, MultiQueueCountsPerQueue) {
    BlkRig rig(in(variant, {.blk = {.queues = 2}}));
    const uint64_t a = rig.data(512), b = rig.data(1024);
    CHECK_EQUAL(blk_status::ok, rig.request(request_type::in, 0, a, 512, true, false, 0));
    CHECK_EQUAL(blk_status::ok, rig.request(request_type::in, 0, b, 1024, true, false, 1));
    CHECK_EQUAL(blk_status::unsupp, rig.request(99, 0, b, 512, true, false, 1));
    CHECK_EQUAL(512u, rig.blk.queue_stats(0).bytes_read);
    CHECK_EQUAL(1024u, rig.blk.queue_stats(1).bytes_read);
    CHECK_EQUAL(1u, rig.blk.queue_stats(1).unsupported);
    const BlkStats totals = rig.blk.totals();
    CHECK_EQUAL(1536u, totals.bytes_read);
    CHECK_EQUAL(2u, totals.requests[static_cast<int>(RequestKind::in)]);
    CHECK_EQUAL(2u, totals.ok);
    CHECK_EQUAL(1u, totals.unsupported);
}

VARIANT_TEST(VirtioBlk, PollingGuestAndDeviceExchangeWithoutTraps) {
    BlkRig rig(in(variant));
    rig.transport.set_polling(true);
    rig.driver.suppress_interrupts(0);  // a polling guest never re-arms (poll queues)
    for (int i = 0; i < 20; ++i) {
        const uint64_t status = rig.status_byte();
        rig.driver.add(0, {{rig.header(request_type::in, i), 16, false}, {rig.data(512), 512, true}, {status, 1, true}});
        CHECK_FALSE(rig.driver.kick(0));
        rig.transport.service();
        CHECK_EQUAL(1u, rig.driver.take_used(0, false).size());
        CHECK_EQUAL(blk_status::ok, rig.memory.read<uint8_t>(status));
    }
    CHECK_EQUAL(0, rig.interrupt.count);
    CHECK_EQUAL(0u, rig.transport.queue(0).stats().kicks);
}
