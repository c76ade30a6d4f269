// The PV console ring (xen/io/console.h): we produce into `out`, xenconsoled consumes; the
// peer produces into `in`. Indices are free-running 32-bit counters masked on use. The peer's
// indices are untrusted: an index that claims more data than the ring holds is a protocol error.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "kernel/result.h"

struct xencons_interface;

namespace domd::xen {

class ConsoleRing {
public:
    explicit ConsoleRing(xencons_interface& ring) : ring_(ring) {}

    // Copies as much of `text` as fits into the out ring; returns the bytes written.
    Result<size_t> write(std::string_view text);
    // Free space in the out ring right now.
    Result<size_t> space() const;
    // Copies pending input (what `xl console` typed) into `buffer`; returns the bytes read.
    Result<size_t> read(std::span<char> buffer);

private:
    xencons_interface& ring_;
};

}  // namespace domd::xen
