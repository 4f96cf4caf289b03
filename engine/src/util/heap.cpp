// Heap growth in transparent huge pages (fastappkit/util/heap.hpp).
//
// Why: a command that loads a long history builds its revisions in the heap (about 16 MiB at
// N = 1,000), and every fresh 4 KiB page costs a page fault, which is tens of microseconds on a
// virtual machine: `migrate preview` of 1,000 revisions took 4,000 faults, most of its time.
// glibc can do this itself (GLIBC_TUNABLES=glibc.malloc.hugetlb=1 madvises each heap extension),
// but tunables are read at start-up from the environment, and `--version` would pay for them too.
//
// How: with glibc's malloc, the main arena grows the heap with sbrk by the request plus M_TOP_PAD.
// Setting M_TOP_PAD to the reservation and asking for more than the top chunk holds makes one
// sbrk of that size; the block is freed at once (M_TRIM_THRESHOLD keeps the top from being given
// back), and madvise(MADV_HUGEPAGE) marks the new range: each aligned 2 MiB block in it is backed
// by one huge page on its first touch (Documentation/admin-guide/mm/transhuge.rst, "madvise").
// Where THP is off (enabled = never) the advice is ignored; nothing else changes.
#include "fastappkit/util/heap.hpp"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

namespace fastappkit::util {
namespace {

constexpr int kReserve = 256 << 20;        // address space; pages are touched only when used
constexpr int kMmapThreshold = 32 << 20;   // glibc's maximum: large vectors stay in the heap
constexpr int kTrimThreshold = 1 << 30;    // the freed reservation is kept, not trimmed
constexpr int kDefaultTopPad = 128 << 10;  // glibc's default, restored after the reservation

bool reserve() noexcept {
  if (!kGlibcMalloc || std::getenv("FASTAPPKIT_NO_HUGE_PAGES") != nullptr) return false;
  mallopt(M_MMAP_THRESHOLD, kMmapThreshold);
  mallopt(M_TRIM_THRESHOLD, kTrimThreshold);
  mallopt(M_TOP_PAD, kReserve);
  auto* before = static_cast<char*>(sbrk(0));
  // More than the top chunk holds (keepcost is its size in the main arena), so malloc must grow.
  const struct mallinfo2 info = mallinfo2();
  void* block = std::malloc(info.keepcost + 4096);
  std::free(block);
  mallopt(M_TOP_PAD, kDefaultTopPad);
  auto* after = static_cast<char*>(sbrk(0));
  const auto at = [](const char* p) { return reinterpret_cast<std::uintptr_t>(p); };
  if (block == nullptr || at(before) == UINTPTR_MAX || after <= before) return false;  // sbrk's (void*)-1
  const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  char* begin = before + (page - at(before) % page) % page;  // the first whole page of the new range
  if (after <= begin) return false;
  return madvise(begin, static_cast<std::size_t>(after - begin), MADV_HUGEPAGE) == 0;
}

}  // namespace

bool grow_heap_in_huge_pages() noexcept {
  static const bool made = reserve();  // once, even when threads race to it
  return made;
}

}  // namespace fastappkit::util
