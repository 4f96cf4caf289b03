#pragma once
// Errors that abort a command. Anticipated failures are thrown as fastappkit::Error and
// caught once at the top of the CLI, which prints them (as text, or as JSON with --json) and
// exits with the code their kind maps to.
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace fastappkit {

enum class ErrorKind {
  usage,     // bad command line: exit 2
  input,     // bad configuration, migration file, plugin or graph: exit 2
  database,  // the database refused or failed: exit 1
  failed,    // the operation failed for another reason (lock timeout, check found a difference): exit 1
};

int exit_code_for(ErrorKind kind);

// Where in a file a person wrote an error was made (1-based line and column). Every error a
// person caused in a file carries one, so it prints "file:line:col: ...", the line and a caret,
// and `--json` can give file, line and column as fields.
struct SourceLocation {
  std::string file;
  int line = 0, column = 0;
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message, std::string hint = {})
      : std::runtime_error(message), kind_(kind), message_(std::move(message)), hint_(std::move(hint)) {}
  // An error at a place in a file: what() is "file:line:col: message" followed by the source
  // line and a caret. `source` is the file's text; when empty the line is read from `where.file`
  // if it is a readable file (it may not be: a plugin's embedded files).
  Error(ErrorKind kind, SourceLocation where, std::string message, std::string hint = {}, std::string_view source = {});

  ErrorKind kind() const noexcept { return kind_; }
  // The message without the location prefix and the quoted line.
  const std::string& message() const noexcept { return message_; }
  // One line saying what to do next; may be empty.
  const std::string& hint() const noexcept { return hint_; }
  const std::optional<SourceLocation>& location() const noexcept { return location_; }

 private:
  ErrorKind kind_;
  std::string message_, hint_;
  std::optional<SourceLocation> location_;
};

}  // namespace fastappkit
