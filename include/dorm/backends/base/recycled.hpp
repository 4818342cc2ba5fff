// SPDX-License-Identifier: MIT
// Recycled<T>: the memory of T's objects comes back to the thread that frees them, a few blocks kept, so that an
// object made for every query (a cursor) costs no allocation once the thread has made one.
#pragma once

#include <cstddef>
#include <new>

namespace dorm::backends {

/// A base of a final class T (its class-scope operator new / delete): blocks of sizeof(T) freed on a thread are
/// kept for its next T, up to `keep` of them; other sizes (none, for a final class) go to the global allocator.
template <class T, std::size_t keep = 4>
class Recycled {
public:
    static void* operator new(std::size_t size) {
        Blocks& b = blocks();
        if (size == sizeof(T) && b.count > 0) return b.kept[--b.count];
        return ::operator new(size);
    }
    static void operator delete(void* p, std::size_t size) noexcept {
        Blocks& b = blocks();
        if (size == sizeof(T) && b.count < keep && !b.ended) {
            b.kept[b.count++] = p;
            return;
        }
        ::operator delete(p);
    }

private:
    struct Blocks {
        void* kept[keep];
        std::size_t count = 0;
        bool ended = false;  // the thread is ending: what is freed from now on goes back at once
        ~Blocks() {
            ended = true;
            while (count > 0) ::operator delete(kept[--count]);
        }
    };
    static Blocks& blocks() noexcept {
        thread_local Blocks b;
        return b;
    }
};

}  // namespace dorm::backends
