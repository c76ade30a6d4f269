// The guest's interrupt controller: Xen emulates a GICv2 or a GICv3 (whatever the host has);
// the device tree says which. domd only needs private interrupts: the event-channel upcall and
// the virtual timer (both PPIs), routed to its one vCPU.
#pragma once

#include <cstdint>

#include "kernel/result.h"

namespace domd::arm64 {

constexpr uint32_t spurious_intid = 1023;

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
