// The heap of a loading command grows in transparent huge pages (fastappkit/util/heap.hpp,
// docs/performance.md "Memory").
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "fastappkit/util/heap.hpp"

namespace {

std::string thp_mode() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  std::getline(in, line);
  return line;
}

// The "THPeligible:" line of /proc/self/smaps for the mapping holding `address`, or -1.
int thp_eligible(const void* address) {
  const auto a = reinterpret_cast<std::uintptr_t>(address);
  std::ifstream in("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    std::uintptr_t from = 0, to = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &from, &to) == 2) {
      inside = from <= a && a < to;
      continue;
    }
    if (inside && line.rfind("THPeligible:", 0) == 0) return std::atoi(line.c_str() + 12);
  }
  return -1;
}

}  // namespace

TEST_CASE("a loading command's heap grows in huge pages where the kernel and the allocator allow it") {
  const bool made = fastappkit::util::grow_heap_in_huge_pages();
  CHECK(fastappkit::util::grow_heap_in_huge_pages() == made);  // once per process; the first call decides
  const std::string mode = thp_mode();
  if (!fastappkit::util::kGlibcMalloc || std::getenv("FASTAPPKIT_NO_HUGE_PAGES") != nullptr || mode.empty() ||
      mode.find("[never]") != std::string::npos) {
    CHECK_FALSE((!fastappkit::util::kGlibcMalloc && made));
    return;
  }
  REQUIRE(made);
  // 16 MiB is below the mmap threshold the reservation sets (32 MiB), so it comes from the heap,
  // from the reserved range: the mapping holding its middle is eligible for huge pages.
  constexpr std::size_t size = std::size_t{16} << 20;
  auto* block = static_cast<char*>(std::malloc(size));
  REQUIRE(block != nullptr);
  std::memset(block, 1, size);
  CHECK(thp_eligible(block + size / 2) == 1);
  std::free(block);
}
