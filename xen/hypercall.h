// The one door to the hypervisor. On target, arch/arm64 issues `hvc #0xEA1` (number in x16,
// arguments in x0-x4, result in x0); on the host, a fake Xen implements it and inspects the
// structures the typed layers pass by pointer. Pointer arguments are our own virtual
// addresses: Xen on Arm translates guest handles through our stage-1 tables.
#pragma once

#include <cstdint>

#include "kernel/result.h"

namespace domd::xen {

class Hypercall {
public:
    virtual long call(unsigned op, uint64_t a0 = 0, uint64_t a1 = 0, uint64_t a2 = 0,
                      uint64_t a3 = 0, uint64_t a4 = 0) = 0;

protected:
    ~Hypercall() = default;
};

template <typename T>
inline uint64_t handle(T* ptr) { return reinterpret_cast<uintptr_t>(ptr); }

// A negative Xen errno as an Err; Err's numbering is Xen's (checked in hypercall.cpp).
inline Err err_from_xen(long rc) { return static_cast<Err>(rc < 0 ? -rc : rc); }

// For calls whose success is rc == 0 (or any non-negative value).
inline Status status_from(long rc) {
    if (rc < 0) return err_from_xen(rc);
    return ok_status();
}

}  // namespace domd::xen
