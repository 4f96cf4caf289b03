// `migrate stamp` under the DDL lock timeout (issue 16): on PostgreSQL a session holding a lock
// on the version table makes stamp give up within --ddl-lock-timeout, naming the blocker, with
// nothing written; once the lock is gone the same stamp succeeds.
#include <doctest/doctest.h>
#include <libpq-fe.h>

#include <chrono>

#include "harness.hpp"

using namespace e2e;

namespace {

constexpr const char* kBase = R"(revision = "aaaaaaaaaaa1"
message = "users"
[[upgrade]]
op = "create_table"
table = "users"
columns = [ { name = "id", type = "integer", primary_key = true } ]
)";

constexpr const char* kNext = R"(revision = "bbbbbbbbbbb2"
down_revision = "aaaaaaaaaaa1"
message = "nick"
[[upgrade]]
op = "add_column"
table = "users"
column = { name = "nick", type = "text" }
)";

// A PostgreSQL session of the test's own, outside fastappkit, for holding locks.
class Session {
 public:
  explicit Session(const std::string& url) : c_(PQconnectdb(url.c_str())) {
    REQUIRE_MESSAGE(PQstatus(c_) == CONNECTION_OK, PQerrorMessage(c_));
  }
  ~Session() { PQfinish(c_); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  bool exec(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return ok;
  }
  int pid() const { return PQbackendPID(c_); }

 private:
  PGconn* c_;
};

// A project of two revisions on a fresh PostgreSQL database, upgraded to the first.
struct Project {
  TempDir dir;
  fs::path root = dir.path / "proj";
  std::unique_ptr<Database> db;
  Project() {
    REQUIRE_OK(fastappkit({"core", "new", "proj"}, dir.path));
    const fs::path versions = root / "core" / "db" / "migrations" / "versions";
    write_file(versions / "aaaaaaaaaaa1_users.toml", kBase);
    write_file(versions / "bbbbbbbbbbb2_nick.toml", kNext);
    db = make_postgresql();
    REQUIRE_OK(run({"migrate", "upgrade", "--revision", "aaaaaaaaaaa1"}));
  }
  RunResult run(const std::vector<std::string>& args) const {
    return fastappkit(args, root, {{"DATABASE_URL", db->url()}});
  }
  std::vector<std::vector<std::string>> rows() const { return db->query("SELECT version_num FROM alembic_version"); }
};

}  // namespace

TEST_SUITE("fastappkit::e2e::lint") {
  TEST_CASE("PostgreSQL: stamp gives up after --ddl-lock-timeout on a locked version table, naming the blocker") {
    Project p;
    auto& db = p.db;
    auto run = [&](const std::vector<std::string>& args) { return p.run(args); };
    auto rows = [&] { return p.rows(); };

    for (const char* mode : {"EXCLUSIVE", "ACCESS EXCLUSIVE"}) {
      CAPTURE(mode);
      Session blocker(db->url());
      REQUIRE(blocker.exec("BEGIN"));
      REQUIRE(blocker.exec(std::string("LOCK TABLE alembic_version IN ") + mode + " MODE"));
      auto t0 = std::chrono::steady_clock::now();
      auto r = run({"migrate", "stamp", "bbbbbbbbbbb2", "--ddl-lock-timeout", "0.3"});
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      CHECK_CODE(r, 1);
      CHECK_ERR(r, "canceling statement due to lock timeout");
      CHECK_ERR(r, "it waited more than 300 ms for a lock");
      CHECK_ERR(r, "table 'alembic_version' is locked (" +
                       std::string(std::string(mode) == "EXCLUSIVE" ? "ExclusiveLock" : "AccessExclusiveLock") +
                       ") by pid " + std::to_string(blocker.pid()) +
                       " (idle in transaction): LOCK TABLE alembic_version");
      CHECK_ERR(r, "nothing was written");
      CHECK_ERR(r, "pg_terminate_backend");
      // Well under the 5 s default: the option is what it waited.
      CHECK(s < 3);
      REQUIRE(blocker.exec("ROLLBACK"));
      CHECK(rows() == std::vector<std::vector<std::string>>{{"aaaaaaaaaaa1"}});
    }

    // Nobody holds it: the same stamp goes through.
    REQUIRE_OK(run({"migrate", "stamp", "bbbbbbbbbbb2", "--ddl-lock-timeout", "0.3"}));
    CHECK(rows() == std::vector<std::vector<std::string>>{{"bbbbbbbbbbb2"}});
    // Stamping records without running: the column was never added.
    CHECK(db->query("SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'nick'")
              .empty());
  }

  TEST_CASE("PostgreSQL: upgrade gives up after --ddl-lock-timeout when its planning reads meet a locked table") {
    // Planning reads alembic_version and fastappkit_history before any migration runs; a session
    // holding ACCESS EXCLUSIVE on either made the run wait without limit (issue 30, item 2).
    Project p;
    auto& db = p.db;
    auto run = [&](const std::vector<std::string>& args) { return p.run(args); };
    auto rows = [&] { return p.rows(); };
    for (const char* table : {"alembic_version", "fastappkit_history"}) {
      CAPTURE(table);
      Session blocker(db->url());
      REQUIRE(blocker.exec("BEGIN"));
      REQUIRE(blocker.exec(std::string("LOCK TABLE ") + table + " IN ACCESS EXCLUSIVE MODE"));
      auto t0 = std::chrono::steady_clock::now();
      auto r = run({"migrate", "upgrade", "--ddl-lock-timeout", "0.5", "--ddl-retries", "1", "--lock-timeout", "5"});
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      CHECK_CODE(r, 1);
      CHECK_ERR(r, "reading the version tables waited more than 500 ms for a lock; nothing was run");
      CHECK_ERR(r, "--ddl-lock-timeout sets how long");
      CHECK_MESSAGE(s < 30, "the run waited " << s << " s");
      REQUIRE(blocker.exec("ROLLBACK"));
      CHECK(rows() == std::vector<std::vector<std::string>>{{"aaaaaaaaaaa1"}});
    }
    REQUIRE_OK(run({"migrate", "upgrade"}));
    CHECK(rows() == std::vector<std::vector<std::string>>{{"bbbbbbbbbbb2"}});
  }
}
