// libFuzzer harness for the text parsers that read what others wrote: strict numbers
// (xenstore values), command-line words, xenstore permission strings and directory listings.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kernel/callback.h"
#include "kernel/command_line.h"
#include "kernel/number.h"
#include "xen/xenstore.h"

namespace {
void visit(void*, std::string_view key, std::string_view) {
    if (key.find(' ') != std::string_view::npos) __builtin_trap();  // words never contain blanks
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto decimal = domd::parse_unsigned(text);
    auto any = domd::parse_unsigned(text, domd::NumberFormat::decimal_or_hex);
    if (decimal.ok() && (!any.ok() || any.value() != decimal.value())) __builtin_trap();
    (void)domd::parse_bool(text);
    domd::for_each_option(text, domd::Callback<void(std::string_view, std::string_view)>::from(visit, nullptr));
    auto perm = domd::xen::parse_xs_perm(text);
    if (perm.ok()) {
        char out[domd::xen::xs_perm_text_max];
        auto n = domd::xen::format_xs_perm(perm.value(), out);
        if (!n.ok() || std::string_view(out, n.value()) != text) __builtin_trap();  // round trip
    }
    auto listing = domd::xen::XsDirectory::parse(text);
    if (listing.ok())
        for (std::string_view name : listing.value())
            if (name.empty() || name.find('/') != std::string_view::npos) __builtin_trap();
    return 0;
}
