// "Tell the other side there is something to look at": an event-channel send, a guest
// interrupt, a fake that counts. Protocol code takes this instead of knowing the mechanism.
#pragma once

namespace domd {

class Notifier {
public:
    virtual void notify() = 0;

protected:
    ~Notifier() = default;
};

}  // namespace domd
