// domd's log sink on the PV console (what `xl console` and xenconsoled's log show). When the
// ring is full it notifies and yields to let xenconsoled drain, a bounded number of times, then
// drops the rest and counts it: logging must never hang domd.
#pragma once

#include <cstdint>
#include <string_view>

#include "kernel/log.h"
#include "kernel/notifier.h"
#include "xen/console_ring.h"
#include "xen/hypervisor.h"

namespace domd::xen {

class PvConsole final : public LogSink {
public:
    static constexpr int max_yields_per_write = 1000;

    PvConsole(ConsoleRing& ring, Notifier& peer, Hypervisor& hv) : ring_(ring), peer_(peer), hv_(hv) {}

    void write(std::string_view text) override;

    uint64_t dropped_bytes() const { return dropped_; }
    bool broken() const { return broken_; }

private:
    ConsoleRing& ring_;
    Notifier& peer_;
    Hypervisor& hv_;
    uint64_t dropped_ = 0;
    bool broken_ = false;  // the peer corrupted its index: stop touching the ring
};

// Xen's own serial console through HYPERVISOR_console_io: the early and last-resort sink.
class DebugConsole final : public LogSink {
public:
    explicit DebugConsole(Hypervisor& hv) : hv_(hv) {}
    void write(std::string_view text) override { (void)hv_.debug_console_write(text); }

private:
    Hypervisor& hv_;
};

}  // namespace domd::xen
