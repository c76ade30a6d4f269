// Ring variants for host tests: what must behave the same whatever the ring format and the
// transport version runs three times through VARIANT_TEST: split rings on virtio-mmio version 2,
// packed rings (section 2.8) on version 2, and split rings on the legacy transport (version 1,
// section 4.2.4, rings placed by QueuePFN). Packed rings need version 2 (VIRTIO_F_RING_PACKED
// needs VERSION_1), so there is no fourth.
#pragma once

namespace domd::test {

struct Variant {
    bool packed;  // VIRTIO_F_RING_PACKED wanted
    bool legacy;  // the legacy transport
};
constexpr Variant split_v2{false, false};
constexpr Variant packed_v2{true, false};
constexpr Variant split_legacy{false, true};

}  // namespace domd::test

// One test body, three tests (named _split, _packed, _legacy) so a failure names its variant.
#define VARIANT_TEST(group, name)                                                     \
    static void group##_##name##_body(::domd::test::Variant);                         \
    TEST(group, name##_split) { group##_##name##_body(::domd::test::split_v2); }      \
    TEST(group, name##_packed) { group##_##name##_body(::domd::test::packed_v2); }    \
    TEST(group, name##_legacy) { group##_##name##_body(::domd::test::split_legacy); } \
    static void group##_##name##_body([[maybe_unused]] ::domd::test::Variant variant)
