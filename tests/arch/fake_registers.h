// Recording fakes for arch/arm64's register access objects: memory-mapped register blocks and
// the CPU's system registers, all writing one ordered trace, so a test states a driver's whole
// register sequence, in order, as the spec gives it:
//   "write GICD_CTLR: 0x12", "read GICD_CTLR: 0x80000012 (x2)", "msr ICC_PMR_EL1: 0xf0", "isb"
// Register names come from the test (the spec's offsets), not from the driver's layouts, so a
// wrong offset shows up as an unnamed access. Consecutive identical reads (a poll) are one line
// with a count. Reads return the last value written or set, unless scripted.
#pragma once

#include <cstdint>
#include <deque>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "arch/arm64/register_io.h"

namespace domd::test {

class AccessTrace {
public:
    // `what` identifies the register (for folding repeated reads) and `line` says it all.
    void read(const void* source, uint64_t what, uint64_t value, const std::string& line);
    void other(const std::string& line);

    // The trace, one access per line.
    std::string text() const;
    size_t size() const { return entries_.size(); }
    void clear() { entries_.clear(); }

private:
    struct Entry {
        std::string line;
        uint64_t times = 1;
        bool is_read = false;
        const void* source = nullptr;
        uint64_t what = 0;
        uint64_t value = 0;
    };
    std::vector<Entry> entries_;
};

// Joins expected lines the way AccessTrace::text() does.
std::string trace_lines(std::initializer_list<const char*> lines);

class FakeRegisterBlock final : public arm64::RegisterIo {
public:
    // `size` bytes of registers; an access outside is traced as such. With a `frame_stride`,
    // names apply within each frame and lines say which frame: "GICR[2] GICR_WAKER".
    FakeRegisterBlock(AccessTrace& trace, std::string label, uint64_t size, std::map<uint64_t, std::string> names,
                      uint64_t frame_stride = 0);

    void set(uint64_t offset, uint64_t value) { values_[offset] = value; }
    uint64_t value(uint64_t offset) const;
    // Successive reads of `offset` return these values; the last one repeats forever.
    void script(uint64_t offset, std::vector<uint64_t> reads);

    uint32_t read32(uint64_t offset) override { return static_cast<uint32_t>(read(offset, 32)); }
    void write32(uint64_t offset, uint32_t value) override { write(offset, value, 32); }
    uint64_t read64(uint64_t offset) override { return read(offset, 64); }
    void write64(uint64_t offset, uint64_t value) override { write(offset, value, 64); }

private:
    uint64_t read(uint64_t offset, unsigned width);
    void write(uint64_t offset, uint64_t value, unsigned width);
    std::string name(uint64_t offset) const;

    AccessTrace& trace_;
    std::string label_;
    uint64_t size_;
    std::map<uint64_t, std::string> names_;
    uint64_t frame_stride_;
    std::map<uint64_t, uint64_t> values_;
    std::map<uint64_t, std::deque<uint64_t>> scripts_;
};

class FakeSysregs final : public arm64::SysregIo {
public:
    explicit FakeSysregs(AccessTrace& trace) : trace_(trace) {}

    void set(arm64::SysReg reg, uint64_t value) { values_[reg] = value; }
    uint64_t value(arm64::SysReg reg) const;
    void script(arm64::SysReg reg, std::vector<uint64_t> reads);

    uint64_t read(arm64::SysReg reg) override;
    void write(arm64::SysReg reg, uint64_t value) override;
    void barrier(arm64::Barrier barrier) override;

    static const char* name(arm64::SysReg reg);

private:
    AccessTrace& trace_;
    std::map<arm64::SysReg, uint64_t> values_;
    std::map<arm64::SysReg, std::deque<uint64_t>> scripts_;
};

}  // namespace domd::test
