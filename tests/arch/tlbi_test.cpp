// The TLBI address operand (Arm ARM C5.5, TLBI VAAE1IS): VA[55:12] in bits [43:0], nothing
// above. A TTBR1 address shifted right by 12 without the mask would set the RES0 bits [51:48]
// and a TTL hint of 0b1111 in [47:44], and a CPU with FEAT_TTL could then invalidate nothing.
#include "tests/test_support.h"

#include "arch/arm64/tlbi.h"

using namespace domd;
using namespace domd::arm64;

namespace {

// What the operand names, read back: VA[55:12] sign-extended from bit 55, as the CPU takes it.
uint64_t named_page(TlbiVaOperand op) {
    uint64_t va = op.va_55_12() << page_shift;
    if (va & (uint64_t{1} << 55)) va |= ~uint64_t{0} << 56;
    return va;
}

}  // namespace

TEST_GROUP(TlbiOperand) {};

TEST(TlbiOperand, ATtbr1AddressKeepsBits63To44Clear) {
    for (uint64_t va : {0xffff000000000000, 0xffff000000201000, 0xffffffffc0000000, 0xfffffffffffff000}) {
        TlbiVaOperand op = tlbi_all_asid_operand(VirtAddr{va});
        UNSIGNED_LONGLONGS_EQUAL(0, op.raw >> 44);
        UNSIGNED_LONGS_EQUAL(0, op.ttl());
        UNSIGNED_LONGS_EQUAL(0, op.asid());
    }
}

TEST(TlbiOperand, HoldsVa55To12InBits43To0) {
    UNSIGNED_LONGLONGS_EQUAL(0x00000ff000000201, tlbi_all_asid_operand(VirtAddr{0xffff000000201000}).raw);
    UNSIGNED_LONGLONGS_EQUAL(0x00000ffffffc0000, tlbi_all_asid_operand(VirtAddr{0xffffffffc0000000}).raw);
    UNSIGNED_LONGLONGS_EQUAL(0x0000000000040001, tlbi_all_asid_operand(VirtAddr{0x40001000}).raw);
    UNSIGNED_LONGLONGS_EQUAL(0, tlbi_all_asid_operand(VirtAddr{0}).raw);
}

TEST(TlbiOperand, ThePageOffsetIsDropped) {
    UNSIGNED_LONGLONGS_EQUAL(tlbi_all_asid_operand(VirtAddr{0xffff000000201000}).raw,
                             tlbi_all_asid_operand(VirtAddr{0xffff000000201fff}).raw);
}

// Every page of either half names itself, including the pages at the ends of each half and
// on each side of bit 48 and bit 55.
TEST(TlbiOperand, NamesThePageItWasMadeFrom) {
    const uint64_t pages[] = {
        0x0,
        0x1000,
        0x0000fffffffff000,  // top of the 48-bit TTBR0 half
        0x007f000000000000,  // VA[54:48] used, bit 55 clear
        0xffff000000000000,  // bottom of the TTBR1 half (the mapping window)
        0xffff000000001000,
        0xffff3ffffffff000,  // top of the 64 TiB window
        0xffffffffc0000000,  // the image
        0xfffffffffffff000,  // the last page
    };
    for (uint64_t va : pages) UNSIGNED_LONGLONGS_EQUAL(va, named_page(tlbi_all_asid_operand(VirtAddr{va})));
}
