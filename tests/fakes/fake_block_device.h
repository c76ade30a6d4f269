// A BlockDevice that completes later: submit() queues the request, and the test decides when
// (and how) each one completes. Completions are executed by an inner device (a RamDisk), so
// data really moves. Lets a test hold requests in flight across a reset or a queue disable.
#pragma once

#include <cstdint>
#include <deque>

#include "blk/block_device.h"

namespace domd::test {

class DeferredBlockDevice final : public blk::BlockDevice {
public:
    explicit DeferredBlockDevice(blk::BlockDevice& inner) : inner_(inner) {}

    uint64_t capacity_sectors() const override { return inner_.capacity_sectors(); }
    bool read_only() const override { return inner_.read_only(); }
    bool supports_discard() const override { return inner_.supports_discard(); }
    Status submit(blk::BlockIo& io) override {
        ++submitted;
        if (refuse_next != Err{}) {
            const Err e = refuse_next;
            refuse_next = Err{};
            return e;
        }
        pending_.push_back(&io);
        return ok_status();
    }

    size_t pending() const { return pending_.size(); }
    // Runs the oldest pending request on the inner device (which completes it).
    void complete_one() {
        blk::BlockIo* io = pending_.front();
        pending_.pop_front();
        (void)inner_.submit(*io);
    }
    void complete_all() {
        while (!pending_.empty()) complete_one();
    }
    // Completes the oldest pending request with an error, without running it.
    void fail_one(Err error) {
        blk::BlockIo* io = pending_.front();
        pending_.pop_front();
        io->complete(*io, error);
    }

    Err refuse_next{};  // the next submit() fails with this (not started, no completion)
    uint64_t submitted = 0;

private:
    blk::BlockDevice& inner_;
    std::deque<blk::BlockIo*> pending_;
};

}  // namespace domd::test
