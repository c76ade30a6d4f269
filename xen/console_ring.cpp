#include "xen/console_ring.h"

#include "kernel/atomic.h"
#include "xen/abi.h"

namespace domd::xen {
namespace {

constexpr uint32_t out_size = sizeof(xencons_interface::out);
constexpr uint32_t in_size = sizeof(xencons_interface::in);
static_assert((out_size & (out_size - 1)) == 0 && (in_size & (in_size - 1)) == 0);

}  // namespace

Result<size_t> ConsoleRing::space() const {
    uint32_t cons = load_acquire(&ring_.out_cons);
    uint32_t prod = ring_.out_prod;  // ours
    uint32_t used = prod - cons;
    if (used > out_size) return Err::protocol;
    return size_t{out_size - used};
}

Result<size_t> ConsoleRing::write(std::string_view text) {
    size_t free = TRY(space());
    uint32_t prod = ring_.out_prod;
    size_t count = text.size() < free ? text.size() : free;
    for (size_t i = 0; i < count; ++i) ring_.out[(prod + i) & (out_size - 1)] = text[i];
    // The payload must be visible before the index that publishes it.
    store_release(&ring_.out_prod, prod + static_cast<uint32_t>(count));
    return count;
}

Result<size_t> ConsoleRing::read(std::span<char> buffer) {
    uint32_t prod = load_acquire(&ring_.in_prod);
    uint32_t cons = ring_.in_cons;  // ours
    uint32_t available = prod - cons;
    if (available > in_size) return Err::protocol;
    size_t count = available < buffer.size() ? available : buffer.size();
    for (size_t i = 0; i < count; ++i) buffer[i] = ring_.in[(cons + i) & (in_size - 1)];
    // Finish reading the payload before handing the space back.
    store_release(&ring_.in_cons, cons + static_cast<uint32_t>(count));
    return count;
}

}  // namespace domd::xen
