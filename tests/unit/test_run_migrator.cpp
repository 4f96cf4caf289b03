// run::Migrator on a real SQLite file: render and run, the version table and
// fastappkit_history after it, a failing step rolled back, a step another run already applied
// skipped, and foreign keys back on after every way out of an SQLite table rebuild.
#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fastappkit/config/database_url.hpp"
#include "fastappkit/db/connection.hpp"
#include "fastappkit/migration/graph.hpp"
#include "fastappkit/migration/migration_file.hpp"
#include "fastappkit/run/migrator.hpp"
#include "support.hpp"

using namespace fastappkit;
using migration::Direction;
using migration::Migration;
using migration::RevisionGraph;
using Ids = std::vector<std::string>;
using Rows = std::vector<std::vector<std::string>>;

namespace {

const std::string kA = "a00000000001", kB = "b00000000002", kC = "c00000000003";

// parents <- children (a foreign key), so that a rebuild of children runs with foreign keys
// off and must turn them on again.
const std::string kCreate = R"TOML(revision = "a00000000001"
message = "parents and children"
[[upgrade]]
op = "create_table"
table = "parents"
columns = [ { name = "id", type = "integer", primary_key = true } ]
[[upgrade]]
op = "create_table"
table = "children"
columns = [
  { name = "id", type = "integer", primary_key = true },
  { name = "parent_id", type = "integer", foreign_key = "parents.id" },
  { name = "note", type = "string", length = 20 },
]
[[downgrade]]
op = "drop_table"
table = "children"
[[downgrade]]
op = "drop_table"
table = "parents"
)TOML";

const std::string kAddColumn = R"TOML(revision = "b00000000002"
down_revision = "a00000000001"
message = "children.extra"
[[upgrade]]
op = "add_column"
table = "children"
column = { name = "extra", type = "text" }
[[downgrade]]
op = "drop_column"
table = "children"
column = "extra"
)TOML";

// A table rebuild on SQLite (NOT NULL with a default: the 12-step rebuild), by default outside
// a migration-wide transaction (`head` goes before the operations).
std::string rebuild(const std::string& head = "transactional = false\n") {
  return "revision = \"c00000000003\"\ndown_revision = \"b00000000002\"\nmessage = \"children.note not null\"\n" +
         head +
         "[[upgrade]]\nop = \"alter_column\"\ntable = \"children\"\ncolumn = \"note\"\nnullable = false\n"
         "default = \"'x'\"\n"
         "[[downgrade]]\nop = \"alter_column\"\ntable = \"children\"\ncolumn = \"note\"\nnullable = true\n";
}

Migration parse(const std::string& text) { return migration::parse_migration(text, text.substr(12, 12) + "_rev.toml"); }

struct Db {
  unit::TempDir dir;
  std::unique_ptr<db::Connection> conn =
      db::open(config::parse_database_url("sqlite:///app.db", dir.path), db::OpenMode::read_write);
  Rows rows(const std::string& sql) const {
    Rows out;
    for (const auto& r : conn->query(sql)) {
      out.emplace_back();
      for (const auto& v : r) out.back().push_back(v.value_or("NULL"));
    }
    return out;
  }
  std::string foreign_keys() const { return rows("PRAGMA foreign_keys").at(0).at(0); }
};

struct Run {
  std::vector<run::Step> steps;
  Ids applied, skipped;
};

// Renders the upgrade from what the version table holds to `target` and runs it; what it
// applied and skipped.
Run upgrade(const run::Migrator& m, const RevisionGraph& g, db::Connection& conn, const std::string& target = "head") {
  Run r;
  const Ids from = m.current(&conn);
  r.steps = m.render(migration::plan_upgrade(g, from, target), from);
  m.ensure_tables(conn);
  m.run(conn, r.steps,
        [&](const run::StepReport& s) { (s.skipped ? r.skipped : r.applied).push_back(s.step.migration->revision); });
  return r;
}

}  // namespace

TEST_SUITE("fastappkit::run") {
  TEST_CASE("Migrator: render and run a graph; version table and history rows after it") {
    Db d;
    REQUIRE(d.conn);
    RevisionGraph g({parse(kCreate), parse(kAddColumn), parse(rebuild())});
    run::Migrator m(g, "core", "alembic_version", sql::Dialect::sqlite);
    CHECK(m.current(d.conn.get()).empty());  // no version table yet

    auto steps = m.render(migration::plan_upgrade(g, {}, "head"), {});
    REQUIRE(steps.size() == 3);
    CHECK_FALSE(steps[0].sqlite_rebuild);
    CHECK(steps[2].sqlite_rebuild);   // the case the foreign-key tests below rely on
    CHECK(d.conn->tables().empty());  // rendering touches nothing

    Run r = upgrade(m, g, *d.conn);
    CHECK(r.applied == Ids{kA, kB, kC});
    CHECK(r.skipped.empty());
    CHECK(m.current(d.conn.get()) == Ids{kC});
    CHECK(d.rows("SELECT version_num FROM alembic_version") == Rows{{kC}});
    // One history row per step, in order, with the checksum of the file it ran; the transactional =
    // false one has a progress row before it, after its rebuild (which counts as all its statements).
    CHECK(d.rows("SELECT revision, direction FROM fastappkit_history WHERE direction LIKE 'up:%'") ==
          Rows{{kC, "up:" + std::to_string(steps[2].statements.size())}});
    CHECK(d.rows("SELECT app, revision, direction, checksum FROM fastappkit_history WHERE direction NOT LIKE 'up:%' "
                 "ORDER BY id") == Rows{{"core", kA, "upgrade", g.get(kA).checksum},
                                        {"core", kB, "upgrade", g.get(kB).checksum},
                                        {"core", kC, "upgrade", g.get(kC).checksum}});
    // The rebuild made note NOT NULL with its default and kept the foreign key working.
    d.conn->execute("INSERT INTO parents (id) VALUES (1)");
    d.conn->execute("INSERT INTO children (id, parent_id) VALUES (1, 1)");
    CHECK(d.rows("SELECT note FROM children") == Rows{{"x"}});
    CHECK(d.foreign_keys() == "1");
    auto orphan = unit::error_of([&] { d.conn->execute("INSERT INTO children (id, parent_id) VALUES (2, 99)"); });
    CHECK(orphan);
  }

  TEST_CASE("Migrator: a failing step is rolled back and the steps before it stay applied") {
    Db d;
    REQUIRE(d.conn);
    const std::string failing = R"TOML(revision = "b00000000002"
down_revision = "a00000000001"
message = "half done"
[[upgrade]]
op = "create_table"
table = "made_then_undone"
columns = [ { name = "id", type = "integer", primary_key = true } ]
[[upgrade]]
op = "execute"
sql = "INSERT INTO nosuch (id) VALUES (1)"
[[downgrade]]
op = "drop_table"
table = "made_then_undone"
)TOML";
    RevisionGraph g({parse(kCreate), parse(failing)});
    run::Migrator m(g, "core", "alembic_version", sql::Dialect::sqlite);
    auto e = unit::error_of<db::DbError>([&] { upgrade(m, g, *d.conn); });
    REQUIRE(e);
    CHECK(e->failure() == db::Failure::statement);
    CHECK(e->statement() == "INSERT INTO nosuch (id) VALUES (1)");
    CHECK(unit::contains(e->message(), "upgrade of core revision b00000000002 (\"half done\") failed"));
    CHECK(unit::contains(e->message(), "this migration was rolled back"));
    CHECK(d.rows("SELECT version_num FROM alembic_version") == Rows{{kA}});
    CHECK(d.rows("SELECT revision FROM fastappkit_history ORDER BY id") == Rows{{kA}});
    CHECK(d.conn->table_exists("parents"));
    CHECK_FALSE(d.conn->table_exists("made_then_undone"));
  }

  TEST_CASE("Migrator: a step another run applied after the plan was made is skipped, not run twice") {
    Db d;
    REQUIRE(d.conn);
    RevisionGraph g({parse(kCreate), parse(kAddColumn)});
    run::Migrator m(g, "core", "alembic_version", sql::Dialect::sqlite);
    // This run's plan is made from an empty version table...
    auto stale = m.render(migration::plan_upgrade(g, {}, "head"), {});
    REQUIRE(stale.size() == 2);
    // ...then another run applies both revisions.
    Run other = upgrade(m, g, *d.conn);
    REQUIRE(other.applied == Ids{kA, kB});
    d.conn->execute("INSERT INTO parents (id) VALUES (7)");
    Ids applied, skipped;
    m.run(*d.conn, stale,
          [&](const run::StepReport& s) { (s.skipped ? skipped : applied).push_back(s.step.migration->revision); });
    CHECK(applied.empty());
    CHECK(skipped == Ids{kA, kB});
    // Run again, create_table would have failed (the table exists); nothing was touched.
    CHECK(d.rows("SELECT version_num FROM alembic_version") == Rows{{kB}});
    CHECK(d.rows("SELECT revision FROM fastappkit_history ORDER BY id") == Rows{{kA}, {kB}});
    CHECK(d.rows("SELECT id FROM parents") == Rows{{"7"}});
  }

  TEST_CASE("Migrator: foreign keys are on again after a SQLite rebuild, also when it is skipped or fails") {
    Db d;
    REQUIRE(d.conn);
    REQUIRE(d.foreign_keys() == "1");  // the connection turns them on when it opens
    SUBCASE("a transactional = false rebuild skipped because another run applied it") {
      // Regression: this path used to leave the step with foreign keys still OFF.
      RevisionGraph g({parse(kCreate), parse(kAddColumn), parse(rebuild())});
      run::Migrator m(g, "core", "alembic_version", sql::Dialect::sqlite);
      auto stale = m.render(migration::plan_upgrade(g, {kB}, "head"), {kB});
      REQUIRE(stale.size() == 1);
      REQUIRE(stale[0].sqlite_rebuild);
      REQUIRE_FALSE(stale[0].migration->transactional);
      REQUIRE(upgrade(m, g, *d.conn).applied == Ids{kA, kB, kC});
      REQUIRE(d.foreign_keys() == "1");
      Ids skipped;
      m.run(*d.conn, stale, [&](const run::StepReport& s) {
        if (s.skipped) skipped.push_back(s.step.migration->revision);
      });
      CHECK(skipped == Ids{kC});
      CHECK(d.foreign_keys() == "1");
    }
    SUBCASE("a transactional rebuild skipped") {
      RevisionGraph g({parse(kCreate), parse(kAddColumn), parse(rebuild(""))});
      run::Migrator m(g, "core", "alembic_version", sql::Dialect::sqlite);
      auto stale = m.render(migration::plan_upgrade(g, {kB}, "head"), {kB});
      REQUIRE(stale.size() == 1);
      REQUIRE(stale[0].sqlite_rebuild);
      REQUIRE(upgrade(m, g, *d.conn).applied == Ids{kA, kB, kC});
      Ids skipped;
      m.run(*d.conn, stale, [&](const run::StepReport& s) {
        if (s.skipped) skipped.push_back(s.step.migration->revision);
      });
      CHECK(skipped == Ids{kC});
      CHECK(d.foreign_keys() == "1");
    }
    SUBCASE("a transactional = false rebuild that fails is rolled back") {
      // No default: the rebuild copies a NULL note into the NOT NULL column and fails.
      std::string text = rebuild();
      const std::string with_default = "default = \"'x'\"\n";
      text.erase(text.find(with_default), with_default.size());
      RevisionGraph g({parse(kCreate), parse(kAddColumn), parse(text)});
      run::Migrator m(g, "core", "alembic_version", sql::Dialect::sqlite);
      REQUIRE(upgrade(m, g, *d.conn, kB).applied == Ids{kA, kB});
      d.conn->execute(std::vector<std::string>{"INSERT INTO parents (id) VALUES (1)",
                                               "INSERT INTO children (id, parent_id) VALUES (1, 1)"});
      auto e = unit::error_of<db::DbError>([&] { upgrade(m, g, *d.conn); });
      REQUIRE(e);
      CHECK(e->failure() == db::Failure::constraint);
      CHECK(d.foreign_keys() == "1");
      CHECK(d.rows("SELECT version_num FROM alembic_version") == Rows{{kB}});
      CHECK(d.rows("SELECT id, parent_id, note FROM children") == Rows{{"1", "1", "NULL"}});
    }
  }
}
