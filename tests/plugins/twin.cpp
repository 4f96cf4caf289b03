// Built twice (twin_a, twin_b) with default visibility: both libraries define the SDK's
// inline functions with their function-local statics, and the SDK must keep each library's
// own (tests/e2e/test_e2e_trust.cpp, "two plugins built with default visibility").
#include <fastappkit/plugin.hpp>

FASTAPPKIT_STEP(record) { host.execute("INSERT INTO " TWIN_NAME "_items (who) VALUES (?)", {TWIN_NAME}); }
