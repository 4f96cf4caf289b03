// Faults from outside (issue 30, items 1 and 3): a run stopped by SIGINT, SIGTERM or SIGKILL in
// the middle of a statement, a write past `ulimit -f`, a busy SQLite file, and the PostgreSQL
// session holding the run lock ended by the server. Each fault is made for real on the real
// binary; the staged points are the database's own (a statement seen running in
// pg_stat_activity, SQLite's journal on disk) or the test hooks (FASTAPPKIT_TEST_HOLD_DIR).
#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <thread>

#include "harness.hpp"

using namespace e2e;

namespace {

// A revision that writes a lot in one statement: SQLite is inside it for seconds, its rollback
// journal on disk.
std::string big_insert(long long rows) {
  return R"toml(revision = "bbbbbbbbbbb2"
down_revision = "aaaaaaaaaaa1"
message = "big"
[[upgrade]]
op = "create_table"
table = "big"
columns = [ { name = "id", type = "integer", primary_key = true }, { name = "v", type = "text" } ]
[[upgrade]]
op = "execute"
sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < )toml" +
         std::to_string(rows) + R"toml() INSERT INTO big (v) SELECT 'row number ' || x FROM c"
[[downgrade]]
op = "drop_table"
table = "big"
)toml";
}

constexpr const char* kKeep = R"toml(revision = "aaaaaaaaaaa1"
message = "keep"
[[upgrade]]
op = "create_table"
table = "keep"
columns = [ { name = "id", type = "integer", primary_key = true }, { name = "v", type = "text" } ]
[[upgrade]]
op = "execute"
sql = "INSERT INTO keep (v) VALUES ('kept')"
[[downgrade]]
op = "drop_table"
table = "keep"
)toml";

struct SqliteRun {
  TempDir dir;
  fs::path root = dir.path / "proj";
  fs::path versions = root / "core" / "db" / "migrations" / "versions";
  std::unique_ptr<Database> db = make_sqlite(dir.path);
  std::string file = db->url().substr(std::string("sqlite:///").size());
  explicit SqliteRun(long long rows) {
    REQUIRE_OK(fastappkit({"core", "new", "proj"}, dir.path));
    write_file(versions / "aaaaaaaaaaa1_keep.toml", kKeep);
    REQUIRE_OK(run({"migrate", "upgrade"}));
    write_file(versions / "bbbbbbbbbbb2_big.toml", big_insert(rows));
  }
  RunResult run(const std::vector<std::string>& args) const {
    return fastappkit(args, root, {{"DATABASE_URL", db->url()}});
  }
  std::unique_ptr<Background> start(const std::vector<std::string>& args) const {
    return std::make_unique<Background>(args, root, std::map<std::string, std::string>{{"DATABASE_URL", db->url()}});
  }
  // The big insert is running: its journal holds pages already.
  bool inserting() const {
    std::error_code ec;
    return fs::file_size(file + "-journal", ec) > 0 && !ec;
  }
};

}  // namespace

TEST_SUITE("fastappkit::e2e::faults") {
  TEST_CASE("SQLite: SIGINT and SIGTERM in the middle of a statement roll it back and exit 130 / 143") {
    for (int sig : {SIGINT, SIGTERM}) {
      CAPTURE(sig);
      SqliteRun p(200000000);
      auto child = p.start({"migrate", "upgrade"});
      REQUIRE(wait_until([&] { return p.inserting(); }));
      child->signal(sig);
      auto r = child->wait();
      CHECK_CODE(r, 128 + sig);
      CHECK_ERR(r, sig == SIGINT ? "interrupted by SIGINT" : "interrupted by SIGTERM");
      CHECK_ERR(r, "revision bbbbbbbbbbb2");
      CHECK_ERR(r, "this migration was rolled back");
      CHECK_ERR(r, "run the command again");
      // Rolled back by SQLite before the process ended: no journal is left behind.
      CHECK_FALSE(fs::exists(p.file + "-journal"));
      CHECK(p.db->query("SELECT version_num FROM alembic_version") ==
            std::vector<std::vector<std::string>>{{"aaaaaaaaaaa1"}});
      CHECK(p.db->query("SELECT v FROM keep") == std::vector<std::vector<std::string>>{{"kept"}});
      write_file(p.versions / "bbbbbbbbbbb2_big.toml", big_insert(10));
      REQUIRE_OK(p.run({"migrate", "upgrade"}));
      CHECK(p.db->query("SELECT count(*) FROM big")[0][0] == "10");
    }
  }

  TEST_CASE("SQLite: after SIGKILL mid-insert the hot journal is rolled back by the next command, reading ones too") {
    SqliteRun p(200000000);
    auto child = p.start({"migrate", "upgrade"});
    REQUIRE(wait_until([&] { return p.inserting(); }));
    child->signal(SIGKILL);
    CHECK(child->wait().code == 128 + SIGKILL);
    REQUIRE(fs::file_size(p.file + "-journal") > 0);  // a hot journal, as the kill left it
    auto status = p.run({"migrate", "status"});
    CHECK_CODE(status, 0);
    CHECK_OUT(status, "aaaaaaaaaaa1");
    CHECK_OUT(status, "pending:       1");
    CHECK_NO_ERR(status, "permissions");
    auto current = p.run({"migrate", "current"});
    CHECK_CODE(current, 0);
    CHECK_OUT(current, "aaaaaaaaaaa1");
    CHECK(p.db->query("SELECT v FROM keep") == std::vector<std::vector<std::string>>{{"kept"}});
    CHECK(p.db->query("SELECT count(*) FROM sqlite_master WHERE name = 'big'")[0][0] == "0");
    write_file(p.versions / "bbbbbbbbbbb2_big.toml", big_insert(10));
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
  }

  TEST_CASE("SQLite: a write past ulimit -f says the file-size limit was reached; the step is rolled back") {
    SqliteRun p(5000000);
    std::string out;
    const int rc = shell("cd '" + p.root.string() + "' && ulimit -f 4096 && DATABASE_URL='" + p.db->url() + "' '" +
                             FASTAPPKIT_BIN + "' migrate upgrade",
                         &out);
    CHECK_MESSAGE(rc == 1, out);
    CHECK_HAS(out, "the disk is full, or the file-size limit (ulimit -f) was reached");
    CHECK_HAS(out, "this migration was rolled back");
    CHECK_LACKS(out, "permissions");
    CHECK_FALSE(fs::exists(p.file + "-journal"));
    CHECK_OUT(p.run({"migrate", "current"}), "aaaaaaaaaaa1");
    CHECK(p.db->query("SELECT v FROM keep") == std::vector<std::vector<std::string>>{{"kept"}});
  }

  TEST_CASE("SQLite: a database another connection holds exclusively is reported busy, not as a permissions problem") {
    SqliteRun p(10);
    SQLite::Database other(p.file, SQLite::OPEN_READWRITE);
    other.exec("BEGIN EXCLUSIVE");
    other.exec("INSERT INTO keep (v) VALUES ('held')");
    auto r = p.run({"migrate", "status", "--lock-timeout", "0.2"});
    CHECK_CODE(r, 1);
    CHECK_ERR(r, "is locked by another connection");
    CHECK_ERR(r, "raise --lock-timeout");
    CHECK_NO_ERR(r, "permissions");
    other.exec("ROLLBACK");
    CHECK_CODE(p.run({"migrate", "status"}), 0);
  }
}

namespace {

constexpr const char* kFirst = R"toml(revision = "aaaaaaaaaaa1"
message = "t"
[[upgrade]]
op = "create_table"
table = "t"
columns = [ { name = "id", type = "integer", primary_key = true } ]
[[downgrade]]
op = "drop_table"
table = "t"
)toml";

std::string slow(const std::string& sql) {
  return R"toml(revision = "bbbbbbbbbbb2"
down_revision = "aaaaaaaaaaa1"
message = "slow"
[[upgrade]]
op = "create_table"
table = "u"
columns = [ { name = "id", type = "integer", primary_key = true } ]
[[upgrade]]
op = "execute"
sql = ")toml" +
         sql + R"toml("
[[downgrade]]
op = "drop_table"
table = "u"
)toml";
}

struct PgRun {
  TempDir dir;
  TempDir hooks;
  fs::path root = dir.path / "proj";
  fs::path versions = root / "core" / "db" / "migrations" / "versions";
  std::unique_ptr<Database> db = make_postgresql();
  PgRun() {
    REQUIRE_OK(fastappkit({"core", "new", "proj"}, dir.path));
    write_file(versions / "aaaaaaaaaaa1_t.toml", kFirst);
  }
  std::map<std::string, std::string> env(bool hold = false) const {
    std::map<std::string, std::string> e{{"DATABASE_URL", db->url()}};
    if (hold) e["FASTAPPKIT_TEST_HOLD_DIR"] = hooks.path.string();
    return e;
  }
  RunResult run(const std::vector<std::string>& args) const { return fastappkit(args, root, env()); }
  std::vector<std::vector<std::string>> version() const { return db->query("SELECT version_num FROM alembic_version"); }
  std::string sessions(const std::string& like) const {
    return db->query("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fastappkit' AND query LIKE '" +
                     like + "'")[0][0];
  }
};

}  // namespace

TEST_SUITE("fastappkit::e2e::faults") {
  TEST_CASE("PostgreSQL: SIGINT and SIGTERM cancel the statement in flight; nothing commits after the process ends") {
    for (int sig : {SIGINT, SIGTERM}) {
      CAPTURE(sig);
      PgRun p;
      write_file(p.versions / "bbbbbbbbbbb2_slow.toml", slow("SELECT pg_sleep(60)"));
      auto child = std::make_unique<Background>(std::vector<std::string>{"migrate", "upgrade"}, p.root, p.env());
      REQUIRE(wait_until([&] { return p.sessions("%pg_sleep%") == "1"; }));
      child->signal(sig);
      auto r = child->wait();
      CHECK_CODE(r, 128 + sig);
      CHECK_ERR(r, sig == SIGINT ? "interrupted by SIGINT" : "interrupted by SIGTERM");
      CHECK_ERR(r, "canceling statement due to user request");
      CHECK_ERR(r, "this migration was rolled back");
      // The cancelled transaction is gone with the process, and stays gone: no backend of the run
      // is left running it, and the revision is not applied.
      CHECK(p.sessions("%") == "0");
      CHECK(p.version() == std::vector<std::vector<std::string>>{{"aaaaaaaaaaa1"}});
      CHECK(p.db->query("SELECT to_regclass('u') IS NULL")[0][0] == "t");
      // An immediate rerun takes the lock and applies it without colliding with anything.
      write_file(p.versions / "bbbbbbbbbbb2_slow.toml", slow("SELECT 1"));
      REQUIRE_OK(p.run({"migrate", "upgrade", "--lock-timeout", "5"}));
      CHECK(p.version() == std::vector<std::vector<std::string>>{{"bbbbbbbbbbb2"}});
    }
  }

  TEST_CASE("PostgreSQL: a run whose lock session the server ended stops before its next revision") {
    PgRun p;
    write_file(p.versions / "bbbbbbbbbbb2_slow.toml", slow("SELECT 1"));
    auto child = std::make_unique<Background>(std::vector<std::string>{"migrate", "upgrade"}, p.root, p.env(true));
    // The first revision holds inside its transaction ("holding"), then between the two ("between").
    REQUIRE(wait_until([&] { return fs::exists(p.hooks.path / "holding"); }));
    fs::remove(p.hooks.path / "holding");
    REQUIRE(wait_until([&] { return fs::exists(p.hooks.path / "between"); }));
    p.db->exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'fastappkit' AND query "
        "LIKE '%advisory%'");
    REQUIRE(wait_until([&] { return p.sessions("%advisory%") == "0"; }));
    fs::remove(p.hooks.path / "between");
    auto r = child->wait();
    CHECK_CODE(r, 1);
    CHECK_ERR(r, "the session holding the run lock");
    CHECK_ERR(r, "was lost");
    CHECK(p.version() == std::vector<std::vector<std::string>>{{"aaaaaaaaaaa1"}});
    CHECK(p.db->query("SELECT to_regclass('u') IS NULL")[0][0] == "t");
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    CHECK(p.version() == std::vector<std::vector<std::string>>{{"bbbbbbbbbbb2"}});
  }
}

namespace {

// A transactional = false revision of three statements whose third is `third`.
std::string three_statements(const std::string& third) {
  return R"toml(revision = "ccccccccccc3"
message = "three tables"
transactional = false
[[upgrade]]
op = "execute"
sql = "CREATE TABLE t1 (id INTEGER)"
[[upgrade]]
op = "execute"
sql = "CREATE TABLE t2 (id INTEGER)"
[[upgrade]]
op = "execute"
sql = ")toml" +
         third +
         R"toml("
[[downgrade]]
op = "execute"
sql = "DROP TABLE t3"
[[downgrade]]
op = "execute"
sql = "DROP TABLE t2"
[[downgrade]]
op = "execute"
sql = "DROP TABLE t1"
)toml";
}

}  // namespace

TEST_SUITE("fastappkit::e2e::faults") {
  TEST_CASE_TEMPLATE("transactional = false: a rerun goes on after the statements a failed run committed", B, Sqlite,
                     Postgresql) {
    TempDir dir;
    REQUIRE_OK(fastappkit({"core", "new", "proj"}, dir.path));
    const fs::path root = dir.path / "proj";
    const fs::path file = root / "core" / "db" / "migrations" / "versions" / "ccccccccccc3_three.toml";
    auto db = make_database<B>(dir.path);
    auto run = [&](const std::vector<std::string>& args) {
      return fastappkit(args, root, {{"DATABASE_URL", db->url()}});
    };
    // The third statement is wrong (t1 exists by then): the first two stay committed.
    write_file(file, three_statements("CREATE TABLE t1 (id INTEGER)"));
    auto failed = run({"migrate", "upgrade"});
    CHECK_CODE(failed, 1);
    CHECK_ERR(failed, "statements before the failing one stay committed");
    CHECK_ERR(failed, "the next run goes on after them");
    auto status = run({"migrate", "status"});
    CHECK_OUT(status, "ccccccccccc3  three tables  (half applied: its first 2 statement(s) are committed");
    CHECK(json_of(run({"migrate", "status", "--json"}))["apps"][0]["half_applied"]["ccccccccccc3"] == 2);

    // Fixing the failing statement is enough: the rerun starts at it.
    write_file(file, three_statements("CREATE TABLE t3 (id INTEGER)"));
    auto fixed = run({"migrate", "upgrade"});
    REQUIRE_OK(fixed);
    CHECK(db->query("SELECT version_num FROM alembic_version") ==
          std::vector<std::vector<std::string>>{{"ccccccccccc3"}});
    for (const char* t : {"t1", "t2", "t3"}) CHECK(db->query(std::string("SELECT count(*) FROM ") + t)[0][0] == "0");
    CHECK_NO_OUT(run({"migrate", "status"}), "half applied");

    // Down and up again on a clean slate; then a half-applied revision whose committed part was
    // edited afterwards is refused, naming what ran and how to clear it, and nothing runs.
    REQUIRE_OK(run({"migrate", "downgrade", "base"}));
    write_file(file, three_statements("CREATE TABLE t1 (id INTEGER)"));
    CHECK_CODE(run({"migrate", "upgrade"}), 1);
    std::string edited = three_statements("CREATE TABLE t3 (id INTEGER)");
    edited.replace(edited.find("CREATE TABLE t2"), 15, "CREATE TABLE t9");
    write_file(file, edited);
    auto refused = run({"migrate", "upgrade"});
    CHECK_CODE(refused, 2);
    CHECK_ERR(refused, "is half applied");
    CHECK_ERR(refused, "2. CREATE TABLE t9 (id INTEGER)");
    CHECK_ERR(refused, "nothing was run");
    CHECK_ERR(refused, "DELETE FROM fastappkit_history WHERE app = 'core' AND revision = 'ccccccccccc3'");
    CHECK(db->query("SELECT count(*) FROM alembic_version")[0][0] == "0");
  }
}
