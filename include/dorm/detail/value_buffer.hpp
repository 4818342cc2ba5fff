// SPDX-License-Identifier: MIT
// ValueBuffer: the parameters of one statement, on the stack when they are few, so that binding a statement
// allocates nothing (a raw driver loop does not either).
#pragma once

#include <dorm/value.hpp>

#include <cstddef>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <vector>

namespace dorm::detail {

/// Up to N Values in place, more on the heap. Only the values added are made and destroyed: a statement binds a
/// few, and making and destroying N each time would cost as much again.
template <std::size_t N>
class ValueBuffer {
public:
    ValueBuffer() = default;
    ValueBuffer(const ValueBuffer&) = delete;  // spans of its values are handed out
    ValueBuffer& operator=(const ValueBuffer&) = delete;
    ~ValueBuffer() {
        if (size_ && !on_heap_) std::destroy_n(local(), size_);
    }

    /// Makes room for `capacity` values in all: on the heap when that is more than N. Only while empty.
    void reserve(std::size_t capacity) {
        if (size_) throw std::logic_error("dorm: ValueBuffer::reserve() after push_back()");
        on_heap_ = capacity > N;
        if (on_heap_) heap_.reserve(capacity);
    }
    /// Appends `v`: at most N in place; on the heap (after reserve() beyond N), any number.
    void push_back(Value v) {
        push_back_made([&] { return std::move(v); });
    }
    /// Appends the Value `make()` returns, built where it is kept (no move, no moved-from Value to destroy).
    template <class Make>
    const Value& push_back_made(Make&& make) {
        Value* v;
        if (on_heap_) {
            v = &heap_.emplace_back(make());
        } else {
            if (size_ == N) throw std::length_error("dorm: ValueBuffer holds no more in place: reserve() first");
            v = new (storage_ + size_ * sizeof(Value)) Value(make());
        }
        ++size_;
        return *v;
    }
    /// reserve(n), then `n` NULLs to assign: the first of them.
    Value* assign_nulls(std::size_t n) {
        reserve(n);
        for (std::size_t i = 0; i < n; ++i) push_back(Value());
        return n ? data() : nullptr;
    }
    Value* data() { return on_heap_ ? heap_.data() : size_ ? local() : nullptr; }
    std::span<const Value> values() const {
        if (on_heap_) return heap_;
        return {size_ ? local() : nullptr, size_};
    }

private:
    Value* local() const { return std::launder(reinterpret_cast<Value*>(const_cast<unsigned char*>(storage_))); }

    alignas(Value) unsigned char storage_[N * sizeof(Value)];
    std::size_t size_ = 0;
    bool on_heap_ = false;
    std::vector<Value> heap_;
};

}  // namespace dorm::detail
