#pragma once
// Small text helpers shared by the parsers and the CLI.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fastappkit::util {

// "path:line:col: message" followed by the source line and a caret under the column.
std::string diagnostic(const std::string& path, std::string_view source, int line, int col, const std::string& message);

// The candidate closest to `word` by edit distance, or "" when none is close enough.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

std::string json_escape(std::string_view s);
std::string read_file(const std::string& path);  // throws Error(input) when unreadable
std::uint64_t fnv1a64(std::string_view data);
std::string hex64(std::uint64_t v);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
bool is_valid_app_name(std::string_view name);
// Runs `program` (found on PATH) with `args`, `input` on its stdin, and returns its stdout.
// Throws Error(failed) with `missing_hint` when the program is not on PATH, and with its
// stderr when it fails.
std::string run_filter(const std::string& program, const std::vector<std::string>& args, const std::string& input,
                       const std::string& missing_hint);

}  // namespace fastappkit::util
