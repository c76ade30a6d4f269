// Every capacity of domd's kernel and Xen layers, in one place, each with the reason for its
// number. domd has no heap: these fix the sizes of its pools and tables at build time, so a
// limit reached is an error its caller sees (Err::no_space, Err::no_memory), never a crash and
// never a resource lost.
//
// They are sized for the virtio-disk backend under its full load: max_guests guests, each with
// up to max_disks_per_guest disks, each disk with up to max_requests_per_disk requests in flight.
#pragma once

#include <cstddef>
#include <cstdint>

namespace domd::limits {

inline constexpr uint64_t mib = uint64_t{1} << 20;
inline constexpr uint64_t gib = uint64_t{1} << 30;

// ---- the load the backend is built for -----------------------------------------------------

// Guests one domd serves: a driver domain for a small consolidated system.
inline constexpr size_t max_guests = 8;
// Disks per guest: root, data, swap and one spare.
inline constexpr size_t max_disks_per_guest = 4;
// Requests in flight per disk: a 128-entry virtqueue, twice the queue depth of 64 that guests
// commonly keep busy.
inline constexpr size_t max_requests_per_disk = 128;
inline constexpr size_t max_requests = max_guests * max_disks_per_guest * max_requests_per_disk;  // 4096

// ---- TLB maintenance (kernel/page_table.h) ---------------------------------------------------

// An unmap of up to this many 4 KiB pages invalidates them one TLBI each; a bigger one
// invalidates the whole TLB with one TLBI (domd is the only user of its stage-1 regime, so that
// costs refills of domd's own entries only). 64 pages are the largest grant batch, so a request's
// buffers always take the per-page path; blocks (2 MiB = 512 pages) always take the other one.
inline constexpr uint64_t tlbi_page_limit = 64;

}  // namespace domd::limits
