// Event channels as a source of the main loop: each iteration dispatches pending ports.
#pragma once

#include "kernel/event_loop.h"
#include "xen/event_channels.h"

namespace domd {

class EventChannelSource final : public EventSource {
public:
    // Ports served per loop iteration, so other sources and timers get their turn.
    static constexpr size_t budget = 64;

    explicit EventChannelSource(xen::EventChannels& channels) : channels_(channels) {}
    bool poll() override { return channels_.dispatch_pending(budget) > 0; }
    bool ready() const override { return channels_.work_pending(); }

private:
    xen::EventChannels& channels_;
};

}  // namespace domd
