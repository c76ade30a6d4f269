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
