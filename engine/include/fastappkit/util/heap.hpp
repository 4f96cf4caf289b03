#pragma once
// The heap of a command that loads a project grows in transparent huge pages
// (docs/performance.md, "Memory").

namespace fastappkit::util {

// Whether malloc is glibc's: not in sanitizer builds, whose runtime brings its own allocator.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kGlibcMalloc = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
inline constexpr bool kGlibcMalloc = false;
#else
inline constexpr bool kGlibcMalloc = true;
#endif
#else
inline constexpr bool kGlibcMalloc = true;
#endif

// Reserves address space at the top of the heap (virtual only: nothing is touched) and asks the
// kernel to back it with 2 MiB pages (madvise MADV_HUGEPAGE), so a load that builds megabytes of
// revisions takes one page fault per 2 MiB instead of one per 4 KiB. Once per process; the first
// call decides. Returns whether the reservation was made; false (and nothing changed) when
// FASTAPPKIT_NO_HUGE_PAGES is set, when the allocator is not glibc's (sanitizer builds), or when
// the heap could not grow. Never fails a command.
bool grow_heap_in_huge_pages() noexcept;

}  // namespace fastappkit::util
