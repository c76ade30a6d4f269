#include "xen/ioreq_server.h"

#include "kernel/atomic.h"
#include "kernel/bitfield.h"
#include "kernel/log.h"

namespace domd::xen {
namespace {

// ioreq_t as hvm/ioreq.h lays it out; the state, data_is_ptr, dir and df bit-fields share the
// byte at offset 30, which Xen and we hand back and forth, so it is accessed as a whole byte.
static_assert(sizeof(ioreq_t) == 32);
static_assert(offsetof(ioreq_t, addr) == 0 && offsetof(ioreq_t, data) == 8 && offsetof(ioreq_t, count) == 16 &&
              offsetof(ioreq_t, size) == 20 && offsetof(ioreq_t, vp_eport) == 24 && offsetof(ioreq_t, type) == 31);
constexpr size_t flags_offset = 30;
static_assert(IoreqServer::max_vcpus <= page_size / sizeof(ioreq_t), "one page of slots");

struct IoreqFlags {
    uint8_t raw = 0;
    DOMD_FIELD(uint8_t, state, 3, 0)
    DOMD_BIT(data_is_ptr, 4)
    DOMD_BIT(dir_read, 5)  // IOREQ_READ
    DOMD_BIT(df, 6)
};
static_assert(IOREQ_READ == 1 && IOREQ_WRITE == 0);

uint8_t* flags_of(ioreq_t& slot) { return reinterpret_cast<uint8_t*>(&slot) + flags_offset; }

// Xen's ESRCH: the guest is gone, nothing is left to undo.
bool gone(Status s) { return !s.ok() && s.error() == Err::no_such_domain; }

}  // namespace

IoreqServer::IoreqServer(Hypercall& hypercall, EventChannels& events, FrameAllocator& frames, Mapper& mapper,
                         domid_t target)
    : dm_(hypercall, target), hc_(hypercall), events_(events), frames_(frames), mapper_(mapper) {}

Status IoreqServer::create() {
    if (created_) return Err::exists;
    uint32_t vcpus = TRY(dm_.vcpu_count());
    if (vcpus == 0 || vcpus > max_vcpus) {
        LOG_WARN("ioreq server for domain %u: %u vCPUs, domd serves at most %u", target(), vcpus, max_vcpus);
        return Err::too_big;
    }
    id_ = TRY(dm_.create_ioreq_server());
    created_ = true;
    vcpus_ = vcpus;
    // From here, destroy() undoes whatever got done.
    Status built = [&]() -> Status {
        page_gfn_ = TRY(frames_.allocate());
        if (Status acquired = dm_.acquire_ioreq_page(id_, page_gfn_); !acquired.ok()) {
            if (Status freed = frames_.free(page_gfn_); !freed.ok())  // nothing was placed there
                LOG_ERROR("frame %#llx not given back: %s", static_cast<unsigned long long>(page_gfn_.value),
                          err_name(freed.error()));
            return acquired;
        }
        page_placed_ = true;
        page_ = TRY(Mapping::create(mapper_, page_gfn_.address(), page_size, MapAttrs::read_write()));
        slots_ = page_.as<ioreq_t>();
        TRY(dm_.set_ioreq_server_state(id_, true));
        enabled_ = true;
        for (uint32_t v = 0; v < vcpus_; ++v) {
            uint32_t remote = load_acquire(&slots_[v].vp_eport);
            ports_[v] = TRY(events_.bind_interdomain(target(), remote,
                                                     EventChannels::Handler::to<&IoreqServer::on_port>(this)));
        }
        set_polling(polling_);
        return ok_status();
    }();
    if (!built.ok()) (void)destroy();
    return built;
}

Status IoreqServer::destroy() {
    if (!created_) return ok_status();
    Status first;
    auto note = [&](Status s) {
        if (!s.ok() && !gone(s) && first.ok()) first = s;
    };
    for (auto& port : ports_) port.reset();
    for (auto& window : windows_) window = Window{};
    for (auto& d : deferred_) d = Deferred{};
    slots_ = nullptr;
    page_.reset();
    if (enabled_) note(dm_.set_ioreq_server_state(id_, false));
    enabled_ = false;
    if (page_placed_) {
        // The acquired page sits in our physmap: take it out so Xen can free it with the server.
        Hypervisor hv(hc_);
        Status removed = hv.remove_from_physmap(page_gfn_);
        note(removed);
        // A frame Xen still backs must never be handed out again: it is withheld, and counted.
        if (removed.ok() || gone(removed)) {
            if (Status freed = frames_.free(page_gfn_); !freed.ok())
                LOG_ERROR("ioreq page frame %#llx not given back: %s", static_cast<unsigned long long>(page_gfn_.value),
                          err_name(freed.error()));
        } else {
            frames_.withhold(page_gfn_);
            LOG_WARN("ioreq page of domain %u stays at gfn %#llx: %s", target(),
                     static_cast<unsigned long long>(page_gfn_.value), err_name(removed.error()));
        }
        page_placed_ = false;
    }
    note(dm_.destroy_ioreq_server(id_));
    created_ = false;
    vcpus_ = 0;
    return first;
}

Status IoreqServer::add_window(uint64_t base, uint64_t size, virtio::MmioHandler& handler) {
    if (!created_) return Err::not_connected;
    if (size == 0 || base + size < base) return Err::invalid;
    for (const auto& w : windows_)
        if (w.handler && base < w.base + w.size && w.base < base + size) return Err::exists;
    Window* slot = nullptr;
    for (auto& w : windows_)
        if (!w.handler) {
            slot = &w;
            break;
        }
    if (!slot) return Err::no_space;
    TRY(dm_.map_mmio_range(id_, base, base + size - 1));
    *slot = Window{base, size, &handler};
    return ok_status();
}

Status IoreqServer::remove_window(uint64_t base) {
    for (auto& w : windows_) {
        if (!w.handler || w.base != base) continue;
        for (auto& d : deferred_)
            if (d.window == &w) d = Deferred{};  // its device is going: nothing more to finish
        Status unmapped = dm_.unmap_mmio_range(id_, w.base, w.base + w.size - 1);
        w = Window{};
        return gone(unmapped) ? ok_status() : unmapped;
    }
    return Err::not_found;
}

void IoreqServer::set_polling(bool polling) {
    polling_ = polling;
    for (uint32_t v = 0; v < vcpus_; ++v) {
        if (!ports_[v].valid()) continue;
        if (polling)
            (void)events_.mask(ports_[v].port());
        else
            (void)events_.unmask(ports_[v].port());
    }
}

void IoreqServer::on_port(uint32_t) { kicked_ = true; }

bool IoreqServer::pending() const {
    if (!slots_) return false;
    if (kicked_) return true;
    for (uint32_t v = 0; v < vcpus_; ++v) {
        if (deferred_[v].active) return true;
        IoreqFlags flags{load_acquire(flags_of(slots_[v]))};
        if (flags.state() == STATE_IOREQ_READY) return true;
    }
    return false;
}

IoreqServer::Window* IoreqServer::window_for(uint64_t addr, uint64_t size) {
    for (auto& w : windows_)
        if (w.handler && addr >= w.base && addr - w.base < w.size && size <= w.size - (addr - w.base)) return &w;
    return nullptr;
}

void IoreqServer::answer(uint32_t vcpu, uint64_t data, bool read) {
    ioreq_t& slot = slots_[vcpu];
    if (read) store_relaxed(&slot.data, data);
    // The data must be visible before the state says so (hvm/ioreq.h protocol).
    uint8_t* flags = flags_of(slot);
    store_release(flags, IoreqFlags{load_relaxed(flags)}.set_state(STATE_IORESP_READY).raw);
    if (!events_.send(ports_[vcpu].port()).ok()) ++stats_.notify_failures;
}

bool IoreqServer::serve(uint32_t vcpu) {
    ioreq_t& slot = slots_[vcpu];
    Deferred& deferred = deferred_[vcpu];
    if (deferred.active) {
        ++stats_.retries;
        virtio::MmioAnswer a = deferred.window->handler->write(deferred.offset, deferred.size, deferred.value);
        if (a.kind == virtio::MmioAnswer::Kind::retry) return false;
        deferred = Deferred{};
        answer(vcpu, 0, false);
        return true;
    }
    IoreqFlags flags{load_acquire(flags_of(slot))};
    if (flags.state() != STATE_IOREQ_READY) return false;
    // Read each field once: the slot is shared memory.
    uint8_t type = load_relaxed(&slot.type);
    uint64_t addr = load_relaxed(&slot.addr);
    uint64_t data = load_relaxed(&slot.data);
    uint32_t size = load_relaxed(&slot.size);
    uint32_t count = load_relaxed(&slot.count);
    bool read = flags.dir_read();
    store_relaxed(flags_of(slot), flags.set_state(STATE_IOREQ_INPROCESS).raw);

    if (type == IOREQ_TYPE_INVALIDATE) {
        ++stats_.invalidates;
        // Every mapping of the guest's RAM goes before the answer: from now on, no data may
        // reach a frame the guest may no longer have at that address.
        if (on_invalidate_) on_invalidate_();
        answer(vcpu, 0, false);
        return true;
    }
    if (type != IOREQ_TYPE_COPY) {
        if (!logged_unknown_type_) {
            LOG_WARN("ioreq of type %u from domain %u answered and ignored (logged once)", type, target());
            logged_unknown_type_ = true;
        }
        ++stats_.other_types;
        answer(vcpu, ~uint64_t{0}, read);
        return true;
    }
    // An Arm guest's MMIO access is one load or store: no repetition, no data pointer, a
    // power-of-two width up to 8 bytes.
    Window* window = window_for(addr, size);
    if (count != 1 || flags.data_is_ptr() || (size != 1 && size != 2 && size != 4 && size != 8) || !window) {
        ++stats_.bad_accesses;
        answer(vcpu, ~uint64_t{0}, read);
        return true;
    }
    uint64_t offset = addr - window->base;
    auto width = static_cast<uint8_t>(size);
    if (read) {
        ++stats_.mmio_reads;
        uint64_t value = window->handler->read(offset, width).value;
        if (size < 8) value &= (uint64_t{1} << (8 * size)) - 1;
        answer(vcpu, value, true);
        return true;
    }
    ++stats_.mmio_writes;
    if (size < 8) data &= (uint64_t{1} << (8 * size)) - 1;
    virtio::MmioAnswer a = window->handler->write(offset, width, data);
    if (a.kind == virtio::MmioAnswer::Kind::retry) {
        deferred = Deferred{true, window, offset, width, data};
        return false;
    }
    answer(vcpu, 0, false);
    return true;
}

bool IoreqServer::poll() {
    if (!slots_) return false;
    kicked_ = false;
    bool did = false;
    for (uint32_t v = 0; v < vcpus_; ++v) did |= serve(v);
    return did;
}

}  // namespace domd::xen
