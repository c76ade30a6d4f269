// Coroutines for domd's control plane: conversations with xenstored (device discovery, state
// changes, guest control) read as straight-line code, while the loop never waits for them.
// The request path (ioreqs, virtqueues) does not use them.
//
//  - Task<R> is a lazily started coroutine returning R, which must be a Result<T> or Status: a
//    frame that cannot be allocated makes the task answer Err::no_memory when awaited.
//    `co_await task` runs it and resumes the caller when it finishes (symmetric transfer).
//  - Job owns a top-level task: start() runs it until its first suspension, the result and an
//    optional callback arrive when it finishes, and destroying the Job (or reset()) destroys
//    a suspended task, running the destructors of everything it was awaiting: an awaiter that
//    registered itself somewhere unregisters in its destructor. That is cancellation.
//  - Frames come from a fixed pool (kernel/coroutine_pool.h), never from a heap.
//
// Coroutines resume from inside loop callbacks (a xenstore reply, a timer). Whoever resumes one
// must not touch state the coroutine may have destroyed afterwards.
#pragma once

#include <coroutine>
#include <cstddef>
#include <new>
#include <utility>

#include "kernel/callback.h"
#include "kernel/coroutine_pool.h"
#include "kernel/result.h"

// Host tests build with CppUTest's leak detector, which defines `new` as a macro; the promise's
// own operator new and the placement new of the result must see the keyword.
#pragma push_macro("new")
#undef new

namespace domd {

// TRY for coroutines: co_return the error. Not around a co_await: GCC 12 fails on co_await
// inside a statement expression (an internal compiler error), so await into a variable first.
#define CO_TRY(expr)                                          \
    __extension__({                                           \
        auto&& co_try_result_ = (expr);                       \
        if (!co_try_result_.ok()) co_return co_try_result_.error(); \
        std::move(co_try_result_).value();                    \
    })

template <typename R>
class [[nodiscard]] Task {
public:
    struct promise_type {
        static void* operator new(size_t size) noexcept { return coroutine_pool().allocate(size); }
        static void operator delete(void* frame, size_t size) noexcept { coroutine_pool().release(frame, size); }
        static Task get_return_object_on_allocation_failure() noexcept { return Task(); }

        Task get_return_object() noexcept { return Task(Handle::from_promise(*this)); }
        std::suspend_always initial_suspend() noexcept { return {}; }
        auto final_suspend() noexcept {
            struct Final {
                bool await_ready() noexcept { return false; }
                std::coroutine_handle<> await_suspend(Handle self) noexcept {
                    promise_type& p = self.promise();
                    if (p.continuation) return p.continuation;
                    // A top-level task: tell its Job. The callback may destroy this frame
                    // (it is suspended now), so nothing here touches it afterwards.
                    if (p.on_done) p.on_done();
                    return std::noop_coroutine();
                }
                void await_resume() noexcept {}
            };
            return Final{};
        }
        void return_value(R value) noexcept {
            ::new (static_cast<void*>(&storage)) R(std::move(value));
            has_value = true;
        }
        void unhandled_exception() noexcept { __builtin_trap(); }  // built without exceptions

        ~promise_type() {
            if (has_value) result().~R();
        }
        R& result() { return *std::launder(reinterpret_cast<R*>(&storage)); }

        std::coroutine_handle<> continuation;
        Callback<void()> on_done;
        alignas(R) unsigned char storage[sizeof(R)];
        bool has_value = false;
    };
    using Handle = std::coroutine_handle<promise_type>;

    Task() = default;
    Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
    Task& operator=(Task&& other) noexcept {
        if (this != &other) {
            destroy();
            handle_ = std::exchange(other.handle_, {});
        }
        return *this;
    }
    Task(const Task&) = delete;
    Task& operator=(const Task&) = delete;
    ~Task() { destroy(); }

    // False when the frame could not be allocated.
    bool valid() const { return static_cast<bool>(handle_); }
    bool done() const { return handle_ && handle_.done(); }

    // Awaiting a task runs it; the awaiting coroutine resumes when it finishes.
    bool await_ready() const noexcept { return !handle_; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
        handle_.promise().continuation = awaiting;
        return handle_;
    }
    R await_resume() {
        if (!handle_) return R(Err::no_memory);
        return std::move(handle_.promise().result());
    }

private:
    friend class Job;
    explicit Task(Handle handle) : handle_(handle) {}
    void destroy() {
        if (handle_) handle_.destroy();
        handle_ = {};
    }

    Handle handle_;
};

// Owns one top-level Task<Status> (the control-plane jobs of a device or service).
class Job {
public:
    Job() = default;
    Job(const Job&) = delete;
    Job& operator=(const Job&) = delete;
    ~Job() { reset(); }

    // Takes `task` over and runs it until it first suspends (or finishes). `on_done` runs once
    // when it finishes, from wherever its last step resumed it; it may reset() or start() this
    // Job again. A task whose frame could not be allocated finishes at once with Err::no_memory.
    void start(Task<Status>&& task, Callback<void(Status)> on_done = {}) {
        reset();
        task_ = std::move(task);
        on_done_ = on_done;
        running_ = true;
        if (!task_.valid()) {
            finish_with(Err::no_memory);
            return;
        }
        task_.handle_.promise().on_done = Callback<void()>::to<&Job::finished>(this);
        task_.handle_.resume();
    }
    // Destroys a running task (cancelling what it awaits) and forgets a finished one.
    void reset() {
        running_ = false;
        task_ = Task<Status>();
    }
    bool running() const { return running_; }
    // The outcome of the last task that finished.
    Status result() const { return result_; }

private:
    void finished() {
        Status outcome = task_.handle_.promise().result();
        task_ = Task<Status>();  // its frame goes back to the pool now (it is suspended: allowed)
        finish_with(outcome);
    }
    void finish_with(Status status) {
        running_ = false;
        result_ = status;
        Callback<void(Status)> done = on_done_;
        if (done) done(status);  // may start or reset this Job: nothing of it is used after
    }

    Task<Status> task_;
    Callback<void(Status)> on_done_;
    Status result_;
    bool running_ = false;
};

}  // namespace domd

#pragma pop_macro("new")
