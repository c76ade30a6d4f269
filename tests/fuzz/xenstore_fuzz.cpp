// libFuzzer harness: xenstored is the attacker. The input scripts what the peer does between
// our requests: bytes written into the response ring (replies, events, garbage), arbitrary
// producer/consumer indices, consumed or ignored requests. The client must only ever return
// errors: no crash, no overrun (ASan), no undefined behaviour (UBSan), no hang (every wait
// advances a virtual clock past the request deadline eventually).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "kernel/notifier.h"
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

class HostilePeer final : public Notifier, public xen::XenstoreWaiter {
public:
    HostilePeer(xenstore_domain_interface& page, Script& script) : page_(page), script_(script) {}

    void notify() override {}
    uint64_t now_ns() override { return clock_; }
    Status wait(uint64_t timeout_ns) override {
        clock_ += timeout_ns / 4 + 1;  // four waits and any request has timed out
        act();
        return ok_status();
    }

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static xenstore_domain_interface page;
    memset(&page, 0, sizeof page);
    Script script(data, size);
    HostilePeer peer(page, script);
    xen::XenstoreRing ring(page, peer);
    xen::Xenstore store(ring, peer);
    store.set_timeout(1000000);
    char buffer[512];
    for (int step = 0; step < 64 && !script.empty(); ++step) {
        switch (script.byte() % 8) {
            case 0: (void)store.read("device/vbd", buffer); break;
            case 1: (void)store.write("data/x", "value"); break;
            case 2: (void)store.directory("backend", buffer); break;
            case 3: (void)store.watch("backend/virtio_disk", "t", xen::Xenstore::WatchCallback::from(on_watch, nullptr)); break;
            case 4: (void)store.dispatch_watch_events(); break;
            case 5: (void)store.read_unsigned("domid"); break;
            case 6: {
                xen::XsPerm perms[4];
                (void)store.get_perms("data", perms);
                break;
            }
            default: peer.act(); break;
        }
    }
    (void)store.unwatch("t");
    return 0;
}
