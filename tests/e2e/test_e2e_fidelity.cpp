// Schema fidelity (SPEC §5, §9; issue 10): an SQLite table rebuild keeps rows, indexes made by
// `execute`, triggers, views and foreign keys in and out, in transactional and
// transactional = false files; a failing rebuild loses nothing; a leftover rebuild table is
// refused; every operation is validated before a database is touched; integer-family keys are
// assigned on both backends; `check` reports no drift on expression defaults.
#include <doctest/doctest.h>

#include "harness.hpp"

using namespace e2e;

namespace {

using Rows = std::vector<std::vector<std::string>>;

// A project made by `core new`, with revision files written by the test.
struct Project {
  TempDir dir;
  fs::path root;
  std::unique_ptr<Database> db;

  template <class B>
  explicit Project(B) {
    root = dir.path / "proj";
    auto r = fastappkit({"core", "new", "proj"}, dir.path);
    REQUIRE_OK(r);
    db = make_database<B>(dir.path);
  }
  bool sqlite() const { return db->backend() == "sqlite"; }
  RunResult run(const std::vector<std::string>& args) const {
    return fastappkit(args, root, {{"DATABASE_URL", db->url()}});
  }
  void revision(const std::string& name, const std::string& text) const {
    write_file(root / "core" / "db" / "migrations" / "versions" / name, text);
  }
  std::string one(const std::string& sql) const {
    auto rows = db->query(sql);
    REQUIRE_MESSAGE(rows.size() == 1, sql);
    return rows[0][0];
  }
  std::vector<std::string> versions() const {
    std::vector<std::string> out;
    for (auto& r : db->query("SELECT version_num FROM alembic_version ORDER BY version_num")) out.push_back(r[0]);
    return out;
  }
  // The trigger, view and raw index on items, as the catalog lists them.
  std::string objects() const {
    std::string out;
    const char* sql = sqlite()
                          ? "SELECT type || ' ' || name FROM sqlite_master WHERE type IN ('trigger', 'view') OR name = "
                            "'ix_items_raw' ORDER BY 1"
                          : "SELECT 'index ' || indexname FROM pg_indexes WHERE indexname = 'ix_items_raw' UNION ALL "
                            "SELECT 'trigger ' || tgname FROM pg_trigger WHERE NOT tgisinternal UNION ALL "
                            "SELECT 'view ' || viewname FROM pg_views WHERE schemaname = 'public' ORDER BY 1";
    for (auto& r : db->query(sql)) out += r[0] + "; ";
    return out;
  }
};

constexpr const char* kObjects = "index ix_items_raw; trigger trg_items_log; view v_items; ";

// customers <- items <- item_notes, item_log filled by a trigger on items, a view and an index
// made by execute.
const std::string kBase = R"TOML(revision = "a00000000001"
message = "Items"

[[upgrade]]
op = "create_table"
table = "customers"
columns = [{ name = "id", type = "integer", primary_key = true }, { name = "name", type = "string", length = 50 }]

[[upgrade]]
op = "create_table"
table = "items"
columns = [
  { name = "id", type = "integer", primary_key = true },
  { name = "name", type = "string", length = 50 },
  { name = "qty", type = "integer" },
  { name = "code", type = "string", length = 20, unique = true },
  { name = "customer_id", type = "integer", foreign_key = "customers.id", on_delete = "cascade" },
]

[[upgrade]]
op = "create_index"
name = "ix_items_qty"
table = "items"
columns = ["qty"]

[[upgrade]]
op = "create_table"
table = "item_notes"
columns = [
  { name = "id", type = "integer", primary_key = true },
  { name = "item_id", type = "integer", foreign_key = "items.id", on_delete = "cascade" },
  { name = "body", type = "text" },
]

[[upgrade]]
op = "create_table"
table = "item_log"
columns = [{ name = "id", type = "integer", primary_key = true }, { name = "item_id", type = "integer" }]

[[upgrade]]
op = "execute"
sqlite = "CREATE TRIGGER trg_items_log AFTER INSERT ON items BEGIN INSERT INTO item_log (item_id) VALUES (NEW.id); END"
postgresql = """
CREATE FUNCTION items_log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO item_log (item_id) VALUES (NEW.id); RETURN NEW; END $$;
CREATE TRIGGER trg_items_log AFTER INSERT ON items FOR EACH ROW EXECUTE FUNCTION items_log()"""

[[upgrade]]
op = "execute"
sql = "CREATE INDEX ix_items_raw ON items (name)"

[[upgrade]]
op = "execute"
sql = "CREATE VIEW v_items AS SELECT id, name FROM items"

[[downgrade]]
op = "execute"
sqlite = "DROP VIEW v_items; DROP TABLE item_log; DROP TABLE item_notes; DROP TABLE items; DROP TABLE customers"
postgresql = "DROP VIEW v_items; DROP TABLE item_log, item_notes, items, customers; DROP FUNCTION items_log()"
)TOML";

// The changes that rebuild items on SQLite: a type change, NOT NULL, a unique constraint, then
// (next revision) dropping the UNIQUE column.
std::string changes(bool transactional) {
  return std::string(R"TOML(revision = "b00000000002"
down_revision = "a00000000001"
message = "Change items"
)TOML") + (transactional ? "" : "transactional = false\n") +
         R"TOML(
[[upgrade]]
op = "alter_column"
table = "items"
column = "qty"
type = "bigint"

[[upgrade]]
op = "alter_column"
table = "items"
column = "name"
nullable = false

[[upgrade]]
op = "create_unique"
name = "uq_items_name_qty"
table = "items"
columns = ["name", "qty"]

[[downgrade]]
op = "drop_constraint"
name = "uq_items_name_qty"
table = "items"

[[downgrade]]
op = "alter_column"
table = "items"
column = "name"
nullable = true

[[downgrade]]
op = "alter_column"
table = "items"
column = "qty"
type = "integer"
)TOML";
}

std::string drop_code(bool transactional) {
  return std::string(R"TOML(revision = "c00000000003"
down_revision = "b00000000002"
message = "Drop items.code"
)TOML") + (transactional ? "" : "transactional = false\n") +
         R"TOML(
[[upgrade]]
op = "drop_column"
table = "items"
column = "code"

[[downgrade]]
op = "add_column"
table = "items"
column = { name = "code", type = "string", length = 20, unique = true }
)TOML";
}

void fill(Project& p) {
  p.db->exec("INSERT INTO customers (id, name) VALUES (1, 'Ann'), (2, 'Bob')");
  p.db->exec(
      "INSERT INTO items (id, name, qty, code, customer_id) VALUES (1, 'apple', 3, 'A', 1), (2, 'pear', 5, 'P', 2)");
  p.db->exec("INSERT INTO item_notes (item_id, body) VALUES (1, 'crisp'), (2, 'ripe')");
}

// Everything that belonged to items is there and works; `logged` rows in item_log before.
void require_intact(Project& p, int items, const std::string& when) {
  INFO(when);
  CHECK(p.objects() == kObjects);
  CHECK(p.one("SELECT count(*) FROM items") == std::to_string(items));
  CHECK(p.one("SELECT count(*) FROM v_items") == std::to_string(items));
  CHECK(p.one("SELECT count(*) FROM item_notes") == "2");
  if (p.sqlite()) {
    CHECK(p.db->query("PRAGMA foreign_key_check").empty());
    CHECK(p.one("SELECT count(*) FROM sqlite_master WHERE name LIKE '\\_fastappkit\\_%' ESCAPE '\\'") == "0");
    // The declared index too.
    CHECK(p.one("SELECT count(*) FROM sqlite_master WHERE name = 'ix_items_qty'") == "1");
  }
  // The trigger still fires.
  const std::string before = p.one("SELECT count(*) FROM item_log");
  const std::string id = std::to_string(100 + items);
  p.db->exec("INSERT INTO items (id, name, qty, customer_id) VALUES (" + id + ", 'x" + id + "', 1, 1)");
  CHECK(std::stoi(p.one("SELECT count(*) FROM item_log")) == std::stoi(before) + 1);
  // Foreign key out: a missing customer is refused; in: deleting an item cascades to its notes.
  const std::string fk_on = p.sqlite() ? "PRAGMA foreign_keys = ON; " : "";
  CHECK_THROWS(p.db->exec(fk_on + "INSERT INTO items (id, name, qty, customer_id) VALUES (999, 'bad', 1, 999)"));
  p.db->exec(fk_on + "INSERT INTO item_notes (item_id, body) VALUES (" + id + ", 'tmp')");
  p.db->exec(fk_on + "DELETE FROM items WHERE id = " + id);
  CHECK(p.one("SELECT count(*) FROM item_notes WHERE item_id = " + id) == "0");
}

}  // namespace

TEST_SUITE("fastappkit::e2e") {
  TEST_CASE_TEMPLATE(
      "a rebuild keeps rows, the declared and execute-made indexes, the trigger, the view and foreign keys in and out",
      B, Sqlite, Postgresql) {
    for (bool transactional : {true, false}) {
      INFO("transactional = ", transactional);
      Project p{B{}};
      p.revision("a00000000001_items.toml", kBase);
      p.revision("b00000000002_change.toml", changes(transactional));
      p.revision("c00000000003_drop_code.toml", drop_code(transactional));
      REQUIRE_OK(p.run({"migrate", "upgrade", "--revision", "a00000000001"}));
      fill(p);
      require_intact(p, 2, "at the base");

      auto preview = p.run({"migrate", "preview"});
      REQUIRE_OK(preview);
      if (p.sqlite()) {
        CHECK(has(preview.out,
                  "-- SQLite rebuild of table \"items\" (https://www.sqlite.org/lang_altertable.html section 7)"));
        CHECK(has(preview.out, transactional ? "PRAGMA foreign_keys = OFF;\nBEGIN;\n"
                                             : "PRAGMA foreign_keys = OFF;\n-- SQLite rebuild"));
      }

      auto up = p.run({"migrate", "upgrade"});
      REQUIRE_OK(up);
      CHECK(p.versions() == std::vector<std::string>{"c00000000003"});
      require_intact(p, 2, "after the upgrade");
      CHECK(p.db->query("SELECT id, name, qty FROM items ORDER BY id") ==
            Rows{{"1", "apple", "3"}, {"2", "pear", "5"}});
      if (p.sqlite()) {
        CHECK(p.one("SELECT count(*) FROM pragma_table_info('items') WHERE name = 'code'") == "0");
        CHECK(p.one("SELECT type FROM pragma_table_info('items') WHERE name = 'qty'") == "BIGINT");
        CHECK_THROWS(
            p.db->exec("INSERT INTO items (name, qty) VALUES ('apple', 3)"));  // the new unique constraint holds
      }

      REQUIRE_OK(p.run({"migrate", "downgrade", "a00000000001"}));
      CHECK(p.versions() == std::vector<std::string>{"a00000000001"});
      require_intact(p, 2, "after the downgrade");
      if (p.sqlite()) CHECK(p.one("SELECT type FROM pragma_table_info('items') WHERE name = 'qty'") == "INTEGER");
    }
  }

  TEST_CASE_TEMPLATE(
      "a failing rebuild loses nothing, also in a transactional = false file, and a rerun fails the same way", B,
      Sqlite, Postgresql) {
    Project p{B{}};
    p.revision("a00000000001_items.toml", kBase);
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    fill(p);
    p.db->exec("INSERT INTO items (id, name, qty, customer_id) VALUES (3, 'plum', NULL, 1)");
    p.revision("b00000000002_qty_not_null.toml", R"TOML(revision = "b00000000002"
down_revision = "a00000000001"
message = "qty NOT NULL"
transactional = false

[[upgrade]]
op = "alter_column"
table = "items"
column = "qty"
nullable = false

[[downgrade]]
op = "alter_column"
table = "items"
column = "qty"
nullable = true
)TOML");
    for (int attempt = 1; attempt <= 2; ++attempt) {
      INFO("attempt ", attempt);
      auto r = p.run({"migrate", "upgrade"});
      CHECK(r.code == 1);
      CHECK(has(r.err, "b00000000002"));
      CHECK(has(r.err, p.sqlite() ? "NOT NULL constraint failed" : "contains null values"));
      CHECK_FALSE(has(r.err, "already exists"));
      CHECK(p.versions() == std::vector<std::string>{"a00000000001"});
      require_intact(p, 3, "after the failed upgrade");
    }
  }

  TEST_CASE("a leftover _fastappkit_tmp_ table is refused before anything runs, with what to do") {
    for (bool table_gone : {false, true}) {
      INFO("items gone: ", table_gone);
      Project p{Sqlite{}};
      p.revision("a00000000001_items.toml", kBase);
      REQUIRE_OK(p.run({"migrate", "upgrade"}));
      fill(p);
      p.db->exec("CREATE TABLE _fastappkit_tmp_items AS SELECT * FROM items");
      if (table_gone) p.db->exec("DROP VIEW v_items; DROP TABLE items");
      p.revision("b00000000002_change.toml", changes(true));
      auto r = p.run({"migrate", "upgrade"});
      CHECK(r.code == 2);
      CHECK(has(r.err, "table _fastappkit_tmp_items"));
      CHECK(has(r.err, "is left over from a rebuild of table 'items' that did not finish"));
      CHECK(has(r.err, table_gone ? "ALTER TABLE \"_fastappkit_tmp_items\" RENAME TO \"items\""
                                  : "DROP TABLE \"_fastappkit_tmp_items\""));
      CHECK(p.versions() == std::vector<std::string>{"a00000000001"});
      CHECK(p.one("SELECT count(*) FROM _fastappkit_tmp_items") == "2");
    }
  }

  TEST_CASE_TEMPLATE("a view or trigger that names a dropped column stops the migration by name, rolled back", B,
                     Sqlite, Postgresql) {
    Project p{B{}};
    p.revision("a00000000001_items.toml", kBase);
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    fill(p);
    // qty is indexed (ix_items_qty), so SQLite rebuilds; v_qty reads qty.
    p.db->exec("CREATE VIEW v_qty AS SELECT id, qty FROM items");
    p.revision("b00000000002_drop_qty.toml", R"TOML(revision = "b00000000002"
down_revision = "a00000000001"
message = "Drop qty"

[[upgrade]]
op = "drop_column"
table = "items"
column = "qty"

[[downgrade]]
op = "add_column"
table = "items"
column = { name = "qty", type = "integer" }
)TOML");
    auto r = p.run({"migrate", "upgrade"});
    CHECK(r.code == 1);
    CHECK(has(r.err, "v_qty"));
    if (p.sqlite())
      CHECK(has(r.err,
                "a trigger or view cannot be recreated after rebuilding table 'items': error in view v_qty: no such "
                "column: qty"));
    CHECK(has(r.err, "rolled back"));
    CHECK(p.versions() == std::vector<std::string>{"a00000000001"});
    CHECK(p.one("SELECT count(*) FROM v_qty") == "2");
    p.db->exec("DROP VIEW v_qty");
    require_intact(p, 2, "after the refused drop");
    CHECK(p.db->query("SELECT qty FROM items ORDER BY id") == Rows{{"3"}, {"5"}});
  }

  TEST_CASE_TEMPLATE(
      "an operation naming a column that does not exist is refused at file:line:col before the database is touched", B,
      Sqlite, Postgresql) {
    Project p{B{}};
    p.revision("a00000000001_items.toml", kBase);
    p.revision("b00000000002_bad_index.toml", R"TOML(revision = "b00000000002"
down_revision = "a00000000001"
message = "Bad index"

[[upgrade]]
op = "create_index"
name = "ix_items_nosuch"
table = "items"
columns = ["nosuch"]

[[downgrade]]
op = "drop_index"
name = "ix_items_nosuch"
table = "items"
)TOML");
    auto r = p.run({"migrate", "upgrade"});
    CHECK(r.code == 2);
    CHECK(has(r.err,
              "b00000000002_bad_index.toml:5:1: create_index in revision b00000000002: table 'items' has no column "
              "'nosuch'"));
    CHECK(p.db->tables().empty());  // nothing ran, not even the valid first revision
    auto preview = p.run({"migrate", "preview"});
    CHECK(preview.code == 2);

    // Raw SQL that names a missing column fails on SQLite too (no double-quoted-string fallback).
    Project q{B{}};
    q.revision("a00000000001_items.toml", kBase);
    q.revision("b00000000002_raw.toml",
               "revision = \"b00000000002\"\ndown_revision = \"a00000000001\"\nmessage = \"Raw\"\n\n[[upgrade]]\nop = "
               "\"execute\"\n"
               "sql = 'CREATE INDEX ix_raw_nosuch ON items (\"nosuch\")'\n");
    auto raw = q.run({"migrate", "upgrade"});
    CHECK(raw.code == 1);
    CHECK(has(raw.err, "nosuch"));
    CHECK(q.versions() == std::vector<std::string>{"a00000000001"});
  }

  TEST_CASE_TEMPLATE("integer-family primary keys are assigned by the database, and check agrees", B, Sqlite,
                     Postgresql) {
    Project p{B{}};
    write_file(p.root / "core" / "models.toml", R"TOML([[tables]]
name = "events"
columns = [
  { name = "id", type = "bigint", primary_key = true },
  { name = "action", type = "string", length = 64, nullable = false },
]

[[tables]]
name = "flags"
columns = [
  { name = "id", type = "smallint", primary_key = true },
  { name = "name", type = "text" },
]
)TOML");
    REQUIRE_OK(p.run({"migrate", "core", "-m", "events"}));
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    p.db->exec("INSERT INTO events (action) VALUES ('x')");
    p.db->exec("INSERT INTO events (action) VALUES ('y')");
    p.db->exec("INSERT INTO flags (name) VALUES ('f')");
    CHECK(p.db->query("SELECT id, action FROM events ORDER BY id") == Rows{{"1", "x"}, {"2", "y"}});
    CHECK(p.one("SELECT id FROM flags") == "1");
    auto check = p.run({"migrate", "check"});
    CHECK_MESSAGE(check.code == 0, check.out << check.err);
    CHECK(has(check.out, "No differences"));
  }

  TEST_CASE_TEMPLATE("the shipped audit plugin's events get ids on both backends", B, Sqlite, Postgresql) {
    TempDir dir;
    fs::path root = dir.path / "project";
    copy_tree(source_dir() / "apps-example", root);
    install_plugins(root);
    auto db = make_database<B>(dir.path);
    REQUIRE_OK(fastappkit({"migrate", "all"}, root, {{"DATABASE_URL", db->url()}}));
    db->exec("INSERT INTO audit_events (action) VALUES ('x')");
    CHECK(db->query("SELECT id FROM audit_events") == Rows{{"1"}});
  }

  TEST_CASE_TEMPLATE("check right after an upgrade reports no drift on expression defaults", B, Sqlite, Postgresql) {
    Project p{B{}};
    write_file(p.root / "core" / "models.toml", R"TOML([[tables]]
name = "d"
columns = [
  { name = "id", type = "integer", primary_key = true },
  { name = "a", type = "string", length = 10, default = "'draft'" },
  { name = "b", type = "text", default = "upper('x')" },
  { name = "c", type = "text", default = "'a' || 'b'" },
  { name = "n", type = "numeric", precision = 10, scale = 2, default = "0" },
  { name = "t", type = "datetime", default = "CURRENT_TIMESTAMP" },
  { name = "f", type = "boolean", nullable = false, default = "false" },
  { name = "j", type = "integer", default = "(1 + 2) * 3" },
]
)TOML");
    REQUIRE_OK(p.run({"migrate", "core", "-m", "defaults"}));
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    p.db->exec("INSERT INTO d (id) VALUES (1)");
    CHECK(p.db->query("SELECT b, c, j FROM d") == Rows{{"X", "ab", "9"}});
    auto check = p.run({"migrate", "check"});
    CHECK_MESSAGE(check.code == 0, check.out << check.err);
    CHECK(has(check.out, "No differences"));
    CHECK_FALSE(has(check.out, "upper('x'\n"));
    // A real difference is still found.
    p.db->exec(p.sqlite() ? "SELECT 1" : "ALTER TABLE d ALTER COLUMN b SET DEFAULT lower('x')");
    if (!p.sqlite()) {
      auto drift = p.run({"migrate", "check"});
      CHECK(drift.code == 1);
      CHECK(has(drift.out, "lower('x'::text)"));
    }
  }

}  // TEST_SUITE
