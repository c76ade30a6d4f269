// The PV console ring against a shared page the test owns, playing xenconsoled.
#include "tests/test_support.h"

#include <cstring>
#include <string>

#include "xen/abi.h"
#include "xen/console_ring.h"

using namespace domd;
using domd::xen::ConsoleRing;

namespace {

// What xenconsoled does: consume everything produced so far.
std::string drain(xencons_interface& page) {
    std::string out;
    while (page.out_cons != page.out_prod) out += page.out[page.out_cons++ % sizeof page.out];
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
