#pragma once
// The two backends, and what differs between them in one place. Code outside the drivers and
// the renderer asks traits(dialect) instead of testing which dialect it has.
#include <string>
#include <string_view>

#include "fastappkit/config/backend.hpp"

namespace fastappkit::sql {

using Dialect = config::Backend;

struct DialectTraits {
  std::string_view name;  // "sqlite" / "postgresql": URLs, execute keys, messages
  // The catalog reports the names of unique and foreign-key constraints (SQLite keeps none),
  // so `check` compares them.
  bool keeps_constraint_names;
  // Parameters are written $1, $2, ... (PostgreSQL) rather than ? (SQLite).
  bool numbered_placeholders;
  // Table DDL the engine writes for its own bookkeeping.
  std::string_view identity_key;    // fastappkit_history's id column
  std::string_view timestamp_type;  // a point in time
  std::string_view version_query;   // the server's version, for plugins
  // The n-th (1-based) parameter placeholder.
  std::string placeholder(int n) const { return numbered_placeholders ? "$" + std::to_string(n) : std::string("?"); }
  // "?, ?, ?" or "$1, $2, $3".
  std::string placeholders(int count) const {
    std::string out;
    for (int i = 1; i <= count; ++i) out += (i > 1 ? ", " : "") + placeholder(i);
    return out;
  }
};

const DialectTraits& traits(Dialect d);
inline std::string_view dialect_name(Dialect d) { return traits(d).name; }

}  // namespace fastappkit::sql
