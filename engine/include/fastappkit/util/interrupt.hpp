#pragma once
// SIGINT and SIGTERM during a run (issue 30): the process does not die with a statement in
// flight. The handler records the signal and asks every registered database connection to stop
// what it is doing (PostgreSQL: PQcancel, which libpq documents as safe in a signal handler;
// SQLite: sqlite3_interrupt); the statement fails, its transaction is rolled back, the run stops
// before its next revision, and the command exits 128 + the signal's number saying what was
// rolled back. The run lock is released only after that, when the connections close.
namespace fastappkit::util {

// What the handler calls for a registered target; must be async-signal-safe.
using InterruptFn = void (*)(void* target) noexcept;

// Registers `target` for as long as the object lives. Unregistering waits for a handler that
// is calling `fn(target)` on another thread to return, so the target may be freed afterwards.
class InterruptTarget {
 public:
  InterruptTarget(void* target, InterruptFn fn) noexcept;
  ~InterruptTarget();
  InterruptTarget(const InterruptTarget&) = delete;
  InterruptTarget& operator=(const InterruptTarget&) = delete;

 private:
  int slot_ = -1;
};

// Installs the SIGINT and SIGTERM handlers (main does, once).
void install_interrupt_handlers() noexcept;
// The signal that asked the process to stop, 0 when none has.
int interrupted_signal() noexcept;
// "SIGINT", "SIGTERM".
const char* signal_name(int signal) noexcept;

}  // namespace fastappkit::util
