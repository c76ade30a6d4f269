#!/usr/bin/env python3
# Writes the packed-ring and legacy-mmio seeds of the request_path fuzzer into
# corpus/request_path/: each a script of guest actions (the byte format request_path_fuzz.cpp
# reads) that reaches one hostile case, so the fuzzer starts from there. The older seeds in that
# directory (split rings on version 2) were written by hand before this script.
#
#   tests/fuzz/request_path_seeds.py            rewrite the seeds
#   REQUEST_PATH_REPORT=1 BUILD/tests/fuzz/request_path_fuzz SEED
#                                               what one seed did (faults, answers)
import os
import struct
import sys

# Operations (the step byte, modulo 18) and the MMIO registers op_register picks from.
OP_PROBE, OP_REGISTER, OP_RAM, OP_DESC, OP_AVAIL, OP_EVENT = 0, 1, 4, 5, 6, 7
OP_REQUEST, OP_SERVICE, OP_POLLING, OP_SLEEP, OP_COMPLETE, OP_MEMORY, OP_TAKE_USED = 8, 11, 12, 13, 14, 15, 16
REGISTERS = ['magic_value', 'version', 'device_id', 'vendor_id', 'device_features', 'device_features_sel',
             'driver_features', 'driver_features_sel', 'queue_sel', 'queue_num_max', 'queue_num', 'queue_ready',
             'queue_notify', 'interrupt_status', 'interrupt_ack', 'status', 'queue_desc_low', 'queue_desc_high',
             'queue_driver_low', 'queue_driver_high', 'queue_device_low', 'queue_device_high', 'shm_sel',
             'shm_len_low', 'queue_reset', 'config_generation', 'config', 'config_8', 'config_34',
             'guest_page_size', 'queue_align', 'queue_pfn']

# The first byte: bit 0 a store that completes later, bits 6-7 the variant.
V2_SPLIT, V2_PACKED, LEGACY = 0x00, 0x40, 0x80
DEFERRED = 0x01

# Packed descriptor flags (virtio/spec.h).
NEXT, WRITE, INDIRECT, AVAIL, USED = 1, 2, 4, 0x08, 0x10  # AVAIL/USED: the harness's flag byte bits
IN, OUT = 0, 1
RAM_BASE = 0x40000000


class Script:
    def __init__(self, setup):
        self.b = bytearray([setup])

    def u8(self, v): self.b += struct.pack('<B', v & 0xff); return self
    def u16(self, v): self.b += struct.pack('<H', v & 0xffff); return self
    def u32(self, v): self.b += struct.pack('<I', v & 0xffffffff); return self
    def u64(self, v): self.b += struct.pack('<Q', v & 0xffffffffffffffff); return self

    def probe(self, sizes, everything=True):
        """Linux's bring-up: every feature (packed rings too, where the variant lets the driver
        want them), one queue per entry of sizes (a power of two, or any size with 0x80)."""
        self.u8(OP_PROBE).u64(0).u8(1 if everything else 0).u8(len(sizes) - 1)
        for size in sizes:
            if size & (size - 1) == 0 and size <= 64:
                self.u8(size.bit_length() - 1)
            else:
                self.u8(0x80 | (size - 1))
        return self

    def register(self, name, value, legacy=False):
        choices = 32 if legacy else 29
        assert REGISTERS.index(name) < choices
        return self.u8(OP_REGISTER).u8(REGISTERS.index(name)).u32(value)

    def read(self, sector=1, sectors=1, queue=0, indirect=False):
        """A well-formed read in Linux's layout (header, data, status)."""
        return self.request(0x10 if indirect else 0, IN, sector, sectors, queue=queue)

    def request(self, bits, type_, sector, sectors, data=None, status=None, writable_status=True, queue=0):
        """A request; the harness's shape byte: 0x80 (always here) type as a u32, 0x40 sector
        as a u64, 0x20 length as a u32, 0x10 indirect, 0x08 split header, 0x04 data at `data`
        (an address), 0x02 data on the wrong side, 0x01 status at `status` (an address)."""
        bits |= 0x80
        self.u8(OP_REQUEST).u8(queue).u8(bits).u32(type_)
        if bits & 0x40: self.u64(sector)
        else: self.u8(sector)
        if bits & 0x20: self.u32(512 * sectors)
        else: self.u8(sectors)
        if bits & 0x04: self.address(*data)
        if bits & 0x01: self.address(*status)
        return self.u8(1 if writable_status else 0)

    def address(self, kind, value):
        """0: RAM offset, 1: grant of a RAM offset, 2: n bytes before the end of RAM, 3: any."""
        self.u8(kind)
        if kind in (0, 1): self.u32(value)
        elif kind == 2: self.u8(value)
        else: self.u64(value)
        return self

    def flags(self, bits, raw16=None):
        if raw16 is not None: return self.u8(0x20).u16(raw16)
        return self.u8(bits)

    def avail_list(self, descs, raw_ids=False, raw_flags=False, notify=True, queue=0):
        """Packed: a list made available at the driver's next slots. descs: (ram offset, len,
        id, flag bits)."""
        assert 1 <= len(descs) <= 4
        shape = (len(descs) - 1) | (4 if raw_ids else 0) | (8 if raw_flags else 0)
        self.u8(OP_AVAIL).u8(queue).u8(shape)
        for offset, length, ident, bits in descs:
            self.address(0, offset)
            if length > 0xff: self.u8(1).u32(length)
            else: self.u8(0).u8(length)
            if raw_ids: self.u16(ident)
            else: self.u8(ident)
            self.flags(bits)
        return self.u8(1 if notify else 0)

    def desc(self, slot, offset, length, ident, bits, queue=0):
        """Packed: one descriptor written anywhere in the ring (no notification)."""
        self.u8(OP_DESC).u8(queue).u16(slot)
        self.address(0, offset)
        if length > 0xff: self.u8(1).u32(length)
        else: self.u8(0).u8(length)
        return self.flags(bits).u16(ident)

    def complete(self, ok=True):
        """The deferred store completes (or fails) its oldest request; no byte if none waits."""
        return self.op(OP_COMPLETE, 1 if ok else 0)

    def take_used(self, queue=0):
        """The driver takes what was used (and re-arms its event), frees the slots, acks."""
        return self.op(OP_TAKE_USED, queue, 1)

    def reads(self, count, indirect_every=0):
        """Reads of sectors 1.., each followed by the driver taking it back."""
        for i in range(count):
            self.read(1 + i, 1 + i % 3, indirect=indirect_every != 0 and i % indirect_every == 0).take_used()
        return self

    def op(self, code, *args):
        self.u8(code)
        for a in args: self.u8(a)
        return self


def seeds():
    s = {}
    data, table = 0x30000, 0x31000  # RAM offsets away from the rings and the harness's buffers

    # ---- split rings (beside the hand-written seeds; avail-jump never notified the device) ----
    s['avail-jump-notified'] = Script(V2_SPLIT).probe([16]).op(OP_EVENT, 0).u16(17) \
        .register('queue_notify', 0).read()
    # ---- packed rings ----
    # Size 5: lists of 3 slots (and indirect ones of 1) wrap at every position over many laps.
    s['packed-requests-odd-size'] = Script(V2_PACKED).probe([5]).reads(12, indirect_every=4)
    s['packed-id-out-of-range'] = Script(V2_PACKED).probe([16]) \
        .avail_list([(data, 16, 0, NEXT), (data + 64, 1, 0xffff, WRITE)], raw_ids=True).read()
    s['packed-id-in-use'] = Script(V2_PACKED | DEFERRED).probe([16]).read() \
        .avail_list([(data + 64, 1, 0, WRITE)]).complete().read()
    s['packed-list-longer-than-ring'] = Script(V2_PACKED).probe([4]) \
        .avail_list([(data, 8, 0, NEXT)] * 3 + [(data, 1, 0, NEXT | WRITE)]).read()
    s['packed-avail-overrun'] = Script(V2_PACKED | DEFERRED).probe([4]).read(1, 1) \
        .desc(0, data + 64, 1, 1, WRITE | USED).desc(3, data, 16, 1, NEXT | AVAIL) \
        .register('queue_notify', 0).complete().read()
    s['packed-head-marked-used'] = Script(V2_PACKED).probe([16]).desc(0, data, 1, 0, WRITE | AVAIL | USED) \
        .register('queue_notify', 0).read()
    s['packed-list-flags-inconsistent'] = Script(V2_PACKED).probe([16]) \
        .avail_list([(data, 16, 0, NEXT | AVAIL), (data + 64, 1, 0, WRITE)], raw_flags=True).read()
    s['packed-indirect-in-list'] = Script(V2_PACKED).probe([16]) \
        .avail_list([(data, 16, 0, NEXT), (table, 16, 0, INDIRECT)]).read()
    s['packed-indirect-with-next'] = Script(V2_PACKED).probe([16]) \
        .avail_list([(table, 16, 0, INDIRECT | NEXT), (data, 1, 0, WRITE)]).read()
    s['packed-indirect-bad-length'] = Script(V2_PACKED).probe([16]).avail_list([(table, 24, 0, INDIRECT)]).read()
    s['packed-driver-event-desc'] = Script(V2_PACKED).probe([8]).op(OP_EVENT, 0).u16(2).u16(0x8003) \
        .read(1).read(2).op(OP_TAKE_USED, 0, 0).read(3).op(OP_EVENT, 0).u16(2).u16(0x0001).reads(6)
    s['packed-polling-sleep'] = Script(V2_PACKED).probe([8]).op(OP_POLLING, 1).reads(3).op(OP_SLEEP) \
        .reads(3).op(OP_POLLING, 0).reads(3)
    s['packed-reset-in-flight'] = Script(V2_PACKED | DEFERRED).probe([16]).read(1).read(2) \
        .register('status', 0).complete().complete().register('status', 0).probe([16]).read(3) \
        .complete().take_used()
    # ---- legacy virtio-mmio ----
    s['legacy-requests'] = Script(LEGACY).probe([16]).reads(12, indirect_every=3)
    s['legacy-page-size-not-power-of-two'] = Script(LEGACY).probe([16]) \
        .register('status', 0, True).register('guest_page_size', 12288, True).register('queue_num', 16, True) \
        .register('queue_pfn', (RAM_BASE + 0x30000) // 12288, True).probe([16]).read()
    s['legacy-pfn-near-2-63'] = Script(LEGACY).register('guest_page_size', 0x80000000, True) \
        .register('queue_num', 16, True).register('queue_pfn', 0xffffffff, True).probe([16]).read()
    s['legacy-align-not-power-of-two'] = Script(LEGACY).register('queue_num', 16, True) \
        .register('queue_align', 12288, True).register('queue_pfn', (RAM_BASE + 0x30000) >> 12, True) \
        .probe([16]).read()
    s['legacy-pfn-zero-in-flight'] = Script(LEGACY | DEFERRED).probe([16]).read() \
        .register('queue_sel', 0, True).register('queue_pfn', 0, True).complete() \
        .register('queue_pfn', 0, True).read()
    s['legacy-layout-change-while-live'] = Script(LEGACY).probe([16]).register('queue_num', 4, True) \
        .register('queue_align', 64, True).register('queue_pfn', (RAM_BASE + 0x30000) >> 12, True).read()
    s['legacy-grant-address'] = Script(LEGACY).probe([16]) \
        .request(0x04, IN, 1, 1, data=(1, 0x20000)).request(0x05, IN, 1, 1, data=(0, 0x20000), status=(1, 0x20200)) \
        .read()
    s['legacy-features-beyond-offer'] = Script(LEGACY).register('status', 0, True) \
        .register('driver_features_sel', 1, True).register('driver_features', 1, True) \
        .register('queue_num', 16, True).register('queue_pfn', (RAM_BASE + 0x30000) >> 12, True).probe([16]).read()
    return s


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus', 'request_path')
    for name, script in seeds().items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(bytes(script.b))
    print('wrote %d seeds to %s' % (len(seeds()), out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
