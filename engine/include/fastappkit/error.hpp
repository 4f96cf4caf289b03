#pragma once
// Errors that abort a command. Anticipated failures are thrown as fastappkit::Error and
// caught once in main, which prints them and exits with the code their kind maps to.
#include <stdexcept>
#include <string>

namespace fastappkit {

enum class ErrorKind {
  usage,     // bad command line: exit 2
  input,     // bad configuration, migration file, plugin or graph: exit 2
  database,  // the database refused or failed: exit 1
  failed,    // the operation failed for another reason (lock timeout, check found a difference): exit 1
};

int exit_code_for(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message, std::string hint = {})
      : std::runtime_error(message), kind_(kind), hint_(std::move(hint)) {}
  ErrorKind kind() const noexcept { return kind_; }
  // One line saying what to do next; may be empty.
  const std::string& hint() const noexcept { return hint_; }

 private:
  ErrorKind kind_;
  std::string hint_;
};

}  // namespace fastappkit
