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

// Guest RAM the backend maps into domd per guest (virtio buffers are guest-physical: the RAM is
// mapped once, in 2 MiB blocks, not per request).
inline constexpr uint64_t max_guest_ram_gib = 32;
// Live mappings of guest RAM at once: a guest's RAM comes in up to 4 banks.
inline constexpr size_t max_ram_mappings = max_guests * 4;  // 32

// ---- TLB maintenance (kernel/page_table.h) ---------------------------------------------------

// An unmap of up to this many 4 KiB pages invalidates them one TLBI each; a bigger one
// invalidates the whole TLB with one TLBI (domd is the only user of its stage-1 regime, so that
// costs refills of domd's own entries only). 64 pages are the largest grant batch, so a request's
// buffers always take the per-page path; blocks (2 MiB = 512 pages) always take the other one.
inline constexpr uint64_t tlbi_page_limit = 64;

// ---- the run-time mapping window (kernel/address_space.h) -----------------------------------

// Mappings smaller than 2 MiB (a request's grant window, rings, shared pages, the device tree)
// get 4 KiB pages from the page area at the bottom of the window. Its size bounds the tables
// they can ever need (one last-level table per 2 MiB of it): 256 MiB are 65536 pages, 16 pages
// for each request in flight.
inline constexpr uint64_t page_area_bytes = 256 * mib;
// Mappings of 2 MiB and more (guest RAM) take 2 MiB-aligned addresses from the block area, the
// rest of the window, and 2 MiB blocks where the physical address allows.

// Live mappings each area can hold at once (kernel/range_allocator.h: the bound that lets
// every unmap give its pages back, in any order). Page area: one grant window per request in
// flight, plus rings, shared pages and the device tree.
inline constexpr size_t max_small_mappings = max_requests + 256;
// Block area: the guests' RAM, plus 32 other big mappings.
inline constexpr size_t max_big_mappings = max_ram_mappings + 32;

// ---- frames for Xen to place pages at (kernel/frame_allocator.h) ----------------------------

// Runs of frames live at once: one per grant mapping (a request in flight), one per guest RAM
// mapping, and 64 for ioreq pages, shared_info and the like.
inline constexpr size_t max_frame_allocations = max_requests + max_ram_mappings + 64;
// Extended regions in the device tree (/hypervisor reg[1..]): Xen gives a domU a few.
inline constexpr size_t max_frame_regions = 16;

// ---- page-table pages (arch/arm64/layout.h's pool) -------------------------------------------

// Sizing rule, 4 KiB granule: a last-level (L3) table maps 2 MiB, an L2 table 1 GiB, an L1
// table 512 GiB; an unmap frees the tables it empties, so this is the peak of live mappings:
//   boot: the image's tree (root, L1, L2, up to 4 L3 for image and stacks) plus the
//         identity tree (4, freed once TTBR0 is off)                                  12
//   page area: one L3 per 2 MiB, one L2 per GiB (at least one), one L1             128 + 1 + 1
//   block area: one L2 per GiB of guest RAM mapped, plus 2 per live RAM mapping for
//         the partial GiBs at its ends; L1s: first-fit keeps the live RAM mappings in
//         the lowest 2 TiB of the area, 4 L1s                                          256 + 64 + 4
//   total 466, rounded up to 512 pages (2 MiB of the image's BSS).
// A big mapping whose physical address is not 2 MiB aligned costs one L3 per 2 MiB on top:
// the backend places guest RAM at aligned frames. Past the pool, map() fails with no_memory.
inline constexpr size_t table_pool_pages = 512;
static_assert(table_pool_pages >= 12 + (page_area_bytes / (2 * mib) + 2) +
                                      (max_guests * max_guest_ram_gib + 2 * max_ram_mappings + 4));

}  // namespace domd::limits

namespace domd::limits {

// ---- the IOREQ servers (xen/ioreq_server.h) --------------------------------------------------

// vCPUs of a served guest: one ioreq slot and one event channel each (the ioreq page itself
// holds 128). Eight covers the embedded and automotive guests domd is for.
inline constexpr uint32_t max_guest_vcpus = 8;

}  // namespace domd::limits

namespace domd::limits {

// ---- guest RAM mappings (xen/guest_ram.h) ----------------------------------------------------

// Chunk tables (2 KiB each, one per GiB of guest RAM that is mapped, or dropped and still being
// given back): all guests together. 96 GiB mapped at once; a guest's mapping that finds the
// pool empty fails its request (IOERR) rather than taking another guest's.
inline constexpr size_t max_chunk_tables = 96;

}  // namespace domd::limits

namespace domd::limits {

// ---- grants (xen/grant_table.h) ---------------------------------------------------------------

// Foreign grants mapped with one GNTTABOP_map_grant_ref: the pages of one request (64 pages,
// 256 KiB; a bigger request takes several batches). A mapping keeps one handle per page, so the
// number is also what each request in flight holds.
inline constexpr size_t max_grant_batch = 64;
// Frames of domd's own grant table (512 refs each): domd is a backend, it maps what others
// grant and grants little itself; 2048 refs.
inline constexpr uint32_t max_own_grant_frames = 4;

// ---- event channels (xen/event_channels.h) and the event loop (kernel/event_loop.h) ----------

// Ports with a handler at once: an ioreq port per guest vCPU and up to 8 more per guest
// (frontends' own channels), plus domd's own (console, xenstore, VIRQs). The per-port slot
// index is one byte, which caps it at 255.
inline constexpr size_t max_event_handlers = 255;
static_assert(max_guests * (max_guest_vcpus + 8) + 16 <= max_event_handlers);
// Sources the event loop polls: one per guest (its ioreq server), plus event channels,
// xenstore and a few of domd's own.
inline constexpr size_t max_event_sources = max_guests + 8;

// ---- xenstore (xen/xenstore.h) ------------------------------------------------------------------

// Requests outstanding at once: device setup for several guests proceeding together, a handful
// of requests each.
inline constexpr size_t max_xenstore_requests = 32;
// Watches: per guest one on its backend directory and one per disk on the frontend's state,
// plus 8 of domd's own (control/shutdown, the test hooks).
inline constexpr size_t max_xenstore_watches = max_guests * (1 + max_disks_per_guest) + 8;  // 48
// Watch events queued before the loop serves them: every watch firing twice (registration
// fires each once).
inline constexpr size_t max_xenstore_queued_events = 2 * max_xenstore_watches;  // 96

}  // namespace domd::limits

namespace domd::limits {

// ---- virtio devices on target (xen/device_memory.h) ------------------------------------------

// Queues of one virtio-blk device (VIRTIO_BLK_F_MQ): one per guest vCPU.
inline constexpr size_t max_queues_per_disk = max_guest_vcpus;
// Requests of one device whose grant mappings are live at once. The ram disk completes a
// request inside submit(), so one suffices today; asynchronous stores need their queue depth.
inline constexpr size_t max_grant_requests_per_disk = 4;

}  // namespace domd::limits

namespace domd::limits {

// Reservations of the mapping window (kernel/mapper.h): two per guest, one per RAM bank.
inline constexpr size_t max_reservations = 2 * max_guests;

}  // namespace domd::limits

namespace domd::limits {

// virtio devices one domd serves at once, all guests together (each holds its virtqueues and
// request slots, tens of KiB).
inline constexpr size_t max_devices = 16;

}  // namespace domd::limits
