// SPDX-License-Identifier: MIT
// Asio adapter: dorm's tasks as Asio asynchronous operations, resumed on an io_context (standalone Asio).
//
// asio::awaitable<> coroutines only co_await Asio's own awaitables, so a dorm::Task is handed to Asio as an
// asynchronous operation with a completion token; the task's coroutines resume through the handler's executor:
//
//     asio::awaitable<void> show(std::int64_t pk) {
//         Entry e = co_await dorm::asio_await(Entry::objects().aget("pk", pk), asio::use_awaitable);
//         auto n = co_await dorm::asio_await(Entry::objects().filter("blog", e.blog.id()).acount(),
//                                            asio::use_awaitable);
//         fmt::print("{}: {} entries in its blog\n", e.headline, n);   // Entry::DoesNotExist arrives as itself
//     }
//     asio::co_spawn(io, show(1), asio::detached);
//
// This header is the only part of dorm that uses Asio, and nothing in dorm includes it: include it after
// <asio.hpp> where Asio is used. The io_context must run until the operations it started have completed (they
// keep it from running out of work meanwhile), and must not be destroyed before: dorm's worker threads post to it.
#pragma once

#include <dorm/async/driver.hpp>
#include <dorm/async/executor.hpp>
#include <dorm/async/task.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associated_executor.hpp>
#include <asio/bind_executor.hpp>
#include <asio/detail/concurrency_hint.hpp>
#include <asio/detail/scheduler.hpp>
#include <asio/async_result.hpp>
#include <asio/dispatch.hpp>
#include <asio/execution/executor.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/is_executor.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/system_executor.hpp>

#include <concepts>
#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace dorm {

/// A dorm Executor over an Asio executor: dorm resumes its coroutines with asio::post() to it (thread-safe, so
/// from dorm's worker threads), on the threads running its io_context or within its strand.
template <class AsioExecutorType>
class AsioExecutor final : public Executor {
public:
    explicit AsioExecutor(AsioExecutorType ex) : ex_(std::move(ex)), io_(single_threaded(context_of(ex_))) {}
    void post(std::coroutine_handle<> h) override {
        asio::post(ex_, [h] { h.resume(); });
    }
    /// An executor of an io_context made for one thread (`asio::io_context io(1)`) can: its reactor watches the
    /// socket. One run by several threads cannot: a fiber must continue on the thread it started on (compilers may
    /// keep a thread's thread-local addresses across the switch), so dorm's work stays on its worker threads there.
    bool waits_on_sockets() const noexcept override { return io_ != nullptr; }
    void wait_readable(int fd, std::coroutine_handle<> h) override {
        // The descriptor is given back, not closed, once the socket is readable: it is libpq's.
        auto d = std::make_shared<asio::posix::stream_descriptor>(*io_, fd);
        d->async_wait(asio::posix::descriptor_base::wait_read, asio::bind_executor(ex_, [d, h](const std::error_code&) {
                          d->release();
                          h.resume();
                      }));
    }
    /// The wrapped Asio executor.
    const AsioExecutorType& get_executor() const noexcept { return ex_; }

private:
    /// `io` when its concurrency hint promises one thread, else nullptr.
    static asio::io_context* single_threaded(asio::io_context* io) {
#if defined(ASIO_HAS_IOCP)
        (void)io;
        return nullptr;
#else
        if (!io) return nullptr;
        const int hint = asio::use_service<asio::detail::scheduler>(*io).concurrency_hint();
        const bool one = hint == 1 || (ASIO_CONCURRENCY_HINT_IS_SPECIAL(hint) &&
                                       !ASIO_CONCURRENCY_HINT_IS_LOCKING(SCHEDULER, hint));
        return one ? io : nullptr;
#endif
    }
    /// The io_context an executor runs on: an io_context's own, held by an any_io_executor, or inside a strand.
    template <class E>
    static asio::io_context* context_of(const E& ex) noexcept {
        if constexpr (requires { { ex.context() } -> std::same_as<asio::io_context&>; }) {
            return &ex.context();
        } else if constexpr (std::is_same_v<E, asio::any_io_executor>) {
            auto* inner = ex.template target<asio::io_context::executor_type>();
            return inner ? &inner->context() : nullptr;
        } else if constexpr (requires { ex.get_inner_executor(); }) {
            return context_of(ex.get_inner_executor());
        } else {
            return nullptr;
        }
    }

    AsioExecutorType ex_;
    asio::io_context* io_;
};

namespace detail {
/// What an asio_await() operation produces: the task's value (a default value on error, as Asio's completion
/// signatures always carry every argument), nothing for Task<void>.
template <class T>
struct AsioOutcome {
    std::exception_ptr error;
    std::optional<T> value;
};
template <>
struct AsioOutcome<void> {
    std::exception_ptr error;
    NoValue value;
};

/// The completion side of an asio_await() operation, without the handler's type: the driver coroutine below
/// holds it by this base, so that its frame does not depend on the types of a user's source file (GCC 12 warns,
/// -Wsubobject-linkage, about a coroutine frame of a header holding a user's lambda; see detail::Offload).
template <class T>
class AsioCompletion {
public:
    virtual ~AsioCompletion() = default;
    /// Where dorm resumes the task: the handler's executor.
    virtual Executor& executor() noexcept = 0;
    /// Frees `self` (this), then invokes the handler through its executor with the outcome.
    virtual void complete(std::unique_ptr<AsioCompletion> self) = 0;
    AsioOutcome<T> outcome;  // filled by the driver awaiting the task
};

template <class T, class Handler, class Ex>
class AsioCompletionOf final : public AsioCompletion<T> {
public:
    AsioCompletionOf(Handler handler, const Ex& ex) : handler_(std::move(handler)), executor_(ex), work_(ex) {}
    Executor& executor() noexcept override { return executor_; }
    void complete(std::unique_ptr<AsioCompletion<T>> self) override {
        // Asio's rule: the operation's memory is freed before the handler runs (it may start the next one). The
        // work guard outlives the call: until the handler is queued, the io_context must not run out of work.
        Handler handler = std::move(handler_);
        asio::executor_work_guard<Ex> work = std::move(work_);
        AsioOutcome<T> outcome = std::move(this->outcome);
        self.reset();
        // Inline when this thread is in the handler's executor already (dorm resumed the task through it), else
        // queued there.
        asio::dispatch(work.get_executor(), [handler = std::move(handler), outcome = std::move(outcome)]() mutable {
            if constexpr (std::is_void_v<T>) std::move(handler)(outcome.error);
            else std::move(handler)(outcome.error, outcome.value ? std::move(*outcome.value) : T{});
        });
    }

private:
    Handler handler_;
    AsioExecutor<Ex> executor_;
    asio::executor_work_guard<Ex> work_;  // io_context::run() does not return while the task runs elsewhere
};

/// What the driver behind asio_await() does once its task has finished: destroys itself and completes the
/// operation.
template <class T>
struct AsioFinish {
    std::unique_ptr<AsioCompletion<T>> completion;
    template <class H>
    std::coroutine_handle<> operator()(H h) noexcept {
        auto owned = std::move(completion);
        h.destroy();  // the frame's only destruction once started (with the task it awaited)
        auto& c = *owned;
        c.complete(std::move(owned));
        return std::noop_coroutine();
    }
};
template <class T>
using AsioDriver = Driver<AsioFinish<T>>;

/// Starts a driver from its executor's queue; destroys it if the io_context is destroyed first (with the handler
/// it holds, as Asio destroys the handlers of operations that never ran).
template <class T>
struct AsioStart {
    std::coroutine_handle<typename AsioDriver<T>::promise_type> h;
    explicit AsioStart(std::coroutine_handle<typename AsioDriver<T>::promise_type> d) noexcept : h(d) {}
    AsioStart(AsioStart&& other) noexcept : h(std::exchange(other.h, {})) {}
    AsioStart& operator=(AsioStart&&) = delete;
    ~AsioStart() {
        if (h) h.destroy();
    }
    void operator()() { std::exchange(h, {}).resume(); }
};

/// The completion signature of asio_await(task): Asio's convention, the error first.
template <class T>
struct asio_signature {
    using type = void(std::exception_ptr, T);
};
template <>
struct asio_signature<void> {
    using type = void(std::exception_ptr);
};

template <class T, class DefaultEx>
struct AsioInitiation {
    DefaultEx default_ex;
    template <class Handler>
    void operator()(Handler handler, Task<T> task) const {
        static_assert(std::is_void_v<T> || std::is_default_constructible_v<T>,
                      "dorm: asio_await() needs a default-constructible result type: Asio's completion signature "
                      "void(std::exception_ptr, T) passes a T on error too");
        using Ex = asio::associated_executor_t<Handler, DefaultEx>;
        Ex ex = asio::get_associated_executor(handler, default_ex);
        auto completion = std::make_unique<AsioCompletionOf<T, Handler, Ex>>(std::move(handler), ex);
        auto driver = drive<AsioFinish<T>>(std::move(task), completion->outcome.value, completion->outcome.error);
        driver.h.promise().context.executor = &completion->executor();
        driver.h.promise().finish.completion = std::move(completion);
        // Started from the executor's queue, never inside this call: a handler must not run in its initiating
        // function, and the task's first steps belong on the handler's executor.
        asio::post(ex, AsioStart<T>(driver.h));
    }
};
}  // namespace detail

/// Runs `task` as an Asio asynchronous operation completing with `void(std::exception_ptr, T)` (or
/// `void(std::exception_ptr)` for Task<void>): the task's coroutines resume on the handler's associated executor
/// (`ex` when it has none), and the handler is invoked there with the task's exception (same type as the blocking
/// method's, rethrown as itself by asio::use_awaitable) or its value. Not cancellable: the database work runs to
/// its end.
///
///     asio::co_spawn(io, [&]() -> asio::awaitable<void> {
///         auto n = co_await dorm::asio_await(Entry::objects().acount(), asio::use_awaitable);
///     }, asio::detached);
///     dorm::asio_await(io.get_executor(), Blog::objects().acount(),
///                      [](std::exception_ptr e, std::int64_t n) { /* on io's thread */ });
template <class T, class Ex, class CompletionToken>
    requires asio::is_executor<Ex>::value || asio::execution::is_executor<Ex>::value
auto asio_await(const Ex& ex, Task<T> task, CompletionToken&& token) {
    using Signature = typename detail::asio_signature<T>::type;
    return asio::async_initiate<CompletionToken, Signature>(detail::AsioInitiation<T, Ex>{ex}, token, std::move(task));
}

/// asio_await(task, token): the handler's associated executor (asio::use_awaitable's is the coroutine's); a
/// handler with none runs on Asio's system executor (its own threads).
template <class T, class CompletionToken>
auto asio_await(Task<T> task, CompletionToken&& token) {
    return asio_await(asio::system_executor(), std::move(task), std::forward<CompletionToken>(token));
}

}  // namespace dorm
