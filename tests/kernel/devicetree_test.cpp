// Device-tree parsing against blobs compiled by dtc from sources shaped like libxl's output.
#include "tests/test_support.h"

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "kernel/devicetree.h"

extern "C" {
#include <libfdt.h>
}

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

// ---- edges, on trees built here one property at a time ---------------------------------------

namespace {

using Cells = std::vector<uint32_t>;

// A guest's tree shaped like libxl's, every part of which a test can change.
struct Tree {
    uint32_t address_cells = 2, size_cells = 2;
    Cells memory_reg = {0, 0x40000000, 0, 0x10000000};
    bool hypervisor = true;
    Cells hypervisor_reg = {0, 0x38000000, 0, 0x01000000};
    Cells hypervisor_interrupts = {1, 15, 0xf08};
    const char* gic = "arm,gic-v3";
    Cells gic_reg = {0, 0x03001000, 0, 0x10000, 0, 0x03020000, 0, 0x1000000};
    Cells timer_interrupts = {1, 13, 0xf08, 1, 14, 0xf08, 1, 11, 0xf08, 1, 10, 0xf08};
    const char* root_compatible = nullptr;  // to put a device on the root node itself
    Cells root_interrupts;
    bool root_is_memory = false;
    std::vector<std::pair<std::string, std::string>> chosen;  // raw property bytes

    std::vector<char> build() const {
        std::vector<char> blob(16384);
        void* fdt = blob.data();
        auto cells = [&](const char* name, const Cells& values) {
            std::vector<fdt32_t> be;
            for (uint32_t v : values) be.push_back(cpu_to_fdt32(v));
            CHECK_EQUAL(0, fdt_property(fdt, name, be.data(), static_cast<int>(be.size() * sizeof(fdt32_t))));
        };
        CHECK_EQUAL(0, fdt_create(fdt, static_cast<int>(blob.size())));
        CHECK_EQUAL(0, fdt_finish_reservemap(fdt));
        CHECK_EQUAL(0, fdt_begin_node(fdt, ""));
        CHECK_EQUAL(0, fdt_property_u32(fdt, "#address-cells", address_cells));
        CHECK_EQUAL(0, fdt_property_u32(fdt, "#size-cells", size_cells));
        if (root_compatible) CHECK_EQUAL(0, fdt_property_string(fdt, "compatible", root_compatible));
        if (!root_interrupts.empty()) cells("interrupts", root_interrupts);
        if (root_is_memory) {
            CHECK_EQUAL(0, fdt_property_string(fdt, "device_type", "memory"));
            cells("reg", memory_reg);
        }
        if (!chosen.empty()) {
            CHECK_EQUAL(0, fdt_begin_node(fdt, "chosen"));
            for (const auto& [name, bytes] : chosen)
                CHECK_EQUAL(0, fdt_property(fdt, name.c_str(), bytes.data(), static_cast<int>(bytes.size())));
            CHECK_EQUAL(0, fdt_end_node(fdt));
        }
        if (!root_is_memory) {
            CHECK_EQUAL(0, fdt_begin_node(fdt, "memory@40000000"));
            CHECK_EQUAL(0, fdt_property_string(fdt, "device_type", "memory"));
            cells("reg", memory_reg);
            CHECK_EQUAL(0, fdt_end_node(fdt));
        }
        if (hypervisor) {
            CHECK_EQUAL(0, fdt_begin_node(fdt, "hypervisor"));
            CHECK_EQUAL(0, fdt_property(fdt, "compatible", "xen,xen-4.17\0xen,xen", sizeof "xen,xen-4.17\0xen,xen"));
            cells("reg", hypervisor_reg);
            cells("interrupts", hypervisor_interrupts);
            CHECK_EQUAL(0, fdt_end_node(fdt));
        }
        if (gic) {
            CHECK_EQUAL(0, fdt_begin_node(fdt, "interrupt-controller"));
            CHECK_EQUAL(0, fdt_property_string(fdt, "compatible", gic));
            cells("reg", gic_reg);
            CHECK_EQUAL(0, fdt_end_node(fdt));
        }
        CHECK_EQUAL(0, fdt_begin_node(fdt, "timer"));
        CHECK_EQUAL(0, fdt_property_string(fdt, "compatible", "arm,armv8-timer"));
        cells("interrupts", timer_interrupts);
        CHECK_EQUAL(0, fdt_end_node(fdt));
        CHECK_EQUAL(0, fdt_end_node(fdt));
        CHECK_EQUAL(0, fdt_finish(fdt));
        blob.resize(fdt_totalsize(fdt));
        return blob;
    }
    Result<Platform> parse() const {
        blob_ = build();
        return parse_platform(blob_.data(), blob_.size());
    }
    mutable std::vector<char> blob_;  // the strings of a parse point into it
};

std::string be64(uint64_t v) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (56 - 8 * i));
    return s;
}

}  // namespace

TEST(DeviceTree, TheBuiltTreeParses) {
    Tree t;
    auto p = t.parse();
    CHECK(p.ok());
    LONGS_EQUAL(31, p.value().event_intid);
    LONGS_EQUAL(27, p.value().vtimer_intid);
    STRCMP_EQUAL("xen,xen-4.17", std::string(p.value().xen_compatible).c_str());
}

// #address-cells 1 and 2 are read, 0 and 3 refused; #size-cells 0 to 2 read, 3 refused.
TEST(DeviceTree, CellCountsAtTheirEdges) {
    Tree t;
    t.address_cells = 1;
    t.size_cells = 1;
    t.memory_reg = {0x40000000, 0x10000000};
    t.hypervisor_reg = {0x38000000, 0x01000000};
    t.gic_reg = {0x03001000, 0x10000, 0x03020000, 0x1000000};
    auto p = t.parse();
    CHECK(p.ok());
    UNSIGNED_LONGLONGS_EQUAL(0x40000000, p.value().memory[0].base.value);
    UNSIGNED_LONGLONGS_EQUAL(0x10000000, p.value().memory[0].size);

    t.size_cells = 0;  // addresses only
    t.memory_reg = {0x40000000};
    t.hypervisor_reg = {0x38000000};
    t.gic_reg = {0x03001000, 0x03020000};
    auto q = t.parse();
    CHECK(q.ok());
    UNSIGNED_LONGLONGS_EQUAL(0, q.value().memory[0].size);

    Tree bad;
    bad.address_cells = 0;
    CHECK_EQUAL(Err::invalid, bad.parse().error());
    bad.address_cells = 3;
    CHECK_EQUAL(Err::invalid, bad.parse().error());
    Tree bad_size;
    bad_size.size_cells = 3;
    CHECK_EQUAL(Err::invalid, bad_size.parse().error());
}

// Four memory banks are kept, a fifth is not; 1 + 16 hypervisor regions are read, an
// eighteenth is ignored (and never written past the end of anything).
TEST(DeviceTree, RegEntriesAreReadUpToTheTableSizes) {
    Tree t;
    t.memory_reg.clear();
    for (uint32_t i = 0; i < Platform::max_memory + 1; ++i)
        for (uint32_t c : {0u, 0x40000000u + i * 0x10000000u, 0u, 0x1000000u}) t.memory_reg.push_back(c);
    auto p = t.parse();
    CHECK(p.ok());
    LONGS_EQUAL(Platform::max_memory, (long)p.value().memory_count);
    UNSIGNED_LONGLONGS_EQUAL(0x70000000, p.value().memory[Platform::max_memory - 1].base.value);

    for (size_t extra : {Platform::max_extended - 1, Platform::max_extended, Platform::max_extended + 1}) {
        Tree h;
        for (uint32_t i = 0; i < extra; ++i)
            for (uint32_t c : {1u, i * 0x1000000u, 0u, 0x1000000u}) h.hypervisor_reg.push_back(c);
        auto q = h.parse();
        CHECK(q.ok());
        LONGS_EQUAL(std::min(extra, Platform::max_extended), (long)q.value().extended_count);
        UNSIGNED_LONGLONGS_EQUAL(0x100000000, q.value().extended[0].base.value);
    }
}

TEST(DeviceTree, AHypervisorNodeWithAnEmptyRegIsRefused) {
    Tree t;
    t.hypervisor_reg.clear();
    CHECK_EQUAL(Err::invalid, t.parse().error());
}

// <type number flags>: PPIs 0..15 are INTIDs 16..31, SPIs 0..987 are INTIDs 32..1019.
TEST(DeviceTree, InterruptNumbersAtTheirEdges) {
    struct Case {
        uint32_t type, number;
        bool ok;
        uint32_t intid;
    } cases[] = {
        {1, 0, true, 16},   {1, 15, true, 31},    {1, 16, false, 0},
        {0, 0, true, 32},   {0, 5, true, 37},     {0, 987, true, 1019}, {0, 988, false, 0},
        {2, 5, false, 0},   {3, 0, false, 0},
    };
    for (const Case& c : cases) {
        Tree t;
        t.hypervisor_interrupts = {c.type, c.number, 0xf08};
        auto p = t.parse();
        CHECK_EQUAL(c.ok, p.ok());
        if (c.ok) LONGS_EQUAL(c.intid, (long)p.value().event_intid);
        if (!c.ok) CHECK_EQUAL(Err::invalid, p.error());
    }
}

// The timer's virtual interrupt is the third entry: a property one cell short of it (or just
// two entries) has none, exactly three entries are enough.
TEST(DeviceTree, TheVirtualTimerNeedsAThirdInterruptEntry) {
    Tree t;
    t.timer_interrupts = {1, 13, 0xf08, 1, 14, 0xf08, 1, 11, 0xf08};
    CHECK(t.parse().ok());
    t.timer_interrupts = {1, 13, 0xf08, 1, 14, 0xf08, 1, 11};
    CHECK_EQUAL(Err::not_found, t.parse().error());
    t.timer_interrupts = {1, 13, 0xf08, 1, 14, 0xf08};
    CHECK_EQUAL(Err::not_found, t.parse().error());
}

// The root node is a node like any other for the searches; it only has no parent to give
// its reg the cell counts, so a reg on it is refused rather than misread.
TEST(DeviceTree, DevicesOnTheRootNodeAreFound) {
    Tree memory_root;
    memory_root.root_is_memory = true;
    CHECK_EQUAL(Err::invalid, memory_root.parse().error());

    Tree gic_root;
    gic_root.gic = nullptr;
    gic_root.root_compatible = "arm,gic-v3";
    CHECK_EQUAL(Err::invalid, gic_root.parse().error());
    gic_root.root_compatible = "arm,gic-400";
    CHECK_EQUAL(Err::invalid, gic_root.parse().error());

    Tree timer_root;  // the timer node stays; the root comes first
    timer_root.root_compatible = "arm,armv8-timer";
    timer_root.root_interrupts = {1, 13, 0xf08, 1, 14, 0xf08, 1, 12, 0xf08};
    auto p = timer_root.parse();
    LONGS_EQUAL(28, (long)p.value().vtimer_intid);  // the root's, not the timer node's 27

    Tree hypervisor_root;  // found first, so refused, rather than skipped for the later node
    hypervisor_root.root_compatible = "xen,xen";
    CHECK_EQUAL(Err::invalid, hypervisor_root.parse().error());
}

// An initrd that ends where it starts is none; one byte long is one.
TEST(DeviceTree, TheRamdiskEdges) {
    Tree t;
    t.chosen = {{"linux,initrd-start", be64(0x48000000)}, {"linux,initrd-end", be64(0x48000000)}};
    CHECK_FALSE(t.parse().value().has_ramdisk);
    t.chosen = {{"linux,initrd-start", be64(0x48000000)}, {"linux,initrd-end", be64(0x48000001)}};
    auto p = t.parse();
    CHECK(p.value().has_ramdisk);
    UNSIGNED_LONGLONGS_EQUAL(1, p.value().ramdisk.size);
    t.chosen = {{"linux,initrd-start", be64(0x48000001)}, {"linux,initrd-end", be64(0x48000000)}};
    CHECK_FALSE(t.parse().value().has_ramdisk);
    t.chosen = {{"linux,initrd-start", std::string("\0\0\0\x10", 4)}, {"linux,initrd-end", std::string("\0\0\0\x20", 4)}};
    UNSIGNED_LONGLONGS_EQUAL(0x10, t.parse().value().ramdisk.size);  // 32-bit cells
    t.chosen = {{"linux,initrd-start", std::string(3, '\0')}, {"linux,initrd-end", be64(0x20)}};
    CHECK_FALSE(t.parse().value().has_ramdisk);  // neither 4 nor 8 bytes
}

TEST(DeviceTree, BootargsEndAtTheirNulOrAtThePropertyEnd) {
    Tree t;
    t.chosen = {{"bootargs", std::string("loglevel=debug\0junk", 20)}};
    STRCMP_EQUAL("loglevel=debug", std::string(t.parse().value().bootargs).c_str());
    t.chosen = {{"bootargs", std::string("idle=poll", 9)}};  // no NUL at all
    STRCMP_EQUAL("idle=poll", std::string(t.parse().value().bootargs).c_str());
    t.chosen = {{"bootargs", std::string()}};
    CHECK(t.parse().value().bootargs.empty());
}

// The header is 40 bytes: that many are enough to read the size, one fewer is not; a total
// size below the header's own is refused, exactly the header's is not.
TEST(DeviceTree, HeaderSizesAtTheirEdges) {
    std::vector<char> header(sizeof(fdt_header), 0);
    fdt_set_magic(header.data(), FDT_MAGIC);
    fdt_set_totalsize(header.data(), sizeof(fdt_header));
    UNSIGNED_LONGLONGS_EQUAL(sizeof(fdt_header), devicetree_size(header.data(), sizeof(fdt_header)).value());
    CHECK_EQUAL(Err::invalid, devicetree_size(header.data(), sizeof(fdt_header) - 1).error());
    fdt_set_totalsize(header.data(), sizeof(fdt_header) - 1);
    CHECK_EQUAL(Err::invalid, devicetree_size(header.data(), sizeof(fdt_header)).error());
    Tree t;
    auto blob = t.build();
    CHECK(parse_platform(blob.data(), blob.size()).ok());
    CHECK_EQUAL(Err::invalid, parse_platform(blob.data(), sizeof(fdt_header) - 1).error());
}
