// Typed layouts of the system registers domd programs or decodes (Arm ARM DDI 0487, chapter
// D19 register descriptions; field names follow the manual). Values only: reading and writing
// them is arch/arm64/sysreg.h's business, so host tests may include this header.
#pragma once

#include <cstdint>

#include "kernel/bitfield.h"

namespace domd::arm64 {

// SCTLR_EL1 (D19.2.118).
struct Sctlr {
    uint64_t raw = 0;
    DOMD_BIT(m, 0)     // stage-1 MMU enable
    DOMD_BIT(a, 1)     // alignment check
    DOMD_BIT(c, 2)     // data cacheability
    DOMD_BIT(sa, 3)    // SP alignment check, EL1
    DOMD_BIT(sa0, 4)   // SP alignment check, EL0
    DOMD_BIT(i, 12)    // instruction cacheability
    DOMD_BIT(wxn, 19)  // writable implies execute-never
    DOMD_BIT(ee, 25)   // big-endian at EL1
};

// TCR_EL1 (D19.2.139).
struct Tcr {
    uint64_t raw = 0;
    DOMD_FIELD(unsigned, t0sz, 5, 0)
    DOMD_BIT(epd0, 7)
    DOMD_FIELD(unsigned, irgn0, 9, 8)
    DOMD_FIELD(unsigned, orgn0, 11, 10)
    DOMD_FIELD(unsigned, sh0, 13, 12)
    DOMD_FIELD(unsigned, tg0, 15, 14)
    DOMD_FIELD(unsigned, t1sz, 21, 16)
    DOMD_BIT(a1, 22)
    DOMD_BIT(epd1, 23)
    DOMD_FIELD(unsigned, irgn1, 25, 24)
    DOMD_FIELD(unsigned, orgn1, 27, 26)
    DOMD_FIELD(unsigned, sh1, 29, 28)
    DOMD_FIELD(unsigned, tg1, 31, 30)
    DOMD_FIELD(unsigned, ips, 34, 32)
};

// ESR_EL1 (D19.2.37): exception class and syndrome.
struct Esr {
    uint64_t raw = 0;
    DOMD_FIELD(unsigned, iss, 24, 0)
    DOMD_BIT(il, 25)
    DOMD_FIELD(unsigned, ec, 31, 26)
};

// ESR_ELx.EC values domd decodes further (D19.2.37, table "ESR_ELx.EC").
namespace exception_class {
constexpr unsigned instruction_abort_lower = 0x20;
constexpr unsigned instruction_abort = 0x21;
constexpr unsigned data_abort_lower = 0x24;
constexpr unsigned data_abort = 0x25;
constexpr unsigned serror = 0x2f;
}  // namespace exception_class

// ISS of an instruction or data abort (D19.2.37, "ISS encoding for an exception from an
// Instruction Abort" / "... from a Data Abort").
struct AbortIss {
    uint32_t raw = 0;
    DOMD_FIELD(unsigned, fsc, 5, 0)  // IFSC/DFSC: fault status code
    DOMD_BIT(wnr, 6)                 // data aborts: the access was a write
    DOMD_BIT(s1ptw, 7)               // on a stage-2 walk for a stage-1 translation
    DOMD_BIT(ea, 9)                  // external abort type
    DOMD_BIT(fnv, 10)                // FAR not valid
    DOMD_BIT(isv, 24)                // data aborts: ISS[23:14] hold a valid instruction syndrome
};

// ISS of an SError interrupt (D19.2.37, "ISS encoding for an SError interrupt"). Asynchronous:
// FAR is not set, and ELR is where the error was taken, not the access that caused it.
struct SErrorIss {
    uint32_t raw = 0;
    DOMD_FIELD(unsigned, dfsc, 5, 0)  // 0b000000 uncategorized, 0b010001 asynchronous SError
    DOMD_BIT(ea, 9)                   // external abort type
    DOMD_FIELD(unsigned, aet, 12, 10) // asynchronous error type, valid when DFSC is 0b010001
    DOMD_BIT(iesb, 13)                // synchronized by an implicit error synchronization barrier
    DOMD_BIT(ids, 24)                 // ISS[23:0] hold an IMPLEMENTATION DEFINED syndrome
};
namespace serror_dfsc {
constexpr unsigned uncategorized = 0x00;
constexpr unsigned asynchronous = 0x11;
}  // namespace serror_dfsc

// DAIF (Arm ARM C5.2, "DAIF, Interrupt Mask Bits"): PSTATE's exception masks, as MRS reads them.
// A set bit masks: D debug, A SError (asynchronous abort), I IRQ, F FIQ.
struct Daif {
    uint64_t raw = 0;
    DOMD_BIT(f, 6)
    DOMD_BIT(i, 7)
    DOMD_BIT(a, 8)
    DOMD_BIT(d, 9)
};

// MPIDR_EL1 (Arm ARM, D19.2 "MPIDR_EL1"): the PE's affinity, which the GICv3 redistributors are named by.
struct Mpidr {
    uint64_t raw = 0;
    DOMD_FIELD(unsigned, aff0, 7, 0)
    DOMD_FIELD(unsigned, aff1, 15, 8)
    DOMD_FIELD(unsigned, aff2, 23, 16)
    DOMD_BIT(mt, 24)
    DOMD_BIT(u, 30)
    DOMD_FIELD(unsigned, aff3, 39, 32)

    // Aff3.Aff2.Aff1.Aff0 packed into 32 bits, the form GICR_TYPER reports (IHI 0069 12.11.37).
    constexpr uint32_t packed_affinity() const { return aff3() << 24 | aff2() << 16 | aff1() << 8 | aff0(); }
};

// CNTV_CTL_EL0 (D19.12.16).
struct CntvCtl {
    uint64_t raw = 0;
    DOMD_BIT(enable, 0)
    DOMD_BIT(imask, 1)
    DOMD_BIT(istatus, 2)
};

}  // namespace domd::arm64
