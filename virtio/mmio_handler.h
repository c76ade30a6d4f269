// A window of emulated registers as the IOREQ dispatcher (xen/) sees it: one guest access at a
// time, already decoded by Xen into offset, width and value. The guest vCPU that made the
// access is stalled until the answer, so a handler answers at once; the one exception is a
// write that may only complete later (a device reset waiting for in-flight requests), which
// answers `retry` and is offered again, unchanged, on a later pass of the loop until it says
// `done`. A handler must therefore treat a repeated identical write after `retry` as the same
// access, not a new one.
#pragma once

#include <cstdint>

namespace domd::virtio {

struct MmioAnswer {
    enum class Kind : uint8_t { done, retry };
    Kind kind = Kind::done;
    uint64_t value = 0;  // for reads: what the guest loads

    static constexpr MmioAnswer read_value(uint64_t v) { return {Kind::done, v}; }
    static constexpr MmioAnswer ok() { return {Kind::done, 0}; }
    static constexpr MmioAnswer later() { return {Kind::retry, 0}; }
};

class MmioHandler {
public:
    // `offset` is relative to the window's base; `size` is the access width in bytes (1, 2, 4
    // or 8, as the guest issued it). Odd widths and offsets are the guest's problem: answer
    // them (reads of 0, ignored writes), never trust them.
    virtual MmioAnswer read(uint64_t offset, uint8_t size) = 0;
    virtual MmioAnswer write(uint64_t offset, uint8_t size, uint64_t value) = 0;

protected:
    ~MmioHandler() = default;
};

}  // namespace domd::virtio
