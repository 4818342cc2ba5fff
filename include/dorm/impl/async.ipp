// SPDX-License-Identifier: MIT
// The worker threads of dorm's asynchronous methods, pinned connections, sync_wait()'s loop, and which exception
// when_all() rethrows.
#pragma once

#include <dorm/async/fiber.hpp>
#include <dorm/async/offload.hpp>
#include <dorm/async/sync_wait.hpp>
#include <dorm/async/when_all.hpp>
#include <dorm/database.hpp>
#include <dorm/errors.hpp>
#include <dorm/impl/database.ipp>  // the thread's pinned connections live there

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <chrono>
#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace dorm::detail {

/// The worker threads: as many as the work waiting needs, up to `max_threads`.
class Workers {
public:
    static Workers& instance() {
        // The registry first, so that it outlives the workers (statics are destroyed in reverse order): a worker
        // thread hands its connections back to it when it ends.
        (void)databases();
        static Workers workers;
        return workers;
    }

    Workers() {
        retired_hook = [] { instance().sweep(); };
    }

    /// Wakes the idle threads to hand back their connections to retired databases.
    void sweep() {
        std::lock_guard lock(mutex_);
        ++sweeps_;
        ready_.notify_all();
    }

    void submit(Job& job) {
        std::unique_lock lock(mutex_);
        bool runnable = true;
        if (job.urgent) {
            urgent_.push(job);
            ++urgent_queued_;
        } else {
            Bucket& b = bucket_for(job.pool, job.pool_limit);
            b.queue.push(job);
            ++b.queued;
            runnable = b.limit == 0 || b.running + b.queued <= b.limit;
        }
        // Urgent work may go beyond the bound, not without one: each held connection needs one thread at most.
        if (runnable && idle_ < runnable_count() &&
            threads_.size() < (job.urgent ? 2 * max_threads : max_threads) && !stopping_) {
            try {
                threads_.emplace_back([this] { loop(); });
                return;
            } catch (...) {  // no new thread: the running ones will take the job
            }
        }
        lock.unlock();
        if (runnable) ready_.notify_one();  // else a job of its database, when it ends, wakes a thread for it
    }

    ~Workers() {
        retired_hook = nullptr;
        // Threads finish the queue before they end; a job may still queue more meanwhile (a stream given up).
        for (;;) {
            std::vector<std::thread> ending;
            {
                std::lock_guard lock(mutex_);
                stopping_ = true;
                ending.swap(threads_);
            }
            if (ending.empty()) break;
            ready_.notify_all();
            for (auto& t : ending) t.join();
        }
    }

private:
    static constexpr std::size_t max_threads = 64;

    void loop() {
        std::uint64_t swept = 0;
        for (;;) {
            Job* job = nullptr;
            Bucket* bucket = nullptr;
            {
                std::unique_lock lock(mutex_);
                ++idle_;
                ready_.wait(lock, [&] { return urgent_.head || ready_bucket() || stopping_ || swept != sweeps_; });
                --idle_;
                if (urgent_.head) {
                    job = urgent_.pop();
                    --urgent_queued_;
                } else if ((bucket = ready_bucket()) || (stopping_ && (bucket = any_bucket()))) {
                    job = bucket->queue.pop();
                    --bucket->queued;
                    ++bucket->running;
                    ++running_other_;
                    buckets_.splice(buckets_.end(), buckets_, position_of(bucket));  // the next pick starts elsewhere
                } else if (!stopping_) {  // a sweep: connections of retired databases
                    swept = sweeps_;
                    lock.unlock();
                    databases().release_thread(thread_key(), false);
                    continue;
                } else {
                    break;  // stopping, and nothing left to do
                }
            }
            job->run();  // may destroy `job` (it lives in the coroutine it resumes)
            if (bucket) {
                std::lock_guard lock(mutex_);
                --bucket->running;
                --running_other_;
                if (bucket->running == 0 && !bucket->queue.head) buckets_.erase(position_of(bucket));
                if (ready_bucket()) ready_.notify_one();
            }
            // A pooled connection this thread took goes back, for the next task, whichever thread runs it.
            databases().release_thread(thread_key(), false, false, true);
        }
        release_connections();
    }

    /// A queue of jobs, first in first out.
    struct Queue {
        Job* head = nullptr;
        Job* tail = nullptr;
        void push(Job& job) {
            job.next_job = nullptr;
            (tail ? tail->next_job : head) = &job;
            tail = &job;
        }
        Job* pop() {
            Job* job = head;
            if (job) head = job->next_job;
            if (!head) tail = nullptr;
            return job;
        }
    };

    /// Other (not urgent) work for one database's pool, or for none (`pool` null: no bound but max_threads).
    struct Bucket {
        const Database* pool = nullptr;
        std::size_t limit = 0;  // its pool_size when the bucket was made (0: none)
        std::size_t queued = 0;
        std::size_t running = 0;
        Queue queue;
    };
    Bucket& bucket_for(const Database* pool, std::size_t limit) {
        for (auto& b : buckets_)
            if (b.pool == pool) return b;
        Bucket& b = buckets_.emplace_back();
        b.pool = pool;
        b.limit = pool ? limit : 0;
        return b;
    }
    std::list<Bucket>::iterator position_of(const Bucket* b) {
        auto it = buckets_.begin();
        while (&*it != b) ++it;
        return it;
    }
    /// A bucket with work queued that may start now: under max_threads, and its pool not all taken by it.
    Bucket* ready_bucket() {
        if (running_other_ >= max_threads) return nullptr;
        for (auto& b : buckets_)
            if (b.queue.head && (b.limit == 0 || b.running < b.limit)) return &b;
        return nullptr;
    }
    Bucket* any_bucket() {
        for (auto& b : buckets_)
            if (b.queue.head) return &b;
        return nullptr;
    }
    /// How many queued jobs could start now.
    std::size_t runnable_count() const {
        std::size_t n = urgent_queued_;
        for (const auto& b : buckets_)
            n += b.limit == 0 ? b.queued : std::min(b.queued, b.limit > b.running ? b.limit - b.running : 0);
        return n;
    }

    std::mutex mutex_;
    std::condition_variable ready_;
    Queue urgent_;  // run first: see submit()
    std::size_t urgent_queued_ = 0;
    std::list<Bucket> buckets_;  // round robin: the one a job was taken from goes to the end
    std::uint64_t sweeps_ = 0;
    std::size_t running_other_ = 0;  // threads running other (not urgent) work
    std::size_t idle_ = 0;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

/// The fibers one transaction's (or stream's) work runs on at once: how many of its statements may be in flight.
inline constexpr std::size_t fibers_per_pin = 64;

/// Whether `job` runs on the connections its task holds only, each of which waits on sockets.
inline bool runs_on_pins(const Job& job) {
    for (const Pin* p = job.pins; p; p = p->outer)
        if (!p->db || !p->db->waits_on_sockets()) return false;
    if (job.on_pin) return true;
    if (job.pool_alias.empty()) return false;
    try {
        const Database* db = &databases().get(job.pool_alias);
        return find_pin(job.pins, db) != nullptr;
    } catch (...) {  // an unknown alias: the work raises it when it runs
        return false;
    }
}

DORM_DECL void submit(Job& job) {
    bool sockets = false;
    if (!job.pool_alias.empty() && !job.urgent) {  // before the workers' lock: the registry has its own
        try {
            Database& db = databases().get(job.pool_alias);
            job.pool = &db;
            job.pool_limit = db.pool().size;
            sockets = db.waits_on_sockets();
        } catch (...) {  // an unknown alias: the work raises it when it runs
        }
    }
    // Work on a pooled database whose connections wait on sockets goes to a fiber of the awaiting task's executor
    // when it can wait on them: no thread waits for the server.
    if (sockets && job.pool_limit > 0 && job.executor && job.executor->waits_on_sockets()) {
        job.fiber = true;
        job.lane = job.pool;
        start_on_fiber(job);
        return;
    }
    // So does work on the connections a task holds, when each of them waits on sockets: the tasks of one
    // transaction wait for their turn on its connection (PinGate) without a thread each, and may pipeline. Not
    // work that may take a pooled connection of another database: a fiber waiting for a pool would block the
    // thread the pool's holders need.
    if (job.pins && job.executor && job.executor->waits_on_sockets() && runs_on_pins(job)) {
        const Pin* outermost = job.pins;
        while (outermost->outer) outermost = outermost->outer;
        for (const Pin* p = job.pins; p; p = p->outer) {
            std::lock_guard lock(p->jobs_mutex);
            ++p->jobs;
        }
        job.counts_pins = true;
        job.fiber = true;
        job.lane = outermost;
        job.pool_limit = fibers_per_pin;
        start_on_fiber(job);
        return;
    }
    Workers::instance().submit(job);
}

DORM_DECL void submit_to_workers(Job& job) { Workers::instance().submit(job); }

// What abandon() waits on, notified by end() of an abandoned job. One for all jobs, so that a job (one per
// asynchronous call) carries no condition variable of its own: abandoning is rare, and each waiter checks its own
// job's state. `_any`, as its waiters hold different mutexes.
DORM_DECL std::condition_variable_any& job_ended() {
    static std::condition_variable_any cv;
    return cv;
}

DORM_DECL void CancellableJob::submitted() noexcept {
    std::lock_guard lock(mutex_);
    submitted_ = true;
}

DORM_DECL bool CancellableJob::begin() noexcept {
    std::lock_guard lock(mutex_);
    if (abandoned_) return false;
    working_for = &connection_;
    return true;
}

DORM_DECL auto CancellableJob::end() noexcept -> Ended {
    std::lock_guard lock(mutex_);
    working_for = nullptr;
    connection_ = nullptr;
    done_ = true;
    if (!abandoned_) return Ended::resume;
    if (fiber) return Ended::discard;
    job_ended().notify_all();  // under the lock: once it is released, abandon() may return and `this` go
    return Ended::abandoned;
}

namespace {
/// Whether `c` is the connection of one of `pins` (a block's, which its pipelined statements share).
bool pins_connection(const Pin* pins, const backends::Connection* c) noexcept {
    for (; pins; pins = pins->outer)
        if (pins->connection == c) return true;
    return false;
}
}  // namespace

DORM_DECL bool CancellableJob::abandon() noexcept {
    std::unique_lock lock(mutex_);
    if (!submitted_) return false;
    if (done_) {  // its resumption may wait in the executor's queue: it must not resume a destroyed task
        if (relay_dropped_) relay_dropped_->store(true);
        return false;
    }
    abandoned_ = true;
    if (fiber) {  // it cannot be waited for: it may need this very thread to run (see fiber.hpp)
        if (auto* c = connection_.load()) {
            // A statement pipelined on a block's connection may not be the one the server is running: a cancel
            // would hit another task's. It runs to its end, and the pipeline reads its result.
            if (!(pipelines && pins_connection(pins, c))) c->cancel();
        }
        return true;
    }
    // A cancel stops only the statement running when it arrives: the work may be between two statements, or on
    // its way to the next, so it is repeated until the work ends. Under the lock: end() clears the connection
    // before its thread may hand it on.
    while (!done_) {
        if (auto* c = connection_.load()) c->cancel();
        job_ended().wait_for(lock, std::chrono::milliseconds(20));
    }
    return false;
}

namespace {
// Outermost first: every scope over one chain locks in the same order.
void lock_pins(const Pin* p) {
    if (!p) return;
    lock_pins(p->outer);
    if (!p->root) p->lock.lock();  // a nested block's pin shares its root's lock, locked further out
}
}  // namespace

DORM_DECL PinScope::PinScope(const Pin* pins, bool pipelines)
    : saved_(pinned), pins_(pins), saved_scope_(pin_scope), pipelines_(pipelines && on_fiber()) {
    lock_pins(pins);
    pinned = pins;
    pin_scope = this;
    last_serial = 0;  // Database::connection()'s fast path must not answer with the thread's own connection
}

DORM_DECL PinScope::~PinScope() {
    hand_on();
    pinned = saved_;
    pin_scope = saved_scope_;
    last_serial = 0;
}

DORM_DECL void PinScope::hand_on() noexcept {
    if (!held_) return;
    held_ = false;
    for (const Pin* p = pins_; p; p = p->outer)
        if (!p->root) p->lock.unlock();
}

DORM_DECL void PinScope::take_back() noexcept {
    if (held_) return;
    lock_pins(pins_);
    held_ = true;
}

DORM_DECL bool may_pipeline(const backends::Connection& c) noexcept {
    const PinScope* scope = pin_scope;
    if (!scope || !scope->pipelines()) return false;
    for (const Pin* p = scope->pins(); p; p = p->outer)
        if (p->connection == &c) return c.atomic_depth() == p->depth + 1;
    return false;
}

DORM_DECL void hand_on_pin() noexcept {
    if (PinScope* scope = pin_scope) scope->hand_on();
}

DORM_DECL void take_back_pin() noexcept {
    if (PinScope* scope = pin_scope) scope->take_back();
}

DORM_DECL void Job::release_pins() noexcept {
    if (!counts_pins) return;
    counts_pins = false;
    for (const Pin* p = pins; p;) {
        const Pin* outer = p->outer;  // read first: `p` may be gone once counted out
        PinOwner* orphan = nullptr;
        {
            std::lock_guard lock(p->jobs_mutex);
            if (--p->jobs == 0) orphan = std::exchange(p->orphan, nullptr);
        }
        delete orphan;  // the pin's owner went away while this job ran: the last job ends it
        p = outer;
    }
}

DORM_DECL void retire_pin(const Pin& pin, std::unique_ptr<PinOwner> owner) noexcept {
    {
        std::lock_guard lock(pin.jobs_mutex);
        if (pin.jobs > 0) {
            pin.orphan = owner.release();
            return;
        }
    }
    owner.reset();
}

DORM_DECL void PinGate::lock() {
    std::unique_lock guard(mutex_);
    if (!held_) {
        held_ = true;
        return;
    }
    bool first = false;  // a thread that lost the gate after being woken waits first in line again
    for (;;) {
        Waiter w;
        if (first) {
            w.next = head_;
            head_ = &w;
            if (!tail_) tail_ = &w;
        } else {
            (tail_ ? tail_->next : head_) = &w;
            tail_ = &w;
        }
        guard.unlock();
        w.wait();
        // A fiber is handed the gate held (unlock() keeps held_ set for it): it is parked, and taking the gate
        // when it runs again would let others overtake it without end.
        if (w.on_fiber()) return;
        // A thread takes it itself, like a mutex: handing it over would make every turn wait for a sleeping
        // thread to wake (a convoy), while the thread that unlocked could go on at once.
        guard.lock();
        thread_woken_ = false;
        if (!held_) {
            held_ = true;
            return;
        }
        first = true;
    }
}

DORM_DECL void PinGate::unlock() noexcept {
    Waiter* w;
    {
        std::lock_guard guard(mutex_);
        w = head_;
        if (!w || !w->on_fiber()) {
            held_ = false;
            // One woken thread at a time: while it has not come back for the gate, waking more would only have
            // them find it taken again (as a futex-based mutex does).
            if (!w || thread_woken_) return;
            thread_woken_ = true;
        }
        head_ = w->next;
        if (!head_) tail_ = nullptr;
    }
    // Woken after the gate's own lock is released: the new holder may end the pin (and the gate) at once. (A
    // woken thread's job has not ended: the gate outlives its retry.)
    w->wake();
}

DORM_DECL bool PinGate::busy() noexcept {
    std::lock_guard guard(mutex_);
    return held_;
}

struct RunLoop::State {
    std::mutex mutex;
    std::condition_variable ready;
    std::vector<std::coroutine_handle<>> queue;
    std::vector<pollfd> wait_fds;  // what run() polls, with the handles waiting on them
    std::vector<std::coroutine_handle<>> waiting;
    int wake = -1;         // an eventfd: post() from another thread interrupts poll() (made on the first wait)
    bool polling = false;  // run() is in poll(), not waiting on `ready`
    bool stopped = false;
    ~State() {
        if (wake >= 0) ::close(wake);
    }
    /// Wakes run() (mutex held).
    void notify() {
        if (polling) {
            const std::uint64_t one = 1;
            (void)!::write(wake, &one, sizeof one);
        } else {
            ready.notify_one();
        }
    }
};

DORM_DECL RunLoop::RunLoop() : state_(new State) {}
DORM_DECL RunLoop::~RunLoop() { delete state_; }

// Both notify under the lock: once it is released, run() may return and sync_wait() destroy the loop.
DORM_DECL void RunLoop::post(std::coroutine_handle<> h) {
    std::lock_guard lock(state_->mutex);
    state_->queue.push_back(h);
    state_->notify();
}

DORM_DECL void RunLoop::stop() {
    std::lock_guard lock(state_->mutex);
    state_->stopped = true;
    state_->notify();
}

DORM_DECL void RunLoop::wait_readable(int fd, std::coroutine_handle<> h) {
    std::lock_guard lock(state_->mutex);
    if (state_->wake < 0) {
        state_->wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (state_->wake < 0) throw std::system_error(errno, std::generic_category(), "dorm: eventfd");
    }
    state_->wait_fds.push_back({fd, POLLIN, 0});
    state_->waiting.push_back(h);
    state_->notify();
}

DORM_DECL void RunLoop::run() {
    State& s = *state_;
    std::vector<std::coroutine_handle<>> batch;
    std::vector<pollfd> fds;
    for (;;) {
        {
            std::unique_lock lock(s.mutex);
            if (!s.wait_fds.empty()) {
                // Sockets are polled at every turn, without blocking while coroutines are ready to run: a
                // coroutine that keeps posting itself must not starve the fibers waiting on the server.
                const bool block = s.queue.empty();
                fds = s.wait_fds;
                fds.push_back({s.wake, POLLIN, 0});
                s.polling = block;
                lock.unlock();
                while (::poll(fds.data(), fds.size(), block ? -1 : 0) < 0 && errno == EINTR) {
                }
                std::uint64_t n;
                if (fds.back().revents) (void)!::read(s.wake, &n, sizeof n);
                lock.lock();
                s.polling = false;
                // Waits added meanwhile come after the polled ones: those keep their places.
                std::size_t kept = 0;
                for (std::size_t i = 0; i < s.wait_fds.size(); ++i) {
                    if (i + 1 < fds.size() && fds[i].revents) {
                        s.queue.push_back(s.waiting[i]);
                    } else {
                        s.wait_fds[kept] = s.wait_fds[i];
                        s.waiting[kept++] = s.waiting[i];
                    }
                }
                s.wait_fds.resize(kept);
                s.waiting.resize(kept);
            } else {
                s.ready.wait(lock, [&] { return !s.queue.empty() || !s.wait_fds.empty() || s.stopped; });
            }
            if (s.queue.empty()) {
                if (s.stopped && s.wait_fds.empty()) return;
                continue;
            }
            batch.swap(s.queue);
        }
        for (auto h : batch) h.resume();
        batch.clear();
    }
}

DORM_DECL ErrorKind error_kind(const std::exception_ptr& e) noexcept {
    try {
        std::rethrow_exception(e);
    } catch (const BrokenTransactionError&) {
        return ErrorKind::refusal;
    } catch (const TransactionManagementError&) {  // a transaction used the wrong way: no statement failed
        return ErrorKind::other;
    } catch (const DatabaseError& d) {
        return d.code() == "25P02" ? ErrorKind::refusal : ErrorKind::failed_statement;  // in_failed_sql_transaction
    } catch (...) {
        return ErrorKind::other;
    }
}

}  // namespace dorm::detail
