// A non-owning, copyable reference to something callable: a context pointer and a function.
// No heap, no std::function. The referenced object must outlive every call.
#pragma once

#include <utility>

namespace domd {

template <typename Signature>
class Callback;

template <typename R, typename... Args>
class Callback<R(Args...)> {
public:
    constexpr Callback() = default;

    // Calls obj->Method(args...).
    template <auto Method, typename T>
    static Callback to(T* obj) {
        return Callback(obj, [](void* o, Args... args) -> R { return (static_cast<T*>(o)->*Method)(args...); });
    }
    // Calls f(args...) on a callable that outlives the Callback (a lambda held by the caller).
    template <typename F>
    static Callback ref(F& f) {
        return Callback(&f, [](void* o, Args... args) -> R { return (*static_cast<F*>(o))(args...); });
    }
    // Calls fn(context, args...).
    static Callback from(R (*fn)(void*, Args...), void* context) { return Callback(context, fn); }

    explicit operator bool() const { return fn_ != nullptr; }
    R operator()(Args... args) const { return fn_(context_, std::forward<Args>(args)...); }

private:
    Callback(void* context, R (*fn)(void*, Args...)) : context_(context), fn_(fn) {}

    void* context_ = nullptr;
    R (*fn_)(void*, Args...) = nullptr;
};

}  // namespace domd
