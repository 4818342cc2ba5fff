// SPDX-License-Identifier: MIT
// sync_wait(): runs a task from plain code, blocking the calling thread until it finishes.
#pragma once

#include <dorm/config.hpp>

#include <dorm/async/executor.hpp>
#include <dorm/async/task.hpp>

#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace dorm {

namespace detail {
/// sync_wait()'s executor: a queue of coroutines that run() resumes on the calling thread until stop().
class RunLoop final : public Executor {
public:
    DORM_DECL RunLoop();
    DORM_DECL ~RunLoop() override;
    RunLoop(const RunLoop&) = delete;
    RunLoop& operator=(const RunLoop&) = delete;
    DORM_DECL void post(std::coroutine_handle<> h) override;
    /// Resumes what is posted, in order, until stop() was called and nothing is left.
    DORM_DECL void run();
    DORM_DECL void stop();

private:
    struct State;
    State* state_;
};

/// The coroutine sync_wait() runs on its loop: awaits the task, then stops the loop once suspended for good.
struct SyncWaitDriver {
    struct promise_type : TaskPromiseBase {
        RunLoop* loop = nullptr;
        SyncWaitDriver get_return_object() noexcept {
            return {std::coroutine_handle<promise_type>::from_promise(*this)};
        }
        struct Stop {
            bool await_ready() const noexcept { return false; }
            void await_suspend(std::coroutine_handle<promise_type> h) const noexcept { h.promise().loop->stop(); }
            void await_resume() const noexcept {}
        };
        Stop final_suspend() const noexcept { return {}; }
        void return_void() const noexcept {}
    };
    std::coroutine_handle<promise_type> h;
};

template <class T, class Out>
SyncWaitDriver drive(Task<T>& task, Out& out, std::exception_ptr& error) {
    try {
        if constexpr (std::is_void_v<T>) co_await std::move(task);
        else out.emplace(co_await std::move(task));
    } catch (...) {
        error = std::current_exception();
    }
}
}  // namespace detail

/// Runs `task` to its end and returns its value (or throws its exception), blocking this thread, which resumes
/// the task's coroutines meanwhile: dorm's asynchronous methods from plain code.
///
///     auto n = dorm::sync_wait(Entry::objects().acount());
template <class T>
T sync_wait(Task<T> task) {
    detail::RunLoop loop;
    struct None {
        void emplace() {}
    };
    std::conditional_t<std::is_void_v<T>, None, std::optional<T>> out;
    std::exception_ptr error;
    auto driver = detail::drive(task, out, error);
    driver.h.promise().loop = &loop;
    driver.h.promise().context.executor = &loop;
    loop.post(driver.h);
    loop.run();
    driver.h.destroy();
    if (error) std::rethrow_exception(error);
    if constexpr (!std::is_void_v<T>) return std::move(*out);
}

}  // namespace dorm

#if DORM_HEADER_ONLY
#include <dorm/impl/async.ipp>
#endif
