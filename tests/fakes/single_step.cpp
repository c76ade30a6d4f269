#include "tests/test_support.h"

#include "tests/fakes/single_step.h"

#include <signal.h>
#include <ucontext.h>

namespace domd::test {

namespace {

constexpr long trap_flag = 0x100;  // EFLAGS.TF
const std::function<bool(long)>* observer = nullptr;
long steps = 0;
bool stepping = false;

void on_trap(int, siginfo_t*, void* context) {
    if (!stepping) return;
    if (!(*observer)(steps++)) {
        stepping = false;
        static_cast<ucontext_t*>(context)->uc_mcontext.gregs[REG_EFL] &= ~trap_flag;
    }
}

}  // namespace

long single_step(const std::function<void()>& code, const std::function<bool(long)>& observe) {
    observer = &observe;
    steps = 0;
    stepping = true;
    struct sigaction action {};
    struct sigaction old {};
    action.sa_sigaction = on_trap;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTRAP, &action, &old);
    asm volatile("pushfq; orq $0x100, (%%rsp); popfq" ::: "memory", "cc");
    code();
    asm volatile("pushfq; andq $~0x100, (%%rsp); popfq" ::: "memory", "cc");
    stepping = false;
    sigaction(SIGTRAP, &old, nullptr);
    observer = nullptr;
    return steps;
}

}  // namespace domd::test
