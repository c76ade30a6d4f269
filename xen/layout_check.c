/* Compiled by the arm64 cross compiler as C: the generated layout must match the real target
 * ABI (see xen/layout_gen.c for why it is generated at all). */
#include <stddef.h>
#include <stdint.h>

#include <xen-public/xen.h>

#include "xen_shared_info_layout.h"

_Static_assert(sizeof(struct vcpu_info) == XEN_LAYOUT_VCPU_INFO_SIZE, "vcpu_info size");
_Static_assert(offsetof(struct vcpu_info, evtchn_upcall_pending) == XEN_LAYOUT_VCPU_INFO_UPCALL_PENDING, "upcall_pending");
_Static_assert(offsetof(struct vcpu_info, evtchn_pending_sel) == XEN_LAYOUT_VCPU_INFO_PENDING_SEL, "pending_sel");
_Static_assert(offsetof(struct vcpu_info, time) == XEN_LAYOUT_VCPU_INFO_TIME, "time");
_Static_assert(offsetof(struct shared_info, evtchn_pending) == XEN_LAYOUT_SHARED_INFO_EVTCHN_PENDING, "evtchn_pending");
_Static_assert(offsetof(struct shared_info, evtchn_mask) == XEN_LAYOUT_SHARED_INFO_EVTCHN_MASK, "evtchn_mask");
_Static_assert(sizeof(struct shared_info) == XEN_LAYOUT_SHARED_INFO_SIZE, "shared_info size");

/* An object file must not be empty under -Wpedantic. */
const int xen_layout_checked = 1;
