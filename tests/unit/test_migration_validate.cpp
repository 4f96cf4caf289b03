// Offline validation of operations against the replayed schema (SPEC §5, §9): every name an
// operation uses is checked before a database is opened, with the error at file:line:col.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "fastappkit/error.hpp"
#include "fastappkit/migration/graph.hpp"
#include "fastappkit/migration/migration_file.hpp"
#include "fastappkit/migration/validate.hpp"
#include "support.hpp"

using fastappkit::Error;
using fastappkit::ErrorKind;
using namespace fastappkit::migration;

namespace {

using unit::contains;
using unit::error_of;

// A revision file: `rev` after `down` ("" for a base), with `body` (its [[upgrade]]/[[downgrade]] entries).
Migration rev(const std::string& id, const std::string& down, const std::string& body) {
  std::string text = "revision = \"" + id + "\"\n";
  if (!down.empty()) text += "down_revision = " + down + "\n";
  return parse_migration(text + body, "versions/" + id + "_x.toml");
}

const std::string kBase = R"toml(
[[upgrade]]
op = "create_table"
table = "items"
columns = [
  { name = "id", type = "integer", primary_key = true },
  { name = "name", type = "string", length = 50 },
  { name = "qty", type = "integer" },
]

[[upgrade]]
op = "create_index"
name = "ix_items_name"
table = "items"
columns = ["name"]
)toml";

std::optional<Error> validate(const std::string& body, const std::string& base = kBase) {
  std::vector<Migration> ms{rev("a00000000001", "", base), rev("b00000000002", "\"a00000000001\"", body)};
  RevisionGraph g(std::move(ms));
  return error_of([&] { validate_operations(g); });
}

}  // namespace

TEST_SUITE("fastappkit::migration") {
  TEST_CASE("valid operations pass") {
    CHECK_FALSE(validate(R"toml(
[[upgrade]]
op = "alter_column"
table = "items"
column = "qty"
type = "bigint"

[[upgrade]]
op = "create_unique"
name = "uq_items_name"
table = "items"
columns = ["name"]

[[upgrade]]
op = "create_table"
table = "notes"
columns = [{ name = "id", type = "integer", primary_key = true }, { name = "item_id", type = "integer", foreign_key = "items.id" }]

[[downgrade]]
op = "drop_table"
table = "notes"

[[downgrade]]
op = "drop_constraint"
name = "uq_items_name"
table = "items"
)toml"));
  }

  TEST_CASE("create_index on a column that does not exist is refused at file:line:col") {
    auto e = validate(
        "\n[[upgrade]]\nop = \"create_index\"\nname = \"ix_nosuch\"\ntable = \"items\"\ncolumns = [\"nosuch\"]\n");
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::input);
    REQUIRE(e->location());
    CHECK(e->location()->file == "versions/b00000000002_x.toml");
    CHECK(e->location()->line == 4);
    CHECK(contains(e->message(), "table 'items' has no column 'nosuch'"));
    CHECK(contains(e->message(), "create_index in revision b00000000002"));
  }

  TEST_CASE("each kind of wrong name is refused") {
    auto refused = [](const std::string& body, const std::string& part) {
      auto e = validate(body);
      REQUIRE_MESSAGE(e, body);
      CHECK_MESSAGE(contains(e->message(), part), e->message());
    };
    refused("[[upgrade]]\nop = \"drop_table\"\ntable = \"itmes\"\n", "table 'itmes' does not exist");
    CHECK(contains(validate("[[upgrade]]\nop = \"drop_table\"\ntable = \"itmes\"\n")->hint(), "did you mean 'items'?"));
    refused("[[upgrade]]\nop = \"drop_column\"\ntable = \"items\"\ncolumn = \"nosuch\"\n", "has no column 'nosuch'");
    refused("[[upgrade]]\nop = \"alter_column\"\ntable = \"items\"\ncolumn = \"nosuch\"\nnullable = false\n",
            "has no column 'nosuch'");
    refused("[[upgrade]]\nop = \"alter_column\"\ntable = \"items\"\ncolumn = \"qty\"\nnew_name = \"name\"\n",
            "already has a column 'name'");
    refused("[[upgrade]]\nop = \"add_column\"\ntable = \"items\"\ncolumn = { name = \"qty\", type = \"text\" }\n",
            "already has a column 'qty'");
    refused("[[upgrade]]\nop = \"rename_table\"\ntable = \"items\"\nnew_name = \"items\"\n",
            "table 'items' already exists");
    refused(
        "[[upgrade]]\nop = \"create_table\"\ntable = \"items\"\ncolumns = [{ name = \"id\", type = \"integer\" }]\n",
        "table 'items' already exists");
    refused("[[upgrade]]\nop = \"create_index\"\nname = \"ix_items_name\"\ntable = \"items\"\ncolumns = [\"qty\"]\n",
            "'ix_items_name' is already used");
    refused("[[upgrade]]\nop = \"drop_index\"\nname = \"ix_nosuch\"\ntable = \"items\"\n", "has no index 'ix_nosuch'");
    refused("[[upgrade]]\nop = \"drop_constraint\"\nname = \"uq_nosuch\"\ntable = \"items\"\n",
            "has no constraint 'uq_nosuch'");
    refused("[[upgrade]]\nop = \"create_unique\"\nname = \"uq_x\"\ntable = \"items\"\ncolumns = [\"nosuch\"]\n",
            "has no column 'nosuch'");
    refused(
        "[[upgrade]]\nop = \"create_foreign_key\"\nname = \"fk_x\"\ntable = \"items\"\ncolumns = "
        "[\"qty\"]\nreferences_table = \"nosuch\"\nreferences_columns = [\"id\"]\n",
        "references table 'nosuch', which does not exist");
    refused(
        "[[upgrade]]\nop = \"create_foreign_key\"\nname = \"fk_x\"\ntable = \"items\"\ncolumns = "
        "[\"qty\"]\nreferences_table = \"items\"\nreferences_columns = [\"nosuch\"]\n",
        "has no column 'nosuch'");
    refused(
        "[[upgrade]]\nop = \"create_table\"\ntable = \"notes\"\ncolumns = [{ name = \"id\", type = \"integer\" }, { "
        "name = \"i\", type = \"integer\", foreign_key = \"items.nosuch\" }]\n",
        "has no column 'nosuch'");
  }

  TEST_CASE("downgrade operations are checked against the state after the upgrade") {
    auto e = validate(
        "[[upgrade]]\nop = \"add_column\"\ntable = \"items\"\ncolumn = { name = \"note\", type = \"text\" }\n\n"
        "[[downgrade]]\nop = \"drop_column\"\ntable = \"items\"\ncolumn = \"notes\"\n");
    REQUIRE(e);
    CHECK(e->location()->line == 8);
    CHECK(contains(e->message(), "drop_column in revision b00000000002: table 'items' has no column 'notes'"));
    CHECK(contains(e->hint(), "did you mean 'note'?"));
  }

  TEST_CASE("names that execute SQL mentions are not checked: the SQL may have made them") {
    CHECK_FALSE(
        validate("[[upgrade]]\nop = \"execute\"\nsql = 'CREATE INDEX \"ix_raw\" ON items (qty)'\n\n"
                 "[[upgrade]]\nop = \"drop_index\"\nname = \"ix_raw\"\ntable = \"items\"\n"));
    CHECK_FALSE(
        validate("[[upgrade]]\nop = \"execute\"\nsql = \"CREATE TABLE raw_t (id INTEGER PRIMARY KEY)\"\n\n"
                 "[[upgrade]]\nop = \"create_index\"\nname = \"ix_raw_t\"\ntable = \"raw_t\"\ncolumns = [\"id\"]\n"));
    CHECK_FALSE(validate(
        "[[upgrade]]\nop = \"execute\"\nsql = \"ALTER TABLE items ADD COLUMN extra TEXT\"\n\n"
        "[[upgrade]]\nop = \"create_index\"\nname = \"ix_items_extra\"\ntable = \"items\"\ncolumns = [\"extra\"]\n"));
    // An index, trigger or view made by raw SQL changes no columns: they are still checked.
    for (const std::string sql : {"CREATE INDEX ix_raw ON items (qty)", "CREATE VIEW v AS SELECT qty FROM items",
                                  "CREATE TRIGGER t AFTER INSERT ON items BEGIN UPDATE items SET qty = 1; END"}) {
      auto e = validate(
          "[[upgrade]]\nop = \"execute\"\nsql = \"" + sql +
          "\"\n\n"
          "[[upgrade]]\nop = \"create_index\"\nname = \"ix_items_x\"\ntable = \"items\"\ncolumns = [\"nosuch\"]\n");
      REQUIRE_MESSAGE(e, sql);
      CHECK(contains(e->message(), "has no column 'nosuch'"));
    }
    // A table the SQL does not mention still has its columns checked.
    CHECK(validate(
        "[[upgrade]]\nop = \"execute\"\nsql = \"CREATE TABLE raw_t (id INTEGER PRIMARY KEY)\"\n\n"
        "[[upgrade]]\nop = \"create_index\"\nname = \"ix_items_x\"\ntable = \"items\"\ncolumns = [\"nosuch\"]\n"));
  }

  TEST_CASE("a plugin may reference tables its graph does not define; core may not") {
    std::vector<Migration> ms{rev("a00000000001", "",
                                  "[[upgrade]]\nop = \"create_table\"\ntable = \"p_orders\"\n"
                                  "columns = [{ name = \"id\", type = \"integer\", primary_key = true }, { name = "
                                  "\"user_id\", type = \"integer\", foreign_key = \"users.id\" }]\n")};
    RevisionGraph g(std::move(ms));
    CHECK_FALSE(error_of([&] { validate_operations(g, {.foreign_tables_allowed = true}); }));
    auto e = error_of([&] { validate_operations(g); });
    REQUIRE(e);
    CHECK(contains(e->message(), "references table 'users'"));
  }

  TEST_CASE("branches and merges: each revision sees its own ancestors only") {
    // Two branches from the base; the merge sees both; a branch does not see its sibling.
    std::vector<Migration> ms{
        rev("a00000000001", "", kBase),
        rev("b00000000002", "\"a00000000001\"",
            "[[upgrade]]\nop = \"add_column\"\ntable = \"items\"\ncolumn = { name = \"b\", type = \"text\" }\n"),
        rev("c00000000003", "\"a00000000001\"",
            "[[upgrade]]\nop = \"add_column\"\ntable = \"items\"\ncolumn = { name = \"c\", type = \"text\" }\n"),
        rev("d00000000004", "[\"b00000000002\", \"c00000000003\"]",
            "[[upgrade]]\nop = \"create_index\"\nname = \"ix_bc\"\ntable = \"items\"\ncolumns = [\"b\", \"c\"]\n"),
    };
    RevisionGraph ok(ms);
    CHECK_FALSE(error_of([&] { validate_operations(ok); }));
    ms[2] = rev("c00000000003", "\"a00000000001\"",
                "[[upgrade]]\nop = \"create_index\"\nname = \"ix_b\"\ntable = \"items\"\ncolumns = [\"b\"]\n");
    RevisionGraph bad(ms);
    auto e = error_of([&] { validate_operations(bad); });
    REQUIRE(e);
    CHECK(contains(e->message(), "revision c00000000003: table 'items' has no column 'b'"));
  }

  TEST_CASE("a long linear graph validates quickly (each revision reuses its parent's state)") {
    std::vector<Migration> ms{rev("a00000000000", "", kBase)};
    char id[13];
    std::string prev = "a00000000000";
    for (int i = 1; i <= 2000; ++i) {
      std::snprintf(id, sizeof id, "b%011d", i);
      ms.push_back(rev(id, "\"" + prev + "\"",
                       "[[upgrade]]\nop = \"add_column\"\ntable = \"items\"\ncolumn = { name = \"c" +
                           std::to_string(i) +
                           "\", type = \"text\" }\n"
                           "[[downgrade]]\nop = \"drop_column\"\ntable = \"items\"\ncolumn = \"c" +
                           std::to_string(i) + "\"\n"));
      prev = id;
    }
    RevisionGraph g(std::move(ms));
    auto t0 = std::chrono::steady_clock::now();
    CHECK_FALSE(error_of([&] { validate_operations(g); }));
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20));
  }

}  // TEST_SUITE
