// GICv2 driver (arch/arm64/gic_v2.cpp) against recording fakes of its distributor and CPU
// interface: the init sequence in order, PPI enabling and its bounds, and acknowledge/EOI
// carrying the whole IAR (IHI 0048B, chapter 4).
#include "tests/test_support.h"

#include "arch/arm64/gic_v2.h"
#include "tests/arch/fake_registers.h"

using namespace domd;
using namespace domd::arm64;
using test::trace_lines;

TEST_GROUP(GicV2) {
    test::AccessTrace trace;
    // Offsets from IHI 0048B Table 4-1 (distributor) and Table 4-2 (CPU interface).
    test::FakeRegisterBlock gicd{trace, "GICD", 0x1000,
                                 {{0x000, "GICD_CTLR"},
                                  {0x100, "GICD_ISENABLER0"},
                                  {0x104, "GICD_ISENABLER1"},
                                  {0x410, "GICD_IPRIORITYR4"},
                                  {0x414, "GICD_IPRIORITYR5"},
                                  {0x418, "GICD_IPRIORITYR6"},
                                  {0x41c, "GICD_IPRIORITYR7"},
                                  {0x420, "GICD_IPRIORITYR8"}}};
    test::FakeRegisterBlock gicc{trace, "GICC", 0x2000,
                                 {{0x000, "GICC_CTLR"},
                                  {0x004, "GICC_PMR"},
                                  {0x008, "GICC_BPR"},
                                  {0x00c, "GICC_IAR"},
                                  {0x010, "GICC_EOIR"},
                                  {0x1000, "GICC_DIR"}}};
    GicV2 gic{RegisterBlock(gicd), RegisterBlock(gicc)};
};

// Distributor on (Group 1, the non-secure view's only enable), then the CPU interface: mask,
// binary point, enable with EOImodeNS 0.
TEST(GicV2, InitEnablesTheDistributorThenTheCpuInterface) {
    CHECK(gic.init().ok());
    STRCMP_EQUAL(trace_lines({
                     "write GICD_CTLR: 0x1",
                     "write GICC_PMR: 0xf0",
                     "write GICC_BPR: 0x0",
                     "write GICC_CTLR: 0x1",
                 }).c_str(),
                 trace.text().c_str());
}

// Priority byte 3 of GICD_IPRIORITYR6 (read-modify-write: the other three bytes survive),
// then the enable bit alone.
TEST(GicV2, EnablePpiSetsItsPriorityThenEnablesIt) {
    gicd.set(0x418, 0x11223344);
    CHECK(gic.enable_ppi(27).ok());
    STRCMP_EQUAL(trace_lines({
                     "read GICD_IPRIORITYR6: 0x11223344",
                     "write GICD_IPRIORITYR6: 0xa0223344",
                     "write GICD_ISENABLER0: 0x8000000",
                 }).c_str(),
                 trace.text().c_str());
}

// PPIs are INTIDs 16..31: both ends are accepted, the neighbours refused without any access.
TEST(GicV2, EnablePpiAcceptsExactlyThePpiRange) {
    CHECK(gic.enable_ppi(16).ok());
    CHECK(gic.enable_ppi(31).ok());
    STRCMP_EQUAL(trace_lines({
                     "read GICD_IPRIORITYR4: 0x0",
                     "write GICD_IPRIORITYR4: 0xa0",
                     "write GICD_ISENABLER0: 0x10000",
                     "read GICD_IPRIORITYR7: 0x0",
                     "write GICD_IPRIORITYR7: 0xa0000000",
                     "write GICD_ISENABLER0: 0x80000000",
                 }).c_str(),
                 trace.text().c_str());
    trace.clear();
    for (uint32_t intid : {0u, 15u, 32u, 33u, 1019u, 1023u, 0xffffffffu})
        CHECK_EQUAL(Err::invalid, gic.enable_ppi(intid).error());
    STRCMP_EQUAL("", trace.text().c_str());
}

// GICC_IAR's CPUID (bits [12:10], the requester of an SGI) goes back in the EOIR write: "the
// value written must be the value read from GICC_IAR" (IHI 0048B 4.4.5).
TEST(GicV2, EndOfInterruptWritesBackTheWholeIar) {
    gicc.script(0x00c, {0x1c05, 0x0c1b});
    InterruptAck sgi = gic.acknowledge();
    CHECK(!sgi.spurious());
    UNSIGNED_LONGS_EQUAL(5, sgi.intid);
    gic.end_of_interrupt(sgi);
    InterruptAck ppi = gic.acknowledge();
    UNSIGNED_LONGS_EQUAL(27, ppi.intid);
    gic.end_of_interrupt(ppi);
    STRCMP_EQUAL(trace_lines({
                     "read GICC_IAR: 0x1c05",
                     "write GICC_EOIR: 0x1c05",
                     "read GICC_IAR: 0xc1b",
                     "write GICC_EOIR: 0xc1b",
                 }).c_str(),
                 trace.text().c_str());
}

TEST(GicV2, NothingPendingAcknowledgesAsSpurious) {
    gicc.script(0x00c, {1023});
    InterruptAck ack = gic.acknowledge();
    CHECK(ack.spurious());
    UNSIGNED_LONGS_EQUAL(1023, ack.intid);
}

// The special INTIDs 1020..1023 are never handled; 1019 (the last SPI) is.
TEST(GicV2, SpecialIntidsAreSpuriousAndTheLastSpiIsNot) {
    CHECK(!(InterruptAck{1019, 1019}.spurious()));
    for (uint32_t intid : {1020u, 1021u, 1022u, 1023u}) CHECK((InterruptAck{intid, intid}.spurious()));
    CHECK(!(InterruptAck{1024, 1024}.spurious()));
}
