#include "boot/frontend/hostile.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "blk/virtio_blk_spec.h"
#include "boot/frontend/disk_pattern.h"
#include "kernel/log.h"
#include "virtio/mmio_transport.h"

namespace domd::frontend {
namespace {

// Where the disk starts in the lab image (set_pattern_base): sector s holds image sector
// pattern_base + s.
uint64_t pattern_base = 0;

namespace mmio = virtio::mmio;
namespace rt = blk::request_type;
using virtio::VirtqDesc;
using Kind = Reply::Kind;

// Descriptor flags, virtio 1.2 section 2.7.5.
constexpr uint16_t f_next = virtio::desc_flags::next;
constexpr uint16_t f_write = virtio::desc_flags::write;
constexpr uint16_t f_indirect = virtio::desc_flags::indirect;
constexpr uint32_t header_bytes = sizeof(blk::VirtioBlkReqHeader);
constexpr uint16_t qsize = VirtioDriver::queue_size;
constexpr uint8_t canary = 0xc5;

// The answers a case accepts.
enum Allow : unsigned {
    a_ok = 1,         // status OK
    a_ioerr = 2,      // status IOERR
    a_unsupp = 4,     // status UNSUPP
    a_reset = 8,      // DEVICE_NEEDS_RESET
    a_none = 16,      // no used entry
    a_elsewhere = 32  // a used entry, our status byte untouched (the device wrote its status
                      // into the last byte of the last device-writable buffer, section 5.2.6)
};
// Issue 12 item 6: "an error status, NEEDS_RESET or nothing".
constexpr unsigned a_refused = a_ioerr | a_unsupp | a_reset | a_none;

enum Passes : uint8_t { p_gpa = 1, p_grant = 2, p_both = 3 };

struct Ctx {
    Ctx(VirtioDriver& driver, const HostileEnv& e, uint64_t sector) : d(driver), env(e), check_sector(sector) {}

    VirtioDriver& d;
    const HostileEnv& env;
    uint64_t check_sector;  // where this case's check read goes (cases may aim at it)
    char text[384] = {};
    size_t len = 0;
    bool acceptable = true;
    bool must_reset = false;  // a chain may still be held by the device: reset before reuse

    void vsay(const char* format, va_list args) {
        if (len > 0) {
            if (len + 2 >= sizeof text) return;  // full: room for ", " and a terminator or nothing
            text[len++] = ',';
            text[len++] = ' ';
        }
        const size_t room = sizeof text - len;  // at least 2
        int n = vsnprintf(text + len, room, format, args);
        if (n > 0) len += static_cast<size_t>(n) < room ? static_cast<size_t>(n) : room - 1;
    }
    __attribute__((format(printf, 2, 3))) void say(const char* format, ...) {
        va_list args;
        va_start(args, format);
        vsay(format, args);
        va_end(args);
    }
    // Something domd must not do: the case fails.
    __attribute__((format(printf, 2, 3))) void fail(const char* format, ...) {
        va_list args;
        va_start(args, format);
        vsay(format, args);
        va_end(args);
        say("[unexpected]");
        acceptable = false;
    }
    bool grant() const { return d.addressing() == Addressing::grant; }

    // Shorthands for the areas, in the pass's addressing.
    uint64_t hdr(uint64_t off = 0) const { return d.addr(Area::header, off); }
    uint64_t data(uint64_t off = 0) const { return d.addr(Area::data, off); }
    uint64_t status() const { return d.addr(Area::status); }
    uint64_t table(uint64_t off = 0) const { return d.addr(Area::indirect, off); }
    ChainWriter ring() const { return ChainWriter(d.desc_table(), qsize); }
    ChainWriter indirect(uint64_t off = 0, uint16_t capacity = 256) const {
        return ChainWriter(d.indirect_table(off), capacity);
    }
    // An address where this guest has nothing: past its RAM (inside the RAM bank, where domd
    // must ask Xen and be refused), or, in the grant pass, a ref we never granted.
    uint64_t nowhere() const {
        return grant() ? VirtioDriver::grant_addr(d.last_ref() + 64, 0) : env.ram_end + (64u << 20);
    }
};

// ---- submitting and judging ----

Reply submit(Ctx& c, uint16_t head = 0) {
    c.d.publish(head);
    Reply r = c.d.wait();
    if (r.kind == Kind::none) c.must_reset = true;
    return r;
}

void judge(Ctx& c, const Reply& r, unsigned allow, uint16_t head = 0) {
    unsigned got = 0;
    switch (r.kind) {
        case Kind::used: {
            if (r.id != head) c.fail("used id %u for head %u", r.id, head);
            const uint8_t s = c.d.status_byte();
            const char* name = s == blk::blk_status::ok ? "OK" : s == blk::blk_status::ioerr ? "IOERR"
                                                              : s == blk::blk_status::unsupp ? "UNSUPP" : nullptr;
            got = s == VirtioDriver::status_poison ? unsigned{a_elsewhere}
                  : s == blk::blk_status::ok       ? unsigned{a_ok}
                  : s == blk::blk_status::ioerr    ? unsigned{a_ioerr}
                  : s == blk::blk_status::unsupp   ? unsigned{a_unsupp}
                                                   : 0u;
            if (got == a_elsewhere)
                c.say("used entry (len %u), our status byte untouched", r.len);
            else if (name)
                c.say("status %s", name);
            else
                c.say("status byte %#x", s);
            break;
        }
        case Kind::needs_reset:
            got = a_reset;
            c.say("NEEDS_RESET");
            break;
        case Kind::none:
            got = a_none;
            c.say("no used entry within %llu ms",
                  static_cast<unsigned long long>(VirtioDriver::default_timeout_ns / 1000000));
            break;
    }
    if (!(got & allow)) {
        c.say("[unexpected]");
        c.acceptable = false;
    }
}

// For a legal request answered OK: the data must be the disk's.
void verify_data(Ctx& c, const Reply& r, uint64_t sector, uint32_t count, uint64_t offset = 0) {
    if (r.kind != Kind::used || c.d.status_byte() != blk::blk_status::ok) return;
    char why[128];
    if (check_pattern(c.d.ptr(Area::data, offset), pattern_base + sector, count, why, sizeof why))
        c.say("data verified");
    else
        c.fail("wrong data: %s", why);
}

void fill(Ctx& c, Area area, uint64_t off, uint64_t len, uint8_t value) { memset(c.d.ptr(area, off), value, len); }
// A buffer the device had no right to write must still hold what we put there.
void expect_intact(Ctx& c, Area area, uint64_t off, uint64_t len, uint8_t value, const char* what) {
    const uint8_t* p = c.d.ptr(area, off);
    for (uint64_t i = 0; i < len; ++i)
        if (p[i] != value) {
            c.fail("%s written (byte %llu is %#x)", what, static_cast<unsigned long long>(i), p[i]);
            return;
        }
}

// ---- descriptor chains ----

void loop_self(Ctx& c) {
    c.d.put_header(rt::in, 0);
    c.d.poison_status();
    c.d.desc_table()[0] = VirtqDesc{c.hdr(), header_bytes, f_next, 0};
    judge(c, submit(c), a_refused);
}

void loop_cycle(Ctx& c) {
    c.d.put_header(rt::in, 0);
    c.d.poison_status();
    ChainWriter w = c.ring();
    w.add(c.hdr(), header_bytes, 0).add(c.data(), 512, f_write).add(c.status(), 1, f_write);
    w.last().flags |= f_next;
    w.last().next = 1;
    judge(c, submit(c), a_refused);
}

void chain_longer_than_queue(Ctx& c) {
    // All 16 descriptors of the queue, the last one leading back to the first: a 17th.
    c.d.put_header(rt::in, 0);
    c.d.poison_status();
    ChainWriter w = c.ring();
    w.add(c.hdr(), header_bytes, 0);
    for (int i = 0; i < qsize - 2; ++i) w.add(c.data(512u * i), 512, f_write);
    w.add(c.status(), 1, f_write);
    w.last().flags |= f_next;
    w.last().next = 0;
    judge(c, submit(c), a_refused);
}

// An indirect table of `entries` descriptors: header, entries - 2 data sectors, status. Longer
// than the queue, so a driver breaks section 2.7.5.3.1; serving it is no harm if the data is right.
void long_indirect(Ctx& c, uint16_t entries) {
    const uint64_t sector = c.check_sector;
    const uint32_t sectors = entries - 2u;
    c.d.put_header(rt::in, sector);
    c.d.poison_status();
    ChainWriter t = c.indirect(0, 512);
    t.add(c.hdr(), header_bytes, 0);
    for (uint32_t i = 0; i < sectors; ++i) t.add(c.data(512u * i), 512, f_write);
    t.add(c.status(), 1, f_write);
    c.d.desc_table()[0] = VirtqDesc{c.table(), 16u * entries, f_indirect, 0};
    Reply r = submit(c);
    judge(c, r, a_ok | a_refused);
    verify_data(c, r, sector, sectors);
}
void indirect_40(Ctx& c) { long_indirect(c, 40); }
void indirect_80(Ctx& c) { long_indirect(c, 80); }

void next_out_of_range(Ctx& c, uint16_t next) {
    c.d.put_header(rt::in, 0);
    c.d.poison_status();
    c.d.desc_table()[0] = VirtqDesc{c.hdr(), header_bytes, f_next, next};
    judge(c, submit(c), a_refused);
}
void next_16(Ctx& c) { next_out_of_range(c, qsize); }
void next_ffff(Ctx& c) { next_out_of_range(c, 0xffff); }

// A well-formed three-entry indirect table at `off` of the indirect area.
ChainWriter good_table(Ctx& c, uint64_t off = 0) {
    ChainWriter t = c.indirect(off);
    t.add(c.hdr(), header_bytes, 0).add(c.data(), 512, f_write).add(c.status(), 1, f_write);
    return t;
}

void indirect_next_out_of_table(Ctx& c) {
    c.d.put_header(rt::in, 0);
    c.d.poison_status();
    good_table(c);
    c.d.indirect_table()[0].next = 3;  // a table of 3
    c.d.desc_table()[0] = VirtqDesc{c.table(), 48, f_indirect, 0};
    judge(c, submit(c), a_refused);
}

void indirect_loop(Ctx& c) {
    c.d.put_header(rt::in, 0);
    c.d.poison_status();
    ChainWriter t = good_table(c);
    t.last().flags |= f_next;
    t.last().next = 0;
    c.d.desc_table()[0] = VirtqDesc{c.table(), 48, f_indirect, 0};
    judge(c, submit(c), a_refused);
}

void indirect_with_next(Ctx& c) {
    c.d.put_header(rt::in, 0);
    c.d.poison_status();
    good_table(c);
    c.d.desc_table()[0] = VirtqDesc{c.table(), 48, static_cast<uint16_t>(f_indirect | f_next), 1};
    c.d.desc_table()[1] = VirtqDesc{c.status(), 1, f_write, 0};
    judge(c, submit(c), a_refused);
}

void indirect_nested(Ctx& c) {
    c.d.put_header(rt::in, 0);
    c.d.poison_status();
    good_table(c, 1024);
    c.d.indirect_table()[0] = VirtqDesc{c.table(1024), 48, f_indirect, 0};
    c.d.desc_table()[0] = VirtqDesc{c.table(), 16, f_indirect, 0};
    judge(c, submit(c), a_refused);
}

void indirect_length(Ctx& c, uint32_t len) {
    c.d.put_header(rt::in, 0);
    c.d.poison_status();
    good_table(c);
    c.d.desc_table()[0] = VirtqDesc{c.table(), len, f_indirect, 0};
    judge(c, submit(c), a_refused);
}
void indirect_len_24(Ctx& c) { indirect_length(c, 24); }
void indirect_len_0(Ctx& c) { indirect_length(c, 0); }
void indirect_len_2048_entries(Ctx& c) { indirect_length(c, 2048 * 16); }

void indirect_at(Ctx& c, uint64_t addr) {
    c.d.put_header(rt::in, 0);
    c.d.poison_status();
    good_table(c);
    c.d.desc_table()[0] = VirtqDesc{addr, 48, f_indirect, 0};
    judge(c, submit(c), a_refused);
}
void indirect_outside_ram(Ctx& c) { indirect_at(c, c.nowhere()); }
void indirect_wraps(Ctx& c) { indirect_at(c, ~uint64_t{0} - 15); }

// ---- the available ring ----

void avail_jump(Ctx& c, uint16_t delta) {
    c.d.put_header(rt::in, 0);
    c.d.poison_status();
    c.ring().add(c.hdr(), header_bytes, 0).add(c.data(), 512, f_write).add(c.status(), 1, f_write);
    for (uint16_t i = 0; i < qsize; ++i) c.d.put_avail_entry(i, 0);
    c.d.set_avail_idx(static_cast<uint16_t>(c.d.avail_idx() + delta));
    c.d.notify();
    Reply r = c.d.wait();
    c.must_reset = true;  // our avail index no longer matches the ring's
    judge(c, r, a_refused);
}
void avail_jump_17(Ctx& c) { avail_jump(c, qsize + 1); }
void avail_backwards(Ctx& c) { avail_jump(c, 0xffff); }

void avail_entry(Ctx& c, uint16_t head) {
    c.d.put_header(rt::in, 0);
    c.d.poison_status();
    c.ring().add(c.hdr(), header_bytes, 0).add(c.data(), 512, f_write).add(c.status(), 1, f_write);
    c.d.publish(head);
    Reply r = c.d.wait();
    if (r.kind == Kind::none) c.must_reset = true;
    judge(c, r, a_refused, head);
}
void avail_entry_16(Ctx& c) { avail_entry(c, qsize); }
void avail_entry_ffff(Ctx& c) { avail_entry(c, 0xffff); }

// ---- buffers ----

void three(Ctx& c, uint32_t type, uint64_t sector, uint64_t h, uint32_t hlen, uint16_t hflags, uint64_t dat,
           uint32_t dlen, uint16_t dflags, uint64_t st, uint32_t slen, uint16_t sflags, unsigned allow) {
    c.d.put_header(type, sector);
    c.d.poison_status();
    c.ring().add(h, hlen, hflags).add(dat, dlen, dflags).add(st, slen, sflags);
    judge(c, submit(c), allow);
}

void zero_len_data(Ctx& c) {
    three(c, rt::in, 0, c.hdr(), header_bytes, 0, c.data(), 0, f_write, c.status(), 1, f_write, a_refused);
}
void zero_len_header(Ctx& c) {
    three(c, rt::in, 0, c.hdr(), 0, 0, c.data(), 512, f_write, c.status(), 1, f_write, a_refused);
}
void zero_len_status(Ctx& c) {
    three(c, rt::in, 0, c.hdr(), header_bytes, 0, c.data(), 512, f_write, c.status(), 0, f_write, a_refused);
}
void huge_data(Ctx& c) {
    three(c, rt::in, 0, c.hdr(), header_bytes, 0, c.data(), 0xffffffff, f_write, c.status(), 1, f_write, a_refused);
}

void total_past_32_bits(Ctx& c) {
    c.d.put_header(rt::in, 0);
    c.d.poison_status();
    c.ring()
        .add(c.hdr(), header_bytes, 0)
        .add(c.data(), 0x80000000u, f_write)
        .add(c.data(), 0x80000000u, f_write)
        .add(c.status(), 1, f_write);
    judge(c, submit(c), a_refused);
}

void status_read_only(Ctx& c) {
    // The last device-writable byte is then the data's last: an error may go there, nowhere else.
    fill(c, Area::data, 0, 512, canary);
    three(c, rt::in, 0, c.hdr(), header_bytes, 0, c.data(), 512, f_write, c.status(), 1, 0,
          a_elsewhere | a_reset | a_none);
    if (c.d.status_byte() != VirtioDriver::status_poison) c.fail("the read-only status byte was written");
    const uint8_t last = *c.d.ptr(Area::data, 511);
    if (last == blk::blk_status::ioerr) c.say("IOERR in the data buffer's last byte");
    else if (last != canary) c.say("data buffer's last byte %#x", last);
}

void nothing_writable(Ctx& c) {
    fill(c, Area::data, 0, 512, canary);
    three(c, rt::in, 0, c.hdr(), header_bytes, 0, c.data(), 512, 0, c.status(), 1, 0, a_refused);
    if (c.d.status_byte() != VirtioDriver::status_poison) c.fail("the read-only status byte was written");
    expect_intact(c, Area::data, 0, 512, canary, "the read-only data buffer");
}

void readable_data_for_in(Ctx& c) {
    fill(c, Area::data, 0, 4096, canary);
    three(c, rt::in, c.check_sector, c.hdr(), header_bytes, 0, c.data(), 4096, 0, c.status(), 1, f_write, a_refused);
    expect_intact(c, Area::data, 0, 4096, canary, "the device-readable data buffer");
}

void writable_header(Ctx& c) {
    three(c, rt::in, 0, c.hdr(), header_bytes, f_write, c.data(), 512, f_write, c.status(), 1, f_write, a_refused);
}

void header_split(Ctx& c) {
    // Legal (VERSION_1 implies ANY_LAYOUT, section 2.6.4): must be served.
    const uint64_t sector = c.check_sector;
    c.d.put_header(rt::in, sector);
    c.d.poison_status();
    c.ring()
        .add(c.hdr(), 8, 0)
        .add(c.hdr(8), 8, 0)
        .add(c.data(), 4096, f_write)
        .add(c.status(), 1, f_write);
    Reply r = submit(c);
    judge(c, r, a_ok);
    verify_data(c, r, sector, 8);
}

void header_bytewise(Ctx& c) {
    const uint64_t sector = c.check_sector;
    c.d.put_header(rt::in, sector);
    c.d.poison_status();
    ChainWriter t = c.indirect();
    for (uint32_t i = 0; i < header_bytes; ++i) t.add(c.hdr(i), 1, 0);
    t.add(c.data(), 4096, f_write).add(c.status(), 1, f_write);
    c.d.desc_table()[0] = VirtqDesc{c.table(), 16u * t.count(), f_indirect, 0};
    Reply r = submit(c);
    judge(c, r, a_ok);
    verify_data(c, r, sector, 8);
}

void short_header(Ctx& c) {
    three(c, rt::in, 0, c.hdr(), 12, 0, c.data(), 512, f_write, c.status(), 1, f_write, a_refused);
}
void data_not_sectors(Ctx& c) {
    three(c, rt::in, 0, c.hdr(), header_bytes, 0, c.data(), 100, f_write, c.status(), 1, f_write, a_refused);
}

void readable_after_writable(Ctx& c) {
    c.d.put_header(rt::in, 0);
    c.d.poison_status();
    c.ring()
        .add(c.hdr(), header_bytes, 0)
        .add(c.data(), 512, f_write)
        .add(c.hdr(), header_bytes, 0)
        .add(c.status(), 1, f_write);
    judge(c, submit(c), a_refused);
}

void write_with_writable_data(Ctx& c) {
    // An OUT whose data the device could only write: nothing may reach the disk (the check
    // read goes to the same sector).
    fill_test_sector(c.check_sector, 1, c.d.ptr(Area::data));
    three(c, rt::out, c.check_sector, c.hdr(), header_bytes, 0, c.data(), 512, f_write, c.status(), 1, f_write,
          a_refused);
}

// ---- sectors ----

void read_at(Ctx& c, uint64_t sector, uint32_t sectors) {
    three(c, rt::in, sector, c.hdr(), header_bytes, 0, c.data(), 512 * sectors, f_write, c.status(), 1, f_write,
          a_refused);
}
void sector_capacity(Ctx& c) { read_at(c, c.env.capacity, 1); }
void sector_straddles_end(Ctx& c) { read_at(c, c.env.capacity - 1, 2); }
void sector_2_63(Ctx& c) { read_at(c, uint64_t{1} << 63, 1); }
void sector_max(Ctx& c) { read_at(c, ~uint64_t{0}, 1); }
void write_sector_2_63(Ctx& c) {
    fill_test_sector(0, 2, c.d.ptr(Area::data));
    three(c, rt::out, uint64_t{1} << 63, c.hdr(), header_bytes, 0, c.data(), 512, 0, c.status(), 1, f_write,
          a_refused);
}

void unknown_type(Ctx& c) {
    three(c, 0x7777, 0, c.hdr(), header_bytes, 0, c.data(), 512, f_write, c.status(), 1, f_write, a_refused);
}

void get_id_no_room(Ctx& c) {
    c.d.put_header(rt::get_id, 0);
    c.d.poison_status();
    c.ring().add(c.hdr(), header_bytes, 0).add(c.status(), 1, f_write);
    judge(c, submit(c), a_refused);
}

// DISCARD / WRITE_ZEROES with one segment after the header (section 5.2.6).
void segments(Ctx& c, uint32_t type, uint64_t sector, uint32_t count, uint32_t flags) {
    c.d.put_header(type, 0);
    blk::VirtioBlkDiscardSegment seg{sector, count, flags};
    memcpy(c.d.ptr(Area::header, header_bytes), &seg, sizeof seg);
    c.d.poison_status();
    c.ring().add(c.hdr(), header_bytes + sizeof seg, 0).add(c.status(), 1, f_write);
    judge(c, submit(c), a_refused);
}
void discard_past_capacity(Ctx& c) { segments(c, rt::discard, c.env.capacity - 1, 2, 0); }
void discard_huge(Ctx& c) { segments(c, rt::discard, 0, 0xffffffff, 0); }
void write_zeroes_bad_flags(Ctx& c) { segments(c, rt::write_zeroes, c.check_sector, 8, 0x80000000u); }

// ---- addresses outside the guest (guest-physical pass) ----

void data_at(Ctx& c, uint64_t addr, uint32_t len = 512) {
    three(c, rt::in, 0, c.hdr(), header_bytes, 0, addr, len, f_write, c.status(), 1, f_write, a_refused);
}
void data_at_zero(Ctx& c) { data_at(c, 0); }
void data_at_window(Ctx& c) { data_at(c, c.env.window); }
void data_at_grant_table(Ctx& c) { data_at(c, c.env.grant_area); }
void data_straddles_ram_end(Ctx& c) { data_at(c, c.env.ram_end - 256); }
void data_past_ram(Ctx& c) { data_at(c, c.env.ram_end + (64u << 20)); }
// Our shared_info page, which we placed in an extended region (guest-physical space of our own,
// in the RAM bank's range): Xen lets a foreign mapper map it, so the device may write there. It
// is our page: no harm to anyone else. Reported, not judged.
void data_at_own_shared_info(Ctx& c) {
    three(c, rt::in, c.check_sector, c.hdr(), header_bytes, 0, c.env.shared_info + 3072, 512, f_write, c.status(), 1,
          f_write, a_ok | a_refused);
}
void data_wraps(Ctx& c) { data_at(c, ~uint64_t{0} - 255); }
void data_high(Ctx& c) { data_at(c, (uint64_t{1} << 63) - page_size); }
void header_outside(Ctx& c) {
    three(c, rt::in, 0, c.env.window, header_bytes, 0, c.data(), 512, f_write, c.status(), 1, f_write, a_refused);
}
void status_outside(Ctx& c) {
    three(c, rt::in, 0, c.hdr(), header_bytes, 0, c.data(), 512, f_write, c.env.ram_end + (64u << 20), 1, f_write,
          a_refused);
}

// ---- grants (grant pass) ----

void data_ref_never_granted(Ctx& c) { data_at(c, VirtioDriver::grant_addr(c.d.last_ref() + 40, 0)); }
void data_ref_ffffffff(Ctx& c) { data_at(c, VirtioDriver::grant_addr(0xffffffffu, 0)); }
void data_ref_2_32(Ctx& c) { data_at(c, VirtioDriver::grant_addr(uint64_t{1} << 32, 0)); }
// Ref 1 is the toolstack's grant of our xenstore page to dom0 (GNTTAB_RESERVED_XENSTORE).
void data_ref_of_dom0(Ctx& c) { data_at(c, VirtioDriver::grant_addr(1, 0)); }
void data_past_last_grant(Ctx& c) { data_at(c, c.d.addr(Area::spare, 2048), 4096); }
void data_65_pages(Ctx& c) { data_at(c, c.data(), 65 * page_size); }
void data_in_readonly_grant(Ctx& c) {
    fill(c, Area::readonly, 0, page_size, canary);
    data_at(c, c.d.addr(Area::readonly));
    expect_intact(c, Area::readonly, 0, page_size, canary, "the read-only granted page");
}
void status_in_readonly_grant(Ctx& c) {
    fill(c, Area::readonly, 0, page_size, canary);
    three(c, rt::in, 0, c.hdr(), header_bytes, 0, c.data(), 512, f_write, c.d.addr(Area::readonly), 1, f_write,
          a_refused);
    expect_intact(c, Area::readonly, 0, page_size, canary, "the read-only granted page");
}
void header_ref_never_granted(Ctx& c) {
    three(c, rt::in, 0, VirtioDriver::grant_addr(c.d.last_ref() + 40, 0), header_bytes, 0, c.data(), 512, f_write,
          c.status(), 1, f_write, a_refused);
}

// ---- queue setup and registers ----

// Queue registers of a queue that is not live, written only where they change (each write is
// a trap), then QueueReady = 1 and read back.
class QueueProbe {
public:
    explicit QueueProbe(Ctx& c) : c_(c) {}
    uint32_t attempt(uint32_t num, uint64_t desc, uint64_t driver, uint64_t device) {
        const uint32_t values[7] = {num,
                                    static_cast<uint32_t>(desc),   static_cast<uint32_t>(desc >> 32),
                                    static_cast<uint32_t>(driver), static_cast<uint32_t>(driver >> 32),
                                    static_cast<uint32_t>(device), static_cast<uint32_t>(device >> 32)};
        static constexpr uint32_t offsets[7] = {mmio::queue_num,         mmio::queue_desc_low,
                                                mmio::queue_desc_high,   mmio::queue_driver_low,
                                                mmio::queue_driver_high, mmio::queue_device_low,
                                                mmio::queue_device_high};
        if (!selected_) c_.d.set_reg(mmio::queue_sel, 0);
        for (int i = 0; i < 7; ++i)
            if (!selected_ || values[i] != written_[i]) c_.d.set_reg(offsets[i], written_[i] = values[i]);
        selected_ = true;
        c_.d.set_reg(mmio::queue_ready, 1);
        return c_.d.reg(mmio::queue_ready);
    }

private:
    Ctx& c_;
    bool selected_ = false;
    uint32_t written_[7] = {};
};

// Starts over up to FEATURES_OK with our features; false (said) if the device refuses that.
bool renegotiate(Ctx& c) {
    c.must_reset = true;
    c.d.reset();
    if (!(c.d.negotiate(c.d.wanted_features()) & virtio::status::features_ok)) {
        c.fail("FEATURES_OK refused for our usual features");
        return false;
    }
    return true;
}

void queue_num_bad(Ctx& c) {
    // Section 2.7: a power of two no larger than QueueNumMax.
    const uint32_t max = c.d.reg(mmio::queue_num_max);
    const uint32_t sizes[] = {0, qsize - 1u, max * 2, 0xffffffff};
    if (!renegotiate(c)) return;
    QueueProbe probe(c);
    for (uint32_t num : sizes) {
        if (probe.attempt(num, c.d.addr(Area::desc), c.d.addr(Area::avail), c.d.addr(Area::used))) {
            c.fail("QueueNum %u accepted", num);
            return;
        }
        c.say("QueueNum %u: QueueReady 0", num);
    }
    c.say("(QueueNumMax %u)", max);
}

void queue_areas_bad(Ctx& c) {
    struct Try {
        const char* what;
        uint64_t desc, driver, device;
        bool grant_only;
    };
    const uint64_t d = c.d.addr(Area::desc), a = c.d.addr(Area::avail), u = c.d.addr(Area::used);
    const Try tries[] = {
        {"desc outside RAM", c.nowhere(), a, u, false},
        {"used outside RAM", d, a, c.nowhere(), false},
        {"desc misaligned", d + 8, a, u, false},
        {"used misaligned", d, a, u + 2, false},
        {"desc wraps", ~uint64_t{0} - 63, a, u, false},
        {"used in a read-only grant", d, a, c.d.addr(Area::readonly), true},
        {"avail at ref 0xffffffff", d, VirtioDriver::grant_addr(0xffffffffu, 0), u, true},
    };
    if (!renegotiate(c)) return;
    QueueProbe probe(c);
    for (const Try& t : tries) {
        if (t.grant_only && !c.grant()) continue;
        if (probe.attempt(qsize, t.desc, t.driver, t.device)) {
            c.fail("%s: QueueReady 1", t.what);
            return;
        }
        c.say("%s: QueueReady 0", t.what);
    }
}

void queue_before_features_ok(Ctx& c) {
    c.must_reset = true;
    c.d.reset();
    c.d.set_reg(mmio::status, virtio::status::acknowledge | virtio::status::driver);
    if (c.d.setup_queue(qsize, c.d.addr(Area::desc), c.d.addr(Area::avail), c.d.addr(Area::used)))
        c.fail("QueueReady 1 before FEATURES_OK");
    else
        c.say("QueueReady 0 before FEATURES_OK");
}

void features_not_offered(Ctx& c) {
    c.must_reset = true;
    const uint64_t usual = c.d.wanted_features();
    struct Try {
        const char* what;
        uint64_t features;
    };
    const Try tries[] = {
        {"bit 50 added", usual | virtio::feature(50)},
        {"without VERSION_1", usual & ~virtio::features::version_1},
        {"all 64 bits", ~uint64_t{0}},
    };
    for (const Try& t : tries) {
        c.d.reset();
        if (c.d.negotiate(t.features) & virtio::status::features_ok) c.fail("%s: FEATURES_OK kept", t.what);
        else c.say("%s: FEATURES_OK refused", t.what);
    }
}

void driver_ok_without_features_ok(Ctx& c) {
    using namespace virtio::status;
    c.must_reset = true;
    c.d.reset();
    c.d.set_reg(mmio::status, acknowledge | driver);
    c.d.set_reg(mmio::status, acknowledge | driver | driver_ok);
    const uint32_t s = c.d.device_status();
    if (s & driver_ok) c.fail("Status %#x: DRIVER_OK taken", s);
    else c.say("Status %#x: DRIVER_OK ignored", s);
}

// Reads that must go right while a register was changed under the live queue; more than the
// queue's new size, so a device that took the change would read the wrong avail entries.
void reads_still_right(Ctx& c, int count) {
    char why[128];
    for (int i = 0; i < count; ++i)
        if (!check_read(c.d, c.check_sector + 8u * i, 8, why, sizeof why)) {
            c.fail("read %d: %s", i, why);
            c.must_reset = true;
            return;
        }
    c.say("%d reads verified", count);
}

void queue_num_while_live(Ctx& c) {
    c.d.set_reg(mmio::queue_num, 4);
    c.say("QueueNum 4 written while live");
    reads_still_right(c, 6);
}

void queue_areas_while_live(Ctx& c) {
    const uint64_t elsewhere = c.d.addr(Area::spare);
    c.d.set_reg(mmio::queue_desc_low, static_cast<uint32_t>(elsewhere));
    c.d.set_reg(mmio::queue_desc_high, static_cast<uint32_t>(elsewhere >> 32));
    c.d.set_reg(mmio::queue_driver_low, static_cast<uint32_t>(elsewhere));
    c.d.set_reg(mmio::queue_device_low, static_cast<uint32_t>(elsewhere));
    c.say("QueueDesc/Driver/Device moved while live");
    reads_still_right(c, 2);
}

void queue_ready_again(Ctx& c) {
    c.d.set_reg(mmio::queue_ready, 1);
    c.d.set_reg(mmio::queue_ready, 2);
    c.say("QueueReady reads %u after writing 1 and 2", c.d.reg(mmio::queue_ready));
    reads_still_right(c, 2);
}

void queue_disabled_with_pending(Ctx& c) {
    // A chain published without a notify, then QueueReady = 0 (section 4.2.2.2: the device
    // stops using the queue once QueueReady reads 0).
    c.must_reset = true;
    c.d.put_header(rt::in, c.check_sector);
    c.d.poison_status();
    c.ring().add(c.hdr(), header_bytes, 0).add(c.data(), 512, f_write).add(c.status(), 1, f_write);
    const uint16_t used_before = c.d.used_idx();
    c.d.put_avail_entry(c.d.avail_idx(), 0);
    c.d.set_avail_idx(static_cast<uint16_t>(c.d.avail_idx() + 1));
    c.d.set_reg(mmio::queue_ready, 0);
    const uint32_t ready = c.d.reg(mmio::queue_ready);
    if (ready) c.fail("QueueReady still 1");
    else c.say("QueueReady 0");
    c.say(c.d.used_idx() == used_before ? "the pending chain got no used entry" : "the pending chain was used");
}

// A reset device (Status written 0) forgets its queue (section 2.1.2, 4.2.2.1: QueueReady and
// the queue registers start over): a chain left in the old ring and notified must never be
// served, QueueReady = 1 without any setup must not take, and nothing may be written.
void notify_after_reset(Ctx& c) {
    c.must_reset = true;
    c.d.put_header(rt::in, c.check_sector);
    c.d.poison_status();
    fill(c, Area::data, 0, 4096, canary);
    c.ring().add(c.hdr(), header_bytes, 0).add(c.data(), 4096, f_write).add(c.status(), 1, f_write);
    const uint16_t used_before = c.d.used_idx();
    c.d.set_reg(mmio::status, 0);
    const uint32_t status = c.d.device_status();
    if (status != 0) c.fail("Status %#x after writing 0", status);
    c.d.put_avail_entry(c.d.avail_idx(), 0);
    c.d.set_avail_idx(static_cast<uint16_t>(c.d.avail_idx() + 1));
    c.d.notify();
    c.d.set_reg(mmio::queue_sel, 0);
    c.d.set_reg(mmio::queue_ready, 1);
    const uint32_t ready = c.d.reg(mmio::queue_ready);
    c.d.notify();
    const uint64_t quiet_until = c.d.guest().now_ns() + 200'000'000ull;
    while (c.d.guest().now_ns() < quiet_until) (void)c.d.guest().hv().yield();
    c.say("after a reset: QueueNotify, QueueReady = 1 (reads %u), QueueNotify", ready);
    if (ready) c.fail("QueueReady took without setup");
    if (c.d.used_idx() != used_before) c.fail("the old ring got a used entry");
    else c.say("no used entry in 200 ms");
    if (c.d.status_byte() != VirtioDriver::status_poison) c.fail("the status byte was written");
    expect_intact(c, Area::data, 0, 4096, canary, "the old ring's data buffer");
}

// DriverFeatures written while the device is live (section 3.1.1: features are fixed at
// FEATURES_OK): a device that took them would, say, switch to packed rings under the driver.
void features_written_while_live(Ctx& c) {
    for (uint32_t sel = 0; sel < 2; ++sel) {
        c.d.set_reg(mmio::driver_features_sel, sel);
        c.d.set_reg(mmio::driver_features, sel == 0 ? 0 : 0xffffffff);
    }
    c.d.set_reg(mmio::status, c.d.device_status() | virtio::status::features_ok);
    c.say("DriverFeatures 0 / 0xffffffff (RING_PACKED among them) and FEATURES_OK again while live");
    reads_still_right(c, 2);
}

// The same head twice in the avail ring before the device used it once (section 2.7.13: a
// driver never does this). The device may serve it twice, refuse it or need a reset; the data
// it returns must be the disk's, and nothing it holds may go wrong after.
void avail_same_head_twice(Ctx& c) {
    c.must_reset = true;  // a second used entry may come or not: start the ring over after
    const uint64_t sector = c.check_sector;
    c.d.put_header(rt::in, sector);
    c.d.poison_status();
    c.ring().add(c.hdr(), header_bytes, 0).add(c.data(), 4096, f_write).add(c.status(), 1, f_write);
    const uint16_t heads[2] = {0, 0};
    c.d.publish(heads, 2);
    Reply first = c.d.wait();
    judge(c, first, a_ok | a_refused);
    verify_data(c, first, sector, 8);
    if (first.kind != Kind::used) return;
    Reply second = c.d.wait(VirtioDriver::default_timeout_ns / 4);
    if (second.kind == Kind::used) {
        c.say("a second used entry (id %u, len %u)", second.id, second.len);
        if (second.id != 0) c.fail("used id %u for head 0", second.id);
        verify_data(c, second, sector, 8);
    } else {
        c.say(second.kind == Kind::needs_reset ? "then NEEDS_RESET" : "no second used entry");
    }
}

// A guest resetting the device with requests in flight (issue 12 item 5; section 4.2.2.1: after
// writing 0 to Status the driver waits until it reads 0). Sixteen 64 KiB reads are published
// at once and the device is reset right after the notify: the reset must complete (Status
// reads 0) within a bounded time, and the device must work again after a fresh setup.
void reset_with_requests_in_flight(Ctx& c) {
    c.must_reset = true;
    constexpr uint16_t batch = VirtioDriver::queue_size;
    constexpr uint32_t sectors = 128;
    const uint64_t first = c.check_sector % (c.env.capacity - uint64_t{batch} * sectors);
    uint16_t heads[batch];
    for (uint16_t n = 0; n < batch; ++n) {
        c.d.put_header(rt::in, first + uint64_t{sectors} * n, header_bytes * n);
        *c.d.ptr(Area::status, n) = VirtioDriver::status_poison;
        ChainWriter(c.d.indirect_table(64u * n), 3)
            .add(c.hdr(header_bytes * n), header_bytes, 0)
            .add(c.data(uint64_t{sectors} * 512 * n), sectors * 512, f_write)
            .add(c.d.addr(Area::status, n), 1, f_write);
        c.d.desc_table()[n] = VirtqDesc{c.table(64u * n), 48, f_indirect, 0};
        heads[n] = n;
    }
    const uint16_t used_before = c.d.used_idx();
    c.d.publish(heads, batch);
    c.d.set_reg(mmio::status, 0);
    const uint64_t deadline = c.d.guest().now_ns() + VirtioDriver::default_timeout_ns;
    uint32_t reads = 0;
    uint32_t status = 0;
    do {
        status = c.d.device_status();
        ++reads;
    } while (status != 0 && c.d.guest().now_ns() < deadline);
    const uint16_t used = static_cast<uint16_t>(c.d.used_idx() - used_before);
    if (status != 0) {
        c.fail("Status still %#x after %u reads", status, reads);
        return;
    }
    c.say("Status 0 at read %u; %u of %u requests had used entries", reads, used, batch);
    // Once Status reads 0 the device owns nothing of ours (section 2.1.2 / 3.1.1): no data
    // buffer, status byte or used entry may change any more.
    fill(c, Area::data, 0, data_bytes, canary);
    fill(c, Area::status, 0, batch, canary);
    const uint16_t used_at_reset = c.d.used_idx();
    const uint64_t quiet_until = c.d.guest().now_ns() + 200'000'000ull;
    while (c.d.guest().now_ns() < quiet_until) (void)c.d.guest().hv().yield();
    expect_intact(c, Area::data, 0, data_bytes, canary, "a data buffer after the reset");
    expect_intact(c, Area::status, 0, batch, canary, "a status byte after the reset");
    if (c.d.used_idx() != used_at_reset) c.fail("used index moved after the reset");
    else c.say("nothing written in the 200 ms after it");
}

struct RegisterValue {
    const char* name;
    uint32_t offset;
};
constexpr RegisterValue read_only_registers[] = {
    {"MagicValue", mmio::magic_value},         {"Version", mmio::version},
    {"DeviceID", mmio::device_id},             {"VendorID", mmio::vendor_id},
    {"DeviceFeatures", mmio::device_features}, {"QueueNumMax", mmio::queue_num_max},
    {"InterruptStatus", mmio::interrupt_status}, {"ConfigGeneration", mmio::config_generation},
    {"SHMLenLow", mmio::shm_len_low},          {"SHMBaseLow", mmio::shm_base_low},
    {"capacity low", mmio::config},            {"capacity high", mmio::config + 4},
    {"blk_size", mmio::config + 20},
};

void read_only_register_writes(Ctx& c) {
    uint32_t before[sizeof read_only_registers / sizeof read_only_registers[0]];
    size_t i = 0;
    for (const RegisterValue& r : read_only_registers) before[i++] = c.d.reg(r.offset);
    i = 0;
    for (const RegisterValue& r : read_only_registers) c.d.set_reg(r.offset, ~before[i++]);
    c.d.mmio().write8(mmio::config, 0xff);
    c.d.mmio().write64(mmio::config, 0);
    size_t changed = 0;
    i = 0;
    for (const RegisterValue& r : read_only_registers) {
        const uint32_t now = c.d.reg(r.offset);
        // InterruptStatus may gain a bit meanwhile; it must not lose or take one we wrote.
        if (now != before[i] && !(r.offset == mmio::interrupt_status && (now & ~before[i] & ~3u) == 0)) {
            c.fail("%s %#x -> %#x", r.name, before[i], now);
            ++changed;
        }
        ++i;
    }
    if (!changed) c.say("%zu read-only registers and config fields unchanged", i);
}

void odd_widths(Ctx& c) {
    const RawMmio& m = c.d.mmio();
    const uint32_t status = c.d.device_status();
    const uint64_t capacity = c.d.capacity_sectors();
    c.say("reads: 1 byte @0x0 %#x, 2 bytes @0x2 %#x, 8 bytes @0x0 %#llx, 1 byte @0x71 %#x, 8 bytes @0x1f8 %#llx",
          m.read8(mmio::magic_value), m.read16(0x2),
          static_cast<unsigned long long>(m.read64(mmio::magic_value)), m.read8(mmio::status + 1),
          static_cast<unsigned long long>(m.read64(0x1f8)));
    // Writes a driver never makes: a 1-byte reset, a 2-byte notify, an 8-byte queue address, a
    // 1-byte interrupt ack, narrow and wide writes to the configuration space.
    m.write8(mmio::status, 0);
    m.write16(mmio::queue_notify, 0);
    m.write64(mmio::queue_desc_low, c.d.addr(Area::spare));
    m.write8(mmio::interrupt_ack, 0xff);
    m.write16(mmio::config + 2, 0xffff);
    m.write64(mmio::config + 8, ~uint64_t{0});
    const uint32_t status_after = c.d.device_status();
    if (status_after != status) c.fail("Status %#x -> %#x", status, status_after);
    else c.say("Status unchanged after a 1-byte write of 0");
    // The configuration space takes any width (section 4.2.2.2): the same bytes each way.
    uint64_t bytes = 0;
    for (int i = 0; i < 8; ++i) bytes |= uint64_t{m.read8(mmio::config + i)} << (8 * i);
    uint64_t halves = uint64_t{m.read16(mmio::config)} | uint64_t{m.read16(mmio::config + 2)} << 16 |
                      uint64_t{m.read16(mmio::config + 4)} << 32 | uint64_t{m.read16(mmio::config + 6)} << 48;
    const uint64_t whole = m.read64(mmio::config);
    if (bytes != capacity || halves != capacity || whole != capacity)
        c.fail("capacity %llu read as bytes %llu, halves %llu, whole %llu", static_cast<unsigned long long>(capacity),
               static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(halves),
               static_cast<unsigned long long>(whole));
    else
        c.say("capacity the same at 1, 2, 4 and 8 bytes");
}

void unused_offsets(Ctx& c) {
    static constexpr uint32_t offsets[] = {0x018, 0x01c, 0x028, 0x03c, 0x048, 0x058, 0x068, 0x0c4, 0x0f8};
    uint32_t nonzero = 0;
    for (uint32_t off : offsets) {
        if (c.d.reg(off) != 0) ++nonzero;
        c.d.set_reg(off, 0xffffffff);
    }
    c.say("%zu unused offsets: %u read non-zero", sizeof offsets / sizeof offsets[0], nonzero);
    const uint32_t s = c.d.device_status();
    if (!(s & virtio::status::driver_ok) || (s & virtio::status::device_needs_reset)) c.fail("Status %#x", s);
}

void notify_bad_queues(Ctx& c) {
    static constexpr uint32_t queues[] = {1, 16, 0xffff, 0x10000, 0xffffffff};
    for (uint32_t q : queues) c.d.notify(q);
    c.say("QueueNotify 1, 16, 0xffff, 0x10000, 0xffffffff");
    reads_still_right(c, 1);
}

void queue_sel_out_of_range(Ctx& c) {
    c.d.set_reg(mmio::queue_sel, 100);
    const uint32_t max = c.d.reg(mmio::queue_num_max);
    c.d.set_reg(mmio::queue_num, 8);
    c.d.set_reg(mmio::queue_desc_low, 0x1000);
    c.d.set_reg(mmio::queue_ready, 1);
    const uint32_t ready = c.d.reg(mmio::queue_ready);
    c.d.set_reg(mmio::queue_sel, 0);
    c.say("queue 100: QueueNumMax %u, QueueReady %u", max, ready);
    if (max != 0 || ready != 0) c.fail("queue 100 exists");
    if (c.d.reg(mmio::queue_ready) != 1) c.fail("queue 0 no longer ready");
}

void interrupt_acks(Ctx& c) {
    char why[128];
    if (!check_read(c.d, c.check_sector, 8, why, sizeof why)) {
        c.fail("read: %s", why);
        return;
    }
    const uint32_t s0 = c.d.reg(mmio::interrupt_status);
    c.d.set_reg(mmio::interrupt_ack, 0);
    const uint32_t s1 = c.d.reg(mmio::interrupt_status);
    c.d.set_reg(mmio::interrupt_ack, 2);
    const uint32_t s2 = c.d.reg(mmio::interrupt_status);
    c.d.set_reg(mmio::interrupt_ack, 0xfffffffc);
    const uint32_t s3 = c.d.reg(mmio::interrupt_status);
    c.d.set_reg(mmio::interrupt_ack, 1);
    const uint32_t s4 = c.d.reg(mmio::interrupt_status);
    c.d.set_reg(mmio::interrupt_ack, 3);
    const uint32_t s5 = c.d.reg(mmio::interrupt_status);
    c.say("InterruptStatus %#x; after ACK 0: %#x, ACK 2: %#x, ACK ~3: %#x, ACK 1: %#x, ACK 3 again: %#x", s0, s1, s2,
          s3, s4, s5);
    if (!(s0 & 1)) c.fail("no used-buffer interrupt after a read");
    if ((s1 & 1) != (s0 & 1) || (s2 & 1) != (s0 & 1) || (s3 & 1) != (s0 & 1)) c.fail("a mismatching ACK cleared bit 0");
    if (s4 & 1) c.fail("ACK 1 did not clear bit 0");
}

void status_clears_bits(Ctx& c) {
    using namespace virtio::status;
    const uint32_t before = c.d.device_status();
    c.d.set_reg(mmio::status, acknowledge);
    const uint32_t after_clear = c.d.device_status();
    c.d.set_reg(mmio::status, before | device_needs_reset);
    const uint32_t after_nr = c.d.device_status();
    c.say("Status %#x; after writing 1: %#x; after writing it | NEEDS_RESET: %#x", before, after_clear, after_nr);
    if (after_clear != before) c.fail("bits cleared without a reset");
    if (after_nr & device_needs_reset) c.fail("the driver set NEEDS_RESET");
    reads_still_right(c, 1);
}

// ---- well-formed writes ----

void write_read_verify(Ctx& c) {
    char why[160];
    if (check_write(c.d, c.check_sector, 16, why, sizeof why)) c.say("16 sectors written, read back, restored");
    else c.fail("%s", why);
}

struct Case {
    const char* name;
    void (*run)(Ctx&);
    uint8_t passes;
};

constexpr Case cases[] = {
    // descriptor chains (section 2.7.5)
    {"desc-loop-self", loop_self, p_both},
    {"desc-loop-3-back-to-1", loop_cycle, p_both},
    {"chain-longer-than-queue-direct", chain_longer_than_queue, p_both},
    {"chain-longer-than-queue-indirect-40", indirect_40, p_both},
    {"chain-indirect-80-over-request-ranges", indirect_80, p_both},
    {"next-out-of-range-16", next_16, p_both},
    {"next-out-of-range-ffff", next_ffff, p_both},
    {"indirect-next-out-of-table", indirect_next_out_of_table, p_both},
    {"indirect-loop", indirect_loop, p_both},
    {"indirect-with-next", indirect_with_next, p_both},
    {"indirect-nested", indirect_nested, p_both},
    {"indirect-len-24", indirect_len_24, p_both},
    {"indirect-len-0", indirect_len_0, p_both},
    {"indirect-2048-entries", indirect_len_2048_entries, p_both},
    {"indirect-table-outside-ram", indirect_outside_ram, p_both},
    {"indirect-table-wraps", indirect_wraps, p_both},
    // the available ring (section 2.7.6)
    {"avail-idx-jump-17", avail_jump_17, p_both},
    {"avail-idx-backwards", avail_backwards, p_both},
    {"avail-entry-16", avail_entry_16, p_both},
    {"avail-entry-ffff", avail_entry_ffff, p_both},
    // buffers (sections 2.7.4, 5.2.6)
    {"zero-length-data", zero_len_data, p_both},
    {"zero-length-header", zero_len_header, p_both},
    {"zero-length-status", zero_len_status, p_both},
    {"huge-length-data-4g", huge_data, p_both},
    {"data-total-past-32-bits", total_past_32_bits, p_both},
    {"status-descriptor-read-only", status_read_only, p_both},
    {"no-device-writable-descriptor", nothing_writable, p_both},
    {"in-with-device-readable-data", readable_data_for_in, p_both},
    {"header-device-writable", writable_header, p_both},
    {"header-split-8-8", header_split, p_both},
    {"header-split-16x1-indirect", header_bytewise, p_both},
    {"header-12-bytes", short_header, p_both},
    {"data-100-bytes", data_not_sectors, p_both},
    {"readable-after-writable", readable_after_writable, p_both},
    {"out-with-device-writable-data", write_with_writable_data, p_both},
    // sectors
    {"sector-at-capacity", sector_capacity, p_both},
    {"sector-straddles-capacity", sector_straddles_end, p_both},
    {"sector-2^63", sector_2_63, p_both},
    {"sector-2^64-1", sector_max, p_both},
    {"write-sector-2^63", write_sector_2_63, p_both},
    {"unknown-request-type", unknown_type, p_both},
    {"get-id-without-room", get_id_no_room, p_both},
    {"discard-past-capacity", discard_past_capacity, p_both},
    {"discard-2^32-1-sectors", discard_huge, p_both},
    {"write-zeroes-undefined-flags", write_zeroes_bad_flags, p_both},
    // guest-physical addresses outside the guest's RAM
    {"data-at-gpa-0", data_at_zero, p_gpa},
    {"data-at-own-mmio-window", data_at_window, p_gpa},
    {"data-at-grant-table-area", data_at_grant_table, p_gpa},
    {"data-straddles-ram-end", data_straddles_ram_end, p_gpa},
    {"data-past-ram-in-bank", data_past_ram, p_gpa},
    {"data-at-own-shared-info-page", data_at_own_shared_info, p_gpa},
    {"data-at-2^63-4k", data_high, p_gpa},
    {"data-address-wraps", data_wraps, p_both},
    {"header-at-mmio-window", header_outside, p_gpa},
    {"status-past-ram", status_outside, p_gpa},
    // grant addresses (bit 63)
    {"data-ref-never-granted", data_ref_never_granted, p_grant},
    {"data-ref-ffffffff", data_ref_ffffffff, p_grant},
    {"data-ref-2^32", data_ref_2_32, p_grant},
    {"data-ref-granted-to-dom0", data_ref_of_dom0, p_grant},
    {"data-past-last-granted-page", data_past_last_grant, p_grant},
    {"data-65-pages", data_65_pages, p_grant},
    {"device-writable-data-in-read-only-grant", data_in_readonly_grant, p_grant},
    {"status-in-read-only-grant", status_in_readonly_grant, p_grant},
    {"header-ref-never-granted", header_ref_never_granted, p_grant},
    // queue setup and registers (sections 3.1.1, 4.2.2)
    {"queue-num-bad", queue_num_bad, p_both},
    {"queue-areas-bad", queue_areas_bad, p_both},
    {"queue-ready-before-features-ok", queue_before_features_ok, p_both},
    {"features-not-offered", features_not_offered, p_both},
    {"driver-ok-without-features-ok", driver_ok_without_features_ok, p_both},
    {"queue-num-changed-while-live", queue_num_while_live, p_both},
    {"queue-addresses-changed-while-live", queue_areas_while_live, p_both},
    {"queue-ready-rewritten", queue_ready_again, p_both},
    {"queue-disabled-with-request-pending", queue_disabled_with_pending, p_both},
    {"avail-same-head-twice", avail_same_head_twice, p_both},
    {"notify-and-queue-ready-after-reset", notify_after_reset, p_both},
    {"driver-features-written-while-live", features_written_while_live, p_both},
    {"reset-with-16-requests-in-flight", reset_with_requests_in_flight, p_both},
    {"read-only-register-writes", read_only_register_writes, p_both},
    {"odd-width-accesses", odd_widths, p_both},
    {"unused-register-offsets", unused_offsets, p_both},
    {"notify-nonexistent-queues", notify_bad_queues, p_both},
    {"queue-sel-out-of-range", queue_sel_out_of_range, p_both},
    {"interrupt-acks-not-matching", interrupt_acks, p_both},
    {"status-write-clearing-bits", status_clears_bits, p_both},
    // the well-formed write path
    {"well-formed-write-read-restore", write_read_verify, p_both},
};

}  // namespace

bool check_read(VirtioDriver& d, uint64_t sector, uint32_t count, char* why, size_t why_size) {
    const uint32_t bytes = count * 512;
    memset(d.ptr(Area::data), canary, bytes + 64);
    Reply r = d.read(sector, bytes);
    if (r.kind == Kind::needs_reset) {
        snprintf(why, why_size, "NEEDS_RESET");
        return false;
    }
    if (r.kind == Kind::none) {
        char state[64];
        d.describe_state(state, sizeof state);
        snprintf(why, why_size, "no used entry (%s)", state);
        return false;
    }
    if (r.id != 0 || d.status_byte() != blk::blk_status::ok) {
        snprintf(why, why_size, "used id %u, status %#x", r.id, d.status_byte());
        return false;
    }
    if (r.len < bytes || r.len > bytes + 1) {
        snprintf(why, why_size, "used len %u for %u bytes", r.len, bytes);
        return false;
    }
    const uint8_t* after = d.ptr(Area::data, bytes);
    for (int i = 0; i < 64; ++i)
        if (after[i] != canary) {
            snprintf(why, why_size, "written past the data buffer (+%d)", i);
            return false;
        }
    uint32_t first_held = 0;
    if (const uint32_t held = d.buffer_grants_held(&first_held); held != 0) {
        snprintf(why, why_size, "the backend still maps %u buffer grant(s) after the used entry (ref %u)", held,
                 first_held);
        return false;
    }
    return check_pattern(d.ptr(Area::data), pattern_base + sector, count, why, why_size);
}

bool check_write(VirtioDriver& d, uint64_t sector, uint32_t count, char* why, size_t why_size) {
    auto done = [&](const char* step, const Reply& r) {
        if (r.kind == Kind::used && d.status_byte() == blk::blk_status::ok) return true;
        snprintf(why, why_size, "%s: %s", step,
                 r.kind == Kind::used ? "error status" : r.kind == Kind::needs_reset ? "NEEDS_RESET" : "no used entry");
        return false;
    };
    const uint32_t bytes = count * 512;
    for (uint32_t i = 0; i < count; ++i) fill_test_sector(sector + i, 7, d.ptr(Area::data, 512u * i));
    if (!done("write", d.write(sector, bytes))) return false;
    memset(d.ptr(Area::data), 0, bytes);
    if (!done("read back", d.read(sector, bytes))) return false;
    uint8_t expected[512];
    for (uint32_t i = 0; i < count; ++i) {
        fill_test_sector(sector + i, 7, expected);
        if (memcmp(expected, d.ptr(Area::data, 512u * i), 512) != 0) {
            snprintf(why, why_size, "sector %llu reads back wrong", static_cast<unsigned long long>(sector + i));
            return false;
        }
    }
    for (uint32_t i = 0; i < count; ++i) fill_pattern_sector(pattern_base + sector + i, d.ptr(Area::data, 512u * i));
    if (!done("restore", d.write(sector, bytes))) return false;
    return check_read(d, sector, count, why, why_size);
}

bool verify_disk(VirtioDriver& d, uint64_t capacity, char* why, size_t why_size) {
    // Up to `batch` requests of 64 KiB in flight, each one descriptor of the ring pointing at
    // an indirect table of three (header, data, status): one index update and at most one
    // notify per batch.
    constexpr uint16_t batch = 16;
    constexpr uint32_t per_request = 128;  // sectors
    constexpr uint64_t request_bytes = per_request * 512;
    static_assert(batch * request_bytes <= data_bytes && batch <= VirtioDriver::queue_size);
    for (uint64_t s = 0; s < capacity;) {
        uint16_t heads[batch];
        uint64_t first[batch];
        uint32_t counts[batch];
        uint16_t n = 0;
        for (; n < batch && s < capacity; ++n) {
            counts[n] = capacity - s < per_request ? static_cast<uint32_t>(capacity - s) : per_request;
            first[n] = s;
            s += counts[n];
            d.put_header(rt::in, first[n], header_bytes * n);
            *d.ptr(Area::status, n) = VirtioDriver::status_poison;
            ChainWriter(d.indirect_table(64u * n), 3)
                .add(d.addr(Area::header, header_bytes * n), header_bytes, 0)
                .add(d.addr(Area::data, request_bytes * n), counts[n] * 512, f_write)
                .add(d.addr(Area::status, n), 1, f_write);
            d.desc_table()[n] = VirtqDesc{d.addr(Area::indirect, 64u * n), 48, f_indirect, 0};
            heads[n] = n;
        }
        d.publish(heads, n);
        for (uint16_t done = 0; done < n; ++done) {
            Reply r = d.wait();
            if (r.kind != Kind::used || r.id >= n) {
                snprintf(why, why_size, "sectors %llu..: %s", static_cast<unsigned long long>(first[0]),
                         r.kind == Kind::used ? "used id out of the batch" : r.kind == Kind::none ? "no used entry"
                                                                                               : "NEEDS_RESET");
                return false;
            }
            const uint16_t i = static_cast<uint16_t>(r.id);
            if (*d.ptr(Area::status, i) != blk::blk_status::ok) {
                snprintf(why, why_size, "sector %llu: status %#x", static_cast<unsigned long long>(first[i]),
                         *d.ptr(Area::status, i));
                return false;
            }
            if (!check_pattern(d.ptr(Area::data, request_bytes * i), pattern_base + first[i], counts[i], why, why_size))
                return false;
        }
    }
    return true;
}

bool set_pattern_base(VirtioDriver& d, char* why, size_t why_size) {
    Reply r = d.read(0, sector_bytes);
    if (r.kind != Kind::used || d.status_byte() != blk::blk_status::ok) {
        snprintf(why, why_size, "the first read of sector 0 failed");
        return false;
    }
    if (!pattern_base_of(d.ptr(Area::data), &pattern_base)) {
        snprintf(why, why_size, "sector 0 is not the lab image's");
        return false;
    }
    return true;
}

PassResult run_hostile_pass(VirtioDriver& d, const HostileEnv& env) {
    PassResult result;
    uint32_t index = 0;
    for (const Case& k : cases) {
        ++index;
        const uint8_t pass = d.addressing() == Addressing::grant ? p_grant : p_gpa;
        if (!(k.passes & pass)) continue;
        ++result.total;
        // Spread the check reads over the disk, away from its last 16 sectors.
        Ctx c{d, env, (uint64_t{index} * 7919 + (pass == p_grant ? 4099 : 0)) % (env.capacity - 256)};
        const uint64_t t0 = d.guest().now_ns();
        k.run(c);

        // Back to a working device when the case left it needing one.
        const uint32_t status = d.device_status();
        bool restarted = false;
        if (c.must_reset || (status & virtio::status::device_needs_reset) || !(status & virtio::status::driver_ok)) {
            restarted = true;
            if (!d.start().ok() && !d.start().ok()) {
                logging::rawf("HOSTILE: %s/%s -> %.*s ; check read FAIL (the device cannot be set up again)\n",
                              d.addressing_name(), k.name, static_cast<int>(c.len), c.text);
                return result;
            }
        }
        char why[160] = "";
        const bool read_ok = check_read(d, c.check_sector, 8, why, sizeof why);
        if (read_ok && c.acceptable) ++result.passed;
        char line[640];
        const unsigned long long ms = (d.guest().now_ns() - t0) / 1000000;
        int n = snprintf(line, sizeof line, "HOSTILE: %s/%s -> %.*s%s ; check read %s%s%s (%llu ms)\n",
                         d.addressing_name(), k.name, static_cast<int>(c.len), c.text,
                         restarted ? " (device reset and set up again)" : "", read_ok ? "ok" : "FAIL (",
                         read_ok ? "" : why, read_ok ? "" : ")", ms);
        if (n > 0) logging::raw({line, static_cast<size_t>(n) < sizeof line ? static_cast<size_t>(n) : sizeof line - 1});
        if (!read_ok) (void)d.start();
    }
    return result;
}

}  // namespace domd::frontend
