// domd's options from its command line (xl `extra=`); tools/domd.cfg documents each one.
#pragma once

#include <cstdint>
#include <string_view>

#include "kernel/event_loop.h"
#include "kernel/log.h"

namespace domd {

struct Options {
    LogLevel log_level = LogLevel::info;
    IdleMode idle = IdleMode::block;
    bool xen_console = false;
    bool test_hooks = false;
    // The name guests give in their disk line's target= for the disk in domd's ramdisk.
    char disk_name[33] = "disk0";
    bool disk_read_only = false;
    // The ramdisk module split into named disks (blk/disk_layout.h); empty: one disk, disk_name.
    std::string_view disks;
    // Queues per device (VIRTIO_BLK_F_MQ above one); 0: one per guest vCPU.
    uint16_t queues = 0;
    // Adaptive idle mode: microseconds without work before the loop sleeps.
    uint32_t quiet_us = 500;
    // While polled, a deep-queue guest's interrupt waits this long after its last submission
    // (xen::VirtioDiskOptions::irq_hold_ns); 0: never.
    uint32_t irq_hold_us = 50;
};

// Unknown keys and bad values are logged and otherwise ignored (the default stays).
Options parse_options(std::string_view command_line);

}  // namespace domd
