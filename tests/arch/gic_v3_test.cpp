// GICv3 driver (arch/arm64/gic_v3.cpp) against recording fakes of its distributor, its
// redistributor region and the CPU's ICC_* system registers (IHI 0069H, chapter 12): the init
// sequence in order, bounded polls, the search for this PE's redistributor, PPI enabling and its
// bounds, and acknowledge/EOI.
#include "tests/test_support.h"

#include "arch/arm64/gic_v3.h"
#include "tests/arch/fake_registers.h"

using namespace domd;
using namespace domd::arm64;
using test::trace_lines;

namespace {

// Offsets from IHI 0069H 12.8 (distributor) and 12.10 (redistributor: RD_base, then SGI_base
// 64 KiB further on).
constexpr uint64_t GICD_CTLR = 0x0000;
constexpr uint64_t GICR_TYPER = 0x0008;
constexpr uint64_t GICR_WAKER = 0x0014;
constexpr uint64_t SGI_BASE = 0x10000;
constexpr uint64_t GICR_IPRIORITYR6 = SGI_BASE + 0x0418;
constexpr uint64_t frame = 0x20000;  // one GICv3 redistributor: RD_base + SGI_base

// GICR_TYPER (12.11.37): affinity in [63:32], Last in bit 4, VLPIS in bit 1.
constexpr uint64_t typer(uint32_t affinity, bool last = false, bool vlpis = false) {
    return uint64_t{affinity} << 32 | (last ? 0x10 : 0) | (vlpis ? 0x2 : 0);
}

}  // namespace

TEST_GROUP(GicV3) {
    test::AccessTrace trace;
    test::FakeRegisterBlock gicd{trace, "GICD", 0x10000, {{0x0000, "GICD_CTLR"}}};
    test::FakeRegisterBlock gicr{trace, "GICR", 4 * frame,
                                 {{0x0008, "GICR_TYPER"},
                                  {0x0014, "GICR_WAKER"},
                                  {0x10080, "GICR_IGROUPR0"},
                                  {0x10100, "GICR_ISENABLER0"},
                                  {0x10410, "GICR_IPRIORITYR4"},
                                  {0x10418, "GICR_IPRIORITYR6"},
                                  {0x1041c, "GICR_IPRIORITYR7"}},
                                 frame};
    test::FakeSysregs cpu{trace};

    void setup() override {
        cpu.set(SysReg::mpidr_el1, 0x80000000);  // Aff3.Aff2.Aff1.Aff0 = 0.0.0.0 (bit 31 is RES1)
        gicr.set(GICR_TYPER, typer(0, true));
        gicr.set(GICR_WAKER, 0x6);  // ProcessorSleep and ChildrenAsleep, as out of reset
    }

    GicV3 make(uint64_t region_size = 4 * frame) {
        return GicV3(RegisterBlock(gicd), RegisterBlock(gicr), region_size, cpu);
    }

    // init() on a GIC that settles at once, then a clean trace.
    void init(GicV3& gic) {
        gicr.script(GICR_WAKER, {0x6, 0x0});
        CHECK(gic.init().ok());
        trace.clear();
    }
};

// System-register interface first (with an ISB before relying on it), then the distributor
// (write, then poll RWP), then this PE's redistributor (wake, poll ChildrenAsleep, Group 1),
// then the CPU interface (mask, binary point, EOImode, Group 1 enable, ISB).
TEST(GicV3, InitSequenceInOrder) {
    gicd.script(GICD_CTLR, {0x80000012, 0x80000012, 0x12});
    gicr.script(GICR_WAKER, {0x6, 0x4, 0x4, 0x0});
    GicV3 gic = make();
    CHECK(gic.init().ok());
    STRCMP_EQUAL(trace_lines({
                     "mrs ICC_SRE_EL1: 0x0",
                     "msr ICC_SRE_EL1: 0x1",
                     "isb",
                     "mrs ICC_SRE_EL1: 0x1",
                     "write GICD_CTLR: 0x12",
                     "read GICD_CTLR: 0x80000012 (x2)",
                     "read GICD_CTLR: 0x12",
                     "mrs MPIDR_EL1: 0x80000000",
                     "read64 GICR[0] GICR_TYPER: 0x10",
                     "read GICR[0] GICR_WAKER: 0x6",
                     "write GICR[0] GICR_WAKER: 0x4",
                     "read GICR[0] GICR_WAKER: 0x4 (x2)",
                     "read GICR[0] GICR_WAKER: 0x0",
                     "write GICR[0] GICR_IGROUPR0: 0xffffffff",
                     "msr ICC_PMR_EL1: 0xf0",
                     "msr ICC_BPR1_EL1: 0x0",
                     "msr ICC_CTLR_EL1: 0x0",
                     "msr ICC_IGRPEN1_EL1: 0x1",
                     "isb",
                 }).c_str(),
                 trace.text().c_str());
}

// ICC_SRE_EL1 bits other than SRE are kept (DFB/DIB may be RAO).
TEST(GicV3, InitKeepsTheOtherSreBits) {
    cpu.set(SysReg::icc_sre_el1, 0x6);
    gicr.script(GICR_WAKER, {0x6, 0x0});
    GicV3 gic = make();
    CHECK(gic.init().ok());
    UNSIGNED_LONGLONGS_EQUAL(0x7, cpu.value(SysReg::icc_sre_el1));
}

// SRE that reads back 0: no system-register interface; nothing else is touched.
TEST(GicV3, InitRefusesACpuInterfaceWithoutSystemRegisters) {
    cpu.script(SysReg::icc_sre_el1, {0x0});
    GicV3 gic = make();
    CHECK_EQUAL(Err::not_supported, gic.init().error());
    STRCMP_EQUAL(trace_lines({"mrs ICC_SRE_EL1: 0x0", "msr ICC_SRE_EL1: 0x1", "isb", "mrs ICC_SRE_EL1: 0x0"}).c_str(),
                 trace.text().c_str());
}

// A distributor whose RWP never clears: init gives up after poll_limit reads, touches nothing
// further, and returns (no hang).
TEST(GicV3, InitTimesOutWhenRwpNeverClears) {
    gicd.script(GICD_CTLR, {0x80000012});
    GicV3 gic = make();
    CHECK_EQUAL(Err::timed_out, gic.init().error());
    std::string expected = trace_lines({"mrs ICC_SRE_EL1: 0x0", "msr ICC_SRE_EL1: 0x1", "isb", "mrs ICC_SRE_EL1: 0x1",
                                        "write GICD_CTLR: 0x12"}) +
                           "read GICD_CTLR: 0x80000012 (x" + std::to_string(GicV3::poll_limit) + ")\n";
    STRCMP_EQUAL(expected.c_str(), trace.text().c_str());
}

// A redistributor that never wakes: init gives up, and the CPU interface is never enabled.
TEST(GicV3, InitTimesOutWhenTheRedistributorStaysAsleep) {
    gicr.script(GICR_WAKER, {0x6, 0x4});
    GicV3 gic = make();
    CHECK_EQUAL(Err::timed_out, gic.init().error());
    std::string text = trace.text();
    std::string tail = "write GICR[0] GICR_WAKER: 0x4\nread GICR[0] GICR_WAKER: 0x4 (x" +
                       std::to_string(GicV3::poll_limit) + ")\n";
    CHECK(text.size() >= tail.size());
    STRCMP_EQUAL(tail.c_str(), text.substr(text.size() - tail.size()).c_str());
    UNSIGNED_LONGLONGS_EQUAL(0, cpu.value(SysReg::icc_igrpen1_el1));
}

// ---- finding this PE's redistributor ---------------------------------------------------

// The redistributor whose GICR_TYPER affinity is MPIDR's Aff1.Aff0 = 1.2, the third one.
TEST(GicV3, FindsItsRedistributorByAffinity) {
    cpu.set(SysReg::mpidr_el1, 0x80000102);
    gicr.set(0 * frame + GICR_TYPER, typer(0x0000));
    gicr.set(1 * frame + GICR_TYPER, typer(0x0101));
    gicr.set(2 * frame + GICR_TYPER, typer(0x0102));
    gicr.set(3 * frame + GICR_TYPER, typer(0x0103, true));
    gicr.script(2 * frame + GICR_WAKER, {0x6, 0x0});
    GicV3 gic = make();
    CHECK(gic.init().ok());
    UNSIGNED_LONGLONGS_EQUAL(2 * frame, gic.redistributor().base());
    std::string text = trace.text();
    CHECK(text.find("read64 GICR[0] GICR_TYPER: 0x0\n"
                    "read64 GICR[1] GICR_TYPER: 0x10100000000\n"
                    "read64 GICR[2] GICR_TYPER: 0x10200000000\n"
                    "read GICR[2] GICR_WAKER: 0x6\n") != std::string::npos);
    CHECK(text.find("GICR[3]") == std::string::npos);
    CHECK(text.find("write GICR[2] GICR_IGROUPR0: 0xffffffff") != std::string::npos);
}

// Aff3 is MPIDR bits [39:32] but GICR_TYPER bits [63:56]: 1.0.0.0 is not 0.0.0.0.
TEST(GicV3, MatchesAff3) {
    cpu.set(SysReg::mpidr_el1, 0x180000000);
    gicr.set(0 * frame + GICR_TYPER, typer(0x00000000));
    gicr.set(1 * frame + GICR_TYPER, typer(0x01000000, true));
    gicr.script(1 * frame + GICR_WAKER, {0x6, 0x0});
    GicV3 gic = make();
    CHECK(gic.init().ok());
    UNSIGNED_LONGLONGS_EQUAL(frame, gic.redistributor().base());
}

// Last ends the search: a matching frame after it belongs to no one.
TEST(GicV3, StopsAtTheLastRedistributor) {
    cpu.set(SysReg::mpidr_el1, 0x80000001);
    gicr.set(0 * frame + GICR_TYPER, typer(0x0000, true));
    gicr.set(1 * frame + GICR_TYPER, typer(0x0001));
    GicV3 gic = make();
    CHECK_EQUAL(Err::not_found, gic.init().error());
    std::string text = trace.text();
    CHECK(text.find("read64 GICR[0] GICR_TYPER") != std::string::npos);
    CHECK(text.find("GICR[1]") == std::string::npos);
    CHECK(!gic.redistributor().valid());
}

// No Last bit and no match: the search ends at the region's end, reading nothing beyond it.
TEST(GicV3, RegionWithNoMatchIsNotFound) {
    cpu.set(SysReg::mpidr_el1, 0x80000007);
    gicr.set(0 * frame + GICR_TYPER, typer(0x0000));
    gicr.set(1 * frame + GICR_TYPER, typer(0x0001));
    gicr.set(2 * frame + GICR_TYPER, typer(0x0007));  // would match, but lies outside the region
    GicV3 gic = make(2 * frame);
    CHECK_EQUAL(Err::not_found, gic.init().error());
    std::string text = trace.text();
    CHECK(text.find("read64 GICR[1] GICR_TYPER") != std::string::npos);
    CHECK(text.find("GICR[2]") == std::string::npos);
}

// A region that ends inside a redistributor: the partial one is not read.
TEST(GicV3, PartialRedistributorAtTheEndIsNotRead) {
    cpu.set(SysReg::mpidr_el1, 0x80000001);
    gicr.set(0 * frame + GICR_TYPER, typer(0x0000));
    gicr.set(1 * frame + GICR_TYPER, typer(0x0001));
    GicV3 gic = make(frame + frame / 2);
    CHECK_EQUAL(Err::not_found, gic.init().error());
    CHECK(trace.text().find("GICR[1]") == std::string::npos);
}

// GICv4 redistributors (VLPIS) take four 64 KiB frames: the next one starts 256 KiB on.
TEST(GicV3, SkipsTheVlpiFramesOfAGicV4Redistributor) {
    cpu.set(SysReg::mpidr_el1, 0x80000001);
    gicr.set(0 * frame + GICR_TYPER, typer(0x0000, false, true));
    gicr.set(1 * frame + GICR_TYPER, typer(0x0001));  // inside redistributor 0's VLPI frames
    gicr.set(2 * frame + GICR_TYPER, typer(0x0001, true, true));
    gicr.script(2 * frame + GICR_WAKER, {0x6, 0x0});
    GicV3 gic = make();
    CHECK(gic.init().ok());
    UNSIGNED_LONGLONGS_EQUAL(2 * frame, gic.redistributor().base());
    CHECK(trace.text().find("GICR[1]") == std::string::npos);
}

// ---- PPIs ---------------------------------------------------------------------------------

// Group 1 came with init; priority byte 3 of GICR_IPRIORITYR6 (the other bytes survive), then
// the enable bit alone, all in this PE's SGI_base frame.
TEST(GicV3, EnablePpiSetsItsPriorityThenEnablesIt) {
    GicV3 gic = make();
    init(gic);
    gicr.set(GICR_IPRIORITYR6, 0x11223344);
    CHECK(gic.enable_ppi(27).ok());
    STRCMP_EQUAL(trace_lines({
                     "read GICR[0] GICR_IPRIORITYR6: 0x11223344",
                     "write GICR[0] GICR_IPRIORITYR6: 0xa0223344",
                     "write GICR[0] GICR_ISENABLER0: 0x8000000",
                 }).c_str(),
                 trace.text().c_str());
}

// The INTID comes from the device tree: 16 and 31 are PPIs; 15 is an SGI and 32 an SPI, and
// anything larger would shift past the register's width. Refused, without any access.
TEST(GicV3, EnablePpiAcceptsExactlyThePpiRange) {
    GicV3 gic = make();
    init(gic);
    CHECK(gic.enable_ppi(16).ok());
    CHECK(gic.enable_ppi(31).ok());
    STRCMP_EQUAL(trace_lines({
                     "read GICR[0] GICR_IPRIORITYR4: 0x0",
                     "write GICR[0] GICR_IPRIORITYR4: 0xa0",
                     "write GICR[0] GICR_ISENABLER0: 0x10000",
                     "read GICR[0] GICR_IPRIORITYR7: 0x0",
                     "write GICR[0] GICR_IPRIORITYR7: 0xa0000000",
                     "write GICR[0] GICR_ISENABLER0: 0x80000000",
                 }).c_str(),
                 trace.text().c_str());
    trace.clear();
    for (uint32_t intid : {0u, 15u, 32u, 33u, 40u, 64u, 1023u, 0xffffffffu})
        CHECK_EQUAL(Err::invalid, gic.enable_ppi(intid).error());
    STRCMP_EQUAL("", trace.text().c_str());
}

TEST(GicV3, EnablePpiBeforeInitIsRefused) {
    GicV3 gic = make();
    CHECK_EQUAL(Err::not_connected, gic.enable_ppi(27).error());
    STRCMP_EQUAL("", trace.text().c_str());
}

// ---- acknowledge and end of interrupt -----------------------------------------------------

// IAR1, then a DSB before the handler looks at anything; EOIR1 gets what IAR1 gave, then ISB.
TEST(GicV3, AcknowledgeThenEndOfInterrupt) {
    GicV3 gic = make();
    cpu.script(SysReg::icc_iar1_el1, {27, 8192, 1023});
    InterruptAck timer = gic.acknowledge();
    CHECK(!timer.spurious());
    UNSIGNED_LONGS_EQUAL(27, timer.intid);
    gic.end_of_interrupt(timer);
    InterruptAck lpi = gic.acknowledge();  // 24-bit INTIDs survive
    UNSIGNED_LONGS_EQUAL(8192, lpi.intid);
    gic.end_of_interrupt(lpi);
    CHECK(gic.acknowledge().spurious());
    STRCMP_EQUAL(trace_lines({
                     "mrs ICC_IAR1_EL1: 0x1b",
                     "dsb sy",
                     "msr ICC_EOIR1_EL1: 0x1b",
                     "isb",
                     "mrs ICC_IAR1_EL1: 0x2000",
                     "dsb sy",
                     "msr ICC_EOIR1_EL1: 0x2000",
                     "isb",
                     "mrs ICC_IAR1_EL1: 0x3ff",
                     "dsb sy",
                 }).c_str(),
                 trace.text().c_str());
}
