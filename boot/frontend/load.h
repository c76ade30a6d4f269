// mode=load: well-formed IO without end on every disk the guest has, the way a busy guest
// uses them, for the e2e scenarios with several guests and disks at once (issue 12's "Done
// when"). Each round, on each disk:
//   writable disk   16 sectors written with this round's content and read back; if offered,
//                   WRITE_ZEROES on 8 of them (they must read back as zeros) and DISCARD on 8
//                   (section 5.2.6: status OK, content unspecified after)
//   read-only disk  (VIRTIO_BLK_F_RO) 16 sectors read against the lab disk's pattern; every
//                   fourth round an OUT and a DISCARD, which must come back IOERR (5.2.6.2)
// Any other answer, a wrong byte or a request that is never answered ends the run with
// "LOAD: FAIL ...". Progress: "LOAD: round N ..." lines (at most about one a second), and at
// the end "LOAD: done P/T" (requests answered as they must be / sent).
#pragma once

#include <cstddef>
#include <cstdint>

#include "boot/frontend/virtio_driver.h"

namespace domd::frontend {

struct LoadOptions {
    uint32_t rounds = 0;   // 0: no limit
    uint32_t seconds = 0;  // 0: no limit; with neither, the guest runs until it is destroyed
};

struct LoadResult {
    uint64_t passed = 0;
    uint64_t total = 0;
};

// Runs the load over `count` started drivers. Returns after the limit, or at the first failure
// (passed < total then).
LoadResult run_load(VirtioDriver* const* drivers, size_t count, const LoadOptions& options);

}  // namespace domd::frontend
