// Typed register and descriptor layouts: a register is a value type with named fields, kept
// apart from how it is read or written (MMIO, system register, page-table memory).
#pragma once

#include <cstdint>

namespace domd {

template <unsigned Hi, unsigned Lo, typename Int = uint64_t>
struct Bits {
    static_assert(Hi >= Lo && Hi < sizeof(Int) * 8);
    static constexpr unsigned width = Hi - Lo + 1;
    static constexpr Int field_mask = width == sizeof(Int) * 8 ? ~Int{0} : ((Int{1} << width) - 1);
    static constexpr Int mask = field_mask << Lo;

    static constexpr Int get(Int reg) { return (reg >> Lo) & field_mask; }
    static constexpr Int set(Int reg, Int value) { return (reg & ~mask) | ((value & field_mask) << Lo); }
};

}  // namespace domd

// Declares a named field accessor pair on a struct holding `raw`:
//   name() reads it, set_name(v) writes it and returns *this for chaining.
#define DOMD_FIELD(Int, name, hi, lo)                                                      \
    constexpr Int name() const { return static_cast<Int>(::domd::Bits<hi, lo, decltype(raw)>::get(raw)); } \
    constexpr auto& set_##name(Int v) {                                                    \
        raw = ::domd::Bits<hi, lo, decltype(raw)>::set(raw, static_cast<decltype(raw)>(v)); \
        return *this;                                                                      \
    }
#define DOMD_BIT(name, bit) DOMD_FIELD(bool, name, bit, bit)
