#include "tests/test_support.h"

#include "tests/arch/fake_registers.h"

#include <cstdio>

namespace domd::test {
namespace {

std::string hex(uint64_t value) {
    char text[24];
    snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
    return text;
}

// The next scripted value, keeping the last one for ever after.
uint64_t next_scripted(std::deque<uint64_t>& script) {
    uint64_t value = script.front();
    if (script.size() > 1) script.pop_front();
    return value;
}

}  // namespace

void AccessTrace::read(const void* source, uint64_t what, uint64_t value, const std::string& line) {
    if (!entries_.empty()) {
        Entry& last = entries_.back();
        if (last.is_read && last.source == source && last.what == what && last.value == value) {
            ++last.times;
            return;
        }
    }
    entries_.push_back(Entry{line, 1, true, source, what, value});
}

void AccessTrace::other(const std::string& line) { entries_.push_back(Entry{line}); }

std::string AccessTrace::text() const {
    std::string text;
    for (const Entry& entry : entries_) {
        text += entry.line;
        if (entry.times > 1) text += " (x" + std::to_string(entry.times) + ")";
        text += "\n";
    }
    return text;
}

std::string trace_lines(std::initializer_list<const char*> lines) {
    std::string text;
    for (const char* line : lines) text += std::string(line) + "\n";
    return text;
}

FakeRegisterBlock::FakeRegisterBlock(AccessTrace& trace, std::string label, uint64_t size,
                                     std::map<uint64_t, std::string> names, uint64_t frame_stride)
    : trace_(trace), label_(std::move(label)), size_(size), names_(std::move(names)), frame_stride_(frame_stride) {}

uint64_t FakeRegisterBlock::value(uint64_t offset) const {
    auto it = values_.find(offset);
    return it == values_.end() ? 0 : it->second;
}

void FakeRegisterBlock::script(uint64_t offset, std::vector<uint64_t> reads) {
    scripts_[offset] = std::deque<uint64_t>(reads.begin(), reads.end());
}

std::string FakeRegisterBlock::name(uint64_t offset) const {
    std::string prefix;
    uint64_t within = offset;
    if (frame_stride_) {
        prefix = label_ + "[" + std::to_string(offset / frame_stride_) + "] ";
        within = offset % frame_stride_;
    }
    if (offset >= size_) return label_ + "+" + hex(offset) + " OUTSIDE THE BLOCK";
    auto it = names_.find(within);
    return prefix + (it == names_.end() ? label_ + "+" + hex(within) : it->second);
}

uint64_t FakeRegisterBlock::read(uint64_t offset, unsigned width) {
    auto scripted = scripts_.find(offset);
    uint64_t value = scripted != scripts_.end() ? next_scripted(scripted->second) : this->value(offset);
    if (width == 32) value &= 0xffffffff;
    std::string line = (width == 32 ? "read " : "read64 ") + name(offset) + ": " + hex(value);
    trace_.read(this, offset << 8 | width, value, line);
    return value;
}

void FakeRegisterBlock::write(uint64_t offset, uint64_t value, unsigned width) {
    values_[offset] = value;
    trace_.other((width == 32 ? "write " : "write64 ") + name(offset) + ": " + hex(value));
}

uint64_t FakeSysregs::value(arm64::SysReg reg) const {
    auto it = values_.find(reg);
    return it == values_.end() ? 0 : it->second;
}

void FakeSysregs::script(arm64::SysReg reg, std::vector<uint64_t> reads) {
    scripts_[reg] = std::deque<uint64_t>(reads.begin(), reads.end());
}

uint64_t FakeSysregs::read(arm64::SysReg reg) {
    auto scripted = scripts_.find(reg);
    uint64_t value = scripted != scripts_.end() ? next_scripted(scripted->second) : this->value(reg);
    trace_.read(this, static_cast<uint64_t>(reg), value, std::string("mrs ") + name(reg) + ": " + hex(value));
    return value;
}

void FakeSysregs::write(arm64::SysReg reg, uint64_t value) {
    values_[reg] = value;
    trace_.other(std::string("msr ") + name(reg) + ": " + hex(value));
}

void FakeSysregs::barrier(arm64::Barrier barrier) {
    trace_.other(barrier == arm64::Barrier::isb ? "isb" : "dsb sy");
}

const char* FakeSysregs::name(arm64::SysReg reg) {
    switch (reg) {
        case arm64::SysReg::mpidr_el1: return "MPIDR_EL1";
        case arm64::SysReg::icc_sre_el1: return "ICC_SRE_EL1";
        case arm64::SysReg::icc_pmr_el1: return "ICC_PMR_EL1";
        case arm64::SysReg::icc_bpr1_el1: return "ICC_BPR1_EL1";
        case arm64::SysReg::icc_ctlr_el1: return "ICC_CTLR_EL1";
        case arm64::SysReg::icc_igrpen1_el1: return "ICC_IGRPEN1_EL1";
        case arm64::SysReg::icc_iar1_el1: return "ICC_IAR1_EL1";
        case arm64::SysReg::icc_eoir1_el1: return "ICC_EOIR1_EL1";
    }
    return "?";
}

}  // namespace domd::test
