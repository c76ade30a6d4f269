// Exceptions: IRQs from kernel code go to the installed handler; anything else is a crash,
// an SError (unmasked by head.S once the vectors are in) included. A crash prints a report
// (decoded ESR, FAR when it is valid, ELR, registers, frame-pointer backtrace) to every log
// sink and shuts the domain down with reason `crash`, so xl's on_crash applies.

#include <cstdio>

#include "arch/arm64/exception_decode.h"
#include "arch/arm64/exception_frame.h"
#include "arch/arm64/shutdown.h"
#include "arch/arm64/layout.h"
#include "arch/arm64/sysreg.h"
#include "kernel/log.h"
#include "xen/hypervisor.h"

namespace domd::arm64 {
namespace {

IrqHandler irq_handler = nullptr;
bool crashing = false;

bool on_a_stack(uint64_t address) {
    auto inside = [address](const char* bottom, const char* top) {
        return address >= reinterpret_cast<uintptr_t>(bottom) &&
               address + 16 <= reinterpret_cast<uintptr_t>(top);
    };
    return inside(__main_stack_bottom, __main_stack_top) ||
           inside(__exception_stack_bottom, __exception_stack_top);
}

void print_backtrace(uint64_t pc, uint64_t fp) {
    logging::raw("backtrace (link addresses; aarch64-linux-gnu-addr2line -e domd.elf):\n");
    logging::rawf("  #0  0x%016llx\n", static_cast<unsigned long long>(pc));
    for (int depth = 1; depth < 32 && fp && (fp & 15) == 0 && on_a_stack(fp); ++depth) {
        auto* record = reinterpret_cast<const uint64_t*>(fp);
        uint64_t lr = record[1];
        if (!lr) break;
        logging::rawf("  #%-2d 0x%016llx\n", depth, static_cast<unsigned long long>(lr));
        if (record[0] <= fp) break;  // frames grow upwards as we unwind; anything else is corrupt
        fp = record[0];
    }
}

[[noreturn]] void crash(const ExceptionFrame& f, unsigned kind) {
    if (crashing) shutdown_domain(xen::ShutdownReason::crash);  // a fault while reporting
    crashing = true;
    Esr esr{f.esr};
    logging::rawf("\n*** domd crash: %s exception: %s (EC 0x%02x, ISS 0x%07x)\n", vector_name(kind),
                  exception_class_name(esr.ec()), esr.ec(), esr.iss());
    char syndrome[160];
    if (describe_syndrome(f.esr, f.far, syndrome, sizeof syndrome)) logging::rawf("    %s\n", syndrome);
    char far[24] = "-";
    if (far_is_valid(f.esr)) snprintf(far, sizeof far, "0x%016llx", static_cast<unsigned long long>(f.far));
    logging::rawf("    ELR 0x%016llx  SPSR 0x%08llx  FAR %s  SP 0x%016llx\n",
                  static_cast<unsigned long long>(f.elr), static_cast<unsigned long long>(f.spsr), far,
                  static_cast<unsigned long long>(f.sp));
    for (int i = 0; i < 31; i += 3) {
        char line[160];
        int used = 0;
        for (int j = i; j < i + 3 && j < 31; ++j)
            used += snprintf(line + used, sizeof line - used, "    x%-2d 0x%016llx", j,
                             static_cast<unsigned long long>(f.x[j]));
        logging::rawf("%s\n", line);
    }
    print_backtrace(f.elr, f.x[29]);
    logging::raw("*** shutting down with reason crash\n");
    shutdown_domain(xen::ShutdownReason::crash);
}

}  // namespace

void set_irq_handler(IrqHandler handler) { irq_handler = handler; }

extern "C" void arm64_exception(ExceptionFrame* frame, unsigned kind) {
    if (kind == static_cast<unsigned>(VectorKind::irq_sp0) && irq_handler) {
        irq_handler();
        return;
    }
    crash(*frame, kind);
}

}  // namespace domd::arm64
