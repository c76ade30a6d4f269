// Typed layouts of the GIC registers domd programs: GICv2 (Arm IHI 0048B, chapter 4) and GICv3
// (Arm IHI 0069H, chapter 12). Layouts only, apart from access (arch/arm64/register_io.h):
//   auto ctlr = gicv3::GicdCtlr::get().read_from(gicd);
//   gicv3::GicdCtlr::get().from_value(0).set_are_ns(true).write_to(gicd);
// Field names follow the specs. No inline assembly: host tests include this header.
#pragma once

#include <cstdint>

#include "arch/arm64/register_io.h"
#include "kernel/bitfield.h"

namespace domd::arm64 {

// INTID ranges (IHI 0069H 2.2, "INTIDs"; IHI 0048B 2.2.1, "Interrupt IDs"): SGIs 0-15, PPIs 16-31, SPIs
// 32-1019, special INTIDs 1020-1023 (1023: no pending interrupt, "spurious").
constexpr uint32_t first_ppi = 16;
constexpr uint32_t last_ppi = 31;
constexpr uint32_t first_special_intid = 1020;
constexpr uint32_t spurious_intid = 1023;
constexpr bool is_ppi(uint32_t intid) { return intid >= first_ppi && intid <= last_ppi; }
constexpr bool is_special_intid(uint32_t intid) { return intid >= first_special_intid && intid <= spurious_intid; }

// ---- per-interrupt arrays, the same in the GICv2 and GICv3 distributors and in the GICv3
// redistributor's SGI_base frame (for INTIDs 0-31): one bit or one byte per INTID, 32-bit words.

// GICD_IGROUPR<n> (IHI 0048B 4.3.4; IHI 0069H 12.9.13) and GICR_IGROUPR0 (12.11.12): a set
// bit puts the interrupt in Group 1, the group a non-secure guest handles.
struct Igroupr : Register<Igroupr, uint32_t> {
    static constexpr uint64_t base = 0x080;
    static constexpr RegisterAddr<Igroupr> get(uint32_t n) { return RegisterAddr<Igroupr>(base + 4 * n); }
    static constexpr RegisterAddr<Igroupr> for_intid(uint32_t intid) { return get(intid / 32); }
};

// GICD_ISENABLER<n> (IHI 0048B 4.3.5; IHI 0069H 12.9.26) and GICR_ISENABLER0 (12.11.25):
// writing 1 to a bit enables that interrupt's forwarding; 0 bits are ignored (no
// read-modify-write needed).
struct Isenabler : Register<Isenabler, uint32_t> {
    static constexpr uint64_t base = 0x100;
    static constexpr RegisterAddr<Isenabler> get(uint32_t n) { return RegisterAddr<Isenabler>(base + 4 * n); }
    static constexpr RegisterAddr<Isenabler> for_intid(uint32_t intid) { return get(intid / 32); }
    constexpr Isenabler& set_enable(uint32_t intid) {
        raw |= 1u << (intid % 32);
        return *this;
    }
};

// GICD_IPRIORITYR<n> (IHI 0048B 4.3.11; IHI 0069H 12.9.20) and GICR_IPRIORITYR<n> (12.11.21):
// one priority byte per INTID, four to a word; lower is more urgent.
struct Ipriorityr : Register<Ipriorityr, uint32_t> {
    static constexpr uint64_t base = 0x400;
    static constexpr RegisterAddr<Ipriorityr> get(uint32_t n) { return RegisterAddr<Ipriorityr>(base + 4 * n); }
    static constexpr RegisterAddr<Ipriorityr> for_intid(uint32_t intid) { return get(intid / 4); }
    constexpr uint8_t priority(uint32_t intid) const { return static_cast<uint8_t>(raw >> shift(intid)); }
    constexpr Ipriorityr& set_priority(uint32_t intid, uint8_t priority) {
        raw = (raw & ~(0xffu << shift(intid))) | (uint32_t{priority} << shift(intid));
        return *this;
    }

private:
    static constexpr uint32_t shift(uint32_t intid) { return (intid % 4) * 8; }
};

static_assert(Igroupr::for_intid(31).offset() == 0x080 && Igroupr::for_intid(32).offset() == 0x084);
static_assert(Isenabler::for_intid(27).offset() == 0x100 && Isenabler::for_intid(32).offset() == 0x104);
static_assert(Ipriorityr::for_intid(27).offset() == 0x418 && Ipriorityr::for_intid(31).offset() == 0x41c);
static_assert(Ipriorityr::get(0).from_value(0x11223344).set_priority(2, 0xa0).raw == 0x11a03344);

namespace gicv2 {

// Distributor register map: IHI 0048B 4.1.2, Table 4-1.

// GICD_CTLR (4.3.1), as a non-secure guest sees it: one enable, for Group 1.
struct GicdCtlr : Register<GicdCtlr, uint32_t> {
    static constexpr RegisterAddr<GicdCtlr> get() { return RegisterAddr<GicdCtlr>(0x000); }
    DOMD_BIT(enable, 0)
};

// CPU interface register map: IHI 0048B 4.1.3, Table 4-2.

// GICC_CTLR (4.4.1), non-secure copy.
struct GiccCtlr : Register<GiccCtlr, uint32_t> {
    static constexpr RegisterAddr<GiccCtlr> get() { return RegisterAddr<GiccCtlr>(0x0000); }
    DOMD_BIT(enable_grp1, 0)
    DOMD_BIT(fiq_byp_dis_grp1, 5)
    DOMD_BIT(irq_byp_dis_grp1, 6)
    DOMD_BIT(eoi_mode_ns, 9)  // 0: a write to GICC_EOIR drops priority and deactivates
};

// GICC_PMR (4.4.2): only interrupts of higher priority (lower value) than this are signalled.
struct GiccPmr : Register<GiccPmr, uint32_t> {
    static constexpr RegisterAddr<GiccPmr> get() { return RegisterAddr<GiccPmr>(0x0004); }
    DOMD_FIELD(uint8_t, priority, 7, 0)
};

// GICC_BPR (4.4.3): splits the priority into group priority (preemption) and subpriority.
struct GiccBpr : Register<GiccBpr, uint32_t> {
    static constexpr RegisterAddr<GiccBpr> get() { return RegisterAddr<GiccBpr>(0x0008); }
    DOMD_FIELD(unsigned, binary_point, 2, 0)
};

// GICC_IAR (4.4.4): reading it acknowledges the highest-priority pending interrupt. For an SGI,
// CPUID names the requesting CPU; the whole value goes back to GICC_EOIR.
struct GiccIar : Register<GiccIar, uint32_t> {
    static constexpr RegisterAddr<GiccIar> get() { return RegisterAddr<GiccIar>(0x000c); }
    DOMD_FIELD(uint32_t, interrupt_id, 9, 0)
    DOMD_FIELD(unsigned, cpuid, 12, 10)
};

// GICC_EOIR (4.4.5): "the value written must be the value read from GICC_IAR": EOIINTID and
// CPUID together.
struct GiccEoir : Register<GiccEoir, uint32_t> {
    static constexpr RegisterAddr<GiccEoir> get() { return RegisterAddr<GiccEoir>(0x0010); }
    DOMD_FIELD(uint32_t, eoi_intid, 9, 0)
    DOMD_FIELD(unsigned, cpuid, 12, 10)
};

static_assert(GicdCtlr::get().offset() == 0x000);
static_assert(GiccCtlr::get().offset() == 0x00 && GiccPmr::get().offset() == 0x04 && GiccBpr::get().offset() == 0x08 &&
              GiccIar::get().offset() == 0x0c && GiccEoir::get().offset() == 0x10);

}  // namespace gicv2

namespace gicv3 {

// Distributor register map: IHI 0069H 12.8.

// GICD_CTLR (12.9.4), in the bit positions of the non-secure view (the single-security view
// puts EnableGrp1 and ARE at the same positions).
struct GicdCtlr : Register<GicdCtlr, uint32_t> {
    static constexpr RegisterAddr<GicdCtlr> get() { return RegisterAddr<GicdCtlr>(0x0000); }
    DOMD_BIT(enable_grp1a, 1)
    DOMD_BIT(are_ns, 4)  // affinity routing
    DOMD_BIT(rwp, 31)    // register write pending: poll until 0 after changing the enables/ARE
};

// Redistributor register map (12.10): each PE's redistributor is a series of 64 KiB frames:
// RD_base (control), then SGI_base (SGIs and PPIs); GICv4 adds VLPI_base and a reserved frame.
constexpr uint64_t frame_size = 0x10000;
constexpr uint64_t sgi_base_offset = frame_size;
constexpr uint64_t redistributor_stride = 2 * frame_size;
constexpr uint64_t redistributor_stride_vlpi = 4 * frame_size;  // GICR_TYPER.VLPIS == 1

// GICR_TYPER (12.11.37), in RD_base, 64-bit.
struct GicrTyper : Register<GicrTyper, uint64_t> {
    static constexpr RegisterAddr<GicrTyper> get() { return RegisterAddr<GicrTyper>(0x0008); }
    DOMD_BIT(plpis, 0)
    DOMD_BIT(vlpis, 1)  // virtual LPIs: the redistributor has the two extra GICv4 frames
    DOMD_BIT(last, 4)   // the last redistributor of this contiguous region
    DOMD_FIELD(unsigned, processor_number, 23, 8)
    DOMD_FIELD(uint32_t, affinity_value, 63, 32)  // Aff3.Aff2.Aff1.Aff0 of the PE it serves
};

// GICR_WAKER (12.11.42), in RD_base: a PE wakes its redistributor by clearing ProcessorSleep,
// then waits for ChildrenAsleep to read 0 before using it.
struct GicrWaker : Register<GicrWaker, uint32_t> {
    static constexpr RegisterAddr<GicrWaker> get() { return RegisterAddr<GicrWaker>(0x0014); }
    DOMD_BIT(processor_sleep, 1)
    DOMD_BIT(children_asleep, 2)
};

static_assert(GicdCtlr::get().offset() == 0x0000);
static_assert(GicrTyper::get().offset() == 0x0008 && GicrWaker::get().offset() == 0x0014);
// SGI_base's IGROUPR0/ISENABLER0/IPRIORITYR<n> sit at the distributor's offsets (12.10).
static_assert(Igroupr::get(0).offset() == 0x0080 && Isenabler::get(0).offset() == 0x0100 &&
              Ipriorityr::get(0).offset() == 0x0400);

// CPU interface system registers (12.2).

// ICC_SRE_EL1 (12.2.23): SRE selects the system-register interface (the only one Xen's vGICv3
// offers); it may be RAO/WI, or WI at 0 where only the memory-mapped interface exists.
struct IccSre : SystemRegister<IccSre> {
    static constexpr SysReg id = SysReg::icc_sre_el1;
    DOMD_BIT(sre, 0)
    DOMD_BIT(dfb, 1)  // disable FIQ bypass
    DOMD_BIT(dib, 2)  // disable IRQ bypass
};

// ICC_PMR_EL1 (12.2.19): the priority mask.
struct IccPmr : SystemRegister<IccPmr> {
    static constexpr SysReg id = SysReg::icc_pmr_el1;
    DOMD_FIELD(uint8_t, priority, 7, 0)
};

// ICC_BPR1_EL1 (12.2.5): binary point for Group 1.
struct IccBpr1 : SystemRegister<IccBpr1> {
    static constexpr SysReg id = SysReg::icc_bpr1_el1;
    DOMD_FIELD(unsigned, binary_point, 2, 0)
};

// ICC_CTLR_EL1 (12.2.6).
struct IccCtlr : SystemRegister<IccCtlr> {
    static constexpr SysReg id = SysReg::icc_ctlr_el1;
    DOMD_BIT(cbpr, 0)
    DOMD_BIT(eoimode, 1)  // 0: a write to ICC_EOIR1_EL1 drops priority and deactivates
    DOMD_BIT(pmhe, 6)
    DOMD_FIELD(unsigned, pri_bits, 10, 8)
    DOMD_FIELD(unsigned, id_bits, 13, 11)
};

// ICC_IGRPEN1_EL1 (12.2.16): enables Group 1 interrupts at the CPU interface.
struct IccIgrpen1 : SystemRegister<IccIgrpen1> {
    static constexpr SysReg id = SysReg::icc_igrpen1_el1;
    DOMD_BIT(enable, 0)
};

// ICC_IAR1_EL1 (12.2.14): reading acknowledges the highest-priority pending Group 1 interrupt.
struct IccIar1 : SystemRegister<IccIar1> {
    static constexpr SysReg id = SysReg::icc_iar1_el1;
    DOMD_FIELD(uint32_t, intid, 23, 0)
};

// ICC_EOIR1_EL1 (12.2.10): takes the value read from ICC_IAR1_EL1.
struct IccEoir1 : SystemRegister<IccEoir1> {
    static constexpr SysReg id = SysReg::icc_eoir1_el1;
    DOMD_FIELD(uint32_t, intid, 23, 0)
};

}  // namespace gicv3

}  // namespace domd::arm64
