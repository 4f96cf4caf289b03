// create_check_constraint (issue 16): parsed with its keys checked at file:line:col, validated
// against the replayed schema, tracked by the schema model (drop, validate, column renames and
// drops, SQLite rebuilds that keep every check), rendered for both dialects, linted, and ignored
// by autogenerate's comparison of existing tables.
#include <doctest/doctest.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "fastappkit/error.hpp"
#include "fastappkit/lint/lint.hpp"
#include "fastappkit/migration/autogenerate.hpp"
#include "fastappkit/migration/graph.hpp"
#include "fastappkit/migration/migration_file.hpp"
#include "fastappkit/migration/schema.hpp"
#include "fastappkit/migration/validate.hpp"
#include "fastappkit/sql/render.hpp"
#include "support.hpp"

using fastappkit::Error;
using fastappkit::ErrorKind;
using namespace fastappkit::migration;
using namespace fastappkit::sql;
namespace lint = fastappkit::lint;
using Stmts = std::vector<std::string>;

namespace {

using unit::contains;
using unit::error_of;

const std::string kItems = R"toml([[upgrade]]
op = "create_table"
table = "items"
columns = [
  { name = "id", type = "integer", primary_key = true },
  { name = "price", type = "integer" },
  { name = "name", type = "text" },
]
[[upgrade]]
op = "create_index"
name = "ix_items_name"
table = "items"
columns = ["name"]
)toml";

const std::string kCheck =
    "[[upgrade]]\nop = \"create_check_constraint\"\nname = \"ck_items_price\"\ntable = \"items\"\n"
    "condition = \"price >= 0\"\n";

Migration rev(const std::string& id, const std::string& down, const std::string& body) {
  std::string text = "revision = \"" + id + "\"\n";
  if (!down.empty()) text += "down_revision = \"" + down + "\"\n";
  return parse_migration(text + body, "versions/" + id + "_x.toml");
}

Operation op_of(const std::string& body) {
  Migration m = rev("c00000000003", "", body);
  REQUIRE(m.upgrade.size() == 1);
  return m.upgrade[0];
}

Schema items() {
  Schema s;
  for (const auto& op : rev("a00000000001", "", kItems).upgrade) apply(s, op);
  return s;
}

std::optional<Error> validate(const std::string& body) {
  std::vector<Migration> ms{rev("a00000000001", "", kItems), rev("b00000000002", "a00000000001", body)};
  RevisionGraph g(std::move(ms));
  return error_of([&] { validate_operations(g); });
}

std::vector<lint::Finding> lint_revs(const std::vector<std::string>& bodies, Dialect d = Dialect::postgresql) {
  std::vector<Migration> ms{rev("a00000000001", "", kItems)};
  std::string prev = "a00000000001";
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    std::string id = "b0000000000" + std::to_string(i + 1);
    ms.push_back(rev(id, prev, bodies[i]));
    prev = id;
  }
  RevisionGraph g(std::move(ms));
  std::set<std::string> ids;
  for (const auto& m : g.migrations())
    if (m.revision != "a00000000001") ids.insert(m.revision);
  return lint::lint_graph(g, ids, d, "core");
}

std::set<std::string> rules(const std::vector<lint::Finding>& fs) {
  std::set<std::string> out;
  for (const auto& f : fs)
    if (!f.ignored) out.insert(f.rule);
  return out;
}

}  // namespace

TEST_SUITE("fastappkit::migration") {
  TEST_CASE("create_check_constraint parses; bad input is refused at file:line:col") {
    Operation op = op_of(kCheck + "not_valid = true\nlint_ignore = [\"check-constraint-not-valid\"]\n");
    CHECK(op.kind == OpKind::create_check_constraint);
    CHECK(op.name == "ck_items_price");
    CHECK(op.table == "items");
    CHECK(op.extra().condition == "price >= 0");
    CHECK(op.not_valid);
    CHECK(op.lint_ignore == std::vector<std::string>{"check-constraint-not-valid"});
    CHECK_FALSE(op_of(kCheck).not_valid);

    auto missing = error_of([] {
      rev("c00000000003", "", "[[upgrade]]\nop = \"create_check_constraint\"\nname = \"ck\"\ntable = \"items\"\n");
    });
    REQUIRE(missing);
    CHECK(missing->kind() == ErrorKind::input);
    CHECK(contains(missing->what(), "versions/c00000000003_x.toml:2:1"));
    CHECK(contains(missing->what(), "condition"));

    auto unknown = error_of([] { rev("c00000000003", "", kCheck + "deferrable = true\n"); });
    REQUIRE(unknown);
    CHECK(contains(unknown->what(), "versions/c00000000003_x.toml:7:"));
    CHECK(contains(unknown->what(), "deferrable"));

    auto empty = error_of([] {
      rev("c00000000003", "",
          "[[upgrade]]\nop = \"create_check_constraint\"\nname = \"ck\"\ntable = \"items\"\ncondition = \"  \"\n");
    });
    REQUIRE(empty);
    CHECK(contains(empty->what(), "x.toml:6:13"));
    CHECK(contains(empty->what(), "condition is empty"));
  }

  TEST_CASE("create_check_constraint is validated against the replayed schema") {
    CHECK_FALSE(validate(kCheck));
    CHECK_FALSE(validate(kCheck + "not_valid = true\n"));
    auto no_table = validate(
        "[[upgrade]]\nop = \"create_check_constraint\"\nname = \"ck\"\ntable = \"itemz\"\ncondition = \"1 = 1\"\n");
    REQUIRE(no_table);
    CHECK(contains(no_table->what(), "versions/b00000000002_x.toml:3:1"));
    CHECK(contains(no_table->what(), "table 'itemz' does not exist"));
    CHECK(contains(no_table->hint(), "did you mean 'items'?"));
    auto twice = validate(kCheck + kCheck);
    REQUIRE(twice);
    CHECK(contains(twice->what(), "already has a constraint 'ck_items_price'"));
    // A check's name is taken for other constraints of the table too.
    auto clash = validate(kCheck +
                          "[[upgrade]]\nop = \"create_unique\"\nname = \"ck_items_price\"\ntable = \"items\"\n"
                          "columns = [\"name\"]\n");
    REQUIRE(clash);
    // drop_constraint and validate_constraint know checks.
    CHECK_FALSE(validate(kCheck + "not_valid = true\n[[upgrade]]\nop = \"validate_constraint\"\nname = "
                                  "\"ck_items_price\"\ntable = \"items\"\n[[upgrade]]\nop = \"drop_constraint\"\n"
                                  "name = \"ck_items_price\"\ntable = \"items\"\n"));
    auto no_check = validate("[[upgrade]]\nop = \"validate_constraint\"\nname = \"ck_nope\"\ntable = \"items\"\n");
    REQUIRE(no_check);
    CHECK(contains(no_check->what(), "no foreign key or check constraint 'ck_nope'"));
  }

  TEST_CASE("the schema model tracks checks: validate, drop, column rename and drop") {
    Schema s = items();
    apply(s, op_of(kCheck + "not_valid = true\n"));
    REQUIRE(s.tables.at("items").checks.size() == 1);
    CHECK(s.tables.at("items").checks[0].not_valid);
    apply(s, op_of("[[upgrade]]\nop = \"validate_constraint\"\nname = \"ck_items_price\"\ntable = \"items\"\n"));
    CHECK_FALSE(s.tables.at("items").checks[0].not_valid);
    apply(s, op_of("[[upgrade]]\nop = \"alter_column\"\ntable = \"items\"\ncolumn = \"price\"\nnew_name = \"cost\"\n"));
    CHECK(s.tables.at("items").checks[0].condition == "\"cost\" >= 0");
    Schema dropped_col = s;
    apply(dropped_col, op_of("[[upgrade]]\nop = \"drop_column\"\ntable = \"items\"\ncolumn = \"cost\"\n"));
    CHECK(dropped_col.tables.at("items").checks.empty());
    apply(s, op_of("[[upgrade]]\nop = \"drop_constraint\"\nname = \"ck_items_price\"\ntable = \"items\"\n"));
    CHECK(s.tables.at("items").checks.empty());
    // String literals are not identifiers: 'price' stays.
    CHECK(rename_identifier("price > 0 AND name <> 'price'", "price", "cost") == "\"cost\" > 0 AND name <> 'price'");
  }

  TEST_CASE("render create_check_constraint: PostgreSQL ALTER TABLE, SQLite rebuild keeping every check") {
    Schema s = items();
    CHECK(render(op_of(kCheck), s, Dialect::postgresql).statements ==
          Stmts{"ALTER TABLE \"items\" ADD CONSTRAINT \"ck_items_price\" CHECK (price >= 0)"});
    CHECK(render(op_of(kCheck + "not_valid = true\n"), s, Dialect::postgresql).statements ==
          Stmts{"ALTER TABLE \"items\" ADD CONSTRAINT \"ck_items_price\" CHECK (price >= 0) NOT VALID"});
    CHECK(render(op_of("[[upgrade]]\nop = \"validate_constraint\"\nname = \"ck_items_price\"\ntable = \"items\"\n"), s,
                 Dialect::postgresql)
              .statements == Stmts{"ALTER TABLE \"items\" VALIDATE CONSTRAINT \"ck_items_price\""});

    RenderedOp lite = render(op_of(kCheck + "not_valid = true\n"), s, Dialect::sqlite);
    CHECK(lite.sqlite_rebuild);
    REQUIRE(lite.rebuild);
    CHECK(contains(lite.statements.front(), "CONSTRAINT \"ck_items_price\" CHECK (price >= 0)"));
    CHECK(contains(lite.statements.at(1), "INSERT INTO \"_fastappkit_tmp_items\""));
    CHECK(lite.statements.back() == "CREATE INDEX \"ix_items_name\" ON \"items\" (\"name\")");

    // A second check and an unrelated rebuild (a unique constraint) keep the first one.
    apply(s, op_of(kCheck));
    const std::string other =
        "[[upgrade]]\nop = \"create_check_constraint\"\nname = \"ck_items_name\"\ntable = \"items\"\n"
        "condition = \"length(name) > 0\"\n";
    RenderedOp two = render(op_of(other), s, Dialect::sqlite);
    CHECK(contains(two.statements.front(), "CONSTRAINT \"ck_items_price\" CHECK (price >= 0)"));
    CHECK(contains(two.statements.front(), "CONSTRAINT \"ck_items_name\" CHECK (length(name) > 0)"));
    RenderedOp uq = render(op_of("[[upgrade]]\nop = \"create_unique\"\nname = \"uq_items_name\"\ntable = \"items\"\n"
                                 "columns = [\"name\"]\n"),
                           s, Dialect::sqlite);
    CHECK(contains(uq.statements.front(), "CONSTRAINT \"ck_items_price\" CHECK (price >= 0)"));

    // SQLite validate_constraint: the rebuild's copy checked every row already.
    CHECK(render(op_of("[[upgrade]]\nop = \"validate_constraint\"\nname = \"ck_items_price\"\ntable = \"items\"\n"), s,
                 Dialect::sqlite)
              .statements.empty());
    // drop_constraint of a check: PostgreSQL DROP CONSTRAINT, SQLite a rebuild without it.
    const std::string drop = "[[upgrade]]\nop = \"drop_constraint\"\nname = \"ck_items_price\"\ntable = \"items\"\n";
    CHECK(render(op_of(drop), s, Dialect::postgresql).statements ==
          Stmts{"ALTER TABLE \"items\" DROP CONSTRAINT \"ck_items_price\""});
    RenderedOp dropped = render(op_of(drop), s, Dialect::sqlite);
    CHECK(dropped.sqlite_rebuild);
    CHECK_FALSE(contains(dropped.statements.front(), "CHECK"));
  }

  TEST_CASE("a SQLite rebuild refuses to run when the table has a CHECK the migrations do not know") {
    Schema s = items();
    RenderedOp r = render(op_of(kCheck), s, Dialect::sqlite);
    REQUIRE(r.rebuild);
    std::vector<SchemaObject> master{
        {"table", "items", "items", "CREATE TABLE items (id INTEGER PRIMARY KEY, price INTEGER CHECK (price < 99))"}};
    auto e = error_of([&] { expand_rebuild(*r.rebuild, master); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::input);
    CHECK(contains(e->what(), "CHECK constraint the migrations do not define"));
    // The word inside a string literal or a quoted name is no CHECK.
    master[0].sql = "CREATE TABLE items (id INTEGER PRIMARY KEY, \"check\" TEXT DEFAULT 'check')";
    CHECK_FALSE(error_of([&] { expand_rebuild(*r.rebuild, master); }));
  }

  TEST_CASE("autogenerate ignores checks of existing tables and re-creates those of a re-created table") {
    Schema with = items();
    apply(with, op_of(kCheck));
    Schema without = items();
    CHECK(diff(with, without).empty());
    CHECK(diff(without, with).empty());
    Schema none;
    auto ops = diff(none, with);
    REQUIRE(ops.size() == 3);
    CHECK(ops[0].kind == OpKind::create_table);
    CHECK(ops[2].kind == OpKind::create_check_constraint);
    CHECK(ops[2].extra().condition == "price >= 0");
    Migration m;
    m.revision = "d00000000004";
    m.upgrade = ops;
    Migration back = parse_migration(write_migration(m), "d00000000004_x.toml");
    REQUIRE(back.upgrade.size() == 3);
    CHECK(back.upgrade[2].kind == OpKind::create_check_constraint);
    CHECK(back.upgrade[2].name == "ck_items_price");
    CHECK(back.upgrade[2].extra().condition == "price >= 0");
  }
}

TEST_SUITE("fastappkit::lint") {
  TEST_CASE("check-constraint-not-valid fires on an existing table without not_valid, on PostgreSQL only") {
    CHECK(rules(lint_revs({kCheck})).count("check-constraint-not-valid"));
    CHECK_FALSE(rules(lint_revs({kCheck}, Dialect::sqlite)).count("check-constraint-not-valid"));
    CHECK(rules(lint_revs({kCheck + "not_valid = true\n"})).empty());
    auto fs = lint_revs({kCheck});
    REQUIRE(fs.size() == 1);
    CHECK(contains(fs[0].fix, "not_valid = true"));
    CHECK(contains(fs[0].fix, "op = \"validate_constraint\""));
    auto silenced = lint_revs({kCheck + "lint_ignore = [\"check-constraint-not-valid\"]\n"});
    REQUIRE(silenced.size() == 1);
    CHECK(silenced[0].ignored);
    // A table created in the same revision has no rows to scan.
    CHECK(rules(lint_revs({"[[upgrade]]\nop = \"create_table\"\ntable = \"t2\"\ncolumns = [ { name = \"id\", type = "
                           "\"integer\", primary_key = true } ]\n[[upgrade]]\nop = \"create_check_constraint\"\nname = "
                           "\"ck\"\ntable = \"t2\"\ncondition = \"id > 0\"\n"}))
              .empty());
    // Validating in the same transaction holds the lock during the scan.
    CHECK(rules(lint_revs({kCheck + "not_valid = true\n[[upgrade]]\nop = \"validate_constraint\"\nname = "
                                    "\"ck_items_price\"\ntable = \"items\"\n"}))
              .count("validate-in-same-transaction"));
  }

  TEST_CASE("set-not-null: the safe alternative is operations only, and lint accepts the four revisions") {
    const std::string set =
        "[[upgrade]]\nop = \"alter_column\"\ntable = \"items\"\ncolumn = \"price\"\nnullable = false\n";
    auto fs = lint_revs({set});
    REQUIRE(fs.size() == 1);
    CHECK(fs[0].rule == "set-not-null");
    CHECK_FALSE(contains(fs[0].fix, "execute"));
    CHECK(contains(fs[0].fix, "op = \"create_check_constraint\""));
    CHECK(contains(fs[0].fix, "condition = \"price IS NOT NULL\""));
    CHECK(contains(fs[0].fix, "op = \"validate_constraint\""));
    CHECK(contains(fs[0].fix, "op = \"drop_constraint\""));
    const std::string add =
        "[[upgrade]]\nop = \"create_check_constraint\"\nname = \"ck_items_price_not_null\"\ntable = \"items\"\n"
        "condition = \"price IS NOT NULL\"\nnot_valid = true\n";
    const std::string validate =
        "[[upgrade]]\nop = \"validate_constraint\"\nname = \"ck_items_price_not_null\"\ntable = \"items\"\n";
    const std::string drop =
        "[[upgrade]]\nop = \"drop_constraint\"\nname = \"ck_items_price_not_null\"\ntable = \"items\"\n";
    CHECK(lint_revs({add, validate, set, drop}).empty());
    // Without the validation the scan still happens.
    CHECK(rules(lint_revs({add, set})).count("set-not-null"));
    // A check on something else does not count.
    CHECK(rules(lint_revs({"[[upgrade]]\nop = \"create_check_constraint\"\nname = \"ck\"\ntable = \"items\"\n"
                           "condition = \"price IS NOT NULL OR name IS NOT NULL\"\nnot_valid = true\n",
                           "[[upgrade]]\nop = \"validate_constraint\"\nname = \"ck\"\ntable = \"items\"\n", set}))
              .count("set-not-null"));
  }
}
