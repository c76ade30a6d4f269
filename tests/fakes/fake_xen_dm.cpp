#include "tests/test_support.h"

#include "tests/fakes/fake_xen_dm.h"

#include <sys/mman.h>

namespace domd::test {

FakeXenDm::FakeXenDm(FakeHypercall& hc, FakePhysMemory& memory, FakeMapper& physmap, FakeXenEvents& events,
                     domid_t guest, uint32_t vcpus, uint64_t ram_bytes)
    : vcpus(vcpus), ram_bytes(ram_bytes), memory_(memory), physmap_(physmap), events_(events), guest_(guest) {
    auto it = hc.handlers.find(__HYPERVISOR_memory_op);
    if (it != hc.handlers.end()) next_memory_op_ = it->second;
    hc.on(__HYPERVISOR_dm_op, [this](const HypercallRecord& r) { return dm_op(r); });
    hc.on(__HYPERVISOR_memory_op, [this](const HypercallRecord& r) { return memory_op(r); });
}

uint8_t* FakeXenDm::ram(uint64_t gpa) {
    uint64_t gfn = gpa >> page_shift;
    auto it = ram_pages_.find(gfn);
    if (it == ram_pages_.end()) it = ram_pages_.emplace(gfn, memory_.new_page()).first;
    return static_cast<uint8_t*>(memory_.page(it->second)) + (gpa & page_mask);
}

uint8_t* FakeXenDm::contiguous_ram() {
    if (contiguous_) return static_cast<uint8_t*>(contiguous_);
    uint64_t pages = ram_bytes >> page_shift;
    FakePhysMemory::PageId first = memory_.new_page();
    ram_pages_[ram_base >> page_shift] = first;
    for (uint64_t i = 1; i < pages; ++i) ram_pages_[(ram_base >> page_shift) + i] = memory_.new_page();
    contiguous_ = mmap(nullptr, ram_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, memory_.fd(),
                       static_cast<off_t>(uint64_t{first} * page_size));
    if (contiguous_ == MAP_FAILED) abort();
    return static_cast<uint8_t*>(contiguous_);
}

FakeXenDm::~FakeXenDm() {
    if (contiguous_) munmap(contiguous_, ram_bytes);
}

void FakeXenDm::replace_frame(uint64_t gpa) { ram_pages_[gpa >> page_shift] = memory_.new_page(); }

ioreq_t& FakeXenDm::slot(uint32_t vcpu) {
    Server& s = servers.at(static_cast<uint16_t>(ioreq_page_server_));
    return static_cast<ioreq_t*>(memory_.page(s.page))[vcpu];
}

uint8_t FakeXenDm::state(uint32_t vcpu) { return slot(vcpu).state; }

uint32_t FakeXenDm::our_port(uint32_t vcpu) const {
    for (const auto& [local, p] : events_.ports)
        if (p.kind == EVTCHNSTAT_interdomain && p.remote_dom == guest_ && p.remote_port == first_guest_port + vcpu)
            return local;
    return 0;
}

void FakeXenDm::post(uint32_t vcpu, uint8_t type, uint64_t addr, uint32_t size, bool read, uint64_t data,
                     uint32_t count, bool data_is_ptr) {
    ioreq_t& s = slot(vcpu);
    s.addr = addr;
    s.data = data;
    s.size = size;
    s.count = count;
    s.type = type;
    s.dir = read ? IOREQ_READ : IOREQ_WRITE;
    s.data_is_ptr = data_is_ptr;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    s.state = STATE_IOREQ_READY;
    if (uint32_t port = our_port(vcpu)) events_.raise(port);
}

bool FakeXenDm::take_answer(uint32_t vcpu, uint64_t* data) {
    ioreq_t& s = slot(vcpu);
    if (s.state != STATE_IORESP_READY) return false;
    uint32_t port = our_port(vcpu);
    auto sent = std::find(events_.sends.begin(), events_.sends.end(), port);
    if (sent == events_.sends.end()) return false;
    events_.sends.erase(sent);
    if (data) *data = s.data;
    s.state = STATE_IOREQ_NONE;
    return true;
}

long FakeXenDm::dm_op(const HypercallRecord& r) {
    if (r.args[0] != guest_) return -XEN_ESRCH;
    if (guest_gone) return -XEN_ESRCH;
    if (r.args[1] != 1) return -XEN_EINVAL;
    auto* buf = FakeHypercall::arg<xen_dm_op_buf_t>(r, 2);
    if (buf->size < sizeof(xen_dm_op)) return -XEN_EFAULT;
    auto* op = reinterpret_cast<xen_dm_op*>(buf->h.p);
    dm_ops.push_back(op->op);
    if (auto f = fail_dm_op.find(op->op); f != fail_dm_op.end()) return f->second;
    switch (op->op) {
        case XEN_DMOP_nr_vcpus: op->u.nr_vcpus.vcpus = vcpus; return 0;
        case XEN_DMOP_create_ioreq_server: {
            if (op->u.create_ioreq_server.handle_bufioreq != HVM_IOREQSRV_BUFIOREQ_OFF) return -XEN_EINVAL;
            uint16_t id = next_id_++;
            servers[id] = Server{};
            op->u.create_ioreq_server.id = id;
            return 0;
        }
        case XEN_DMOP_map_io_range_to_ioreq_server:
        case XEN_DMOP_unmap_io_range_from_ioreq_server: {
            auto& a = op->u.map_io_range_to_ioreq_server;
            auto it = servers.find(a.id);
            if (it == servers.end()) return -XEN_ENOENT;
            if (a.type != XEN_DMOP_IO_RANGE_MEMORY || a.end < a.start) return -XEN_EINVAL;
            if (op->op == XEN_DMOP_map_io_range_to_ioreq_server) {
                if (!it->second.ranges.insert({a.start, a.end}).second) return -XEN_EEXIST;
            } else if (it->second.ranges.erase({a.start, a.end}) == 0) {
                return -XEN_ENOENT;
            }
            return 0;
        }
        case XEN_DMOP_set_ioreq_server_state: {
            auto it = servers.find(op->u.set_ioreq_server_state.id);
            if (it == servers.end()) return -XEN_ENOENT;
            it->second.enabled = op->u.set_ioreq_server_state.enabled;
            if (it->second.enabled && it->second.page_allocated) {
                auto* slots = static_cast<ioreq_t*>(memory_.page(it->second.page));
                for (uint32_t v = 0; v < vcpus; ++v) slots[v].vp_eport = first_guest_port + v;
            }
            return 0;
        }
        case XEN_DMOP_destroy_ioreq_server:
            return servers.erase(op->u.destroy_ioreq_server.id) ? 0 : -XEN_ENOENT;
        case XEN_DMOP_set_irq_level:
            irq_levels.push_back({op->u.set_irq_level.irq, op->u.set_irq_level.level});
            return 0;
        default:
            return -XEN_EOPNOTSUPP;
    }
}

long FakeXenDm::memory_op(const HypercallRecord& r) {
    switch (r.args[0]) {
        case XENMEM_acquire_resource: {
            auto* a = FakeHypercall::arg<xen_mem_acquire_resource_t>(r, 1);
            if (a->domid != guest_ || guest_gone) return -XEN_ESRCH;
            if (fail_acquire) return fail_acquire;
            if (a->type != XENMEM_resource_ioreq_server || a->nr_frames != 1 ||
                a->frame != XENMEM_resource_ioreq_server_frame_ioreq(0))
                return -XEN_EINVAL;
            auto it = servers.find(static_cast<uint16_t>(a->id));
            if (it == servers.end()) return -XEN_ENOENT;
            if (!it->second.page_allocated) {
                it->second.page = memory_.new_page();
                it->second.page_allocated = true;
            }
            ioreq_page_server_ = static_cast<int16_t>(a->id);
            xen_pfn_t where = *reinterpret_cast<xen_pfn_t*>(a->frame_list.p);
            physmap_.place(Gfn{where}, it->second.page);
            return 0;
        }
        case XENMEM_add_to_physmap_batch: {
            auto* a = FakeHypercall::arg<xen_add_to_physmap_batch_t>(r, 1);
            if (a->space != XENMAPSPACE_gmfn_foreign) break;
            if (a->domid != DOMID_SELF) return -XEN_EPERM;
            if (a->u.foreign_domid != guest_ || guest_gone) return -XEN_ESRCH;
            foreign_batches.push_back(a->size);
            auto* idxs = reinterpret_cast<xen_ulong_t*>(a->idxs.p);
            auto* gpfns = reinterpret_cast<xen_pfn_t*>(a->gpfns.p);
            auto* errs = reinterpret_cast<int*>(a->errs.p);
            for (uint16_t i = 0; i < a->size; ++i) {
                uint64_t gfn = idxs[i];
                if (auto e = foreign_errors.find(gfn); e != foreign_errors.end()) {
                    errs[i] = e->second;
                } else if (gfn < (ram_base >> page_shift) || gfn >= ((ram_base + ram_bytes) >> page_shift)) {
                    errs[i] = -XEN_EINVAL;
                } else {
                    (void)ram(gfn << page_shift);
                    physmap_.place(Gfn{gpfns[i]}, ram_pages_.at(gfn));
                    errs[i] = 0;
                }
            }
            return 0;
        }
        default: break;
    }
    return next_memory_op_ ? next_memory_op_(r) : -XEN_ENOSYS;
}

}  // namespace domd::test
