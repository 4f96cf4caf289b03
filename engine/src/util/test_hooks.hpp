#pragma once
// Synchronisation points for the end-to-end tests, so that a race is staged, not hoped for.
// Inert (one getenv) unless FASTAPPKIT_TEST_HOLD_DIR names a folder; never set in production.
#include <string_view>

namespace fastappkit::util {

// Creates <dir>/<name>: "this run got here" (e.g. "waiting" when the run lock is busy).
void test_touch(std::string_view name);
// Creates <FASTAPPKIT_TEST_MARK_DIR>/<name>: "this path was taken", for tests that must not
// hold anywhere (test_hold waits only under FASTAPPKIT_TEST_HOLD_DIR).
void test_mark(std::string_view name);
// Creates <dir>/<name> and waits until the test removes it (at most 120 s): the run holds here.
void test_hold(std::string_view name);

}  // namespace fastappkit::util
