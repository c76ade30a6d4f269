// For the invariant checks of domd's own code (a trap, a panic): runs a piece of code in a child
// process and says whether it died of a signal, so a test can see the check fire without
// taking the suite down with it.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

namespace domd::test {

template <typename F>
bool dies(F&& code) {
    pid_t child = fork();
    if (child == 0) {
        code();
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    return WIFSIGNALED(status);
}

}  // namespace domd::test
