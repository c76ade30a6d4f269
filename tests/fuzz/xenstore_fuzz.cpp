// libFuzzer harness: xenstored is the attacker. The input scripts what the peer does between
// our requests: bytes written into the response ring (replies, events, garbage), arbitrary
// producer/consumer indices, consumed or ignored requests. The client must only ever return
// errors: no crash, no overrun (ASan), no undefined behaviour (UBSan), no hang (every turn
// advances a virtual clock, so every request meets its deadline eventually). Requests run as
// coroutines, several in flight at once, as the backend's conversations do.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "kernel/clock.h"
#include "kernel/notifier.h"
#include "kernel/task.h"
#include "kernel/timer_queue.h"
#include "xen/abi.h"
#include "xen/xenstore.h"
#include "xen/xenstore_ring.h"

namespace {

using namespace domd;

class Script {
public:
    Script(const uint8_t* data, size_t size) : data_(data), size_(size) {}
    bool empty() const { return pos_ >= size_; }
    uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
    uint32_t u32() {
        uint32_t v = 0;
        for (int i = 0; i < 4; ++i) v = (v << 8) | byte();
        return v;
    }
    std::string_view bytes(size_t n) {
        n = n < size_ - pos_ ? n : size_ - pos_;
        std::string_view out(reinterpret_cast<const char*>(data_ + pos_), n);
        pos_ += n;
        return out;
    }

private:
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
};

class HostilePeer final : public Notifier, public Clock {
public:
    HostilePeer(xenstore_domain_interface& page, Script& script) : page_(page), script_(script) {}

    void notify() override {}
    uint64_t now_ns() const override { return clock_; }
    // Four turns and any request has timed out.
    void tick(uint64_t timeout_ns) { clock_ += timeout_ns / 4 + 1; }

    void act() {
        switch (script_.byte() % 5) {
            case 0: {  // write bytes into the response ring, honouring its free space
                std::string_view chunk = script_.bytes(script_.byte());
                for (char c : chunk) page_.rsp[MASK_XENSTORE_IDX(page_.rsp_prod++)] = c;
                break;
            }
            case 1: page_.rsp_prod = script_.u32(); break;  // a lie about the response ring
            case 2: page_.req_cons = script_.u32(); break;  // a lie about the request ring
            case 3: page_.req_cons = page_.req_prod; break;  // "read" every request
            default: break;                                  // silence
        }
    }

private:
    xenstore_domain_interface& page_;
    Script& script_;
    uint64_t clock_ = 0;
};

void on_watch(void*, std::string_view, std::string_view) {}

// One conversation of the kind the backend holds: several requests in a row.
Task<Status> converse(xen::Xenstore& store, char* buffer, size_t size, int kind) {
    std::span<char> out(buffer, size);
    switch (kind) {
        case 0: {
            auto value = co_await store.read("device/vbd", out);
            co_return value.ok() ? ok_status() : Status(value.error());
        }
        case 1: co_return co_await store.write("data/x", "value");
        case 2: {
            auto listing = co_await store.directory("backend", out);
            if (!listing.ok()) co_return listing.error();
            for (auto name : listing.value()) (void)name;
            auto number = co_await store.read_unsigned("domid");
            co_return number.ok() ? ok_status() : Status(number.error());
        }
        default: {
            xen::XsPerm perms[4];
            auto count = co_await store.get_perms("data", perms);
            co_return count.ok() ? ok_status() : Status(count.error());
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static xenstore_domain_interface page;
    memset(&page, 0, sizeof page);
    Script script(data, size);
    HostilePeer peer(page, script);
    xen::XenstoreRing ring(page, peer);
    TimerQueue timers;
    constexpr uint64_t timeout = 1000000;
    {
        xen::Xenstore store(ring, timers, peer);
        store.set_timeout(timeout);
        constexpr int lanes = 4;
        Job jobs[lanes];
        char buffers[lanes][512];
        for (int step = 0; step < 64 && !script.empty(); ++step) {
            uint8_t op = script.byte();
            switch (op % 6) {
                case 0:
                case 1: {
                    int lane = (op >> 3) % lanes;
                    jobs[lane].start(converse(store, buffers[lane], sizeof buffers[lane], op >> 5));
                    break;
                }
                case 2: (void)store.watch("backend/virtio_disk", "t", xen::Xenstore::WatchCallback::from(on_watch, nullptr)); break;
                case 3: (void)store.unwatch("t"); break;
                case 4: jobs[(op >> 3) % lanes].reset(); break;  // a conversation cancelled mid-way
                default: peer.act(); break;
            }
            (void)store.poll();
            peer.tick(timeout);
            timers.run_expired(peer.now_ns());
        }
        // Everything ends by its deadline: no conversation can hang.
        for (int turn = 0; turn < 16; ++turn) {
            (void)store.poll();
            peer.tick(timeout);
            timers.run_expired(peer.now_ns());
        }
        for (auto& job : jobs)
            if (job.running()) __builtin_trap();
        (void)store.unwatch("t");
    }
    if (coroutine_pool().stats().in_use != 0) __builtin_trap();  // a leaked frame
    return 0;
}
