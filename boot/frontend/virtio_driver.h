// A deliberately minimal virtio-mmio (version 2) block driver, the guest side of what domd
// serves, that lets its caller break every rule: it drives the registers itself (RawMmio), keeps
// its split ring (virtio 1.2 section 2.7) and buffers in its own RAM, and writes descriptors
// with guest-physical addresses or, with VIRTIO_F_ACCESS_PLATFORM, grant addresses (bit 63:
// gref << 12 | offset, consecutive refs for consecutive pages; xen-abi.md "Grant-based virtio").
//
// One request at a time: the caller writes descriptors, publishes a head and waits for a used
// element, for DEVICE_NEEDS_RESET (section 2.1.2) or for a timeout. No interrupts: the driver
// polls the used ring, so it needs no GIC.
#pragma once

#include <cstdint>

#include "boot/frontend/guest.h"
#include "boot/frontend/raw_mmio.h"
#include "kernel/result.h"
#include "virtio/spec.h"

namespace domd::frontend {

// The frontend's RAM for the device, in pages. In the grant pass every page is granted to the
// backend once, in this order, so consecutive pages have consecutive refs; device-readable
// areas are granted read-only, as Linux does for buffers the device only reads.
enum class Area : uint8_t { desc, avail, used, indirect, header, data, status, readonly, spare };
struct AreaLayout {
    uint32_t first_page;
    uint32_t pages;
    bool device_writable;  // granted read-write
};
inline constexpr AreaLayout area_layout[] = {
    {0, 1, false},     // desc: the descriptor table
    {1, 1, false},     // avail: the driver area
    {2, 1, true},      // used: the device area
    {3, 2, false},     // indirect: indirect descriptor tables
    {5, 1, false},     // header: request headers and discard segments
    {6, 256, true},    // data: 1 MiB of data buffers
    {262, 1, true},    // status: status bytes
    {263, 1, false},   // readonly: a page the backend may only read (grant pass: granted so)
    {264, 1, true},    // spare
};
inline constexpr uint32_t arena_pages = 265;
inline constexpr uint64_t data_bytes = 256 * page_size;

enum class Addressing : uint8_t { physical, grant };

struct Reply {
    enum class Kind : uint8_t { used, needs_reset, none };
    Kind kind = Kind::none;
    uint32_t id = 0;
    uint32_t len = 0;
};

// Builds a descriptor chain in a table (the ring's or an indirect one): each add() links the
// previous descriptor to the new one with VIRTQ_DESC_F_NEXT.
class ChainWriter {
public:
    ChainWriter(virtio::VirtqDesc* table, uint16_t capacity, uint16_t first = 0)
        : table_(table), capacity_(capacity), next_(first), first_(first) {}
    ChainWriter& add(uint64_t addr, uint32_t len, uint16_t flags);
    uint16_t head() const { return first_; }
    uint16_t count() const { return static_cast<uint16_t>(next_ - first_); }
    virtio::VirtqDesc& last() { return table_[next_ - 1]; }

private:
    virtio::VirtqDesc* table_;
    uint16_t capacity_;
    uint16_t next_;
    uint16_t first_;
};

class VirtioDriver {
public:
    static constexpr uint16_t queue_size = 16;
    static constexpr uint8_t status_poison = 0xee;  // our status byte until the device writes it
    static constexpr uint64_t default_timeout_ns = 2'000'000'000ull;
    // Looks at Status (a trap) while waiting: first after this long, then at this pace.
    static constexpr uint64_t first_status_poll_ns = 30'000'000ull;
    static constexpr uint64_t status_poll_ns = 20'000'000ull;

    struct Stats {
        uint64_t waits = 0;
        uint64_t wait_ns = 0;       // time spent waiting for answers
        uint64_t status_polls = 0;  // Status reads while waiting
        uint64_t timeouts = 0;
        uint64_t notifies = 0;
        uint64_t notifies_skipped = 0;  // the device had VRING_USED_F_NO_NOTIFY set
    };
    const Stats& stats() const { return stats_; }

    VirtioDriver(Guest& guest, RawMmio mmio, uint8_t* arena, PhysAddr arena_pa);

    // Grants every arena page to `backend`, in order; Err::invalid unless the refs came out
    // consecutive (grant addresses of a multi-page buffer need that).
    Status grant_arena(uint16_t backend);
    void set_addressing(Addressing a) { addressing_ = a; }
    Addressing addressing() const { return addressing_; }
    const char* addressing_name() const { return addressing_ == Addressing::grant ? "grant" : "gpa"; }

    // What a descriptor carries for `offset` bytes into `area`, in the current addressing.
    uint64_t addr(Area area, uint64_t offset = 0) const;
    uint8_t* ptr(Area area, uint64_t offset = 0) const;
    // Grant pass: how many of our per-request pages (everything but the three ring areas) the
    // backend has mapped right now, and the first such ref. With no request outstanding this
    // must be 0: a backend unmaps a buffer before it publishes the used entry for it (Linux
    // treats a grant still mapped when it ends access as a broken device; xen-abi.md).
    uint32_t buffer_grants_held(uint32_t* first_held = nullptr) const;
    uint32_t first_ref() const { return first_ref_; }
    uint32_t last_ref() const { return first_ref_ + arena_pages - 1; }
    static uint64_t grant_addr(uint64_t ref, uint64_t offset) {
        return virtio::feature(63) | (ref << page_shift) | offset;
    }

    // ---- registers (virtio 1.2 section 4.2.2) ----
    const RawMmio& mmio() const { return mmio_; }
    uint32_t reg(uint32_t offset) const { return mmio_.read32(offset); }
    void set_reg(uint32_t offset, uint32_t value) const { mmio_.write32(offset, value); }
    uint32_t device_status() const;
    bool needs_reset() const { return device_status() & virtio::status::device_needs_reset; }
    uint64_t capacity_sectors() const;

    // ---- initialization, section 3.1.1 ----
    // Writes 0 to Status and returns what it reads back (0 once the reset is done).
    uint32_t reset();
    // ACKNOWLEDGE, DRIVER, the features, FEATURES_OK; returns Status as read back.
    uint32_t negotiate(uint64_t features);
    // What we ask for: everything a plain block driver needs and the device offers.
    uint64_t wanted_features() const;
    uint64_t offered_features() const;
    // Queue 0: QueueSel, QueueNum, the three areas, QueueReady = 1; returns QueueReady as
    // read back. The areas are zeroed first when they are ours.
    uint32_t setup_queue(uint32_t num, uint64_t desc, uint64_t driver, uint64_t device);
    uint32_t setup_queue();
    // The same without reading QueueReady back.
    void write_queue_registers(uint32_t num, uint64_t desc, uint64_t driver, uint64_t device);
    void fill_queue_registers();
    void driver_ok();
    // The whole sequence with our defaults; Err::io (logged) if the device refuses a step it
    // is asked about (reset, FEATURES_OK).
    Status start();
    // Why the device does not serve: Status and QueueReady, for a failure message.
    void describe_state(char* out, size_t size) const;

    // ---- the ring ----
    virtio::VirtqDesc* desc_table() const { return reinterpret_cast<virtio::VirtqDesc*>(ptr(Area::desc)); }
    virtio::VirtqDesc* indirect_table(uint64_t offset = 0) const {
        return reinterpret_cast<virtio::VirtqDesc*>(ptr(Area::indirect, offset));
    }
    // Puts `head` in the next avail entry, moves idx by one and notifies queue 0, unless the
    // device asked not to be (VRING_USED_F_NO_NOTIFY, section 2.7.10: domd's polling loop).
    void publish(uint16_t head);
    // The same for `count` heads at once: one index update, at most one notify.
    void publish(const uint16_t* heads, uint16_t count);
    // The raw steps, for hostile sequences.
    void put_avail_entry(uint16_t slot, uint16_t value);
    void set_avail_idx(uint16_t idx);
    uint16_t avail_idx() const { return avail_idx_; }
    void notify(uint32_t queue = 0) const;
    Reply wait(uint64_t timeout_ns = default_timeout_ns);
    uint16_t used_idx() const;

    // ---- well-formed requests, descriptors 0..2 ----
    void put_header(uint32_t type, uint64_t sector, uint64_t offset = 0);
    Reply read(uint64_t sector, uint32_t bytes, uint64_t data_offset = 0);
    Reply write(uint64_t sector, uint32_t bytes, uint64_t data_offset = 0);
    uint8_t status_byte(uint64_t offset = 0) const { return *ptr(Area::status, offset); }
    void poison_status() { *ptr(Area::status) = status_poison; }

    Guest& guest() { return guest_; }

private:
    Guest& guest_;
    RawMmio mmio_;
    uint8_t* arena_;
    PhysAddr arena_pa_;
    uint32_t first_ref_ = 0;
    bool granted_ = false;
    Addressing addressing_ = Addressing::physical;
    uint64_t negotiated_ = 0;
    mutable uint64_t offered_ = 0;
    mutable bool offered_known_ = false;
    uint32_t queue_num_max_ = 0;
    uint16_t avail_idx_ = 0;
    uint16_t last_used_ = 0;
    Stats stats_;
};

}  // namespace domd::frontend
