// Device-tree parsing against blobs compiled by dtc from sources shaped like libxl's output.
#include "tests/test_support.h"

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "kernel/devicetree.h"

using namespace domd;

namespace {

std::vector<char> load(const char* name) {
    std::ifstream in(std::string(DOMD_TEST_DATA) + "/" + name, std::ios::binary);
    return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_GROUP(DeviceTree) {};

TEST(DeviceTree, ReadsAnXlGuestOnGicV3) {
    auto blob = load("xl-domu-gicv3.dtb");
    CHECK(!blob.empty());
    UNSIGNED_LONGLONGS_EQUAL(blob.size(), devicetree_size(blob.data(), 64).value());
    auto parsed = parse_platform(blob.data(), blob.size());
    CHECK(parsed.ok());
    const Platform& p = parsed.value();
    LONGS_EQUAL(1, (long)p.memory_count);
    UNSIGNED_LONGLONGS_EQUAL(0x40000000, p.memory[0].base.value);
    UNSIGNED_LONGLONGS_EQUAL(256u << 20, p.memory[0].size);
    STRCMP_EQUAL("xen,xen-4.17", std::string(p.xen_compatible).c_str());
    UNSIGNED_LONGLONGS_EQUAL(0x38000000, p.grant_table_area.base.value);
    UNSIGNED_LONGLONGS_EQUAL(16u << 20, p.grant_table_area.size);
    LONGS_EQUAL(2, (long)p.extended_count);
    UNSIGNED_LONGLONGS_EQUAL(0x50000000, p.extended[0].base.value);
    UNSIGNED_LONGLONGS_EQUAL(0xb0000000, p.extended[0].size);
    UNSIGNED_LONGLONGS_EQUAL(0x200000000, p.extended[1].base.value);
    UNSIGNED_LONGLONGS_EQUAL(0xfe00000000, p.extended[1].size);
    LONGS_EQUAL(31, p.event_intid);
    LONGS_EQUAL(27, p.vtimer_intid);
    CHECK(p.gic == GicVersion::v3);
    UNSIGNED_LONGLONGS_EQUAL(0x03001000, p.gic_distributor.base.value);
    UNSIGNED_LONGLONGS_EQUAL(0x03020000, p.gic_cpu.base.value);
    STRCMP_EQUAL("XENVM-4.17", std::string(p.model).c_str());
    STRCMP_EQUAL("loglevel=debug idle=block", std::string(p.bootargs).c_str());
    CHECK(p.has_ramdisk);
    UNSIGNED_LONGLONGS_EQUAL(0x48000000, p.ramdisk.base.value);
    UNSIGNED_LONGLONGS_EQUAL(0x100000, p.ramdisk.size);
}

TEST(DeviceTree, ReadsAnXlGuestOnGicV2WithoutExtendedRegions) {
    auto blob = load("xl-domu-gicv2.dtb");
    auto parsed = parse_platform(blob.data(), blob.size());
    CHECK(parsed.ok());
    const Platform& p = parsed.value();
    CHECK(p.gic == GicVersion::v2);
    UNSIGNED_LONGLONGS_EQUAL(0x03002000, p.gic_cpu.base.value);
    LONGS_EQUAL(0, (long)p.extended_count);
    CHECK_FALSE(p.has_ramdisk);
    CHECK(p.bootargs.empty());
}

TEST(DeviceTree, RejectsGarbageAndTruncation) {
    std::vector<char> junk(128, 0x11);
    CHECK_EQUAL(Err::invalid, devicetree_size(junk.data(), junk.size()).error());
    CHECK_EQUAL(Err::invalid, parse_platform(junk.data(), junk.size()).error());
    auto blob = load("xl-domu-gicv3.dtb");
    CHECK_EQUAL(Err::invalid, parse_platform(blob.data(), blob.size() - 1).error());
    CHECK_EQUAL(Err::invalid, devicetree_size(blob.data(), 8).error());
}
