// SPDX-License-Identifier: MIT
// Task<T>: what dorm's asynchronous methods return, a lazy coroutine any C++20 coroutine can co_await.
#pragma once

#include <dorm/config.hpp>

#include <dorm/async/executor.hpp>

#include <coroutine>
#include <cstddef>
#include <exception>
#include <mutex>
#include <new>
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
/// What reads through a transaction's pin across several operations (a stream), and must let go of it when the
/// block ends: the block's end calls release_pin() on a worker thread, with the pin locked.
struct PinUser {
    virtual void release_pin() noexcept = 0;
    PinUser* next_user = nullptr;

protected:
    ~PinUser() = default;
};

class Waiter;

/// The lock of a transaction's (or stream's) connection: held by the job using it, on a worker thread or on a
/// fiber. A fiber that waits for it is suspended, not its thread (the holder may be another fiber of that very
/// thread), and it is handed to waiting fibers in the order they came; a waiting thread is woken to take it like
/// a mutex (another may take it first). May be unlocked on another thread than the one that locked it.
class PinGate {
public:
    PinGate() = default;
    PinGate(const PinGate&) = delete;
    PinGate& operator=(const PinGate&) = delete;
    DORM_DECL void lock();
    DORM_DECL void unlock() noexcept;
    /// Whether some job holds it now.
    DORM_DECL bool busy() noexcept;

private:
    std::mutex mutex_;  // over the members below, never held while waiting
    bool held_ = false;
    bool thread_woken_ = false;  // a waiting thread was woken and has not come back for the gate yet
    Waiter* head_ = nullptr;  // first come first
    Waiter* tail_ = nullptr;
};

/// What owns a Pin (and the connection it holds): the frame of an aatomic() block, a stream. See retire_pin().
struct PinOwner {
    virtual ~PinOwner() = default;
};

/// A connection an asynchronous transaction or stream holds: the work of the tasks inside it runs on this
/// connection, whichever thread does it, one operation at a time. Lives in the coroutine frame that took it.
struct Pin {
    const Database* db = nullptr;
    backends::Connection* connection = nullptr;
    const Pin* outer = nullptr;  // pins of enclosing blocks and streams
    mutable PinGate lock;        // held by the job using `connection` (the root's, for a nested block)
    // A nested aatomic() block's pin: the outermost block's on the same database (whose lock serves both), and
    // how deep it is nested (the root's is 0).
    const Pin* root = nullptr;
    std::size_t depth = 0;
    // In a root: the depth of the innermost block open now (under `lock`), so that nested blocks of one
    // transaction that would run at the same time, and interleave their savepoints, are refused.
    mutable std::size_t open_depth = 0;
    // The streams reading through this block's connection (under `lock`).
    mutable PinUser* users = nullptr;
    // Jobs on fibers that use this pin and have not ended (a task destroyed while its work runs cannot wait for
    // them: see CancellableJob::abandon()): the pin and what owns it go away after the last (see retire_pin()).
    mutable std::mutex jobs_mutex;
    mutable std::size_t jobs = 0;
    mutable PinOwner* orphan = nullptr;

    void add_user(PinUser& u) const noexcept {
        u.next_user = users;
        users = &u;
    }
    void remove_user(PinUser& u) const noexcept {
        for (PinUser** p = &users; *p; p = &(*p)->next_user)
            if (*p == &u) {
                *p = u.next_user;
                return;
            }
    }
    /// At the block's end: every stream still reading through it lets go.
    void release_users() const noexcept {
        while (PinUser* u = users) {
            users = u->next_user;
            u->release_pin();
        }
    }
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

namespace detail {
/// The promise of a Task<T>: where its value waits until the awaiting coroutine takes it.
template <class T>
class TaskPromise : public TaskPromiseBase {
public:
    Task<T> get_return_object() noexcept;
    template <class U>
    void return_value(U&& v) {
        ::new (static_cast<void*>(bytes_)) T(std::forward<U>(v));
        full_ = true;
    }
    T take() { return std::move(*std::launder(reinterpret_cast<T*>(bytes_))); }
    TaskPromise() = default;
    TaskPromise(const TaskPromise&) = delete;
    TaskPromise& operator=(const TaskPromise&) = delete;
    ~TaskPromise() {
        if (full_) std::launder(reinterpret_cast<T*>(bytes_))->~T();
    }

private:
    // std::optional without <optional>'s requirements on T
    alignas(T) unsigned char bytes_[sizeof(T)];
    bool full_ = false;
};
template <>
class TaskPromise<void> : public TaskPromiseBase {
public:
    Task<void> get_return_object() noexcept;
    void return_void() const noexcept {}
    void take() const noexcept {}
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
    using promise_type = detail::TaskPromise<T>;

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
    friend promise_type;
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
            return p.take();
        }
    };

    std::coroutine_handle<promise_type> h_;
};

namespace detail {
template <class T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
    return Task<T>(std::coroutine_handle<TaskPromise>::from_promise(*this));
}
inline Task<void> TaskPromise<void>::get_return_object() noexcept {
    return Task<void>(std::coroutine_handle<TaskPromise>::from_promise(*this));
}
}  // namespace detail

}  // namespace dorm
