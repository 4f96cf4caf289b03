// util/interrupt.hpp: a fixed table of targets the signal handler reaches without locks or
// allocation (async-signal-safe: atomics on lock-free pointers and counters only).
#include "fastappkit/util/interrupt.hpp"

#include <atomic>
#include <csignal>
#include <thread>

namespace fastappkit::util {

namespace {

constexpr int kSlots = 256;  // a fleet run holds at most --jobs (64) databases open at once

struct Slot {
  std::atomic<void*> target{nullptr};
  std::atomic<InterruptFn> fn{nullptr};
  std::atomic<int> calling{0};  // handlers inside fn(target) right now
  std::atomic<bool> taken{false};
};

Slot slots[kSlots];
std::atomic<int> received{0};

static_assert(std::atomic<void*>::is_always_lock_free && std::atomic<int>::is_always_lock_free);

std::atomic<int> registered{0};

extern "C" void on_signal(int signal) {
  // No database connection is open: nothing can be left half done, so the signal does what it
  // does by default (the process ends), as before any handler was installed.
  if (registered.load() == 0) {
    std::signal(signal, SIG_DFL);
    std::raise(signal);
    return;
  }
  int none = 0;
  received.compare_exchange_strong(none, signal);
  for (auto& s : slots) {
    s.calling.fetch_add(1);
    void* target = s.target.load();
    InterruptFn fn = s.fn.load();
    if (target && fn) fn(target);
    s.calling.fetch_sub(1);
  }
}

}  // namespace

InterruptTarget::InterruptTarget(void* target, InterruptFn fn) noexcept {
  for (int i = 0; i < kSlots; ++i) {
    bool free = false;
    if (slots[i].taken.compare_exchange_strong(free, true)) {
      slots[i].fn.store(fn);
      slots[i].target.store(target);
      registered.fetch_add(1);
      slot_ = i;
      return;
    }
  }
  // More connections than slots: this one is not interrupted, the run still ends cleanly when
  // its statement does.
}

InterruptTarget::~InterruptTarget() {
  if (slot_ < 0) return;
  auto& s = slots[slot_];
  s.target.store(nullptr);
  // A handler on another thread may have read the pointer before it was cleared.
  while (s.calling.load() != 0) std::this_thread::yield();
  s.fn.store(nullptr);
  s.taken.store(false);
  registered.fetch_sub(1);
}

void install_interrupt_handlers() noexcept {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  // A write past `ulimit -f` fails with EFBIG (SQLite then says the disk is full, and rolls
  // back) instead of killing the process with a hot journal left behind.
  signal(SIGXFSZ, SIG_IGN);
}

int interrupted_signal() noexcept { return received.load(); }

const char* signal_name(int signal) noexcept {
  switch (signal) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    default:
      return "a signal";
  }
}

}  // namespace fastappkit::util
