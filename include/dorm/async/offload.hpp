// SPDX-License-Identifier: MIT
// offload(): runs blocking database work on dorm's worker threads and resumes the awaiting task through its
// executor; the connections an asynchronous transaction holds follow the work to whichever thread does it.
#pragma once

#include <dorm/config.hpp>

#include <dorm/async/executor.hpp>
#include <dorm/async/task.hpp>

#include <atomic>
#include <coroutine>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace dorm::detail {

/// A piece of blocking work for dorm's worker threads.
class Job {
public:
    virtual void run() noexcept = 0;
    Job* next_job = nullptr;  // the queue's link
    // Work that never waits for the pool, on a connection a transaction or stream holds or giving one back,
    // while work queued before it may wait for that very connection: it goes first, and may have a thread of its
    // own (see submit()).
    bool urgent = false;
    // The alias of the database whose pool the work draws its connection from, when known: no more of its jobs
    // run at once than its pool_size, so that the others wait in the queue rather than on threads of their own.
    // Looked up when the job is submitted (a task is lazy: the alias may name another database by then).
    std::string pool_alias;
    const Database* pool = nullptr;  // what pool_alias named at submit(): a key, not used after
    std::size_t pool_limit = 0;      // its pool_size then (0: no bound)
    // Where the awaiting task resumes. When it waits_on_sockets() and the database's connections wait on sockets
    // (PostgreSQL, with a pool), submit() runs the work on a fiber there (`fiber`) instead of a worker thread.
    Executor* executor = nullptr;
    bool fiber = false;
    // The connections the awaiting task holds (its aatomic() blocks and streams). When each waits on sockets and
    // the work is for one of them (`on_pin`, or pool_alias names one), it runs on a fiber too: the tasks of one
    // transaction then wait for each other's turn on the connection without a thread each.
    const Pin* pins = nullptr;
    bool on_pin = false;
    // A single statement whose result it may await without holding the transaction's lock (see may_pipeline()).
    bool pipelines = false;
    const void* lane = nullptr;  // what start_on_fiber() bounds the fibers of: the pool, or the outermost pin
    bool counts_pins = false;    // on a fiber, counted among the jobs of each of `pins` until release_pins()

    /// After the work, before the awaiting task resumes: the pins may go away now (see Pin::jobs).
    DORM_DECL void release_pins() noexcept;

protected:
    ~Job() = default;
};

/// What a job posts to the awaiting task's executor: a small coroutine that resumes the task, unless the task was
/// destroyed while the resumption waited in the executor's queue (`dropped`, see CancellableJob::abandon()).
struct Relay {
    struct promise_type {
        std::coroutine_handle<> target;
        std::atomic<bool> dropped{false};
        Relay get_return_object() noexcept { return {std::coroutine_handle<promise_type>::from_promise(*this)}; }
        std::suspend_always initial_suspend() const noexcept { return {}; }
        std::suspend_never final_suspend() const noexcept { return {}; }
        void return_void() const noexcept {}
        void unhandled_exception() const noexcept { std::terminate(); }
    };
    std::coroutine_handle<promise_type> h;
};
struct RelayHop {
    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Relay::promise_type> self) const noexcept {
        auto& p = self.promise();
        const std::coroutine_handle<> next = p.dropped.load() ? std::noop_coroutine() : p.target;
        self.destroy();
        return next;
    }
    void await_resume() const noexcept {}
};
inline Relay make_relay() { co_await RelayHop{}; }

/// A job whose awaiting task may be destroyed while it runs (an application shutting its event loop down): the
/// statement it runs is then cancelled on the server, and the destruction waits until the job has ended, so
/// nothing it uses (the task's connection, its pins) goes away under it.
class CancellableJob : public Job {
public:
    /// Called when the frame awaiting this job is destroyed; nothing happens for a job not submitted or ended.
    /// True when the job runs on a fiber and now owns itself: its statement was cancelled, and it is deleted when
    /// it ends (its fiber may run on the very thread destroying the frame: it cannot be waited for).
    DORM_DECL bool abandon() noexcept;

protected:
    ~CancellableJob() = default;
    /// On the awaiting thread, before submit().
    DORM_DECL void submitted() noexcept;
    /// On the worker, before the work: false when abandoned (the work is skipped). Until end(), the connection
    /// the work uses is recorded, for abandon() to cancel.
    DORM_DECL bool begin() noexcept;
    enum class Ended { resume, abandoned, discard };
    /// On the worker, after the work: `resume` the awaiting task; `abandoned`: not (`this` may be gone as soon as
    /// end() returns); `discard`: not, and `this` is the caller's to delete (see abandon()).
    DORM_DECL Ended end() noexcept;
    /// The flag of the Relay that will resume the awaiting task (set before end()), until that task has resumed:
    /// abandon() after end() drops the resumption.
    std::atomic<bool>* relay_dropped_ = nullptr;

private:
    std::mutex mutex_;  // abandon() waits for end() on a condition variable all jobs share (async.ipp)
    bool done_ = false;
    bool submitted_ = false;
    bool abandoned_ = false;
    std::atomic<backends::Connection*> connection_{nullptr};
};

/// Queues `job` for dorm's worker threads: a thread is started when none is idle (up to a bound), so work that
/// waits (for a pooled connection, a lock) does not hold up the work queued behind it. Urgent work (Job::urgent)
/// goes before the rest and gets a thread beyond the bound when none is idle: otherwise threads all waiting for
/// the pool would wait for the transactions holding its connections, which need a thread to finish. Threads
/// live until the program ends.
DORM_DECL void submit(Job& job);

/// While it lives, Database::connection() on this thread answers with the connection `pins` holds for a database
/// (each pin's lock held, so that one connection serves one operation at a time).
/// On a fiber, a job that `pipelines` may hand the locks on while it waits for its statement's result (see
/// may_pipeline()).
class PinScope {
public:
    DORM_DECL explicit PinScope(const Pin* pins, bool pipelines = false);
    DORM_DECL ~PinScope();
    PinScope(const PinScope&) = delete;
    PinScope& operator=(const PinScope&) = delete;

    const Pin* pins() const noexcept { return pins_; }
    bool pipelines() const noexcept { return pipelines_; }
    /// Unlocks the pins until take_back(); nothing when they are not held.
    DORM_DECL void hand_on() noexcept;
    DORM_DECL void take_back() noexcept;

private:
    const Pin* saved_;
    const Pin* pins_;
    PinScope* saved_scope_;
    bool pipelines_;
    bool held_ = true;
};

/// Destroys `owner` (which owns `pin`) now, or, while jobs on fibers still use the pin, after the last of them.
DORM_DECL void retire_pin(const Pin& pin, std::unique_ptr<PinOwner> owner) noexcept;

/// The pin of `db` among `pins`, if any.
inline const Pin* find_pin(const Pin* pins, const Database* db) noexcept {
    for (; pins; pins = pins->outer)
        if (pins->db == db) return pins;
    return nullptr;
}

/// Hands `h` back: through `executor` when there is one, else resumed here. An executor that cannot take it
/// (out of memory) has it resumed here too: a task resumed on the wrong thread beats one never resumed.
inline void resume_on(Executor* executor, std::coroutine_handle<> h) noexcept {
    if (executor) {
        try {
            executor->post(h);
            return;
        } catch (...) {
        }
    }
    h.resume();
}

/// Awaitable: runs its work on a worker thread with the awaiting task's pins, then resumes the task with the
/// result or the exception. The work itself is a virtual call, so that the coroutine awaiting it does not depend
/// on the work's type: GCC 12 warns (-Wsubobject-linkage) about a coroutine frame in a header holding a lambda
/// of a user's source file.
template <class R>
class Offload : public CancellableJob {
public:
    bool await_ready() const noexcept { return false; }
    template <class P>
    void await_suspend(std::coroutine_handle<P> h) {
        context_ = context_of(h);
        awaiting_ = h;
        this->executor = context_.executor;
        submitted();
        this->pins = context_.pins;
        if (context_.pins) this->urgent = true;
        submit(*this);  // may resume `h` on another thread before returning: nothing of `this` is used after it
    }
    R await_resume() {
        this->relay_dropped_ = nullptr;  // resumed: the relay is gone
        if (error_) std::rethrow_exception(error_);
        if constexpr (!std::is_void_v<R>) return std::move(*result_);
    }

    void run() noexcept override {
        if (begin()) {
            PinScope scope(context_.pins, this->pipelines);
            try {
                if constexpr (std::is_void_v<R>) invoke();
                else result_.emplace(invoke());
            } catch (...) {
                error_ = std::current_exception();
            }
        }
        this->release_pins();
        const TaskContext context = context_;
        std::coroutine_handle<> resume = awaiting_;
        Relay relay{};
        if (context.executor) {  // resumed later, by the executor: the task may be destroyed meanwhile
            try {
                relay = make_relay();
                relay.h.promise().target = awaiting_;
                this->relay_dropped_ = &relay.h.promise().dropped;
                resume = relay.h;
            } catch (...) {  // no memory for it: the task itself is posted
            }
        }
        switch (end()) {
        case Ended::resume: resume_on(context.executor, resume); break;
        case Ended::discard:
            if (relay.h) relay.h.destroy();
            delete this;
            break;
        case Ended::abandoned:
            if (relay.h) relay.h.destroy();
            break;
        }
    }
    virtual ~Offload() = default;

protected:
    virtual R invoke() = 0;

private:
    struct Nothing {};
    TaskContext context_;
    std::coroutine_handle<> awaiting_;
    std::conditional_t<std::is_void_v<R>, Nothing, std::optional<R>> result_;
    std::exception_ptr error_;
};

template <class F>
class OffloadOf final : public Offload<std::invoke_result_t<F&>> {
public:
    explicit OffloadOf(F f) : f_(std::move(f)) {}

private:
    std::invoke_result_t<F&> invoke() override { return f_(); }
    F f_;
};

/// Awaits an Offload by pointer: GCC 12 would copy an awaited lvalue of that (abstract) type into the frame.
template <class R>
struct OffloadRef {
    Offload<R>* op;
    bool await_ready() const noexcept { return false; }
    template <class P>
    void await_suspend(std::coroutine_handle<P> h) {
        op->await_suspend(h);
    }
    R await_resume() { return op->await_resume(); }
};

/// Owns an Offload in the frame awaiting it: destroyed with that frame, it abandons the work still running.
template <class R>
struct OffloadOwner {
    std::unique_ptr<Offload<R>> op;
    ~OffloadOwner() {
        if (op && op->abandon()) (void)op.release();  // its fiber deletes it
    }
};

template <class R>
Task<R> await_offload(std::unique_ptr<Offload<R>> op) {
    OffloadOwner<R> owner{std::move(op)};
    co_return co_await OffloadRef<R>{owner.op.get()};
}

/// A task that runs `f` (a callable owning everything it uses: it runs later, on another thread) on a worker
/// thread: what each asynchronous method of dorm is. `gives_back`: `f` gives a held connection back to its
/// pool (urgent work, as work on a held connection is).
template <class F>
Task<std::invoke_result_t<F&>> offload(F f, bool gives_back = false) {
    using R = std::invoke_result_t<F&>;
    auto op = std::make_unique<OffloadOf<F>>(std::move(f));
    op->urgent = gives_back;
    return await_offload<R>(std::move(op));
}

/// offload() of work that takes a connection of the database `alias` names (empty: not known): see
/// Job::pool_alias. `pipelines`: the work is one statement (see Job::pipelines).
template <class F>
Task<std::invoke_result_t<F&>> offload_to(std::string alias, F f, bool pipelines = false) {
    using R = std::invoke_result_t<F&>;
    auto op = std::make_unique<OffloadOf<F>>(std::move(f));
    op->pool_alias = std::move(alias);
    op->pipelines = pipelines;
    return await_offload<R>(std::move(op));
}

/// offload() of work on the connections the awaiting task holds, and on no other (see Job::on_pin).
template <class F>
Task<std::invoke_result_t<F&>> offload_on_pin(F f) {
    using R = std::invoke_result_t<F&>;
    auto op = std::make_unique<OffloadOf<F>>(std::move(f));
    op->on_pin = true;
    return await_offload<R>(std::move(op));
}

}  // namespace dorm::detail

#if DORM_HEADER_ONLY
#include <dorm/impl/async.ipp>
#endif
