// The monotonic nanosecond clock (the generic timer on target, a variable in host tests).
#pragma once

#include <cstdint>

namespace domd {

class Clock {
public:
    virtual uint64_t now_ns() const = 0;

protected:
    ~Clock() = default;
};

}  // namespace domd
