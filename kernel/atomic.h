// Memory ordering for memory shared with other domains (rings, shared_info, ioreq pages).
// Thin wrappers over the compiler's __atomic builtins: <atomic> is not freestanding-clean here.
#pragma once

#include <cstdint>

namespace domd {

template <typename T>
inline T load_acquire(const T* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
template <typename T>
inline T load_relaxed(const T* p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
template <typename T>
inline void store_release(T* p, T v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
template <typename T>
inline void store_relaxed(T* p, T v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
template <typename T>
inline T exchange(T* p, T v) { return __atomic_exchange_n(p, v, __ATOMIC_ACQ_REL); }
template <typename T>
inline bool compare_exchange(T* p, T& expected, T desired) {
    return __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}
template <typename T>
inline T fetch_or(T* p, T v) { return __atomic_fetch_or(p, v, __ATOMIC_ACQ_REL); }
template <typename T>
inline T fetch_and(T* p, T v) { return __atomic_fetch_and(p, v, __ATOMIC_ACQ_REL); }

// Xen's ring macros use full, read and write barriers between index and payload accesses;
// on arm64 these become dmb ish / dmb ishld / dmb ishst.
inline void full_barrier() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void read_barrier() { __atomic_thread_fence(__ATOMIC_ACQUIRE); }
inline void write_barrier() { __atomic_thread_fence(__ATOMIC_RELEASE); }

}  // namespace domd
