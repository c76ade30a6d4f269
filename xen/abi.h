// The one place Xen's public headers (Debian's libxen-dev) enter the build.
//
// domd speaks the arm64 guest ABI. Host tests compile these same headers on x86-64, where
// xen.h would select the x86 structures; we make it select arch-arm.h instead so the host sees
// exactly the layouts the target uses (both are LP64 little-endian). The static_asserts below
// pin the layouts that matter.
#pragma once

#include <cstddef>
#include <cstdint>

#ifndef __XEN_TOOLS__
#define __XEN_TOOLS__ 1  // exposes dm_op and the domctl-adjacent types a device model needs
#endif

#if defined(__x86_64__)
#define DOMD_HOST_WEARS_ARM64_ABI 1
#undef __x86_64__  // xen.h tests for x86 first
#define __aarch64__ 1
#endif

#include <xen-public/errno.h>
#include <xen-public/xen.h>
#include <xen-public/event_channel.h>
#include <xen-public/grant_table.h>
#include <xen-public/memory.h>
#include <xen-public/sched.h>
#include <xen-public/vcpu.h>
#include <xen-public/version.h>
#include <xen-public/hvm/hvm_op.h>
#include <xen-public/hvm/params.h>
#include <xen-public/hvm/dm_op.h>
#include <xen-public/hvm/ioreq.h>
#include <xen-public/io/console.h>
#include <xen-public/io/xs_wire.h>
#include <xen-public/io/xenbus.h>

#ifdef DOMD_HOST_WEARS_ARM64_ABI
#undef __aarch64__
#define __x86_64__ 1
#undef DOMD_HOST_WEARS_ARM64_ABI
#endif

// Layouts that cross the guest/hypervisor boundary (checked against the arm64 ABI).
static_assert(sizeof(xen_ulong_t) == 8);
// Never use struct vcpu_info or struct shared_info from C++: their Arm variants contain empty
// structs, which C++ sizes differently from C. xen/shared_info.h reaches them through offsets
// generated from the C layout (xen/layout_gen.c).
static_assert(sizeof(struct xencons_interface) == 1024 + 2048 + 16);
static_assert(offsetof(struct xencons_interface, out_cons) == 3072 + 8);
static_assert(sizeof(struct xenstore_domain_interface) <= 4096);
static_assert(sizeof(struct xsd_sockmsg) == 16);
static_assert(sizeof(ioreq_t) == 32);
static_assert(sizeof(grant_entry_v1_t) == 8);
static_assert(sizeof(struct xen_hvm_param) == 16);

