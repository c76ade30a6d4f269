// The legacy virtio-mmio transport (version 1, virtio 1.2 section 4.2.4), register by register:
// identification, 32 feature bits without VERSION_1 (so no packed rings and no
// ACCESS_PLATFORM), features settled by the first queue setup or DRIVER_OK, GuestPageSize,
// QueueNum / QueueAlign / QueuePFN and the legacy ring layout (section 2.7.2), QueuePFN = 0
// releasing a queue (waiting for its requests), and the registers of the other version ignored
// in each. Hostile values never crash and never place a ring: a page size or alignment that is
// not a power of two, a PFN whose ring lies outside guest RAM (or near 2^63), sizes above the
// maximum, changes while a queue is in use, grant addresses. After each, a well-formed request
// still works.
#include "tests/test_support.h"

#include "tests/virtio/virtio_rig.h"

using namespace domd;
using namespace domd::virtio;
using namespace domd::test;

namespace {

RigOptions legacy_rig(RigOptions options = {}) {
    options.mmio.version = mmio::version_legacy;
    return options;
}

// What Linux's legacy driver writes (no FEATURES_OK): reset, ACKNOWLEDGE, DRIVER, GuestFeatures.
void legacy_negotiation(VirtioRig& rig, uint64_t features) {
    rig.driver.write32(mmio::status, 0);
    rig.driver.write32(mmio::status, status::acknowledge);
    rig.driver.write32(mmio::status, status::acknowledge | status::driver);
    rig.driver.write32(mmio::driver_features_sel, 1);
    rig.driver.write32(mmio::driver_features, static_cast<uint32_t>(features >> 32));
    rig.driver.write32(mmio::driver_features_sel, 0);
    rig.driver.write32(mmio::driver_features, static_cast<uint32_t>(features));
}

struct LegacyQueue {
    uint32_t size = 16;
    uint32_t align = 4096;
    uint32_t page_size = 4096;
    uint32_t pfn = 0;         // not 0: this QueuePFN rather than the ring block's
};

// Places queue 0 as a legacy driver does, at a fresh block of guest RAM laid out for `q`, and
// tells whether the device took it (QueuePFN reads back). On success the fake driver's queue
// records the layout, so requests can go through it.
bool place_queue(VirtioRig& rig, const LegacyQueue& q) {
    const uint64_t used_offset = split::legacy::used_offset(q.size, q.align == 0 ? 1 : q.align);
    const uint64_t page = q.page_size == 0 ? 1 : q.page_size;
    // Blocks at multiples of the page size where one can be had, so that a page size that is not
    // a power of two still names the block exactly: only the power-of-two rule refuses it.
    const bool sane_page = page % 4096 == 0 && page <= (1u << 20);
    // Values the device must refuse may describe rings far larger than guest RAM: the block
    // is then an ordinary one, and the ring runs past it (or past RAM).
    const uint64_t bytes = q.size <= 1024 && used_offset < (1u << 20) ? used_offset + split::used_ring_bytes(q.size) : 8192;
    const uint64_t block = rig.driver.alloc(bytes, sane_page && page > 4096 ? page : 4096);
    uint32_t pfn = q.pfn != 0 ? q.pfn : static_cast<uint32_t>(block / page);
    if (pfn == 0) pfn = 1;  // a huge page size: 0 would release, not place
    rig.driver.write32(mmio::guest_page_size, q.page_size);
    rig.driver.write32(mmio::queue_sel, 0);
    rig.driver.write32(mmio::queue_num, q.size);
    rig.driver.write32(mmio::queue_align, q.align);
    rig.driver.write32(mmio::queue_pfn, pfn);
    const bool live = rig.driver.read32(mmio::queue_pfn) == pfn;
    CHECK_EQUAL(live, rig.transport.queue(0).live());
    if (live) {
        auto& dq = rig.driver.define_queue(0);
        const uint64_t ring = uint64_t{pfn} * page;
        dq.size = static_cast<uint16_t>(q.size);
        dq.desc = ring;
        dq.avail = ring + split::legacy::avail_offset(q.size);
        dq.used = ring + used_offset;
        dq.pfn = pfn;
        for (uint32_t i = q.size; i > 0; --i) dq.free.push_back(static_cast<uint16_t>(i - 1));
    }
    return live;
}

// A legacy device negotiated and then handed `q`.
bool accepted(const LegacyQueue& q) {
    VirtioRig rig(legacy_rig({.probe = false}));
    legacy_negotiation(rig, ring_features & rig.transport.offered_features());
    const bool live = place_queue(rig, q);
    if (live) {
        rig.driver.driver_ok();
        if (q.size > 1) {
            rig.expect_works();
        } else {  // room for one descriptor only
            const uint16_t head = rig.add({writable(rig.buffer(), 1)});
            rig.transport.service();
            CHECK_EQUAL(head, rig.driver.take_used(0).at(0).id);
        }
    } else {
        CHECK_EQUAL(1u, rig.transport.stats().queue_setups_refused);
        // Nothing was placed; with good values the same queue comes up.
        CHECK_TRUE(place_queue(rig, LegacyQueue{}));
        rig.driver.driver_ok();
        rig.expect_works();
    }
    return live;
}

}  // namespace

TEST_GROUP(LegacyMmio) {};

TEST(LegacyMmio, Identification) {
    VirtioRig rig(legacy_rig({.probe = false}));
    CHECK_EQUAL(0x74726976u, rig.driver.read32(mmio::magic_value));
    CHECK_EQUAL(1u, rig.driver.read32(mmio::version));
    CHECK_EQUAL(2u, rig.driver.read32(mmio::device_id));
    CHECK_EQUAL(0x646d6f64u, rig.driver.read32(mmio::vendor_id));
    CHECK_EQUAL(1u, rig.transport.version());
}

TEST(LegacyMmio, ThirtyTwoFeatureBitsWithoutVersion1) {
    FakeGuestMemory memory;
    FakeInterrupt interrupt;
    RecordingDevice device;
    device.features = feature(0) | feature(13) | feature(40);  // a bit above 31 is not offered
    MmioTransport transport(device, memory, interrupt, legacy_rig().mmio);
    FakeVirtioDriver driver(transport, memory);
    driver.write32(mmio::device_features_sel, 0);
    const uint32_t low = driver.read32(mmio::device_features);
    driver.write32(mmio::device_features_sel, 1);
    CHECK_EQUAL(0u, driver.read32(mmio::device_features));
    CHECK_EQUAL(uint64_t{low}, transport.offered_features());
    CHECK_TRUE(low & feature(0));
    CHECK_TRUE(low & feature(13));
    CHECK_TRUE(low & features::ring_event_idx);
    CHECK_TRUE(low & features::indirect_desc);
    CHECK_TRUE(low & features::any_layout);
    CHECK_FALSE(transport.offered_features() & (features::version_1 | features::ring_packed | features::access_platform));
    // The options that withhold ring features hold here too; packed and grants cannot be had.
    VirtioRig plain(legacy_rig({.mmio = {.version = mmio::version_legacy, .event_idx = false, .indirect_desc = false,
                                         .access_platform = true, .ring_packed = true},
                                .probe = false}));
    CHECK_EQUAL(features::any_layout, plain.transport.offered_features());
}

TEST(LegacyMmio, LinuxProbePlacesTheRingFromQueuePfn) {
    VirtioRig rig(legacy_rig());
    CHECK_TRUE(rig.driver.legacy());
    const auto& q = rig.driver.queue(0);
    CHECK_EQUAL(q.pfn, rig.driver.read32(mmio::queue_pfn));
    CHECK_EQUAL(q.desc, uint64_t{q.pfn} * 4096);
    CHECK_EQUAL(q.desc + 16 * 16, q.avail);
    CHECK_EQUAL(q.desc + 4096, q.used);  // 16 * 16 + 6 + 32 rounded up to the alignment
    CHECK_TRUE(rig.transport.queue(0).format() == RingFormat::split);
    CHECK_EQUAL(ring_features & ~features::version_1, rig.transport.negotiated_features());
    CHECK_EQUAL(status::acknowledge | status::driver | status::driver_ok, rig.status());
    rig.expect_works();
}

TEST(LegacyMmio, FeaturesOkIsNotALegacyBit) {
    VirtioRig rig(legacy_rig({.probe = false}));
    legacy_negotiation(rig, features::ring_event_idx);
    rig.driver.write32(mmio::status, status::acknowledge | status::driver | status::features_ok);
    CHECK_EQUAL(status::acknowledge | status::driver, rig.status());
}

TEST(LegacyMmio, FeaturesAreSettledByTheFirstQueue) {
    VirtioRig rig(legacy_rig({.probe = false}));
    legacy_negotiation(rig, features::ring_event_idx);
    CHECK_TRUE(place_queue(rig, {}));
    CHECK_EQUAL(features::ring_event_idx, rig.device.negotiated);
    // Too late to change them now.
    rig.driver.write32(mmio::driver_features, static_cast<uint32_t>(features::indirect_desc));
    CHECK_EQUAL(features::ring_event_idx, rig.transport.negotiated_features());
    CHECK_EQUAL(1u, rig.transport.stats().ignored_writes);
    rig.driver.driver_ok();
    rig.expect_works();
}

TEST(LegacyMmio, FeaturesAreSettledByDriverOkWithoutQueues) {
    VirtioRig rig(legacy_rig({.probe = false}));
    legacy_negotiation(rig, features::indirect_desc);
    rig.driver.driver_ok();
    CHECK_TRUE(rig.status() & status::driver_ok);
    CHECK_EQUAL(features::indirect_desc, rig.device.negotiated);
}

TEST(LegacyMmio, FeaturesBeyondTheOfferPlaceNoQueueAndGetNoDriverOk) {
    for (uint64_t bad : {features::version_1, features::ring_packed, features::access_platform, feature(31),
                         feature(24)}) {
        VirtioRig rig(legacy_rig({.probe = false}));
        legacy_negotiation(rig, features::ring_event_idx | bad);
        CHECK_FALSE(place_queue(rig, {}));
        rig.driver.write32(mmio::status, status::acknowledge | status::driver | status::driver_ok);
        CHECK_FALSE(rig.status() & status::driver_ok);
        CHECK_EQUAL(2u, rig.transport.stats().features_refused);
        // Better features, written next, are taken.
        rig.driver.write32(mmio::driver_features_sel, 1);
        rig.driver.write32(mmio::driver_features, 0);
        rig.driver.write32(mmio::driver_features_sel, 0);
        rig.driver.write32(mmio::driver_features, static_cast<uint32_t>(features::ring_event_idx));
        CHECK_TRUE(place_queue(rig, {}));
        rig.driver.driver_ok();
        rig.expect_works();
    }
}

TEST(LegacyMmio, DeviceTypeMayRefuseFeatures) {
    VirtioRig rig(legacy_rig({.probe = false}));
    rig.device.accept = false;
    legacy_negotiation(rig, 0);
    CHECK_FALSE(place_queue(rig, {}));
    rig.device.accept = true;
    CHECK_TRUE(place_queue(rig, {}));
}

TEST(LegacyMmio, GuestPageSizeMustBeAPowerOfTwo) {
    struct Case {
        uint32_t page_size;
        bool ok;
    };
    for (Case c : {Case{0, false}, Case{3, false}, Case{4097, false}, Case{12288, false}, Case{0x80000001, false},
                   Case{1, true}, Case{512, true}, Case{4096, true}, Case{16384, true}, Case{65536, true}}) {
        CHECK_EQUAL(c.ok, accepted({.page_size = c.page_size}));
    }
}

TEST(LegacyMmio, QueueAlignMustBeAPowerOfTwoThatKeepsTheUsedRingAligned) {
    struct Case {
        uint32_t align;
        bool ok;
    };
    // 16 descriptors: the avail ring ends at 256 + 38 = 294, a 2-byte boundary; the used ring
    // needs 4 (section 2.7). 12288 rounds 294 up to 4096 with the usual mask arithmetic, a place
    // that would do: only the power-of-two rule refuses it.
    for (Case c : {Case{0, false}, Case{3, false}, Case{4095, false}, Case{12288, false}, Case{2, false},
                   Case{4, true}, Case{64, true}, Case{8192, true}, Case{0x80000000, false}}) {
        CHECK_EQUAL(c.ok, accepted({.align = c.align}));
    }
}

TEST(LegacyMmio, QueueNumBounds) {
    struct Case {
        uint32_t size;
        bool ok;
    };
    // QueueNumMax is 256 in the rig; legacy rings are split rings: powers of two.
    for (Case c : {Case{0, false}, Case{1, true}, Case{24, false}, Case{128, true}, Case{256, true}, Case{512, false},
                   Case{0x10000, false}, Case{0xffffffff, false}}) {
        CHECK_EQUAL(c.ok, accepted({.size = c.size}));
    }
}

TEST(LegacyMmio, QueuePfnOutsideGuestRamOrHuge) {
    // Below RAM, past its end, and the largest page number times the largest page size (the
    // ring's address just under 2^63): refused, never wrapped.
    const uint32_t ram_pfn = FakeGuestMemory::default_base / 4096;
    const uint32_t end_pfn = static_cast<uint32_t>((FakeGuestMemory::default_base + FakeGuestMemory::default_size) / 4096);
    CHECK_FALSE(accepted({.pfn = 1}));
    CHECK_FALSE(accepted({.pfn = ram_pfn - 1}));  // the used ring would be in RAM, the rest not
    CHECK_TRUE(accepted({.pfn = ram_pfn}));
    CHECK_TRUE(accepted({.pfn = end_pfn - 2}));   // the ring's last bytes at the end of RAM
    CHECK_FALSE(accepted({.pfn = end_pfn - 1}));
    CHECK_FALSE(accepted({.pfn = 0xffffffff}));
    VirtioRig rig(legacy_rig({.probe = false}));
    legacy_negotiation(rig, 0);
    rig.driver.write32(mmio::guest_page_size, 0x80000000);
    rig.driver.write32(mmio::queue_num, 16);
    rig.driver.write32(mmio::queue_pfn, 0xffffffff);
    CHECK_EQUAL(0u, rig.driver.read32(mmio::queue_pfn));
    CHECK_FALSE(rig.transport.queue(0).live());
    CHECK_TRUE(place_queue(rig, {}));
    rig.driver.driver_ok();
    rig.expect_works();
}

TEST(LegacyMmio, QueueLayoutChangesWhileInUseAreIgnored) {
    VirtioRig rig(legacy_rig());
    const uint32_t pfn = rig.driver.queue(0).pfn;
    rig.driver.write32(mmio::queue_sel, 0);
    rig.driver.write32(mmio::queue_num, 4);
    rig.driver.write32(mmio::queue_num, 1024);
    rig.driver.write32(mmio::queue_align, 64);
    rig.driver.write32(mmio::queue_pfn, pfn + 1);
    CHECK_EQUAL(pfn, rig.driver.read32(mmio::queue_pfn));
    CHECK_EQUAL(16, rig.transport.queue(0).size());
    CHECK_EQUAL(4u, rig.transport.stats().ignored_writes);
    rig.expect_works();
}

TEST(LegacyMmio, QueuePfnZeroReleasesTheQueueOnceItsRequestsAreDone) {
    VirtioRig rig(legacy_rig({.queues = 2}));
    rig.device.hold = true;
    rig.add({writable(rig.buffer(), 1)});
    rig.transport.service();
    rig.driver.write32(mmio::queue_sel, 0);
    CHECK_TRUE(rig.driver.write_raw(mmio::queue_pfn, 0).kind == MmioAnswer::Kind::retry);
    CHECK_TRUE(rig.driver.read32(mmio::queue_pfn) != 0);  // still in use
    rig.device.complete_held();
    CHECK_TRUE(rig.driver.write_raw(mmio::queue_pfn, 0).kind == MmioAnswer::Kind::done);
    CHECK_EQUAL(0u, rig.driver.read32(mmio::queue_pfn));
    CHECK_FALSE(rig.transport.queue(0).live());
    CHECK_EQUAL(1u, rig.transport.stats().queue_disable_retries);
    // A release of a queue not in use, or of no queue at all, is harmless.
    rig.driver.write32(mmio::queue_pfn, 0);
    rig.driver.write32(mmio::queue_sel, 7);
    rig.driver.write32(mmio::queue_pfn, 0);
    // The other queue maps its rings again; queue 0 can be placed again.
    rig.device.hold = false;
    rig.expect_works(1);
    CHECK_TRUE(rig.driver.setup_queue(0));
    rig.expect_works(0);
}

TEST(LegacyMmio, ResetClearsQueuesButKeepsTheGuestPageSize) {
    VirtioRig rig(legacy_rig({.probe = false}));
    legacy_negotiation(rig, 0);
    CHECK_TRUE(place_queue(rig, {.align = 64, .page_size = 16384}));
    rig.driver.write32(mmio::status, 0);
    CHECK_EQUAL(0u, rig.driver.read32(mmio::queue_pfn));
    CHECK_FALSE(rig.transport.queue(0).live());
    // Linux writes GuestPageSize once, before its first reset; the value must survive. A ring
    // block at a 16 KiB page number only lands where it should with the old page size.
    legacy_negotiation(rig, 0);
    const uint64_t block = rig.driver.alloc(2 * 16384, 16384);
    rig.driver.write32(mmio::queue_num, 16);
    rig.driver.write32(mmio::queue_pfn, static_cast<uint32_t>(block / 16384));
    CHECK_TRUE(rig.transport.queue(0).live());
    auto& dq = rig.driver.define_queue(0);
    dq.size = 16;
    dq.desc = block;
    dq.avail = block + 256;
    dq.used = block + 4096;  // QueueAlign is back to its default (64 would put it at 320)
    for (uint16_t i = 16; i > 0; --i) dq.free.push_back(static_cast<uint16_t>(i - 1));
    rig.driver.driver_ok();
    rig.expect_works();
}

TEST(LegacyMmio, RegistersOfVersion2AreNotThere) {
    VirtioRig rig(legacy_rig());
    const uint32_t status_before = rig.status();
    // QueueReady, the 64-bit area addresses, shared memory, QueueReset, ConfigGeneration.
    const uint32_t v2_only[] = {mmio::queue_ready,      mmio::queue_desc_low,  mmio::queue_desc_high,
                                mmio::queue_driver_low, mmio::queue_driver_high, mmio::queue_device_low,
                                mmio::queue_device_high, mmio::shm_sel,        mmio::queue_reset,
                                mmio::config_generation};
    for (uint32_t offset : v2_only) rig.driver.write32(offset, 0);  // QueueReady 0 would disable
    for (uint32_t offset : v2_only) CHECK_EQUAL(0u, rig.driver.read32(offset));
    for (uint32_t offset : {mmio::shm_len_low, mmio::shm_base_high}) CHECK_EQUAL(0u, rig.driver.read32(offset));
    CHECK_EQUAL(10u, rig.transport.stats().ignored_writes);
    CHECK_TRUE(rig.transport.queue(0).live());
    rig.transport.config_changed();
    CHECK_EQUAL(0u, rig.driver.read32(mmio::config_generation));
    rig.driver.handle_interrupt();
    CHECK_EQUAL(status_before, rig.status());
    rig.expect_works();
}

TEST(LegacyMmio, LegacyRegistersAreNotInVersion2) {
    VirtioRig rig;
    for (uint32_t offset : {mmio::guest_page_size, mmio::queue_align, mmio::queue_pfn}) {
        rig.driver.write32(offset, 1);
        CHECK_EQUAL(0u, rig.driver.read32(offset));
    }
    CHECK_EQUAL(3u, rig.transport.stats().ignored_writes);
    rig.expect_works();
}

TEST(LegacyMmio, ReadOnlyRegistersIgnoreWrites) {
    VirtioRig rig(legacy_rig());
    for (uint32_t offset : {mmio::magic_value, mmio::version, mmio::device_id, mmio::vendor_id, mmio::device_features,
                            mmio::queue_num_max, mmio::interrupt_status}) {
        rig.driver.write32(offset, 0x5a5a5a5a);
    }
    CHECK_EQUAL(1u, rig.driver.read32(mmio::version));
    CHECK_EQUAL(0u, rig.driver.read32(mmio::interrupt_status));
    CHECK_EQUAL(7u, rig.transport.stats().ignored_writes);
    rig.expect_works();
}

TEST(LegacyMmio, AccessesOfOtherWidthsOrOffsetsDoNothing) {
    VirtioRig rig(legacy_rig());
    const uint32_t pfn = rig.driver.queue(0).pfn;
    for (uint8_t size : {uint8_t{1}, uint8_t{2}, uint8_t{8}}) {
        CHECK_TRUE(rig.transport.write(mmio::queue_pfn, size, 0).kind == MmioAnswer::Kind::done);
        CHECK_TRUE(rig.transport.write(mmio::status, size, 0).kind == MmioAnswer::Kind::done);
        CHECK_EQUAL(0u, rig.transport.read(mmio::queue_pfn, size).value);
    }
    CHECK_TRUE(rig.transport.write(mmio::queue_pfn + 2, 4, 0).kind == MmioAnswer::Kind::done);
    CHECK_EQUAL(pfn, rig.driver.read32(mmio::queue_pfn));
    CHECK_EQUAL(10u, rig.transport.stats().bad_accesses);
    rig.expect_works();
}

TEST(LegacyMmio, InterruptAckClearsOnlyTheBitsWritten) {
    VirtioRig rig(legacy_rig());
    rig.expect_works();
    rig.transport.config_changed();
    CHECK_EQUAL(3u, rig.driver.read32(mmio::interrupt_status));
    rig.driver.write32(mmio::interrupt_ack, 0xfffffffc);
    CHECK_EQUAL(3u, rig.driver.read32(mmio::interrupt_status));
    rig.driver.write32(mmio::interrupt_ack, mmio::interrupt_used_buffer);
    CHECK_EQUAL(2u, rig.driver.read32(mmio::interrupt_status));
    rig.driver.write32(mmio::interrupt_ack, mmio::interrupt_used_buffer);
    CHECK_EQUAL(2u, rig.driver.read32(mmio::interrupt_status));
    rig.driver.write32(mmio::interrupt_ack, 3);
    CHECK_EQUAL(0u, rig.driver.read32(mmio::interrupt_status));
    rig.expect_works();
}

TEST(LegacyMmio, ConfigurationSpaceByBytes) {
    // Linux's legacy vm_get reads the configuration byte by byte.
    VirtioRig rig(legacy_rig());
    for (uint8_t i = 0; i < 24; ++i) rig.device.config[i] = static_cast<uint8_t>(0x30 + i);
    for (uint32_t i = 0; i < 24; ++i) CHECK_EQUAL(0x30u + i, rig.driver.read_config(i, 1));
    CHECK_EQUAL(0x37363534u, rig.driver.read_config(4, 4));
}

TEST(LegacyMmio, GrantAddressesAreRefused) {
    // No ACCESS_PLATFORM: bit 63 is just an address far outside guest RAM.
    VirtioRig rig(legacy_rig());
    const uint64_t data = rig.driver.alloc(4096, 4096);
    const uint64_t grant = rig.memory.grant(data, 16, false);
    rig.add({readable(grant, 16), writable(rig.buffer(), 1)});
    rig.transport.service();
    CHECK_TRUE(rig.device.chains.back().fault == ChainFault::grant_not_negotiated);
    CHECK_EQUAL(1u, rig.driver.take_used(0).size());
    rig.expect_works();
    // An indirect table at a grant address cannot be read at all.
    const uint64_t table = rig.driver.alloc(16, 4096);
    rig.table_entry(table, rig.buffer(), 1, true);
    rig.add_raw(rig.memory.grant(table, 16, true), 16, desc_flags::indirect);
    rig.driver.kick(0);
    expect_ring_fault(rig, RingFault::indirect_unmappable);
}

TEST(LegacyMmio, GrantAddressesStillWorkOnVersion2) {
    VirtioRig rig;
    const uint64_t data = rig.driver.alloc(4096, 4096);
    rig.add({readable(rig.memory.grant(data, 16, false), 16), writable(rig.buffer(), 1)});
    rig.transport.service();
    CHECK_TRUE(rig.device.chains.back().fault == ChainFault::none);
}

TEST(LegacyMmio, BrokenRingSetsNeedsResetAndAResetRecovers) {
    // A legacy driver cannot read DEVICE_NEEDS_RESET, but the device stops using the queue, and
    // a reset (status 0, as on a driver rebind) brings it back.
    VirtioRig rig(legacy_rig());
    rig.driver.write_desc(0, 0, rig.buffer(), 8, desc_flags::next, 0);
    rig.driver.publish(0, 0);
    rig.driver.kick(0);
    expect_ring_fault(rig, RingFault::descriptor_loop);
}
