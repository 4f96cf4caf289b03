#pragma once
// The command line: one table of subcommands, each with its options and handler.
#include <iosfwd>

namespace fastappkit::cli {

// Runs the CLI; returns the exit code (0 done, 1 failed, 2 bad usage or input).
// Anticipated failures are printed to `err`; only truly unexpected exceptions escape.
int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace fastappkit::cli
