// Exceptions: IRQs from kernel code go to the installed handler; anything else is a crash.
// A crash prints a report (decoded ESR, FAR, ELR, registers, frame-pointer backtrace) to every
// log sink and shuts the domain down with reason `crash`, so xl's on_crash applies.

#include <cstdio>

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

const char* vector_name(unsigned kind) {
    static constexpr const char* names[] = {
        "synchronous", "IRQ", "FIQ", "SError",
        "synchronous in handler", "IRQ in handler", "FIQ in handler", "SError in handler",
        "synchronous from EL0", "IRQ from EL0", "FIQ from EL0", "SError from EL0",
        "synchronous from AArch32", "IRQ from AArch32", "FIQ from AArch32", "SError from AArch32",
    };
    return kind < 16 ? names[kind] : "?";
}

// ESR_EL1.EC (Arm ARM D19.2.37, table "ESR_ELx.EC").
const char* exception_class_name(unsigned ec) {
    switch (ec) {
        case 0x00: return "unknown reason (undefined instruction?)";
        case 0x01: return "trapped WFI/WFE";
        case 0x07: return "SIMD/FP access trap";
        case 0x0e: return "illegal execution state";
        case 0x15: return "SVC";
        case 0x16: return "HVC";
        case 0x17: return "SMC";
        case 0x18: return "trapped MSR/MRS/system instruction";
        case 0x20: return "instruction abort from EL0";
        case 0x21: return "instruction abort";
        case 0x22: return "PC alignment fault";
        case 0x24: return "data abort from EL0";
        case 0x25: return "data abort";
        case 0x26: return "SP alignment fault";
        case 0x2c: return "floating-point exception";
        case 0x2f: return "SError";
        case 0x3c: return "BRK instruction";
        default: return "other";
    }
}

// DFSC/IFSC, ISS[5:0] of an abort (D19.2.37, "ISS encoding for an exception from a Data Abort").
void describe_fault_status(unsigned fsc, char* out, size_t size) {
    unsigned level = fsc & 3;
    switch (fsc >> 2) {
        case 0: snprintf(out, size, "address size fault, level %u", level); return;
        case 1: snprintf(out, size, "translation fault, level %u", level); return;
        case 2: snprintf(out, size, "access flag fault, level %u", level); return;
        case 3: snprintf(out, size, "permission fault, level %u", level); return;
        default: break;
    }
    switch (fsc) {
        case 0x10: snprintf(out, size, "synchronous external abort"); return;
        case 0x21: snprintf(out, size, "alignment fault"); return;
        case 0x30: snprintf(out, size, "TLB conflict abort"); return;
        default: snprintf(out, size, "fault status 0x%02x", fsc); return;
    }
}

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
    if (esr.ec() == 0x20 || esr.ec() == 0x21 || esr.ec() == 0x24 || esr.ec() == 0x25) {
        char what[48];
        describe_fault_status(esr.iss() & 0x3f, what, sizeof what);
        bool data = esr.ec() >= 0x24;
        bool write = data && (esr.iss() >> 6) & 1;
        logging::rawf("    %s on %s of 0x%016llx\n", what, data ? (write ? "write" : "read") : "fetch",
                      static_cast<unsigned long long>(f.far));
    }
    logging::rawf("    ELR 0x%016llx  SPSR 0x%08llx  FAR 0x%016llx  SP 0x%016llx\n",
                  static_cast<unsigned long long>(f.elr), static_cast<unsigned long long>(f.spsr),
                  static_cast<unsigned long long>(f.far), static_cast<unsigned long long>(f.sp));
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
