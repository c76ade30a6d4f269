// A fake Xen behind the hypercall door: records every call and lets a test answer each
// hypercall number with a handler that reads and writes the structures passed by pointer.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "kernel/notifier.h"
#include "xen/hypercall.h"

namespace domd::test {

struct HypercallRecord {
    unsigned op;
    uint64_t args[5];
};

class FakeHypercall final : public xen::Hypercall {
public:
    using Handler = std::function<long(const HypercallRecord&)>;

    long call(unsigned op, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4) override {
        HypercallRecord r{op, {a0, a1, a2, a3, a4}};
        calls.push_back(r);
        auto it = handlers.find(op);
        if (it == handlers.end()) return -38;  // -ENOSYS, as Xen answers unknown hypercalls
        return it->second(r);
    }

    void on(unsigned op, Handler handler) { handlers[op] = std::move(handler); }

    size_t count(unsigned op) const {
        size_t n = 0;
        for (const auto& r : calls) n += r.op == op;
        return n;
    }
    size_t count(unsigned op, uint64_t subop) const {
        size_t n = 0;
        for (const auto& r : calls) n += r.op == op && r.args[0] == subop;
        return n;
    }

    template <typename T>
    static T* arg(const HypercallRecord& r, int index) {
        return reinterpret_cast<T*>(static_cast<uintptr_t>(r.args[index]));
    }

    std::vector<HypercallRecord> calls;
    std::map<unsigned, Handler> handlers;
};

// Counts notifications; what the peer of a ring sees.
class CountingNotifier final : public Notifier {
public:
    void notify() override { ++count; }
    int count = 0;
};

}  // namespace domd::test
