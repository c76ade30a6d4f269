// The virtio-mmio transport (virtio 1.2 section 4.2): the register window a guest driver
// programs, feature negotiation, device status, queue setup, interrupts, and the loop-facing
// service() that moves requests between the virtqueues and the device type.
//
// Two register layouts, one per device (MmioOptions::version):
//  - version 2 (section 4.2.2), the default: VERSION_1 required, FEATURES_OK, QueueReady and
//    64-bit area addresses; split or packed rings (VIRTIO_F_RING_PACKED, offered by default);
//    ACCESS_PLATFORM offered, so a grant-based guest can use grant addresses.
//  - version 1, legacy (section 4.2.4), for guests whose drivers need it: no VERSION_1, so split
//    rings only, placed from QueuePFN x GuestPageSize with QueueAlign (section 2.7.2), and
//    guest-physical addresses only (no ACCESS_PLATFORM, no grants). Features are settled when
//    the first queue is set up or DRIVER_OK is written (legacy drivers have no FEATURES_OK).
//
// Threading: one loop calls read()/write() (from the IOREQ dispatcher) and service(); nothing
// here is re-entered from another CPU. A QueueNotify write only marks the queue: the IO runs in
// the next service() pass, so the trapping vCPU is released at once.
//
// Interrupts: InterruptStatus bit 0 (used buffers) and bit 1 (configuration change). The guest
// interrupt (an edge SPI on Xen) is raised through the Notifier when a bit goes from clear to
// set, at most once per service() pass. While a bit is still set the guest has not yet read
// and acknowledged it; its handler acknowledges first and then looks at every used ring, so it
// sees what was published meanwhile and a second edge would only cost a hypercall.
#pragma once

#include <cstdint>

#include "kernel/notifier.h"
#include "virtio/device.h"
#include "virtio/guest_memory.h"
#include "virtio/limits.h"
#include "virtio/mmio_handler.h"
#include "virtio/virtqueue.h"

namespace domd::virtio {

// Register offsets, section 4.2.2 (table "MMIO Device Register Layout").
namespace mmio {
constexpr uint32_t magic_value = 0x000;
constexpr uint32_t version = 0x004;
constexpr uint32_t device_id = 0x008;
constexpr uint32_t vendor_id = 0x00c;
constexpr uint32_t device_features = 0x010;
constexpr uint32_t device_features_sel = 0x014;
constexpr uint32_t driver_features = 0x020;
constexpr uint32_t driver_features_sel = 0x024;
constexpr uint32_t queue_sel = 0x030;
constexpr uint32_t queue_num_max = 0x034;
constexpr uint32_t queue_num = 0x038;
constexpr uint32_t queue_ready = 0x044;
constexpr uint32_t queue_notify = 0x050;
constexpr uint32_t interrupt_status = 0x060;
constexpr uint32_t interrupt_ack = 0x064;
constexpr uint32_t status = 0x070;
constexpr uint32_t queue_desc_low = 0x080;
constexpr uint32_t queue_desc_high = 0x084;
constexpr uint32_t queue_driver_low = 0x090;
constexpr uint32_t queue_driver_high = 0x094;
constexpr uint32_t queue_device_low = 0x0a0;
constexpr uint32_t queue_device_high = 0x0a4;
constexpr uint32_t shm_sel = 0x0ac;
constexpr uint32_t shm_len_low = 0x0b0;
constexpr uint32_t shm_len_high = 0x0b4;
constexpr uint32_t shm_base_low = 0x0b8;
constexpr uint32_t shm_base_high = 0x0bc;
constexpr uint32_t queue_reset = 0x0c0;
constexpr uint32_t config_generation = 0x0fc;
constexpr uint32_t config = 0x100;
constexpr uint32_t window_size = 0x200;  // what libxl gives each device (a 0x200 DT reg)
constexpr uint32_t config_size = window_size - config;

// Legacy layout only (section 4.2.4, "MMIO Device Legacy Register Layout"). The other legacy
// registers sit where version 2 has them (HostFeatures/HostFeaturesSel at device_features/
// device_features_sel, GuestFeatures/GuestFeaturesSel at driver_features/driver_features_sel);
// QueueReady, the 64-bit area addresses, shared memory, QueueReset and ConfigGeneration do not
// exist there.
constexpr uint32_t guest_page_size = 0x028;
constexpr uint32_t queue_align = 0x03c;
constexpr uint32_t queue_pfn = 0x040;

constexpr uint32_t magic = 0x74726976;  // "virt"
constexpr uint32_t version_legacy = 1;
constexpr uint32_t version_2 = 2;
// What a legacy device assumes until the driver says otherwise (QEMU's defaults; Linux writes
// both): 4 KiB pages, used rings on a 4 KiB boundary.
constexpr uint32_t default_guest_page_size = 4096;
constexpr uint32_t default_queue_align = 4096;
// InterruptStatus / InterruptACK bits.
constexpr uint32_t interrupt_used_buffer = 1;
constexpr uint32_t interrupt_config_change = 2;

static_assert(queue_desc_high == queue_desc_low + 4 && queue_driver_high == queue_driver_low + 4 &&
              queue_device_high == queue_device_low + 4, "64-bit pairs: low word first");
static_assert(config_generation + 4 == config, "configuration space follows ConfigGeneration");
}  // namespace mmio

struct MmioOptions {
    uint32_t vendor_id = 0x646d6f64;  // "domd", little-endian
    // mmio::version_2 (section 4.2.2), or mmio::version_legacy (4.2.4); anything else is 2.
    uint32_t version = mmio::version_2;
    bool event_idx = true;            // offer VIRTIO_F_EVENT_IDX
    bool indirect_desc = true;        // offer VIRTIO_F_INDIRECT_DESC
    // Offer VIRTIO_F_ACCESS_PLATFORM: required by Linux's grant-based virtio (a guest whose
    // device node has the xen,grant-dma link); harmless for a guest using physical addresses.
    // Version 2 only.
    bool access_platform = true;
    // Offer VIRTIO_F_RING_PACKED (section 2.8): the driver picks split or packed rings.
    // Version 2 only.
    bool ring_packed = true;
};

struct MmioStats {
    uint64_t interrupts = 0;            // guest interrupts raised (Notifier calls)
    uint64_t interrupts_coalesced = 0;  // bits set while still pending: no second interrupt
    uint64_t config_interrupts = 0;     // configuration-change interrupts among them
    uint64_t kicks_ignored = 0;         // QueueNotify naming no live queue
    uint64_t resets = 0;                // device resets requested (Status = 0)
    uint64_t reset_retries = 0;         // Status = 0 answered `retry` (requests in flight)
    uint64_t queue_disable_retries = 0; // QueueReady = 0 answered `retry`
    uint64_t queue_setups_refused = 0;  // QueueReady = 1 (or QueuePFN) that did not make a live queue
    uint64_t features_refused = 0;      // FEATURES_OK refused
    uint64_t needs_reset = 0;           // times DEVICE_NEEDS_RESET was set
    uint64_t bad_accesses = 0;          // wrong width, alignment or offset
    uint64_t ignored_writes = 0;        // read-only registers, or writes not allowed now
};

class MmioTransport final : public MmioHandler {
public:
    MmioTransport(Device& device, GuestMemory& memory, Notifier& interrupt, const MmioOptions& options = {});
    MmioTransport(const MmioTransport&) = delete;
    MmioTransport& operator=(const MmioTransport&) = delete;

    // ---- MmioHandler: one guest access to the 0x200-byte window ----
    MmioAnswer read(uint64_t offset, uint8_t size) override;
    MmioAnswer write(uint64_t offset, uint8_t size, uint64_t value) override;

    // ---- the loop ----
    // Cheap: true if service() has something to do (a notified queue, used entries to
    // publish, a broken queue to report, or, when polling, a queue with available entries).
    bool needs_service() const;
    // One pass: processes notified queues (every live queue when polling), at most `budget`
    // chains in all; publishes used entries; raises at most one interrupt. True if it did work.
    bool service(uint32_t budget = limits::default_service_budget);
    // Polling: guest notifications are suppressed and every pass looks at every queue.
    void set_polling(bool on);
    bool polling() const { return polling_; }
    // Before the loop sleeps (polling or not): re-enables guest notifications on every queue
    // and re-checks the rings after a full barrier. True if work is pending: do not sleep,
    // call service() (a request that raced with the re-enable would get no notification).
    bool prepare_to_sleep();
    // The device's configuration space changed (e.g. capacity): ConfigGeneration moves and the
    // driver gets a configuration-change interrupt.
    void config_changed();

    // ---- introspection ----
    uint32_t version() const { return legacy() ? mmio::version_legacy : mmio::version_2; }
    uint32_t device_status() const { return status_; }
    uint64_t offered_features() const { return offered_; }
    uint64_t negotiated_features() const { return driver_features_; }
    uint32_t interrupt_status() const { return interrupt_status_; }
    bool reset_pending() const { return reset_pending_; }
    uint16_t queue_count() const { return queue_count_; }
    const Virtqueue& queue(uint16_t index) const { return queues_[index]; }
    const MmioStats& stats() const { return stats_; }

private:
    MmioAnswer read_config(uint64_t offset, uint8_t size);
    MmioAnswer write_config(uint64_t offset, uint8_t size, uint64_t value);
    uint32_t read_register(uint32_t offset);
    MmioAnswer write_register(uint32_t offset, uint32_t value);
    MmioAnswer write_status(uint32_t value);
    MmioAnswer write_queue_ready(uint32_t value);
    MmioAnswer write_queue_pfn(uint32_t value);
    bool legacy_setup(uint32_t pfn, QueueSetup& setup) const;
    MmioAnswer release_queue(Virtqueue& queue);
    MmioAnswer request_reset();
    void finish_reset();
    void notify_queue(uint32_t index);
    bool features_acceptable();
    bool settle_legacy_features();
    bool legacy() const { return options_.version == mmio::version_legacy; }
    bool runnable() const;
    void process_queue(Virtqueue& queue, uint32_t& budget);
    void enter_needs_reset();
    void raise(uint32_t bits);
    Virtqueue* selected_queue();
    QueueSetup* selected_setup();
    void set_half(uint64_t& field, bool high, uint32_t value);

    Device& device_;
    Notifier& interrupt_;
    QueueGroup group_;
    MmioOptions options_;
    uint64_t offered_ = 0;
    uint16_t queue_count_ = 0;

    uint32_t status_ = 0;
    uint32_t interrupt_status_ = 0;
    uint32_t config_generation_ = 0;
    uint32_t device_features_sel_ = 0;
    uint32_t driver_features_sel_ = 0;
    uint64_t driver_features_ = 0;
    bool features_fixed_ = false;  // FEATURES_OK accepted (version 2) or features settled (legacy)
    uint32_t queue_sel_ = 0;
    uint32_t shm_sel_ = 0;
    bool reset_pending_ = false;
    bool polling_ = false;
    uint16_t next_queue_ = 0;  // round-robin start, so one busy queue cannot starve the others

    QueueSetup setups_[limits::max_queues];
    // Legacy: GuestPageSize is kept across device resets (Linux writes it once, when it probes
    // the platform device, before any reset); QueueAlign and QueuePFN are per queue.
    uint32_t guest_page_size_ = mmio::default_guest_page_size;
    uint32_t queue_align_[limits::max_queues];
    uint32_t queue_pfn_[limits::max_queues] = {};
    Virtqueue queues_[limits::max_queues];
    MmioStats stats_;
};

}  // namespace domd::virtio
