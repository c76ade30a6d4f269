#include "boot/test_hooks.h"

#include <cstdio>

#include "kernel/log.h"
#include "kernel/number.h"
#include "xen/device_model.h"

namespace domd {
namespace {

// Recurses until the main stack runs into its guard page (long before the limit, which only
// exists so the compiler cannot call the recursion infinite); the result is used after each
// call so the frames can neither be dropped nor turned into a loop.
volatile uint64_t recursion_limit = uint64_t{1} << 40;
[[gnu::noinline]] uint64_t exhaust_stack(uint64_t depth) {
    volatile uint8_t frame[512];
    frame[depth % sizeof frame] = static_cast<uint8_t>(depth);
    if (depth == recursion_limit) return frame[0];
    return exhaust_stack(depth + 1) + frame[(depth * 7) % sizeof frame];
}

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
    if (job_.running()) {
        look_again_ = true;
        return;
    }
    job_.start(take_command(), Callback<void(Status)>::to<&TestHooks::on_command_done>(this));
}

void TestHooks::on_command_done(Status) {
    if (!look_again_) return;
    look_again_ = false;
    job_.start(take_command(), Callback<void(Status)>::to<&TestHooks::on_command_done>(this));
}

Task<Status> TestHooks::take_command() {
    auto command = co_await store_.read(command_node, command_);
    if (!command.ok() || command.value().empty()) co_return ok_status();  // removed, or the first event
    Status removed = co_await store_.rm(command_node);
    if (!removed.ok()) co_return removed;
    run(command.value());
    co_return ok_status();
}

void TestHooks::run(std::string_view command) {
    LOG_INFO("test hook: %.*s", static_cast<int>(command.size()), command.data());
    if (command.substr(0, 5) == "echo ") {
        store_.write_detached(reply_node, command.substr(5));
    } else if (command.substr(0, 6) == "timer ") {
        auto ms = parse_unsigned(command.substr(6));
        if (!ms.ok() || ms.value() > 60000) {
            LOG_WARN("test hook: bad timer length");
            return;
        }
        timer_asked_ms_ = ms.value();
        timer_armed_at_ = clock_.now_ns();
        loop_.timers().arm(timer_, timer_armed_at_ + ms.value() * 1000000);
    } else if (command.substr(0, 8) == "dmprobe ") {
        auto target = parse_unsigned(command.substr(8));
        if (!target.ok() || target.value() >= DOMID_FIRST_RESERVED) {
            LOG_WARN("test hook: bad domain id");
            return;
        }
        device_model_probe(static_cast<uint16_t>(target.value()));
    } else if (command == "selftest") {
        self_test();
    } else if (command == "fault") {
        LOG_WARN("test hook: deliberate data abort on an unmapped address");
        *reinterpret_cast<volatile uint64_t*>(0xdead0000) = 1;
    } else if (command == "stack-overflow") {
        LOG_WARN("test hook: unbounded recursion into the stack's guard page");
        (void)exhaust_stack(0);
    } else {
        LOG_WARN("test hook: unknown command");
    }
}

void TestHooks::self_test() {
    Status events = event_channel_loopback();
    Status grants = events.ok() ? grant_self_map() : events;
    if (events.ok() && grants.ok()) {
        LOG_INFO("self-test passed");
        store_.write_detached(reply_node, "ok");
    } else {
        LOG_ERROR("self-test failed: %s", err_name(grants.error()));
        store_.write_detached(reply_node, err_name(grants.error()));
    }
}

Status TestHooks::event_channel_loopback() {
    uint32_t delivered = 0;
    auto count = [&delivered](uint32_t) { ++delivered; };
    // Xen conservatively marks the binding end pending when it binds (event_channel.c): give it
    // a handler of its own so only what the listener receives is counted.
    auto ignore = [](uint32_t) {};
    xen::EventBinding listener = TRY(s_.events.alloc_unbound(s_.domid, xen::EventChannels::Handler::ref(count)));
    xen::EventBinding talker =
        TRY(s_.events.bind_interdomain(s_.domid, listener.port(), xen::EventChannels::Handler::ref(ignore)));
    TRY(s_.events.send(talker.port()));
    // Xen marks the other end pending at once; dispatch it here rather than via the loop.
    for (int i = 0; i < 1000 && !delivered; ++i) s_.events.dispatch_pending(16);
    LOG_INFO("self-test: event channel loopback %u -> %u: %u event(s) delivered", talker.port(), listener.port(),
             delivered);
    return delivered == 1 ? ok_status() : Status(Err::io);
}

Status TestHooks::grant_self_map() {
    // A page of our own image, granted to ourselves and mapped a second time through the grant.
    alignas(4096) static uint64_t page[512];
    page[0] = 0x646f6d64'67726e74;  // "domdgrnt"
    PhysAddr pa = TRY(s_.mapper.to_phys(VirtAddr::of(page)));
    xen::Grant grant = TRY(s_.grants.grant(s_.domid, Gfn::containing(pa), false));
    const grant_ref_t refs[] = {grant.ref()};
    {
        xen::GrantMapping mapping = TRY(s_.grant_mapper.map(s_.domid, refs, false));
        auto* alias = mapping.as<volatile uint64_t>();
        bool same = alias[0] == page[0];
        alias[1] = 0x1234;  // written through the grant, read back through the image
        same = same && page[1] == 0x1234;
        LOG_INFO("self-test: grant ref %u of gfn %#llx mapped at %#lx: %s", grant.ref(),
                 static_cast<unsigned long long>(Gfn::containing(pa).value), mapping.address().value,
                 same ? "same page" : "different contents");
        if (!same) return Err::io;
    }
    return grant.end();
}

void TestHooks::device_model_probe(uint16_t target) {
    xen::DeviceModel dm(s_.hypercall, target);
    char reply[160];
    int used = 0;
    auto note = [&](const char* step, Status status) {
        LOG_INFO("dm probe of domain %u: %s: %s", target, step, status.ok() ? "ok" : err_name(status.error()));
        if (!status.ok() && used < static_cast<int>(sizeof reply))
            used += snprintf(reply + used, sizeof reply - used, "%s%s=%s", used ? " " : "", step, err_name(status.error()));
        return status.ok();
    };
    auto vcpus = dm.vcpu_count();
    note("nr_vcpus", vcpus.ok() ? ok_status() : Status(vcpus.error()));
    auto server = dm.create_ioreq_server();
    if (note("create_ioreq_server", server.ok() ? ok_status() : Status(server.error()))) {
        xen::IoreqServerId id = server.value();
        note("map_mmio_range", dm.map_mmio_range(id, 0x02000000, 0x020001ff));
        if (auto gfn = s_.frames.allocate(); gfn.ok()) {
            Status acquired = dm.acquire_ioreq_page(id, gfn.value());
            note("acquire_ioreq_page", acquired);
            if (acquired.ok()) {
                xen::Hypervisor hv(s_.hypercall);
                (void)hv.remove_from_physmap(gfn.value());
            }
            (void)s_.frames.free(gfn.value());
        }
        note("set_ioreq_server_state", dm.set_ioreq_server_state(id, true));
        note("destroy_ioreq_server", dm.destroy_ioreq_server(id));
    }
    if (auto gfn = s_.frames.allocate(); gfn.ok()) {
        const uint64_t guest[] = {0x40000};  // the first frame of the guest's RAM (GUEST_RAM0_BASE)
        const uint64_t ours[] = {gfn.value().value};
        int errors[1] = {0};
        Status mapped = dm.map_foreign(guest, ours, errors);
        if (mapped.ok() && errors[0] < 0) mapped = xen::err_from_xen(errors[0]);
        if (note("map_foreign", mapped)) {
            xen::Hypervisor hv(s_.hypercall);
            (void)hv.remove_from_physmap(gfn.value());
        }
        (void)s_.frames.free(gfn.value());
    }
    store_.write_detached(reply_node, used ? std::string_view(reply, static_cast<size_t>(used)) : "ok");
}

void TestHooks::on_timer() {
    uint64_t elapsed_ms = (clock_.now_ns() - timer_armed_at_) / 1000000;
    LOG_INFO("test timer fired after %llu ms (asked for %llu ms)", static_cast<unsigned long long>(elapsed_ms),
             static_cast<unsigned long long>(timer_asked_ms_));
}

}  // namespace domd
