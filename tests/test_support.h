// Included first by every host test instead of CppUTest/TestHarness.h: adds printing of
// domd's types to CppUTest's assertions. CppUTest's leak detector redefines `new`, which
// breaks standard headers included after it, so the ones tests use come first.
#pragma once

#include <algorithm>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <CppUTest/TestHarness.h>

#include "kernel/result.h"

namespace domd {
inline SimpleString StringFrom(Err e) { return SimpleString(err_name(e)); }
}  // namespace domd
