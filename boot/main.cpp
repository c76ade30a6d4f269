// kernel_main: where head.S lands once the MMU is on, running at the link address on the main
// stack, interrupts masked.

#include <cstdint>
#include <new>

#include "arch/arm64/sysreg.h"
#include "boot/domd.h"

extern "C" char __tls_base[], __arm64_tls_tcb_offset[];

namespace {

// domd lives in static storage, constructed here rather than as a global: no global
// constructors run in this image.
alignas(domd::Domd) unsigned char domd_storage[sizeof(domd::Domd)];

}  // namespace

extern "C" [[noreturn]] void kernel_main(uint64_t dt_pa, uint64_t load_pa) {
    // picolibc keeps errno in TLS: point TPIDR_EL0 at the image's own TLS block.
    domd::arm64::write_tpidr_el0(reinterpret_cast<uintptr_t>(__tls_base) -
                                 reinterpret_cast<uintptr_t>(__arm64_tls_tcb_offset));
    auto* instance = ::new (static_cast<void*>(domd_storage)) domd::Domd(dt_pa, load_pa);
    instance->run();
}
