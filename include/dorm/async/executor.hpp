// SPDX-License-Identifier: MIT
// Executor: where dorm resumes a coroutine whose database work finished (an application's event loop).
#pragma once

#include <dorm/config.hpp>

#include <coroutine>

namespace dorm {

/// An application's event loop, as dorm sees it: dorm's asynchronous methods do their database work elsewhere
/// (a worker thread) and hand the awaiting coroutine back through post(). sync_wait() brings its own; the Asio
/// adapter (<dorm/async/asio.hpp>) wraps an io_context's executor. A coroutine awaiting dorm with no executor
/// continues on the thread that did the work.
class Executor {
public:
    virtual ~Executor() = default;
    /// Resumes `h` on the executor's thread(s), later: never inside this call.
    virtual void post(std::coroutine_handle<> h) = 0;
};

}  // namespace dorm
