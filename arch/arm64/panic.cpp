// The target's panic and the libc hooks that would otherwise pull in process-model code
// (abort -> raise -> kill, stack-protector failure -> _exit).

#include <cstdarg>
#include <cstdio>

#include "arch/arm64/hypercall.h"
#include "arch/arm64/shutdown.h"
#include "kernel/log.h"
#include "kernel/panic.h"
#include "xen/hypervisor.h"

namespace domd {

void arm64::shutdown_domain(xen::ShutdownReason reason) {
    arm64::HvcHypercall hc;
    (void)xen::Hypervisor(hc).shutdown(reason);
    // Xen does not return from a shutdown of the calling domain; should it, stay put.
    for (;;) asm volatile("wfi");
}

void panic(const char* format, ...) {
    char message[192];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    logging::rawf("\n*** domd panic: %s\n*** shutting down with reason crash\n", message);
    arm64::shutdown_domain(xen::ShutdownReason::crash);
}

}  // namespace domd

extern "C" [[noreturn]] void abort() { domd::panic("abort() called"); }
extern "C" [[noreturn]] void __stack_chk_fail() { domd::panic("stack smashing detected"); }

// libstdc++ is not linked (-nostdlib++): the few header-only pieces domd uses report
// precondition failures through these, which become panics.
namespace std {
[[noreturn]] void __throw_out_of_range_fmt(const char* format, ...) { domd::panic("std: %s", format); }
}  // namespace std
