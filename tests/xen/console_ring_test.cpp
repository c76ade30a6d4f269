// The PV console ring against a shared page the test owns, playing xenconsoled.
#include "tests/test_support.h"

#include <cstring>
#include <string>

#include "xen/abi.h"
#include "xen/console_ring.h"

using namespace domd;
using domd::xen::ConsoleRing;

namespace {

// What xenconsoled does: consume everything produced so far (at most a ringful: a producer
// index gone wild ends the drain instead of looping for 2^32 bytes).
std::string drain(xencons_interface& page) {
    std::string out;
    for (size_t n = 0; page.out_cons != page.out_prod && n < sizeof page.out; ++n)
        out += page.out[page.out_cons++ % sizeof page.out];
    return out;
}

}  // namespace

TEST_GROUP(ConsoleRing) {
    xencons_interface page;
    void setup() override { memset(&page, 0, sizeof page); }
};

TEST(ConsoleRing, WritesAndPublishesTheProducerIndex) {
    ConsoleRing ring(page);
    LONGS_EQUAL(5, (long)ring.write("hello").value());
    LONGS_EQUAL(5, (long)page.out_prod);
    STRCMP_EQUAL("hello", drain(page).c_str());
}

TEST(ConsoleRing, WrapsAroundWithFreeRunningIndices) {
    page.out_prod = page.out_cons = 0xfffffffe;  // indices about to overflow 32 bits
    ConsoleRing ring(page);
    LONGS_EQUAL(4, (long)ring.write("wrap").value());
    UNSIGNED_LONGS_EQUAL(2, page.out_prod);
    STRCMP_EQUAL("wrap", drain(page).c_str());
}

TEST(ConsoleRing, WritesOnlyWhatFits) {
    ConsoleRing ring(page);
    std::string big(3000, 'x');
    LONGS_EQUAL(2048, (long)ring.write(big).value());
    LONGS_EQUAL(0, (long)ring.write("more").value());
    page.out_cons += 10;
    LONGS_EQUAL(4, (long)ring.write("more").value());
}

TEST(ConsoleRing, RejectsAConsumerIndexThatClaimsTooMuch) {
    ConsoleRing ring(page);
    page.out_prod = 100;
    page.out_cons = 100 - 2049;  // the peer claims more outstanding bytes than the ring holds
    CHECK_EQUAL(Err::protocol, ring.write("x").error());
    page.out_cons = 101;  // a consumer ahead of the producer: same thing, modulo 2^32
    CHECK_EQUAL(Err::protocol, ring.write("x").error());
    UNSIGNED_LONGS_EQUAL(100, page.out_prod);  // nothing written
}

TEST(ConsoleRing, ReadsInputAndReturnsTheSpace) {
    ConsoleRing ring(page);
    memcpy(page.in, "ls\n", 3);
    page.in_prod = 3;
    char buf[8];
    LONGS_EQUAL(3, (long)ring.read(buf).value());
    LONGS_EQUAL(3, (long)page.in_cons);
    CHECK(memcmp(buf, "ls\n", 3) == 0);
    LONGS_EQUAL(0, (long)ring.read(buf).value());
}

TEST(ConsoleRing, RejectsAnInputProducerBeyondTheRing) {
    ConsoleRing ring(page);
    page.in_prod = 1025;
    char buf[8];
    CHECK_EQUAL(Err::protocol, ring.read(buf).error());
    LONGS_EQUAL(0, (long)page.in_cons);
}

// A full ring: the write takes exactly the free bytes and touches nothing else, not the byte
// the consumer has yet to read right after them.
TEST(ConsoleRing, AWriteIntoTheLastFreeBytesLeavesUnreadBytesAlone) {
    memset(page.out, 'a', sizeof page.out);
    page.out_cons = 0;
    page.out_prod = sizeof page.out - 8;  // 8 bytes free: slots 2040..2047; slot 0 is unread
    ConsoleRing ring(page);
    LONGS_EQUAL(8, (long)ring.write("0123456789").value());
    UNSIGNED_LONGS_EQUAL(sizeof page.out, page.out_prod);
    LONGS_EQUAL('7', page.out[sizeof page.out - 1]);
    LONGS_EQUAL('a', page.out[0]);
    LONGS_EQUAL(0, (long)ring.write("x").value());  // full: 0 free, not an error
    LONGS_EQUAL('a', page.out[0]);
}

TEST(ConsoleRing, AWriteTouchesNoByteBeyondWhatItPublishes) {
    memset(page.out, 'a', sizeof page.out);
    ConsoleRing ring(page);
    LONGS_EQUAL(3, (long)ring.write(std::string_view("abcdef", 3)).value());
    LONGS_EQUAL('a', page.out[3]);
}

// Exactly a ringful outstanding is legal for both directions; one more is a broken peer.
TEST(ConsoleRing, AFullRingIsLegalOneMoreIsNot) {
    ConsoleRing ring(page);
    page.out_prod = 5000;
    page.out_cons = 5000 - sizeof page.out;
    LONGS_EQUAL(0, (long)ring.space().value());
    page.out_cons = 5000 - sizeof page.out - 1;
    CHECK_EQUAL(Err::protocol, ring.space().error());

    memset(page.in, 'i', sizeof page.in);
    page.in_cons = 7;
    page.in_prod = 7 + sizeof page.in;
    std::vector<char> buf(sizeof page.in + 1);
    LONGS_EQUAL(sizeof page.in, (long)ring.read(buf).value());
    page.in_cons = 7;
    page.in_prod = 7 + sizeof page.in + 1;
    CHECK_EQUAL(Err::protocol, ring.read(buf).error());
}

TEST(ConsoleRing, AReadTakesNoMoreThanTheBufferHolds) {
    ConsoleRing ring(page);
    memcpy(page.in, "abcdef", 6);
    page.in_prod = 6;
    char buf[4] = {'-', '-', '-', '-'};
    LONGS_EQUAL(3, (long)ring.read(std::span(buf, 3)).value());
    LONGS_EQUAL('-', buf[3]);
    LONGS_EQUAL(3, (long)page.in_cons);
}
