// The console log sink's flow control: notify after each chunk, yield while the ring is full,
// give up after a bounded number of yields, and stop for good on a corrupt peer index.
#include "tests/test_support.h"

#include <cstring>
#include <string>

#include "tests/fakes/fake_hypercall.h"
#include "xen/abi.h"
#include "xen/pv_console.h"

using namespace domd;
using domd::test::CountingNotifier;
using domd::test::FakeHypercall;
using domd::test::HypercallRecord;

TEST_GROUP(PvConsole) {
    xencons_interface page;
    FakeHypercall fake;
    xen::Hypervisor hv{fake};
    CountingNotifier peer;
    void setup() override { memset(&page, 0, sizeof page); }
};

TEST(PvConsole, NotifiesThePeerAfterWriting) {
    xen::ConsoleRing ring(page);
    xen::PvConsole console(ring, peer, hv);
    console.write("line\n");
    LONGS_EQUAL(1, peer.count);
    LONGS_EQUAL(5, (long)page.out_prod);
    LONGS_EQUAL(0, (long)fake.calls.size());
}

TEST(PvConsole, YieldsWhileFullUntilTheConsumerDrains) {
    xen::ConsoleRing ring(page);
    xen::PvConsole console(ring, peer, hv);
    // The "other domain" drains 1000 bytes each time we yield to it.
    fake.on(__HYPERVISOR_sched_op, [&](const HypercallRecord&) -> long {
        uint32_t pending = page.out_prod - page.out_cons;
        page.out_cons += pending < 1000 ? pending : 1000;
        return 0;
    });
    std::string text(5000, 'z');
    console.write(text);
    UNSIGNED_LONGS_EQUAL(5000, page.out_prod);
    CHECK(fake.count(__HYPERVISOR_sched_op, SCHEDOP_yield) >= 3);
    UNSIGNED_LONGLONGS_EQUAL(0, console.dropped_bytes());
}

TEST(PvConsole, DropsAfterBoundedYieldsWhenNobodyDrains) {
    xen::ConsoleRing ring(page);
    xen::PvConsole console(ring, peer, hv);
    fake.on(__HYPERVISOR_sched_op, [](const HypercallRecord&) -> long { return 0; });
    std::string text(3000, 'z');
    console.write(text);
    UNSIGNED_LONGLONGS_EQUAL(3000 - 2048, console.dropped_bytes());
    LONGS_EQUAL(xen::PvConsole::max_yields_per_write, (long)fake.count(__HYPERVISOR_sched_op, SCHEDOP_yield));
}

TEST(PvConsole, StopsTouchingARingWithACorruptIndex) {
    xen::ConsoleRing ring(page);
    xen::PvConsole console(ring, peer, hv);
    page.out_cons = 5000;
    console.write("abc");
    CHECK(console.broken());
    console.write("def");
    UNSIGNED_LONGLONGS_EQUAL(6, console.dropped_bytes());
    UNSIGNED_LONGS_EQUAL(0, page.out_prod);
    LONGS_EQUAL(0, peer.count);
}
