#include "boot/frontend/virtio_driver.h"

#include <cstdio>
#include <cstring>

#include "blk/virtio_blk_spec.h"
#include "kernel/atomic.h"
#include "kernel/log.h"
#include "virtio/mmio_transport.h"

namespace domd::frontend {

namespace mmio = virtio::mmio;
using virtio::VirtqDesc;
constexpr uint16_t device_writes = virtio::desc_flags::write;  // VIRTQ_DESC_F_WRITE

ChainWriter& ChainWriter::add(uint64_t addr, uint32_t len, uint16_t flags) {
    if (next_ >= capacity_) return *this;  // the caller sized its chain: a bug, not a case
    if (next_ > first_) {
        table_[next_ - 1].flags = static_cast<uint16_t>(table_[next_ - 1].flags | virtio::desc_flags::next);
        table_[next_ - 1].next = next_;
    }
    table_[next_] = VirtqDesc{addr, len, flags, 0};
    ++next_;
    return *this;
}

VirtioDriver::VirtioDriver(Guest& guest, RawMmio mmio, uint8_t* arena, PhysAddr arena_pa)
    : guest_(guest), mmio_(mmio), arena_(arena), arena_pa_(arena_pa) {}

Status VirtioDriver::grant_arena(uint16_t backend) {
    xen::GrantTable& table = guest_.grants();
    for (const AreaLayout& area : area_layout) {
        for (uint32_t p = 0; p < area.pages; ++p) {
            const uint32_t page = area.first_page + p;
            Gfn gfn = Gfn::containing(PhysAddr{arena_pa_.value + uint64_t{page} * page_size});
            grant_ref_t ref = TRY(table.grant_access(backend, gfn, !area.device_writable));
            if (page == 0) first_ref_ = ref;
            if (ref != first_ref_ + page) {
                LOG_ERROR("grant refs are not consecutive (page %u got ref %u, first %u)", page, ref, first_ref_);
                return Err::invalid;
            }
        }
    }
    granted_ = true;
    return ok_status();
}

uint32_t VirtioDriver::buffer_grants_held(uint32_t* first_held) const {
    if (!granted_) return 0;
    uint32_t held = 0;
    for (const AreaLayout& area : area_layout) {
        if (&area <= &area_layout[static_cast<int>(Area::used)]) continue;  // the rings stay mapped
        for (uint32_t p = 0; p < area.pages; ++p) {
            const uint32_t ref = first_ref_ + area.first_page + p;
            if (!guest_.grants().mapped_by_peer(ref)) continue;
            if (held == 0 && first_held) *first_held = ref;
            ++held;
        }
    }
    return held;
}

uint64_t VirtioDriver::addr(Area area, uint64_t offset) const {
    const uint64_t at = uint64_t{area_layout[static_cast<int>(area)].first_page} * page_size + offset;
    if (addressing_ == Addressing::grant) return grant_addr(first_ref_ + (at >> page_shift), at & page_mask);
    return arena_pa_.value + at;
}

uint8_t* VirtioDriver::ptr(Area area, uint64_t offset) const {
    return arena_ + uint64_t{area_layout[static_cast<int>(area)].first_page} * page_size + offset;
}

uint32_t VirtioDriver::device_status() const { return mmio_.read32(mmio::status); }

uint64_t VirtioDriver::capacity_sectors() const {
    // Section 4.2.2.2 / 2.5.1: a 64-bit field read in two halves is consistent if
    // ConfigGeneration did not move in between.
    for (;;) {
        uint32_t before = mmio_.read32(mmio::config_generation);
        uint64_t low = mmio_.read32(mmio::config + offsetof(blk::VirtioBlkConfig, capacity));
        uint64_t high = mmio_.read32(mmio::config + offsetof(blk::VirtioBlkConfig, capacity) + 4);
        if (mmio_.read32(mmio::config_generation) == before) return high << 32 | low;
    }
}

uint32_t VirtioDriver::reset() {
    mmio_.write32(mmio::status, 0);
    avail_idx_ = last_used_ = 0;
    negotiated_ = 0;
    return device_status();
}

uint64_t VirtioDriver::offered_features() const {
    if (offered_known_) return offered_;  // the device's own, fixed (section 2.2)
    uint64_t offered = 0;
    for (uint32_t sel = 0; sel < 2; ++sel) {
        mmio_.write32(mmio::device_features_sel, sel);
        offered |= uint64_t{mmio_.read32(mmio::device_features)} << (32 * sel);
    }
    offered_ = offered;
    offered_known_ = true;
    return offered;
}

uint64_t VirtioDriver::wanted_features() const {
    using namespace blk::blk_features;
    const uint64_t want = virtio::features::version_1 | virtio::features::access_platform |
                          virtio::features::indirect_desc | seg_max | size_max | blk_size | flush | discard |
                          write_zeroes | ro;
    return want & offered_features();
}

uint32_t VirtioDriver::negotiate(uint64_t features) {
    using namespace virtio::status;
    mmio_.write32(mmio::status, acknowledge);
    mmio_.write32(mmio::status, acknowledge | driver);
    for (uint32_t sel = 0; sel < 2; ++sel) {
        mmio_.write32(mmio::driver_features_sel, sel);
        mmio_.write32(mmio::driver_features, static_cast<uint32_t>(features >> (32 * sel)));
    }
    mmio_.write32(mmio::status, acknowledge | driver | features_ok);
    negotiated_ = features;
    return device_status();
}

uint32_t VirtioDriver::setup_queue(uint32_t num, uint64_t desc, uint64_t driver, uint64_t device) {
    write_queue_registers(num, desc, driver, device);
    return mmio_.read32(mmio::queue_ready);
}

void VirtioDriver::write_queue_registers(uint32_t num, uint64_t desc, uint64_t driver, uint64_t device) {
    mmio_.write32(mmio::queue_sel, 0);
    mmio_.write32(mmio::queue_num, num);
    mmio_.write32(mmio::queue_desc_low, static_cast<uint32_t>(desc));
    mmio_.write32(mmio::queue_desc_high, static_cast<uint32_t>(desc >> 32));
    mmio_.write32(mmio::queue_driver_low, static_cast<uint32_t>(driver));
    mmio_.write32(mmio::queue_driver_high, static_cast<uint32_t>(driver >> 32));
    mmio_.write32(mmio::queue_device_low, static_cast<uint32_t>(device));
    mmio_.write32(mmio::queue_device_high, static_cast<uint32_t>(device >> 32));
    mmio_.write32(mmio::queue_ready, 1);
}

void VirtioDriver::fill_queue_registers() {
    // Section 2.7: the driver zeroes the rings; both indices start at 0.
    memset(ptr(Area::desc), 0, page_size);
    memset(ptr(Area::avail), 0, page_size);
    memset(ptr(Area::used), 0, page_size);
    avail_idx_ = last_used_ = 0;
    barrier_before_notify();
    write_queue_registers(queue_size, addr(Area::desc), addr(Area::avail), addr(Area::used));
}

uint32_t VirtioDriver::setup_queue() {
    fill_queue_registers();
    return mmio_.read32(mmio::queue_ready);
}

void VirtioDriver::driver_ok() {
    namespace st = virtio::status;
    mmio_.write32(mmio::status, st::acknowledge | st::driver | st::features_ok | st::driver_ok);
}

Status VirtioDriver::start() {
    if (uint32_t s = reset(); s != 0) {
        LOG_ERROR("setup: Status reads %#x after a reset", s);
        return Err::io;
    }
    const uint64_t features = wanted_features();
    if (!(features & virtio::features::version_1)) {
        LOG_ERROR("setup: the device does not offer VERSION_1");
        return Err::io;
    }
    if (addressing_ == Addressing::grant && (!granted_ || !(features & virtio::features::access_platform))) {
        LOG_ERROR("setup: grant addressing needs the arena granted and ACCESS_PLATFORM offered");
        return Err::io;
    }
    if (!(negotiate(features) & virtio::status::features_ok)) {
        LOG_ERROR("setup: FEATURES_OK refused for %#llx", static_cast<unsigned long long>(features));
        return Err::io;
    }
    if (queue_num_max_ == 0) queue_num_max_ = mmio_.read32(mmio::queue_num_max);  // the device's, fixed
    if (queue_num_max_ < queue_size) {
        LOG_ERROR("setup: QueueNumMax %u < %u", queue_num_max_, queue_size);
        return Err::io;
    }
    // Every access is a trap: QueueReady and Status are not read back (the first request
    // tells; a failing one reads them to say why).
    fill_queue_registers();
    driver_ok();
    return ok_status();
}

void VirtioDriver::describe_state(char* out, size_t size) const {
    mmio_.write32(mmio::queue_sel, 0);
    snprintf(out, size, "Status %#x, QueueReady %u", device_status(), mmio_.read32(mmio::queue_ready));
}

// ---- the ring ----

namespace {
uint16_t* avail_field(uint8_t* avail, uint64_t offset) { return reinterpret_cast<uint16_t*>(avail + offset); }
}  // namespace

void VirtioDriver::put_avail_entry(uint16_t slot, uint16_t value) {
    store_relaxed(avail_field(ptr(Area::avail), virtio::split::avail_ring_offset + 2 * uint64_t(slot % queue_size)),
                  value);
}

void VirtioDriver::set_avail_idx(uint16_t idx) {
    // Section 2.7.13: the entries before the index that publishes them.
    store_release(avail_field(ptr(Area::avail), virtio::split::avail_idx_offset), idx);
}

void VirtioDriver::notify(uint32_t queue) const {
    barrier_before_notify();
    mmio_.write32(mmio::queue_notify, queue);
}

void VirtioDriver::publish(uint16_t head) { publish(&head, 1); }

void VirtioDriver::publish(const uint16_t* heads, uint16_t count) {
    for (uint16_t i = 0; i < count; ++i) put_avail_entry(static_cast<uint16_t>(avail_idx_ + i), heads[i]);
    avail_idx_ = static_cast<uint16_t>(avail_idx_ + count);
    set_avail_idx(avail_idx_);
    // Section 2.7.13.4: the index before the suppression flag is read (a full barrier, as the
    // device re-reads the index after clearing the flag).
    full_barrier();
    const uint16_t flags =
        load_relaxed(reinterpret_cast<const uint16_t*>(ptr(Area::used) + virtio::split::used_flags_offset));
    if (flags & virtio::split::used_f_no_notify) {
        ++stats_.notifies_skipped;
        return;
    }
    ++stats_.notifies;
    notify();
}

uint16_t VirtioDriver::used_idx() const {
    return load_acquire(reinterpret_cast<const uint16_t*>(ptr(Area::used) + virtio::split::used_idx_offset));
}

Reply VirtioDriver::wait(uint64_t timeout_ns) {
    const uint64_t start = guest_.now_ns();
    const uint64_t deadline = start + timeout_ns;
    // Each look at Status is a trap answered by domd: only after a first quiet spell, then
    // at a steady pace (a ring fault shows as NEEDS_RESET, never as a used entry).
    uint64_t next_status = start + first_status_poll_ns;
    ++stats_.waits;
    for (;;) {
        if (used_idx() != last_used_) {
            const uint8_t* elem = ptr(Area::used) + virtio::split::used_ring_offset +
                                  sizeof(virtio::VirtqUsedElem) * uint64_t(last_used_ % queue_size);
            Reply r;
            r.kind = Reply::Kind::used;
            r.id = load_relaxed(reinterpret_cast<const uint32_t*>(elem));
            r.len = load_relaxed(reinterpret_cast<const uint32_t*>(elem + 4));
            ++last_used_;
            stats_.wait_ns += guest_.now_ns() - start;
            return r;
        }
        const uint64_t now = guest_.now_ns();
        if (now >= next_status) {
            ++stats_.status_polls;
            if (needs_reset()) {
                stats_.wait_ns += guest_.now_ns() - start;
                return Reply{Reply::Kind::needs_reset, 0, 0};
            }
            next_status = guest_.now_ns() + status_poll_ns;
        }
        if (now > deadline) {
            stats_.wait_ns += now - start;
            ++stats_.timeouts;
            return Reply{};
        }
        (void)guest_.hv().yield();
    }
}

// ---- well-formed requests ----

void VirtioDriver::put_header(uint32_t type, uint64_t sector, uint64_t offset) {
    blk::VirtioBlkReqHeader h{type, 0, sector};
    memcpy(ptr(Area::header, offset), &h, sizeof h);
}

Reply VirtioDriver::read(uint64_t sector, uint32_t bytes, uint64_t data_offset) {
    put_header(blk::request_type::in, sector);
    poison_status();
    ChainWriter(desc_table(), queue_size)
        .add(addr(Area::header), sizeof(blk::VirtioBlkReqHeader), 0)
        .add(addr(Area::data, data_offset), bytes, device_writes)
        .add(addr(Area::status), 1, device_writes);
    publish(0);
    return wait();
}

Reply VirtioDriver::write(uint64_t sector, uint32_t bytes, uint64_t data_offset) {
    put_header(blk::request_type::out, sector);
    poison_status();
    ChainWriter(desc_table(), queue_size)
        .add(addr(Area::header), sizeof(blk::VirtioBlkReqHeader), 0)
        .add(addr(Area::data, data_offset), bytes, 0)
        .add(addr(Area::status), 1, device_writes);
    publish(0);
    return wait();
}

}  // namespace domd::frontend
