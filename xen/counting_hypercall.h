// Counts every hypercall by kind on its way through the door: what the latency benchmark
// divides by requests ("hypercalls per request"), and what a user reads to see where a
// backend's time goes. A decorator: the protocol classes keep using the one Hypercall door.
#pragma once

#include <array>
#include <cstdint>

#include "xen/abi.h"
#include "xen/hypercall.h"

namespace domd::xen {

class CountingHypercall final : public Hypercall {
public:
    // The kinds worth telling apart on the request path and in setup/teardown.
    enum Kind : uint8_t {
        evtchn_send,       // an ioreq answered, a peer notified
        evtchn_other,
        dm_op,             // set_irq_level on the request path; server setup otherwise
        foreign_map,       // XENMEM_add_to_physmap_batch (guest RAM, 512 frames a call)
        physmap_remove,    // XENMEM_remove_from_physmap (one frame a call)
        memory_other,
        grant_map,         // GNTTABOP_map_grant_ref
        grant_unmap,
        grant_other,
        sched,             // block, poll, yield
        other,
        kinds,
    };
    static const char* kind_name(Kind k);

    explicit CountingHypercall(Hypercall& door) : door_(door) {}

    long call(unsigned op, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4) override {
        ++counts_[classify(op, a0)];
        return door_.call(op, a0, a1, a2, a3, a4);
    }

    uint64_t count(Kind k) const { return counts_[k]; }
    uint64_t total() const;

private:
    static Kind classify(unsigned op, uint64_t subop);

    Hypercall& door_;
    std::array<uint64_t, kinds> counts_{};
};

}  // namespace domd::xen
