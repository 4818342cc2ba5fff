// SPDX-License-Identifier: MIT
// detail::drive(): the coroutine that sync_wait(), when_all() and the Asio adapter start, from outside any task,
// to await one task and then hand on.
#pragma once

#include <dorm/async/task.hpp>

#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace dorm::detail {

/// Where a driver puts a Task<void>'s value: nowhere.
struct NoValue {
    void emplace() const noexcept {}
};
/// Where a driver puts the value of a Task<T>.
template <class T>
using DriveSlot = std::conditional_t<std::is_void_v<T>, NoValue, std::optional<T>>;

/// A coroutine awaiting one task. Once suspended for good, it calls its promise's `finish(handle)`, which returns
/// the coroutine to run next (after destroying the driver, if it is its owner).
template <class Finish>
struct Driver {
    struct promise_type : TaskPromiseBase {
        Finish finish;
        Driver get_return_object() noexcept { return {std::coroutine_handle<promise_type>::from_promise(*this)}; }
        struct Final {
            bool await_ready() const noexcept { return false; }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) const noexcept {
                return h.promise().finish(h);
            }
            void await_resume() const noexcept {}
        };
        Final final_suspend() const noexcept { return {}; }
        void return_void() const noexcept {}
    };
    std::coroutine_handle<promise_type> h;
};

/// Awaits `task`, putting its value in `out` or its exception in `error` (both outlive the driver); started by
/// resuming the returned driver's handle, with its promise's context and `finish` set first.
template <class Finish, class T>
Driver<Finish> drive(Task<T> task, DriveSlot<T>& out, std::exception_ptr& error) {
    try {
        if constexpr (std::is_void_v<T>) co_await std::move(task);
        else out.emplace(co_await std::move(task));
    } catch (...) {
        error = std::current_exception();
    }
}

}  // namespace dorm::detail
