// How a run sends a migration (docs/perf-apply.md): on PostgreSQL its last statements, the
// version-table change, the fastappkit_history row and COMMIT go in one round trip. Whatever
// fails in that batch leaves nothing of the migration behind, and the history row still
// records how long the migration's statements took.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "harness.hpp"

using namespace e2e;

namespace {

constexpr const char* kHead = "4d5e6f708192";

struct Project {
  TempDir dir;
  fs::path root = dir.path / "project";
  std::unique_ptr<Database> db;

  template <class B>
  explicit Project(B) {
    copy_tree(source_dir() / "apps-example", root);
    install_plugins(root);
    db = make_database<B>(dir.path);
  }
  RunResult run(const std::vector<std::string>& args) const {
    return fastappkit(args, root, {{"DATABASE_URL", db->url()}});
  }
  std::vector<std::string> versions() const {
    std::vector<std::string> out;
    for (auto& r : db->query("SELECT version_num FROM alembic_version ORDER BY version_num")) out.push_back(r[0]);
    return out;
  }
  std::string history_count(const std::string& where = "1 = 1") const {
    return db->query("SELECT count(*) FROM fastappkit_history WHERE " + where)[0][0];
  }
  fs::path versions_dir() const { return root / "core" / "db" / "migrations" / "versions"; }
  bool has_table(const std::string& t) const {
    auto tables = db->tables();
    return std::find(tables.begin(), tables.end(), t) != tables.end();
  }
};

// A statement that takes a few hundred milliseconds on the backend.
std::string slow_statement(const Database& db) {
  if (db.backend() == "postgresql") return "SELECT pg_sleep(0.3)";
  return "SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000000) "
         "SELECT x FROM c)";
}

}  // namespace

TEST_SUITE("fastappkit::e2e") {
  TEST_CASE_TEMPLATE("a migration whose last statement fails leaves no version change and no history row", B, Sqlite,
                     Postgresql) {
    Project p{B{}};
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    const std::string rows_before = p.history_count();
    // The failing statement is the migration's last one: it is sent together with the
    // version-table change, the history row and COMMIT.
    write_file(p.versions_dir() / "5e6f708192a3_last_fails.toml", R"TOML(revision = "5e6f708192a3"
down_revision = "4d5e6f708192"
message = "Last statement fails"

[[upgrade]]
op = "create_table"
table = "audit_log"
columns = [ { name = "id", type = "integer", primary_key = true } ]

[[upgrade]]
op = "execute"
sql = "INSERT INTO no_such_table (id) VALUES (1)"

[[downgrade]]
op = "drop_table"
table = "audit_log"
)TOML");
    auto r = p.run({"migrate", "upgrade"});
    CHECK_CODE(r, 1);
    CHECK_ERR(r, "upgrade of core revision 5e6f708192a3 (\"Last statement fails\") failed");
    CHECK_ERR(r, "statement: INSERT INTO no_such_table (id) VALUES (1)");
    CHECK_ERR(r, "no_such_table");
    CHECK_ERR(r, "this migration was rolled back");
    CHECK(p.versions() == std::vector<std::string>{kHead});
    CHECK_FALSE(p.has_table("audit_log"));
    CHECK(p.history_count() == rows_before);
    CHECK(p.history_count("revision = '5e6f708192a3'") == "0");

    // Fixed, it applies, with exactly one history row.
    write_file(p.versions_dir() / "5e6f708192a3_last_fails.toml", R"TOML(revision = "5e6f708192a3"
down_revision = "4d5e6f708192"
message = "Last statement fails"

[[upgrade]]
op = "create_table"
table = "audit_log"
columns = [ { name = "id", type = "integer", primary_key = true } ]

[[downgrade]]
op = "drop_table"
table = "audit_log"
)TOML");
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    CHECK(p.versions() == std::vector<std::string>{"5e6f708192a3"});
    CHECK(p.history_count("revision = '5e6f708192a3' AND direction = 'upgrade' AND app = 'core'") == "1");
  }

  TEST_CASE_TEMPLATE("the history row records the time the migration's statements took", B, Sqlite, Postgresql) {
    Project p{B{}};
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    write_file(p.versions_dir() / "5e6f708192a3_slow.toml", std::string(R"TOML(revision = "5e6f708192a3"
down_revision = "4d5e6f708192"
message = "Slow"

[[upgrade]]
op = "execute"
sql = ")TOML") + slow_statement(*p.db) + R"TOML("

[[downgrade]]
op = "execute"
sql = ")TOML" + slow_statement(*p.db) +
                                                                R"TOML("
)TOML");
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    // The checksum written with the row is the file's: the next run reports no edit...
    auto again = p.run({"migrate", "upgrade"});
    REQUIRE_OK(again);
    CHECK_NO_ERR(again, "changed after it was applied");
    CHECK_NO_OUT(again, "changed after it was applied");
    REQUIRE_OK(p.run({"migrate", "downgrade", "-1"}));
    auto rows = p.db->query(
        "SELECT direction, duration_ms, checksum, app FROM fastappkit_history WHERE revision = '5e6f708192a3' ORDER BY "
        "id");
    REQUIRE(rows.size() == 2);
    CHECK(rows[0][0] == "upgrade");
    CHECK(rows[1][0] == "downgrade");
    for (const auto& row : rows) {
      // The statement's own time is inside: measured after it ran (SQLite) or by the server
      // from the transaction's start to the history row (PostgreSQL).
      CHECK_MESSAGE(std::stoll(row[1]) >= 200, "duration_ms " << row[1]);
      CHECK_MESSAGE(std::stoll(row[1]) < 60000, "duration_ms " << row[1]);
      CHECK(row[3] == "core");
    }
    CHECK(!rows[0][2].empty());
    CHECK(rows[0][2] == rows[1][2]);
    // ... and an edit after it was applied is reported against it.
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    write_file(p.versions_dir() / "5e6f708192a3_slow.toml",
               read_file(p.versions_dir() / "5e6f708192a3_slow.toml") + "# edited\n");
    auto edited = p.run({"migrate", "upgrade"});
    REQUIRE_OK(edited);
    CHECK_MESSAGE(has(edited.out + edited.err, "revision 5e6f708192a3"), describe(edited));
    CHECK_MESSAGE(has(edited.out + edited.err, "changed after it was applied"), describe(edited));
    CHECK(p.history_count("revision = '5e6f708192a3' AND direction = 'upgrade'") == "2");
    // The other migrations' rows are there with their app.
    CHECK(p.history_count("direction = 'upgrade' AND revision = '" + std::string(kHead) + "' AND app = 'core'") == "1");
  }

  TEST_CASE_TEMPLATE("a transactional = false migration's history row includes its statements' time", B, Sqlite,
                     Postgresql) {
    Project p{B{}};
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    // Its statements run one by one before the transaction that writes the version and history
    // rows: the duration must still include them.
    write_file(p.versions_dir() / "5e6f708192a3_slow_outside.toml", std::string(R"TOML(revision = "5e6f708192a3"
down_revision = "4d5e6f708192"
message = "Slow, outside a transaction"
transactional = false

[[upgrade]]
op = "execute"
sql = ")TOML") + slow_statement(*p.db) + R"TOML("

[[downgrade]]
op = "execute"
sql = "SELECT 1"
)TOML");
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    auto rows = p.db->query(
        "SELECT duration_ms FROM fastappkit_history WHERE revision = '5e6f708192a3' AND direction = 'upgrade'");
    REQUIRE(rows.size() == 1);
    // Before it, the progress row of its one statement (docs/migrations.md).
    CHECK(p.db->query("SELECT direction FROM fastappkit_history WHERE revision = '5e6f708192a3' ORDER BY id") ==
          std::vector<std::vector<std::string>>{{"up:1"}, {"upgrade"}});
    CHECK_MESSAGE(std::stoll(rows[0][0]) >= 200, "duration_ms " << rows[0][0]);
    CHECK(p.versions() == std::vector<std::string>{"5e6f708192a3"});
  }
}
