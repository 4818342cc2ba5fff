// SPDX-License-Identifier: MIT
// Definitions for <dorm/async/fiber.hpp>: the fibers asynchronous work on PostgreSQL runs on.
//
// A fiber is a stack of its own (ucontext) on which a job's blocking code runs unchanged; where that code would
// block on the server's socket it calls wait_readable(), which suspends the fiber and asks the job's executor to
// resume it once the socket can be read. A small coroutine (the pump) stands for the fiber towards the executor:
// resuming the pump runs the fiber to its next wait. What dorm keeps per thread (the current connection, the
// connections the work holds, the key connections are held under) and the C++ runtime's record of the exceptions
// being handled are per fiber: they are swapped at each switch, on the executor's side, which always returns to
// the thread that switched.
#pragma once

#include <dorm/async/fiber.hpp>
#include <dorm/async/offload.hpp>
#include <dorm/database.hpp>
#include <dorm/errors.hpp>
#include <dorm/impl/database.ipp>  // dorm's per-thread state lives there

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <list>
#include <mutex>
#include <system_error>
#include <vector>

#include <cxxabi.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define DORM_FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DORM_FIBER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define DORM_FIBER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DORM_FIBER_TSAN 1
#endif
#endif

#if defined(DORM_FIBER_ASAN)
extern "C" void __sanitizer_start_switch_fiber(void** fake_stack_save, const void* bottom, std::size_t size);
extern "C" void __sanitizer_finish_switch_fiber(void* fake_stack_save, const void** bottom_old, std::size_t* size_old);
#endif
#if defined(DORM_FIBER_TSAN)
extern "C" void* __tsan_get_current_fiber();
extern "C" void* __tsan_create_fiber(unsigned flags);
extern "C" void __tsan_destroy_fiber(void* fiber);
extern "C" void __tsan_switch_to_fiber(void* fiber, unsigned flags);
#endif

namespace dorm::detail {

namespace fibers {

// How a fiber and its executor switch stacks. swapcontext() also saves and restores the signal mask, two system
// calls per switch and four switches per statement; on x86-64 the switch saves only what the calling convention
// asks a callee to keep (rbx, rbp, r12-r15, the x87 and SSE control words) and is a few instructions. Elsewhere,
// and where shadow stacks may be enforced (a `ret` to another stack would fault), ucontext.
#if defined(__x86_64__) && !(defined(__CET__) && (__CET__ & 2)) && !defined(DORM_FIBER_UCONTEXT)
#define DORM_FIBER_SWITCH 1

/// Saves the callee-saved registers on this stack, stores its top in `*from`, and continues on the stack `to`
/// (one that switch_stack() left, or a new one laid out by new_stack()).
[[gnu::naked, gnu::noinline]] inline void switch_stack(void** /*from*/, void* /*to*/) noexcept {
    asm("pushq %rbp\n\t"
        "pushq %rbx\n\t"
        "pushq %r12\n\t"
        "pushq %r13\n\t"
        "pushq %r14\n\t"
        "pushq %r15\n\t"
        "subq $16, %rsp\n\t"
        "stmxcsr 8(%rsp)\n\t"
        "fnstcw (%rsp)\n\t"
        "movq %rsp, (%rdi)\n\t"
        "movq %rsi, %rsp\n\t"
        "ldmxcsr 8(%rsp)\n\t"
        "fldcw (%rsp)\n\t"
        "addq $16, %rsp\n\t"
        "popq %r15\n\t"
        "popq %r14\n\t"
        "popq %r13\n\t"
        "popq %r12\n\t"
        "popq %rbx\n\t"
        "popq %rbp\n\t"
        "ret");
}

/// Where a new stack's first switch returns to: calls r13(r12) on an aligned stack; it never returns.
[[gnu::naked, gnu::noinline]] inline void stack_start() noexcept {
    asm("movq %r12, %rdi\n\t"
        "andq $-16, %rsp\n\t"
        "callq *%r13\n\t"
        "ud2");
}

/// Lays out a new stack below `top` so that switching to it calls `entry(arg)`.
inline void* new_stack(void* top, void (*entry)(void*), void* arg) noexcept {
    auto* sp = reinterpret_cast<std::uint64_t*>(reinterpret_cast<std::uintptr_t>(top) & ~std::uintptr_t{15}) - 10;
    sp[0] = 0x037f;  // x87 control word: the default
    sp[1] = 0x1f80;  // MXCSR: the default
    sp[2] = 0;       // r15
    sp[3] = 0;       // r14
    sp[4] = reinterpret_cast<std::uint64_t>(entry);  // r13
    sp[5] = reinterpret_cast<std::uint64_t>(arg);    // r12
    sp[6] = 0;                                       // rbx
    sp[7] = 0;                                       // rbp
    sp[8] = reinterpret_cast<std::uint64_t>(&stack_start);
    sp[9] = 0;
    return sp;
}
#endif

#if defined(DORM_FIBER_ASAN) || defined(DORM_FIBER_TSAN)
inline constexpr std::size_t stack_size = 4 << 20;  // instrumented frames are several times larger
#else
inline constexpr std::size_t stack_size = 512 << 10;
#endif
inline constexpr std::size_t guard_size = 64 << 10;  // below the stack, unmapped: an overflow faults

/// The C++ runtime's per-thread record of exceptions being handled (Itanium C++ ABI, 2.2.1): a fiber suspended
/// inside a catch block keeps its own.
struct EhGlobals {
    void* caught = nullptr;
    unsigned int uncaught = 0;
};
inline EhGlobals* eh_globals() noexcept { return reinterpret_cast<EhGlobals*>(abi::__cxa_get_globals()); }

/// dorm's per-thread state while some code runs: the thread's own, or a fiber's.
struct ThreadState {
    std::uint64_t last_serial = 0;
    backends::Connection* last_connection = nullptr;
    const Pin* pinned = nullptr;
    PinScope* pin_scope = nullptr;
    std::atomic<backends::Connection*>* working_for = nullptr;
    std::uintptr_t fiber_key = 0;
    EhGlobals eh;

    static ThreadState capture() noexcept {
        return {detail::last_serial, detail::last_connection, detail::pinned, detail::pin_scope, detail::working_for,
                detail::fiber_key, *eh_globals()};
    }
    void install() const noexcept {
        detail::last_serial = last_serial;
        detail::last_connection = last_connection;
        detail::pinned = pinned;
        detail::pin_scope = pin_scope;
        detail::working_for = working_for;
        detail::fiber_key = fiber_key;
        *eh_globals() = eh;
    }
};

/// Stacks of ended fibers, kept for the next ones (mapping a stack costs system calls and page faults).
class Stacks {
public:
    static Stacks& instance() {
        static Stacks s;
        return s;
    }
    void* take() {
        {
            std::lock_guard lock(mutex_);
            if (!free_.empty()) {
                void* s = free_.back();
                free_.pop_back();
                return s;
            }
        }
        void* p = mmap(nullptr, guard_size + stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                       -1, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
        if (mprotect(p, guard_size, PROT_NONE) != 0) {
            munmap(p, guard_size + stack_size);
            throw std::bad_alloc();
        }
        return static_cast<char*>(p) + guard_size;
    }
    void give(void* stack) noexcept {
        {
            std::lock_guard lock(mutex_);
            if (free_.size() < kept) {
                try {
                    free_.push_back(stack);
                    return;
                } catch (...) {
                }
            }
        }
        munmap(static_cast<char*>(stack) - guard_size, guard_size + stack_size);
    }
    ~Stacks() {
        for (void* s : free_) munmap(static_cast<char*>(s) - guard_size, guard_size + stack_size);
    }

private:
    static constexpr std::size_t kept = 256;
    std::mutex mutex_;
    std::vector<void*> free_;
};

/// What a fiber asks of its executor when it switches back.
enum class Next { run, wait, park, finished };

struct Fiber {
    Fiber(Job& j) noexcept : job(&j), executor(j.executor), lane(j.lane) {}
    Job* job;
    Executor* executor;
    const void* lane;
    void* stack = nullptr;
#if defined(DORM_FIBER_SWITCH)
    void* sp = nullptr;         // the fiber's stack, while it is suspended
    void* caller_sp = nullptr;  // the executor's side, while the fiber runs
#else
    ucontext_t context{};
    ucontext_t caller{};
#endif
    Next next = Next::run;
    int wait_fd = -1;
    // Parked (Next::park) until a Waiter wakes it: 0 running, 1 parked (`parked` is its pump), 2 woken before it
    // parked (it then does not).
    std::atomic<int> park_state{0};
    std::coroutine_handle<> parked;
    ThreadState state;  // the fiber's, while it is suspended
#if defined(DORM_FIBER_ASAN)
    void* fake_stack = nullptr;
    const void* caller_bottom = nullptr;
    std::size_t caller_size = 0;
#endif
#if defined(DORM_FIBER_TSAN)
    void* tsan_fiber = nullptr;
    void* tsan_caller = nullptr;
#endif

    /// On the fiber: back to the executor's side, until the pump is resumed.
    void suspend(bool last = false) noexcept {
#if defined(DORM_FIBER_ASAN)
        __sanitizer_start_switch_fiber(last ? nullptr : &fake_stack, caller_bottom, caller_size);
#else
        (void)last;
#endif
#if defined(DORM_FIBER_TSAN)
        __tsan_switch_to_fiber(tsan_caller, 0);
#endif
#if defined(DORM_FIBER_SWITCH)
        switch_stack(&sp, caller_sp);
#else
        swapcontext(&context, &caller);
#endif
#if defined(DORM_FIBER_ASAN)
        __sanitizer_finish_switch_fiber(fake_stack, &caller_bottom, &caller_size);
#endif
    }
};

inline thread_local Fiber* current = nullptr;

/// On the executor's side: runs `f` until it waits or ends.
inline void enter(Fiber& f) noexcept {
    const ThreadState own = ThreadState::capture();
    f.state.install();
    Fiber* outer = current;
    current = &f;
#if defined(DORM_FIBER_ASAN)
    void* fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, f.stack, stack_size);
#endif
#if defined(DORM_FIBER_TSAN)
    f.tsan_caller = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(f.tsan_fiber, 0);
#endif
#if defined(DORM_FIBER_SWITCH)
    switch_stack(&f.caller_sp, f.sp);
#else
    swapcontext(&f.caller, &f.context);
#endif
#if defined(DORM_FIBER_ASAN)
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
    current = outer;
    f.state = ThreadState::capture();
    own.install();
}

/// The job's connections go back to their pools once it has ended, so that its pool serves the next job.
/// The first code on a fiber's stack; it never returns (its last switch leaves the stack for good).
inline void run_fiber(Fiber* f) noexcept {
#if defined(DORM_FIBER_ASAN)
    __sanitizer_finish_switch_fiber(nullptr, &f->caller_bottom, &f->caller_size);
#endif
    f->job->run();  // resumes the awaiting task through its executor (or drops an abandoned job)
    try {
        databases().release_thread(thread_key(), true);
    } catch (...) {  // a connection that cannot be pooled is closed on the way: nothing is left to report it to
    }
    f->next = Next::finished;
    f->suspend(true);
}

#if defined(DORM_FIBER_SWITCH)
inline void fiber_entry(void* f) noexcept { run_fiber(static_cast<Fiber*>(f)); }
#else
inline void fiber_entry(unsigned high, unsigned low) noexcept {  // makecontext() passes ints
    run_fiber(reinterpret_cast<Fiber*>((static_cast<std::uintptr_t>(high) << 32) | low));
}
#endif

/// Fibers of each database run at most its pool_size jobs at once (the others queue here, not on connections).
class Lanes {
public:
    static Lanes& instance() {
        (void)databases();  // outlives the lanes
        static Lanes lanes;
        return lanes;
    }
    void start(Job& job) {
        {
            std::lock_guard lock(mutex_);
            Lane& lane = lane_for(job.lane);
            if (lane.running >= job.pool_limit) {
                job.next_job = nullptr;
                (lane.tail ? lane.tail->next_job : lane.head) = &job;
                lane.tail = &job;
                return;
            }
            ++lane.running;
        }
        launch(job);
    }
    /// After a fiber of `key`'s lane ended: the next job queued for it, if any.
    void ended(const void* key) {
        Job* next = nullptr;
        {
            std::lock_guard lock(mutex_);
            Lane& lane = lane_for(key);
            if ((next = lane.head)) {
                lane.head = next->next_job;
                if (!lane.head) lane.tail = nullptr;
            } else if (--lane.running == 0) {
                lanes_.remove_if([&](const Lane& l) { return &l == &lane; });
            }
        }
        if (next) launch(*next);
    }

private:
    struct Lane {
        const void* key = nullptr;
        std::size_t running = 0;
        Job* head = nullptr;
        Job* tail = nullptr;
    };
    Lane& lane_for(const void* key) {
        for (auto& l : lanes_)
            if (l.key == key) return l;
        return lanes_.emplace_back(Lane{key});
    }
    static void launch(Job& job);

    std::mutex mutex_;
    std::list<Lane> lanes_;
};

/// The coroutine the executor resumes for a fiber: each resumption runs the fiber to its next wait, which the
/// pump hands to the executor once it is suspended itself (so that another thread resuming it early is safe).
struct Pump {
    struct promise_type {
        Pump get_return_object() noexcept { return {std::coroutine_handle<promise_type>::from_promise(*this)}; }
        std::suspend_always initial_suspend() const noexcept { return {}; }
        std::suspend_never final_suspend() const noexcept { return {}; }
        void return_void() const noexcept {}
        void unhandled_exception() const noexcept { std::terminate(); }
    };
    std::coroutine_handle<promise_type> h;
};

struct AwaitSocket {
    Fiber* f;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) const { f->executor->wait_readable(f->wait_fd, h); }
    void await_resume() const noexcept {}
};

/// The pump of a fiber that parked: suspended until unpark(), unless that came first.
struct Parked {
    Fiber* f;
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) const noexcept {
        f->parked = h;
        int running = 0;
        if (f->park_state.compare_exchange_strong(running, 1)) return true;
        f->park_state.store(0);  // woken already
        return false;
    }
    void await_resume() const noexcept {}
};

/// Resumes a fiber that parked (or will: it then goes on at once), through its executor.
inline void unpark(Fiber* f) noexcept {
    if (f->park_state.exchange(2) != 1) return;
    f->park_state.store(0);
    resume_on(f->executor, f->parked);
}

inline void release(Fiber* f) noexcept {
    Stacks::instance().give(f->stack);
#if defined(DORM_FIBER_TSAN)
    __tsan_destroy_fiber(f->tsan_fiber);
#endif
    delete f;
}

inline Pump pump(Fiber* f) {
    for (;;) {
        enter(*f);
        if (f->next == Next::finished) break;
        if (f->next == Next::park) {
            f->next = Next::run;
            co_await Parked{f};
            continue;
        }
        f->next = Next::run;
        co_await AwaitSocket{f};
    }
    const void* lane = f->lane;
    release(f);
    Lanes::instance().ended(lane);
}

inline void Lanes::launch(Job& job) {
    auto* f = new Fiber(job);
    try {
        f->stack = Stacks::instance().take();
        const auto address = reinterpret_cast<std::uintptr_t>(f);
#if defined(DORM_FIBER_SWITCH)
        f->sp = new_stack(static_cast<char*>(f->stack) + stack_size, &fiber_entry, f);
#else
        getcontext(&f->context);
        f->context.uc_stack.ss_sp = f->stack;
        f->context.uc_stack.ss_size = stack_size;
        f->context.uc_link = nullptr;
        makecontext(&f->context, reinterpret_cast<void (*)()>(&fiber_entry), 2, static_cast<unsigned>(address >> 32),
                    static_cast<unsigned>(address & 0xffffffffu));
#endif
        f->state.fiber_key = address;  // the key its connections are held under, as a thread's
#if defined(DORM_FIBER_TSAN)
        f->tsan_fiber = __tsan_create_fiber(0);
#endif
    } catch (...) {
        // No stack: the job runs on a worker thread after all.
        if (f->stack) Stacks::instance().give(f->stack);
        delete f;
        job.fiber = false;
        instance().ended(job.lane);
        submit_to_workers(job);
        return;
    }
    auto h = pump(f).h;
    try {
        job.executor->post(h);
    } catch (...) {  // an executor that cannot take it: the job runs on a worker thread after all
        h.destroy();
        release(f);
        job.fiber = false;
        instance().ended(job.lane);
        submit_to_workers(job);
    }
}

}  // namespace fibers

DORM_DECL bool on_fiber() noexcept { return fibers::current != nullptr; }

DORM_DECL void wait_readable(int fd) {
    if (fd < 0) return;  // no socket (a lost connection): what reads it reports the error
    fibers::Fiber* f = fibers::current;
    if (!f) {
        pollfd p{fd, POLLIN, 0};
        while (poll(&p, 1, -1) < 0 && errno == EINTR) {
        }
        return;
    }
    f->wait_fd = fd;
    f->next = fibers::Next::wait;
    f->suspend();
}

DORM_DECL Waiter::Waiter() noexcept : fiber_(fibers::current) {}

DORM_DECL void Waiter::wait() noexcept {
    if (auto* f = static_cast<fibers::Fiber*>(fiber_)) {
        f->next = fibers::Next::park;
        f->suspend();
        return;
    }
    std::unique_lock lock(mutex_);
    woken_cv_.wait(lock, [this] { return woken_; });
}

DORM_DECL void Waiter::wake() noexcept {
    if (auto* f = static_cast<fibers::Fiber*>(fiber_)) {
        fibers::unpark(f);
        return;
    }
    // Notified under the lock: the waiter cannot return (and take its condition variable with it) before.
    std::lock_guard lock(mutex_);
    woken_ = true;
    woken_cv_.notify_one();
}

namespace fibers {
/// `it` for timerfd_settime(): `d` from now, at least a nanosecond (a zero time would disarm the timer).
inline itimerspec expiring_in(std::chrono::nanoseconds d) {
    itimerspec spec{};
    if (d < std::chrono::nanoseconds(1)) d = std::chrono::nanoseconds(1);
    spec.it_value.tv_sec = static_cast<time_t>(d.count() / 1'000'000'000);
    spec.it_value.tv_nsec = static_cast<long>(d.count() % 1'000'000'000);
    return spec;
}
}  // namespace fibers

namespace fibers {
/// A file descriptor closed with its owner.
struct OwnedFd {
    int fd;
    explicit OwnedFd(int f) : fd(f) {}
    OwnedFd(const OwnedFd&) = delete;
    OwnedFd& operator=(const OwnedFd&) = delete;
    ~OwnedFd() {
        if (fd >= 0) close(fd);
    }
};

[[noreturn]] inline void no_descriptor(const char* what) {
    throw OperationalError(
        fmt::format("dorm: no {} to wait with: {}", what, std::error_code(errno, std::generic_category()).message()));
}
}  // namespace fibers

DORM_DECL bool wait_socket(int fd, bool write, std::chrono::steady_clock::time_point deadline) {
    using Clock = std::chrono::steady_clock;
    const bool timed = deadline != Clock::time_point::max();
    if (fd < 0) return true;  // no socket: what uses it reports the error
    if (!fibers::current) {
        for (;;) {
            int timeout = -1;
            if (timed) {
                const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
                if (left <= 0) return false;
                timeout = static_cast<int>(std::min<std::int64_t>(left, 1'000'000'000));
            }
            pollfd p{fd, static_cast<short>(write ? POLLOUT : POLLIN), 0};
            const int n = poll(&p, 1, timeout);
            if (n > 0 || (n < 0 && errno != EINTR)) return true;  // an error: the socket's next use reports it
        }
    }
    if (!write && !timed) {
        wait_readable(fd);
        return true;
    }
    // The executor watches one descriptor for reading: an epoll set holding the socket (as asked) and the timer.
    fibers::OwnedFd set(epoll_create1(EPOLL_CLOEXEC));
    if (set.fd < 0) fibers::no_descriptor("epoll set");
    epoll_event socket_event{};
    socket_event.events = write ? EPOLLOUT : EPOLLIN;
    socket_event.data.u32 = 0;
    if (epoll_ctl(set.fd, EPOLL_CTL_ADD, fd, &socket_event) != 0) return true;  // not a socket it can watch
    fibers::OwnedFd timer(timed ? timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK) : -1);
    if (timed) {
        if (timer.fd < 0) fibers::no_descriptor("timer");
        const itimerspec spec = fibers::expiring_in(deadline - Clock::now());
        epoll_event timer_event{};
        timer_event.events = EPOLLIN;
        timer_event.data.u32 = 1;
        if (timerfd_settime(timer.fd, 0, &spec, nullptr) != 0 ||
            epoll_ctl(set.fd, EPOLL_CTL_ADD, timer.fd, &timer_event) != 0)
            fibers::no_descriptor("timer");
    }
    for (;;) {
        wait_readable(set.fd);
        epoll_event ready[2];
        const int n = epoll_wait(set.fd, ready, 2, 0);
        if (n < 0 && errno != EINTR) return true;
        bool expired = false;
        for (int i = 0; i < n; ++i) {
            if (ready[i].data.u32 == 0) return true;  // ready, or failed (EPOLLERR, EPOLLHUP)
            expired = true;
        }
        if (expired) return false;
        // Nothing yet: an executor may resume a wait before its descriptor is readable.
    }
}

DORM_DECL FiberAlarm::FiberAlarm(std::chrono::steady_clock::time_point deadline)
    : fd_(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)) {
    if (fd_ < 0) fibers::no_descriptor("timer");
    const itimerspec spec = fibers::expiring_in(deadline - std::chrono::steady_clock::now());
    if (timerfd_settime(fd_, 0, &spec, nullptr) != 0) {
        const int error = errno;
        close(fd_);
        errno = error;
        fibers::no_descriptor("timer");
    }
}

DORM_DECL FiberAlarm::~FiberAlarm() { close(fd_); }

DORM_DECL void FiberAlarm::wait() noexcept {
    // Until the timer has expired (or was rung): an executor may resume a wait before its socket is readable.
    for (;;) {
        std::uint64_t expirations;
        if (read(fd_, &expirations, sizeof expirations) == sizeof expirations) return;
        if (errno != EAGAIN && errno != EINTR) return;
        wait_readable(fd_);
    }
}

DORM_DECL void FiberAlarm::ring() noexcept {
    const itimerspec now = fibers::expiring_in({});
    timerfd_settime(fd_, 0, &now, nullptr);
}

DORM_DECL void start_on_fiber(Job& job) { fibers::Lanes::instance().start(job); }

}  // namespace dorm::detail
