// Numbers from the virtio 1.2 specification that every device-side piece shares: device status
// bits (section 2.1), reserved feature bits (section 6), the split virtqueue layout (section
// 2.7, and its legacy placement, 2.7.2), and the packed virtqueue layout (section 2.8). Every ABI
// structure carries static_asserts against the spec's tables.
//
// virtio 1.x structures are little-endian (section 2.7, "le16/le32/le64"); legacy ones are in
// the guest's byte order, which for an arm64 guest is little-endian too. domd runs on
// little-endian arm64 and is tested on little-endian x86-64, so fields are read natively.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

namespace domd::virtio {

static_assert(std::endian::native == std::endian::little, "virtio 1.x fields are little-endian");

// ---- device status field, section 2.1 ----
namespace status {
constexpr uint32_t acknowledge = 1;
constexpr uint32_t driver = 2;
constexpr uint32_t driver_ok = 4;
constexpr uint32_t features_ok = 8;
constexpr uint32_t device_needs_reset = 64;
constexpr uint32_t failed = 128;
}  // namespace status

// ---- feature bits ----
constexpr uint64_t feature(unsigned bit) { return uint64_t{1} << bit; }

namespace features {
// Reserved (device-independent) bits, section 6.
constexpr uint64_t notify_on_empty = feature(24);  // VIRTIO_F_NOTIFY_ON_EMPTY (legacy, not offered)
constexpr uint64_t any_layout = feature(27);       // VIRTIO_F_ANY_LAYOUT (legacy; implied by VERSION_1)
constexpr uint64_t indirect_desc = feature(28);    // VIRTIO_F_INDIRECT_DESC (2.7.5.3)
constexpr uint64_t ring_event_idx = feature(29);   // VIRTIO_F_EVENT_IDX (2.7.7, 2.7.10)
constexpr uint64_t version_1 = feature(32);        // VIRTIO_F_VERSION_1
constexpr uint64_t access_platform = feature(33);  // VIRTIO_F_ACCESS_PLATFORM
constexpr uint64_t ring_packed = feature(34);      // VIRTIO_F_RING_PACKED (2.8)
constexpr uint64_t in_order = feature(35);         // VIRTIO_F_IN_ORDER (not offered)
constexpr uint64_t notification_data = feature(38);  // VIRTIO_F_NOTIFICATION_DATA (not offered)
constexpr uint64_t ring_reset = feature(40);       // VIRTIO_F_RING_RESET (not offered)
}  // namespace features

// ---- split virtqueue, section 2.7 ----
// Descriptor Table entry, section 2.7.5: 16 bytes, 16-byte aligned table.
struct VirtqDesc {
    uint64_t addr;  // le64: guest address of the buffer
    uint32_t len;   // le32: its length in bytes
    uint16_t flags; // le16: VIRTQ_DESC_F_*
    uint16_t next;  // le16: next descriptor when flags has VIRTQ_DESC_F_NEXT
};
static_assert(sizeof(VirtqDesc) == 16, "virtio 1.2 section 2.7.5");
static_assert(offsetof(VirtqDesc, addr) == 0 && offsetof(VirtqDesc, len) == 8);
static_assert(offsetof(VirtqDesc, flags) == 12 && offsetof(VirtqDesc, next) == 14);

namespace desc_flags {
constexpr uint16_t next = 1;      // VIRTQ_DESC_F_NEXT: the chain continues via `next`
constexpr uint16_t write = 2;     // VIRTQ_DESC_F_WRITE: device-writable (else device-readable)
constexpr uint16_t indirect = 4;  // VIRTQ_DESC_F_INDIRECT: buffer is a table of descriptors
}  // namespace desc_flags

// Used Ring element, section 2.7.8: 8 bytes.
struct VirtqUsedElem {
    uint32_t id;   // le32: head index of the used descriptor chain
    uint32_t len;  // le32: bytes written into the device-writable part of the chain
};
static_assert(sizeof(VirtqUsedElem) == 8, "virtio 1.2 section 2.7.8");
static_assert(offsetof(VirtqUsedElem, id) == 0 && offsetof(VirtqUsedElem, len) == 4);

// The Driver Area (available ring, section 2.7.6) and Device Area (used ring, section 2.7.8)
// have a size that depends on the queue size, so they are described by offsets:
//   avail: le16 flags; le16 idx; le16 ring[N]; le16 used_event;   (only if EVENT_IDX)
//   used:  le16 flags; le16 idx; VirtqUsedElem ring[N]; le16 avail_event; (only if EVENT_IDX)
// The table in section 2.7 gives the sizes including the event fields, and the alignments.
namespace split {
constexpr uint64_t desc_align = 16;   // section 2.7, "Descriptor Table: 16"
constexpr uint64_t avail_align = 2;   // "Available Ring: 2"
constexpr uint64_t used_align = 4;    // "Used Ring: 4"

constexpr uint64_t avail_flags_offset = 0;
constexpr uint64_t avail_idx_offset = 2;
constexpr uint64_t avail_ring_offset = 4;
constexpr uint64_t used_event_offset(uint32_t size) { return 4 + 2 * uint64_t{size}; }

constexpr uint64_t used_flags_offset = 0;
constexpr uint64_t used_idx_offset = 2;
constexpr uint64_t used_ring_offset = 4;
constexpr uint64_t avail_event_offset(uint32_t size) { return 4 + 8 * uint64_t{size}; }

constexpr uint64_t desc_table_bytes(uint32_t size) { return 16 * uint64_t{size}; }
constexpr uint64_t avail_ring_bytes(uint32_t size) { return 6 + 2 * uint64_t{size}; }
constexpr uint64_t used_ring_bytes(uint32_t size) { return 6 + 8 * uint64_t{size}; }

static_assert(avail_ring_bytes(256) == used_event_offset(256) + 2);
static_assert(used_ring_bytes(256) == avail_event_offset(256) + 2);

// VRING_AVAIL_F_NO_INTERRUPT (section 2.7.7) and VRING_USED_F_NO_NOTIFY (section 2.7.10).
constexpr uint16_t avail_f_no_interrupt = 1;
constexpr uint16_t used_f_no_notify = 1;

// Legacy placement, section 2.7.2 ("Legacy Interfaces: A Note on Virtqueue Layout"): the three
// areas in one guest-physical block, descriptor table first, the available ring (with
// used_event) right after it, and the used ring at the next multiple of the queue alignment.
namespace legacy {
constexpr uint64_t avail_offset(uint32_t size) { return desc_table_bytes(size); }
constexpr uint64_t used_offset(uint32_t size, uint64_t align) {
    const uint64_t end_of_avail = desc_table_bytes(size) + avail_ring_bytes(size);
    return (end_of_avail + align - 1) & ~(align - 1);
}
// Linux's vring_size(256, 4096): 4096 + 518 rounded up to 8192, plus 6 + 8 * 256.
static_assert(used_offset(256, 4096) == 8192);
static_assert(used_offset(1, 4) == 24);
}  // namespace legacy
}  // namespace split

// ---- packed virtqueue, section 2.8 ----
// Descriptor, section 2.8.13 (struct pvirtq_desc): 16 bytes. The same layout serves available
// descriptors (driver to device), used descriptors (device to driver, written over an
// available one) and the entries of an indirect table (section 2.8.7).
struct PackedDesc {
    uint64_t addr;   // le64: buffer address (unused in a used descriptor)
    uint32_t len;    // le32: buffer length; in a used descriptor, the bytes written
    uint16_t id;     // le16: Buffer ID, carried by the last descriptor of a list
    uint16_t flags;  // le16: VIRTQ_DESC_F_* below
};
static_assert(sizeof(PackedDesc) == 16, "virtio 1.2 section 2.8.13");
static_assert(offsetof(PackedDesc, addr) == 0 && offsetof(PackedDesc, len) == 8);
static_assert(offsetof(PackedDesc, id) == 12 && offsetof(PackedDesc, flags) == 14);

namespace packed {
// Section 2.8.10.1, "Structure Size and Alignment".
constexpr uint64_t desc_align = 16;    // Descriptor Ring
constexpr uint64_t driver_align = 4;   // Driver Event Suppression (the Driver Area)
constexpr uint64_t device_align = 4;   // Device Event Suppression (the Device Area)
constexpr uint64_t desc_ring_bytes(uint32_t size) { return 16 * uint64_t{size}; }
constexpr uint64_t event_bytes = 4;
// "Packed virtqueues support up to 2^15 entries each" (section 2.8); no power of two needed.
constexpr uint32_t max_queue_size = 1u << 15;

// Flags, sections 2.8.1 (wrap counters) and 2.8.3 - 2.8.7. NEXT, WRITE and INDIRECT have the
// split ring's values (desc_flags above).
constexpr uint16_t desc_f_avail = 1 << 7;  // VIRTQ_DESC_F_AVAIL
constexpr uint16_t desc_f_used = 1 << 15;  // VIRTQ_DESC_F_USED

// struct pvirtq_event_suppress, section 2.8.14: le16 desc (offset:15, wrap:1); le16 flags.
constexpr uint64_t event_off_wrap_offset = 0;
constexpr uint64_t event_flags_offset = 2;
constexpr uint16_t event_wrap_bit = 1 << 15;
constexpr uint16_t event_offset_mask = event_wrap_bit - 1;
constexpr uint16_t event_flags_mask = 3;  // desc_event_flags : 2; the rest is reserved
constexpr uint16_t event_flags_enable = 0;   // RING_EVENT_FLAGS_ENABLE
constexpr uint16_t event_flags_disable = 1;  // RING_EVENT_FLAGS_DISABLE
constexpr uint16_t event_flags_desc = 2;     // RING_EVENT_FLAGS_DESC (only with EVENT_IDX)
}  // namespace packed

// vring_need_event semantics (section 2.7.7.2 / 2.7.10): with EVENT_IDX, the other side asked
// to be told once the index passes `event`; moving the index from `old_idx` to `new_idx` (both
// free-running 16-bit) crossed it iff event lies in [old_idx, new_idx).
constexpr bool need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx) {
    return static_cast<uint16_t>(new_idx - event - 1) < static_cast<uint16_t>(new_idx - old_idx);
}

// Device IDs, section 5.
namespace device_id {
constexpr uint32_t block = 2;
}

}  // namespace domd::virtio
