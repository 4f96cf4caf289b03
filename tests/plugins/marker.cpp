// A valid plugin whose initialiser leaves a trace: when FASTAPPKIT_TEST_MARKER names a file,
// loading the library appends a line to it, so a test can prove a refused library was never
// opened (tests/e2e/test_e2e_trust.cpp).
#include <cstdio>
#include <cstdlib>

namespace {
struct Marker {
  Marker() {
    if (const char* path = std::getenv("FASTAPPKIT_TEST_MARKER")) {
      if (std::FILE* f = std::fopen(path, "a")) {
        std::fputs("libmarker was opened\n", f);
        std::fclose(f);
      }
    }
  }
};
const Marker marker;
}  // namespace
