// SPDX-License-Identifier: MIT
// Executor: where dorm resumes a coroutine whose database work finished (an application's event loop).
#pragma once

#include <dorm/config.hpp>

#include <coroutine>

namespace dorm {

/// An application's event loop, as dorm sees it: dorm's asynchronous methods do their database work elsewhere
/// (a worker thread, or a fiber waiting on the server's socket through wait_readable()) and hand the awaiting
/// coroutine back through post(). sync_wait() brings its own; the Asio
/// adapter (<dorm/async/asio.hpp>) wraps an io_context's executor. A coroutine awaiting dorm with no executor
/// continues on the thread that did the work.
class Executor {
public:
    virtual ~Executor() = default;
    /// Resumes `h` on the executor's thread(s), later: never inside this call.
    virtual void post(std::coroutine_handle<> h) = 0;
    /// Whether wait_readable() works: dorm then runs the work of its asynchronous methods on PostgreSQL (with a
    /// pool) on this executor's thread(s), on fibers that wait for the server through it, instead of on worker
    /// threads.
    virtual bool waits_on_sockets() const noexcept { return false; }
    /// Resumes `h` as post() does once the socket `fd` can be read (or has failed). Called only when
    /// waits_on_sockets(); a resumption without data to read is harmless (dorm waits again).
    virtual void wait_readable(int fd, std::coroutine_handle<> h) {
        (void)fd;
        post(h);
    }
};

}  // namespace dorm
