#pragma once
// The small driver interface SQLite and PostgreSQL implement. No driver header leaks from here.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fastappkit/config/database_url.hpp"
#include "fastappkit/error.hpp"
#include "fastappkit/sql/render.hpp"

namespace fastappkit::db {

enum class Failure {
  connect,     // could not open or reach the database
  statement,   // the database rejected a statement (syntax, missing object, type)
  constraint,  // a constraint failed (unique, foreign key, not null, check)
  busy,        // a lock could not be had in time
  other,
};

class DbError : public Error {
 public:
  DbError(Failure failure, std::string message, std::string statement = {}, std::string sqlstate = {},
          std::string hint = {})
      : Error(ErrorKind::database, std::move(message), std::move(hint)),
        failure_(failure),
        statement_(std::move(statement)),
        sqlstate_(std::move(sqlstate)) {}
  Failure failure() const noexcept { return failure_; }
  const std::string& statement() const noexcept { return statement_; }  // the failing statement, if any
  const std::string& sqlstate() const noexcept { return sqlstate_; }    // PostgreSQL's SQLSTATE, if any

 private:
  Failure failure_;
  std::string statement_, sqlstate_;
};

// What lock_for_run throws when another run kept the run lock for all of `timeout` (both backends).
inline DbError run_lock_busy(const std::string& database, std::chrono::milliseconds timeout) {
  return DbError(Failure::busy,
                 "another fastappkit run holds the migration lock on " + database + " (waited " +
                     std::to_string(timeout.count() / 1000) + " s)",
                 {}, {}, "wait for the other run to finish, or raise --lock-timeout");
}

using Row = std::vector<std::optional<std::string>>;
// One row's values as text (nullopt: NULL), pointing into the driver's buffers: valid only while
// the function that receives them runs.
using RowView = std::span<const std::optional<std::string_view>>;

class Connection {
 public:
  virtual ~Connection() = default;
  virtual sql::Dialect dialect() const = 0;
  virtual std::string describe() const = 0;  // redacted, for messages

  // Runs statements in order, as few round trips as the driver allows. Throws DbError whose
  // statement() is the one that failed; earlier ones in an open transaction stay uncommitted.
  virtual void execute(const std::vector<std::string>& statements) = 0;
  void execute(const std::string& statement) { execute(std::vector<std::string>{statement}); }
  // One statement with $1.. / ? placeholders bound to text values; every value as text.
  virtual std::vector<Row> query(const std::string& sql, const std::vector<std::string>& params = {}) = 0;
  // Runs one statement without parameters and hands its rows to `row` in the order the database
  // returns them, copying no value; `row` returns false to stop. For results too large to copy
  // for nothing (the no-op's read of fastappkit_history). Throws as query does.
  virtual void scan(const std::string& sql, const std::function<bool(RowView)>& row) = 0;

  // Starts a transaction that holds the database's write lock where the database has one
  // (SQLite: BEGIN IMMEDIATE, waiting up to the lock timeout).
  virtual void begin() = 0;
  virtual void commit() = 0;
  // Runs `last`, then commits: one round trip where the driver can (PostgreSQL). Throws as
  // execute does, the transaction left open (to be rolled back) when a statement fails.
  virtual void commit_after(const std::vector<std::string>& last) {
    execute(last);
    commit();
  }
  virtual void rollback() noexcept = 0;  // Never throws: used on error paths.

  virtual bool table_exists(const std::string& name) = 0;
  // Whether every one of these tables exists: on PostgreSQL one catalog query for all of them
  // (a round trip, and on a new connection the first catalog read, is most of what a read
  // costs there).
  virtual bool tables_exist(const std::vector<std::string>& names) {
    for (const auto& n : names)
      if (!table_exists(n)) return false;
    return true;
  }
  virtual std::vector<std::string> tables() = 0;  // user tables, sorted

  // The live schema of the user's tables, read from the database's catalog, in the engine's
  // dialect-neutral model. Leaves out fastappkit's own tables (alembic_version*,
  // fastappkit_history). Types the engine does not map come back as text with
  // `unmapped_types` naming them ("table.column: TYPE").
  virtual migration::Schema reflect(std::vector<std::string>* unmapped_types = nullptr) = 0;

  // `expected` (what the migrations say) in the form this database stores it, so that `check`
  // compares like with like and reports no difference the database itself made. PostgreSQL
  // normalises the default expressions itself: they are created in temporary tables inside a
  // transaction that is rolled back and read back with pg_get_expr (a default it cannot create
  // stays as written). SQLite declares integer-family identity keys INTEGER (the rowid alias)
  // and keeps defaults as written. Never changes the database.
  virtual migration::Schema as_stored(migration::Schema expected) = 0;

  // Serialises whole runs against one database for up to `timeout`; held until the connection
  // closes. PostgreSQL: advisory lock on its own session; SQLite: an fcntl lock on a byte of the
  // database file that SQLite itself never locks (and how long a writer waits for SQLite's).
  virtual void lock_for_run(std::chrono::milliseconds timeout) = 0;
  // Throws DbError(connect) when the run lock taken by lock_for_run is no longer held (the
  // PostgreSQL session that holds it was ended); the migrator asks before each revision. Costs
  // no round trip. SQLite's lock is the process's own open file: always held.
  virtual void check_run_lock() {}
};

// RAII transaction: rolls back unless committed. Never throws from its destructor.
class Transaction {
 public:
  explicit Transaction(Connection& c) : c_(c) { c_.begin(); }
  ~Transaction() {
    if (!done_) c_.rollback();
  }
  // Runs `last` (statements that end the transaction's work, see Connection::commit_after)
  // and commits.
  void commit(const std::vector<std::string>& last = {}) {
    if (last.empty())
      c_.commit();
    else
      c_.commit_after(last);
    done_ = true;
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

 private:
  Connection& c_;
  bool done_ = false;
};

enum class OpenMode {
  read_write,
  read_only,  // never writes; a SQLite file that does not exist yields nullptr, not a new file
};

std::unique_ptr<Connection> open(const config::DatabaseUrl& url, OpenMode mode,
                                 std::chrono::milliseconds lock_timeout = std::chrono::seconds(60));

std::unique_ptr<Connection> open_sqlite(const config::DatabaseUrl& url, OpenMode mode,
                                        std::chrono::milliseconds lock_timeout);
// PostgreSQL takes no lock timeout here: lock_for_run gets the run lock's, and the migrator
// sets lock_timeout for DDL (run::DdlPolicy).
std::unique_ptr<Connection> open_postgresql(const config::DatabaseUrl& url, OpenMode mode);

}  // namespace fastappkit::db
