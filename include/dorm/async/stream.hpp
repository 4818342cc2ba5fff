// SPDX-License-Identifier: MIT
// AsyncStream: what QuerySet::aiterator() returns, rows read a chunk at a time on dorm's worker threads.
#pragma once

#include <dorm/config.hpp>

#include <dorm/async/offload.hpp>
#include <dorm/async/task.hpp>
#include <dorm/database.hpp>
#include <dorm/errors.hpp>

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace dorm {

/// The results of a QuerySet `QS`, streamed: each next() hands out one object, reading the next `chunk_size`
/// rows (with their prefetch_related() queries) on a worker thread when those read before are used up, so memory
/// stays flat as with iterator(). Holds a connection from its first next() to its end (an enclosing aatomic()'s,
/// or one taken from the pool and given back at the end). Move-only.
///
///     auto entries = Entry::objects().order_by("id").aiterator(500);
///     while (auto e = co_await entries.next()) total += e->rating;
template <class QS>
class AsyncStream {
public:
    using value_type = typename QS::value_type;

    AsyncStream(QS qs, std::optional<std::size_t> chunk_size) : s_(std::make_unique<State>(std::move(qs), chunk_size)) {}
    AsyncStream(AsyncStream&&) noexcept = default;
    AsyncStream& operator=(AsyncStream&& other) noexcept {
        if (this != &other) {
            dispose();
            retire(std::move(s_));
            s_ = std::move(other.s_);
        }
        return *this;
    }
    ~AsyncStream() {
        dispose();
        retire(std::move(s_));
    }

    /// The next object, or std::nullopt after the last. The stream must outlive the task (it is used by it).
    Task<std::optional<value_type>> next() {
        State& s = *s_;
        if (s.next < s.buffer.size()) co_return std::move(s.buffer[s.next++]);
        if (s.done) co_return std::nullopt;
        if (s.orphaned)
            throw TransactionManagementError("dorm: the aatomic() block this stream read through has ended (its "
                                             "cursor closed with it): read a stream to its end inside its block");
        detail::TaskContext& context = co_await detail::this_context{};
        const detail::Pin* outer = context.pins;
        if (!s.db) {  // the first chunk: take the connection the stream keeps
            Database& db = databases().get(s.qs.db());
            s.db = &db;
            s.held = detail::find_pin(outer, &db);
            if (!s.held) {
                s.lease = co_await detail::offload([&db] { return db.lease(); });
                s.pin.db = &db;
                s.pin.connection = s.lease.get();
            }
        }
        if (s.lease) {
            s.pin.outer = outer;
            context.pins = &s.pin;
        }
        std::exception_ptr error;
        try {
            {
                std::lock_guard lock(s.filling_mutex);
                s.filling = true;
            }
            co_await detail::offload_on_pin(typename State::Filler(&s));
        } catch (...) {
            error = std::current_exception();
            s.done = true;
        }
        context.pins = outer;
        s.pin.outer = nullptr;  // finish() pins the stream's connection alone: `outer` is locked by the job already
        if (s.done && s.lease) co_await detail::offload([&s] { s.finish(); }, true);
        if (error) std::rethrow_exception(error);
        if (s.next < s.buffer.size()) co_return std::move(s.buffer[s.next++]);
        co_return std::nullopt;
    }

private:
    struct State final : detail::PinUser, detail::PinOwner {
        using stream_type = decltype(std::declval<const QS&>().iterator());
        State(QS q, std::optional<std::size_t> c) : qs(std::move(q)), chunk_size(c) {}
        QS qs;
        std::optional<std::size_t> chunk_size;
        std::optional<stream_type> stream;
        typename stream_type::iterator position;
        std::vector<value_type> buffer;
        std::size_t next = 0;
        bool done = false;
        Database* db = nullptr;
        const detail::Pin* held = nullptr;  // an enclosing aatomic()'s connection (registered as its user)
        bool orphaned = false;              // that block ended before the stream
        Lease lease;
        detail::Pin pin;

        bool abandoned = false;  // left to the block by dispose(): deleted when the block ends
        // A chunk being read by a job (on a fiber, which the task's end does not wait for); a stream destroyed
        // meanwhile is left to that job, which closes and deletes it.
        std::mutex filling_mutex;
        bool filling = false;
        bool left_to_filling = false;

        /// The enclosing block ends (its connection pinned): the cursor closes with it.
        void release_pin() noexcept override {
            stream.reset();
            held = nullptr;
            orphaned = true;
            if (abandoned) delete this;
        }

        /// On a worker thread, with the stream's connection pinned: the next chunk.
        void fill() {
            buffer.clear();
            next = 0;
            if (!stream) {
                stream.emplace(qs.iterator(chunk_size));
                position = stream->begin();
                if (held) held->add_user(*this);  // under the block's lock (this job has the pin)
            }
            const std::size_t n = chunk_size.value_or(2000);
            while (buffer.size() < n && position != stream->end()) {
                buffer.push_back(*position);
                ++position;
            }
            if (position == stream->end()) {
                done = true;
                if (held) {  // read to its end: the cursor closes now, not with the block
                    held->remove_user(*this);
                    stream.reset();
                }
            }
        }
        /// The work of next()'s job: fill(), then, if the stream was destroyed meanwhile, its end; or, if the job
        /// never ran (its task destroyed first), that end alone.
        struct Filler {
            State* state;
            explicit Filler(State* s) noexcept : state(s) {}
            Filler(Filler&& other) noexcept : state(std::exchange(other.state, nullptr)) {}
            Filler& operator=(Filler&&) = delete;
            ~Filler() {
                if (state) (void)state->end_fill(false);
            }
            void operator()() {
                State& s = *std::exchange(state, nullptr);
                try {
                    s.fill();
                } catch (...) {
                    if (!s.end_fill(true)) return;  // nobody awaits the error
                    throw;
                }
                (void)s.end_fill(true);
            }
        };
        /// False if the stream was left to the job (dispose()): it ends now, or, if the job never ran and its cursor
        /// is open through a block's connection, with that block (whose lock closing it needs).
        bool end_fill(bool ran) noexcept {
            {
                std::lock_guard lock(filling_mutex);
                filling = false;
                if (!left_to_filling) return true;
            }
            if (held && stream) {
                if (!ran) {
                    abandoned = true;
                    return false;
                }
                held->remove_user(*this);  // the job holds the block's lock
            }
            stream.reset();
            delete this;
            return false;
        }
        /// Closes the cursor and gives the connection back (on a worker thread: both may talk to the server).
        void finish() noexcept {
            if (lease) {  // the stream's own pin alone (not the blocks a reading job held with it), locked as a job would
                pin.lock.lock();
                stream.reset();
                pin.lock.unlock();
            } else if (held) {
                detail::PinScope scope(held);
                held->remove_user(*this);
                stream.reset();
            }
            lease.reset();
        }
    };

    /// A stream left before its end closes its cursor and gives back its connection on a worker thread (or here,
    /// when it reads through an enclosing transaction's connection, which must not outlive the block).
    void dispose() noexcept {
        if (!s_) return;
        if (!s_->lease) {
            {
                std::lock_guard lock(s_->filling_mutex);
                if (s_->filling) {  // a job on a fiber reads a chunk through a block's connection
                    s_->left_to_filling = true;
                    (void)s_.release();
                    return;
                }
            }
            if (!s_->stream) return;
            // Through a block's connection whose work runs on fibers, one of which may hold it now on this very
            // thread (waiting for it here would never end): the block closes the cursor when it ends.
            if (s_->held && s_->held->db->waits_on_sockets()) {
                s_->abandoned = true;
                (void)s_.release();
                return;
            }
            s_->finish();
            return;
        }
        struct Dispose final : detail::Job {
            std::unique_ptr<State> s;
            void run() noexcept override {
                s->finish();
                retire(std::move(s));
                delete this;
            }
        };
        auto* job = new Dispose;
        job->urgent = true;  // gives the connection back
        job->s = std::move(s_);
        detail::submit(*job);
    }

    /// A stream whose task was destroyed while its next chunk was read on a fiber ends after that read.
    static void retire(std::unique_ptr<State> s) noexcept {
        if (!s) return;
        const detail::Pin& pin = s->pin;
        detail::retire_pin(pin, std::move(s));
    }

    std::unique_ptr<State> s_;
};

}  // namespace dorm
