// The guest's interrupt controller: Xen emulates a GICv2 or a GICv3 (whatever the host has);
// the device tree says which. domd only needs private interrupts: the event-channel upcall and
// the virtual timer (both PPIs), routed to its one vCPU.
#pragma once

#include <cstdint>

#include "arch/arm64/mmio.h"
#include "kernel/result.h"

namespace domd::arm64 {

constexpr uint32_t spurious_intid = 1023;
// The priority domd gives every interrupt it enables; the CPU interface's mask lets it through.
constexpr uint32_t interrupt_priority = 0xa0;

// Sets one interrupt's byte in an IPRIORITYR array (GICD_ or GICR_, same layout in v2 and v3).
// Read-modify-write of the whole word: Xen's emulation decodes word accesses everywhere.
inline void set_priority(const Mmio& block, uint32_t ipriorityr, uint32_t intid, uint32_t priority) {
    uint32_t reg = ipriorityr + (intid & ~3u);
    uint32_t shift = (intid & 3) * 8;
    uint32_t value = block.read32(reg);
    block.write32(reg, (value & ~(0xffu << shift)) | (priority << shift));
}

class Gic {
public:
    virtual Status init() = 0;
    virtual void enable_ppi(uint32_t intid) = 0;
    // Returns the acknowledged INTID, or spurious_intid.
    virtual uint32_t acknowledge() = 0;
    virtual void end_of_interrupt(uint32_t intid) = 0;
    virtual const char* name() const = 0;

protected:
    ~Gic() = default;
};

}  // namespace domd::arm64
