#include "kernel/coroutine_pool.h"

#include "kernel/panic.h"

namespace domd {
namespace {

constinit CoroutinePool pool;

}  // namespace

CoroutinePool& coroutine_pool() { return pool; }

void* CoroutinePool::take(uint64_t* used, size_t count, unsigned char* base, size_t size) {
    for (size_t i = 0; i < count; ++i) {
        uint64_t bit = uint64_t{1} << (i % 64);
        if (used[i / 64] & bit) continue;
        used[i / 64] |= bit;
        return base + i * size;
    }
    return nullptr;
}

void* CoroutinePool::allocate(size_t size) {
    if (size > stats_.largest_request) stats_.largest_request = size;
    void* frame = nullptr;
    if (size <= small_block) frame = take(small_.used, small_blocks, &small_.storage[0][0], small_block);
    if (!frame && size <= large_block) frame = take(large_.used, large_blocks, &large_.storage[0][0], large_block);
    if (!frame) {
        ++stats_.failures;
        return nullptr;
    }
    ++stats_.allocations;
    ++stats_.in_use;
    return frame;
}

void CoroutinePool::release(void* frame, size_t) {
    auto* p = static_cast<unsigned char*>(frame);
    auto give_back = [&](uint64_t* used, unsigned char* base, size_t size, size_t count) {
        if (p < base || p >= base + size * count) return false;
        size_t i = static_cast<size_t>(p - base) / size;
        // Only frames this pool handed out come back here; anything else is our own bug.
        if ((p - base) % size != 0 || !(used[i / 64] & (uint64_t{1} << (i % 64))))
            panic("coroutine pool: bad release of %p", frame);
        used[i / 64] &= ~(uint64_t{1} << (i % 64));
        return true;
    };
    if (!give_back(small_.used, &small_.storage[0][0], small_block, small_blocks) &&
        !give_back(large_.used, &large_.storage[0][0], large_block, large_blocks))
        panic("coroutine pool: release of %p, not a frame", frame);
    --stats_.in_use;
}

}  // namespace domd
