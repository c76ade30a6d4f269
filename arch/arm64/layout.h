// domd's virtual address space (TTBR1 half, 48-bit VAs). Physical addresses are whatever Xen
// gives us; nothing here is derived from them.
#pragma once

#include <cstdint>

#include "kernel/addr.h"
#include "kernel/limits.h"
#include "kernel/table_pool.h"

namespace domd::arm64 {

constexpr uint64_t image_va = DOMD_IMAGE_VA;  // set by the build, also used by the linker script
constexpr unsigned va_bits = 48;
constexpr uint64_t ttbr1_base = ~uint64_t{0} << va_bits;  // 0xffff000000000000

// Run-time mappings (shared pages, the device tree, foreign and granted pages) get VAs here.
constexpr VirtAddr window_base{ttbr1_base};
constexpr uint64_t window_size = uint64_t{1} << 46;  // 64 TiB
static_assert(window_base.value + window_size <= image_va);

// Page-table pages: sized in kernel/limits.h (the sizing rule is there).
using KernelTablePool = TablePool<limits::table_pool_pages>;

// Linker-script symbols (linker/domd.ld). Their addresses are link-time VAs after the MMU is on
// and physical addresses before (taken PC-relative).
extern "C" char __image_start[], __text_start[], __text_end[], __rodata_start[], __rodata_end[],
    __data_start[], __file_end[], __bss_start[], __bss_end[], __main_stack_bottom[],
    __main_stack_top[], __exception_stack_bottom[], __exception_stack_top[], __image_end[];

}  // namespace domd::arm64
