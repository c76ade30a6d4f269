// The operand of the TLB maintenance instructions that take a virtual address (Arm ARM DDI 0487,
// C5.5 "A64 system instructions for TLB maintenance", e.g. TLBI VAAE1IS): a value only, so the
// host tests check its bits; issuing the instruction is arch/arm64/tlb.h's business.
#pragma once

#include <cstdint>

#include "kernel/addr.h"
#include "kernel/bitfield.h"

namespace domd::arm64 {

// Xt for TLBI VAE1IS / VAAE1IS / VALE1IS / VAALE1IS with a 4 KiB granule.
struct TlbiVaOperand {
    uint64_t raw = 0;
    // VA[55:12]. Bit 55 selects TTBR0 or TTBR1, so it must be kept: a TTBR1 address has ones
    // in [55:48], which land in [43:36] here, never above bit 43.
    DOMD_FIELD(uint64_t, va_55_12, 43, 0)
    // TTL, the level hint (FEAT_TTL, Armv8.4): 0b00xx says nothing about the level, 0b01LL is a
    // 4 KiB-granule leaf at level LL. Without FEAT_TTL the field is RES0.
    DOMD_FIELD(unsigned, ttl, 47, 44)
    // ASID for the VAE1/VALE1 forms; RES0 for the all-ASID forms (VAAE1, VAALE1).
    DOMD_FIELD(unsigned, asid, 63, 48)
};

// TTL "no information": the entry may be at any level. domd always gives it: a hint would be
// RES0 on CPUs without FEAT_TTL (domd does not probe for it), and a wrong level hint lets the
// CPU keep the entry, as would a level-3 hint when a freed table's walk-cache entries must go too.
constexpr unsigned tlbi_ttl_any_level = 0;

// The operand naming `va` for the all-ASID forms (TLBI VAAE1IS): VA[55:12], no level hint.
constexpr TlbiVaOperand tlbi_all_asid_operand(VirtAddr va) {
    return TlbiVaOperand{}.set_va_55_12(va.value >> page_shift).set_ttl(tlbi_ttl_any_level).set_asid(0);
}

// A TTBR1 address: bits [63:48] (RES0 and TTL) stay clear, VA[55:12] is all there.
static_assert(tlbi_all_asid_operand(VirtAddr{0xffff000000201000}).raw == 0x00000ff000000201);
// The top page of the TTBR1 half: the highest operand there is.
static_assert(tlbi_all_asid_operand(VirtAddr{0xfffffffffffff000}).raw == 0x00000fffffffffff);
// A TTBR0 address is its page number.
static_assert(tlbi_all_asid_operand(VirtAddr{0x40001000}).raw == 0x40001);

}  // namespace domd::arm64
