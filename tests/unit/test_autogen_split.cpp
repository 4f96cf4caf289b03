// split_online_safe (issue 16): a generated PostgreSQL revision that adds indexes or foreign keys
// to existing tables becomes chained online-safe parts, each with a downgrade of its own.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "fastappkit/migration/autogenerate.hpp"
#include "fastappkit/migration/migration_file.hpp"
#include "fastappkit/migration/schema.hpp"

using namespace fastappkit::migration;

namespace {

Schema schema_of(const std::string& body) {
  Schema s;
  for (const auto& op : parse_migration("revision = \"a00000000001\"\n" + body, "a00000000001_x.toml").upgrade)
    apply(s, op);
  return s;
}

const std::string kHead = R"toml([[upgrade]]
op = "create_table"
table = "orgs"
columns = [ { name = "id", type = "integer", primary_key = true } ]
[[upgrade]]
op = "create_table"
table = "posts"
columns = [ { name = "id", type = "integer", primary_key = true }, { name = "title", type = "text" },
  { name = "org_id", type = "integer" } ]
)toml";

Migration generated(const Schema& head, const Schema& models) {
  Migration m;
  m.message = "m";
  m.upgrade = diff(head, models);
  m.downgrade = diff(models, head);
  prefer_online_safe(m);
  return m;
}

}  // namespace

TEST_SUITE("fastappkit::migration") {
  TEST_CASE("split_online_safe: transactional part, concurrent indexes, validation; downgrades per part") {
    const Schema head = schema_of(kHead);
    const Schema models = schema_of(kHead + R"toml([[upgrade]]
op = "create_index"
name = "ix_posts_title"
table = "posts"
columns = ["title"]
[[upgrade]]
op = "create_foreign_key"
name = "fk_posts_org"
table = "posts"
columns = ["org_id"]
references_table = "orgs"
references_columns = ["id"]
[[upgrade]]
op = "add_column"
table = "orgs"
column = { name = "tag", type = "text" }
)toml");
    auto parts = split_online_safe(generated(head, models), head);
    REQUIRE(parts.size() == 3);
    // 1: the column and the key NOT VALID, transactional; its downgrade drops both.
    CHECK(parts[0].transactional);
    REQUIRE(parts[0].upgrade.size() == 2);
    CHECK(parts[0].upgrade[0].kind == OpKind::add_column);
    CHECK(parts[0].upgrade[1].kind == OpKind::create_foreign_key);
    CHECK(parts[0].upgrade[1].not_valid);
    CHECK(parts[0].upgrade[0].comment.find("revision 1 of 3") != std::string::npos);
    REQUIRE(parts[0].downgrade.size() == 2);
    CHECK(parts[0].downgrade[0].kind == OpKind::drop_constraint);
    CHECK(parts[0].downgrade[1].kind == OpKind::drop_column);
    // 2: the index, concurrently, outside a transaction, and dropped the same way.
    CHECK_FALSE(parts[1].transactional);
    REQUIRE(parts[1].upgrade.size() == 1);
    CHECK(parts[1].upgrade[0].concurrently);
    REQUIRE(parts[1].downgrade.size() == 1);
    CHECK(parts[1].downgrade[0].kind == OpKind::drop_index);
    CHECK(parts[1].downgrade[0].concurrently);
    // 3: the validation, nothing to undo.
    REQUIRE(parts[2].upgrade.size() == 1);
    CHECK(parts[2].upgrade[0].kind == OpKind::validate_constraint);
    CHECK(parts[2].upgrade[0].name == "fk_posts_org");
    CHECK(parts[2].downgrade.empty());
    // Replaying the parts gives the models' schema; their downgrades give the head back.
    Schema s = head;
    for (const auto& p : parts)
      for (const auto& op : p.upgrade) apply(s, op);
    CHECK(diff(s, models).empty());
    for (auto it = parts.rbegin(); it != parts.rend(); ++it)
      for (const auto& op : it->downgrade) apply(s, op);
    CHECK(diff(s, head).empty());
    // Every part reads back as written.
    for (auto& p : parts) {
      p.revision = "b00000000002";
      CHECK_NOTHROW(parse_migration(write_migration(p), "b00000000002_x.toml"));
    }
  }

  TEST_CASE("split_online_safe leaves alone what needs no split") {
    const Schema head = schema_of(kHead);
    // Only a new column: one revision, unchanged.
    Schema col = schema_of(kHead +
                           "[[upgrade]]\nop = \"add_column\"\ntable = \"orgs\"\ncolumn = { name = \"tag\", "
                           "type = \"text\" }\n");
    auto one = split_online_safe(generated(head, col), head);
    REQUIRE(one.size() == 1);
    CHECK(one[0].transactional);
    // A lone index: prefer_online_safe's single concurrent revision.
    Schema ix = schema_of(kHead +
                          "[[upgrade]]\nop = \"create_index\"\nname = \"ix_posts_title\"\ntable = "
                          "\"posts\"\ncolumns = [\"title\"]\n");
    auto lone = split_online_safe(generated(head, ix), head);
    REQUIRE(lone.size() == 1);
    CHECK_FALSE(lone[0].transactional);
    CHECK(lone[0].upgrade[0].comment.find("online-safe on PostgreSQL") != std::string::npos);
    // An index on a table created in the same revision stays in it.
    Schema fresh = schema_of(kHead +
                             "[[upgrade]]\nop = \"create_table\"\ntable = \"tags\"\ncolumns = [ { name = "
                             "\"id\", type = \"integer\", primary_key = true } ]\n[[upgrade]]\nop = "
                             "\"create_index\"\nname = \"ix_tags_id\"\ntable = \"tags\"\ncolumns = [\"id\"]\n");
    auto same = split_online_safe(generated(head, fresh), head);
    REQUIRE(same.size() == 1);
    CHECK(same[0].upgrade.size() == 2);
  }
}
