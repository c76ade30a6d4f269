// The disks= option: named stretches of the ramdisk module, parsed strictly.
#include "tests/test_support.h"

#include "blk/disk_layout.h"

using namespace domd;
using blk::DiskSpec;

namespace {
constexpr uint64_t mib = uint64_t{1} << 20;
}

TEST_GROUP(DiskLayout) {
    DiskSpec specs[4];
    Result<size_t> parse(std::string_view text, uint64_t total = 32 * mib) { return blk::parse_disk_layout(text, total, specs); }
};

TEST(DiskLayout, DisksTakeConsecutiveStretchesAndTheLastTakesTheRest) {
    LONGS_EQUAL(3, (long)parse("root:24M,scratch:4M:ro,rest").value());
    STRCMP_EQUAL("root", specs[0].name);
    UNSIGNED_LONGLONGS_EQUAL(0, specs[0].offset);
    UNSIGNED_LONGLONGS_EQUAL(24 * mib, specs[0].size);
    CHECK(specs[1].read_only && specs[1].offset == 24 * mib && specs[1].size == 4 * mib);
    CHECK(!specs[2].read_only && specs[2].offset == 28 * mib && specs[2].size == 4 * mib);
}

TEST(DiskLayout, SizesAndSuffixes) {
    LONGS_EQUAL(1, (long)parse("a:512").value());
    UNSIGNED_LONGLONGS_EQUAL(512, specs[0].size);
    LONGS_EQUAL(1, (long)parse("a:2K").value());
    UNSIGNED_LONGLONGS_EQUAL(2048, specs[0].size);
    LONGS_EQUAL(1, (long)parse("a:1G", uint64_t{2} << 30).value());
    UNSIGNED_LONGLONGS_EQUAL(uint64_t{1} << 30, specs[0].size);
    LONGS_EQUAL(1, (long)parse("whole:ro").value());
    CHECK(specs[0].read_only && specs[0].size == 32 * mib);
}

TEST(DiskLayout, FittingAtTheEdge) {
    CHECK(parse("a:16M,b:16M").ok());                              // exactly the module
    CHECK_EQUAL(Err::range, parse("a:16M,b:16M,c").error());       // nothing left for c
    CHECK_EQUAL(Err::range, parse("a:16M,b:17M").error());         // one MiB past
    CHECK_EQUAL(Err::range, parse("a:33M").error());
    CHECK_EQUAL(Err::range, parse("a:0").error());
    CHECK(parse("a:32767K,b:1K").ok());
}

TEST(DiskLayout, MalformedTextIsRefused) {
    for (const char* bad : {"", ",", "a,", ",a", "a:", "a::1M", "a:1M:ro:ro", "a:ro:1M", "a:1.5M", "a:-1M", "a:1m",
                            "a:1000", "a b:1M", "a/b:1M", "a:1M:rw", "a:01M", "a,b"}) {
        CHECK_FALSE_TEXT(parse(bad).ok(), bad);
    }
    CHECK_EQUAL(Err::exists, parse("a:1M,a:1M").error());
    CHECK_EQUAL(Err::range, parse("a:99999999999999999999G").error());
    CHECK_EQUAL(Err::range, parse("a:17179869184G").error());  // overflows 64 bits once scaled
}

TEST(DiskLayout, TheNumberOfDisksIsBoundedByTheTable) {
    CHECK(parse("a:1M,b:1M,c:1M,d").ok());                       // 4: the table's size
    CHECK_EQUAL(Err::too_big, parse("a:1M,b:1M,c:1M,d:1M,e").error());  // 5
}

TEST(DiskLayout, NamesAtTheirLengthLimit) {
    std::string longest(blk::DiskCatalog::max_name, 'n');
    CHECK(parse(longest).ok());
    CHECK_FALSE(parse(longest + "n").ok());
}

TEST(DiskLayout, TransportFlagsSetTheDisksDeviceProfile) {
    LONGS_EQUAL(4, (long)parse("plain:1M,old:1M:legacy,flat:1M:split:ro,both:ro:legacy").value());
    CHECK(specs[0].profile == blk::DeviceProfile{});
    CHECK(specs[0].profile.packed_rings && !specs[0].profile.legacy_mmio);
    CHECK(specs[1].profile.legacy_mmio && !specs[1].profile.packed_rings);  // version 1 has no packed rings
    CHECK(!specs[1].read_only);
    CHECK(!specs[2].profile.legacy_mmio && !specs[2].profile.packed_rings && specs[2].read_only);
    CHECK(specs[3].profile.legacy_mmio && specs[3].read_only && specs[3].size == 29 * mib);
}

TEST(DiskLayout, TransportFlagsAreStrict) {
    for (const char* bad : {"a:legacy:legacy", "a:split:1M", "a:1M:legacy:2M", "a:Legacy", "a:1M:packed",
                            "a:legacy:", "a:1M::split"}) {
        CHECK_FALSE_TEXT(parse(bad).ok(), bad);
    }
}
