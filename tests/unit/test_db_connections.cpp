// Both drivers through db::Connection: values and NULLs, transactions, commit_after,
// tables_exist, the run lock between two connections, read-only opens and DbError's failure
// kinds. The same checks run on an SQLite file and on a fresh database of the test PostgreSQL
// cluster; the PostgreSQL cases are their own suite (fastappkit::db::postgresql), which CTest
// runs as `unit_postgresql` with the cluster started (tests/unit/CMakeLists.txt).
#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fastappkit/config/database_url.hpp"
#include "fastappkit/db/connection.hpp"
#include "fastappkit/sql/dialect.hpp"
#include "support.hpp"

using namespace fastappkit;
namespace fs = std::filesystem;
using Rows = std::vector<std::vector<std::string>>;
using Stmts = std::vector<std::string>;

namespace {

Rows rows(db::Connection& c, const std::string& sql, const std::vector<std::string>& params = {}) {
  Rows out;
  for (const auto& r : c.query(sql, params)) {
    out.emplace_back();
    for (const auto& v : r) out.back().push_back(v.value_or("NULL"));
  }
  return out;
}

std::string count(db::Connection& c, const std::string& table) {
  return rows(c, "SELECT count(*) FROM " + table).at(0).at(0);
}

struct SqliteDb {
  unit::TempDir dir;
  config::DatabaseUrl url = config::parse_database_url("sqlite:///app.db", dir.path);
  std::unique_ptr<db::Connection> open() const { return db::open(url, db::OpenMode::read_write); }
};

// A fresh database in the test cluster (FASTAPPKIT_TEST_PGHOST: its socket folder), dropped
// afterwards. Without the variable the test fails: it must never pass by skipping.
struct PgDb {
  std::string host = [] {
    const char* h = std::getenv("FASTAPPKIT_TEST_PGHOST");
    REQUIRE_MESSAGE((h && *h),
                    "FASTAPPKIT_TEST_PGHOST is not set: run with ctest (unit_postgresql), which starts "
                    "the test PostgreSQL cluster");
    return std::string(h);
  }();
  std::string name = "fak_unit_" + std::to_string(::getpid()) + "_" + std::to_string(next_id()++);
  config::DatabaseUrl url = config::parse_database_url("postgresql://postgres@/" + name + "?host=" + host, "/");
  PgDb() {
    auto admin = admin_connection();
    admin->execute("DROP DATABASE IF EXISTS " + name);
    admin->execute("CREATE DATABASE " + name);
  }
  ~PgDb() {
    try {
      admin_connection()->execute("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
    } catch (...) {  // a destructor does not throw; the cluster is removed after the run anyway
    }
  }
  PgDb(const PgDb&) = delete;
  PgDb& operator=(const PgDb&) = delete;
  std::unique_ptr<db::Connection> open() const { return db::open(url, db::OpenMode::read_write); }

 private:
  static std::atomic<int>& next_id() {
    static std::atomic<int> n{0};
    return n;
  }
  std::unique_ptr<db::Connection> admin_connection() const {
    return db::open(config::parse_database_url("postgresql://postgres@/postgres?host=" + host, "/"),
                    db::OpenMode::read_write);
  }
};

const char* const kTable = "CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR(20), n INTEGER NOT NULL)";

template <class Db>
void values_and_nulls() {
  Db d;
  auto c = d.open();
  REQUIRE(c);
  c->execute(Stmts{kTable, "INSERT INTO t (id, name, n) VALUES (1, 'one', 10)",
                   "INSERT INTO t (id, name, n) VALUES (2, NULL, 20)",
                   "INSERT INTO t (id, name, n) VALUES (3, 'three', 30)"});
  // NULL comes back as nullopt, not as an empty string or "NULL".
  auto all = c->query("SELECT id, name FROM t ORDER BY id");
  REQUIRE(all.size() == 3);
  CHECK(all[0][1] == std::optional<std::string>("one"));
  CHECK(all[1][1] == std::nullopt);
  // Parameters are bound as text, in the dialect's placeholder form.
  const auto& tr = sql::traits(c->dialect());
  CHECK(rows(*c, "SELECT name FROM t WHERE id = " + tr.placeholder(1) + " OR n = " + tr.placeholder(2), {"3", "10"}) ==
        Rows{{"one"}, {"three"}});
  // scan: every row in order, NULLs as nullopt, and it stops when told to.
  std::vector<std::string> seen;
  c->scan("SELECT id, name FROM t ORDER BY id", [&](db::RowView r) {
    REQUIRE(r.size() == 2);
    seen.push_back(std::string(*r[0]) + "=" + (r[1] ? std::string(*r[1]) : "null"));
    return true;
  });
  CHECK(seen == std::vector<std::string>{"1=one", "2=null", "3=three"});
  int calls = 0;
  c->scan("SELECT id FROM t ORDER BY id", [&](db::RowView) { return ++calls < 2; });
  CHECK(calls == 2);
  // A failing statement among several is the one the error names.
  auto e = unit::error_of<db::DbError>([&] {
    c->execute(Stmts{"UPDATE t SET n = 11 WHERE id = 1", "SELECT nosuch FROM t"});
  });
  REQUIRE(e);
  CHECK(e->failure() == db::Failure::statement);
  CHECK(e->statement() == "SELECT nosuch FROM t");
}

template <class Db>
void transactions() {
  Db d;
  auto c = d.open();
  auto other = d.open();
  c->execute(kTable);
  // Rolled back: nothing stays, whether by rollback() or by a Transaction left uncommitted.
  c->begin();
  c->execute(Stmts{"INSERT INTO t (id, n) VALUES (1, 1)", "CREATE TABLE made_inside (id INTEGER)"});
  CHECK(count(*c, "t") == "1");  // visible inside
  c->rollback();
  CHECK(count(*c, "t") == "0");
  CHECK_FALSE(c->table_exists("made_inside"));
  {
    db::Transaction tx(*c);
    c->execute("INSERT INTO t (id, n) VALUES (2, 2)");
  }
  CHECK(count(*c, "t") == "0");
  // commit_after: the last statements and the commit together; another connection sees them.
  c->begin();
  c->execute("INSERT INTO t (id, n) VALUES (3, 3)");
  c->commit_after({"INSERT INTO t (id, n) VALUES (4, 4)", "UPDATE t SET n = 30 WHERE id = 3"});
  CHECK(rows(*other, "SELECT id, n FROM t ORDER BY id") == Rows{{"3", "30"}, {"4", "4"}});
  // A statement of commit_after that fails leaves the transaction open, to be rolled back: none
  // of its work stays, and the connection is usable afterwards.
  c->begin();
  c->execute("INSERT INTO t (id, n) VALUES (5, 5)");
  auto e = unit::error_of<db::DbError>([&] {
    c->commit_after({"INSERT INTO t (id, n) VALUES (6, 6)", "INSERT INTO nosuch VALUES (1)"});
  });
  REQUIRE(e);
  CHECK(e->statement() == "INSERT INTO nosuch VALUES (1)");
  c->rollback();
  CHECK(rows(*other, "SELECT id FROM t ORDER BY id") == Rows{{"3"}, {"4"}});
  CHECK(rows(*c, "SELECT id FROM t ORDER BY id") == Rows{{"3"}, {"4"}});
  // Transaction::commit with last statements is commit_after.
  {
    db::Transaction tx(*c);
    tx.commit({"DELETE FROM t WHERE id = 4"});
  }
  CHECK(rows(*other, "SELECT id FROM t ORDER BY id") == Rows{{"3"}});
}

template <class Db>
void tables_and_constraints() {
  Db d;
  auto c = d.open();
  c->execute(Stmts{kTable, "CREATE TABLE u (id INTEGER PRIMARY KEY, t_id INTEGER REFERENCES t (id))"});
  CHECK(c->table_exists("t"));
  CHECK_FALSE(c->table_exists("nosuch"));
  CHECK(c->tables_exist({"t", "u"}));
  CHECK_FALSE(c->tables_exist({"t", "nosuch"}));
  CHECK_FALSE(c->tables_exist({"nosuch", "u"}));
  CHECK(c->tables() == std::vector<std::string>{"t", "u"});
  // Constraint violations are Failure::constraint, naming the statement (unique, not null,
  // foreign key: the SQLite connection turns foreign keys on).
  c->execute("INSERT INTO t (id, n) VALUES (1, 1)");
  for (const char* bad : {"INSERT INTO t (id, n) VALUES (1, 2)", "INSERT INTO t (id) VALUES (2)",
                          "INSERT INTO u (id, t_id) VALUES (1, 99)"}) {
    CAPTURE(bad);
    auto e = unit::error_of<db::DbError>([&] { c->execute(bad); });
    REQUIRE(e);
    CHECK(e->failure() == db::Failure::constraint);
    CHECK(e->statement() == bad);
    CHECK(e->kind() == ErrorKind::database);
    if (c->dialect() == sql::Dialect::postgresql) CHECK(unit::starts_with(e->sqlstate(), "23"));
  }
  CHECK(count(*c, "t") == "1");
  CHECK(count(*c, "u") == "0");
}

template <class Db>
void run_lock() {
  Db d;
  auto first = d.open();
  auto second = d.open();
  first->lock_for_run(std::chrono::seconds(5));
  first->lock_for_run(std::chrono::seconds(5));  // taking it again on the same connection is a no-op
  // The second connection is kept out for the whole timeout, then told why.
  const auto t0 = std::chrono::steady_clock::now();
  auto e = unit::error_of<db::DbError>([&] { second->lock_for_run(std::chrono::milliseconds(300)); });
  const auto waited = std::chrono::steady_clock::now() - t0;
  REQUIRE(e);
  CHECK(e->failure() == db::Failure::busy);
  CHECK(unit::contains(e->message(), "another fastappkit run holds the migration lock"));
  CHECK(waited >= std::chrono::milliseconds(300));
  CHECK(waited < std::chrono::seconds(10));
  // The lock is held until the connection closes; then the other one gets it at once.
  first.reset();
  const auto t1 = std::chrono::steady_clock::now();
  second->lock_for_run(std::chrono::seconds(5));
  CHECK(std::chrono::steady_clock::now() - t1 < std::chrono::seconds(2));
  // And now it is the one that keeps a third connection out.
  auto third = d.open();
  auto again = unit::error_of<db::DbError>([&] { third->lock_for_run(std::chrono::milliseconds(100)); });
  REQUIRE(again);
  CHECK(again->failure() == db::Failure::busy);
}

}  // namespace

TEST_SUITE("fastappkit::db") {
  TEST_CASE("SQLite connection: execute, query and scan with NULLs") { values_and_nulls<SqliteDb>(); }
  TEST_CASE("SQLite connection: rollback leaves nothing, commit_after commits") { transactions<SqliteDb>(); }
  TEST_CASE("SQLite connection: tables_exist and constraint failures") { tables_and_constraints<SqliteDb>(); }
  TEST_CASE("SQLite connection: the run lock keeps a second connection out until released") { run_lock<SqliteDb>(); }

  TEST_CASE("SQLite connection: read_only never creates a file") {
    unit::TempDir dir;
    const auto url = config::parse_database_url("sqlite:///missing.db", dir.path);
    CHECK(db::open(url, db::OpenMode::read_only) == nullptr);
    CHECK_FALSE(fs::exists(dir.path / "missing.db"));
    CHECK(fs::is_empty(dir.path));
    // Once it exists, a read-only connection reads it and refuses to write.
    auto rw = db::open(url, db::OpenMode::read_write);
    rw->execute(Stmts{"CREATE TABLE t (id INTEGER)", "INSERT INTO t VALUES (1)"});
    auto ro = db::open(url, db::OpenMode::read_only);
    REQUIRE(ro);
    CHECK(rows(*ro, "SELECT id FROM t") == Rows{{"1"}});
    CHECK(unit::error_of<db::DbError>([&] { ro->execute("INSERT INTO t VALUES (2)"); }));
    CHECK(count(*rw, "t") == "1");
  }
}

TEST_SUITE("fastappkit::db::postgresql") {
  TEST_CASE("PostgreSQL connection: execute, query and scan with NULLs") { values_and_nulls<PgDb>(); }
  TEST_CASE("PostgreSQL connection: rollback leaves nothing, commit_after commits") { transactions<PgDb>(); }
  TEST_CASE("PostgreSQL connection: tables_exist and constraint failures") { tables_and_constraints<PgDb>(); }
  TEST_CASE("PostgreSQL connection: the run lock keeps a second connection out until released") { run_lock<PgDb>(); }
}
