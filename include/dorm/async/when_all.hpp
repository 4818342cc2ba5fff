// SPDX-License-Identifier: MIT
// when_all(): awaits several tasks at once (Python's asyncio.gather), so their database work overlaps.
#pragma once

#include <dorm/config.hpp>

#include <dorm/async/driver.hpp>
#include <dorm/async/task.hpp>

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace dorm {

namespace detail {
/// What a task's exception says, for when_all(): `refusal`, a statement refused because an earlier one broke the
/// transaction (BrokenTransactionError, or PostgreSQL's in_failed_sql_transaction for one sent before the failure
/// was known); `failed_statement`, any other database error but a TransactionManagementError (a statement's own
/// failure); `other`.
enum class ErrorKind { refusal, failed_statement, other };
DORM_DECL ErrorKind error_kind(const std::exception_ptr& e) noexcept;

/// What the tasks of one when_all() share: how many are still running, whom to resume after the last, and how
/// many have failed so far.
struct Join {
    std::atomic<std::size_t> pending{0};
    std::atomic<std::size_t> failures{0};
    std::coroutine_handle<> awaiting;
};

/// What the driver of one task of a when_all() does once it has finished: numbers its failure, if it failed, and
/// resumes the awaiting coroutine if it was the last.
struct Arrive {
    Join* join = nullptr;
    const std::exception_ptr* error = nullptr;
    std::size_t* failed_as = nullptr;  // 1 for the first task to fail, 2 for the next...; 0 if it did not
    template <class H>
    std::coroutine_handle<> operator()(H) const noexcept {
        if (*error) *failed_as = join->failures.fetch_add(1, std::memory_order_relaxed) + 1;
        if (join->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) return join->awaiting;
        return std::noop_coroutine();
    }
};

template <class T>
struct WhenAll {
    std::vector<Task<T>> tasks;
    std::vector<DriveSlot<T>> results;
    std::vector<std::exception_ptr> errors;
    std::vector<std::size_t> failed_as;
    std::vector<Driver<Arrive>> drivers;
    Join join;

    explicit WhenAll(std::vector<Task<T>> t)
        : tasks(std::move(t)), results(tasks.size()), errors(tasks.size()), failed_as(tasks.size()) {}
    WhenAll(const WhenAll&) = delete;
    WhenAll& operator=(const WhenAll&) = delete;
    ~WhenAll() {
        for (auto& d : drivers) d.h.destroy();
    }

    bool await_ready() const noexcept { return tasks.empty(); }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        join.awaiting = h;
        join.pending.store(tasks.size() + 1, std::memory_order_relaxed);  // + 1: this call, until all are started
        drivers.reserve(tasks.size());
        for (std::size_t i = 0; i < tasks.size(); ++i) {
            drivers.push_back(drive<Arrive>(std::move(tasks[i]), results[i], errors[i]));
            auto& p = drivers.back().h.promise();
            p.finish = {&join, &errors[i], &failed_as[i]};
            p.context = context_of(h);
        }
        for (auto& d : drivers) d.h.resume();  // each runs until its first suspension
        // Suspend unless every task already finished.
        return join.pending.fetch_sub(1, std::memory_order_acq_rel) != 1;
    }
    auto await_resume() {
        if (join.failures.load(std::memory_order_relaxed) != 0) rethrow_first();
        if constexpr (!std::is_void_v<T>) {
            std::vector<T> out;
            out.reserve(results.size());
            for (auto& r : results) out.push_back(std::move(*r));
            return out;
        }
    }
    /// The exception of the task that failed first, but not a refusal if a statement failed: in a transaction,
    /// the tasks that run after a failed statement are refused, and the failure is what the caller needs to see
    /// (workers take jobs in any order, so its task need not be the first to fail, nor come first).
    [[noreturn]] void rethrow_first() {
        const std::size_t none = errors.size();
        std::size_t first = none;  // the first failure of any kind
        std::size_t cause = none;  // the first database error that is not a refusal
        bool first_refused = false;
        for (std::size_t i = 0; i < errors.size(); ++i) {
            if (!errors[i]) continue;
            const ErrorKind kind = error_kind(errors[i]);
            if (first == none || failed_as[i] < failed_as[first]) {
                first = i;
                first_refused = kind == ErrorKind::refusal;
            }
            if (kind == ErrorKind::failed_statement && (cause == none || failed_as[i] < failed_as[cause])) cause = i;
        }
        if (cause != none && first_refused) first = cause;
        std::rethrow_exception(errors[first]);
    }
};
}  // namespace detail

/// Awaits every task of `tasks`, started together so that their database work overlaps (each on a worker
/// thread, on its own connection); returns their values in order. Once all have finished, the exception raised
/// first among them is rethrown, except that a statement's failure wins over the refusals of the statements that
/// came after it in the same transaction. Python's `asyncio.gather()`.
///
///     auto counts = co_await dorm::when_all(Entry::objects().acount(), Blog::objects().acount());
template <class T>
Task<std::conditional_t<std::is_void_v<T>, void, std::vector<T>>> when_all(std::vector<Task<T>> tasks) {
    co_return co_await detail::WhenAll<T>(std::move(tasks));
}
/// when_all() of tasks of one type, given one by one.
template <class T, class... More>
    requires(std::is_same_v<T, More> && ...)
auto when_all(Task<T> first, Task<More>... more) {
    std::vector<Task<T>> tasks;
    tasks.reserve(1 + sizeof...(More));
    tasks.push_back(std::move(first));
    (tasks.push_back(std::move(more)), ...);
    return when_all(std::move(tasks));
}

}  // namespace dorm

#if DORM_HEADER_ONLY
#include <dorm/impl/async.ipp>
#endif
