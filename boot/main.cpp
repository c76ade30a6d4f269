// kernel_main: where head.S lands once the MMU is on, running at the link address on the main
// stack, interrupts masked.

#include <cstdint>
#include <new>

#include "arch/arm64/sysreg.h"
#include "boot/domd.h"

extern "C" char __tls_base[], __arm64_tls_tcb_offset[];
// picolibc's canary for the stack-protected code we link (Debian's libfdt is built that way).
extern "C" uintptr_t __stack_chk_guard;

namespace {

// domd lives in static storage, constructed here rather than as a global: no global
// constructors run in this image.
alignas(domd::Domd) unsigned char domd_storage[sizeof(domd::Domd)];

}  // namespace

extern "C" [[noreturn]] void kernel_main(uint64_t dt_pa, uint64_t load_pa) {
    // picolibc keeps errno in TLS: point TPIDR_EL0 at the image's own TLS block.
    domd::arm64::write_tpidr_el0(reinterpret_cast<uintptr_t>(__tls_base) -
                                 reinterpret_cast<uintptr_t>(__arm64_tls_tcb_offset));
    // No entropy source is offered to a guest this early; the counter at boot differs per run,
    // which beats the zero it would otherwise be.
    __stack_chk_guard = domd::arm64::read_cntvct_el0() * 0x9e3779b97f4a7c15ull;
    auto* instance = ::new (static_cast<void*>(domd_storage)) domd::Domd(dt_pa, load_pa);
    instance->run();
}
