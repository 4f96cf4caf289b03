#pragma once
// Fleets and tenants (SPEC §10): one command over many databases. A fleet file lists database
// URLs; the project is loaded, checked and rendered once, then each database is run on its
// own (its own connection, run lock and transactions, exactly as a single run) by up to N
// worker threads. The result is a value the CLI prints as a table or JSON.
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fastappkit/config/database_url.hpp"
#include "fastappkit/error.hpp"
#include "fastappkit/project/workspace.hpp"
#include "fastappkit/run/migrator.hpp"

namespace fastappkit::project {

// One line of a fleet file.
struct FleetDatabase {
  config::DatabaseUrl url;
  int line = 0;
};

// Reads a fleet file: one database URL per line, `#` comments and blank lines skipped,
// `${VAR}` replaced by the environment variable VAR (so passwords stay out of the file);
// relative SQLite paths are relative to `root`. Throws Error(input) at file:line:col for an
// unset variable, a bad URL, an in-memory SQLite database, the same database twice, or a file
// with no URL; a line is shown only with its passwords replaced by ***.
std::vector<FleetDatabase> read_fleet(const std::filesystem::path& file, const std::filesystem::path& root);

// `text` with every ${NAME} replaced from `lookup` (NAME: letters, digits, _). Throws
// Error(input) at the reference (`where.column` is the column just before `text` starts on its
// line) for an unset variable or an unterminated or empty reference; `shown` is the line as it
// may be printed.
std::string expand_variables(std::string_view text, const SourceLocation& where, std::string_view shown,
                             const std::function<std::optional<std::string>(const std::string&)>& lookup);

enum class FleetState {
  done,         // the command ran on this database
  failed,       // it stopped with an error (the database is as a single failed run leaves it)
  not_started,  // --fail-fast: another database failed first
};

std::string_view to_string(FleetState s);

// What happened on one database.
struct DatabaseOutcome {
  std::string database;  // redacted URL
  int line = 0;          // in the fleet file
  FleetState state = FleetState::not_started;
  std::string detail;  // one phrase for the table: "applied 5", "up to date", "3 pending", "2 differences"
  // Per app, in run order: migrations applied (or reverted) by a run, pending ones for status.
  std::vector<std::pair<std::string, std::size_t>> counts;
  std::vector<std::string> differences;  // check: "app: difference"
  std::vector<std::string> revisions;    // current, stamp: the revisions core is at afterwards
  std::string script;                    // preview: the SQL this database would run
  std::vector<lint::Finding> findings;   // lint: the findings of the revisions it has not applied
  std::vector<std::string> notes;        // warnings (a revision edited after it was applied)
  double milliseconds = 0;
  std::optional<Error> error;
  // check found a difference, or lint an error that no lint_ignore silences: exit 1.
  bool flagged() const;
  std::size_t total() const;
  // Adds `n` to the app's count (an entry for the app first, in order of appearance).
  void add(const std::string& app, std::size_t n);
};

struct FleetSummary {
  std::vector<DatabaseOutcome> databases;  // in fleet-file order
  unsigned jobs = 1;
  double milliseconds = 0;  // wall time of the whole fleet
  std::size_t count(FleetState s) const;
  std::size_t total() const;  // sum of every database's counts
  bool ok() const { return count(FleetState::done) == databases.size(); }
};

struct FleetOptions {
  unsigned jobs = 4;
  bool fail_fast = false;
};

// Runs `work` for every database, up to `jobs` at a time, each in its own thread with its own
// connection. `work` fills the outcome's detail and counts; an Error or other exception it
// throws marks that database failed and the others go on (with fail_fast no new database
// starts after a failure). `finished` is called, one at a time, as each database finishes.
using FleetWork = std::function<void(const FleetDatabase&, DatabaseOutcome&)>;
FleetSummary run_fleet(const std::vector<FleetDatabase>& fleet, const FleetOptions& options, const FleetWork& work,
                       const std::function<void(const DatabaseOutcome&)>& finished = {});

// migrate status over a fleet: pending migrations per app (read-only).
void status_database(const Workspace& w, const config::DatabaseUrl& url, std::chrono::milliseconds lock_timeout,
                     DatabaseOutcome& out);
// migrate current over a fleet: the revisions core's version table is at, as Alembic's
// `current` shows them (migration::current_heads); reads nothing else and creates nothing.
void current_database(const Workspace& w, const config::DatabaseUrl& url, std::chrono::milliseconds lock_timeout,
                      DatabaseOutcome& out);
// migrate stamp over a fleet: as a single stamp (the database's run lock, then core's version
// table set to `revision` in one transaction, `purge` as --purge); runs no migration.
void stamp_database(const Workspace& w, const std::string& revision, bool purge, const config::DatabaseUrl& url,
                    std::chrono::milliseconds lock_timeout, DatabaseOutcome& out, const run::DdlPolicy& ddl = {});
// migrate lint over a fleet: the rules over the revisions this database has not applied (all of
// them for an SQLite file not created yet), on `dialect` or else the database's own; counts are
// the findings per app that no lint_ignore silences.
void lint_database(const Workspace& w, std::optional<sql::Dialect> dialect, const config::DatabaseUrl& url,
                   std::chrono::milliseconds lock_timeout, DatabaseOutcome& out);
// migrate check over a fleet: every difference between models, migrations and the database.
void check_database(const Workspace& w, const config::DatabaseUrl& url, std::chrono::milliseconds lock_timeout,
                    DatabaseOutcome& out);

}  // namespace fastappkit::project
