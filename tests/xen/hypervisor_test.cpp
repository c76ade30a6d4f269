// Argument marshalling of the general hypercalls: the right number, sub-op and structure
// contents reach the (fake) hypervisor, and its answers come back typed.
#include "tests/test_support.h"

#include <cstring>

#include "tests/fakes/fake_hypercall.h"
#include "xen/abi.h"
#include "xen/hypervisor.h"

using namespace domd;
using domd::test::FakeHypercall;
using domd::test::HypercallRecord;

TEST_GROUP(Hypervisor) {
    FakeHypercall fake;
    xen::Hypervisor hv{fake};
};

TEST(Hypervisor, VersionCombinesNumberAndExtraVersion) {
    fake.on(__HYPERVISOR_xen_version, [](const HypercallRecord& r) -> long {
        if (r.args[0] == XENVER_version) return (4 << 16) | 17;
        if (r.args[0] == XENVER_extraversion) {
            strcpy(*FakeHypercall::arg<xen_extraversion_t>(r, 1), ".5-pre");
            return 0;
        }
        return -22;
    });
    auto v = hv.version();
    CHECK(v.ok());
    LONGS_EQUAL(4, v.value().major);
    LONGS_EQUAL(17, v.value().minor);
    STRCMP_EQUAL(".5-pre", v.value().extra);
}

// Zero is a version (0.0), -1 an error: the sign is the bound.
TEST(Hypervisor, VersionZeroIsAVersionMinusOneAnError) {
    long answer = 0;
    fake.on(__HYPERVISOR_xen_version, [&](const HypercallRecord& r) -> long {
        return r.args[0] == XENVER_version ? answer : 0;
    });
    auto v = hv.version();
    CHECK(v.ok());
    LONGS_EQUAL(0, v.value().major);
    LONGS_EQUAL(0, v.value().minor);
    answer = -1;  // -EPERM
    CHECK_EQUAL(Err::permission, hv.version().error());
}

TEST(Hypervisor, DebugConsoleWritePassesLengthAndPointer) {
    fake.on(__HYPERVISOR_console_io, [](const HypercallRecord& r) -> long {
        UNSIGNED_LONGLONGS_EQUAL(CONSOLEIO_write, r.args[0]);
        UNSIGNED_LONGLONGS_EQUAL(3, r.args[1]);
        CHECK(memcmp(FakeHypercall::arg<char>(r, 2), "abc", 3) == 0);
        return 0;
    });
    CHECK(hv.debug_console_write("abc").ok());
    LONGS_EQUAL(1, (long)fake.count(__HYPERVISOR_console_io));
}

TEST(Hypervisor, DebugConsoleReportsXensRefusal) {
    fake.on(__HYPERVISOR_console_io, [](const HypercallRecord&) -> long { return -1; });
    CHECK_EQUAL(Err::permission, hv.debug_console_write("x").error());
}

TEST(Hypervisor, HvmParamAsksForOurOwnDomain) {
    fake.on(__HYPERVISOR_hvm_op, [](const HypercallRecord& r) -> long {
        UNSIGNED_LONGLONGS_EQUAL(HVMOP_get_param, r.args[0]);
        auto* p = FakeHypercall::arg<xen_hvm_param_t>(r, 1);
        LONGS_EQUAL(DOMID_SELF, p->domid);
        if (p->index != HVM_PARAM_CONSOLE_PFN) return -22;
        p->value = 0x39000;
        return 0;
    });
    UNSIGNED_LONGLONGS_EQUAL(0x39000, hv.hvm_get_param(HVM_PARAM_CONSOLE_PFN).value());
    CHECK_EQUAL(Err::invalid, hv.hvm_get_param(HVM_PARAM_STORE_PFN).error());
}

TEST(Hypervisor, ShutdownPassesTheReason) {
    unsigned seen = 99;
    fake.on(__HYPERVISOR_sched_op, [&](const HypercallRecord& r) -> long {
        UNSIGNED_LONGLONGS_EQUAL(SCHEDOP_shutdown, r.args[0]);
        seen = FakeHypercall::arg<sched_shutdown_t>(r, 1)->reason;
        return 0;
    });
    CHECK(hv.shutdown(xen::ShutdownReason::crash).ok());
    LONGS_EQUAL(SHUTDOWN_crash, seen);
}

TEST(Hypervisor, YieldAndBlockAreSchedOps) {
    fake.on(__HYPERVISOR_sched_op, [](const HypercallRecord&) -> long { return 0; });
    CHECK(hv.yield().ok());
    CHECK(hv.block().ok());
    LONGS_EQUAL(1, (long)fake.count(__HYPERVISOR_sched_op, SCHEDOP_yield));
    LONGS_EQUAL(1, (long)fake.count(__HYPERVISOR_sched_op, SCHEDOP_block));
}

TEST(Hypervisor, PollPassesThePortListWithoutXenTimeout) {
    fake.on(__HYPERVISOR_sched_op, [](const HypercallRecord& r) -> long {
        UNSIGNED_LONGLONGS_EQUAL(SCHEDOP_poll, r.args[0]);
        auto* p = FakeHypercall::arg<sched_poll_t>(r, 1);
        LONGS_EQUAL(2, (long)p->nr_ports);
        UNSIGNED_LONGLONGS_EQUAL(0, p->timeout);
        evtchn_port_t* ports = p->ports.p;
        LONGS_EQUAL(5, (long)ports[0]);
        LONGS_EQUAL(9, (long)ports[1]);
        return 0;
    });
    const uint32_t ports[] = {5, 9};
    CHECK(hv.poll(ports).ok());
}

TEST(Hypervisor, AddToPhysmapNamesSpaceIndexAndFrame) {
    fake.on(__HYPERVISOR_memory_op, [](const HypercallRecord& r) -> long {
        UNSIGNED_LONGLONGS_EQUAL(XENMEM_add_to_physmap, r.args[0]);
        auto* a = FakeHypercall::arg<xen_add_to_physmap_t>(r, 1);
        LONGS_EQUAL(DOMID_SELF, a->domid);
        LONGS_EQUAL(XENMAPSPACE_shared_info, a->space);
        UNSIGNED_LONGLONGS_EQUAL(0, a->idx);
        UNSIGNED_LONGLONGS_EQUAL(0x50000, a->gpfn);
        return 0;
    });
    CHECK(hv.add_to_physmap(XENMAPSPACE_shared_info, 0, Gfn{0x50000}).ok());
}

TEST(Hypervisor, UnknownHypercallIsNotImplemented) {
    CHECK_EQUAL(Err::not_implemented, hv.remove_from_physmap(Gfn{1}).error());
}
