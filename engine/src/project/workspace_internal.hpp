#pragma once
// Private to engine/src/project: what the Workspace's source files share.
#include "fastappkit/error.hpp"
#include "fastappkit/migration/migration_file.hpp"

namespace fastappkit::project {

// Where an operation was written, for messages at file:line:col.
inline SourceLocation op_location(const migration::Migration& m, const migration::Operation& op) {
  return {m.path, op.line, op.col};
}

}  // namespace fastappkit::project
