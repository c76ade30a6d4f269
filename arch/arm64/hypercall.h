// The target side of the hypercall door.
#pragma once

#include <cstdint>

#include "xen/hypercall.h"

extern "C" long arm64_hypercall(unsigned long op, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
                                uint64_t a4);

namespace domd::arm64 {

class HvcHypercall final : public xen::Hypercall {
public:
    long call(unsigned op, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4) override {
        return arm64_hypercall(op, a0, a1, a2, a3, a4);
    }
};

}  // namespace domd::arm64
