// SPDX-License-Identifier: MIT
// The worker threads of dorm's asynchronous methods, pinned connections, and sync_wait()'s loop.
#pragma once

#include <dorm/async/offload.hpp>
#include <dorm/async/sync_wait.hpp>
#include <dorm/database.hpp>
#include <dorm/impl/database.ipp>  // the thread's pinned connections live there

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

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

    void submit(Job& job) {
        std::unique_lock lock(mutex_);
        (job.urgent ? urgent_ : other_).push(job);
        ++queued_;
        if (idle_ < queued_ && (threads_.size() < max_threads || job.urgent)) {
            threads_.emplace_back([this] { loop(); });
            return;
        }
        lock.unlock();
        ready_.notify_one();
    }

    ~Workers() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        ready_.notify_all();
        for (auto& t : threads_) t.join();
    }

private:
    static constexpr std::size_t max_threads = 64;

    void loop() {
        for (;;) {
            Job* job = nullptr;
            {
                std::unique_lock lock(mutex_);
                ++idle_;
                ready_.wait(lock, [&] { return urgent_.head || other_.head || stopping_; });
                --idle_;
                job = urgent_.head ? urgent_.pop() : other_.pop();
                if (!job) break;  // stopping, and nothing left to do
                --queued_;
            }
            job->run();  // may destroy `job` (it lives in the coroutine it resumes)
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

    std::mutex mutex_;
    std::condition_variable ready_;
    Queue urgent_;  // run first: see submit()
    Queue other_;
    std::size_t queued_ = 0;
    std::size_t idle_ = 0;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

DORM_DECL void submit(Job& job) { Workers::instance().submit(job); }

namespace {
// Outermost first: every scope over one chain locks in the same order.
void lock_pins(const Pin* p) {
    if (!p) return;
    lock_pins(p->outer);
    p->lock.lock();
}
}  // namespace

DORM_DECL PinScope::PinScope(const Pin* pins) : saved_(pinned), pins_(pins) {
    lock_pins(pins);
    pinned = pins;
    last_serial = 0;  // Database::connection()'s fast path must not answer with the thread's own connection
}

DORM_DECL PinScope::~PinScope() {
    for (const Pin* p = pins_; p; p = p->outer) p->lock.unlock();
    pinned = saved_;
    last_serial = 0;
}

struct RunLoop::State {
    std::mutex mutex;
    std::condition_variable ready;
    std::vector<std::coroutine_handle<>> queue;
    bool stopped = false;
};

DORM_DECL RunLoop::RunLoop() : state_(new State) {}
DORM_DECL RunLoop::~RunLoop() { delete state_; }

DORM_DECL void RunLoop::post(std::coroutine_handle<> h) {
    {
        std::lock_guard lock(state_->mutex);
        state_->queue.push_back(h);
    }
    state_->ready.notify_one();
}

DORM_DECL void RunLoop::stop() {
    {
        std::lock_guard lock(state_->mutex);
        state_->stopped = true;
    }
    state_->ready.notify_one();
}

DORM_DECL void RunLoop::run() {
    std::vector<std::coroutine_handle<>> batch;
    for (;;) {
        {
            std::unique_lock lock(state_->mutex);
            state_->ready.wait(lock, [&] { return !state_->queue.empty() || state_->stopped; });
            if (state_->queue.empty()) return;
            batch.swap(state_->queue);
        }
        for (auto h : batch) h.resume();
        batch.clear();
    }
}

}  // namespace dorm::detail
