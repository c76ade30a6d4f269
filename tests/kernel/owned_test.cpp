// The owning handle every resource handle is made of: released exactly once, by whoever owns
// it last; a moved-from handle releases nothing.
#include "tests/test_support.h"

#include <utility>

#include "kernel/owned.h"

using namespace domd;

namespace {

std::vector<int>* released = nullptr;

struct Token {
    int id = 0;
};
struct RecordRelease {
    static void release(Token& t) { released->push_back(t.id); }
};

class Handle : public Owned<Token, RecordRelease> {
public:
    Handle() = default;
    explicit Handle(int id) : Owned(Token{id}) {}
    int id() const { return resource().id; }
    // As an explicit close() does: hand the resource back another way.
    int give_up() { return disown().id; }
};

}  // namespace

TEST_GROUP(Owned) {
    std::vector<int> log;
    void setup() override { released = &log; }
    void teardown() override { released = nullptr; }
};

TEST(Owned, AnEmptyHandleReleasesNothing) {
    { Handle h; CHECK_FALSE(h.valid()); }
    CHECK(log.empty());
}

TEST(Owned, ReleasesOnceWhenDestroyed) {
    {
        Handle h(1);
        CHECK(h.valid());
    }
    CHECK(log == std::vector<int>{1});
}

TEST(Owned, ResetReleasesNowAndOnlyOnce) {
    Handle h(2);
    h.reset();
    CHECK_FALSE(h.valid());
    h.reset();
    CHECK(log == std::vector<int>{2});
}

TEST(Owned, MovingHandsOverOwnership) {
    Handle a(3);
    Handle b(std::move(a));
    CHECK_FALSE(a.valid());
    CHECK(b.valid());
    LONGS_EQUAL(3, b.id());
    a.reset();
    CHECK(log.empty());
    b.reset();
    CHECK(log == std::vector<int>{3});
}

TEST(Owned, MoveAssignmentReleasesWhatWasHeld) {
    Handle a(4);
    Handle b(5);
    b = std::move(a);
    CHECK(log == std::vector<int>{5});
    LONGS_EQUAL(4, b.id());
    b = std::move(b);  // self-assignment keeps it
    CHECK(b.valid());
    CHECK(log == std::vector<int>{5});
}

TEST(Owned, DisowningReleasesNothing) {
    Handle h(6);
    LONGS_EQUAL(6, h.give_up());
    CHECK_FALSE(h.valid());
    h.reset();
    CHECK(log.empty());
}
