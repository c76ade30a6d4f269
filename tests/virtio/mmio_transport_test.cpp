// The virtio-mmio transport, version 2 (virtio 1.2 section 4.2.2), register by register:
// identification, feature negotiation (VERSION_1 required, a subset of the offer), device
// status rules, queue setup and its bounds, writes that must be ignored (read-only registers,
// queue setup while ready, odd widths and offsets), configuration space widths, interrupt
// status and acknowledgement, reset and queue disable with requests in flight (`retry` until
// they are done), budgets and multiple queues. What does not depend on the register layout
// runs for every ring variant (VARIANT_TEST: split, packed, legacy split); the version 2
// register rules run for split and packed rings; legacy_mmio_test.cpp has the legacy layout's.
#include "tests/test_support.h"

#include "tests/virtio/virtio_rig.h"

using namespace domd;
using namespace domd::virtio;
using namespace domd::test;

namespace {

constexpr uint32_t acked = status::acknowledge | status::driver;

void write_features(FakeVirtioDriver& driver, uint64_t features) {
    driver.write32(mmio::driver_features_sel, 0);
    driver.write32(mmio::driver_features, static_cast<uint32_t>(features));
    driver.write32(mmio::driver_features_sel, 1);
    driver.write32(mmio::driver_features, static_cast<uint32_t>(features >> 32));
}

void start_negotiation(FakeVirtioDriver& driver) {
    driver.write32(mmio::status, 0);
    driver.write32(mmio::status, status::acknowledge);
    driver.write32(mmio::status, acked);
}

bool features_ok_with(VirtioRig& rig, uint64_t features) {
    start_negotiation(rig.driver);
    write_features(rig.driver, features);
    rig.driver.write32(mmio::status, acked | status::features_ok);
    return (rig.driver.read32(mmio::status) & status::features_ok) != 0;
}

}  // namespace

TEST_GROUP(MmioTransport) {};

TEST(MmioTransport, Identification) {
    VirtioRig rig({.probe = false});
    CHECK_EQUAL(0x74726976u, rig.driver.read32(mmio::magic_value));
    CHECK_EQUAL(2u, rig.driver.read32(mmio::version));
    CHECK_EQUAL(2u, rig.driver.read32(mmio::device_id));
    CHECK_EQUAL(0x646d6f64u, rig.driver.read32(mmio::vendor_id));
    CHECK_EQUAL(0u, rig.driver.read32(mmio::status));
    CHECK_EQUAL(0u, rig.driver.read32(mmio::interrupt_status));
}

TEST(MmioTransport, DeviceFeaturesBySelector) {
    VirtioRig rig({.probe = false});
    rig.driver.write32(mmio::device_features_sel, 0);
    const uint32_t low = rig.driver.read32(mmio::device_features);
    rig.driver.write32(mmio::device_features_sel, 1);
    const uint32_t high = rig.driver.read32(mmio::device_features);
    const uint64_t offered = (uint64_t{high} << 32) | low;
    CHECK_EQUAL(rig.transport.offered_features(), offered);
    CHECK_TRUE(offered & features::version_1);
    CHECK_TRUE(offered & features::ring_event_idx);
    CHECK_TRUE(offered & features::indirect_desc);
    CHECK_TRUE(offered & features::access_platform);
    CHECK_TRUE(offered & features::ring_packed);
    CHECK_FALSE(offered & (features::in_order | features::notification_data | features::ring_reset |
                           features::any_layout | features::notify_on_empty));
    rig.driver.write32(mmio::device_features_sel, 2);
    CHECK_EQUAL(0u, rig.driver.read32(mmio::device_features));
}

TEST(MmioTransport, RingFeaturesCanBeWithheld) {
    VirtioRig rig({.mmio = {.event_idx = false, .indirect_desc = false, .access_platform = false, .ring_packed = false},
                   .probe = false});
    CHECK_EQUAL(features::version_1, rig.transport.offered_features());
}

TEST(MmioTransport, FeaturesOkNeedsVersion1) {
    VirtioRig rig({.probe = false});
    CHECK_FALSE(features_ok_with(rig, features::ring_event_idx));
    CHECK_EQUAL(1u, rig.transport.stats().features_refused);
    CHECK_TRUE(features_ok_with(rig, features::version_1));
}

TEST(MmioTransport, FeaturesOkNeedsASubsetOfTheOffer) {
    VirtioRig rig({.probe = false});
    CHECK_FALSE(features_ok_with(rig, features::version_1 | features::ring_reset));
    CHECK_FALSE(features_ok_with(rig, features::version_1 | feature(63)));
    VirtioRig split_only({.mmio = {.ring_packed = false}, .probe = false});
    CHECK_FALSE(features_ok_with(split_only, features::version_1 | features::ring_packed));
    CHECK_TRUE(features_ok_with(split_only, features::version_1));
    CHECK_TRUE(features_ok_with(rig, rig.transport.offered_features()));
    CHECK_EQUAL(rig.transport.offered_features(), rig.device.negotiated);
}

TEST(MmioTransport, DeviceTypeMayRefuseFeatures) {
    VirtioRig rig({.probe = false});
    rig.device.accept = false;
    CHECK_FALSE(features_ok_with(rig, features::version_1));
    rig.device.accept = true;
    CHECK_TRUE(features_ok_with(rig, features::version_1));
}

TEST(MmioTransport, DriverFeaturesAreFixedAfterFeaturesOk) {
    VirtioRig rig;
    const uint64_t negotiated = rig.transport.negotiated_features();
    write_features(rig.driver, features::version_1);
    CHECK_EQUAL(negotiated, rig.transport.negotiated_features());
    CHECK_TRUE(rig.transport.stats().ignored_writes >= 2);
}

TEST(MmioTransport, DriverFeaturesSelectorAboveOneIsIgnored) {
    VirtioRig rig({.probe = false});
    start_negotiation(rig.driver);
    write_features(rig.driver, features::version_1);
    rig.driver.write32(mmio::driver_features_sel, 2);
    rig.driver.write32(mmio::driver_features, 0xffffffff);
    CHECK_EQUAL(features::version_1, rig.transport.negotiated_features());
}

TEST(MmioTransport, DriverOkNeedsFeaturesOk) {
    VirtioRig rig({.probe = false});
    start_negotiation(rig.driver);
    rig.driver.write32(mmio::status, acked | status::driver_ok);
    CHECK_EQUAL(acked, rig.driver.read32(mmio::status));
}

VARIANT_TEST(MmioTransport, DriverCannotClearStatusBits) {
    VirtioRig rig(in(variant));
    const uint32_t before = rig.status();
    rig.driver.write32(mmio::status, status::acknowledge);
    CHECK_EQUAL(before, rig.status());
    rig.driver.write32(mmio::status, before | status::failed);
    CHECK_EQUAL(before | status::failed, rig.status());
}

VARIANT_TEST(MmioTransport, DriverCannotSetNeedsReset) {
    VirtioRig rig(in(variant));
    rig.driver.write32(mmio::status, rig.status() | status::device_needs_reset);
    CHECK_FALSE(rig.needs_reset());
}

VARIANT_TEST(MmioTransport, NeedsResetSurvivesTheDriverWritingStatusBack) {
    VirtioRig rig(in(variant));
    // Split: a descriptor that leads to itself; packed: a list that runs into a slot the driver
    // has not made available.
    rig.add_raw(rig.buffer(), 8, desc_flags::next);
    rig.driver.kick(0);
    rig.transport.service();
    CHECK_TRUE(rig.needs_reset());
    // Linux's virtio_add_status: read, OR in a bit, write back.
    rig.driver.write32(mmio::status, rig.status() | status::failed);
    CHECK_TRUE(rig.needs_reset());
    CHECK_TRUE(rig.status() & status::failed);
}

VARIANT_TEST(MmioTransport, QueueNumMaxPerQueue) {
    VirtioRig rig(in(variant, {.queues = 2, .max_size = 128, .probe = false}));
    rig.driver.write32(mmio::queue_sel, 1);
    CHECK_EQUAL(128u, rig.driver.read32(mmio::queue_num_max));
    rig.driver.write32(mmio::queue_sel, 2);
    CHECK_EQUAL(0u, rig.driver.read32(mmio::queue_num_max));
    rig.driver.write32(mmio::queue_sel, 0xffffffff);
    CHECK_EQUAL(0u, rig.driver.read32(mmio::queue_num_max));
    CHECK_EQUAL(0u, rig.driver.read32(variant.legacy ? mmio::queue_pfn : mmio::queue_ready));
}

VARIANT_TEST(MmioTransport, QueueNumMaxIsCappedAtTheLimit) {
    VirtioRig rig(in(variant, {.max_size = 4096, .probe = false}));
    CHECK_EQUAL(limits::max_queue_size, rig.driver.read32(mmio::queue_num_max));
}

TEST(MmioTransport, QueueSizeBounds) {
    struct Case {
        uint32_t size;
        bool ok;
    };
    for (Case c : {Case{0, false}, Case{1, true}, Case{64, true}, Case{127, false}, Case{128, true},
                   Case{129, false}, Case{256, false}, Case{0x10080, false}}) {
        VirtioRig rig({.max_size = 128, .probe = false});
        CHECK_TRUE(rig.driver.negotiate(ring_features));
        rig.driver.write32(mmio::queue_sel, 0);
        const uint64_t desc = rig.driver.alloc(16 * 1024, 4096);
        const uint64_t avail = rig.driver.alloc(4096, 4096);
        const uint64_t used = rig.driver.alloc(16 * 1024, 4096);
        rig.driver.write32(mmio::queue_num, c.size);
        rig.driver.write32(mmio::queue_desc_low, static_cast<uint32_t>(desc));
        rig.driver.write32(mmio::queue_driver_low, static_cast<uint32_t>(avail));
        rig.driver.write32(mmio::queue_device_low, static_cast<uint32_t>(used));
        rig.driver.write32(mmio::queue_ready, 1);
        CHECK_EQUAL(c.ok ? 1u : 0u, rig.driver.read32(mmio::queue_ready));
        CHECK_EQUAL(c.ok, rig.transport.queue(0).live());
        if (c.ok) CHECK_EQUAL(c.size, rig.transport.queue(0).size());
    }
}

TEST(MmioTransport, QueueAreasMustBeAlignedAndInGuestMemory) {
    struct Case {
        uint64_t desc_offset, avail_offset, used_offset;
        bool ok;
    };
    for (Case c : {Case{0, 0, 0, true}, Case{8, 0, 0, false}, Case{0, 1, 0, false}, Case{0, 2, 0, true},
                   Case{0, 0, 2, false}, Case{0, 0, 4, true}}) {
        VirtioRig rig({.probe = false});
        CHECK_TRUE(rig.driver.negotiate(ring_features));
        const uint64_t area = rig.driver.alloc(3 * 4096, 4096);
        rig.driver.write32(mmio::queue_num, 16);
        rig.driver.write32(mmio::queue_desc_low, static_cast<uint32_t>(area + c.desc_offset));
        rig.driver.write32(mmio::queue_driver_low, static_cast<uint32_t>(area + 4096 + c.avail_offset));
        rig.driver.write32(mmio::queue_device_low, static_cast<uint32_t>(area + 8192 + c.used_offset));
        rig.driver.write32(mmio::queue_ready, 1);
        CHECK_EQUAL(c.ok ? 1u : 0u, rig.driver.read32(mmio::queue_ready));
    }
    VirtioRig rig({.probe = false});
    CHECK_TRUE(rig.driver.negotiate(ring_features));
    rig.driver.write32(mmio::queue_num, 16);
    rig.driver.write32(mmio::queue_desc_low, 0x1000);  // below guest RAM
    rig.driver.write32(mmio::queue_driver_low, static_cast<uint32_t>(rig.driver.alloc(64, 4)));
    rig.driver.write32(mmio::queue_device_low, static_cast<uint32_t>(rig.driver.alloc(256, 4)));
    rig.driver.write32(mmio::queue_ready, 1);
    CHECK_EQUAL(0u, rig.driver.read32(mmio::queue_ready));
}

TEST(MmioTransport, QueueReadyBeforeFeaturesOkIsRefused) {
    VirtioRig rig({.probe = false});
    start_negotiation(rig.driver);
    CHECK_FALSE(rig.driver.setup_queue(0));
    CHECK_EQUAL(1u, rig.transport.stats().queue_setups_refused);
}

TEST(MmioTransport, QueueSetupWritesWhileReadyAreIgnored) {
    for (const Variant variant : {split_v2, packed_v2}) {
        VirtioRig rig(in(variant));
        const auto& q = rig.driver.queue(0);
        rig.driver.write32(mmio::queue_sel, 0);
        rig.driver.write32(mmio::queue_num, 4);
        rig.driver.write32(mmio::queue_num, 2048);
        rig.driver.write32(mmio::queue_desc_low, 0x1000);
        rig.driver.write32(mmio::queue_desc_high, 1);
        rig.driver.write32(mmio::queue_driver_low, 0x2000);
        rig.driver.write32(mmio::queue_device_low, 0x3000);
        rig.driver.write32(mmio::queue_device_high, 7);
        CHECK_EQUAL(q.size, rig.transport.queue(0).size());
        CHECK_EQUAL(7u, rig.transport.stats().ignored_writes);
        rig.expect_works();
    }
}

TEST(MmioTransport, ReadOnlyRegistersIgnoreWrites) {
    for (const Variant variant : {split_v2, packed_v2}) {
        VirtioRig rig(in(variant));
        const uint32_t status_before = rig.status();
        for (uint32_t offset : {mmio::magic_value, mmio::version, mmio::device_id, mmio::vendor_id,
                                mmio::device_features, mmio::queue_num_max, mmio::interrupt_status,
                                mmio::shm_len_low, mmio::shm_len_high, mmio::shm_base_low, mmio::shm_base_high,
                                mmio::config_generation, mmio::queue_reset, 0x0fcu - 4, 0x0e0u}) {
            rig.driver.write32(offset, 0x5a5a5a5a);
        }
        CHECK_EQUAL(0x74726976u, rig.driver.read32(mmio::magic_value));
        CHECK_EQUAL(2u, rig.driver.read32(mmio::version));
        CHECK_EQUAL(2u, rig.driver.read32(mmio::device_id));
        CHECK_EQUAL(0u, rig.driver.read32(mmio::interrupt_status));
        CHECK_EQUAL(0u, rig.driver.read32(mmio::config_generation));
        CHECK_EQUAL(status_before, rig.status());
        CHECK_EQUAL(15u, rig.transport.stats().ignored_writes);
        rig.expect_works();
    }
}

TEST(MmioTransport, WriteOnlyAndUnusedRegistersReadZero) {
    VirtioRig rig;
    for (uint32_t offset : {mmio::device_features_sel, mmio::driver_features, mmio::driver_features_sel,
                            mmio::queue_sel, mmio::queue_num, mmio::queue_notify, mmio::interrupt_ack,
                            mmio::queue_desc_low, mmio::queue_device_high, mmio::shm_sel, mmio::queue_reset,
                            0x018u, 0x0c4u, 0x0f8u}) {
        CHECK_EQUAL(0u, rig.driver.read32(offset));
    }
}

TEST(MmioTransport, NoSharedMemoryRegions) {
    VirtioRig rig;
    rig.driver.write32(mmio::shm_sel, 0);
    CHECK_EQUAL(0xffffffffu, rig.driver.read32(mmio::shm_len_low));
    CHECK_EQUAL(0xffffffffu, rig.driver.read32(mmio::shm_len_high));
    CHECK_EQUAL(0xffffffffu, rig.driver.read32(mmio::shm_base_low));
    CHECK_EQUAL(0xffffffffu, rig.driver.read32(mmio::shm_base_high));
}

TEST(MmioTransport, RegisterAccessesOfOtherWidthsOrOffsetsDoNothing) {
    for (const Variant variant : {split_v2, packed_v2}) {
        VirtioRig rig(in(variant));
        const uint32_t status_before = rig.status();
        for (uint8_t size : {uint8_t{1}, uint8_t{2}, uint8_t{8}, uint8_t{3}, uint8_t{0}}) {
            CHECK_EQUAL(0u, rig.transport.read(mmio::magic_value, size).value);
            CHECK_TRUE(rig.transport.write(mmio::status, size, 0).kind == MmioAnswer::Kind::done);
            CHECK_TRUE(rig.transport.write(mmio::queue_notify, size, 0).kind == MmioAnswer::Kind::done);
        }
        for (uint64_t offset : {uint64_t{mmio::status + 1}, uint64_t{mmio::status + 2}, uint64_t{mmio::magic_value + 3}}) {
            CHECK_EQUAL(0u, rig.transport.read(offset, 4).value);
            CHECK_TRUE(rig.transport.write(offset, 4, 0).kind == MmioAnswer::Kind::done);
        }
        CHECK_EQUAL(status_before, rig.status());  // no reset happened
        CHECK_EQUAL(0u, rig.transport.queue(0).stats().kicks);
        CHECK_EQUAL(21u, rig.transport.stats().bad_accesses);
        rig.expect_works();
    }
}

VARIANT_TEST(MmioTransport, ConfigSpaceAccessWidths) {
    RigOptions options;
    options.probe = false;
    VirtioRig rig(in(variant, options));
    for (uint8_t i = 0; i < 24; ++i) rig.device.config[i] = static_cast<uint8_t>(0x10 + i);
    CHECK_EQUAL(0x10u, rig.driver.read_config(0, 1));
    CHECK_EQUAL(0x13u, rig.driver.read_config(3, 1));
    CHECK_EQUAL(0x1312u, rig.driver.read_config(2, 2));
    CHECK_EQUAL(0x17161514u, rig.driver.read_config(4, 4));
    CHECK_EQUAL(0x1f1e1d1c1b1a1918ull, rig.driver.read_config(8, 8));
    // Misaligned or odd widths read 0.
    CHECK_EQUAL(0u, rig.driver.read_config(1, 2));
    CHECK_EQUAL(0u, rig.driver.read_config(2, 4));
    CHECK_EQUAL(0u, rig.driver.read_config(4, 8));
    CHECK_EQUAL(0u, rig.driver.read_config(0, 3));
    // Past the device's configuration: zeroes, up to the end of the window.
    CHECK_EQUAL(0x27262524u, rig.driver.read_config(20, 4));
    CHECK_EQUAL(0u, rig.driver.read_config(24, 4));
    CHECK_EQUAL(0u, rig.driver.read_config(0xfc, 4));
    CHECK_EQUAL(0u, rig.driver.read_config(0x100, 4));  // beyond the 0x200 window
}

VARIANT_TEST(MmioTransport, ConfigSpaceWritesReachTheDeviceOnlyInsideIt) {
    VirtioRig rig(in(variant));
    rig.driver.write_raw(mmio::config + 4, 0xab, 1);
    rig.driver.write_raw(mmio::config + 8, 0x1234, 2);
    rig.driver.write_raw(mmio::config + 16, 0x0102030405060708ull & 0xffffffff, 8);
    rig.driver.write_raw(mmio::config + 22, 0x1234, 4);  // misaligned
    rig.driver.write_raw(mmio::config + 24, 1, 1);       // past the end
    CHECK_EQUAL(3u, rig.device.config_writes.size());
    CHECK_EQUAL(4u, rig.device.config_writes[0].first);
    CHECK_EQUAL(0xab, rig.device.config_writes[0].second.at(0));
    CHECK_EQUAL(2u, rig.device.config_writes[1].second.size());
    CHECK_EQUAL(8u, rig.device.config_writes[2].second.size());
}

TEST(MmioTransport, ConfigChangeMovesTheGenerationAndInterrupts) {
    VirtioRig rig;
    const uint32_t generation = rig.driver.read32(mmio::config_generation);
    rig.transport.config_changed();
    CHECK_EQUAL(generation + 1, rig.driver.read32(mmio::config_generation));
    CHECK_EQUAL(1, rig.interrupt.count);
    CHECK_EQUAL(mmio::interrupt_config_change, rig.driver.handle_interrupt());
}

VARIANT_TEST(MmioTransport, InterruptAckClearsOnlyTheBitsWritten) {
    VirtioRig rig(in(variant));
    rig.expect_works();
    rig.transport.config_changed();
    CHECK_EQUAL(3u, rig.driver.read32(mmio::interrupt_status));
    rig.driver.write32(mmio::interrupt_ack, 0);
    rig.driver.write32(mmio::interrupt_ack, 0xfffffffc);  // undefined bits: harmless
    CHECK_EQUAL(3u, rig.driver.read32(mmio::interrupt_status));
    rig.driver.write32(mmio::interrupt_ack, mmio::interrupt_config_change);
    CHECK_EQUAL(1u, rig.driver.read32(mmio::interrupt_status));
    rig.driver.write32(mmio::interrupt_ack, mmio::interrupt_config_change);  // not pending: harmless
    CHECK_EQUAL(1u, rig.driver.read32(mmio::interrupt_status));
    rig.driver.write32(mmio::interrupt_ack, mmio::interrupt_used_buffer);
    CHECK_EQUAL(0u, rig.driver.read32(mmio::interrupt_status));
    rig.expect_works();
}

VARIANT_TEST(MmioTransport, OneInterruptPerPassAndNoneWhileTheBitIsPending) {
    VirtioRig rig(in(variant));
    for (int i = 0; i < 4; ++i) rig.add({writable(rig.buffer(), 1)});
    rig.transport.service();
    CHECK_EQUAL(1, rig.interrupt.count);
    rig.driver.take_used(0);
    // Not acknowledged yet: the bit is still set, the guest's handler has yet to run.
    rig.add({writable(rig.buffer(), 1)});
    rig.transport.service();
    CHECK_EQUAL(1, rig.interrupt.count);
    CHECK_EQUAL(1u, rig.transport.stats().interrupts_coalesced);
    CHECK_EQUAL(1u, rig.driver.handle_interrupt());
    rig.driver.take_used(0);
    rig.add({writable(rig.buffer(), 1)});
    rig.transport.service();
    CHECK_EQUAL(2, rig.interrupt.count);
}

VARIANT_TEST(MmioTransport, ResetWaitsForRequestsInFlight) {
    VirtioRig rig(in(variant));
    rig.device.hold = true;
    rig.add({writable(rig.buffer(), 1)});
    rig.add({writable(rig.buffer(), 1)});
    rig.transport.service();
    CHECK_EQUAL(2u, rig.device.held.size());
    const uint64_t releases = rig.memory.release_rings_calls;
    const int resets = rig.device.resets;

    CHECK_TRUE(rig.driver.write_raw(mmio::status, 0).kind == MmioAnswer::Kind::retry);
    CHECK_TRUE(rig.transport.reset_pending());
    // Offered again on later passes: still waiting, nothing released yet.
    CHECK_TRUE(rig.driver.write_raw(mmio::status, 0).kind == MmioAnswer::Kind::retry);
    CHECK_EQUAL(releases, rig.memory.release_rings_calls);
    // Kicks and new chains are not looked at while the reset waits.
    rig.add({writable(rig.buffer(), 1)});
    CHECK_FALSE(rig.transport.needs_service());
    rig.transport.service();
    CHECK_EQUAL(2u, rig.device.chains.size());

    rig.device.complete_held();  // completions during the reset write no used elements
    CHECK_FALSE(rig.driver.has_used(0));
    CHECK_TRUE(rig.driver.write_raw(mmio::status, 0).kind == MmioAnswer::Kind::done);
    CHECK_FALSE(rig.transport.reset_pending());
    CHECK_EQUAL(0u, rig.status());
    CHECK_EQUAL(0u, rig.driver.read32(variant.legacy ? mmio::queue_pfn : mmio::queue_ready));
    CHECK_EQUAL(0u, rig.driver.read32(mmio::interrupt_status));
    CHECK_EQUAL(resets + 1, rig.device.resets);
    CHECK_EQUAL(releases + 1, rig.memory.release_rings_calls);
    CHECK_EQUAL(0u, rig.memory.live_ring_views());
    CHECK_EQUAL(2u, rig.transport.stats().reset_retries);
    CHECK_EQUAL(2u, rig.transport.queue(0).stats().dropped);
    rig.device.hold = false;
    rig.expect_works_after_reset();
}

VARIANT_TEST(MmioTransport, ResetWithNothingInFlightIsImmediate) {
    VirtioRig rig(in(variant));
    rig.expect_works();
    rig.transport.config_changed();
    CHECK_TRUE(rig.driver.write_raw(mmio::status, 0).kind == MmioAnswer::Kind::done);
    CHECK_EQUAL(0u, rig.status());
    CHECK_EQUAL(0u, rig.transport.interrupt_status());
    CHECK_EQUAL(0u, rig.transport.negotiated_features());
    rig.expect_works_after_reset();
}

TEST(MmioTransport, QueueDisableWaitsForItsRequests) {
    for (const Variant variant : {split_v2, packed_v2}) {
        VirtioRig rig(in(variant, {.queues = 2}));
        rig.device.hold = true;
        rig.add({writable(rig.buffer(), 1)});
        rig.transport.service();
        rig.driver.write32(mmio::queue_sel, 0);
        CHECK_TRUE(rig.driver.write_raw(mmio::queue_ready, 0).kind == MmioAnswer::Kind::retry);
        CHECK_EQUAL(1u, rig.driver.read32(mmio::queue_ready));  // still in use
        rig.device.complete_held();
        CHECK_TRUE(rig.driver.write_raw(mmio::queue_ready, 0).kind == MmioAnswer::Kind::done);
        CHECK_EQUAL(0u, rig.driver.read32(mmio::queue_ready));
        CHECK_EQUAL(1u, rig.transport.stats().queue_disable_retries);
        // The other queue lost its ring mappings with the release and maps them again.
        rig.device.hold = false;
        rig.expect_works(1);
        // Queue 0 can be set up again.
        CHECK_TRUE(rig.driver.setup_queue(0));
        rig.expect_works(0);
    }
}

VARIANT_TEST(MmioTransport, QueueNotifyIsOnlyAMark) {
    VirtioRig rig(in(variant));
    rig.driver.add(0, {writable(rig.buffer(), 1)});
    rig.driver.write32(mmio::queue_notify, 0);
    CHECK_EQUAL(0u, rig.device.chains.size());  // nothing happens in the trap
    CHECK_TRUE(rig.transport.needs_service());
    rig.transport.service();
    CHECK_EQUAL(1u, rig.device.chains.size());
    CHECK_EQUAL(1u, rig.transport.queue(0).stats().kicks);
}

VARIANT_TEST(MmioTransport, NotifyForMissingQueuesIsIgnored) {
    VirtioRig rig(in(variant, {.queues = 2}));
    for (uint32_t value : {2u, 16u, 0xffffu, 0x10000u, 0xffffffffu}) rig.driver.write32(mmio::queue_notify, value);
    CHECK_EQUAL(5u, rig.transport.stats().kicks_ignored);
    CHECK_FALSE(rig.transport.needs_service());
}

VARIANT_TEST(MmioTransport, NotifyForAQueueThatIsNotLiveIsIgnored) {
    VirtioRig rig(in(variant, {.queues = 2, .probe = false}));
    CHECK_TRUE(rig.driver.negotiate(rig.options.wanted));
    CHECK_TRUE(rig.driver.setup_queue(0));
    rig.driver.driver_ok();
    rig.driver.write32(mmio::queue_notify, 1);
    CHECK_EQUAL(1u, rig.transport.stats().kicks_ignored);
    CHECK_EQUAL(0u, rig.transport.queue(1).stats().kicks);
    CHECK_FALSE(rig.transport.queue(1).kicked());
}

VARIANT_TEST(MmioTransport, BuffersBeforeDriverOkWaitForIt) {
    VirtioRig rig(in(variant, {.probe = false}));
    CHECK_TRUE(rig.driver.negotiate(rig.options.wanted));
    CHECK_TRUE(rig.driver.setup_queue(0, 16));
    rig.driver.add(0, {writable(rig.buffer(), 1)});
    rig.driver.write32(mmio::queue_notify, 0);
    CHECK_FALSE(rig.transport.needs_service());
    rig.transport.service();
    CHECK_EQUAL(0u, rig.device.chains.size());
    rig.driver.driver_ok();
    CHECK_TRUE(rig.transport.needs_service());
    rig.transport.service();
    CHECK_EQUAL(1u, rig.device.chains.size());
}

VARIANT_TEST(MmioTransport, BudgetBoundsAPass) {
    VirtioRig rig(in(variant));
    for (int i = 0; i < 5; ++i) rig.driver.add(0, {writable(rig.buffer(), 1)});
    rig.driver.kick(0);
    rig.transport.service(2);
    CHECK_EQUAL(2u, rig.device.chains.size());
    CHECK_TRUE(rig.transport.needs_service());
    rig.transport.service(2);
    rig.transport.service(2);
    CHECK_EQUAL(5u, rig.device.chains.size());
    CHECK_EQUAL(5u, rig.driver.take_used(0).size());
}

VARIANT_TEST(MmioTransport, QueuesTakeTurns) {
    VirtioRig rig(in(variant, {.queues = 3}));
    for (uint16_t q = 0; q < 3; ++q) {
        for (int i = 0; i < 4; ++i) rig.driver.add(q, {writable(rig.buffer(), 1)});
        rig.driver.kick(q);
    }
    rig.transport.service(3);
    rig.transport.service(3);
    rig.transport.service(3);
    rig.transport.service(3);
    CHECK_EQUAL(12u, rig.device.chains.size());
    for (uint16_t q = 0; q < 3; ++q) CHECK_EQUAL(4u, rig.driver.take_used(q).size());
}

VARIANT_TEST(MmioTransport, DeviceOutOfSlotsResumesWhenARequestCompletes) {
    VirtioRig rig(in(variant));
    rig.device.hold = true;
    rig.device.slots = 1;
    rig.add({writable(rig.buffer(), 1)});
    rig.add({writable(rig.buffer(), 1)});
    rig.transport.service();
    CHECK_EQUAL(1u, rig.device.chains.size());
    CHECK_FALSE(rig.transport.needs_service());  // waits for a completion, no spinning
    rig.device.complete_held();
    CHECK_TRUE(rig.transport.needs_service());
    rig.transport.service();
    CHECK_EQUAL(2u, rig.device.chains.size());
    rig.device.complete_held();
    rig.transport.service();
    CHECK_EQUAL(2u, rig.driver.take_used(0).size());
}

VARIANT_TEST(MmioTransport, PollingLooksAtEveryQueueWithoutNotifications) {
    VirtioRig rig(in(variant, {.queues = 2}));
    rig.transport.set_polling(true);
    CHECK_TRUE(rig.transport.polling());
    CHECK_FALSE(rig.transport.needs_service());
    rig.driver.add(1, {writable(rig.buffer(), 1)});
    CHECK_TRUE(rig.transport.needs_service());
    rig.transport.service();
    CHECK_EQUAL(1u, rig.driver.take_used(1).size());
    rig.transport.set_polling(false);
    rig.driver.add(1, {writable(rig.buffer(), 1)});
    CHECK_TRUE(rig.driver.kick(1));
}

VARIANT_TEST(MmioTransport, LeavingPollingPicksUpWhatArrivedMeanwhile) {
    VirtioRig rig(in(variant));
    rig.transport.set_polling(true);
    rig.driver.add(0, {writable(rig.buffer(), 1)});
    CHECK_FALSE(rig.driver.kick(0));
    rig.transport.set_polling(false);
    CHECK_TRUE(rig.transport.needs_service());
    rig.transport.service();
    CHECK_EQUAL(1u, rig.driver.take_used(0).size());
}
