// SPDX-License-Identifier: MIT
// Task<T>: what dorm's asynchronous methods return, a lazy coroutine any C++20 coroutine can co_await.
#pragma once

#include <dorm/config.hpp>

#include <dorm/async/executor.hpp>

#include <coroutine>
#include <exception>
#include <mutex>
#include <type_traits>
#include <utility>

namespace dorm {

class Database;
namespace backends {
class Connection;
}

template <class T = void>
class Task;

namespace detail {
/// A connection an asynchronous transaction or stream holds: the work of the tasks inside it runs on this
/// connection, whichever thread does it, one operation at a time. Lives in the coroutine frame that took it.
struct Pin {
    const Database* db = nullptr;
    backends::Connection* connection = nullptr;
    const Pin* outer = nullptr;  // pins of enclosing blocks (other databases)
    mutable std::mutex lock;     // held by the thread using `connection`
};

/// What a task passes to the tasks it awaits: where to resume, and the connections it holds.
struct TaskContext {
    Executor* executor = nullptr;
    const Pin* pins = nullptr;
};

class TaskPromiseBase {
public:
    TaskContext context;

    std::suspend_always initial_suspend() const noexcept { return {}; }
    // Symmetric transfer to the awaiting coroutine: no stack growth however many tasks complete in a row.
    struct FinalAwaiter {
        bool await_ready() const noexcept { return false; }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
            auto next = h.promise().continuation_;
            return next ? next : std::noop_coroutine();
        }
        void await_resume() const noexcept {}
    };
    FinalAwaiter final_suspend() const noexcept { return {}; }
    void unhandled_exception() noexcept { error_ = std::current_exception(); }

    std::coroutine_handle<> continuation_;  // the coroutine awaiting this one
    std::exception_ptr error_;
};

/// The context of the coroutine `h`: its own when it is a dorm task, none otherwise (a foreign coroutine).
template <class P>
TaskContext context_of(std::coroutine_handle<P> h) noexcept {
    if constexpr (std::is_base_of_v<TaskPromiseBase, P>) return h.promise().context;
    else return {};
}

/// `co_await detail::this_context{}` inside a task: its context, to read or change (what the tasks it awaits
/// next inherit).
struct this_context {
    TaskContext* context = nullptr;
    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) noexcept {
        context = &h.promise().context;
        return false;  // never suspends
    }
    TaskContext& await_resume() const noexcept { return *context; }
};
}  // namespace detail

/// A lazy coroutine: nothing runs until it is co_awaited (or given to sync_wait()), then it runs to its first
/// suspension on the awaiting thread and resumes the awaiting coroutine when it finishes, with its value or its
/// exception (same type as the blocking method's). Move-only; awaited once.
///
///     dorm::Task<Entry> latest_entry() { co_return co_await Entry::objects().alatest("pub_date"); }
template <class T>
class [[nodiscard]] Task {
public:
    class promise_type : public detail::TaskPromiseBase {
    public:
        Task get_return_object() noexcept { return Task(std::coroutine_handle<promise_type>::from_promise(*this)); }
        template <class U>
        void return_value(U&& v) {
            value_.emplace(std::forward<U>(v));
        }

    private:
        friend class Task;
        struct Slot {  // std::optional without <optional>'s requirements on T
            alignas(T) unsigned char bytes[sizeof(T)];
            bool full = false;
            template <class U>
            void emplace(U&& v) {
                ::new (static_cast<void*>(bytes)) T(std::forward<U>(v));
                full = true;
            }
            T& get() noexcept { return *std::launder(reinterpret_cast<T*>(bytes)); }
            ~Slot() {
                if (full) get().~T();
            }
        };
        Slot value_;
    };

    Task(Task&& other) noexcept : h_(std::exchange(other.h_, {})) {}
    Task& operator=(Task other) noexcept {
        std::swap(h_, other.h_);
        return *this;
    }
    ~Task() {
        if (h_) h_.destroy();
    }

    auto operator co_await() && noexcept { return Awaiter{h_}; }

private:
    explicit Task(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}

    struct Awaiter {
        std::coroutine_handle<promise_type> h;
        bool await_ready() const noexcept { return !h; }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> awaiting) noexcept {
            h.promise().continuation_ = awaiting;
            h.promise().context = detail::context_of(awaiting);
            return h;
        }
        T await_resume() {
            auto& p = h.promise();
            if (p.error_) std::rethrow_exception(p.error_);
            return std::move(p.value_.get());
        }
    };

    std::coroutine_handle<promise_type> h_;
};

template <>
class [[nodiscard]] Task<void> {
public:
    class promise_type : public detail::TaskPromiseBase {
    public:
        Task get_return_object() noexcept { return Task(std::coroutine_handle<promise_type>::from_promise(*this)); }
        void return_void() const noexcept {}
    };

    Task(Task&& other) noexcept : h_(std::exchange(other.h_, {})) {}
    Task& operator=(Task other) noexcept {
        std::swap(h_, other.h_);
        return *this;
    }
    ~Task() {
        if (h_) h_.destroy();
    }

    auto operator co_await() && noexcept { return Awaiter{h_}; }

private:
    explicit Task(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}

    struct Awaiter {
        std::coroutine_handle<promise_type> h;
        bool await_ready() const noexcept { return !h; }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> awaiting) noexcept {
            h.promise().continuation_ = awaiting;
            h.promise().context = detail::context_of(awaiting);
            return h;
        }
        void await_resume() const {
            if (h.promise().error_) std::rethrow_exception(h.promise().error_);
        }
    };

    std::coroutine_handle<promise_type> h_;
};

}  // namespace dorm
