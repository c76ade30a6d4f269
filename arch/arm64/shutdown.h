// Ends this domain (SCHEDOP_shutdown) and never returns: the one way out for crashes, panics
// and orderly stops alike. (Pre-MMU boot code has its own, position-independent copy.)
#pragma once

#include "xen/hypervisor.h"

namespace domd::arm64 {

[[noreturn]] void shutdown_domain(xen::ShutdownReason reason);

}  // namespace domd::arm64
