// The crash report's decoding (arch/arm64/exception_decode.cpp): aborts, SErrors (whose ISS has
// its own layout, and whose FAR means nothing), vector names and the DAIF masks line the boot
// log prints (Arm ARM D19.2.37 ESR_EL1; C5.2 DAIF).
#include "tests/test_support.h"

#include "arch/arm64/exception_decode.h"

using namespace domd::arm64;

namespace {

constexpr uint64_t esr(unsigned ec, uint32_t iss) { return uint64_t{ec} << 26 | 1u << 25 | iss; }

std::string syndrome(uint64_t esr_value, uint64_t far = 0) {
    char text[200];
    if (!describe_syndrome(esr_value, far, text, sizeof text)) return "(none)";
    return text;
}

std::string masks(uint64_t daif) {
    char text[120];
    describe_exception_masks(daif, text, sizeof text);
    return text;
}

}  // namespace

TEST_GROUP(ExceptionDecode) {};

// What test hook "fault" provokes, and core.sh looks for: DFSC 0b000111, WnR.
TEST(ExceptionDecode, DataAbortSaysFaultAccessAndAddress) {
    STRCMP_EQUAL("translation fault, level 3 on write of 0x00000000dead0000",
                 syndrome(esr(0x25, 0x40 | 0x07), 0xdead0000).c_str());
    STRCMP_EQUAL("permission fault, level 2 on read of 0xffffffffc0001000",
                 syndrome(esr(0x25, 0x0e), 0xffffffffc0001000).c_str());
    STRCMP_EQUAL("access flag fault, level 1 on fetch of 0x0000000000001000",
                 syndrome(esr(0x21, 0x09), 0x1000).c_str());
    CHECK(far_is_valid(esr(0x25, 0x07)));
}

// FnV (ISS bit 10): FAR does not hold the address.
TEST(ExceptionDecode, AbortWithFarNotValidSaysSo) {
    STRCMP_EQUAL("synchronous external abort on read (FAR not valid)",
                 syndrome(esr(0x25, 0x400 | 0x10), 0x1234).c_str());
    CHECK(!far_is_valid(esr(0x25, 0x400 | 0x10)));
}

// ISS for an SError: DFSC 0b010001 (asynchronous), AET in [12:10], IESB in bit 13, IDS in bit
// 24. None of it is a fault address, and FAR is not set.
TEST(ExceptionDecode, SErrorDecodesItsOwnSyndrome) {
    STRCMP_EQUAL("asynchronous SError interrupt, uncontainable (UC); asynchronous: ELR is where it was taken, FAR "
                 "is not set",
                 syndrome(esr(0x2f, 0x11), 0xdead0000).c_str());
    STRCMP_EQUAL("asynchronous SError interrupt, recoverable state (UER), external abort, synchronized by an error "
                 "barrier; asynchronous: ELR is where it was taken, FAR is not set",
                 syndrome(esr(0x2f, 0x2000 | 3u << 10 | 0x200 | 0x11)).c_str());
    STRCMP_EQUAL("asynchronous SError interrupt, corrected (CE); asynchronous: ELR is where it was taken, FAR is not "
                 "set",
                 syndrome(esr(0x2f, 6u << 10 | 0x11)).c_str());
    STRCMP_EQUAL("uncategorized SError; asynchronous: ELR is where it was taken, FAR is not set",
                 syndrome(esr(0x2f, 0)).c_str());
    CHECK(!far_is_valid(esr(0x2f, 0x11)));
}

// IDS: the other 24 bits are the implementation's own, not the architected fields.
TEST(ExceptionDecode, SErrorWithAnImplementationDefinedSyndrome) {
    STRCMP_EQUAL("SError with an implementation-defined syndrome 0x123456; asynchronous: ELR is where it was "
                 "taken, FAR is not set",
                 syndrome(esr(0x2f, 1u << 24 | 0x123456)).c_str());
}

TEST(ExceptionDecode, OtherClassesHaveNoSyndromeLineAndNoFar) {
    STRCMP_EQUAL("(none)", syndrome(esr(0x16, 0)).c_str());  // HVC
    STRCMP_EQUAL("(none)", syndrome(esr(0x3c, 0)).c_str());  // BRK
    CHECK(!far_is_valid(esr(0x15, 0)));
    CHECK(!far_is_valid(esr(0x00, 0)));
    CHECK(far_is_valid(esr(0x22, 0)));  // PC alignment: FAR is the PC
    CHECK(far_is_valid(esr(0x35, 0)));  // watchpoint
}

TEST(ExceptionDecode, NamesVectorsAndClasses) {
    STRCMP_EQUAL("SError", vector_name(3));
    STRCMP_EQUAL("SError in handler", vector_name(7));
    STRCMP_EQUAL("SError from AArch32", vector_name(15));
    STRCMP_EQUAL("?", vector_name(16));
    STRCMP_EQUAL("SError", exception_class_name(0x2f));
    STRCMP_EQUAL("data abort", exception_class_name(0x25));
}

// DAIF: D bit 9, A bit 8, I bit 7, F bit 6. After boot: everything masked but SError.
TEST(ExceptionDecode, ExceptionMasksNameEachBit) {
    STRCMP_EQUAL("exception masks (DAIF 0x2c0): debug masked, SError unmasked, IRQ masked, FIQ masked",
                 masks(0x2c0).c_str());
    STRCMP_EQUAL("exception masks (DAIF 0x3c0): debug masked, SError masked, IRQ masked, FIQ masked",
                 masks(0x3c0).c_str());
    STRCMP_EQUAL("exception masks (DAIF 0): debug unmasked, SError unmasked, IRQ unmasked, FIQ unmasked",
                 masks(0).c_str());
    STRCMP_EQUAL("exception masks (DAIF 0x100): debug unmasked, SError masked, IRQ unmasked, FIQ unmasked",
                 masks(0x100).c_str());
}
