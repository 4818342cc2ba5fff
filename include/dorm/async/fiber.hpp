// SPDX-License-Identifier: MIT
// Fibers: asynchronous work on a database whose connections wait on sockets (PostgreSQL) runs on a fiber of the
// awaiting task's executor, which waits for the server through the executor instead of blocking a thread.
#pragma once

#include <dorm/config.hpp>

#include <chrono>

namespace dorm::detail {

class Job;

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

/// Runs `job` on a fiber of `job.executor` (which waits_on_sockets()): at once when fewer than `job.pool_limit`
/// jobs of its database run on fibers, else when one of them ends. The fiber's connections go back to their pools
/// when the job has ended.
DORM_DECL void start_on_fiber(Job& job);

/// Queues `job` for dorm's worker threads (see submit()).
DORM_DECL void submit_to_workers(Job& job);

}  // namespace dorm::detail
