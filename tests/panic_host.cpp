// Host tests: a panic is a failed invariant of domd's own code; fail the whole run loudly.
#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include "kernel/panic.h"

namespace domd {

void panic(const char* format, ...) {
    va_list args;
    va_start(args, format);
    fprintf(stderr, "domd panic: ");
    vfprintf(stderr, format, args);
    fprintf(stderr, "\n");
    va_end(args);
    abort();
}

}  // namespace domd
