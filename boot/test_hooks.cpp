#include "boot/test_hooks.h"

#include "kernel/number.h"
#include "kernel/log.h"

namespace domd {
namespace {

constexpr std::string_view command_node = "data/domd/test";
constexpr std::string_view reply_node = "data/domd/test-reply";

}  // namespace

Status TestHooks::start() {
    timer_.set_callback(Callback<void()>::to<&TestHooks::on_timer>(this));
    LOG_WARN("test hooks enabled: obeying commands written to %.*s", static_cast<int>(command_node.size()),
             command_node.data());
    return store_.watch(command_node, "domd-test", xen::Xenstore::WatchCallback::to<&TestHooks::on_command_node>(this));
}

void TestHooks::on_command_node(std::string_view, std::string_view) {
    char buffer[128];
    auto command = store_.read(command_node, buffer);
    if (!command.ok() || command.value().empty()) return;  // removed, or the watch's first event
    // Consume the command first so it runs once even if it ends domd.
    (void)store_.rm(command_node);
    run(command.value());
}

void TestHooks::run(std::string_view command) {
    LOG_INFO("test hook: %.*s", static_cast<int>(command.size()), command.data());
    if (command.substr(0, 5) == "echo ") {
        (void)store_.write(reply_node, command.substr(5));
    } else if (command.substr(0, 6) == "timer ") {
        auto ms = parse_unsigned(command.substr(6));
        if (!ms.ok() || ms.value() > 60000) {
            LOG_WARN("test hook: bad timer length");
            return;
        }
        timer_asked_ms_ = ms.value();
        timer_armed_at_ = clock_.now_ns();
        loop_.timers().arm(timer_, timer_armed_at_ + ms.value() * 1000000);
    } else if (command == "fault") {
        LOG_WARN("test hook: deliberate data abort on an unmapped address");
        *reinterpret_cast<volatile uint64_t*>(0xdead0000) = 1;
    } else {
        LOG_WARN("test hook: unknown command");
    }
}

void TestHooks::on_timer() {
    uint64_t elapsed_ms = (clock_.now_ns() - timer_armed_at_) / 1000000;
    LOG_INFO("test timer fired after %llu ms (asked for %llu ms)", static_cast<unsigned long long>(elapsed_ms),
             static_cast<unsigned long long>(timer_asked_ms_));
}

}  // namespace domd
