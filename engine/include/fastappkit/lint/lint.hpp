#pragma once
// Online-safety and destructive-change rules over revision files (SPEC §11, `migrate lint`):
// what an operation does on the server (lock level, table rewrite or scan, data lost) and the
// safe alternative written as operations the engine runs. Works offline on the operations and
// the schema the revision's ancestors give; never opens a database.
#include <string>
#include <string_view>
#include <vector>

#include "fastappkit/migration/graph.hpp"
#include "fastappkit/sql/dialect.hpp"

namespace fastappkit::lint {

enum class Level { error, warning };
std::string_view level_name(Level l);

struct Rule {
  std::string_view id;
  Level level;
  bool postgresql_only;                // false: fires on every backend
  std::string_view title;              // one line, for the docs and --json
  std::string_view squawk;             // the matching squawk rule ("" when none)
  std::string_view strong_migrations;  // the matching strong_migrations check ("" when none)
};

// Every rule, in the order the docs list them.
const std::vector<Rule>& rules();
const Rule* find_rule(std::string_view id);

struct Finding {
  std::string rule;
  Level level = Level::error;
  std::string app;  // "core" or the app the revision belongs to
  std::string revision;
  std::string file;
  int line = 0, column = 0;  // of the operation's [[upgrade]] entry
  std::string operation;     // op kind, e.g. "create_index"
  std::string what;          // what happens on the server
  std::string fix;           // the safe alternative, as revision-file operations (TOML) or a step list
  bool ignored = false;      // silenced by the operation's lint_ignore
};

// Lints the upgrade operations of `migration`, starting from the schema `before` it (which is
// advanced through its operations). Throws Error(input) at the operation's file:line:col for a
// lint_ignore entry that names no rule.
std::vector<Finding> lint_migration(const migration::Migration& migration, migration::Schema& before,
                                    sql::Dialect dialect, const std::string& app);

// Lints `revisions` (each with the schema its ancestors give, replayed once in dependency
// order, so a graph of thousands of revisions takes milliseconds), in dependency order.
std::vector<Finding> lint_graph(const migration::RevisionGraph& graph, const std::set<std::string>& revisions,
                                sql::Dialect dialect, const std::string& app);

// The text form of one finding: "file:line:col: level [rule] app revision: what", then the fix indented.
std::string format(const Finding& f);

}  // namespace fastappkit::lint
