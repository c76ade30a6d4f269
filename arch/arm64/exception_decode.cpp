#include "arch/arm64/exception_decode.h"

#include <cstdio>

#include "arch/arm64/sysreg_layout.h"

namespace domd::arm64 {
namespace {

bool is_abort(unsigned ec) {
    return ec == exception_class::instruction_abort_lower || ec == exception_class::instruction_abort ||
           ec == exception_class::data_abort_lower || ec == exception_class::data_abort;
}

// DFSC/IFSC of an abort (D19.2.37, "ISS encoding for an exception from a Data Abort").
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

// SError ISS.AET (D19.2.37, "ISS encoding for an SError interrupt"; the RAS error types).
const char* serror_type_name(unsigned aet) {
    switch (aet) {
        case 0b000: return "uncontainable (UC)";
        case 0b001: return "unrecoverable state (UEU)";
        case 0b010: return "restartable state (UEO)";
        case 0b011: return "recoverable state (UER)";
        case 0b110: return "corrected (CE)";
        default: return "reserved error type";
    }
}

void describe_serror(SErrorIss iss, char* out, size_t size) {
    // Asynchronous: ELR is where the error was taken, not the access that caused it, and FAR is
    // not set.
    constexpr const char* where = "asynchronous: ELR is where it was taken, FAR is not set";
    if (iss.ids()) {
        snprintf(out, size, "SError with an implementation-defined syndrome 0x%06x; %s", iss.raw & 0xffffff, where);
        return;
    }
    const char* barrier = iss.iesb() ? ", synchronized by an error barrier" : "";
    if (iss.dfsc() == serror_dfsc::asynchronous)
        snprintf(out, size, "asynchronous SError interrupt, %s%s%s; %s", serror_type_name(iss.aet()),
                 iss.ea() ? ", external abort" : "", barrier, where);
    else if (iss.dfsc() == serror_dfsc::uncategorized)
        snprintf(out, size, "uncategorized SError%s; %s", barrier, where);
    else
        snprintf(out, size, "SError with reserved fault status 0x%02x%s; %s", iss.dfsc(), barrier, where);
}

}  // namespace

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
        case 0x34: return "watchpoint from EL0";
        case 0x35: return "watchpoint";
        case 0x3c: return "BRK instruction";
        default: return "other";
    }
}

bool far_is_valid(uint64_t esr_value) {
    Esr esr{esr_value};
    if (is_abort(esr.ec())) return !AbortIss{esr.iss()}.fnv();
    return esr.ec() == 0x22 || esr.ec() == 0x34 || esr.ec() == 0x35;
}

bool describe_syndrome(uint64_t esr_value, uint64_t far, char* out, size_t size) {
    Esr esr{esr_value};
    if (is_abort(esr.ec())) {
        AbortIss iss{esr.iss()};
        char what[48];
        describe_fault_status(iss.fsc(), what, sizeof what);
        bool data = esr.ec() == exception_class::data_abort || esr.ec() == exception_class::data_abort_lower;
        const char* access = data ? (iss.wnr() ? "write" : "read") : "fetch";
        if (iss.fnv())
            snprintf(out, size, "%s on %s (FAR not valid)", what, access);
        else
            snprintf(out, size, "%s on %s of 0x%016llx", what, access, static_cast<unsigned long long>(far));
        return true;
    }
    if (esr.ec() == exception_class::serror) {
        describe_serror(SErrorIss{esr.iss()}, out, size);
        return true;
    }
    return false;
}

void describe_exception_masks(uint64_t daif_value, char* out, size_t size) {
    Daif daif{daif_value};
    auto state = [](bool masked) { return masked ? "masked" : "unmasked"; };
    snprintf(out, size, "exception masks (DAIF %#llx): debug %s, SError %s, IRQ %s, FIQ %s",
             static_cast<unsigned long long>(daif_value), state(daif.d()), state(daif.a()), state(daif.i()),
             state(daif.f()));
}

}  // namespace domd::arm64
