// SPDX-License-Identifier: MIT
// Definitions for <dorm/detail/node_pool.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/detail/node_pool.hpp>

#include <cstddef>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define DORM_POOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DORM_POOL_ASAN 1
#endif
#endif

#if defined(DORM_POOL_ASAN)
// A kept block is poisoned until it is handed out again, so that AddressSanitizer still reports a use after free.
extern "C" void __asan_poison_memory_region(void const volatile* addr, std::size_t size);
extern "C" void __asan_unpoison_memory_region(void const volatile* addr, std::size_t size);
#endif

namespace dorm::detail {

namespace pool {

inline constexpr std::size_t granule = 16;   // size classes: 16, 32, ... bytes
inline constexpr std::size_t classes = pool_largest / granule;  // a Query's block is about 600 bytes
inline constexpr std::size_t keep = 16;      // blocks kept per class and thread
inline constexpr std::size_t budget = 64 * 1024;  // bytes kept per thread, all classes together

struct Lists {
    void* kept[classes][keep];
    unsigned char count[classes];
    std::size_t bytes;
};

/// Plain data, never destroyed: a block may be given back while the thread's other thread_locals are destroyed,
/// after its Drain has run (it then goes to the global allocator).
struct State {
    Lists* lists = nullptr;
    bool ended = false;
};

inline State& thread_state() noexcept {
    thread_local State s;
    return s;
}
// Called through a pointer the compiler cannot see through, so that no caller keeps the thread_local's address:
// a fiber may wait in between and resume on another thread.
inline State& (*volatile state)() noexcept = &thread_state;

inline void poison(void* p, std::size_t n) noexcept {
#if defined(DORM_POOL_ASAN)
    __asan_poison_memory_region(p, n);
#else
    (void)p, (void)n;
#endif
}

inline void unpoison(void* p, std::size_t n) noexcept {
#if defined(DORM_POOL_ASAN)
    __asan_unpoison_memory_region(p, n);
#else
    (void)p, (void)n;
#endif
}

/// Frees the thread's kept blocks when it ends.
struct Drain {
    Drain() = default;
    Drain(const Drain&) = delete;
    Drain& operator=(const Drain&) = delete;
    ~Drain() {
        State& s = state();
        s.ended = true;
        if (!s.lists) return;
        for (std::size_t c = 0; c < classes; ++c)
            while (s.lists->count[c] > 0) {
                void* p = s.lists->kept[c][--s.lists->count[c]];
                unpoison(p, (c + 1) * granule);
                ::operator delete(p);
            }
        delete s.lists;
        s.lists = nullptr;
    }
};

inline void register_drain() noexcept {
    thread_local Drain drain;
    (void)drain;
}
// Reached as `state` is, so that the Drain is registered on the thread that makes the lists.
inline void (*volatile registered_drain)() noexcept = &register_drain;

/// The thread's lists, made on its first kept block, with the Drain that frees them.
inline Lists* start(State& s) noexcept {
    s.lists = new (std::nothrow) Lists{};
    if (s.lists) registered_drain();
    return s.lists;
}

}  // namespace pool

DORM_DECL void* pool_allocate(std::size_t size) {
    const std::size_t c = (size - 1) / pool::granule;
    if (size == 0 || c >= pool::classes) return ::operator new(size);
    pool::State& s = pool::state();
    if (s.lists && s.lists->count[c] > 0) {
        void* p = s.lists->kept[c][--s.lists->count[c]];
        s.lists->bytes -= (c + 1) * pool::granule;
        pool::unpoison(p, (c + 1) * pool::granule);
        return p;
    }
    return ::operator new((c + 1) * pool::granule);
}

DORM_DECL void pool_deallocate(void* p, std::size_t size) noexcept {
    const std::size_t c = (size - 1) / pool::granule;
    if (size != 0 && c < pool::classes) {
        pool::State& s = pool::state();
        const std::size_t block = (c + 1) * pool::granule;
        if (!s.ended && (s.lists || pool::start(s)) && s.lists->count[c] < pool::keep &&
            s.lists->bytes + block <= pool::budget) {
            s.lists->kept[c][s.lists->count[c]++] = p;
            s.lists->bytes += block;
            pool::poison(p, block);
            return;
        }
    }
    ::operator delete(p);
}

}  // namespace dorm::detail
