// SPDX-License-Identifier: MIT
// make_node(): the shared nodes a QuerySet chain builds for every call (its Query, the WHERE tree, the columns and
// lookups of its paths, its recipe, its result cache) take their memory from blocks the calling thread freed
// before, so that a query run again and again allocates no more than a raw driver loop does.
#pragma once

#include <dorm/config.hpp>

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace dorm::detail {


/// A block of at least `size` bytes: one this thread freed before, of the same size class, when it kept one.
DORM_DECL void* pool_allocate(std::size_t size);
/// Gives back a block pool_allocate(size) returned: kept for this thread's next block of its size class (a few per
/// class), or freed. Any thread may give back any block.
DORM_DECL void pool_deallocate(void* p, std::size_t size) noexcept;

/// The largest block the pool keeps; larger ones come from the global allocator.
inline constexpr std::size_t pool_largest = 1024;

/// The allocator of make_node() and PooledVector: blocks of up to pool_largest bytes through the pool, larger
/// ones and over-aligned types through the global allocator.
template <class T>
struct PoolAllocator {
    using value_type = T;
    PoolAllocator() = default;
    template <class U>
    PoolAllocator(const PoolAllocator<U>&) noexcept {}

    T* allocate(std::size_t n) {
        if (pooled(n)) return static_cast<T*>(pool_allocate(n * sizeof(T)));
        return std::allocator<T>{}.allocate(n);
    }
    void deallocate(T* p, std::size_t n) noexcept {
        if (pooled(n)) pool_deallocate(p, n * sizeof(T));
        else std::allocator<T>{}.deallocate(p, n);
    }
    template <class U>
    bool operator==(const PoolAllocator<U>&) const noexcept { return true; }

private:
    static constexpr bool pooled(std::size_t n) noexcept {
        return alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__ && n <= pool_largest / sizeof(T);
    }
};

/// A vector whose storage comes from the pool: the short lists a query is made of (a WHERE node's children, its
/// ordering), made again for each query.
template <class T>
using PooledVector = std::vector<T, PoolAllocator<T>>;

/// std::make_shared, with the object and its count in one pooled block.
template <class T, class... Args>
std::shared_ptr<T> make_node(Args&&... args) {
    return std::allocate_shared<T>(PoolAllocator<std::remove_cv_t<T>>{}, std::forward<Args>(args)...);
}

}  // namespace dorm::detail

#if DORM_HEADER_ONLY
#include <dorm/impl/node_pool.ipp>
#endif
