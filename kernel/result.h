// Errors are values: every fallible operation returns Result<T> (or Status) and callers TRY it.
// Panics are reserved for broken invariants of our own code, never for input from a peer.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

namespace domd {

// Error codes use the errno numbering that Xen's hypercalls and xenstore already speak
// (xen/errno.h), so a hypercall failure converts without a lookup table. xen/ checks the match.
enum class Err : int16_t {
    permission = 1,        // EPERM
    not_found = 2,         // ENOENT
    no_such_domain = 3,    // ESRCH: the domain named is gone
    io = 5,                // EIO
    too_big = 7,           // E2BIG
    again = 11,            // EAGAIN
    no_memory = 12,        // ENOMEM
    access = 13,           // EACCES
    fault = 14,            // EFAULT
    busy = 16,             // EBUSY
    exists = 17,           // EEXIST
    no_device = 19,        // ENODEV
    invalid = 22,          // EINVAL
    no_space = 28,         // ENOSPC
    read_only = 30,        // EROFS
    range = 34,            // ERANGE
    name_too_long = 36,    // ENAMETOOLONG
    not_implemented = 38,  // ENOSYS
    not_empty = 39,        // ENOTEMPTY
    protocol = 71,         // EPROTO: a peer broke its protocol
    overflow = 75,         // EOVERFLOW
    message_size = 90,     // EMSGSIZE
    not_supported = 95,    // EOPNOTSUPP
    no_buffers = 105,      // ENOBUFS
    not_connected = 107,   // ENOTCONN
    timed_out = 110,       // ETIMEDOUT
    quota = 122,           // EDQUOT (xenstore's EQUOTA)
};

// A short name for logs ("ENOENT"); unknown codes print as "E<n>" into a static buffer-free form.
const char* err_name(Err e);

template <typename T>
class [[nodiscard]] Result {
public:
    Result(const T& value) : storage_(value), ok_(true) {}
    Result(T&& value) : storage_(std::move(value)), ok_(true) {}
    Result(Err e) : storage_(e), ok_(false) {}

    // The union member is chosen by constructing a whole Storage (guaranteed copy elision), so
    // no placement new is needed: test builds redefine `new` for leak detection.
    Result(const Result& other)
        : storage_(other.ok_ ? Storage(other.storage_.value) : Storage(other.storage_.error)), ok_(other.ok_) {}
    Result(Result&& other)
        : storage_(other.ok_ ? Storage(std::move(other.storage_.value)) : Storage(other.storage_.error)),
          ok_(other.ok_) {}
    Result& operator=(const Result&) = delete;
    Result& operator=(Result&&) = delete;
    ~Result() {
        if (ok_) storage_.value.~T();
    }

    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    Err error() const { return ok_ ? Err{} : storage_.error; }

    T& value() & { return storage_.value; }
    const T& value() const& { return storage_.value; }
    T&& value() && { return std::move(storage_.value); }
    T value_or(T fallback) const { return ok_ ? storage_.value : fallback; }

private:
    union Storage {
        explicit Storage(const T& v) : value(v) {}
        explicit Storage(T&& v) : value(std::move(v)) {}
        explicit Storage(Err e) : error(e) {}
        ~Storage() {}
        T value;
        Err error;
    } storage_;
    bool ok_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() : ok_(true) {}
    Result(Err e) : ok_(false), error_(e) {}
    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    Err error() const { return error_; }
    void value() const {}

private:
    bool ok_;
    Err error_{};
};

using Status = Result<void>;

inline Status ok_status() { return Status(); }

}  // namespace domd

// TRY(expr): evaluate a Result; on error return it from the enclosing function, else yield the
// value. A GNU statement expression, which both GCC and Clang accept.
#define TRY(expr)                                         \
    __extension__({                                                    \
        auto&& try_result_ = (expr);                      \
        if (!try_result_.ok()) return try_result_.error(); \
        std::move(try_result_).value();                   \
    })
