// Split virtqueues from the device side (virtio 1.2 section 2.7), driven through the real
// virtio-mmio transport by a fake driver: chain walking and every bound (queue size, chain
// ranges, indirect tables, byte totals, addresses) at N-1, N and N+1; descriptor loops and
// out-of-range indices (a broken ring ends in DEVICE_NEEDS_RESET, and a reset brings it back);
// the used ring; interrupt and notification suppression, with and without EVENT_IDX; ring
// re-mapping when the guest memory generation moves.
//
// The Rings group holds what every ring variant must do the same way; each of its tests runs
// for split rings, packed rings (section 2.8) and split rings on the legacy transport
// (VARIANT_TEST). The SplitRing group is about the split format itself; packed_ring_test.cpp
// has the packed one's.
#include "tests/test_support.h"

#include "tests/virtio/virtio_rig.h"

using namespace domd;
using namespace domd::virtio;
using namespace domd::test;

namespace {

constexpr uint64_t top = ~uint64_t{0};

}  // namespace

TEST_GROUP(SplitRing) {};
TEST_GROUP(Rings) {};

VARIANT_TEST(Rings, DirectChainIsWalkedInOrder) {
    VirtioRig rig(in(variant));
    const uint64_t a = rig.buffer(), b = rig.buffer(128), c = rig.buffer(), d = rig.buffer();
    const uint16_t head = rig.add({readable(a, 16), readable(b, 100), writable(c, 50), writable(d, 1)});
    CHECK_TRUE(rig.transport.needs_service());
    CHECK_TRUE(rig.transport.service());

    CHECK_EQUAL(1u, rig.device.chains.size());
    const Chain& chain = rig.device.chains[0];
    CHECK_EQUAL(head, chain.token.id);
    CHECK_EQUAL(4, chain.token.slots);
    CHECK_EQUAL(4, chain.count);
    CHECK_EQUAL(2, chain.readable_count);
    CHECK_EQUAL(116u, chain.readable_bytes);
    CHECK_EQUAL(51u, chain.writable_bytes);
    CHECK_TRUE(chain.fault == ChainFault::none);
    CHECK_EQUAL(b, chain.ranges[1].addr);
    CHECK_TRUE(chain.ranges[2].access == Access::to_guest);
    CHECK_TRUE(chain.has_status_byte);
    CHECK_EQUAL(d, chain.status_byte.addr);

    auto used = rig.driver.take_used(0);
    CHECK_EQUAL(1u, used.size());
    CHECK_EQUAL(head, used[0].id);
    CHECK_EQUAL(51u, used[0].len);
    CHECK_EQUAL(1, rig.interrupt.count);
    CHECK_EQUAL(mmio::interrupt_used_buffer, rig.transport.interrupt_status());
    CHECK_FALSE(rig.transport.needs_service());
}

VARIANT_TEST(Rings, ChainsUpToMaxRangesAreWholeBeyondThatRejectedWithTheirStatusByte) {
    VirtioRig rig(in(variant, {.queue_size = 128}));
    const uint64_t data = rig.buffer(4096);
    const uint64_t status = rig.buffer();
    constexpr size_t max = limits::max_chain_ranges;
    for (size_t ranges : {max - 1, max, max + 1}) {
        std::vector<FakeVirtioDriver::Buffer> buffers;
        for (size_t i = 0; i + 1 < ranges; ++i) buffers.push_back(readable(data + 8 * i, 8));
        buffers.push_back(writable(status, 1));
        rig.add(buffers);
        rig.transport.service();
        const Chain& chain = rig.device.chains.back();
        if (ranges <= limits::max_chain_ranges) {
            CHECK_TRUE(chain.fault == ChainFault::none);
            CHECK_EQUAL(ranges, chain.count);
        } else {
            CHECK_TRUE(chain.fault == ChainFault::too_many_ranges);
            CHECK_EQUAL(limits::max_chain_ranges, chain.count);
            // The walk went on to the end to find where the status goes.
            CHECK_TRUE(chain.has_status_byte);
            CHECK_EQUAL(status, chain.status_byte.addr);
            CHECK_EQUAL(ranges, chain.token.slots);
        }
        CHECK_EQUAL(1u, rig.driver.take_used(0).size());
    }
    CHECK_FALSE(rig.needs_reset());
    CHECK_EQUAL(1u, rig.transport.queue(0).stats().chain_faults[static_cast<int>(ChainFault::too_many_ranges)]);
}

VARIANT_TEST(Rings, ChainAsLongAsTheQueueIsAccepted) {
    VirtioRig rig(in(variant, {.queue_size = 16}));
    const uint64_t data = rig.buffer(256);
    std::vector<FakeVirtioDriver::Buffer> buffers;
    for (int i = 0; i < 15; ++i) buffers.push_back(readable(data + 8 * i, 8));
    buffers.push_back(writable(data + 200, 1));
    rig.add(buffers);
    rig.transport.service();
    CHECK_EQUAL(16, rig.device.chains.back().count);
    CHECK_TRUE(rig.device.chains.back().fault == ChainFault::none);
}

TEST(SplitRing, DirectDescriptorLoopNeedsReset) {
    VirtioRig rig;
    const uint64_t a = rig.buffer();
    rig.driver.write_desc(0, 0, a, 8, desc_flags::next, 1);
    rig.driver.write_desc(0, 1, a, 8, desc_flags::next, 0);
    rig.driver.publish(0, 0);
    rig.driver.kick(0);
    expect_ring_fault(rig, RingFault::descriptor_loop);
}

TEST(SplitRing, WhatCompletedBeforeTheRingBrokeIsStillPublished) {
    VirtioRig rig;
    const uint16_t good = rig.driver.add(0, {writable(rig.buffer(), 1)});
    rig.driver.write_desc(0, 10, rig.buffer(), 8, desc_flags::next, 10);
    rig.driver.publish(0, 10);
    rig.driver.kick(0);
    rig.transport.service();
    CHECK_TRUE(rig.needs_reset());
    auto used = rig.driver.take_used(0);
    CHECK_EQUAL(1u, used.size());
    CHECK_EQUAL(good, used[0].id);
    CHECK_FALSE(rig.transport.needs_service());  // nothing left to do: no spinning
    rig.expect_works_after_reset();
}

TEST(SplitRing, DescriptorPointingAtItselfNeedsReset) {
    VirtioRig rig;
    rig.driver.write_desc(0, 3, rig.buffer(), 8, desc_flags::next | desc_flags::write, 3);
    rig.driver.publish(0, 3);
    rig.driver.kick(0);
    expect_ring_fault(rig, RingFault::descriptor_loop);
}

TEST(SplitRing, NextIndexMustBeInsideTheQueue) {
    for (uint16_t next : {uint16_t{15}, uint16_t{16}, uint16_t{17}}) {
        VirtioRig rig({.queue_size = 16});
        const uint64_t a = rig.buffer();
        rig.driver.write_desc(0, 0, a, 16, desc_flags::next, next);
        rig.driver.write_desc(0, 15, a + 16, 1, desc_flags::write, 0);
        rig.driver.publish(0, 0);
        rig.driver.kick(0);
        if (next < 16) {
            rig.transport.service();
            CHECK_EQUAL(2, rig.device.chains.back().count);
            CHECK_FALSE(rig.needs_reset());
        } else {
            expect_ring_fault(rig, RingFault::next_out_of_range);
        }
    }
}

TEST(SplitRing, AvailRingEntryMustBeInsideTheQueue) {
    for (uint16_t head : {uint16_t{15}, uint16_t{16}, uint16_t{0xffff}}) {
        VirtioRig rig({.queue_size = 16});
        rig.driver.write_desc(0, 15, rig.buffer(), 1, desc_flags::write, 0);
        rig.driver.publish(0, head);
        rig.driver.kick(0);
        if (head < 16) {
            rig.transport.service();
            CHECK_EQUAL(1u, rig.device.chains.size());
        } else {
            expect_ring_fault(rig, RingFault::head_out_of_range);
        }
    }
}

TEST(SplitRing, AvailIndexMayMoveByTheQueueSizeButNotMore) {
    for (uint16_t moved : {uint16_t{15}, uint16_t{16}, uint16_t{17}, uint16_t{0x8000}}) {
        VirtioRig rig({.queue_size = 16});
        const uint64_t status = rig.buffer(16);
        for (uint16_t i = 0; i < 16; ++i) {
            rig.driver.write_desc(0, i, status + i, 1, desc_flags::write, 0);
            rig.driver.publish(0, i);
        }
        rig.driver.set_avail_idx(0, moved);
        rig.driver.kick(0);
        if (moved <= 16) {
            rig.transport.service();
            CHECK_EQUAL(moved, rig.device.chains.size());
            CHECK_EQUAL(moved, rig.driver.take_used(0).size());
            CHECK_FALSE(rig.needs_reset());
        } else {
            expect_ring_fault(rig, RingFault::avail_index_jump);
        }
    }
}

VARIANT_TEST(Rings, IndirectChainIsWalkedLikeADirectOne) {
    VirtioRig rig(in(variant));
    const uint64_t a = rig.buffer(), b = rig.buffer(), c = rig.buffer();
    const uint16_t head = rig.add({readable(a, 16), writable(b, 512), writable(c, 1)}, true);
    rig.transport.service();
    const Chain& chain = rig.device.chains.back();
    CHECK_EQUAL(head, chain.token.id);
    CHECK_EQUAL(1, chain.token.slots);
    CHECK_EQUAL(3, chain.count);
    CHECK_EQUAL(1, chain.readable_count);
    CHECK_EQUAL(513u, chain.writable_bytes);
    CHECK_EQUAL(c, chain.status_byte.addr);
    CHECK_TRUE(chain.fault == ChainFault::none);
    // The table was mapped for the walk and unmapped again.
    CHECK_EQUAL(1u, rig.memory.map_request_calls);
    CHECK_EQUAL(0u, rig.memory.live_requests());
}

TEST(SplitRing, DirectDescriptorsMayLeadToAnIndirectTable) {
    VirtioRig rig;
    const uint64_t a = rig.buffer(), b = rig.buffer();
    const uint64_t table = rig.driver.alloc(16, 16);
    rig.memory.write(table, VirtqDesc{b, 1, desc_flags::write, 0});
    rig.driver.write_desc(0, 0, a, 16, desc_flags::next, 1);
    rig.driver.write_desc(0, 1, table, 16, desc_flags::indirect, 0);
    rig.driver.publish(0, 0);
    rig.driver.kick(0);
    rig.transport.service();
    CHECK_EQUAL(2, rig.device.chains.back().count);
    CHECK_EQUAL(2, rig.device.chains.back().token.slots);
}

VARIANT_TEST(Rings, IndirectTableLengthBounds) {
    struct Case {
        uint32_t len;
        bool ok;
    };
    const uint32_t max = limits::max_indirect_entries * 16;
    for (Case c : {Case{0, false}, Case{8, false}, Case{17, false}, Case{16, true}, Case{max - 16, true},
                   Case{max, true}, Case{max + 16, false}}) {
        VirtioRig rig(in(variant));
        const uint64_t table = rig.driver.alloc(max + 16, 16);
        rig.table_entry(table, rig.buffer(), 1, true);
        rig.add_raw(table, c.len, desc_flags::indirect);
        rig.driver.kick(0);
        if (c.ok) {
            rig.transport.service();
            // A split table ends at the entry without NEXT; a packed table is walked to its end
            // (section 2.8.7; the rest of this one is zeroes), as far as a request can take.
            const uint32_t entries = rig.packed() ? c.len / 16 : 1;
            CHECK_EQUAL(entries < limits::max_chain_ranges ? entries : limits::max_chain_ranges,
                        rig.device.chains.back().count);
        } else {
            expect_ring_fault(rig, RingFault::indirect_bad_length);
        }
    }
}

TEST(SplitRing, NestedIndirectNeedsReset) {
    VirtioRig rig;
    const uint64_t table = rig.driver.alloc(32, 16);
    rig.memory.write(table, VirtqDesc{table + 16, 16, desc_flags::indirect, 0});
    rig.memory.write(table + 16, VirtqDesc{rig.buffer(), 1, desc_flags::write, 0});
    rig.driver.write_desc(0, 0, table, 16, desc_flags::indirect, 0);
    rig.driver.publish(0, 0);
    rig.driver.kick(0);
    expect_ring_fault(rig, RingFault::nested_indirect);
}

TEST(SplitRing, IndirectTogetherWithNextNeedsReset) {
    VirtioRig rig;
    const uint64_t table = rig.driver.alloc(16, 16);
    rig.memory.write(table, VirtqDesc{rig.buffer(), 1, desc_flags::write, 0});
    rig.driver.write_desc(0, 0, table, 16, desc_flags::indirect | desc_flags::next, 1);
    rig.driver.write_desc(0, 1, rig.buffer(), 1, desc_flags::write, 0);
    rig.driver.publish(0, 0);
    rig.driver.kick(0);
    expect_ring_fault(rig, RingFault::indirect_with_next);
}

VARIANT_TEST(Rings, IndirectWithoutTheFeatureNeedsReset) {
    VirtioRig rig(in(variant, {.wanted = features::version_1}));
    CHECK_FALSE(rig.driver.has(features::indirect_desc));
    const uint64_t table = rig.driver.alloc(16, 16);
    rig.table_entry(table, rig.buffer(), 1, true);
    rig.add_raw(table, 16, desc_flags::indirect);
    rig.driver.kick(0);
    expect_ring_fault(rig, RingFault::indirect_not_negotiated);
}

TEST(SplitRing, IndirectLoopNeedsReset) {
    VirtioRig rig;
    const uint64_t table = rig.driver.alloc(48, 16);
    const uint64_t a = rig.buffer();
    rig.memory.write(table, VirtqDesc{a, 8, desc_flags::next, 1});
    rig.memory.write(table + 16, VirtqDesc{a, 8, desc_flags::next, 2});
    rig.memory.write(table + 32, VirtqDesc{a, 8, desc_flags::next, 0});
    rig.driver.write_desc(0, 0, table, 48, desc_flags::indirect, 0);
    rig.driver.publish(0, 0);
    rig.driver.kick(0);
    expect_ring_fault(rig, RingFault::descriptor_loop);
}

TEST(SplitRing, IndirectNextMustBeInsideTheTable) {
    for (uint16_t next : {uint16_t{2}, uint16_t{3}, uint16_t{4}}) {
        VirtioRig rig;
        const uint64_t table = rig.driver.alloc(48, 16);
        const uint64_t a = rig.buffer();
        rig.memory.write(table, VirtqDesc{a, 8, desc_flags::next, next});
        rig.memory.write(table + 32, VirtqDesc{a + 8, 1, desc_flags::write, 0});
        rig.driver.write_desc(0, 0, table, 48, desc_flags::indirect, 0);
        rig.driver.publish(0, 0);
        rig.driver.kick(0);
        if (next < 3) {
            rig.transport.service();
            CHECK_EQUAL(2, rig.device.chains.back().count);
        } else {
            expect_ring_fault(rig, RingFault::next_out_of_range);
        }
    }
}

VARIANT_TEST(Rings, IndirectTableMustBeInGuestMemory) {
    struct Case {
        uint64_t addr;
        bool ok;
    };
    VirtioRig probe_rig(in(variant));
    const uint64_t end = probe_rig.memory.base() + probe_rig.memory.size();
    for (Case c : {Case{end - 16, true}, Case{end - 8, false}, Case{end, false}, Case{top - 15, false},
                   Case{0, false}}) {
        VirtioRig rig(in(variant));
        if (c.ok) rig.table_entry(c.addr, rig.buffer(), 1, true);
        rig.add_raw(c.addr, 16, desc_flags::indirect);
        rig.driver.kick(0);
        if (c.ok) {
            rig.transport.service();
            CHECK_EQUAL(1u, rig.device.chains.size());
        } else {
            expect_ring_fault(rig, RingFault::indirect_unmappable);
        }
        CHECK_EQUAL(0u, rig.memory.live_requests());
    }
}

VARIANT_TEST(Rings, ZeroLengthDescriptorIsRejectedButAnswerable) {
    VirtioRig rig(in(variant));
    const uint64_t a = rig.buffer(), b = rig.buffer();
    const uint16_t head = rig.add({readable(a, 0), writable(b, 1)});
    rig.transport.service();
    const Chain& chain = rig.device.chains.back();
    CHECK_TRUE(chain.fault == ChainFault::zero_length);
    CHECK_TRUE(chain.has_status_byte);
    CHECK_EQUAL(b, chain.status_byte.addr);
    auto used = rig.driver.take_used(0);
    CHECK_EQUAL(head, used.at(0).id);
    CHECK_FALSE(rig.needs_reset());
    CHECK_EQUAL(1u, rig.transport.queue(0).stats().chains_rejected);
    rig.expect_works();
}

VARIANT_TEST(Rings, ZeroLengthLastWritableLeavesNoStatusByte) {
    VirtioRig rig(in(variant));
    rig.add({readable(rig.buffer(), 16), writable(rig.buffer(), 0)});
    rig.transport.service();
    CHECK_FALSE(rig.device.chains.back().has_status_byte);
    CHECK_TRUE(rig.needs_reset());
    CHECK_EQUAL(1u, ring_faults(rig, RingFault::unanswerable_chain));
    rig.expect_works_after_reset();
}

VARIANT_TEST(Rings, ReadableAfterWritableIsRejected) {
    VirtioRig rig(in(variant));
    const uint64_t a = rig.buffer(), b = rig.buffer();
    rig.add({writable(a, 4), readable(b, 4)});
    rig.transport.service();
    const Chain& chain = rig.device.chains.back();
    CHECK_TRUE(chain.fault == ChainFault::readable_after_writable);
    CHECK_EQUAL(a + 3, chain.status_byte.addr);  // the last byte of the last writable descriptor
    CHECK_EQUAL(1u, rig.driver.take_used(0).size());
    rig.expect_works();
}

VARIANT_TEST(Rings, AddressesMustNotWrap) {
    struct Case {
        uint64_t addr;
        uint32_t len;
        bool ok;
    };
    for (Case c : {Case{top - 15, 16, true}, Case{top - 14, 16, false}, Case{top, 1, true}, Case{top, 2, false}}) {
        VirtioRig rig(in(variant));
        rig.add({readable(c.addr, c.len), writable(rig.buffer(), 1)});
        rig.transport.service();
        const Chain& chain = rig.device.chains.back();
        // On the legacy transport, bit 63 is no grant: those addresses are refused anyway.
        const ChainFault ok = variant.legacy && (c.addr & GuestMemory::grant_bit) ? ChainFault::grant_not_negotiated
                                                                                  : ChainFault::none;
        CHECK_TRUE(chain.fault == (c.ok ? ok : ChainFault::address_wraps));
        CHECK_FALSE(rig.needs_reset());
    }
}

VARIANT_TEST(Rings, ByteTotalsMustFitUsedLen) {
    struct Case {
        uint32_t second;
        bool ok;
    };
    for (Case c : {Case{0x7ffffffe, true}, Case{0x7fffffff, true}, Case{0x80000000, false}}) {
        VirtioRig rig(in(variant));
        rig.add({writable(0x100000000, 0x80000000), writable(0x200000000, c.second)});
        rig.transport.service();
        const Chain& chain = rig.device.chains.back();
        CHECK_TRUE(chain.fault == (c.ok ? ChainFault::none : ChainFault::too_many_bytes));
        if (c.ok) CHECK_EQUAL(0x80000000u + c.second, chain.writable_bytes);
    }
}

VARIANT_TEST(Rings, UsedElementsMayComeOutOfOrder) {
    VirtioRig rig(in(variant));
    rig.device.hold = true;
    const uint16_t h1 = rig.add({writable(rig.buffer(), 1)});
    const uint16_t h2 = rig.add({writable(rig.buffer(), 2)});
    const uint16_t h3 = rig.add({writable(rig.buffer(), 3)});
    rig.transport.service();
    CHECK_EQUAL(3u, rig.device.held.size());
    CHECK_EQUAL(3u, rig.transport.queue(0).in_flight());
    CHECK_EQUAL(0, rig.interrupt.count);
    std::swap(rig.device.held[0], rig.device.held[2]);
    rig.device.complete_held();
    CHECK_TRUE(rig.transport.needs_service());
    rig.transport.service();
    auto used = rig.driver.take_used(0);
    CHECK_EQUAL(3u, used.size());
    CHECK_EQUAL(h3, used[0].id);
    CHECK_EQUAL(3u, used[0].len);
    CHECK_EQUAL(h2, used[1].id);
    CHECK_EQUAL(h1, used[2].id);
    CHECK_EQUAL(1, rig.interrupt.count);  // one interrupt for the pass
    CHECK_EQUAL(0u, rig.transport.queue(0).in_flight());
}

TEST(SplitRing, UsedIndexIsPublishedOncePerPassAfterTheElements) {
    VirtioRig rig;
    rig.memory.watch_u16(rig.driver.queue(0).used + split::used_idx_offset);
    for (int i = 0; i < 5; ++i) rig.driver.add(0, {writable(rig.buffer(), 1)});
    rig.driver.kick(0);
    rig.transport.service();
    CHECK_EQUAL(5, rig.driver.used_idx(0));
    CHECK_EQUAL(5u, rig.driver.take_used(0).size());
    CHECK_EQUAL(1, rig.interrupt.count);
}

TEST(SplitRing, EventIdxUsedEventDecidesInterrupts) {
    VirtioRig rig;
    CHECK_TRUE(rig.driver.has(features::ring_event_idx));
    // used_event 0: the first entry (index 0 -> 1) crosses it.
    rig.add({writable(rig.buffer(), 1)});
    rig.transport.service();
    CHECK_EQUAL(1, rig.interrupt.count);
    rig.driver.handle_interrupt();
    // The driver has not re-armed (used_event still 0): 1 -> 2 does not cross it.
    rig.add({writable(rig.buffer(), 1)});
    rig.transport.service();
    CHECK_EQUAL(1, rig.interrupt.count);
    CHECK_EQUAL(1u, rig.transport.queue(0).stats().interrupts_suppressed);
    // Re-armed at 2: the next entry crosses it.
    CHECK_EQUAL(2u, rig.driver.take_used(0).size());
    rig.add({writable(rig.buffer(), 1)});
    rig.transport.service();
    CHECK_EQUAL(2, rig.interrupt.count);
    rig.driver.handle_interrupt();
    rig.driver.take_used(0, false);
    // used_event two ahead: published 3 -> 4 (event 5 not crossed), then 4 -> 6 (crossed).
    rig.driver.set_used_event(0, 5);
    rig.add({writable(rig.buffer(), 1)});
    rig.transport.service();
    CHECK_EQUAL(2, rig.interrupt.count);
    rig.add({writable(rig.buffer(), 1)});
    rig.add({writable(rig.buffer(), 1)});
    rig.transport.service();
    CHECK_EQUAL(3, rig.interrupt.count);
}

TEST(SplitRing, NoInterruptFlagWithoutEventIdx) {
    VirtioRig rig({.wanted = features::version_1});
    rig.driver.set_avail_flags(0, split::avail_f_no_interrupt);
    rig.add({writable(rig.buffer(), 1)});
    rig.transport.service();
    CHECK_EQUAL(1, rig.driver.used_idx(0));
    CHECK_EQUAL(0, rig.interrupt.count);
    CHECK_EQUAL(1u, rig.transport.queue(0).stats().interrupts_suppressed);
    rig.driver.set_avail_flags(0, 0);
    rig.add({writable(rig.buffer(), 1)});
    rig.transport.service();
    CHECK_EQUAL(1, rig.interrupt.count);
}

TEST(SplitRing, PollingSuppressesNotificationsWithFlags) {
    VirtioRig rig({.wanted = features::version_1});
    rig.transport.set_polling(true);
    CHECK_EQUAL(split::used_f_no_notify, rig.driver.used_flags(0));
    rig.driver.add(0, {writable(rig.buffer(), 1)});
    CHECK_FALSE(rig.driver.kick(0));  // the driver was asked not to
    CHECK_TRUE(rig.transport.needs_service());
    rig.transport.service();
    CHECK_EQUAL(1u, rig.driver.take_used(0).size());
    CHECK_FALSE(rig.transport.prepare_to_sleep());
    CHECK_EQUAL(0, rig.driver.used_flags(0));
    rig.driver.add(0, {writable(rig.buffer(), 1)});
    CHECK_TRUE(rig.driver.kick(0));
}

TEST(SplitRing, PollingSuppressesNotificationsWithEventIdx) {
    VirtioRig rig;
    rig.transport.set_polling(true);
    for (int i = 0; i < 40; ++i) {
        rig.driver.add(0, {writable(rig.buffer(), 1)});
        CHECK_FALSE(rig.driver.kick(0));
        rig.transport.service();
        CHECK_EQUAL(1u, rig.driver.take_used(0).size());
    }
    CHECK_EQUAL(0u, rig.transport.queue(0).stats().kicks);
    CHECK_FALSE(rig.transport.prepare_to_sleep());
    CHECK_EQUAL(rig.driver.queue(0).avail_idx, rig.driver.avail_event(0));
    rig.driver.add(0, {writable(rig.buffer(), 1)});
    CHECK_TRUE(rig.driver.kick(0));
}

TEST(SplitRing, NotifiedQueueReenablesNotificationsAfterDraining) {
    VirtioRig rig;
    rig.add({writable(rig.buffer(), 1)});
    rig.add({writable(rig.buffer(), 1)});  // suppressed? no: the device has not run yet
    rig.transport.service();
    CHECK_EQUAL(2, rig.driver.avail_event(0));
    CHECK_EQUAL(2u, rig.driver.take_used(0).size());
}

VARIANT_TEST(Rings, RequestThatRacesWithSleepIsNotLost) {
    for (uint64_t wanted : {ring_features, features::version_1}) {
        VirtioRig rig(in(variant, {.wanted = wanted}));
        rig.transport.set_polling(true);
        // Added while notifications were suppressed: no kick.
        rig.driver.add(0, {writable(rig.buffer(), 1)});
        CHECK_FALSE(rig.driver.kick(0));
        CHECK_TRUE(rig.transport.prepare_to_sleep());  // do not sleep
        rig.transport.service();
        CHECK_EQUAL(1u, rig.driver.take_used(0).size());
        CHECK_EQUAL(1u, rig.transport.queue(0).stats().notify_raced);
    }
}

VARIANT_TEST(Rings, RacedRequestIsProcessedInNotifyMode) {
    VirtioRig rig(in(variant));
    rig.device.hold = false;
    rig.add({writable(rig.buffer(), 1)});
    // A second request arrives while the device works (notifications suppressed): simulated
    // by adding it after the kick without kicking, before the pass.
    rig.driver.add(0, {writable(rig.buffer(), 1)});
    rig.transport.service();
    CHECK_EQUAL(2u, rig.driver.take_used(0).size());
    CHECK_FALSE(rig.transport.needs_service());
}

VARIANT_TEST(Rings, GenerationChangeRemapsTheRings) {
    VirtioRig rig(in(variant));
    rig.expect_works();
    const uint64_t maps = rig.memory.map_ring_calls;
    const uint64_t releases = rig.memory.release_rings_calls;
    rig.memory.bump_generation();  // old ring pointers now fault if used
    CHECK_TRUE(rig.transport.needs_service() == false);
    rig.expect_works();
    CHECK_EQUAL(maps + 3, rig.memory.map_ring_calls);
    CHECK_EQUAL(releases + 1, rig.memory.release_rings_calls);
    CHECK_EQUAL(2u, rig.transport.queue(0).stats().remaps);
}

VARIANT_TEST(Rings, GenerationChangeIsSeenByPolling) {
    VirtioRig rig(in(variant));
    rig.transport.set_polling(true);
    rig.memory.bump_generation();
    CHECK_TRUE(rig.transport.needs_service());  // cannot tell without re-mapping
    rig.transport.service();
    rig.driver.add(0, {writable(rig.buffer(), 1)});
    CHECK_TRUE(rig.transport.needs_service());
    rig.transport.service();
    CHECK_EQUAL(1u, rig.driver.take_used(0).size());
}

VARIANT_TEST(Rings, RemapFailureNeedsReset) {
    VirtioRig rig(in(variant));
    rig.memory.bump_generation();
    rig.memory.fail_map_ring_after = 0;
    rig.add({writable(rig.buffer(), 1)});
    rig.transport.service();
    CHECK_TRUE(rig.needs_reset());
    CHECK_EQUAL(1u, ring_faults(rig, RingFault::ring_unmappable));
    rig.expect_works_after_reset();
}

VARIANT_TEST(Rings, RingsThatCannotBeMappedAreNotEnabled) {
    VirtioRig rig(in(variant, {.probe = false}));
    CHECK_TRUE(rig.driver.negotiate(rig.options.wanted));
    rig.memory.fail_map_ring_after = 1;  // the driver area
    CHECK_FALSE(rig.driver.setup_queue(0));
    CHECK_EQUAL(1u, rig.transport.stats().queue_setups_refused);
    CHECK_TRUE(rig.driver.setup_queue(0));
    rig.driver.driver_ok();
    rig.expect_works();
}

namespace {

// Hands out ring pointers shifted from what the inner memory maps: the `misaligned`-th ring
// mapped (0 desc, 1 avail, 2 used) comes back off by half its alignment; with -1 every pointer
// is forced to 16-byte alignment instead. So each alignment check is seen on its own.
class ShiftingMemory final : public GuestMemory {
public:
    ShiftingMemory(GuestMemory& inner, int misaligned) : inner_(inner), misaligned_(misaligned) {}
    Result<uint8_t*> map_ring(uint64_t addr, uint64_t len, bool writable) override {
        auto ring = inner_.map_ring(addr, len, writable);
        if (!ring.ok()) return ring.error();
        const uintptr_t at = reinterpret_cast<uintptr_t>(ring.value());
        const int call = calls_++ % 3;
        if (misaligned_ < 0) return reinterpret_cast<uint8_t*>(at & ~uintptr_t{15});
        static constexpr uintptr_t half_alignment[] = {8, 1, 2};
        return reinterpret_cast<uint8_t*>(call == misaligned_ ? at + half_alignment[call] : at);
    }
    void release_rings() override { inner_.release_rings(); }
    Status map_request(std::span<const GuestRange> ranges, std::span<HostBytes> out, RequestMapping& m) override {
        return inner_.map_request(ranges, out, m);
    }
    void unmap_request(RequestMapping& m) override { inner_.unmap_request(m); }
    uint64_t generation() const override { return inner_.generation(); }

private:
    GuestMemory& inner_;
    int misaligned_;
    int calls_ = 0;
};

bool queue_accepted(int misaligned, uint64_t avail_offset) {
    FakeGuestMemory memory;
    ShiftingMemory shifting(memory, misaligned);
    FakeInterrupt interrupt;
    RecordingDevice device;
    MmioTransport transport(device, shifting, interrupt);
    FakeVirtioDriver driver(transport, memory);
    CHECK_TRUE(driver.negotiate(ring_features));
    const uint64_t area = driver.alloc(3 * 4096, 4096);
    driver.write32(mmio::queue_num, 16);
    driver.write32(mmio::queue_desc_low, static_cast<uint32_t>(area));
    driver.write32(mmio::queue_driver_low, static_cast<uint32_t>(area + 4096 + avail_offset));
    driver.write32(mmio::queue_device_low, static_cast<uint32_t>(area + 8192));
    driver.write32(mmio::queue_ready, 1);
    return driver.read32(mmio::queue_ready) == 1;
}

}  // namespace

TEST(SplitRing, HostRingPointersMustKeepTheAlignment) {
    CHECK_TRUE(queue_accepted(3, 0));
    for (int ring = 0; ring < 3; ++ring) CHECK_FALSE(queue_accepted(ring, 0));  // a GuestMemory that broke it
}

TEST(SplitRing, GuestRingAddressesMustBeAlignedWhateverTheMapping) {
    CHECK_TRUE(queue_accepted(-1, 2));
    CHECK_FALSE(queue_accepted(-1, 1));
}
