// One move-only owning handle for everything domd must give back: a mapping, a grant of ours,
// an event-channel binding, a run of mapped foreign grants, the shared_info page; and the
// backend's ioreq servers, foreign mappings and grant maps to come.
//
// `Resource` is what the handle holds: a small struct saying what to give back and to whom.
// `Release` says how: `static void release(Resource&)`, called exactly once, when the handle
// is reset, destroyed or assigned over. A moved-from handle is empty and releases nothing.
// A release that can fail counts and logs the failure itself: nobody is left to return it to.
//
// Handles derive from Owned and add their accessors; their move operations, destructor and
// deleted copies come from here.
#pragma once

#include <utility>

namespace domd {

template <typename Resource, typename Release>
class Owned {
public:
    Owned() = default;
    explicit Owned(Resource resource) : resource_(std::move(resource)), owns_(true) {}
    Owned(Owned&& other) : resource_(std::move(other.resource_)), owns_(std::exchange(other.owns_, false)) {}
    Owned& operator=(Owned&& other) {
        if (this != &other) {
            reset();
            resource_ = std::move(other.resource_);
            owns_ = std::exchange(other.owns_, false);
        }
        return *this;
    }
    Owned(const Owned&) = delete;
    Owned& operator=(const Owned&) = delete;
    ~Owned() { reset(); }

    bool valid() const { return owns_; }

    // Gives the resource back now; the handle is empty afterwards.
    void reset() {
        if (!owns_) return;
        owns_ = false;  // first: a release that reaches this handle again finds it empty
        Release::release(resource_);
    }

protected:
    // The handle stops owning without releasing (the resource went back another way, e.g. an
    // explicit close whose result the caller wants); returns what it held.
    Resource disown() {
        owns_ = false;
        return std::move(resource_);
    }
    const Resource& resource() const { return resource_; }
    Resource& resource() { return resource_; }

private:
    Resource resource_{};
    bool owns_ = false;
};

// A scope that brackets some work with two calls on an object: Begin when it opens, End when
// it closes (a batch of unmaps sharing one TLB completion, for one).
template <typename T, void (T::*Begin)(), void (T::*End)()>
class Scope {
public:
    explicit Scope(T& object) : object_(object) { (object_.*Begin)(); }
    ~Scope() { (object_.*End)(); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

private:
    T& object_;
};

}  // namespace domd
