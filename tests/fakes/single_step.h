// Single-stepping a piece of code on the host (x86-64 trap flag), to see every state a peer
// could observe between two of its instructions, or to act as a peer at each such point.
#pragma once

#include <functional>

namespace domd::test {

// Runs `code` one instruction at a time. After every instruction, `observe(step)` runs (in the
// SIGTRAP handler, step counting from 0) and sees the memory that instruction left; it may
// change memory too, as another domain would. When it returns false, stepping stops and the
// rest of `code` runs at full speed. Returns how many steps were observed.
long single_step(const std::function<void()>& code, const std::function<bool(long step)>& observe);

}  // namespace domd::test
