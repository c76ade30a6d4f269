// For the invariant checks of domd's own code (a trap, a panic): runs a piece of code in a child
// process and says whether it died of a signal, so a test can see the check fire without
// taking the suite down with it.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace domd::test {

template <typename F>
bool dies(F&& code) {
    pid_t child = fork();
    if (child == 0) {
        int null = open("/dev/null", O_WRONLY);  // the panic message is expected: keep the log clean
        if (null >= 0) dup2(null, STDERR_FILENO);
        code();
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    return WIFSIGNALED(status);
}

}  // namespace domd::test
