#include "virtio/mmio_transport.h"

#include "virtio/spec.h"

namespace domd::virtio {
namespace {

constexpr bool valid_config_width(uint8_t size) { return size == 1 || size == 2 || size == 4 || size == 8; }

}  // namespace

MmioTransport::MmioTransport(Device& device, GuestMemory& memory, Notifier& interrupt, const MmioOptions& options)
    : device_(device), interrupt_(interrupt), group_(memory), options_(options) {
    if (options_.version != mmio::version_legacy) options_.version = mmio::version_2;
    if (legacy()) {
        // Section 4.2.4: 32 feature bits (HostFeaturesSel 0 only), no VERSION_1 and so nothing
        // that needs it (packed rings, ACCESS_PLATFORM). ANY_LAYOUT: a device type written
        // for VERSION_1 already takes any descriptor layout (section 2.6.4).
        offered_ = (device.device_features() & 0xffffffffull) | features::any_layout;
    } else {
        offered_ = device.device_features() | features::version_1;
        if (options.access_platform) offered_ |= features::access_platform;
        if (options.ring_packed) offered_ |= features::ring_packed;
    }
    if (options.event_idx) offered_ |= features::ring_event_idx;
    if (options.indirect_desc) offered_ |= features::indirect_desc;
    const uint16_t count = device.queue_count();
    queue_count_ = count < limits::max_queues ? count : limits::max_queues;
    for (uint16_t i = 0; i < limits::max_queues; ++i) {
        queues_[i].bind(group_, i);
        queue_align_[i] = mmio::default_queue_align;
    }
}

// ---- register window ----

MmioAnswer MmioTransport::read(uint64_t offset, uint8_t size) {
    if (offset >= mmio::config) return read_config(offset, size);
    // Section 4.2.2.2: the driver uses 32-bit aligned accesses for control registers.
    if (size != 4 || offset % 4 != 0) {
        ++stats_.bad_accesses;
        return MmioAnswer::read_value(0);
    }
    return MmioAnswer::read_value(read_register(static_cast<uint32_t>(offset)));
}

MmioAnswer MmioTransport::write(uint64_t offset, uint8_t size, uint64_t value) {
    if (offset >= mmio::config) return write_config(offset, size, value);
    if (size != 4 || offset % 4 != 0) {
        ++stats_.bad_accesses;
        return MmioAnswer::ok();
    }
    return write_register(static_cast<uint32_t>(offset), static_cast<uint32_t>(value));
}

uint32_t MmioTransport::read_register(uint32_t offset) {
    switch (offset) {
        case mmio::magic_value: return mmio::magic;
        case mmio::version: return version();
        case mmio::device_id: return device_.device_id();
        case mmio::vendor_id: return options_.vendor_id;
        case mmio::device_features:
            if (device_features_sel_ > 1) return 0;
            return static_cast<uint32_t>(offered_ >> (32 * device_features_sel_));
        case mmio::queue_num_max: {
            if (queue_sel_ >= queue_count_) return 0;  // "zero if the queue is not available"
            const uint16_t max = device_.queue_max_size(static_cast<uint16_t>(queue_sel_));
            return max < limits::max_queue_size ? max : limits::max_queue_size;
        }
        case mmio::interrupt_status: return interrupt_status_;
        case mmio::status: return status_;
        default: break;
    }
    if (legacy()) {
        // Section 4.2.4: QueuePFN reads the page number in use, 0 when the queue is not.
        if (offset == mmio::queue_pfn) {
            const Virtqueue* queue = selected_queue();
            return queue != nullptr && queue->live() ? queue_pfn_[queue_sel_] : 0;
        }
        return 0;  // write-only, or not a legacy register
    }
    switch (offset) {
        case mmio::queue_ready: {
            const Virtqueue* queue = selected_queue();
            return queue != nullptr && queue->live() ? 1 : 0;
        }
        // No shared memory regions: length and base read as -1 (section 4.2.2).
        case mmio::shm_len_low:
        case mmio::shm_len_high:
        case mmio::shm_base_low:
        case mmio::shm_base_high: return 0xffffffff;
        case mmio::config_generation: return config_generation_;
        default: return 0;  // write-only (QueueNum, QueueReset without RING_RESET, ...) or unused
    }
}

MmioAnswer MmioTransport::write_register(uint32_t offset, uint32_t value) {
    if (offset == mmio::status) return write_status(value);
    // While a reset waits for requests in flight, the device is going away under the driver:
    // only acknowledging interrupts still makes sense.
    if (reset_pending_ && offset != mmio::interrupt_ack) {
        ++stats_.ignored_writes;
        return MmioAnswer::ok();
    }
    switch (offset) {
        case mmio::device_features_sel: device_features_sel_ = value; return MmioAnswer::ok();
        case mmio::driver_features_sel: driver_features_sel_ = value; return MmioAnswer::ok();
        case mmio::driver_features:
            // Features are fixed once FEATURES_OK is set (section 3.1.1), or, on a legacy
            // device, once they were used to set up a queue.
            if (features_fixed_ || driver_features_sel_ > 1) {
                ++stats_.ignored_writes;
                return MmioAnswer::ok();
            }
            set_half(driver_features_, driver_features_sel_ == 1, value);
            return MmioAnswer::ok();
        case mmio::queue_sel: queue_sel_ = value; return MmioAnswer::ok();
        case mmio::queue_notify: notify_queue(value); return MmioAnswer::ok();
        case mmio::interrupt_ack:
            // Clears only the bits written; bits that are not pending, or not defined, are harmless.
            interrupt_status_ &= ~(value & (mmio::interrupt_used_buffer | mmio::interrupt_config_change));
            return MmioAnswer::ok();
        default: break;
    }
    if (legacy()) {
        switch (offset) {
            // Section 4.2.4: a power of two, for all queues. Checked when a queue is placed,
            // so that a bad value written and then corrected does no harm.
            case mmio::guest_page_size: guest_page_size_ = value; break;
            case mmio::queue_num:
            case mmio::queue_align:
                // Like version 2 while QueueReady is set: a queue in use keeps its layout.
                if (selected_queue() == nullptr || queues_[queue_sel_].live()) {
                    ++stats_.ignored_writes;
                    break;
                }
                if (offset == mmio::queue_num) setups_[queue_sel_].size = value;
                else queue_align_[queue_sel_] = value;
                break;
            case mmio::queue_pfn: return write_queue_pfn(value);
            default: ++stats_.ignored_writes; break;  // read-only, or not a legacy register
        }
        return MmioAnswer::ok();
    }
    switch (offset) {
        case mmio::queue_num:
        case mmio::queue_desc_low:
        case mmio::queue_desc_high:
        case mmio::queue_driver_low:
        case mmio::queue_driver_high:
        case mmio::queue_device_low:
        case mmio::queue_device_high: {
            // Section 4.2.2.2: not while QueueReady is set; ignoring keeps the live ring as is.
            QueueSetup* setup = selected_setup();
            if (setup == nullptr || queues_[queue_sel_].live()) {
                ++stats_.ignored_writes;
                break;
            }
            switch (offset) {
                case mmio::queue_num: setup->size = value; break;
                case mmio::queue_desc_low: set_half(setup->desc, false, value); break;
                case mmio::queue_desc_high: set_half(setup->desc, true, value); break;
                case mmio::queue_driver_low: set_half(setup->driver, false, value); break;
                case mmio::queue_driver_high: set_half(setup->driver, true, value); break;
                case mmio::queue_device_low: set_half(setup->device, false, value); break;
                default: set_half(setup->device, true, value); break;
            }
            break;
        }
        case mmio::queue_ready: return write_queue_ready(value);
        case mmio::shm_sel: shm_sel_ = value; break;
        default: ++stats_.ignored_writes; break;  // read-only or unused (QueueReset: not offered)
    }
    return MmioAnswer::ok();
}

void MmioTransport::set_half(uint64_t& field, bool high, uint32_t value) {
    if (high) field = (field & 0xffffffffull) | (uint64_t{value} << 32);
    else field = (field & ~0xffffffffull) | value;
}

Virtqueue* MmioTransport::selected_queue() { return queue_sel_ < queue_count_ ? &queues_[queue_sel_] : nullptr; }
QueueSetup* MmioTransport::selected_setup() { return queue_sel_ < queue_count_ ? &setups_[queue_sel_] : nullptr; }

MmioAnswer MmioTransport::read_config(uint64_t offset, uint8_t size) {
    const uint64_t at = offset - mmio::config;
    if (!valid_config_width(size) || at % size != 0 || at + size > mmio::config_size) {
        ++stats_.bad_accesses;
        return MmioAnswer::read_value(0);
    }
    const auto space = device_.config_space();
    uint64_t value = 0;
    for (uint64_t i = 0; i < size; ++i) {
        if (at + i < space.size()) value |= uint64_t{space[at + i]} << (8 * i);
    }
    return MmioAnswer::read_value(value);
}

MmioAnswer MmioTransport::write_config(uint64_t offset, uint8_t size, uint64_t value) {
    const uint64_t at = offset - mmio::config;
    const auto space = device_.config_space();
    if (!valid_config_width(size) || at % size != 0 || at + size > space.size()) {
        ++stats_.bad_accesses;
        return MmioAnswer::ok();
    }
    if (reset_pending_) return MmioAnswer::ok();
    uint8_t bytes[8];
    for (unsigned i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(value >> (8 * i));
    device_.write_config(static_cast<uint32_t>(at), {bytes, size});
    return MmioAnswer::ok();
}

// ---- device status, section 2.1 and 3.1.1 ----

MmioAnswer MmioTransport::write_status(uint32_t value) {
    value &= 0xff;
    if (value == 0) return request_reset();
    if (reset_pending_) {
        ++stats_.ignored_writes;
        return MmioAnswer::ok();
    }
    // DEVICE_NEEDS_RESET is the device's bit: a driver writing back what it read keeps it, and
    // cannot set it. Otherwise the driver only adds bits (section 2.1.2: "MUST NOT clear").
    const uint32_t current = status_ & ~status::device_needs_reset;
    uint32_t next = value & ~status::device_needs_reset;
    // A legacy device has no FEATURES_OK (its drivers never set it, section 3.1.2).
    if (legacy()) next &= ~status::features_ok;
    if ((current & ~next) != 0) {
        ++stats_.ignored_writes;
        return MmioAnswer::ok();
    }
    if (!legacy() && (next & status::features_ok) && !(current & status::features_ok)) {
        if (features_acceptable()) {
            features_fixed_ = true;
        } else {
            ++stats_.features_refused;
            next &= ~status::features_ok;  // the driver reads it back and gives up (section 3.1.1)
        }
    }
    bool driver_ok_now = (next & status::driver_ok) && !(current & status::driver_ok);
    if (driver_ok_now && !(legacy() ? settle_legacy_features() : (next & status::features_ok) != 0)) {
        ++stats_.ignored_writes;
        next &= ~status::driver_ok;
        driver_ok_now = false;
    }
    status_ = next | (status_ & status::device_needs_reset);
    if (driver_ok_now) {
        // Buffers made available before DRIVER_OK were not processed (section 2.1.2): look now.
        for (uint16_t i = 0; i < queue_count_; ++i) {
            if (queues_[i].live() && queues_[i].has_available()) queues_[i].kick();
        }
    }
    return MmioAnswer::ok();
}

bool MmioTransport::features_acceptable() {
    // Section 2.2.1: a subset of what was offered (which for a legacy device holds no
    // VERSION_1); 6.1: a non-legacy device needs VERSION_1.
    if ((driver_features_ & ~offered_) != 0) return false;
    if (!legacy() && !(driver_features_ & features::version_1)) return false;
    return device_.accept_features(driver_features_);
}

// A legacy driver writes GuestFeatures and goes on to set up queues (whose layout depends on
// EVENT_IDX) and DRIVER_OK without telling the device it is done: the first of those fixes them.
// Features the device did not offer leave them unsettled: the queue setup or DRIVER_OK is
// refused, and the driver may write better ones.
bool MmioTransport::settle_legacy_features() {
    if (features_fixed_) return true;
    if (!features_acceptable()) {
        ++stats_.features_refused;
        return false;
    }
    features_fixed_ = true;
    return true;
}

// Section 2.4 and 4.2.2.1: writing 0 resets the device. Requests in flight may still write into
// guest buffers, so the write completes only when none is left; until then it answers `retry`
// (the vCPU stays stalled on the write) and the loop keeps completing requests.
MmioAnswer MmioTransport::request_reset() {
    if (!reset_pending_) {
        reset_pending_ = true;
        ++stats_.resets;
        for (uint16_t i = 0; i < queue_count_; ++i) {
            if (queues_[i].live()) queues_[i].begin_drain();
        }
    }
    for (uint16_t i = 0; i < queue_count_; ++i) {
        if (queues_[i].in_flight() != 0) {
            ++stats_.reset_retries;
            return MmioAnswer::later();
        }
    }
    finish_reset();
    return MmioAnswer::ok();
}

void MmioTransport::finish_reset() {
    device_.reset();
    for (uint16_t i = 0; i < limits::max_queues; ++i) {
        queues_[i].stop();
        setups_[i] = {};
    }
    group_.release_all();
    // Section 4.2.2.1: InterruptStatus and every QueueReady are cleared on reset.
    for (uint32_t& align : queue_align_) align = mmio::default_queue_align;
    for (uint32_t& pfn : queue_pfn_) pfn = 0;
    status_ = 0;
    interrupt_status_ = 0;
    driver_features_ = 0;
    features_fixed_ = false;
    device_features_sel_ = driver_features_sel_ = queue_sel_ = shm_sel_ = 0;
    reset_pending_ = false;
}

// ---- queues ----

MmioAnswer MmioTransport::write_queue_ready(uint32_t value) {
    Virtqueue* queue = selected_queue();
    if (queue == nullptr || value > 1) {
        ++stats_.ignored_writes;
        return MmioAnswer::ok();
    }
    if (value == 1) {
        if (queue->live()) return MmioAnswer::ok();
        // Queues are set up after feature negotiation (section 3.1.1 step 7): the ring format
        // and event fields depend on the features.
        if (!features_fixed_ ||
            !queue->start(setups_[queue_sel_], device_.queue_max_size(static_cast<uint16_t>(queue_sel_)),
                          driver_features_)
                 .ok()) {
            ++stats_.queue_setups_refused;  // QueueReady reads 0: the driver can tell
            return MmioAnswer::ok();
        }
        if (polling_) queue->disable_notifications();
        return MmioAnswer::ok();
    }
    // Section 4.2.2.2: the driver writes 0 and reads it back; the device must not touch the
    // queue once it reads 0.
    return release_queue(*queue);
}

// The write waits for the queue's requests in flight, which may still write into its buffers.
MmioAnswer MmioTransport::release_queue(Virtqueue& queue) {
    if (!queue.live()) return MmioAnswer::ok();
    queue.begin_drain();
    if (queue.in_flight() != 0) {
        ++stats_.queue_disable_retries;
        return MmioAnswer::later();
    }
    queue.stop();
    group_.release_all();  // the other queues map their rings again on next use
    return MmioAnswer::ok();
}

// Section 4.2.4, QueuePFN: the page number of the queue's first byte; 0 releases the queue.
MmioAnswer MmioTransport::write_queue_pfn(uint32_t value) {
    Virtqueue* queue = selected_queue();
    if (queue == nullptr) {
        ++stats_.ignored_writes;
        return MmioAnswer::ok();
    }
    if (value == 0) {
        const MmioAnswer answer = release_queue(*queue);
        if (answer.kind == MmioAnswer::Kind::done) queue_pfn_[queue_sel_] = 0;
        return answer;
    }
    if (queue->live()) {  // moving a queue in use: the driver must release it first
        ++stats_.ignored_writes;
        return MmioAnswer::ok();
    }
    QueueSetup setup;
    if (!settle_legacy_features() || !legacy_setup(value, setup) ||
        !queue->start(setup, device_.queue_max_size(static_cast<uint16_t>(queue_sel_)), driver_features_).ok()) {
        ++stats_.queue_setups_refused;  // QueuePFN reads 0: the driver can tell
        return MmioAnswer::ok();
    }
    queue_pfn_[queue_sel_] = value;
    if (polling_) queue->disable_notifications();
    return MmioAnswer::ok();
}

// The legacy split layout (section 2.7.2) of the selected queue at page `pfn`. False for values
// no driver can mean: a page size or alignment that is not a power of two, a size the queue
// cannot take (start() would refuse it; checked first to keep the arithmetic small).
bool MmioTransport::legacy_setup(uint32_t pfn, QueueSetup& setup) const {
    const uint64_t page = guest_page_size_;
    const uint64_t align = queue_align_[queue_sel_];
    const uint32_t size = setups_[queue_sel_].size;
    if (page == 0 || (page & (page - 1)) != 0 || align == 0 || (align & (align - 1)) != 0) return false;
    if (size == 0 || size > limits::max_queue_size) return false;
    // A 32-bit PFN times a page size of at most 2^31 is below 2^63, and the rings end less than
    // 2^32 bytes further: nothing here overflows 64 bits.
    const uint64_t base = uint64_t{pfn} * page;
    setup = {size, base, base + split::legacy::avail_offset(size), base + split::legacy::used_offset(size, align)};
    return true;
}

void MmioTransport::notify_queue(uint32_t index) {
    // Without VIRTIO_F_NOTIFICATION_DATA the value is the queue index (section 4.2.3.3).
    if (index >= queue_count_ || !queues_[index].live() || queues_[index].draining()) {
        ++stats_.kicks_ignored;
        return;
    }
    queues_[index].kick();
    ++queues_[index].stats().kicks;
}

bool MmioTransport::runnable() const {
    // Section 2.1.2: no buffers are consumed before DRIVER_OK; none after NEEDS_RESET either.
    return (status_ & status::driver_ok) && !(status_ & status::device_needs_reset) && !reset_pending_;
}

bool MmioTransport::needs_service() const {
    const bool run = runnable();
    for (uint16_t i = 0; i < queue_count_; ++i) {
        const Virtqueue& queue = queues_[i];
        if (!queue.live()) continue;
        if (queue.has_unpublished()) return true;
        if (queue.broken()) {
            if (!(status_ & status::device_needs_reset) && !reset_pending_) return true;
            continue;
        }
        if (!run || queue.draining() || queue.stalled()) continue;
        if (queue.kicked()) return true;
        if (polling_ && queue.maybe_available()) return true;
    }
    return false;
}

bool MmioTransport::service(uint32_t budget) {
    bool did_work = false;
    if (runnable() && queue_count_ > 0) {
        for (uint16_t n = 0; n < queue_count_ && budget > 0; ++n) {
            Virtqueue& queue = queues_[(next_queue_ + n) % queue_count_];
            if (!queue.live() || queue.draining() || queue.broken() || queue.stalled()) continue;
            queue.unstall();
            if (!queue.kicked() && !(polling_ && queue.has_available())) continue;
            queue.clear_kick();
            process_queue(queue, budget);
            did_work = true;
        }
        next_queue_ = static_cast<uint16_t>((next_queue_ + 1) % queue_count_);
    }

    bool wants_interrupt = false;
    bool broken = false;
    for (uint16_t i = 0; i < queue_count_; ++i) {
        Virtqueue& queue = queues_[i];
        if (queue.has_unpublished()) {
            did_work = true;
            if (queue.publish_used()) wants_interrupt = true;
        }
        if (queue.live() && queue.broken()) broken = true;
    }
    if (broken && !(status_ & status::device_needs_reset) && !reset_pending_) {
        enter_needs_reset();
        did_work = true;
    }
    if (wants_interrupt) raise(mmio::interrupt_used_buffer);
    return did_work;
}

void MmioTransport::process_queue(Virtqueue& queue, uint32_t& budget) {
    for (;;) {
        // Section 2.7.10: while we are working through the ring a notification tells us nothing.
        queue.disable_notifications();
        const ProcessResult result = device_.process(queue, budget);
        budget -= result.popped < budget ? result.popped : budget;
        if (queue.broken()) return;
        if (result.out_of_slots) {
            queue.kick();  // resumes once a request completes
            queue.stall();
            return;
        }
        if (budget == 0) {
            queue.kick();  // there may be more: next pass
            return;
        }
        if (polling_) return;  // notifications stay off; the next pass looks again
        if (!queue.enable_notifications()) return;
        // Entries raced in with the re-enable: go round again (bounded by the budget).
        if (result.popped == 0) {
            queue.kick();
            return;
        }
    }
}

void MmioTransport::set_polling(bool on) {
    if (polling_ == on) return;
    polling_ = on;
    for (uint16_t i = 0; i < queue_count_; ++i) {
        Virtqueue& queue = queues_[i];
        if (!queue.live() || queue.draining() || queue.broken()) continue;
        if (on) queue.disable_notifications();
        else if (queue.enable_notifications()) queue.kick();
    }
}

bool MmioTransport::prepare_to_sleep() {
    bool pending = false;
    for (uint16_t i = 0; i < queue_count_; ++i) {
        Virtqueue& queue = queues_[i];
        if (!queue.live() || queue.draining() || queue.broken()) continue;
        if (queue.has_unpublished()) pending = true;
        if (queue.enable_notifications() && runnable()) {
            queue.kick();
            pending = true;
        }
    }
    return pending || needs_service();
}

void MmioTransport::config_changed() {
    ++config_generation_;
    if (status_ & status::driver_ok) raise(mmio::interrupt_config_change);
}

void MmioTransport::enter_needs_reset() {
    // Section 2.1.2: set DEVICE_NEEDS_RESET and, once DRIVER_OK was set, tell the driver with
    // a configuration change notification.
    status_ |= status::device_needs_reset;
    ++stats_.needs_reset;
    if (status_ & status::driver_ok) raise(mmio::interrupt_config_change);
}

void MmioTransport::raise(uint32_t bits) {
    const uint32_t before = interrupt_status_;
    interrupt_status_ |= bits;
    if (bits & mmio::interrupt_config_change) ++stats_.config_interrupts;
    if ((bits & ~before) == 0) {
        ++stats_.interrupts_coalesced;
        return;
    }
    ++stats_.interrupts;
    interrupt_.notify();
}

}  // namespace domd::virtio
