// A fake Xen for one guest's device model, next to FakeXenMemory and FakeXenEvents:
//  - dm_op for the guest: nr_vcpus, IOREQ servers (create, ranges, state, destroy),
//    set_irq_level; on enable it writes each vCPU's event port into the ioreq page, as Xen does;
//  - XENMEM_acquire_resource places a server's ioreq page at the frame we give;
//  - XENMEM_add_to_physmap_batch(gmfn_foreign) places the guest's RAM pages at our frames, with
//    per-entry errors for frames beyond its RAM or injected ones (ENOMEM, ...);
//  - the guest's side: it posts ioreqs into its vCPUs' slots (raising our port) and reads the
//    answers; its RAM pages are host memory a test reads and writes directly.
// Other memory_op sub-ops go on to the handler that was installed before (FakeXenMemory).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "tests/fakes/fake_hypercall.h"
#include "tests/fakes/fake_memory.h"
#include "tests/fakes/fake_xen_events.h"
#include "xen/abi.h"

namespace domd::test {

class FakeXenDm {
public:
    static constexpr uint64_t ram_base = 0x40000000;  // GUEST_RAM0_BASE
    static constexpr uint32_t first_guest_port = 40;  // the guest-side ioreq ports

    FakeXenDm(FakeHypercall& hc, FakePhysMemory& memory, FakeMapper& physmap, FakeXenEvents& events, domid_t guest,
              uint32_t vcpus, uint64_t ram_bytes);
    ~FakeXenDm();

    struct Server {
        bool enabled = false;
        FakePhysMemory::PageId page = 0;
        bool page_allocated = false;
        std::set<std::pair<uint64_t, uint64_t>> ranges;  // inclusive [first, last]
    };

    // ---- the guest ----
    // The host view of the guest page holding `gpa` (allocated on first use, zeroed).
    uint8_t* ram(uint64_t gpa);
    // Allocates all of the guest's RAM now, in consecutive pages, and returns one contiguous
    // host view of it (for a fake driver that lays out rings across pages).
    uint8_t* contiguous_ram();
    // The guest's p2m changes: `gpa`'s frame is backed by a fresh page from now on (what
    // ballooning or a grant-table placement does; Xen then sends INVALIDATE).
    void replace_frame(uint64_t gpa);
    ioreq_t& slot(uint32_t vcpu);
    uint8_t state(uint32_t vcpu);
    // Posts an access into `vcpu`'s slot and raises its port (as a trapping vCPU does).
    void post(uint32_t vcpu, uint8_t type, uint64_t addr, uint32_t size, bool read, uint64_t data = 0,
              uint32_t count = 1, bool data_is_ptr = false);
    void post_mmio_read(uint32_t vcpu, uint64_t addr, uint32_t size) { post(vcpu, IOREQ_TYPE_COPY, addr, size, true); }
    void post_mmio_write(uint32_t vcpu, uint64_t addr, uint32_t size, uint64_t value) {
        post(vcpu, IOREQ_TYPE_COPY, addr, size, false, value);
    }
    // The answer: true once the slot is IORESP_READY and our send reached its port; resets
    // the slot to NONE (Xen takes the answer).
    bool take_answer(uint32_t vcpu, uint64_t* data = nullptr);

    // ---- what happened, and injections ----
    std::map<uint16_t, Server> servers;
    std::vector<std::pair<uint32_t, uint8_t>> irq_levels;  // (irq, level)
    std::vector<size_t> foreign_batches;                   // entries per add_to_physmap_batch
    std::map<uint64_t, int> foreign_errors;                // guest gfn -> errno (negative) for its entry
    std::map<unsigned, long> fail_dm_op;                   // XEN_DMOP_* -> rc
    long fail_acquire = 0;
    bool guest_gone = false;  // every call about the guest answers -ESRCH
    std::vector<unsigned> dm_ops;  // every XEN_DMOP_* seen, in order
    uint32_t vcpus;
    uint64_t ram_bytes;

private:
    long dm_op(const HypercallRecord& r);
    long memory_op(const HypercallRecord& r);
    uint32_t our_port(uint32_t vcpu) const;

    FakePhysMemory& memory_;
    FakeMapper& physmap_;
    FakeXenEvents& events_;
    domid_t guest_;
    FakeHypercall::Handler next_memory_op_;
    std::map<uint64_t, FakePhysMemory::PageId> ram_pages_;  // guest gfn -> page
    uint16_t next_id_ = 0;
    int16_t ioreq_page_server_ = -1;  // the server whose page the slots live in
    void* contiguous_ = nullptr;
};

}  // namespace domd::test
