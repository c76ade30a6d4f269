// The ram disk BlockDevice: reads and writes across buffers, bounds at the end of the disk,
// read-only refusal, and zero-filling discard / write-zeroes; every request completes inside
// submit() with the outcome.
#include "tests/test_support.h"

#include <vector>

#include "blk/ram_disk.h"

using namespace domd;
using namespace domd::blk;

namespace {

struct Outcome {
    int calls = 0;
    bool ok = false;
    Err error{};
    void on_complete(BlockIo&, Status result) {
        ++calls;
        ok = result.ok();
        error = result.error();
    }
};

BlockIo make_io(Outcome& outcome, BlockOp op, uint64_t sector, std::span<const std::span<uint8_t>> buffers = {},
                uint64_t sectors = 0) {
    BlockIo io;
    io.op = op;
    io.sector = sector;
    io.sectors = sectors;
    io.buffers = buffers;
    io.complete = Callback<void(BlockIo&, Status)>::to<&Outcome::on_complete>(&outcome);
    return io;
}

}  // namespace

TEST_GROUP(RamDisk) {
    std::vector<uint8_t> bytes = std::vector<uint8_t>(8 * 512 + 100);
    void setup() override {
        for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i);
    }
};

TEST(RamDisk, CapacityIgnoresAPartialLastSector) {
    RamDisk disk(bytes);
    CHECK_EQUAL(8u, disk.capacity_sectors());
    CHECK_FALSE(disk.read_only());
    CHECK_TRUE(disk.supports_discard());
}

TEST(RamDisk, ReadAndWriteAcrossBuffers) {
    RamDisk disk(bytes);
    std::vector<uint8_t> a(512, 0xaa), b(1024, 0xbb);
    std::span<uint8_t> buffers[] = {a, b};
    Outcome outcome;
    BlockIo io = make_io(outcome, BlockOp::write, 2, buffers);
    CHECK_TRUE(disk.submit(io).ok());
    CHECK_EQUAL(1, outcome.calls);
    CHECK_TRUE(outcome.ok);
    CHECK_EQUAL(0xaa, bytes[2 * 512]);
    CHECK_EQUAL(0xbb, bytes[3 * 512]);
    CHECK_EQUAL(0xbb, bytes[5 * 512 - 1]);
    CHECK_EQUAL(static_cast<uint8_t>(5 * 512), bytes[5 * 512]);

    std::vector<uint8_t> c(1536);
    std::span<uint8_t> read_buffers[] = {c};
    BlockIo read = make_io(outcome, BlockOp::read, 2, read_buffers);
    CHECK_TRUE(disk.submit(read).ok());
    CHECK_TRUE(outcome.ok);
    CHECK_EQUAL(0xaa, c[0]);
    CHECK_EQUAL(0xbb, c[1535]);
    CHECK_EQUAL(1u, disk.stats().reads);
    CHECK_EQUAL(1u, disk.stats().writes);
}

TEST(RamDisk, BoundsAtTheEnd) {
    RamDisk disk(bytes);
    std::vector<uint8_t> one(512), two(1024);
    Outcome outcome;
    struct Case {
        uint64_t sector;
        std::vector<uint8_t>* buffer;
        bool ok;
    };
    for (Case c : {Case{7, &one, true}, Case{8, &one, false}, Case{6, &two, true}, Case{7, &two, false},
                   Case{8, &two, false}, Case{~uint64_t{0}, &one, false}, Case{uint64_t{1} << 55, &one, false}}) {
        std::span<uint8_t> buffers[] = {*c.buffer};
        BlockIo io = make_io(outcome, BlockOp::read, c.sector, buffers);
        CHECK_TRUE(disk.submit(io).ok());
        CHECK_EQUAL(c.ok, outcome.ok);
        if (!c.ok) CHECK_EQUAL(Err::range, outcome.error);
    }
    CHECK_EQUAL(5u, disk.stats().refused);
}

TEST(RamDisk, ReadOnlyRefusesChanges) {
    RamDisk disk(bytes, true);
    std::vector<uint8_t> a(512, 0xaa);
    std::span<uint8_t> buffers[] = {a};
    Outcome outcome;
    for (BlockOp op : {BlockOp::write, BlockOp::discard, BlockOp::write_zeroes}) {
        BlockIo io = make_io(outcome, op, 1, buffers, 1);
        CHECK_TRUE(disk.submit(io).ok());
        CHECK_FALSE(outcome.ok);
        CHECK_EQUAL(Err::read_only, outcome.error);
    }
    CHECK_EQUAL(static_cast<uint8_t>(512), bytes[512]);
    BlockIo flush = make_io(outcome, BlockOp::flush, 0);
    CHECK_TRUE(disk.submit(flush).ok());
    CHECK_TRUE(outcome.ok);
}

TEST(RamDisk, DiscardAndWriteZeroesFillWithZeroes) {
    RamDisk disk(bytes);
    Outcome outcome;
    BlockIo io = make_io(outcome, BlockOp::write_zeroes, 1, {}, 2);
    CHECK_TRUE(disk.submit(io).ok());
    CHECK_TRUE(outcome.ok);
    for (size_t i = 512; i < 3 * 512; ++i) CHECK_EQUAL(0, bytes[i]);
    CHECK_EQUAL(static_cast<uint8_t>(511), bytes[511]);
    CHECK_EQUAL(static_cast<uint8_t>(3 * 512), bytes[3 * 512]);
    for (uint64_t sectors : {uint64_t{1}, uint64_t{2}}) {
        BlockIo end = make_io(outcome, BlockOp::discard, 7, {}, sectors);
        CHECK_TRUE(disk.submit(end).ok());
        CHECK_EQUAL(sectors == 1, outcome.ok);
    }
    CHECK_EQUAL(2u, disk.stats().zero_fills);
}
