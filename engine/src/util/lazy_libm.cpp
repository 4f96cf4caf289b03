// The libm functions the executable calls, opened on first use (docs/perf-start.md).
//
// Only SQLite's SQL math functions (cos(), ln(), pow(), ...) and one rounding in the fleet
// summary call libm, yet as a needed library it was mapped and relocated at every start, its
// ifunc resolvers run: 10 of the ~100 page faults of `fastappkit --version`. Linked into the
// executable only with FASTAPPKIT_STATIC_DEPS (engine/CMakeLists.txt, with --as-needed, so
// libm is no longer a needed library); each definition forwards to libm's own, found with
// dlsym on its first call, so results and errno are libm's.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

namespace {

void* libm() {
  static void* handle = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
  return handle;
}

template <class F>
F resolve(const char* name) {
  void* f = libm() ? dlsym(libm(), name) : nullptr;
  if (!f) {
    // libm ships with the C library; without it there is no result to give.
    std::fprintf(stderr, "fastappkit: error: cannot load %s from libm.so.6: %s\n", name, dlerror());
    std::abort();
  }
  return reinterpret_cast<F>(f);
}

}  // namespace

#define FASTAPPKIT_LIBM_1(name)                               \
  extern "C" double name(double x) {                          \
    static const auto f = resolve<double (*)(double)>(#name); \
    return f(x);                                              \
  }
#define FASTAPPKIT_LIBM_2(name)                                       \
  extern "C" double name(double x, double y) {                        \
    static const auto f = resolve<double (*)(double, double)>(#name); \
    return f(x, y);                                                   \
  }

FASTAPPKIT_LIBM_1(acos)
FASTAPPKIT_LIBM_1(acosh)
FASTAPPKIT_LIBM_1(asin)
FASTAPPKIT_LIBM_1(asinh)
FASTAPPKIT_LIBM_1(atan)
FASTAPPKIT_LIBM_1(atanh)
FASTAPPKIT_LIBM_1(cos)
FASTAPPKIT_LIBM_1(cosh)
FASTAPPKIT_LIBM_1(exp)
FASTAPPKIT_LIBM_1(log)
FASTAPPKIT_LIBM_1(sin)
FASTAPPKIT_LIBM_1(sinh)
FASTAPPKIT_LIBM_1(sqrt)
FASTAPPKIT_LIBM_1(tan)
FASTAPPKIT_LIBM_1(tanh)
FASTAPPKIT_LIBM_1(trunc)
FASTAPPKIT_LIBM_2(atan2)
FASTAPPKIT_LIBM_2(fmod)
FASTAPPKIT_LIBM_2(pow)

extern "C" long long llround(double x) {
  static const auto f = resolve<long long (*)(double)>("llround");
  return f(x);
}
