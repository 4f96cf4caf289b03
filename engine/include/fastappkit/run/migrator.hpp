#pragma once
// Applies a plan to a database: one transaction per migration together with its version-table
// change (SPEC §6, §9), or writes the same SQL as a script for preview.
#include <chrono>
#include <functional>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fastappkit/db/connection.hpp"
#include "fastappkit/migration/graph.hpp"

namespace fastappkit::run {

// The exact DDL Alembic emits for its version table, so either tool can take a database over.
std::string version_table_ddl(const std::string& table);
std::string history_table_ddl(sql::Dialect d);
inline constexpr const char* kHistoryTable = "fastappkit_history";

struct Step {
  const migration::Migration* migration = nullptr;
  migration::Direction direction = migration::Direction::upgrade;
  std::vector<std::string> statements;
  // `call` operations, each to run before statements[index] (index == size: after all).
  std::vector<std::pair<std::size_t, const migration::Operation*>> calls;
  bool sqlite_rebuild = false;
  // SQLite table rebuilds, each standing for statements[first, first + count) (its part known
  // without a database); when it runs, those are replaced by the statements for the live
  // sqlite_master (sql::expand_rebuild), in a transaction of its own in a transactional = false file.
  struct Rebuild {
    std::size_t first = 0, count = 0;
    sql::SqliteRebuild rebuild;
  };
  std::vector<Rebuild> rebuilds;
};

// Runs a `call` operation (a plugin's C++ step) on the connection, inside the migration's
// transaction; throws db::DbError with the plugin's message when the step fails.
using CallHandler = std::function<void(const migration::Operation& call, db::Connection& conn)>;

struct StepReport {
  const Step& step;
  std::string app;  // the migration's app, or the migrator's label
  double milliseconds = 0;
  bool skipped = false;  // another run applied it first
};

// How a run waits for the locks its DDL needs (PostgreSQL; SQLite serialises writers with its
// busy timeout). Each statement gives up after `lock_timeout`, so it never queues the
// application's queries behind it for longer; a transactional migration that gave up is rolled
// back and tried again up to `retries` times, after `backoff` * 2^n plus up to half of that again.
struct DdlPolicy {
  std::chrono::milliseconds lock_timeout{5000};
  int retries = 3;
  std::chrono::milliseconds backoff{500};
  std::function<void(const std::string& message)> on_retry;  // each retry, with the blocking sessions
};

class Migrator {
 public:
  // `label` names the graph's owner in messages and fastappkit_history ("core", or an app).
  Migrator(const migration::RevisionGraph& graph, std::string label, std::string version_table, sql::Dialect dialect,
           CallHandler calls = {});

  const std::string& label() const { return label_; }
  const std::string& version_table() const { return version_table_; }

  // Rows of the version table; empty when there is no database, table or row.
  std::vector<std::string> current(db::Connection* conn) const;

  // The schema the migrations give for a set of applied revisions.
  migration::Schema state_of(const std::set<std::string>& applied) const;

  // Renders every step before anything runs, so a step that cannot be rendered stops the run
  // with the database untouched.
  std::vector<Step> render(const migration::Plan& plan, const std::vector<std::string>& current) const;

  // SQL statements that move the version table from `rows` across `step`; updates `rows`.
  std::vector<std::string> version_change(std::vector<std::string>& rows, const std::string& revision,
                                          migration::Direction d) const;

  // The whole plan as an SQL script, as `run` would send it (preview).
  void write_script(std::ostream& out, const migration::Plan& plan, const std::vector<std::string>& current,
                    bool version_table_exists) const;
  // The same, from steps `render` already made for that plan.
  void write_script(std::ostream& out, const std::vector<Step>& steps, const std::vector<std::string>& current,
                    bool version_table_exists) const;

  // Creates the version and history tables when absent (own transaction).
  void ensure_tables(db::Connection& conn) const;

  // Runs `steps` in order. Each step re-reads the version table inside its transaction and
  // is skipped if another run got there first. A failure rolls the step back and throws a
  // DbError naming app, revision, file, statement and the database's message.
  // On PostgreSQL every statement waits at most ddl.lock_timeout for a lock (SET lock_timeout);
  // a transactional migration that hit it is retried per `ddl`; the final failure names the
  // sessions that hold locks on the migration's tables (pid, lock mode, state, query).
  void run(db::Connection& conn, const std::vector<Step>& steps, const std::function<void(const StepReport&)>& report,
           const DdlPolicy& ddl = {}) const;

  // Sets the version table as Alembic's `stamp TARGET [--purge]` does, without running
  // migrations (migration::stamp_rows); returns the rows written. Throws, writing nothing,
  // for a bad target or (without purge) a row the graph does not know.
  // On PostgreSQL every statement waits at most ddl.lock_timeout for a lock; when one gives up,
  // nothing is written and the error names the sessions holding locks on the version table.
  std::vector<std::string> stamp(db::Connection& conn, std::string_view target, bool purge,
                                 const DdlPolicy& ddl = {}) const;

  // Adoption (SPEC §12): writes `revision` as the version table's one row and a fastappkit_history
  // row with direction 'adopt' (the revision's checksum, so a later edit of it is reported), in
  // one transaction, creating both tables when absent. Throws, writing nothing, when the version
  // table has rows.
  void adopt(db::Connection& conn, const std::string& revision) const;

  // transactional = false revisions an earlier run stopped in the middle of: revision -> how many
  // of its statements (a SQLite rebuild counting as the statements it stands for) are committed.
  // Read from fastappkit_history's progress rows ("up:N" / "down:N", written after each statement
  // of such a revision; a later full row ends them), for `revisions` only (no query when there
  // are none). Empty without the history table.
  std::map<std::string, std::size_t> half_applied(db::Connection& conn, migration::Direction d,
                                                  const std::vector<std::string>& revisions) const;

  // Revisions whose file changed after they were applied or adopted (checksum in fastappkit_history).
  std::vector<std::string> modified_since_applied(db::Connection& conn, const std::set<std::string>& applied) const;

 private:
  const migration::RevisionGraph& graph_;
  // Runs the step's statements and calls. `one_by_one`: each statement alone, all of them run;
  // else the statements after the last call or rebuild are returned, not run, for the caller
  // to send with the version-table change, the history row and COMMIT (one round trip).
  // `start`: statements[0, start) are done already (a transactional = false revision resumed);
  // `progress`, one by one only: called with how many statements are done after each one.
  std::vector<std::string> execute_step(db::Connection& conn, const Step& step, bool one_by_one, std::size_t start = 0,
                                        const std::function<void(std::size_t)>& progress = {}) const;
  // Where a transactional = false step resumes: 0, or the statements an earlier run committed when
  // they read the same now; throws, running nothing, when they do not.
  std::size_t resume_point(db::Connection& conn, const Step& step) const;
  // The last progress row of each of `revisions` since its last whole row: statements committed
  // and the checksum of their text.
  struct Progress {
    std::size_t statements = 0;
    std::string checksum;
  };
  std::map<std::string, Progress> progress_of(db::Connection& conn, migration::Direction d,
                                              const std::vector<std::string>& revisions) const;
  // The fastappkit_history row of a step; `duration_ms` is an SQL expression.
  std::string history_insert(const migration::Migration& m, migration::Direction d,
                             const std::string& duration_ms) const;
  // "\n  table 't' is locked (Mode) by pid N (state): query" for each session holding a lock
  // on a table `step` names; "" when the catalog cannot be read.
  std::string blocker_text(db::Connection& conn, const Step& step) const;
  // "\n  table 't' is locked (mode) by pid N (state): query" for each session holding a lock on `tables`.
  std::string lockers_of(db::Connection& conn, const std::set<std::string>& tables) const;

  std::string label_, version_table_;
  sql::Dialect dialect_;
  CallHandler calls_;
};

}  // namespace fastappkit::run
