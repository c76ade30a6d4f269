// Packed virtqueues from the device side (virtio 1.2 section 2.8), driven through the real
// virtio-mmio transport by a fake driver that lays them out as Linux's virtio_ring.c does:
// sizes that are not powers of two, lists in ring order with the Buffer ID in their last
// descriptor, used descriptors written over the first free slot and the rest skipped, wrap
// counters across laps, out-of-order completion, the first used descriptor of a pass made
// visible last, indirect tables of packed descriptors, and both event suppression structures
// (interrupts by the driver's, notifications by ours: the zero-trap path).
//
// Hostile rings: Buffer IDs out of range or reused while in flight, lists longer than the ring,
// descriptors available beyond what the driver can have made available, AVAIL/USED flags no
// driver writes, indirect descriptors where section 2.8.19 forbids them; each ends in
// DEVICE_NEEDS_RESET and a reset brings the queue back. What applies to every ring format
// (addresses, lengths, byte totals, tables outside RAM, ...) is in split_ring_test.cpp's
// Rings group, which runs for packed rings too.
#include "tests/test_support.h"

#include <algorithm>
#include <map>
#include <random>

#include "tests/virtio/virtio_rig.h"

using namespace domd;
using namespace domd::virtio;
using namespace domd::test;

namespace {

constexpr uint64_t packed_features = ring_features | features::ring_packed;

RigOptions packed_rig(RigOptions options = {}) {
    options.wanted |= features::ring_packed;
    return options;
}

PackedDesc desc(uint64_t addr, uint32_t len, uint16_t id, uint16_t flags) { return {addr, len, id, flags}; }

constexpr uint16_t used_flags(bool wrap) { return wrap ? packed::desc_f_avail | packed::desc_f_used : 0; }

// Sets up queue 0 of a packed device by hand, with this size and these area addresses.
bool packed_queue_accepted(uint32_t size, uint64_t desc_offset, uint64_t driver_offset, uint64_t device_offset,
                           uint16_t max_size = 1024) {
    VirtioRig rig(packed_rig({.max_size = max_size, .probe = false}));
    CHECK_TRUE(rig.driver.negotiate(packed_features));
    const uint64_t area = rig.driver.alloc(16 * 1024 + 2 * 4096, 4096);
    rig.driver.write32(mmio::queue_num, size);
    rig.driver.write32(mmio::queue_desc_low, static_cast<uint32_t>(area + desc_offset));
    rig.driver.write32(mmio::queue_driver_low, static_cast<uint32_t>(area + 16 * 1024 + driver_offset));
    rig.driver.write32(mmio::queue_device_low, static_cast<uint32_t>(area + 16 * 1024 + 4096 + device_offset));
    rig.driver.write32(mmio::queue_ready, 1);
    const bool live = rig.driver.read32(mmio::queue_ready) == 1;
    CHECK_EQUAL(live, rig.transport.queue(0).live());
    if (live) CHECK_TRUE(rig.transport.queue(0).format() == RingFormat::packed);
    return live;
}

}  // namespace

TEST_GROUP(PackedRing) {};

TEST(PackedRing, NegotiatedOnlyWhenWanted) {
    VirtioRig split;
    CHECK_FALSE(split.packed());
    CHECK_TRUE(split.transport.queue(0).format() == RingFormat::split);
    VirtioRig packed(packed_rig());
    CHECK_TRUE(packed.packed());
    CHECK_TRUE(packed.transport.queue(0).format() == RingFormat::packed);
    packed.expect_works();
}

TEST(PackedRing, QueueSizeNeedNotBeAPowerOfTwo) {
    struct Case {
        uint32_t size;
        bool ok;
    };
    for (Case c : {Case{0, false}, Case{1, true}, Case{3, true}, Case{5, true}, Case{100, true}, Case{1023, true},
                   Case{1024, true}, Case{1025, false}, Case{0x8000, false}, Case{0x10003, false}}) {
        CHECK_EQUAL(c.ok, packed_queue_accepted(c.size, 0, 0, 0));
    }
    // QueueNumMax bounds it as for split rings.
    CHECK_TRUE(packed_queue_accepted(100, 0, 0, 0, 100));
    CHECK_FALSE(packed_queue_accepted(101, 0, 0, 0, 100));
}

TEST(PackedRing, AreaAlignments) {
    // Section 2.8.10.1: descriptor ring 16, both event suppression structures 4.
    CHECK_TRUE(packed_queue_accepted(16, 0, 0, 0));
    CHECK_FALSE(packed_queue_accepted(16, 8, 0, 0));
    CHECK_TRUE(packed_queue_accepted(16, 16, 0, 0));
    CHECK_FALSE(packed_queue_accepted(16, 0, 2, 0));
    CHECK_TRUE(packed_queue_accepted(16, 0, 4, 0));
    CHECK_FALSE(packed_queue_accepted(16, 0, 0, 2));
    CHECK_TRUE(packed_queue_accepted(16, 0, 0, 4));
}

TEST(PackedRing, ListInRingOrderWithTheIdOfItsLastDescriptor) {
    VirtioRig rig(packed_rig());
    const uint64_t a = rig.buffer(), b = rig.buffer(), c = rig.buffer();
    // Linux puts the ID in every descriptor; the spec only in the last one: make them differ.
    rig.driver.add_packed_raw(0, {desc(a, 16, 9, desc_flags::next), desc(b, 32, 9, desc_flags::next | desc_flags::write),
                                  desc(c, 1, 5, desc_flags::write)});
    rig.driver.kick(0);
    rig.transport.service();
    const Chain& chain = rig.device.chains.back();
    CHECK_EQUAL(5, chain.token.id);
    CHECK_EQUAL(3, chain.token.slots);
    CHECK_EQUAL(3, chain.count);
    CHECK_EQUAL(1, chain.readable_count);
    CHECK_EQUAL(33u, chain.writable_bytes);
    CHECK_EQUAL(c, chain.status_byte.addr);
    // The used descriptor goes over the list's first slot; the other two are skipped.
    const PackedDesc used = rig.driver.read_packed(0, 0);
    CHECK_EQUAL(5, used.id);
    CHECK_EQUAL(33u, used.len);
    CHECK_EQUAL(used_flags(true) | desc_flags::write, used.flags);
    CHECK_EQUAL(a, used.addr);  // unused in a used descriptor: left alone
    auto taken = rig.driver.take_used(0);
    CHECK_EQUAL(1u, taken.size());
    CHECK_EQUAL(3, rig.driver.queue(0).last_used);
    rig.expect_works();
}

TEST(PackedRing, UsedDescriptorWithoutDataHasNoWriteFlag) {
    VirtioRig rig(packed_rig());
    rig.device.hold = true;
    rig.add({writable(rig.buffer(), 1)});
    rig.transport.service();
    rig.device.held[0].written = 0;
    rig.device.complete_held();
    rig.transport.service();
    CHECK_EQUAL(used_flags(true), rig.driver.read_packed(0, 0).flags);
    CHECK_EQUAL(0u, rig.driver.read_packed(0, 0).len);
}

TEST(PackedRing, ListsRunAroundARingOfOddSizeForManyLaps) {
    // Size 5: lists of 1 to 3 slots wrap at every position; each lap flips both counters.
    VirtioRig rig(packed_rig({.queue_size = 5}));
    const uint64_t data = rig.buffer(256);
    uint32_t total_slots = 0;
    for (int i = 0; i < 40; ++i) {
        const size_t n = 1 + i % 3;
        std::vector<FakeVirtioDriver::Buffer> buffers;
        for (size_t k = 0; k + 1 < n; ++k) buffers.push_back(readable(data + 8 * k, 8));
        buffers.push_back(writable(data + 100 + i, 1));
        const uint16_t id = rig.add(buffers);
        rig.transport.service();
        auto used = rig.driver.take_used(0);
        CHECK_EQUAL(1u, used.size());
        CHECK_EQUAL(id, used[0].id);
        CHECK_EQUAL(n, rig.device.chains.back().count);
        total_slots += static_cast<uint32_t>(n);
    }
    CHECK_FALSE(rig.needs_reset());
    CHECK_EQUAL(total_slots % 5, rig.driver.queue(0).next_avail);
    CHECK_EQUAL((total_slots / 5) % 2 == 0, rig.driver.queue(0).avail_wrap);
    CHECK_EQUAL(rig.driver.queue(0).next_avail, rig.driver.queue(0).last_used);
}

TEST(PackedRing, OutOfOrderCompletionSkipsByEachListsLength) {
    VirtioRig rig(packed_rig({.queue_size = 8}));
    rig.device.hold = true;
    const uint64_t d = rig.buffer(64);
    const uint16_t a = rig.add({writable(d, 1)});                                        // slot 0
    const uint16_t b = rig.add({readable(d, 8), readable(d + 8, 8), writable(d + 16, 2)});  // slots 1-3
    const uint16_t c = rig.add({readable(d, 8), writable(d + 24, 3)});                   // slots 4-5
    rig.transport.service();
    CHECK_EQUAL(3u, rig.device.held.size());
    // Completed c, a, b: used descriptors at slots 0 (c, skips 2), 2 (a, skips 1), 3 (b, skips 3).
    std::swap(rig.device.held[0], rig.device.held[2]);  // c, b, a
    std::swap(rig.device.held[1], rig.device.held[2]);  // c, a, b
    rig.device.complete_held();
    rig.transport.service();
    CHECK_EQUAL(c, rig.driver.read_packed(0, 0).id);
    CHECK_EQUAL(a, rig.driver.read_packed(0, 2).id);
    CHECK_EQUAL(b, rig.driver.read_packed(0, 3).id);
    auto used = rig.driver.take_used(0);
    CHECK_EQUAL(3u, used.size());
    CHECK_EQUAL(c, used[0].id);
    CHECK_EQUAL(3u, used[0].len);
    CHECK_EQUAL(a, used[1].id);
    CHECK_EQUAL(b, used[2].id);
    CHECK_EQUAL(2u, used[2].len);
    CHECK_EQUAL(6, rig.driver.queue(0).last_used);
    // The ring goes on from there, over the wrap.
    rig.device.hold = false;
    for (int i = 0; i < 6; ++i) rig.expect_works();
}

TEST(PackedRing, FirstUsedDescriptorOfAPassIsMadeVisibleLast) {
    VirtioRig rig(packed_rig());
    rig.device.hold = true;
    for (int i = 0; i < 3; ++i) rig.add({writable(rig.buffer(), 1)});
    rig.transport.service();
    rig.device.complete_held();
    // Completed but not published: slots 1 and 2 are written, slot 0's flags still say
    // "available", so a driver reading in ring order sees none of them yet.
    CHECK_EQUAL(used_flags(true) | desc_flags::write, rig.driver.read_packed(0, 1).flags);
    CHECK_EQUAL(used_flags(true) | desc_flags::write, rig.driver.read_packed(0, 2).flags);
    CHECK_EQUAL(packed::desc_f_avail | desc_flags::write, rig.driver.read_packed(0, 0).flags);
    CHECK_FALSE(rig.driver.has_used(0));
    CHECK_TRUE(rig.transport.needs_service());
    rig.transport.service();
    CHECK_TRUE(rig.driver.has_used(0));
    CHECK_EQUAL(3u, rig.driver.take_used(0).size());
    CHECK_EQUAL(1, rig.interrupt.count);
}

TEST(PackedRing, PendingUsedDescriptorSurvivesARemap) {
    VirtioRig rig(packed_rig());
    rig.device.hold = true;
    rig.add({writable(rig.buffer(), 1)});
    rig.add({writable(rig.buffer(), 1)});
    rig.transport.service();
    rig.device.complete_held();
    rig.memory.bump_generation();  // the ring pointer the used descriptors went through is gone
    rig.transport.service();       // publishes through a fresh mapping (the old one would fault)
    CHECK_EQUAL(2u, rig.driver.take_used(0).size());
    rig.device.hold = false;
    rig.expect_works();
}

TEST(PackedRing, IndirectTableOfPackedDescriptors) {
    VirtioRig rig(packed_rig());
    const uint64_t a = rig.buffer(), b = rig.buffer(), c = rig.buffer();
    const uint16_t id = rig.add({readable(a, 16), writable(b, 512), writable(c, 1)}, true);
    rig.transport.service();
    const Chain& chain = rig.device.chains.back();
    CHECK_EQUAL(id, chain.token.id);
    CHECK_EQUAL(1, chain.token.slots);
    CHECK_EQUAL(3, chain.count);
    CHECK_EQUAL(513u, chain.writable_bytes);
    CHECK_EQUAL(1u, rig.driver.take_used(0).size());
    CHECK_EQUAL(1, rig.driver.queue(0).last_used);
}

TEST(PackedRing, IndirectEntriesFollowOneAnotherWhateverTheirOtherFlags) {
    // Section 2.8.7: WRITE is the only valid flag in a table; NEXT, INDIRECT and the ID are
    // ignored, so no walk through them (no loop, no nesting) happens.
    VirtioRig rig(packed_rig());
    const uint64_t table = rig.driver.alloc(48, 16);
    const uint64_t a = rig.buffer(), b = rig.buffer();
    rig.memory.write(table, desc(a, 8, 77, desc_flags::next | desc_flags::indirect));
    rig.memory.write(table + 16, desc(a + 8, 8, 0xffff, desc_flags::next));
    rig.memory.write(table + 32, desc(b, 1, 3, desc_flags::write | desc_flags::next | packed::desc_f_used));
    // WRITE on the indirect descriptor itself is ignored too.
    rig.driver.add_packed_raw(0, {desc(table, 48, 2, desc_flags::indirect | desc_flags::write)});
    rig.driver.kick(0);
    rig.transport.service();
    const Chain& chain = rig.device.chains.back();
    CHECK_TRUE(chain.fault == ChainFault::none);
    CHECK_EQUAL(3, chain.count);
    CHECK_EQUAL(2, chain.readable_count);
    CHECK_EQUAL(b, chain.status_byte.addr);
    CHECK_EQUAL(2, chain.token.id);
    CHECK_FALSE(rig.needs_reset());
    CHECK_EQUAL(1u, rig.driver.take_used(0).size());
}

TEST(PackedRing, IndirectWithNextNeedsReset) {
    VirtioRig rig(packed_rig());
    const uint64_t table = rig.driver.alloc(16, 16);
    rig.table_entry(table, rig.buffer(), 1, true);
    rig.driver.add_packed_raw(0, {desc(table, 16, 0, desc_flags::indirect | desc_flags::next),
                                  desc(rig.buffer(), 1, 0, desc_flags::write)});
    rig.driver.kick(0);
    expect_ring_fault(rig, RingFault::indirect_with_next);
}

TEST(PackedRing, IndirectInsideAListNeedsReset) {
    // Section 2.8.19: unlike a split ring, no indirect descriptor in a list linked by NEXT.
    VirtioRig rig(packed_rig());
    const uint64_t table = rig.driver.alloc(16, 16);
    rig.table_entry(table, rig.buffer(), 1, true);
    rig.driver.add_packed_raw(0, {desc(rig.buffer(), 16, 0, desc_flags::next), desc(table, 16, 0, desc_flags::indirect)});
    rig.driver.kick(0);
    expect_ring_fault(rig, RingFault::indirect_with_next);
}

TEST(PackedRing, BufferIdMustBeBelowTheQueueSize) {
    for (uint16_t id : {uint16_t{15}, uint16_t{16}, uint16_t{17}, uint16_t{0xffff}}) {
        VirtioRig rig(packed_rig({.queue_size = 16}));
        rig.driver.add_packed_raw(0, {desc(rig.buffer(), 8, 0, desc_flags::next), desc(rig.buffer(), 1, id, desc_flags::write)});
        rig.driver.kick(0);
        if (id < 16) {
            rig.transport.service();
            CHECK_EQUAL(1u, rig.device.chains.size());
            CHECK_EQUAL(id, rig.driver.take_used(0).at(0).id);
            rig.expect_works();
        } else {
            expect_ring_fault(rig, RingFault::id_out_of_range);
        }
    }
}

TEST(PackedRing, BufferIdInFlightMustNotBeReused) {
    VirtioRig rig(packed_rig());
    rig.device.hold = true;
    rig.driver.add_packed_raw(0, {desc(rig.buffer(), 1, 3, desc_flags::write)});
    rig.driver.kick(0);
    rig.transport.service();
    CHECK_EQUAL(1u, rig.device.held.size());
    // Another ID is fine while 3 is held.
    rig.driver.add_packed_raw(0, {desc(rig.buffer(), 1, 4, desc_flags::write)});
    rig.driver.kick(0);
    rig.transport.service();
    CHECK_EQUAL(2u, rig.device.held.size());
    rig.device.complete_held();
    rig.transport.service();
    CHECK_EQUAL(2u, rig.driver.take_used(0).size());
    // Once given back, 3 may be used again.
    rig.driver.add_packed_raw(0, {desc(rig.buffer(), 1, 3, desc_flags::write)});
    rig.driver.kick(0);
    rig.transport.service();
    CHECK_EQUAL(1u, rig.device.held.size());
    // But not while it is in flight.
    rig.driver.add_packed_raw(0, {desc(rig.buffer(), 1, 3, desc_flags::write)});
    rig.driver.kick(0);
    const size_t chains = rig.device.chains.size();
    rig.transport.service();
    CHECK_EQUAL(chains, rig.device.chains.size());
    CHECK_TRUE(rig.needs_reset());
    CHECK_EQUAL(1u, ring_faults(rig, RingFault::id_in_use));
    // The held request completes (nothing is written: the queue is broken) and a reset recovers.
    rig.device.complete_held();
    rig.device.hold = false;
    rig.expect_works_after_reset();
}

TEST(PackedRing, ListAsLongAsTheRingIsFineOneLongerIsALoop) {
    for (uint16_t extra : {uint16_t{0}, uint16_t{1}}) {
        VirtioRig rig(packed_rig({.queue_size = 4}));
        const uint64_t a = rig.buffer();
        // Four descriptors: the last one ends the list, or (extra) points on to the first slot,
        // which in the next lap is not available: a list that runs around the whole ring.
        std::vector<PackedDesc> list;
        for (int i = 0; i < 3; ++i) list.push_back(desc(a, 8, 0, desc_flags::next));
        list.push_back(desc(a, 1, 0, extra ? uint16_t(desc_flags::write | desc_flags::next) : desc_flags::write));
        rig.driver.add_packed_raw(0, list);
        rig.driver.kick(0);
        if (extra == 0) {
            rig.transport.service();
            CHECK_EQUAL(4, rig.device.chains.back().token.slots);
            CHECK_EQUAL(1u, rig.driver.take_used(0).size());
            rig.expect_works();
        } else {
            expect_ring_fault(rig, RingFault::descriptor_loop);
        }
    }
}

TEST(PackedRing, AvailableBeyondWhatTheDriverCanHaveMadeAvailable) {
    // Three of four slots are in flight; the driver "makes available" two more, the second
    // over slot 0, which it has not been given back.
    VirtioRig rig(packed_rig({.queue_size = 4}));
    rig.device.hold = true;
    const uint64_t a = rig.buffer();
    rig.add({readable(a, 8), readable(a, 8), writable(a, 1)});
    rig.transport.service();
    CHECK_EQUAL(1u, rig.device.held.size());
    auto& q = rig.driver.queue(0);
    // Slot 3 in lap 1, then slot 0 in lap 0 (the driver's counter flipped after slot 3).
    rig.driver.write_packed(0, 0, desc(a, 1, 1, desc_flags::write | packed::desc_f_used));
    rig.driver.write_packed(0, 3, desc(a, 8, 1, desc_flags::next | packed::desc_f_avail));
    q.next_avail = 1;
    q.avail_wrap = false;
    rig.driver.write32(mmio::queue_notify, 0);
    rig.transport.service();
    CHECK_TRUE(rig.needs_reset());
    CHECK_EQUAL(1u, ring_faults(rig, RingFault::avail_overrun));
    rig.device.complete_held();
    rig.device.hold = false;
    rig.expect_works_after_reset();
}

TEST(PackedRing, NothingMayBeAvailableWhileEverySlotIsInFlight) {
    VirtioRig rig(packed_rig({.queue_size = 2}));
    rig.device.hold = true;
    const uint64_t a = rig.buffer();
    rig.add({readable(a, 8), writable(a, 1)});
    rig.transport.service();
    CHECK_FALSE(rig.transport.needs_service());  // slot 0 in lap 0 still holds lap 1's flags
    // The driver writes slot 0 as available in lap 0 although we hold it.
    rig.driver.write_packed(0, 0, desc(a, 1, 1, desc_flags::write | packed::desc_f_used));
    rig.driver.write32(mmio::queue_notify, 0);
    rig.transport.service();
    CHECK_EQUAL(1u, ring_faults(rig, RingFault::avail_overrun));
    rig.device.complete_held();
    rig.device.hold = false;
    rig.expect_works_after_reset();
}

TEST(PackedRing, HeadFlaggedUsedInTheCurrentLapNeedsReset) {
    VirtioRig rig(packed_rig());
    // AVAIL and USED both set in lap 1: a used descriptor we never wrote.
    rig.driver.write_packed(0, 0, desc(rig.buffer(), 1, 0, desc_flags::write | packed::desc_f_avail | packed::desc_f_used));
    rig.driver.write32(mmio::queue_notify, 0);
    expect_ring_fault(rig, RingFault::flags_inconsistent);
}

TEST(PackedRing, EveryDescriptorOfAListMustBeAvailableInItsLap) {
    struct Case {
        uint16_t second_flags;  // AVAIL/USED bits of the list's second descriptor
        bool ok;
    };
    for (Case c : {Case{packed::desc_f_avail, true}, Case{0, false}, Case{packed::desc_f_used, false},
                   Case{packed::desc_f_avail | packed::desc_f_used, false}}) {
        VirtioRig rig(packed_rig());
        const uint64_t a = rig.buffer();
        rig.driver.add_packed_raw(0, {desc(a, 16, 0, desc_flags::next | packed::desc_f_avail),
                                      desc(a + 16, 1, 0, desc_flags::write | c.second_flags)},
                                  true);
        rig.driver.kick(0);
        if (c.ok) {
            rig.transport.service();
            CHECK_EQUAL(2, rig.device.chains.back().count);
            CHECK_EQUAL(1u, rig.driver.take_used(0).size());
            rig.expect_works();
        } else {
            expect_ring_fault(rig, RingFault::flags_inconsistent);
        }
    }
}

TEST(PackedRing, StaleSlotsOfAnEarlierLapAreNotAvailable) {
    // After a lap the ring holds used descriptors (AVAIL == USED == 1) and skipped list slots
    // (AVAIL 1, USED 0); in lap 0 neither is available.
    VirtioRig rig(packed_rig({.queue_size = 4}));
    const uint64_t a = rig.buffer();
    rig.add({readable(a, 8), readable(a, 8), writable(a, 1)});
    rig.transport.service();
    rig.add({writable(a, 1)});
    rig.transport.service();
    CHECK_EQUAL(2u, rig.driver.take_used(0).size());
    CHECK_FALSE(rig.driver.queue(0).avail_wrap);
    CHECK_FALSE(rig.transport.needs_service());
    rig.transport.set_polling(true);
    CHECK_FALSE(rig.transport.needs_service());
    CHECK_FALSE(rig.transport.service());
    CHECK_FALSE(rig.needs_reset());
    rig.expect_works();
}

TEST(PackedRing, DriverEventFlagsDecideInterrupts) {
    VirtioRig rig(packed_rig({.wanted = features::version_1}));
    CHECK_FALSE(rig.driver.has(features::ring_event_idx));
    // RING_EVENT_FLAGS_ENABLE (the zeroed structure): an interrupt per pass.
    rig.add({writable(rig.buffer(), 1)});
    rig.transport.service();
    CHECK_EQUAL(1, rig.interrupt.count);
    rig.driver.handle_interrupt();
    rig.driver.take_used(0);
    // DISABLE: none.
    rig.driver.set_driver_event(0, packed::event_flags_disable, 0);
    rig.add({writable(rig.buffer(), 1)});
    rig.transport.service();
    CHECK_EQUAL(1, rig.interrupt.count);
    CHECK_EQUAL(1u, rig.transport.queue(0).stats().interrupts_suppressed);
    CHECK_EQUAL(1u, rig.driver.take_used(0).size());
    // DESC without EVENT_IDX is not valid (section 2.8.10), and the reserved value 3 means
    // nothing: both get interrupts, so a confused driver is not left waiting.
    for (uint16_t flags : {packed::event_flags_desc, uint16_t{3}}) {
        rig.driver.set_driver_event(0, flags, 0x7fff);
        rig.add({writable(rig.buffer(), 1)});
        rig.transport.service();
        rig.driver.handle_interrupt();
        rig.driver.take_used(0);
    }
    CHECK_EQUAL(3, rig.interrupt.count);
}

TEST(PackedRing, DriverEventDescriptorWithEventIdx) {
    VirtioRig rig(packed_rig({.queue_size = 8}));
    CHECK_TRUE(rig.driver.has(features::ring_event_idx));
    auto one = [&] {
        rig.add({writable(rig.buffer(), 1)});
        rig.transport.service();
    };
    // The event at slot 2 of lap 1: slots 0 and 1 do not reach it, slot 2 does.
    rig.driver.set_driver_event(0, packed::event_flags_desc, packed::event_wrap_bit | 2);
    one();
    one();
    CHECK_EQUAL(0, rig.interrupt.count);
    one();
    CHECK_EQUAL(1, rig.interrupt.count);
    rig.driver.handle_interrupt();
    one();  // slot 3: the event is behind
    CHECK_EQUAL(1, rig.interrupt.count);
    CHECK_EQUAL(4u, rig.driver.take_used(0, false).size());
    // An event in the next lap (slot 1, wrap 0) is not reached by slots 4 to 7 of lap 1...
    rig.driver.set_driver_event(0, packed::event_flags_desc, 1);
    for (int i = 0; i < 4; ++i) one();
    CHECK_EQUAL(1, rig.interrupt.count);
    CHECK_EQUAL(4u, rig.driver.take_used(0, false).size());
    // ... nor by slot 0 of lap 0, and it is by slot 1.
    one();
    CHECK_EQUAL(1, rig.interrupt.count);
    one();
    CHECK_EQUAL(2, rig.interrupt.count);
    rig.driver.handle_interrupt();
    // A pass whose used slots jump over the event (a 3-slot list at slots 2-4, event at 3).
    CHECK_EQUAL(2u, rig.driver.take_used(0, false).size());
    rig.driver.set_driver_event(0, packed::event_flags_desc, 3);
    const uint64_t a = rig.buffer();
    rig.add({readable(a, 8), readable(a, 8), writable(a, 1)});
    rig.transport.service();
    CHECK_EQUAL(3, rig.interrupt.count);
    // Linux's re-arm after its callback: an event at the next used slot (5, lap 0).
    rig.driver.handle_interrupt();
    rig.driver.take_used(0);
    const uint64_t driver_area = rig.driver.queue(0).avail;
    CHECK_EQUAL(packed::event_flags_desc, rig.memory.read<uint16_t>(driver_area + packed::event_flags_offset));
    CHECK_EQUAL(5, rig.memory.read<uint16_t>(driver_area + packed::event_off_wrap_offset));
    one();
    CHECK_EQUAL(4, rig.interrupt.count);
}

TEST(PackedRing, DriverEventAcrossTheWrapInOnePass) {
    // Used slots 6, 7 (lap 1) and 0, 1 (lap 0) in one pass; events on either side are seen.
    struct Case {
        uint16_t off_wrap;
        bool interrupt;
    };
    for (Case c : {Case{uint16_t(packed::event_wrap_bit | 6), true}, Case{uint16_t(packed::event_wrap_bit | 7), true},
                   Case{0, true}, Case{1, true}, Case{2, false}, Case{uint16_t(packed::event_wrap_bit | 5), false}}) {
        VirtioRig rig(packed_rig({.queue_size = 8}));
        const uint64_t a = rig.buffer();
        for (int i = 0; i < 6; ++i) {
            rig.add({writable(a, 1)});
            rig.transport.service();
        }
        rig.driver.take_used(0, false);
        rig.driver.handle_interrupt();
        rig.device.hold = true;
        for (int i = 0; i < 4; ++i) rig.add({writable(a, 1)});
        rig.transport.service();
        rig.device.complete_held();
        rig.driver.set_driver_event(0, packed::event_flags_desc, c.off_wrap);
        const int before = rig.interrupt.count;
        rig.transport.service();
        CHECK_EQUAL(c.interrupt ? before + 1 : before, rig.interrupt.count);
        CHECK_EQUAL(4u, rig.driver.take_used(0).size());
    }
}

TEST(PackedRing, PollingDisablesNotificationsInTheDeviceArea) {
    for (uint64_t wanted : {packed_features, features::version_1 | features::ring_packed}) {
        VirtioRig rig(packed_rig({.wanted = wanted}));
        CHECK_EQUAL(packed::event_flags_enable, rig.driver.device_event_flags(0));
        rig.transport.set_polling(true);
        CHECK_EQUAL(packed::event_flags_disable, rig.driver.device_event_flags(0));
        for (int i = 0; i < 20; ++i) {
            rig.driver.add(0, {writable(rig.buffer(), 1)});
            CHECK_FALSE(rig.driver.kick(0));
            CHECK_TRUE(rig.transport.needs_service());
            rig.transport.service();
            CHECK_EQUAL(1u, rig.driver.take_used(0).size());
        }
        CHECK_EQUAL(0u, rig.transport.queue(0).stats().kicks);
        // A guest that overwrites our area gets the value back on the next pass.
        rig.driver.add(0, {writable(rig.buffer(), 1)});
        rig.memory.write<uint16_t>(rig.driver.queue(0).used + packed::event_flags_offset, packed::event_flags_enable);
        rig.transport.service();
        CHECK_EQUAL(packed::event_flags_disable, rig.driver.device_event_flags(0));
        rig.driver.take_used(0);
        // Before sleeping: ENABLE, or with EVENT_IDX a descriptor event at our next slot.
        CHECK_FALSE(rig.transport.prepare_to_sleep());
        const auto& q = rig.driver.queue(0);
        if (rig.driver.has(features::ring_event_idx)) {
            CHECK_EQUAL(packed::event_flags_desc, rig.driver.device_event_flags(0));
            CHECK_EQUAL(q.next_avail | (q.avail_wrap ? packed::event_wrap_bit : 0), rig.driver.device_event_off_wrap(0));
        } else {
            CHECK_EQUAL(packed::event_flags_enable, rig.driver.device_event_flags(0));
        }
        rig.driver.add(0, {writable(rig.buffer(), 1)});
        CHECK_TRUE(rig.driver.kick(0));
    }
}

TEST(PackedRing, DescriptorEventSparesRepeatedNotifications) {
    // With EVENT_IDX the driver notifies once for the slot we wait at; what it adds before we
    // have looked needs no second notification (Linux's vring_need_event on the packed ring).
    VirtioRig rig(packed_rig());
    rig.transport.set_polling(true);
    CHECK_FALSE(rig.transport.prepare_to_sleep());
    rig.driver.add(0, {writable(rig.buffer(), 1)});
    CHECK_TRUE(rig.driver.kick(0));
    rig.driver.add(0, {writable(rig.buffer(), 1)});
    CHECK_FALSE(rig.driver.kick(0));
    rig.transport.service();
    CHECK_EQUAL(2u, rig.driver.take_used(0).size());
}

TEST(PackedRing, NotifyModeReenablesAtTheNextSlotAfterEachPass) {
    VirtioRig rig(packed_rig({.queue_size = 4}));
    for (int i = 0; i < 10; ++i) {
        rig.add({writable(rig.buffer(), 1)});
        CHECK_EQUAL(1u, rig.transport.queue(0).stats().kicks - i);
        rig.transport.service();
        const auto& q = rig.driver.queue(0);
        CHECK_EQUAL(q.next_avail | (q.avail_wrap ? packed::event_wrap_bit : 0), rig.driver.device_event_off_wrap(0));
        CHECK_EQUAL(1u, rig.driver.take_used(0).size());
    }
}

TEST(PackedRing, RandomListsAndCompletionOrderOverManyLaps) {
    // A property test: lists of random lengths (direct and indirect), completed in random
    // order, over many laps of a ring whose size is not a power of two. Every buffer comes back
    // once, with its ID and length, and the ring never looks broken.
    std::mt19937 random(12345);
    for (uint16_t size : {uint16_t{7}, uint16_t{13}, uint16_t{64}}) {
        VirtioRig rig(packed_rig({.queue_size = size}));
        rig.device.hold = true;
        const uint64_t data = rig.buffer(4096);
        std::map<uint16_t, uint32_t> expected;  // ID in flight -> bytes
        uint64_t completed = 0;
        for (int round = 0; round < 300; ++round) {
            const auto& q = rig.driver.queue(0);
            const int adds = static_cast<int>(random() % 4);
            for (int i = 0; i < adds; ++i) {
                const bool indirect = random() % 3 == 0;
                const size_t n = 1 + random() % 4;
                if (q.free_ids.empty() || q.num_free < (indirect ? 1 : n)) break;
                std::vector<FakeVirtioDriver::Buffer> buffers;
                for (size_t k = 0; k + 1 < n; ++k) buffers.push_back(readable(data + 16 * k, 16));
                const uint32_t len = 1 + static_cast<uint32_t>(random() % 100);
                buffers.push_back(writable(data + 1024, len));
                const uint16_t id = rig.driver.add(0, buffers, indirect);
                CHECK_TRUE(expected.find(id) == expected.end());
                expected[id] = len;
            }
            rig.driver.kick(0);
            rig.transport.service();
            std::shuffle(rig.device.held.begin(), rig.device.held.end(), random);
            const size_t finish = rig.device.held.empty() ? 0 : random() % (rig.device.held.size() + 1);
            for (size_t i = 0; i < finish; ++i) {
                const auto& h = rig.device.held.back();
                h.queue->push(h.token, h.written);
                rig.device.held.pop_back();
            }
            rig.transport.service();
            for (const VirtqUsedElem& e : rig.driver.take_used(0)) {
                auto it = expected.find(static_cast<uint16_t>(e.id));
                CHECK_TRUE(it != expected.end());
                CHECK_EQUAL(it->second, e.len);
                expected.erase(it);
                ++completed;
            }
            CHECK_FALSE(rig.needs_reset());
        }
        rig.device.complete_held();
        rig.transport.service();
        completed += rig.driver.take_used(0).size();
        CHECK_EQUAL(0u, rig.driver.queue(0).unknown_ids);
        CHECK_TRUE(completed > 3u * size);  // many laps
        CHECK_EQUAL(size, rig.driver.queue(0).num_free);
    }
}
