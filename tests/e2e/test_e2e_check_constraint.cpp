// create_check_constraint end to end (issue 16): on SQLite a table rebuild that keeps rows,
// indexes, triggers and the table's other checks, a violating row failing with nothing changed;
// on PostgreSQL NOT VALID then VALIDATE, a violating row failing VALIDATE with nothing applied;
// the four-revision set-not-null recipe of docs/lint.md on a table with rows; bad input refused.
#include <doctest/doctest.h>

#include <exception>

#include "harness.hpp"

using namespace e2e;

namespace {

constexpr const char* kItems = R"(revision = "aaaaaaaaaaa1"
message = "items"
[[upgrade]]
op = "create_table"
table = "items"
columns = [ { name = "id", type = "integer", primary_key = true }, { name = "price", type = "integer" },
  { name = "qty", type = "integer" }, { name = "name", type = "text" } ]
[[upgrade]]
op = "create_index"
name = "ix_items_name"
table = "items"
columns = ["name"]
[[downgrade]]
op = "drop_table"
table = "items"
)";

struct Project {
  TempDir dir;
  fs::path root = dir.path / "proj";
  std::unique_ptr<Database> db;
  template <class B>
  explicit Project(B) {
    auto r = fastappkit({"core", "new", "proj"}, dir.path);
    REQUIRE_OK(r);
    db = make_database<B>(dir.path);
    write("aaaaaaaaaaa1_items.toml", kItems);
  }
  void write(const std::string& name, const std::string& text) const {
    write_file(root / "core" / "db" / "migrations" / "versions" / name, text);
  }
  RunResult run(const std::vector<std::string>& args) const {
    return fastappkit(args, root, {{"DATABASE_URL", db->url()}});
  }
  std::vector<std::string> versions() const {
    std::vector<std::string> out;
    for (auto& r : db->query("SELECT version_num FROM alembic_version")) out.push_back(r[0]);
    return out;
  }
  // True when the database refuses the statement.
  bool refused(const std::string& sql) const {
    try {
      db->exec(sql);
    } catch (const std::exception&) {
      return true;
    }
    return false;
  }
};

std::string next(const std::string& id, const std::string& down, const std::string& body) {
  return "revision = \"" + id + "\"\ndown_revision = \"" + down + "\"\nmessage = \"next\"\n" + body;
}

std::string check(const std::string& name, const std::string& condition, bool not_valid = false) {
  return "op = \"create_check_constraint\"\nname = \"" + name + "\"\ntable = \"items\"\ncondition = \"" + condition +
         "\"\n" + (not_valid ? "not_valid = true\n" : "");
}

std::string named(const std::string& op, const std::string& name) {
  return "op = \"" + op + "\"\nname = \"" + name + "\"\ntable = \"items\"\n";
}

}  // namespace

TEST_SUITE("fastappkit::e2e::check_constraint") {
  TEST_CASE_TEMPLATE("create_check_constraint: rows, indexes, triggers and other checks kept; a violating row fails", B,
                     Sqlite, Postgresql) {
    const bool pg = std::string(B::name) == "postgresql";
    Project p{B{}};
    p.write("bbbbbbbbbbb2_qty.toml", next("bbbbbbbbbbb2", "aaaaaaaaaaa1",
                                          "[[upgrade]]\n" + check("ck_items_qty", "qty >= 0") + "[[downgrade]]\n" +
                                              named("drop_constraint", "ck_items_qty")));
    p.write("ccccccccccc3_price.toml", next("ccccccccccc3", "bbbbbbbbbbb2",
                                            "[[upgrade]]\n" + check("ck_items_price", "price >= 0", true) +
                                                "[[downgrade]]\n" + named("drop_constraint", "ck_items_price")));
    p.write("ddddddddddd4_validate.toml",
            next("ddddddddddd4", "ccccccccccc3", "[[upgrade]]\n" + named("validate_constraint", "ck_items_price")));
    p.write("eeeeeeeeeee5_drop.toml", next("eeeeeeeeeee5", "ddddddddddd4",
                                           "[[upgrade]]\n" + named("drop_constraint", "ck_items_qty") +
                                               "[[downgrade]]\n" + check("ck_items_qty", "qty >= 0")));
    auto preview = p.run({"migrate", "preview"});
    REQUIRE_OK(preview);
    if (pg) {
      CHECK_OUT(preview, "ALTER TABLE \"items\" ADD CONSTRAINT \"ck_items_price\" CHECK (price >= 0) NOT VALID;");
      CHECK_OUT(preview, "ALTER TABLE \"items\" VALIDATE CONSTRAINT \"ck_items_price\";");
    } else {
      CHECK_OUT(preview,
                "CONSTRAINT \"ck_items_qty\" CHECK (qty >= 0),\n    CONSTRAINT \"ck_items_price\" CHECK "
                "(price >= 0)\n)");
    }
    CHECK(p.db->tables().empty());  // preview writes nothing
    REQUIRE_OK(p.run({"migrate", "upgrade", "--revision", "bbbbbbbbbbb2"}));
    CHECK(p.refused("INSERT INTO items (id, price, qty, name) VALUES (9, 1, -1, 'x')"));
    p.db->exec("INSERT INTO items (id, price, qty, name) VALUES (1, 10, 1, 'a'), (2, -5, 2, 'b')");
    if (!pg) {
      p.db->exec("CREATE TABLE log (item_id INTEGER)");
      p.db->exec("CREATE TRIGGER trg_items_log AFTER INSERT ON items BEGIN INSERT INTO log VALUES (new.id); END");
    }
    const std::string before = p.db->schema_dump();

    auto r = p.run({"migrate", "upgrade"});
    CHECK_CODE(r, 1);
    if (pg) {
      // NOT VALID added the check without looking at row 2; VALIDATE finds it.
      CHECK_ERR(r, "ddddddddddd4");
      CHECK_ERR(r, "ck_items_price");
      CHECK(p.versions() == std::vector<std::string>{"ccccccccccc3"});
      CHECK(p.db->query("SELECT convalidated::text FROM pg_constraint WHERE conname = 'ck_items_price'") ==
            std::vector<std::vector<std::string>>{{"false"}});
      CHECK(p.refused("INSERT INTO items (id, price, qty, name) VALUES (9, -1, 1, 'x')"));
    } else {
      // SQLite cannot add it NOT VALID: the rebuild's copy checks row 2, and nothing changes.
      CHECK_ERR(r, "ccccccccccc3");
      CHECK_ERR(r, "CHECK constraint failed");
      CHECK(p.versions() == std::vector<std::string>{"bbbbbbbbbbb2"});
      CHECK(p.db->schema_dump() == before);
    }
    CHECK(p.db->query("SELECT count(*) FROM items") == std::vector<std::vector<std::string>>{{"2"}});

    p.db->exec("UPDATE items SET price = 5 WHERE id = 2");
    REQUIRE_OK(p.run({"migrate", "upgrade", "--revision", "ddddddddddd4"}));
    CHECK(p.versions() == std::vector<std::string>{"ddddddddddd4"});
    if (pg)
      CHECK(p.db->query("SELECT convalidated::text FROM pg_constraint WHERE conname = 'ck_items_price'") ==
            std::vector<std::vector<std::string>>{{"true"}});
    // Both checks hold, the rows, the index and the trigger are there.
    CHECK(p.refused("INSERT INTO items (id, price, qty, name) VALUES (9, 1, -1, 'x')"));
    CHECK(p.refused("INSERT INTO items (id, price, qty, name) VALUES (9, -1, 1, 'x')"));
    CHECK(p.db->query("SELECT id, price, qty, name FROM items ORDER BY id") ==
          std::vector<std::vector<std::string>>{{"1", "10", "1", "a"}, {"2", "5", "2", "b"}});
    CHECK_HAS(p.db->schema_dump(), "ix_items_name");
    if (!pg) {
      p.db->exec("INSERT INTO items (id, price, qty, name) VALUES (3, 1, 1, 'c')");
      CHECK(p.db->query("SELECT item_id FROM log") == std::vector<std::vector<std::string>>{{"3"}});
    }

    // Dropping one check keeps the other.
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    CHECK_FALSE(p.refused("INSERT INTO items (id, price, qty, name) VALUES (10, 1, -1, 'y')"));
    CHECK(p.refused("INSERT INTO items (id, price, qty, name) VALUES (11, -1, 1, 'z')"));
    CHECK_HAS(p.db->schema_dump(), "ix_items_name");
    auto lint = p.run({"migrate", "lint", "--all", "--dialect", "postgresql"});
    CHECK_OUT(lint, "[check-constraint-not-valid]");  // the first check, on a table that existed already

    // The downgrade of the drop re-creates the check: the row that breaks it must go first.
    CHECK_CODE(p.run({"migrate", "downgrade", "ddddddddddd4"}), 1);
    CHECK(p.versions() == std::vector<std::string>{"eeeeeeeeeee5"});
    p.db->exec("DELETE FROM items WHERE id = 10");
    REQUIRE_OK(p.run({"migrate", "downgrade", "ddddddddddd4"}));
    CHECK(p.refused("INSERT INTO items (id, price, qty, name) VALUES (12, 1, -1, 'y')"));
    REQUIRE_OK(p.run({"migrate", "downgrade", "aaaaaaaaaaa1"}));
    CHECK_FALSE(p.refused("INSERT INTO items (id, price, qty, name) VALUES (13, -1, -1, 'y')"));
    CHECK(p.versions() == std::vector<std::string>{"aaaaaaaaaaa1"});
  }

  TEST_CASE("PostgreSQL: the four-revision set-not-null recipe of docs/lint.md on a table with rows") {
    Project p{Postgresql{}};
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    p.db->exec("INSERT INTO items (id, price, qty, name) SELECT g, g, g, 'n' || g FROM generate_series(1, 5000) g");
    p.write("bbbbbbbbbbb2_check.toml",
            next("bbbbbbbbbbb2", "aaaaaaaaaaa1",
                 "[[upgrade]]\n" + check("ck_items_name_not_null", "name IS NOT NULL", true) + "[[downgrade]]\n" +
                     named("drop_constraint", "ck_items_name_not_null")));
    p.write(
        "ccccccccccc3_validate.toml",
        next("ccccccccccc3", "bbbbbbbbbbb2", "[[upgrade]]\n" + named("validate_constraint", "ck_items_name_not_null")));
    p.write("ddddddddddd4_not_null.toml",
            next("ddddddddddd4", "ccccccccccc3",
                 "[[upgrade]]\nop = \"alter_column\"\ntable = \"items\"\ncolumn = \"name\"\nnullable = false\n"
                 "[[downgrade]]\nop = \"alter_column\"\ntable = \"items\"\ncolumn = \"name\"\nnullable = true\n"));
    p.write("eeeeeeeeeee5_drop_check.toml",
            next("eeeeeeeeeee5", "ddddddddddd4",
                 "[[upgrade]]\n" + named("drop_constraint", "ck_items_name_not_null") + "[[downgrade]]\n" +
                     check("ck_items_name_not_null", "name IS NOT NULL")));
    auto lint = p.run({"migrate", "lint"});
    REQUIRE_OK(lint);
    CHECK_OUT(lint, "0 error(s), 0 warning(s), 0 silenced");
    auto r = p.run({"migrate", "upgrade", "-v"});
    REQUIRE_OK(r);
    CHECK_OUT(r, "ADD CONSTRAINT \"ck_items_name_not_null\" CHECK (name IS NOT NULL) NOT VALID");
    CHECK_OUT(r, "VALIDATE CONSTRAINT \"ck_items_name_not_null\"");
    CHECK_OUT(r, "ALTER COLUMN \"name\" SET NOT NULL");
    CHECK_OUT(r, "DROP CONSTRAINT \"ck_items_name_not_null\"");
    CHECK(p.versions() == std::vector<std::string>{"eeeeeeeeeee5"});
    CHECK(p.db->query("SELECT is_nullable FROM information_schema.columns WHERE table_name = 'items' AND column_name "
                      "= 'name'") == std::vector<std::vector<std::string>>{{"NO"}});
    CHECK(p.db->query("SELECT 1 FROM pg_constraint WHERE conname = 'ck_items_name_not_null'").empty());
    CHECK(p.db->query("SELECT count(*) FROM items") == std::vector<std::vector<std::string>>{{"5000"}});
    REQUIRE_OK(p.run({"migrate", "downgrade", "base"}));
    CHECK(p.versions().empty());
  }

  TEST_CASE_TEMPLATE("bad create_check_constraint input: exit 2 at file:line:col, database untouched", B, Sqlite,
                     Postgresql) {
    Project p{B{}};
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    p.db->exec("INSERT INTO items (id, price, qty, name) VALUES (1, 1, 1, 'a')");
    const std::string dump = p.db->schema_dump();
    struct Case {
      std::string body, where, what;
    };
    const Case cases[] = {
        {"[[upgrade]]\nop = \"create_check_constraint\"\nname = \"ck\"\ntable = \"items\"\n",
         ":4:1:", "needs 'condition'"},
        {"[[upgrade]]\n" + check("ck", "price > 0") + "deferrable = true\n", ":9:", "deferrable"},
        {"[[upgrade]]\nop = \"create_check_constraint\"\nname = \"ck\"\ntable = \"itemz\"\ncondition = \"1 = 1\"\n",
         ":4:1:", "table 'itemz' does not exist"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.what);
      p.write("bbbbbbbbbbb2_bad.toml", next("bbbbbbbbbbb2", "aaaaaaaaaaa1", c.body));
      auto r = p.run({"migrate", "upgrade"});
      CHECK_CODE(r, 2);
      CHECK_ERR(r, "bbbbbbbbbbb2_bad.toml" + c.where);
      CHECK_ERR(r, c.what);
      CHECK(p.versions() == std::vector<std::string>{"aaaaaaaaaaa1"});
      CHECK(p.db->schema_dump() == dump);
    }
  }
}
