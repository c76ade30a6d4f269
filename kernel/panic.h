// For broken invariants of domd's own code only, never for input from a peer (that gets an
// error value). On target it prints and shuts the domain down with reason `crash`; host tests
// link a version that aborts the test binary.
#pragma once

namespace domd {

[[noreturn]] void panic(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace domd

#define DOMD_ASSERT(condition)                                                           \
    do {                                                                                 \
        if (!(condition)) ::domd::panic("assertion failed: %s (%s:%d)", #condition, __FILE__, __LINE__); \
    } while (0)
