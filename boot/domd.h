// domd, assembled: the concrete arm64 pieces under the portable kernel/ and xen/ layers, and
// the event loop that runs everything.
#pragma once

#include <cstdint>

#include "arch/arm64/hypercall.h"
#include "arch/arm64/kernel_memory.h"
#include "arch/arm64/platform.h"
#include "boot/options.h"
#include "kernel/devicetree.h"
#include "kernel/event_loop.h"
#include "kernel/frame_allocator.h"
#include "kernel/mapper.h"
#include "xen/console_ring.h"
#include "xen/hypervisor.h"
#include "xen/pv_console.h"

namespace domd {

class Domd {
public:
    Domd(uint64_t dt_pa, uint64_t load_pa);
    [[noreturn]] void run();

private:
    Status map_device_tree(uint64_t dt_pa);
    Status take_extended_regions();
    void start_console();
    void print_banner();
    [[noreturn]] void stop(xen::ShutdownReason reason);

    arm64::HvcHypercall hypercall_;
    xen::Hypervisor hv_{hypercall_};
    xen::DebugConsole debug_console_{hv_};
    arm64::KernelMemory memory_;
    Mapper& mapper_;
    FrameAllocator frames_;

    uint64_t dt_pa_ = 0;
    Mapping dt_map_;
    Platform platform_;
    Options options_;
    arm64::Arm64Platform machine_{hv_};
    EventLoop loop_{machine_, IdleMode::block};

    Mapping console_page_;
    xen::ConsoleRing* console_ring_ = nullptr;
};

}  // namespace domd
