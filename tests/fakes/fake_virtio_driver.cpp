// No tests/test_support.h: the libFuzzer harness builds this file without CppUTest.
#include "tests/fakes/fake_virtio_driver.h"

#include <cstdio>
#include <cstdlib>

#include "virtio/mmio_transport.h"

namespace domd::test {
namespace {

using namespace virtio;

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "FakeVirtioDriver: %s\n", what);
    std::abort();
}

uint16_t avail_bits_of(const FakeVirtioDriver::Queue& q) {
    return q.avail_wrap ? packed::desc_f_avail : packed::desc_f_used;
}

}  // namespace

FakeVirtioDriver::FakeVirtioDriver(MmioHandler& device, FakeGuestMemory& memory)
    : device_(device), memory_(memory), next_free_(memory.base()) {}

uint32_t FakeVirtioDriver::read32(uint32_t offset) {
    const MmioAnswer answer = device_.read(offset, 4);
    if (answer.kind != MmioAnswer::Kind::done) die("a read answered retry");
    return static_cast<uint32_t>(answer.value);
}

void FakeVirtioDriver::write32(uint32_t offset, uint32_t value) {
    if (write_raw(offset, value).kind != MmioAnswer::Kind::done) die("a write answered retry");
}

MmioAnswer FakeVirtioDriver::write_raw(uint32_t offset, uint32_t value, uint8_t size) {
    return device_.write(offset, size, value);
}

uint64_t FakeVirtioDriver::read_config(uint32_t offset, uint8_t size) {
    return device_.read(mmio::config + offset, size).value;
}

bool FakeVirtioDriver::negotiate(uint64_t wanted) {
    if (read32(mmio::magic_value) != mmio::magic) return false;
    const uint32_t version = read32(mmio::version);
    if (version != mmio::version_legacy && version != mmio::version_2) return false;
    legacy_ = version == mmio::version_legacy;
    if (read32(mmio::device_id) == 0) return false;
    (void)read32(mmio::vendor_id);
    // Linux's virtio_mmio_probe, before it registers (and so resets) the device.
    if (legacy_) write32(mmio::guest_page_size, 4096);
    write32(mmio::status, 0);
    write32(mmio::status, status::acknowledge);
    write32(mmio::status, status::acknowledge | status::driver);
    write32(mmio::device_features_sel, 1);
    uint64_t offered = uint64_t{read32(mmio::device_features)} << 32;
    write32(mmio::device_features_sel, 0);
    offered |= read32(mmio::device_features);
    features_ = offered & wanted;
    write32(mmio::driver_features_sel, 1);
    write32(mmio::driver_features, static_cast<uint32_t>(features_ >> 32));
    write32(mmio::driver_features_sel, 0);
    write32(mmio::driver_features, static_cast<uint32_t>(features_));
    if (legacy_) return true;  // section 3.1.2: no FEATURES_OK
    write32(mmio::status, status::acknowledge | status::driver | status::features_ok);
    if (!(read32(mmio::status) & status::features_ok)) {
        write32(mmio::status, status::acknowledge | status::driver | status::failed);
        return false;
    }
    return true;
}

bool FakeVirtioDriver::setup_queue(uint16_t index, uint16_t size) {
    write32(mmio::queue_sel, index);
    // Linux's vm_setup_vq: a queue that reads as in use is not ours to set up.
    if (read32(legacy_ ? mmio::queue_pfn : mmio::queue_ready) != 0) return false;
    const uint32_t max = read32(mmio::queue_num_max);
    if (max == 0) return false;
    const uint16_t num = size != 0 ? size : static_cast<uint16_t>(max);
    Queue q;
    q.size = num;
    q.packed = packed();
    queues_[index] = q;
    Queue& queue = queues_[index];
    if (legacy_) return setup_legacy(queue);
    if (queue.packed) return setup_packed(queue);
    return setup_split_v2(queue);
}

bool FakeVirtioDriver::setup_split_v2(Queue& q) {
    const uint16_t num = q.size;
    q.desc = alloc(split::desc_table_bytes(num), 4096);
    q.avail = alloc(split::avail_ring_bytes(num), 2);
    q.used = alloc(split::used_ring_bytes(num), 4096);
    for (uint16_t i = num; i > 0; --i) q.free.push_back(static_cast<uint16_t>(i - 1));
    write32(mmio::queue_num, num);
    write32(mmio::queue_desc_low, static_cast<uint32_t>(q.desc));
    write32(mmio::queue_desc_high, static_cast<uint32_t>(q.desc >> 32));
    write32(mmio::queue_driver_low, static_cast<uint32_t>(q.avail));
    write32(mmio::queue_driver_high, static_cast<uint32_t>(q.avail >> 32));
    write32(mmio::queue_device_low, static_cast<uint32_t>(q.used));
    write32(mmio::queue_device_high, static_cast<uint32_t>(q.used >> 32));
    write32(mmio::queue_ready, 1);
    return read32(mmio::queue_ready) == 1;
}

// Linux's vring_alloc_queue_packed: the ring and the two 4-byte event structures, zeroed.
bool FakeVirtioDriver::setup_packed(Queue& q) {
    const uint16_t num = q.size;
    q.desc = alloc(packed::desc_ring_bytes(num), 4096);
    q.avail = alloc(packed::event_bytes, 4096);
    q.used = alloc(packed::event_bytes, 4096);
    q.num_free = num;
    for (uint16_t i = num; i > 0; --i) q.free_ids.push_back(static_cast<uint16_t>(i - 1));
    write32(mmio::queue_num, num);
    write32(mmio::queue_desc_low, static_cast<uint32_t>(q.desc));
    write32(mmio::queue_desc_high, static_cast<uint32_t>(q.desc >> 32));
    write32(mmio::queue_driver_low, static_cast<uint32_t>(q.avail));
    write32(mmio::queue_driver_high, static_cast<uint32_t>(q.avail >> 32));
    write32(mmio::queue_device_low, static_cast<uint32_t>(q.used));
    write32(mmio::queue_device_high, static_cast<uint32_t>(q.used >> 32));
    write32(mmio::queue_ready, 1);
    return read32(mmio::queue_ready) == 1;
}

// Linux's legacy path (vring_init with VIRTIO_MMIO_VRING_ALIGN = PAGE_SIZE): one block, the
// used ring on the next page boundary after the avail ring; QueueNum, QueueAlign, QueuePFN.
bool FakeVirtioDriver::setup_legacy(Queue& q) {
    const uint16_t num = q.size;
    const uint64_t used_offset = split::legacy::used_offset(num, 4096);
    const uint64_t base = alloc(used_offset + split::used_ring_bytes(num), 4096);
    q.desc = base;
    q.avail = base + split::legacy::avail_offset(num);
    q.used = base + used_offset;
    q.pfn = static_cast<uint32_t>(base >> 12);
    for (uint16_t i = num; i > 0; --i) q.free.push_back(static_cast<uint16_t>(i - 1));
    write32(mmio::queue_num, num);
    write32(mmio::queue_align, 4096);
    write32(mmio::queue_pfn, q.pfn);
    return read32(mmio::queue_pfn) == q.pfn;
}

void FakeVirtioDriver::driver_ok() {
    write32(mmio::status, read32(mmio::status) | status::driver_ok);
}

bool FakeVirtioDriver::probe(uint64_t wanted, uint16_t queues, uint16_t queue_size) {
    if (!negotiate(wanted)) return false;
    for (uint16_t i = 0; i < queues; ++i) {
        if (!setup_queue(i, queue_size)) return false;
    }
    driver_ok();
    return true;
}

uint64_t FakeVirtioDriver::alloc(uint64_t bytes, uint64_t align) {
    const uint64_t at = (next_free_ + align - 1) / align * align;
    if (!memory_.contains(at, bytes == 0 ? 1 : bytes)) die("out of fake guest RAM");
    next_free_ = at + bytes;
    std::memset(memory_.at(at), 0, bytes);
    return at;
}

uint64_t FakeVirtioDriver::alloc_bytes(const void* data, uint64_t bytes, uint64_t align) {
    const uint64_t at = alloc(bytes, align);
    std::memcpy(memory_.at(at), data, bytes);
    return at;
}

void FakeVirtioDriver::write_desc(uint16_t queue, uint16_t index, uint64_t addr, uint32_t len, uint16_t flags,
                                  uint16_t next) {
    const VirtqDesc d{addr, len, flags, next};
    memory_.write(queues_.at(queue).desc + 16 * uint64_t{index}, d);
}

void FakeVirtioDriver::publish(uint16_t queue, uint16_t head) {
    Queue& q = queues_.at(queue);
    memory_.write<uint16_t>(q.avail + split::avail_ring_offset + 2 * uint64_t(q.avail_idx % q.size), head);
    ++q.avail_idx;
    memory_.write<uint16_t>(q.avail + split::avail_idx_offset, q.avail_idx);
}

uint16_t FakeVirtioDriver::add(uint16_t queue, const std::vector<Buffer>& buffers, bool indirect) {
    Queue& q = queues_.at(queue);
    if (q.packed) return add_packed(q, buffers, indirect);
    return add_split(q, queue, buffers, indirect);
}

uint16_t FakeVirtioDriver::add_split(Queue& q, uint16_t queue, const std::vector<Buffer>& buffers, bool indirect) {
    std::vector<uint16_t> chain;
    if (indirect) {
        const uint64_t table = alloc(16 * buffers.size(), 16);
        for (size_t i = 0; i < buffers.size(); ++i) {
            uint16_t flags = buffers[i].writable ? desc_flags::write : 0;
            if (i + 1 < buffers.size()) flags |= desc_flags::next;
            const VirtqDesc d{buffers[i].addr, buffers[i].len, flags, static_cast<uint16_t>(i + 1)};
            memory_.write(table + 16 * i, d);
        }
        if (q.free.empty()) die("no free descriptor");
        const uint16_t head = q.free.back();
        q.free.pop_back();
        write_desc(queue, head, table, static_cast<uint32_t>(16 * buffers.size()), desc_flags::indirect, 0);
        chain.push_back(head);
    } else {
        if (q.free.size() < buffers.size()) die("not enough free descriptors");
        for (size_t i = 0; i < buffers.size(); ++i) {
            chain.push_back(q.free.back());
            q.free.pop_back();
        }
        for (size_t i = 0; i < buffers.size(); ++i) {
            uint16_t flags = buffers[i].writable ? desc_flags::write : 0;
            const bool more = i + 1 < buffers.size();
            if (more) flags |= desc_flags::next;
            write_desc(queue, chain[i], buffers[i].addr, buffers[i].len, flags, more ? chain[i + 1] : 0);
        }
    }
    q.busy[chain.front()] = chain;
    publish(queue, chain.front());
    return chain.front();
}

uint16_t FakeVirtioDriver::avail_bits(uint16_t queue) const {
    return queues_.at(queue).avail_wrap ? packed::desc_f_avail : packed::desc_f_used;
}

void FakeVirtioDriver::advance_avail(Queue& q) {
    if (++q.next_avail == q.size) {
        q.next_avail = 0;
        q.avail_wrap = !q.avail_wrap;
    }
}

// Linux's virtqueue_add_packed / virtqueue_add_indirect_packed.
uint16_t FakeVirtioDriver::add_packed(Queue& q, const std::vector<Buffer>& buffers, bool indirect) {
    const uint16_t slots = indirect ? 1 : static_cast<uint16_t>(buffers.size());
    if (q.free_ids.empty() || q.num_free < slots) die("no room in the packed ring");
    const uint16_t id = q.free_ids.back();
    q.free_ids.pop_back();
    const uint16_t head = q.next_avail;
    uint16_t head_flags = 0;
    if (indirect) {
        // Table entries: addr, len and WRITE only (section 2.8.7).
        const uint64_t table = alloc(16 * buffers.size(), 16);
        for (size_t i = 0; i < buffers.size(); ++i) {
            const PackedDesc d{buffers[i].addr, buffers[i].len, 0, buffers[i].writable ? desc_flags::write : uint16_t{0}};
            memory_.write(table + 16 * i, d);
        }
        head_flags = static_cast<uint16_t>(avail_bits_of(q) | desc_flags::indirect);
        memory_.write(q.desc + 16 * uint64_t{head}, PackedDesc{table, static_cast<uint32_t>(16 * buffers.size()), id, 0});
        advance_avail(q);
    } else {
        for (size_t i = 0; i < buffers.size(); ++i) {
            const uint16_t slot = q.next_avail;
            uint16_t flags = avail_bits_of(q);
            if (i + 1 < buffers.size()) flags |= desc_flags::next;
            if (buffers[i].writable) flags |= desc_flags::write;
            // Every descriptor carries the id; the first one's flags wait until the rest are out.
            memory_.write(q.desc + 16 * uint64_t{slot}, PackedDesc{buffers[i].addr, buffers[i].len, id, slot == head ? uint16_t{0} : flags});
            if (slot == head) head_flags = flags;
            advance_avail(q);
        }
    }
    memory_.write<uint16_t>(q.desc + 16 * uint64_t{head} + offsetof(PackedDesc, flags), head_flags);
    q.num_free = static_cast<uint16_t>(q.num_free - slots);
    q.num_added = static_cast<uint16_t>(q.num_added + slots);
    q.id_slots[id] = slots;
    return id;
}

uint16_t FakeVirtioDriver::add_packed_raw(uint16_t queue, const std::vector<PackedDesc>& descs, bool raw_flags) {
    Queue& q = queues_.at(queue);
    if (descs.empty()) die("an empty raw list");
    const uint16_t head = q.next_avail;
    uint16_t head_flags = 0;
    for (size_t i = 0; i < descs.size(); ++i) {
        PackedDesc d = descs[i];
        if (!raw_flags) d.flags = static_cast<uint16_t>(d.flags | avail_bits_of(q));
        const uint16_t slot = q.next_avail;
        if (i == 0) {
            head_flags = d.flags;
            d.flags = 0;
        }
        memory_.write(q.desc + 16 * uint64_t{slot}, d);
        advance_avail(q);
    }
    memory_.write<uint16_t>(q.desc + 16 * uint64_t{head} + offsetof(PackedDesc, flags), head_flags);
    const uint16_t slots = static_cast<uint16_t>(descs.size());
    q.num_free = q.num_free > slots ? static_cast<uint16_t>(q.num_free - slots) : 0;
    q.num_added = static_cast<uint16_t>(q.num_added + slots);
    const uint16_t id = descs.back().id;
    q.id_slots[id] = slots;
    for (auto it = q.free_ids.begin(); it != q.free_ids.end(); ++it) {
        if (*it == id) {
            q.free_ids.erase(it);
            break;
        }
    }
    return id;
}

void FakeVirtioDriver::write_packed(uint16_t queue, uint16_t slot, const PackedDesc& desc) {
    memory_.write(queues_.at(queue).desc + 16 * uint64_t{slot}, desc);
}

PackedDesc FakeVirtioDriver::read_packed(uint16_t queue, uint16_t slot) {
    return memory_.read<PackedDesc>(queues_.at(queue).desc + 16 * uint64_t{slot});
}

void FakeVirtioDriver::set_driver_event(uint16_t queue, uint16_t flags, uint16_t off_wrap) {
    const Queue& q = queues_.at(queue);
    memory_.write<uint16_t>(q.avail + packed::event_off_wrap_offset, off_wrap);
    memory_.write<uint16_t>(q.avail + packed::event_flags_offset, flags);
}

uint16_t FakeVirtioDriver::device_event_flags(uint16_t queue) {
    return memory_.read<uint16_t>(queues_.at(queue).used + packed::event_flags_offset);
}

uint16_t FakeVirtioDriver::device_event_off_wrap(uint16_t queue) {
    return memory_.read<uint16_t>(queues_.at(queue).used + packed::event_off_wrap_offset);
}

bool FakeVirtioDriver::kick(uint16_t queue) {
    Queue& q = queues_.at(queue);
    if (q.packed) {
        // Linux's virtqueue_kick_prepare_packed.
        const uint16_t new_idx = q.next_avail;
        const uint16_t old_idx = static_cast<uint16_t>(new_idx - q.num_added);
        q.num_added = 0;
        const uint16_t off_wrap = device_event_off_wrap(queue);
        const uint16_t flags = device_event_flags(queue);
        bool needed;
        if (flags != packed::event_flags_desc) {
            needed = flags != packed::event_flags_disable;
        } else {
            uint16_t event = off_wrap & packed::event_offset_mask;
            if (((off_wrap & packed::event_wrap_bit) != 0) != q.avail_wrap) event = static_cast<uint16_t>(event - q.size);
            needed = need_event(event, new_idx, old_idx);
        }
        if (needed) write32(mmio::queue_notify, queue);
        return needed;
    }
    const uint16_t old = q.kicked_idx;
    q.kicked_idx = q.avail_idx;
    bool needed;
    if (has(features::ring_event_idx)) needed = need_event(avail_event(queue), q.avail_idx, old);
    else needed = !(used_flags(queue) & split::used_f_no_notify);
    if (needed) write32(mmio::queue_notify, queue);
    return needed;
}

// Linux's more_used_packed: AVAIL and USED both equal to our used wrap counter.
bool FakeVirtioDriver::packed_used_at_last(Queue& q) {
    const uint16_t flags = memory_.read<uint16_t>(q.desc + 16 * uint64_t{q.last_used} + offsetof(PackedDesc, flags));
    const bool avail = flags & packed::desc_f_avail;
    const bool used = flags & packed::desc_f_used;
    return avail == used && used == q.used_wrap;
}

bool FakeVirtioDriver::has_used(uint16_t queue) {
    Queue& q = queues_.at(queue);
    if (q.packed) return packed_used_at_last(q);
    return used_idx(queue) != q.last_used;
}

std::vector<VirtqUsedElem> FakeVirtioDriver::take_used(uint16_t queue, bool rearm) {
    Queue& q = queues_.at(queue);
    std::vector<VirtqUsedElem> taken;
    if (q.packed) {
        // Linux's virtqueue_get_buf_ctx_packed: id and len of the used descriptor, then skip
        // the slots that buffer took.
        while (packed_used_at_last(q)) {
            const PackedDesc d = read_packed(queue, q.last_used);
            taken.push_back({d.id, d.len});
            uint16_t slots = 1;
            auto it = q.id_slots.find(d.id);
            if (it != q.id_slots.end()) {
                slots = it->second;
                q.id_slots.erase(it);
                q.free_ids.push_back(d.id);
                q.num_free = static_cast<uint16_t>(q.num_free + slots);
            } else {
                ++q.unknown_ids;
            }
            q.last_used = static_cast<uint16_t>(q.last_used + slots);
            if (q.last_used >= q.size) {
                q.last_used = static_cast<uint16_t>(q.last_used - q.size);
                q.used_wrap = !q.used_wrap;
            }
            if (taken.size() > 4u * q.size) die("used descriptors without end");
        }
        // virtqueue_enable_cb_prepare_packed with EVENT_IDX: an event at the next used slot.
        if (rearm && has(features::ring_event_idx)) {
            set_driver_event(queue, packed::event_flags_desc,
                             static_cast<uint16_t>(q.last_used | (q.used_wrap ? packed::event_wrap_bit : 0)));
        }
        return taken;
    }
    const uint16_t idx = used_idx(queue);
    while (q.last_used != idx) {
        const VirtqUsedElem e = memory_.read<VirtqUsedElem>(q.used + split::used_ring_offset + 8 * uint64_t(q.last_used % q.size));
        ++q.last_used;
        taken.push_back(e);
        auto it = q.busy.find(static_cast<uint16_t>(e.id));
        if (it != q.busy.end()) {
            for (uint16_t d : it->second) q.free.push_back(d);
            q.busy.erase(it);
        }
    }
    if (rearm && has(features::ring_event_idx)) set_used_event(queue, q.last_used);
    return taken;
}

void FakeVirtioDriver::suppress_interrupts(uint16_t queue) {
    Queue& q = queues_.at(queue);
    if (q.packed) {
        set_driver_event(queue, packed::event_flags_disable, 0);
    } else if (has(features::ring_event_idx)) {
        set_used_event(queue, static_cast<uint16_t>(q.last_used + 0x8000));
    } else {
        set_avail_flags(queue, split::avail_f_no_interrupt);
    }
}

bool FakeVirtioDriver::notifications_suppressed(uint16_t queue) {
    const Queue& q = queues_.at(queue);
    if (q.packed) return device_event_flags(queue) == packed::event_flags_disable;
    if (has(features::ring_event_idx)) return avail_event(queue) != q.avail_idx;
    return (used_flags(queue) & split::used_f_no_notify) != 0;
}

uint32_t FakeVirtioDriver::handle_interrupt() {
    const uint32_t status = read32(mmio::interrupt_status);
    write32(mmio::interrupt_ack, status);
    return status;
}

void FakeVirtioDriver::set_avail_idx(uint16_t queue, uint16_t value) {
    Queue& q = queues_.at(queue);
    q.avail_idx = value;
    memory_.write<uint16_t>(q.avail + split::avail_idx_offset, value);
}

void FakeVirtioDriver::set_avail_flags(uint16_t queue, uint16_t flags) {
    memory_.write<uint16_t>(queues_.at(queue).avail + split::avail_flags_offset, flags);
}

void FakeVirtioDriver::set_used_event(uint16_t queue, uint16_t value) {
    const Queue& q = queues_.at(queue);
    memory_.write<uint16_t>(q.avail + split::used_event_offset(q.size), value);
}

uint16_t FakeVirtioDriver::used_idx(uint16_t queue) {
    return memory_.read<uint16_t>(queues_.at(queue).used + split::used_idx_offset);
}

uint16_t FakeVirtioDriver::used_flags(uint16_t queue) {
    return memory_.read<uint16_t>(queues_.at(queue).used + split::used_flags_offset);
}

uint16_t FakeVirtioDriver::avail_event(uint16_t queue) {
    const Queue& q = queues_.at(queue);
    return memory_.read<uint16_t>(q.used + split::avail_event_offset(q.size));
}

}  // namespace domd::test
