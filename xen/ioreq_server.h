// One IOREQ server: how domd receives a guest's accesses to its virtio-mmio windows (Xen's
// hvm/ioreq.h, dm_op.h; docs in /work/shared/xen-abi.md "IOREQ").
//
// Setup, in the order Xen needs: create the server (buffered ioreqs off), acquire its ioreq
// page into one of our frames and map it, enable it (Xen then writes each vCPU's event port
// into its slot), bind those ports. MMIO windows are claimed and released at any time.
//
// Serving: every slot in state READY is answered, whatever its type; the trapping guest vCPU
// stays stalled in Xen until we set IORESP_READY and send on its port (Xen never polls the
// state, so a polling backend sends too). MMIO accesses go to the window's handler; a write the
// handler cannot finish yet (MmioAnswer::retry) keeps its slot INPROCESS and is offered again on
// later passes. INVALIDATE (Xen's mapcache invalidation: some RAM entry of the guest's p2m was
// replaced) calls the invalidate handler before it is answered. Unknown types are answered,
// counted and logged once. Everything in the page is the guest's and Xen's, read once per
// access and checked.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "kernel/callback.h"
#include "kernel/frame_allocator.h"
#include "kernel/limits.h"
#include "kernel/mapper.h"
#include "kernel/result.h"
#include "virtio/mmio_handler.h"
#include "xen/abi.h"
#include "xen/device_model.h"
#include "xen/event_channels.h"
#include "xen/hypercall.h"

namespace domd::xen {

class IoreqServer {
public:
    // vCPUs of one guest domd serves (one ioreq slot and one event channel each).
    static constexpr uint32_t max_vcpus = limits::max_guest_vcpus;
    // MMIO windows per server: one per virtio device of the guest.
    static constexpr size_t max_windows = limits::max_disks_per_guest;

    struct Stats {
        uint64_t mmio_reads = 0;
        uint64_t mmio_writes = 0;
        uint64_t invalidates = 0;
        uint64_t other_types = 0;     // answered and otherwise ignored
        uint64_t bad_accesses = 0;    // rep/pointer forms, odd sizes, outside every window
        uint64_t retries = 0;         // passes a deferred write was offered again
        uint64_t notify_failures = 0; // EVTCHNOP_send refused
    };

    IoreqServer(Hypercall& hypercall, EventChannels& events, FrameAllocator& frames, Mapper& mapper, domid_t target);
    IoreqServer(const IoreqServer&) = delete;
    IoreqServer& operator=(const IoreqServer&) = delete;
    // Tears down whatever create() built (best effort; failures are counted in destroy()).
    ~IoreqServer() { (void)destroy(); }

    // Builds the server; on failure nothing of it is left. Err::not_implemented: Xen has no
    // IOREQ servers (built without CONFIG_IOREQ_SERVER); Err::access / Err::permission: the
    // XSM policy does not make domd this guest's device model.
    Status create();
    // Undoes create(): the server with its ranges, the page, the bindings. A guest that is
    // already gone (Err::not_found from Xen's ESRCH) counts as torn down.
    Status destroy();
    bool created() const { return created_; }
    domid_t target() const { return dm_.target(); }
    uint32_t vcpus() const { return vcpus_; }
    DeviceModel& device_model() { return dm_; }

    // Claims [base, base + size) for `handler` (offsets passed to it are relative to base).
    Status add_window(uint64_t base, uint64_t size, virtio::MmioHandler& handler);
    Status remove_window(uint64_t base);
    void set_invalidate_handler(Callback<void()> handler) { on_invalidate_ = handler; }

    // Polled mode masks the ports (the loop looks at the slots itself); event mode unmasks them
    // and a port's event marks the server for the loop.
    void set_polling(bool polling);
    // Serves every READY slot and every deferred write. True if it answered anything.
    bool poll();
    // True if poll() has something to do right now (cheap: one byte per vCPU).
    bool pending() const;

    const Stats& stats() const { return stats_; }

private:
    struct Window {
        uint64_t base = 0;
        uint64_t size = 0;
        virtio::MmioHandler* handler = nullptr;
    };
    struct Deferred {
        bool active = false;
        Window* window = nullptr;
        uint64_t offset = 0;
        uint8_t size = 0;
        uint64_t value = 0;
    };

    void on_port(uint32_t port);
    // Serves slot `vcpu` (state READY); true when it was answered.
    bool serve(uint32_t vcpu);
    void answer(uint32_t vcpu, uint64_t data, bool read);
    Window* window_for(uint64_t addr, uint64_t size);

    DeviceModel dm_;
    Hypercall& hc_;
    EventChannels& events_;
    FrameAllocator& frames_;
    Mapper& mapper_;
    bool created_ = false;
    bool enabled_ = false;
    bool polling_ = false;
    bool kicked_ = false;
    IoreqServerId id_ = 0;
    uint32_t vcpus_ = 0;
    Gfn page_gfn_{};
    bool page_placed_ = false;
    Mapping page_;
    ioreq_t* slots_ = nullptr;
    std::array<EventBinding, max_vcpus> ports_;
    std::array<Deferred, max_vcpus> deferred_;
    std::array<Window, max_windows> windows_;
    Callback<void()> on_invalidate_;
    bool logged_unknown_type_ = false;
    Stats stats_;
};

}  // namespace domd::xen
