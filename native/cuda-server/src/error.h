// Two kinds of failure (see STYLE.md): bad input throws `Error` with a message that names the
// thing and says expected vs got; broken internal invariants abort through BG_ASSERT.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace bg {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace bg

#define BG_ASSERT(cond)                                                              \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)
