#pragma once
// Offline validation of migration operations: every table, column, index and constraint an
// operation names is checked against the schema its revision's ancestors give, before any
// database is opened, so a wrong name is an error at file:line:col on every backend (SQLite
// would otherwise accept some of them, PostgreSQL fail on them half-way).
#include "fastappkit/migration/graph.hpp"

namespace fastappkit::migration {

struct ValidateOptions {
  // A plugin's foreign keys may reference core's tables, which its own graph does not define.
  bool foreign_tables_allowed = false;
};

// Walks the graph in topological order, each revision starting from its parent's replayed
// state (a merge or a depends_on replays its ancestors), and checks its upgrade operations in
// order, then its downgrade operations against the state after its upgrade: the tables and
// columns named by indexes, constraints, foreign keys, alter/drop/rename exist, and the names
// made are free. Raw SQL is taken into account: after an `execute` with CREATE/DROP INDEX,
// its index names are taken and drop_index on its table is not checked; after other DDL
// (ALTER TABLE, CREATE TABLE, anything not recognised) every name it mentions is not checked;
// CREATE VIEW/TRIGGER/FUNCTION and data statements change nothing checked; tables no
// revision creates are accepted once any raw SQL ran; after a plugin's `call` nothing is
// checked. Throws Error(input) at the operation's file:line:col.
void validate_operations(const RevisionGraph& graph, const ValidateOptions& options = {});

}  // namespace fastappkit::migration
