#include "blk/disk_layout.h"

#include <cstring>

#include "kernel/number.h"

namespace domd::blk {
namespace {

std::string_view take(std::string_view& rest, char separator) {
    size_t at = rest.find(separator);
    std::string_view part = at == std::string_view::npos ? rest : std::string_view(rest.data(), at);
    rest.remove_prefix(at == std::string_view::npos ? rest.size() : at + 1);
    return part;
}

bool valid_name(std::string_view name) {
    if (name.empty() || name.size() > DiskCatalog::max_name) return false;
    for (char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.'))
            return false;
    return true;
}

Result<uint64_t> parse_size(std::string_view text) {
    if (text.empty()) return Err::invalid;
    uint64_t unit = 1;
    switch (text.back()) {
        case 'K': unit = uint64_t{1} << 10; break;
        case 'M': unit = uint64_t{1} << 20; break;
        case 'G': unit = uint64_t{1} << 30; break;
        default: break;
    }
    if (unit != 1) text.remove_suffix(1);
    uint64_t n = TRY(parse_unsigned(text));
    if (n > UINT64_MAX / unit) return Err::range;
    uint64_t bytes = n * unit;
    if (bytes % sector_size != 0) return Err::invalid;
    return bytes;
}

}  // namespace

Result<size_t> parse_disk_layout(std::string_view text, uint64_t total, std::span<DiskSpec> out) {
    if (text.empty()) return Err::invalid;
    size_t count = 0;
    uint64_t offset = 0;
    std::string_view rest = text;
    while (true) {
        if (rest.empty()) return Err::invalid;  // an empty entry (a trailing comma)
        std::string_view entry = take(rest, ',');
        bool last = rest.empty() && entry.data() + entry.size() == text.data() + text.size();
        if (!entry.empty() && entry.back() == ':') return Err::invalid;  // "a:" names no field
        std::string_view name = take(entry, ':');
        if (!valid_name(name)) return Err::invalid;
        std::string_view size_text;
        bool read_only = false;
        DeviceProfile profile;
        bool legacy = false, split = false;
        bool flagged = false;  // a flag was seen: the size, if any, came before it
        while (!entry.empty()) {
            std::string_view field = take(entry, ':');
            bool* flag = field == "ro" ? &read_only : field == "legacy" ? &legacy : field == "split" ? &split : nullptr;
            if (flag != nullptr && !*flag) {
                *flag = true;
                flagged = true;
            } else if (flag == nullptr && size_text.empty() && !flagged && !field.empty()) {
                size_text = field;
            } else {
                return Err::invalid;  // a repeated flag, a second size, a size after a flag
            }
        }
        profile.legacy_mmio = legacy;
        profile.packed_rings = !split && !legacy;  // packed rings need version 2
        for (size_t i = 0; i < count; ++i)
            if (out[i].name_view() == name) return Err::exists;
        if (count == out.size()) return Err::too_big;
        uint64_t size;
        if (size_text.empty()) {
            if (!last) return Err::invalid;  // only the last disk takes the rest
            size = (total - offset) / sector_size * sector_size;
        } else {
            size = TRY(parse_size(size_text));
        }
        if (size == 0 || size > total - offset) return Err::range;
        DiskSpec& d = out[count++];
        memcpy(d.name, name.data(), name.size());
        d.name[name.size()] = '\0';
        d.name_len = name.size();
        d.offset = offset;
        d.size = size;
        d.read_only = read_only;
        d.profile = profile;
        offset += size;
        if (last) break;
    }
    return count;
}

}  // namespace domd::blk
