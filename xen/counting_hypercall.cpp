#include "xen/counting_hypercall.h"

namespace domd::xen {

CountingHypercall::Kind CountingHypercall::classify(unsigned op, uint64_t subop) {
    switch (op) {
        case __HYPERVISOR_event_channel_op: return subop == EVTCHNOP_send ? evtchn_send : evtchn_other;
        case __HYPERVISOR_dm_op: return dm_op;
        case __HYPERVISOR_memory_op:
            if (subop == XENMEM_add_to_physmap_batch) return foreign_map;
            if (subop == XENMEM_remove_from_physmap) return physmap_remove;
            return memory_other;
        case __HYPERVISOR_grant_table_op:
            if (subop == GNTTABOP_map_grant_ref) return grant_map;
            if (subop == GNTTABOP_unmap_grant_ref) return grant_unmap;
            return grant_other;
        case __HYPERVISOR_sched_op: return sched;
        default: return other;
    }
}

const char* CountingHypercall::kind_name(Kind k) {
    static constexpr const char* names[kinds] = {"evtchn_send", "evtchn_other", "dm_op",       "foreign_map",
                                                 "physmap_remove", "memory_other", "grant_map", "grant_unmap",
                                                 "grant_other", "sched", "other"};
    return k < kinds ? names[k] : "?";
}

uint64_t CountingHypercall::total() const {
    uint64_t sum = 0;
    for (uint64_t c : counts_) sum += c;
    return sum;
}

}  // namespace domd::xen
