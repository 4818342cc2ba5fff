// SPDX-License-Identifier: MIT
// sync_wait(): runs a task from plain code, blocking the calling thread until it finishes.
#pragma once

#include <dorm/config.hpp>

#include <dorm/async/driver.hpp>
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
    bool waits_on_sockets() const noexcept override { return true; }
    DORM_DECL void wait_readable(int fd, std::coroutine_handle<> h) override;
    /// Resumes what is posted, in order, and what waited for a socket once it can be read, until stop() was
    /// called and nothing is left (no wait either: a fiber still waiting must end here).
    DORM_DECL void run();
    DORM_DECL void stop();

private:
    struct State;
    State* state_;
};

/// What sync_wait()'s driver does once its task has finished: stops the loop.
struct StopLoop {
    RunLoop* loop = nullptr;
    template <class H>
    std::coroutine_handle<> operator()(H) const noexcept {
        loop->stop();
        return std::noop_coroutine();
    }
};
}  // namespace detail

/// Runs `task` to its end and returns its value (or throws its exception), blocking this thread, which resumes
/// the task's coroutines meanwhile: dorm's asynchronous methods from plain code.
///
///     auto n = dorm::sync_wait(Entry::objects().acount());
template <class T>
T sync_wait(Task<T> task) {
    detail::RunLoop loop;
    detail::DriveSlot<T> out;
    std::exception_ptr error;
    auto driver = detail::drive<detail::StopLoop>(std::move(task), out, error);
    driver.h.promise().finish.loop = &loop;
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
