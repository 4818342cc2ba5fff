// SPDX-License-Identifier: MIT
// Fibers: asynchronous work on a database whose connections wait on sockets (PostgreSQL) runs on a fiber of the
// awaiting task's executor, which waits for the server through the executor instead of blocking a thread.
#pragma once

#include <dorm/config.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace dorm::detail {

class Job;
}  // namespace dorm::detail
namespace dorm::backends {
class Connection;
}
namespace dorm::detail {

/// Whether the calling code runs on one of dorm's fibers.
DORM_DECL bool on_fiber() noexcept;

/// Returns once `fd` can be read. A fiber is suspended meanwhile and resumed through its executor; other code
/// blocks in poll().
DORM_DECL void wait_readable(int fd);

/// Returns true once `fd` can be written (`write`) or read, or has failed; false at `deadline` if it comes first
/// (time_point::max(): no deadline). A fiber waits through its executor, which watches a set (an epoll instance)
/// holding the socket and a timer, readable when either is ready; other code blocks in poll(). Throws
/// OperationalError when the system has no such set or timer to give (out of file descriptors).
DORM_DECL bool wait_socket(int fd, bool write, std::chrono::steady_clock::time_point deadline);

/// A wait that another thread can end early: wait() returns at `deadline` or once ring() was called, whichever
/// comes first (a ring before the wait ends it at once). A fiber waits through its executor, whose thread stays
/// free; other code blocks. ring() may be called from any thread while the alarm exists.
class FiberAlarm {
public:
    /// Throws OperationalError when the system has no timer to give (out of file descriptors).
    DORM_DECL explicit FiberAlarm(std::chrono::steady_clock::time_point deadline);
    DORM_DECL ~FiberAlarm();
    FiberAlarm(const FiberAlarm&) = delete;
    FiberAlarm& operator=(const FiberAlarm&) = delete;
    DORM_DECL void wait() noexcept;
    DORM_DECL void ring() noexcept;

private:
    int fd_;  // a timerfd: readable once it expires, which ring() makes it do now
};

/// One fiber or thread waiting until another hands it something (a lock, its turn to read a result): wake() is
/// called once, before or after wait(), from any thread. A fiber is suspended meanwhile (its executor's thread
/// stays free); a thread blocks. The waiter is made by the code that waits, on its own stack.
class Waiter {
public:
    DORM_DECL Waiter() noexcept;
    Waiter(const Waiter&) = delete;
    Waiter& operator=(const Waiter&) = delete;
    DORM_DECL void wait() noexcept;
    DORM_DECL void wake() noexcept;
    /// Whether a fiber waits, not a thread.
    bool on_fiber() const noexcept { return fiber_ != nullptr; }
    Waiter* next = nullptr;  // the link of the queue it waits in

private:
    void* fiber_;  // the fiber that waits, or none (a thread)
    std::mutex mutex_;
    std::condition_variable woken_cv_;
    bool woken_ = false;
};

/// While a job that may share its transaction's connection runs on a fiber (see PinScope and Job::pipelines):
/// whether a statement it sends on `c` may have its result awaited without holding the transaction's lock, so
/// that the statements of other tasks of the transaction go out meanwhile (PostgreSQL's pipeline mode). Not when
/// the job itself opened a block (savepoint) on `c`: statements of others would land inside it.
DORM_DECL bool may_pipeline(const backends::Connection& c) noexcept;
/// Lets other jobs of the transaction take its lock while this one waits for its statement's result.
DORM_DECL void hand_on_pin() noexcept;
/// Takes the transaction's lock back (waiting for the job that holds it now), before the job goes on.
DORM_DECL void take_back_pin() noexcept;

/// Runs `job` on a fiber of `job.executor` (which waits_on_sockets()): at once when fewer than `job.pool_limit`
/// jobs of its database run on fibers, else when one of them ends. The fiber's connections go back to their pools
/// when the job has ended.
DORM_DECL void start_on_fiber(Job& job);

/// Queues `job` for dorm's worker threads (see submit()).
DORM_DECL void submit_to_workers(Job& job);

}  // namespace dorm::detail
