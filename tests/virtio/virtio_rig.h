// The virtio suite's test bench: fake guest RAM, a recording device type behind the real
// virtio-mmio transport, and a fake driver that reaches the device only through MMIO.
// What does not depend on the ring format or the transport version runs for each ring variant
// (tests/virtio/ring_variant.h).
#pragma once

#include <vector>

#include "tests/fakes/fake_guest_memory.h"
#include "tests/fakes/fake_virtio_device.h"
#include "tests/fakes/fake_virtio_driver.h"
#include "tests/virtio/ring_variant.h"
#include "virtio/mmio_transport.h"
#include "virtio/spec.h"

namespace domd::test {

using ::StringFrom;  // CppUTest's overloads, hidden by domd::StringFrom(Err) in here

constexpr uint64_t ring_features =
    virtio::features::version_1 | virtio::features::ring_event_idx | virtio::features::indirect_desc;

struct RigOptions {
    uint16_t queue_size = 16;    // what the driver asks for (0: QueueNumMax)
    uint16_t queues = 1;         // device queues
    uint16_t max_size = 256;     // QueueNumMax
    uint64_t wanted = ring_features;
    virtio::MmioOptions mmio{};
    bool probe = true;
};

inline RecordingDevice make_recording_device(const RigOptions& options) {
    RecordingDevice device;
    device.queues = options.queues;
    device.max_size = options.max_size;
    return device;
}

// `options` in `variant`: packed rings wanted (VIRTIO_F_RING_PACKED) or not, the legacy
// transport or version 2. A legacy driver wants no VERSION_1 (the device offers none anyway).
inline RigOptions in(Variant variant, RigOptions options = {}) {
    if (variant.packed) options.wanted |= virtio::features::ring_packed;
    else options.wanted &= ~virtio::features::ring_packed;
    options.mmio.version = variant.legacy ? virtio::mmio::version_legacy : virtio::mmio::version_2;
    return options;
}

struct VirtioRig {
    explicit VirtioRig(const RigOptions& options = {})
        : options(options),
          device(make_recording_device(options)),
          transport(device, memory, interrupt, options.mmio),
          driver(transport, memory) {
        if (options.probe) probe();
    }

    void probe() {
        if (!driver.probe(options.wanted, options.queues, options.queue_size)) FAIL("probe failed");
        const bool packed = (options.wanted & virtio::features::ring_packed) && options.mmio.version != 1;
        if (driver.packed() != packed) FAIL("the ring format is not the one wanted");
    }
    bool packed() const { return driver.packed(); }
    // An indirect table entry at `at`, in the ring's format (split: VirtqDesc, no NEXT;
    // packed: PackedDesc).
    void table_entry(uint64_t at, uint64_t addr, uint32_t len, bool writable) {
        const uint16_t flags = writable ? virtio::desc_flags::write : 0;
        if (packed()) memory.write(at, virtio::PackedDesc{addr, len, 0, flags});
        else memory.write(at, virtio::VirtqDesc{addr, len, flags, 0});
    }
    // One descriptor of the test's choosing made available on queue 0 as a chain of its own
    // (split: descriptor 0 and an avail entry; packed: the next slot, Buffer ID 0), no kick.
    void add_raw(uint64_t addr, uint32_t len, uint16_t flags) {
        if (packed()) {
            driver.add_packed_raw(0, {{addr, len, 0, flags}});
        } else {
            driver.write_desc(0, 0, addr, len, flags, 0);
            driver.publish(0, 0);
        }
    }
    // A fresh data buffer in guest RAM.
    uint64_t buffer(uint64_t bytes = 64) { return driver.alloc(bytes, 16); }
    // Adds a chain to queue 0 and notifies like Linux.
    uint16_t add(const std::vector<FakeVirtioDriver::Buffer>& buffers, bool indirect = false, uint16_t queue = 0) {
        const uint16_t head = driver.add(queue, buffers, indirect);
        driver.kick(queue);
        return head;
    }
    uint32_t status() { return driver.read32(virtio::mmio::status); }
    bool needs_reset() { return (status() & virtio::status::device_needs_reset) != 0; }
    // Resets and probes again, then checks that a well-formed chain goes through.
    void expect_works_after_reset() {
        probe();
        expect_works();
    }
    void expect_works(uint16_t queue = 0) {
        const uint64_t a = buffer(), b = buffer();
        const size_t before = device.chains.size();
        const uint16_t head = add({{a, 16, false}, {b, 1, true}}, false, queue);
        transport.service();
        CHECK_EQUAL(before + 1, device.chains.size());
        auto used = driver.take_used(queue);
        CHECK_EQUAL(1u, used.size());
        CHECK_EQUAL(head, used[0].id);
        CHECK_FALSE(needs_reset());
    }

    RigOptions options;
    FakeGuestMemory memory;
    FakeInterrupt interrupt;
    RecordingDevice device;
    virtio::MmioTransport transport;
    FakeVirtioDriver driver;
};

inline uint64_t ring_faults(VirtioRig& rig, virtio::RingFault fault) {
    return rig.transport.queue(0).stats().ring_faults[static_cast<int>(fault)];
}

// The ring broke with `fault`: no chain reached the device, the device asks for a reset with a
// configuration-change interrupt, and after a reset a good chain goes through.
inline void expect_ring_fault(VirtioRig& rig, virtio::RingFault fault) {
    const size_t chains_before = rig.device.chains.size();
    const int interrupts_before = rig.interrupt.count;
    rig.transport.service();
    CHECK_EQUAL(interrupts_before + 1, rig.interrupt.count);
    CHECK_EQUAL(chains_before, rig.device.chains.size());
    CHECK_TRUE(rig.needs_reset());
    CHECK_EQUAL(1u, ring_faults(rig, fault));
    CHECK_EQUAL(virtio::mmio::interrupt_config_change,
                rig.transport.interrupt_status() & virtio::mmio::interrupt_config_change);
    // Nothing more happens until the reset.
    CHECK_FALSE(rig.transport.needs_service());
    rig.expect_works_after_reset();
    CHECK_FALSE(rig.needs_reset());
}

inline FakeVirtioDriver::Buffer readable(uint64_t addr, uint32_t len) { return {addr, len, false}; }
inline FakeVirtioDriver::Buffer writable(uint64_t addr, uint32_t len) { return {addr, len, true}; }

}  // namespace domd::test
