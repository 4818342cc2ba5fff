// SPDX-License-Identifier: MIT
// dorm's asynchronous API beyond QuerySet's a-methods: Task, sync_wait(), aatomic(), the executor hook.
#pragma once

#include <dorm/async/atomic.hpp>
#include <dorm/async/executor.hpp>
#include <dorm/async/offload.hpp>
#include <dorm/async/stream.hpp>
#include <dorm/async/sync_wait.hpp>
#include <dorm/async/task.hpp>
#include <dorm/async/when_all.hpp>
