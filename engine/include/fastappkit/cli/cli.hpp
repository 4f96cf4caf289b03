#pragma once
// The command line: one table of subcommands, each with its options and handler.
#include <exception>
#include <iosfwd>

namespace fastappkit::cli {

// Runs the CLI; returns the exit code (0 done, 1 failed, 2 bad usage or input).
// Every failure is printed to `err` (and as JSON on `out` with --json), redacted, by one printer.
int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err);
// For `main`: what escaped `run` (it catches std::exception itself; this is for an error while
// printing an error), redacted like every other error.
void print_unexpected(std::ostream& err, const std::exception& e);

}  // namespace fastappkit::cli
