// Register access kept apart from register layout (the shape of Zircon's hwreg): a register is a
// value type with named fields that knows where it lives (RegisterAddr); how it is read or
// written is an access object passed in (RegisterIo for memory-mapped blocks, SysregIo for the
// CPU's system registers). Drivers take their access objects as parameters, so the same driver
// runs on the target (arch/arm64/mmio.h, CpuSysregs in arch/arm64/sysreg.h) and against a
// recording fake in a host test (tests/arch/fake_registers.h). No inline assembly here.
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernel/bitfield.h"

namespace domd::arm64 {

// One memory-mapped register block; offsets are bytes from the block's base. The target's
// implementation issues exactly one load or store per call (arch/arm64/mmio.h).
class RegisterIo {
public:
    virtual uint32_t read32(uint64_t offset) = 0;
    virtual void write32(uint64_t offset, uint32_t value) = 0;
    virtual uint64_t read64(uint64_t offset) = 0;
    virtual void write64(uint64_t offset, uint64_t value) = 0;

protected:
    ~RegisterIo() = default;
};

// A view of a register block: an access object and where, inside it, this block starts (the
// redistributor frame of one CPU inside the redistributor region, for instance). A plain value.
class RegisterBlock {
public:
    constexpr RegisterBlock() = default;
    constexpr explicit RegisterBlock(RegisterIo& io, uint64_t base = 0) : io_(&io), base_(base) {}

    // The block `offset` bytes further on.
    constexpr RegisterBlock at(uint64_t offset) const { return RegisterBlock(*io_, base_ + offset); }
    constexpr bool valid() const { return io_ != nullptr; }
    constexpr uint64_t base() const { return base_; }

    template <typename Int>
    Int read(uint64_t offset) const {
        static_assert(std::is_same_v<Int, uint32_t> || std::is_same_v<Int, uint64_t>);
        if constexpr (sizeof(Int) == 4) return io_->read32(base_ + offset);
        else return io_->read64(base_ + offset);
    }
    template <typename Int>
    void write(uint64_t offset, Int value) const {
        static_assert(std::is_same_v<Int, uint32_t> || std::is_same_v<Int, uint64_t>);
        if constexpr (sizeof(Int) == 4) io_->write32(base_ + offset, value);
        else io_->write64(base_ + offset, value);
    }

private:
    RegisterIo* io_ = nullptr;
    uint64_t base_ = 0;
};

template <typename Reg>
class RegisterAddr;

// Base of a memory-mapped register's value type (CRTP): `raw` holds the bits (DOMD_FIELD reads
// and writes them), and the value remembers the offset it came from, so
//   auto ctlr = GicdCtlr::get().read_from(gicd);  ctlr.set_x(1).write_to(gicd);
// writes back where it read.
template <typename Reg, typename Int>
class Register {
public:
    using ValueType = Int;
    Int raw = 0;

    constexpr uint64_t offset() const { return offset_; }
    Reg& read_from(const RegisterBlock& block) {
        raw = block.read<Int>(offset_);
        return static_cast<Reg&>(*this);
    }
    const Reg& write_to(const RegisterBlock& block) const {
        block.write<Int>(offset_, raw);
        return static_cast<const Reg&>(*this);
    }

private:
    friend class RegisterAddr<Reg>;
    uint64_t offset_ = 0;
};

// Where a register lives in its block. Layouts hand these out: `Reg::get()` for a single
// register, `Reg::get(n)` for the n-th of an array.
template <typename Reg>
class RegisterAddr {
public:
    explicit constexpr RegisterAddr(uint64_t offset) : offset_(offset) {}
    constexpr uint64_t offset() const { return offset_; }

    Reg read_from(const RegisterBlock& block) const {
        Reg reg = from_value(0);
        reg.read_from(block);
        return reg;
    }
    constexpr Reg from_value(typename Reg::ValueType raw) const {
        Reg reg{};
        reg.raw = raw;
        reg.offset_ = offset_;
        return reg;
    }

private:
    uint64_t offset_;
};

// ---- system registers ---------------------------------------------------------------------

// The system registers domd reaches through an access object (those a host test must see).
enum class SysReg : uint8_t {
    mpidr_el1,
    icc_sre_el1,
    icc_pmr_el1,
    icc_bpr1_el1,
    icc_ctlr_el1,
    icc_igrpen1_el1,
    icc_iar1_el1,
    icc_eoir1_el1,
};

enum class Barrier : uint8_t { isb, dsb_sy };

// The CPU's system registers and the barriers that order their effects. The target's
// implementation is one MRS/MSR/ISB/DSB per call (CpuSysregs, arch/arm64/sysreg.h).
class SysregIo {
public:
    virtual uint64_t read(SysReg reg) = 0;
    virtual void write(SysReg reg, uint64_t value) = 0;
    virtual void barrier(Barrier barrier) = 0;

protected:
    ~SysregIo() = default;
};

// Base of a system register's value type (CRTP); the layout names its register as `Reg::id`.
template <typename Reg>
class SystemRegister {
public:
    uint64_t raw = 0;

    static constexpr Reg of(uint64_t raw) {
        Reg reg{};
        reg.raw = raw;
        return reg;
    }
    static Reg read_from(SysregIo& io) { return of(io.read(Reg::id)); }
    const Reg& write_to(SysregIo& io) const {
        io.write(Reg::id, raw);
        return static_cast<const Reg&>(*this);
    }
};

}  // namespace domd::arm64
