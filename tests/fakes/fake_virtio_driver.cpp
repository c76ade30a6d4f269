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
    if (read32(mmio::version) != 2) return false;
    if (read32(mmio::device_id) == 0) return false;
    (void)read32(mmio::vendor_id);
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
    write32(mmio::status, status::acknowledge | status::driver | status::features_ok);
    if (!(read32(mmio::status) & status::features_ok)) {
        write32(mmio::status, status::acknowledge | status::driver | status::failed);
        return false;
    }
    return true;
}

bool FakeVirtioDriver::setup_queue(uint16_t index, uint16_t size) {
    write32(mmio::queue_sel, index);
    if (read32(mmio::queue_ready) != 0) return false;
    const uint32_t max = read32(mmio::queue_num_max);
    if (max == 0) return false;
    const uint16_t num = size != 0 ? size : static_cast<uint16_t>(max);
    Queue q;
    q.size = num;
    q.desc = alloc(split::desc_table_bytes(num), 4096);
    q.avail = alloc(split::avail_ring_bytes(num), 2);
    q.used = alloc(split::used_ring_bytes(num), 4096);
    for (uint16_t i = num; i > 0; --i) q.free.push_back(static_cast<uint16_t>(i - 1));
    queues_[index] = q;
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

bool FakeVirtioDriver::kick(uint16_t queue) {
    Queue& q = queues_.at(queue);
    const uint16_t old = q.kicked_idx;
    q.kicked_idx = q.avail_idx;
    bool needed;
    if (has(features::ring_event_idx)) needed = need_event(avail_event(queue), q.avail_idx, old);
    else needed = !(used_flags(queue) & split::used_f_no_notify);
    if (needed) write32(mmio::queue_notify, queue);
    return needed;
}

std::vector<VirtqUsedElem> FakeVirtioDriver::take_used(uint16_t queue, bool rearm) {
    Queue& q = queues_.at(queue);
    std::vector<VirtqUsedElem> taken;
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
