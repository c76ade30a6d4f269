#include "boot/frontend/disk_pattern.h"

#include <cstdio>
#include <cstring>

namespace domd::frontend {
namespace {

constexpr size_t line_bytes = 32;
constexpr size_t lines = sector_bytes / line_bytes;
static_assert(lines == 16);

void put_digits(uint8_t* at, uint64_t value, int width) {
    for (int i = width - 1; i >= 0; --i) {
        at[i] = static_cast<uint8_t>('0' + value % 10);
        value /= 10;
    }
}

}  // namespace

void fill_pattern_sector(uint64_t sector, uint8_t* out) {
    static constexpr char prefix[] = "domd-disk sector ";  // 17 bytes, then 10 digits
    for (size_t l = 0; l < lines; ++l) {
        uint8_t* line = out + l * line_bytes;
        memcpy(line, prefix, sizeof prefix - 1);
        put_digits(line + 17, sector, 10);
        line[27] = ' ';
        put_digits(line + 28, l, 2);
        line[30] = '.';
        line[31] = '\n';
    }
}

void fill_test_sector(uint64_t sector, uint32_t seed, uint8_t* out) {
    uint64_t x = (sector + 1) * 0x9e3779b97f4a7c15ull ^ seed;
    for (size_t i = 0; i < sector_bytes; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[i] = static_cast<uint8_t>(x);
    }
}

bool pattern_base_of(const uint8_t* sector0, uint64_t* base) {
    static constexpr char prefix[] = "domd-disk sector ";
    if (memcmp(sector0, prefix, sizeof prefix - 1) != 0) return false;
    uint64_t value = 0;
    for (int i = 0; i < 10; ++i) {
        const uint8_t digit = sector0[17 + i];
        if (digit < '0' || digit > '9') return false;
        value = value * 10 + (digit - '0');
    }
    uint8_t expected[sector_bytes];
    fill_pattern_sector(value, expected);
    if (memcmp(sector0, expected, sector_bytes) != 0) return false;
    *base = value;
    return true;
}

bool check_pattern(const uint8_t* data, uint64_t first, uint32_t count, char* why, size_t why_size) {
    uint8_t expected[sector_bytes];
    for (uint32_t i = 0; i < count; ++i) {
        fill_pattern_sector(first + i, expected);
        const uint8_t* got = data + size_t{i} * sector_bytes;
        if (memcmp(got, expected, sector_bytes) == 0) continue;
        size_t at = 0;
        while (got[at] == expected[at]) ++at;
        char shown[33];
        size_t line = at / line_bytes * line_bytes;
        for (size_t k = 0; k < 31; ++k) {
            uint8_t c = got[line + k];
            shown[k] = c >= 32 && c < 127 ? static_cast<char>(c) : '?';
        }
        shown[31] = '\0';
        snprintf(why, why_size, "sector %llu byte %zu differs: line reads \"%s\"",
                 static_cast<unsigned long long>(first + i), at, shown);
        return false;
    }
    return true;
}

}  // namespace domd::frontend
