// Schema state walked backwards (issue 13): `apply` with an undo record and `revert` give back
// exactly the state before, and a downgrade renders the same SQL as replaying the remaining
// revisions from base for every step (what Migrator::render did before it was made linear).
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "fastappkit/migration/graph.hpp"
#include "fastappkit/run/migrator.hpp"
#include "fastappkit/sql/render.hpp"

using namespace fastappkit;
using namespace fastappkit::migration;

namespace {

ColumnSpec col(const std::string& name, ColumnType type = ColumnType::integer) {
  ColumnSpec c;
  c.name = name;
  c.type = type;
  return c;
}

Operation create(const std::string& table, std::vector<ColumnSpec> columns) {
  Operation op;
  op.kind = OpKind::create_table;
  op.table = table;
  columns.insert(columns.begin(), col("id"));
  columns.front().primary_key = true;
  op.columns = std::move(columns);
  return op;
}

Operation on(OpKind kind, const std::string& table) {
  Operation op;
  op.kind = kind;
  op.table = table;
  return op;
}

// Every kind of operation `apply` knows, including the two that rewrite other tables' foreign
// keys (rename_table, alter_column with a new name).
std::vector<Operation> history() {
  std::vector<Operation> ops;
  ops.push_back(create("users", {col("email", ColumnType::string)}));
  auto posts = create("posts", {col("user_id"), col("title", ColumnType::text)});
  posts.columns[1].foreign_key = "users.id";
  ops.push_back(posts);
  auto add = on(OpKind::add_column, "users");
  add.column = col("age");
  ops.push_back(add);
  auto index = on(OpKind::create_index, "posts");
  index.name = "ix_posts_title";
  index.index_columns = {"title"};
  ops.push_back(index);
  auto rename = on(OpKind::rename_table, "users");
  rename.new_name = "accounts";
  ops.push_back(rename);
  auto alter = on(OpKind::alter_column, "accounts");
  alter.column_name = "id";
  alter.new_name = "account_id";
  ops.push_back(alter);
  auto unique = on(OpKind::create_unique, "accounts");
  unique.name = "uq_accounts_email";
  unique.index_columns = {"email"};
  ops.push_back(unique);
  auto fk = on(OpKind::create_foreign_key, "posts");
  fk.name = "fk_posts_editor";
  fk.index_columns = {"user_id"};
  fk.edit_extra().references_table = "accounts";
  fk.edit_extra().references_columns = {"account_id"};
  ops.push_back(fk);
  auto drop_constraint = on(OpKind::drop_constraint, "accounts");
  drop_constraint.name = "uq_accounts_email";
  ops.push_back(drop_constraint);
  auto retype = on(OpKind::alter_column, "accounts");
  retype.column_name = "age";
  retype.new_type = ColumnType::bigint;
  retype.nullable = false;
  retype.new_default = "0";
  ops.push_back(retype);
  auto drop_col = on(OpKind::drop_column, "posts");
  drop_col.column_name = "title";
  ops.push_back(drop_col);
  ops.push_back(on(OpKind::drop_table, "posts"));
  ops.push_back(create("accounts", {col("replaced")}));  // over an existing table
  auto raw = on(OpKind::execute, "");
  raw.edit_extra().sql[""] = "SELECT 1";
  ops.push_back(raw);
  auto unknown = on(OpKind::add_column, "made_by_raw_sql");
  unknown.column = col("x");
  ops.push_back(unknown);
  return ops;
}

bool same(const Schema& a, const Schema& b) { return a.tables == b.tables; }

}  // namespace

TEST_SUITE("fastappkit::migration") {
  TEST_CASE("Box: an optional on the heap, copied deep, compared as std::optional, converted only explicitly") {
    Box<std::string> empty;
    CHECK_FALSE(empty.has_value());
    CHECK(empty == std::nullopt);
    CHECK(empty == std::optional<std::string>());
    CHECK(empty.value_or("d") == "d");
    CHECK_THROWS_AS((void)empty.value(), std::bad_optional_access);
    Box<std::string> a = "x";
    Box<std::string> b = a;  // deep: changing b leaves a
    *b = "y";
    CHECK(*a == "x");
    CHECK(*b == "y");
    CHECK_FALSE(a == b);
    b = a;
    CHECK(a == b);
    CHECK(a == std::optional<std::string>("x"));
    CHECK_FALSE(a == std::optional<std::string>());
    const std::optional<std::string> back = a.to_optional();  // a copy only when asked for
    CHECK(back == std::optional<std::string>("x"));
    a = std::optional<std::string>();
    CHECK_FALSE(a);
    a = std::optional<std::string>("z");
    CHECK(a->size() == 1);
    Box<std::string> moved = std::move(a);
    CHECK(*moved == "z");
    moved.reset();
    CHECK(moved == std::nullopt);
    // An Operation's boxed members copy with it.
    Operation op;
    op.column = col("c");
    Operation copy = op;
    copy.column->name = "d";
    CHECK(op.column->name == "c");
  }

  TEST_CASE("revert takes back exactly what apply with an undo record did, one operation at a time") {
    auto ops = history();
    Schema s;
    std::vector<Schema> before;
    std::vector<Undo> undos(ops.size());
    for (std::size_t i = 0; i < ops.size(); ++i) {
      before.push_back(s);
      Schema plain = s;
      apply(plain, ops[i]);
      apply(s, ops[i], undos[i]);
      CHECK(same(s, plain));  // the undo record changes nothing about the result
    }
    CHECK(s.tables.count("accounts") == 1);
    for (std::size_t i = ops.size(); i-- > 0;) {
      revert(s, undos[i]);
      CHECK(undos[i].saved.empty());
      CHECK_MESSAGE(same(s, before[i]), "after reverting operation ", i);
    }
    CHECK(s.tables.empty());
  }

  TEST_CASE("a downgrade renders what replaying the remaining revisions for every step renders") {
    // One operation per revision, in a linear history, then every downgrade target.
    auto ops = history();
    std::vector<Migration> ms;
    for (std::size_t i = 0; i < ops.size(); ++i) {
      Migration m;
      m.revision = "r" + std::to_string(100 + i);
      if (i > 0) m.down_revisions = {"r" + std::to_string(99 + i)};
      m.path = "versions/" + m.revision + ".toml";
      m.upgrade = {ops[i]};
      // Downgrades that render differently with the state (on SQLite, dropping a constrained
      // column rebuilds the table from its state) and change it in ways a later step's
      // rendering must not see: the state after a step is what the remaining revisions give.
      auto drop_fk_column = on(OpKind::drop_column, "posts");
      drop_fk_column.column_name = "user_id";
      auto drop_key = on(OpKind::drop_column, "accounts");
      drop_key.column_name = "account_id";
      auto odd = on(OpKind::rename_table, "posts");
      odd.new_name = "renamed_by_downgrade";
      m.downgrade = {drop_fk_column, drop_key, odd};
      ms.push_back(m);
    }
    RevisionGraph g(ms);
    for (auto dialect : {sql::Dialect::sqlite, sql::Dialect::postgresql}) {
      run::Migrator migrator(g, "core", "alembic_version", dialect);
      const std::vector<std::string> current = {ms.back().revision};
      int rebuilds = 0;  // steps whose SQL depends on the whole table's state
      for (std::size_t to = 0; to < ms.size(); ++to) {
        std::string target = to == 0 ? "base" : ms[to - 1].revision;
        Plan plan = plan_downgrade(g, current, target);
        auto steps = migrator.render(plan, current);
        REQUIRE(steps.size() == plan.steps.size());
        for (const auto& step : steps) rebuilds += step.rebuilds.empty() ? 0 : 1;
        // The reference: the state of what remains, replayed from base, for every step.
        std::set<std::string> applied = g.ancestors(current);
        for (std::size_t k = 0; k < plan.steps.size(); ++k) {
          Schema state = state_at(g, applied);
          std::vector<std::string> expected;
          for (const auto& op : g.get(plan.steps[k]).downgrade) {
            auto r = sql::render(op, state, dialect);
            expected.insert(expected.end(), r.statements.begin(), r.statements.end());
            apply(state, op);
          }
          CHECK_MESSAGE(steps[k].statements == expected, "downgrade to ", target, ", step ", plan.steps[k]);
          applied.erase(plan.steps[k]);
        }
      }
      if (dialect == sql::Dialect::sqlite) CHECK(rebuilds > 0);
    }
  }

  TEST_CASE("a downgrade of one branch among others renders as a replay does") {
    // Not the newest revisions of the applied order: the per-step replay still gives the truth.
    std::vector<Migration> ms;
    auto rev = [&](const std::string& id, std::vector<std::string> down, Operation up, Operation back) {
      Migration m;
      m.revision = id;
      m.down_revisions = std::move(down);
      m.path = "versions/" + id + ".toml";
      m.upgrade = {std::move(up)};
      m.downgrade = {std::move(back)};
      ms.push_back(m);
    };
    rev("a1", {}, create("a", {}), on(OpKind::drop_table, "a"));
    rev("b1", {}, create("b", {}), on(OpKind::drop_table, "b"));
    auto add = on(OpKind::add_column, "a");
    add.column = col("x");
    auto drop = on(OpKind::drop_column, "a");
    drop.column_name = "x";
    rev("a2", {"a1"}, add, drop);
    auto add_b = on(OpKind::add_column, "b");
    add_b.column = col("y");
    auto drop_b = on(OpKind::drop_column, "b");
    drop_b.column_name = "y";
    rev("b2", {"b1"}, add_b, drop_b);
    RevisionGraph g(ms);
    run::Migrator migrator(g, "core", "alembic_version", sql::Dialect::sqlite);
    const std::vector<std::string> current = {"a2", "b2"};
    Plan plan = plan_downgrade(g, current, "a1");
    REQUIRE(plan.steps == std::vector<std::string>{"a2"});
    auto steps = migrator.render(plan, current);
    REQUIRE(steps.size() == 1);
    CHECK(steps[0].statements == std::vector<std::string>{"ALTER TABLE \"a\" DROP COLUMN \"x\""});
  }
}
