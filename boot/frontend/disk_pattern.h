// The lab's test disk (tools/lab/make-disk-image): every 512-byte sector is 16 lines of 32
// bytes, "domd-disk sector NNNNNNNNNN LL.\n" (sector number, line number), so a sector read
// from the wrong place, shifted or torn names itself.
#pragma once

#include <cstddef>
#include <cstdint>

namespace domd::frontend {

inline constexpr size_t sector_bytes = 512;

// Writes the expected content of `sector` into `out` (512 bytes).
void fill_pattern_sector(uint64_t sector, uint8_t* out);
// Another deterministic content for write tests, unlike the disk's own.
void fill_test_sector(uint64_t sector, uint32_t seed, uint8_t* out);

// A disk that is a piece of the lab image (named disks split it) starts at some sector of the
// image: its first sector's line names which. False if `sector0` is not a pattern sector.
bool pattern_base_of(const uint8_t* sector0, uint64_t* base);

// Compares `count` sectors at `data` with the disk's pattern from `first`. On a mismatch,
// returns false and describes the first one (which sector, what it holds) into `why`.
bool check_pattern(const uint8_t* data, uint64_t first, uint32_t count, char* why, size_t why_size);

}  // namespace domd::frontend
