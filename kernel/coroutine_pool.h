// Where coroutine frames (kernel/task.h) live: fixed blocks in static storage, in two sizes,
// never a heap. A frame that fits no free block fails to allocate, and its task then answers
// Err::no_memory: counted here, so a too-large frame or a leak shows in the stats.
#pragma once

#include <cstddef>
#include <cstdint>

namespace domd {

class CoroutinePool {
public:
    // Control-plane conversations in flight at once: per served device a handful, plus domd's
    // own services. Frame sizes depend on the compiler; the stats say what was needed.
    static constexpr size_t small_block = 512;
    static constexpr size_t small_blocks = 96;
    static constexpr size_t large_block = 2048;
    static constexpr size_t large_blocks = 48;

    struct Stats {
        uint64_t allocations = 0;
        uint64_t failures = 0;      // no free block of a fitting size
        size_t largest_request = 0;  // biggest frame asked for, in bytes
        size_t in_use = 0;
    };

    void* allocate(size_t size);
    void release(void* frame, size_t size);
    const Stats& stats() const { return stats_; }

private:
    template <size_t Size, size_t Count>
    struct Blocks {
        alignas(16) unsigned char storage[Count][Size];
        uint64_t used[(Count + 63) / 64];
    };
    void* take(uint64_t* used, size_t count, unsigned char* base, size_t size);

    Blocks<small_block, small_blocks> small_{};
    Blocks<large_block, large_blocks> large_{};
    Stats stats_{};
};

// The one pool (static storage, constant-initialized).
CoroutinePool& coroutine_pool();

}  // namespace domd
