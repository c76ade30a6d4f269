// VMSAv8-64 stage-1 descriptors, 4 KiB granule, 48-bit VA, levels 0-3 (Arm ARM D8.3).
// The generic walker (kernel/page_table.h) only sees them through Arm64Encoding.
#pragma once

#include <cstdint>

#include "kernel/addr.h"
#include "kernel/bitfield.h"
#include "kernel/page_table.h"

namespace domd::arm64 {

// MAIR_EL1 slots (D19.2.97): the AttrIndx values descriptors use.
enum MairIndex : unsigned { mair_normal = 0, mair_device = 1, mair_normal_nc = 2 };
constexpr uint64_t mair_value = (uint64_t{0xff} << (8 * mair_normal))      // Normal WB RA WA
                                | (uint64_t{0x04} << (8 * mair_device))   // Device-nGnRE
                                | (uint64_t{0x44} << (8 * mair_normal_nc));  // Normal NC

// A block, page or table descriptor (D8.3.1, D8.3.2).
struct Descriptor {
    uint64_t raw = 0;
    DOMD_BIT(valid, 0)
    DOMD_BIT(table_or_page, 1)   // 1: table (levels 0-2) or page (level 3); 0: block
    DOMD_FIELD(unsigned, attr_index, 4, 2)
    DOMD_BIT(ns, 5)
    DOMD_BIT(ap_el0, 6)          // AP[1]: EL0 access
    DOMD_BIT(ap_read_only, 7)    // AP[2]
    DOMD_FIELD(unsigned, sh, 9, 8)
    DOMD_BIT(af, 10)             // access flag: must be set, we do not use AF faults
    DOMD_BIT(ng, 11)
    DOMD_FIELD(uint64_t, address_bits, 47, 12)
    DOMD_BIT(contiguous, 52)
    DOMD_BIT(pxn, 53)
    DOMD_BIT(uxn, 54)
};
constexpr unsigned sh_inner_shareable = 3;

struct Arm64Encoding {
    static constexpr int levels = 4;
    static constexpr int root_level = 0;
    static constexpr int leaf_level = 3;
    static constexpr unsigned index_bits = 9;
    static constexpr unsigned shift(int level) { return 12 + 9 * static_cast<unsigned>(3 - level); }
    // Blocks exist at level 1 (1 GiB) and level 2 (2 MiB) with a 4 KiB granule.
    static constexpr bool can_be_leaf(int level) { return level >= 1; }

    static constexpr uint64_t invalid() { return 0; }
    // Invalid (bit 0 clear: the walker ignores every other bit, D8.3.1), output address kept.
    static constexpr uint64_t disabled(uint64_t e) { return Descriptor{e}.set_valid(false).raw; }
    static constexpr bool is_valid(uint64_t e) { return Descriptor{e}.valid(); }
    static constexpr bool is_table(uint64_t e, int level) {
        return level < leaf_level && Descriptor{e}.table_or_page();
    }
    static constexpr uint64_t make_table(PhysAddr next) {
        return Descriptor{}.set_valid(true).set_table_or_page(true).set_address_bits(next.value >> 12).raw;
    }
    static constexpr uint64_t make_leaf(PhysAddr pa, MapAttrs attrs, int level) {
        Descriptor d;
        d.set_valid(true).set_table_or_page(level == leaf_level).set_af(true);
        d.set_address_bits(pa.value >> 12);
        switch (attrs.type) {
            case MemType::normal: d.set_attr_index(mair_normal).set_sh(sh_inner_shareable); break;
            case MemType::device: d.set_attr_index(mair_device); break;
            case MemType::normal_uncached: d.set_attr_index(mair_normal_nc).set_sh(sh_inner_shareable); break;
        }
        d.set_ap_read_only(!attrs.writable);
        d.set_uxn(true);  // nothing runs at EL0
        d.set_pxn(!attrs.executable || attrs.type == MemType::device);
        return d.raw;
    }
    static constexpr PhysAddr output(uint64_t e, int level) {
        uint64_t pa = Descriptor{e}.address_bits() << 12;
        if (!is_table(e, level)) pa &= ~((uint64_t{1} << shift(level)) - 1);
        return {pa};
    }
    static constexpr MapAttrs attrs(uint64_t e) {
        Descriptor d{e};
        MapAttrs a;
        a.type = d.attr_index() == mair_device      ? MemType::device
                 : d.attr_index() == mair_normal_nc ? MemType::normal_uncached
                                                    : MemType::normal;
        a.writable = !d.ap_read_only();
        a.executable = !d.pxn();
        return a;
    }
};

// Spot checks against the manual's bit positions.
static_assert(Arm64Encoding::make_table({0x40001000}) == 0x40001003);
static_assert((Arm64Encoding::make_leaf({0x40000000}, MapAttrs::read_write(), 3) & 0x7ff) == 0x703);
static_assert(Arm64Encoding::make_leaf({0x9000000}, MapAttrs::mmio(), 3) ==
              (0x9000000 | 0x3 | (1 << 2) | (1 << 10) | (uint64_t{3} << 53)));
static_assert(Arm64Encoding::shift(0) == 39 && Arm64Encoding::shift(2) == 21);
static_assert(Arm64Encoding::output(Arm64Encoding::make_leaf({0x40200000}, MapAttrs::code(), 2), 2).value == 0x40200000);
static_assert(!Arm64Encoding::is_valid(Arm64Encoding::disabled(Arm64Encoding::make_leaf({0x40201000}, MapAttrs::read_write(), 3))));
static_assert(Arm64Encoding::output(Arm64Encoding::disabled(Arm64Encoding::make_leaf({0x40201000}, MapAttrs::read_write(), 3)), 3).value == 0x40201000);

}  // namespace domd::arm64
