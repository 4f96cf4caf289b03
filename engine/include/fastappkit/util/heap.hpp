#pragma once
// The heap of a command that loads a project grows in transparent huge pages
// (docs/performance.md, "Memory").

namespace fastappkit::util {

// Reserves address space at the top of the heap (virtual only: nothing is touched) and asks the
// kernel to back it with 2 MiB pages (madvise MADV_HUGEPAGE), so a load that builds megabytes of
// revisions takes one page fault per 2 MiB instead of one per 4 KiB. Once per process; the first
// call decides. Returns whether the reservation was made; false (and nothing changed) when
// FASTAPPKIT_NO_HUGE_PAGES is set, when the allocator is not glibc's (sanitizer builds), or when
// the heap could not grow. Never fails a command.
bool grow_heap_in_huge_pages() noexcept;

}  // namespace fastappkit::util
