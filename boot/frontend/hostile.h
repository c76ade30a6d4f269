// The hostile cases of issue 12 item 6, sent by a guest of our own under real Xen, and the
// well-formed requests that must still be answered correctly after each of them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "boot/frontend/virtio_driver.h"

namespace domd::frontend {

// What the cases aim at: where the guest's RAM ends, where the device's registers and the grant
// table are (addresses a buffer must never reach), and the disk's size.
struct HostileEnv {
    uint64_t capacity = 0;  // sectors
    uint64_t ram_base = 0;
    uint64_t ram_end = 0;
    uint64_t window = 0;      // the device's register window (guest-physical)
    uint64_t grant_area = 0;  // /hypervisor reg[0]
    uint64_t shared_info = 0; // our shared_info page, placed in an extended region
};

struct PassResult {
    uint32_t passed = 0;
    uint32_t total = 0;
};

// Runs every case that applies to the driver's addressing, printing one line each:
//   HOSTILE: <addressing>/<case> -> <what domd answered> ; check read ok|FAIL
// A case passes when domd's answer is one the case allows (an error status, NEEDS_RESET or
// nothing for a hostile request; the right data for a legal one), nothing was written outside
// a device-writable buffer, and a well-formed read right after returns the disk's pattern.
// The device is reset and set up again after a case that needs it. Expects a started device.
PassResult run_hostile_pass(VirtioDriver& driver, const HostileEnv& env);

// Reads sector 0 to learn where the disk starts in the lab image (a named disk is a piece of
// it); the checks below compare against that. False (said in `why`) if it is not the image.
bool set_pattern_base(VirtioDriver& d, char* why, size_t why_size);

// A well-formed read of `count` (<= 128) sectors that must return the disk's pattern, with
// nothing written past the data buffer and, once it is answered, none of our buffer pages still
// mapped by the backend (grant pass).
bool check_read(VirtioDriver& d, uint64_t sector, uint32_t count, char* why, size_t why_size);
// Writes `count` (<= 64) sectors of another content, reads them back, restores the pattern and
// reads it back: well-formed writes verify and the disk is left as it was.
bool check_write(VirtioDriver& d, uint64_t sector, uint32_t count, char* why, size_t why_size);
// Reads the whole disk, 64 KiB per request, against the pattern.
bool verify_disk(VirtioDriver& d, uint64_t capacity, char* why, size_t why_size);

}  // namespace domd::frontend
