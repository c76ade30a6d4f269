// The guest's interrupt controller: Xen emulates a GICv2 or a GICv3 (whatever the host has);
// the device tree says which. domd only needs private interrupts: the event-channel upcall and
// the virtual timer (both PPIs), routed to its one vCPU. The drivers reach their registers
// through access objects (arch/arm64/register_io.h), so host tests run them against fakes.
#pragma once

#include <cstdint>

#include "arch/arm64/gic_registers.h"
#include "kernel/result.h"

namespace domd::arm64 {

// The priority domd gives every interrupt it enables, and the CPU interface's mask, which lets
// it through (lower values are more urgent).
constexpr uint8_t interrupt_priority = 0xa0;
constexpr uint8_t priority_mask = 0xf0;

// What acknowledging returned: the INTID, and the whole acknowledge-register value, which is
// what the end-of-interrupt write must carry (GICv2's IAR holds the source CPU of an SGI too).
struct InterruptAck {
    uint32_t iar = spurious_intid;
    uint32_t intid = spurious_intid;
    // No interrupt to handle (and none to end): a special INTID, 1023 when nothing is pending.
    bool spurious() const { return is_special_intid(intid); }
};

// Gives a private interrupt domd's priority, then enables it, in a block with the distributor's
// per-interrupt arrays (GICv2's GICD, GICv3's SGI_base frame). The priority is a byte in a
// word, read-modify-written as a word: the access width Xen's emulation decodes everywhere.
inline void prioritize_and_enable(const RegisterBlock& block, uint32_t intid) {
    Ipriorityr::for_intid(intid).read_from(block).set_priority(intid, interrupt_priority).write_to(block);
    Isenabler::for_intid(intid).from_value(0).set_enable(intid).write_to(block);
}

class Gic {
public:
    virtual Status init() = 0;
    // Group 1, domd's priority, enabled. Only PPIs (16..31): Err::invalid for anything else,
    // which the caller reports (the INTID comes from the device tree).
    virtual Status enable_ppi(uint32_t intid) = 0;
    virtual InterruptAck acknowledge() = 0;
    // For a non-spurious acknowledgement only.
    virtual void end_of_interrupt(InterruptAck ack) = 0;
    virtual const char* name() const = 0;

protected:
    ~Gic() = default;
};

}  // namespace domd::arm64
