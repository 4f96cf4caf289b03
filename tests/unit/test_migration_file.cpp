// Revision files (SPEC §5): parsing every operation and every error with its position.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "fastappkit/error.hpp"
#include "fastappkit/migration/autogenerate.hpp"
#include "fastappkit/migration/migration_file.hpp"
#include "fastappkit/migration/parse_cache.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
using fastappkit::Error;
using fastappkit::ErrorKind;
using namespace fastappkit::migration;

namespace {

using unit::contains;
using unit::error_of;
using unit::starts_with;
using unit::TempDir;

const std::string kRev = "3f2a9c1b7d4e";
const std::string kPath = "versions/3f2a9c1b7d4e_add_posts.toml";

std::optional<Error> parse_error(const std::string& text, const std::string& path = kPath, ParseOptions options = {}) {
  return error_of([&] { parse_migration(text, path, options); });
}

// A file with the given body after its revision line (line 1).
std::string with_rev(const std::string& body) { return "revision = \"" + kRev + "\"\n" + body; }

const char* const kEveryOp = R"(revision = "3f2a9c1b7d4e"
down_revision = ["a1b2c3d4e5f6", "b1b2c3d4e5f6"]
depends_on = ["c1b2c3d4e5f6"]
branch_labels = ["blog"]
message = "Add post model"
create_date = "2026-11-25T10:00:00Z"
app = "blog"
transactional = false

[[upgrade]]
op = "create_table"
table = "posts"
columns = [
  { name = "id", type = "integer" },
  { name = "tenant", type = "bigint" },
  { name = "title", type = "string", length = 200, nullable = false, default = "'untitled'" },
  { name = "price", type = "numeric", precision = 10, scale = 2 },
  { name = "author_id", type = "integer", foreign_key = "users.id", on_delete = "set_null", on_update = "CASCADE" },
  { name = "slug", type = "text", unique = true },
]
primary_key = ["id", "tenant"]
foreign_keys = [
  { name = "fk_posts_tenant", columns = ["tenant"], references_table = "tenants", references_columns = ["id"], on_delete = "cascade" },
]
unique = [ { name = "uq_posts_title_tenant", columns = ["title", "tenant"] } ]

[[upgrade]]
op = "drop_table"
table = "old_posts"

[[upgrade]]
op = "rename_table"
table = "posts"
new_name = "articles"

[[upgrade]]
op = "add_column"
table = "articles"
column = { name = "views", type = "integer", nullable = false, default = "0" }

[[upgrade]]
op = "drop_column"
table = "articles"
column = "price"

[[upgrade]]
op = "alter_column"
table = "articles"
column = "title"
new_name = "headline"
type = "string"
length = 300
nullable = true
default = ""

[[upgrade]]
op = "create_index"
name = "ix_articles_headline"
table = "articles"
columns = ["headline", "tenant"]
unique = true

[[upgrade]]
op = "drop_index"
name = "ix_old"
table = "articles"

[[upgrade]]
op = "create_unique"
name = "uq_articles_slug"
table = "articles"
columns = ["slug"]

[[upgrade]]
op = "create_foreign_key"
name = "fk_articles_editor"
table = "articles"
columns = ["author_id"]
references_table = "editors"
references_columns = ["id"]
on_delete = "restrict"
on_update = "no action"

[[upgrade]]
op = "drop_constraint"
name = "uq_posts_title_tenant"
table = "articles"

[[upgrade]]
op = "execute"
sql = "UPDATE articles SET views = 1"

[[upgrade]]
op = "execute"
sqlite = "SELECT 1"
postgresql = "SELECT 2"

[[downgrade]]
op = "drop_table"
table = "articles"
)";

}  // namespace

TEST_SUITE("fastappkit::migration") {
  TEST_CASE("is_revision_id") {
    CHECK(is_revision_id("3f2a9c1b7d4e"));
    CHECK(is_revision_id("000000000000"));
    CHECK_FALSE(is_revision_id("3F2A9C1B7D4E"));
    CHECK_FALSE(is_revision_id("3f2a9c1b7d4"));
    CHECK_FALSE(is_revision_id("3f2a9c1b7d4e0"));
    CHECK_FALSE(is_revision_id("3f2a9c1b7d4g"));
    CHECK_FALSE(is_revision_id(""));
  }

  TEST_CASE("parse_migration: header fields") {
    Migration m = parse_migration(kEveryOp, kPath);
    CHECK(m.revision == kRev);
    CHECK(m.down_revisions == std::vector<std::string>{"a1b2c3d4e5f6", "b1b2c3d4e5f6"});
    CHECK(m.depends_on == std::vector<std::string>{"c1b2c3d4e5f6"});
    CHECK(m.branch_labels == std::vector<std::string>{"blog"});
    CHECK(m.message == "Add post model");
    CHECK(m.create_date == "2026-11-25T10:00:00Z");
    CHECK(m.app == "blog");
    CHECK_FALSE(m.transactional);
    CHECK(m.path == kPath);
    CHECK(m.checksum.size() == 16);
    CHECK(m.down_line == 2);
    CHECK(m.down_col == 17);
    CHECK(m.depends_line == 3);
    CHECK(m.depends_col == 14);
    CHECK(m.upgrade.size() == 13);
    CHECK(m.downgrade.size() == 1);

    // The checksum follows the bytes.
    std::string changed = std::string(kEveryOp) + "\n";
    CHECK(parse_migration(changed, kPath).checksum != m.checksum);
    CHECK(parse_migration(kEveryOp, kPath).checksum == m.checksum);
  }

  TEST_CASE("parse_migration: a base revision with defaults; a single down_revision string") {
    Migration base = parse_migration(with_rev(""), kPath);
    CHECK(base.down_revisions.empty());
    CHECK(base.depends_on.empty());
    CHECK(base.branch_labels.empty());
    CHECK(base.message.empty());
    CHECK(base.app.empty());
    CHECK(base.transactional);
    CHECK(base.upgrade.empty());
    CHECK(base.downgrade.empty());

    Migration single =
        parse_migration(with_rev("down_revision = \"a1b2c3d4e5f6\"\nbranch_labels = \"feature\"\n"), kPath);
    CHECK(single.down_revisions == std::vector<std::string>{"a1b2c3d4e5f6"});
    CHECK(single.branch_labels == std::vector<std::string>{"feature"});
  }

  TEST_CASE("parse_migration: every operation") {
    Migration m = parse_migration(kEveryOp, kPath);
    REQUIRE(m.upgrade.size() == 13);

    SUBCASE("create_table") {
      const Operation& op = m.upgrade[0];
      CHECK(op.kind == OpKind::create_table);
      CHECK(op.line == 10);
      CHECK(op.table == "posts");
      REQUIRE(op.columns.size() == 6);
      CHECK(op.columns[0].name == "id");
      CHECK(op.columns[0].type == ColumnType::integer);
      CHECK_FALSE(op.columns[0].primary_key);
      CHECK_FALSE(op.columns[0].nullable.has_value());
      CHECK(op.columns[1].type == ColumnType::bigint);

      const ColumnSpec& title = op.columns[2];
      CHECK(title.type == ColumnType::string);
      CHECK(title.length == 200);
      CHECK(title.nullable == false);
      CHECK(title.default_value == std::optional<std::string>("'untitled'"));

      const ColumnSpec& price = op.columns[3];
      CHECK(price.type == ColumnType::numeric);
      CHECK(price.precision == 10);
      CHECK(price.scale == 2);
      CHECK_FALSE(price.length.has_value());

      const ColumnSpec& author = op.columns[4];
      CHECK(author.foreign_key == std::optional<std::string>("users.id"));
      CHECK(author.on_delete == std::optional<std::string>("SET NULL"));
      CHECK(author.on_update == std::optional<std::string>("CASCADE"));

      CHECK(op.columns[5].type == ColumnType::text);
      CHECK(op.columns[5].unique);
      CHECK_FALSE(op.columns[4].unique);

      CHECK(op.primary_key == std::vector<std::string>{"id", "tenant"});
      REQUIRE(op.foreign_keys.size() == 1);
      CHECK(op.foreign_keys[0].name == "fk_posts_tenant");
      CHECK(op.foreign_keys[0].columns == std::vector<std::string>{"tenant"});
      CHECK(op.foreign_keys[0].references_table == "tenants");
      CHECK(op.foreign_keys[0].references_columns == std::vector<std::string>{"id"});
      CHECK(op.foreign_keys[0].on_delete == std::optional<std::string>("CASCADE"));
      CHECK_FALSE(op.foreign_keys[0].on_update.has_value());
      REQUIRE(op.uniques.size() == 1);
      CHECK(op.uniques[0].name == "uq_posts_title_tenant");
      CHECK(op.uniques[0].columns == std::vector<std::string>{"title", "tenant"});
    }
    SUBCASE("drop_table and rename_table") {
      CHECK(m.upgrade[1].kind == OpKind::drop_table);
      CHECK(m.upgrade[1].table == "old_posts");
      CHECK(m.upgrade[1].line == 27);
      CHECK(m.upgrade[2].kind == OpKind::rename_table);
      CHECK(m.upgrade[2].table == "posts");
      CHECK(m.upgrade[2].new_name == "articles");
    }
    SUBCASE("add_column and drop_column") {
      const Operation& add = m.upgrade[3];
      CHECK(add.kind == OpKind::add_column);
      CHECK(add.table == "articles");
      REQUIRE(add.column.has_value());
      CHECK(add.column->name == "views");
      CHECK(add.column->type == ColumnType::integer);
      CHECK(add.column->nullable == false);
      CHECK(add.column->default_value == std::optional<std::string>("0"));
      const Operation& drop = m.upgrade[4];
      CHECK(drop.kind == OpKind::drop_column);
      CHECK(drop.table == "articles");
      CHECK(drop.column_name == "price");
    }
    SUBCASE("alter_column") {
      const Operation& op = m.upgrade[5];
      CHECK(op.kind == OpKind::alter_column);
      CHECK(op.table == "articles");
      CHECK(op.column_name == "title");
      CHECK(op.new_name == "headline");
      CHECK(op.new_type == std::optional<ColumnType>(ColumnType::string));
      CHECK(op.length == 300);
      CHECK(op.nullable == true);
      CHECK(op.new_default == std::optional<std::string>(""));
    }
    SUBCASE("indexes") {
      const Operation& ix = m.upgrade[6];
      CHECK(ix.kind == OpKind::create_index);
      CHECK(ix.name == "ix_articles_headline");
      CHECK(ix.table == "articles");
      CHECK(ix.index_columns == std::vector<std::string>{"headline", "tenant"});
      CHECK(ix.unique);
      CHECK(m.upgrade[7].kind == OpKind::drop_index);
      CHECK(m.upgrade[7].name == "ix_old");
      CHECK(m.upgrade[7].table == "articles");
    }
    SUBCASE("constraints") {
      const Operation& uq = m.upgrade[8];
      CHECK(uq.kind == OpKind::create_unique);
      CHECK(uq.name == "uq_articles_slug");
      CHECK(uq.index_columns == std::vector<std::string>{"slug"});
      const Operation& fk = m.upgrade[9];
      CHECK(fk.kind == OpKind::create_foreign_key);
      CHECK(fk.name == "fk_articles_editor");
      CHECK(fk.table == "articles");
      CHECK(fk.index_columns == std::vector<std::string>{"author_id"});
      CHECK(fk.extra().references_table == "editors");
      CHECK(fk.extra().references_columns == std::vector<std::string>{"id"});
      CHECK(fk.extra().on_delete == std::optional<std::string>("RESTRICT"));
      CHECK(fk.extra().on_update == std::optional<std::string>("NO ACTION"));
      const Operation& drop = m.upgrade[10];
      CHECK(drop.kind == OpKind::drop_constraint);
      CHECK(drop.name == "uq_posts_title_tenant");
      CHECK(drop.table == "articles");
    }
    SUBCASE("execute") {
      const Operation& all = m.upgrade[11];
      CHECK(all.kind == OpKind::execute);
      CHECK(all.extra().sql == std::map<std::string, std::string>{{"", "UPDATE articles SET views = 1"}});
      const Operation& per = m.upgrade[12];
      CHECK(per.kind == OpKind::execute);
      CHECK(per.extra().sql == std::map<std::string, std::string>{{"sqlite", "SELECT 1"}, {"postgresql", "SELECT 2"}});
    }
    SUBCASE("downgrade") {
      CHECK(m.downgrade[0].kind == OpKind::drop_table);
      CHECK(m.downgrade[0].table == "articles");
    }
  }

  TEST_CASE("parse_migration: a column-level primary key is not nullable by default") {
    Migration m = parse_migration(
        with_rev("[[upgrade]]\nop = \"create_table\"\ntable = \"t\"\n"
                 "columns = [{ name = \"id\", type = \"uuid\", primary_key = true, nullable = false }]\n"),
        kPath);
    REQUIRE(m.upgrade.size() == 1);
    REQUIRE(m.upgrade[0].columns.size() == 1);
    CHECK(m.upgrade[0].columns[0].primary_key);
    CHECK(m.upgrade[0].columns[0].type == ColumnType::uuid);
    CHECK(m.upgrade[0].primary_key.empty());
  }

  TEST_CASE("parse_migration: 'call' only when allowed") {
    const std::string text =
        with_rev("\n[[upgrade]]\nop = \"call\"\nfunction = \"seed_rows\"\nargs = [\"a\", \"b\"]\n");
    auto e = parse_error(text);
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::input);
    CHECK(starts_with(e->what(),
                      kPath + ":3:1: 'call' operations run C++ steps that only plugins (external apps) provide"));
    CHECK(contains(e->hint(), "execute"));

    Migration m = parse_migration(text, kPath, ParseOptions{.allow_call = true});
    REQUIRE(m.upgrade.size() == 1);
    CHECK(m.upgrade[0].kind == OpKind::call);
    CHECK(m.upgrade[0].extra().function == "seed_rows");
    CHECK(m.upgrade[0].extra().args == std::vector<std::string>{"a", "b"});

    auto no_function = parse_error(with_rev("[[upgrade]]\nop = \"call\"\n"), kPath, ParseOptions{.allow_call = true});
    REQUIRE(no_function);
    CHECK(starts_with(no_function->what(), kPath + ":2:1: operation call needs 'function'"));
  }

  TEST_CASE("parse_migration: errors name path:line:col") {
    SUBCASE("unknown top-level key") {
      auto e = parse_error(with_rev("mesage = \"x\"\n"));
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(starts_with(e->what(), kPath + ":2:1: unknown key 'mesage' in migration file"));
      CHECK(contains(e->what(), "\n    mesage = \"x\"\n    ^"));
      CHECK(e->hint() == "did you mean 'message'?");
    }
    SUBCASE("unknown op, with did-you-mean") {
      auto e = parse_error(with_rev("[[upgrade]]\nop = \"create_tabel\"\ntable = \"t\"\n"));
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(starts_with(e->what(), kPath + ":3:6: unknown operation 'create_tabel'"));
      CHECK(contains(e->what(), "\n    op = \"create_tabel\"\n         ^"));
      CHECK(e->hint() == "did you mean 'create_table'?");
    }
    SUBCASE("an entry without op") {
      auto e = parse_error(with_rev("[[downgrade]]\ntable = \"t\"\n"));
      REQUIRE(e);
      CHECK(starts_with(e->what(), kPath + ":2:1: operation needs 'op'"));
    }
    SUBCASE("unknown key in an op") {
      auto e = parse_error(with_rev("[[upgrade]]\nop = \"drop_table\"\ntable = \"t\"\ncascade = true\n"));
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(starts_with(e->what(), kPath + ":5:1: unknown key 'cascade' in operation drop_table"));
      CHECK(e->hint() == "allowed keys: op, table, lint_ignore");
    }
    SUBCASE("unknown key in an op, near a known one") {
      auto e = parse_error(with_rev("[[upgrade]]\nop = \"rename_table\"\ntable = \"t\"\nnewname = \"u\"\n"));
      REQUIRE(e);
      CHECK(starts_with(e->what(), kPath + ":5:1: unknown key 'newname' in operation rename_table"));
      CHECK(e->hint() == "did you mean 'new_name'?");
    }
    SUBCASE("unknown column key") {
      auto e =
          parse_error(with_rev("[[upgrade]]\nop = \"create_table\"\ntable = \"t\"\n"
                               "columns = [{ name = \"id\", type = \"integer\", nulable = true }]\n"));
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(starts_with(e->what(), kPath + ":5:45: unknown key 'nulable' in column of t"));
      CHECK(e->hint() == "did you mean 'nullable'?");
    }
    SUBCASE("unknown type") {
      auto e =
          parse_error(with_rev("[[upgrade]]\nop = \"add_column\"\ntable = \"t\"\n"
                               "column = { name = \"c\", type = \"strng\" }\n"));
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(starts_with(e->what(), kPath + ":5:31: unknown column type 'strng'"));
      CHECK(e->hint() == "did you mean 'string'?");
    }
    SUBCASE("unknown type far from every type lists them") {
      auto e = parse_error(
          with_rev("[[upgrade]]\nop = \"alter_column\"\ntable = \"t\"\ncolumn = \"c\"\ntype = \"varchar2000\"\n"));
      REQUIRE(e);
      CHECK(starts_with(e->what(), kPath + ":6:8: unknown column type 'varchar2000'"));
      CHECK(starts_with(e->hint(), "types: integer, bigint, smallint, string"));
    }
    SUBCASE("a column without a type") {
      auto e = parse_error(with_rev("[[upgrade]]\nop = \"add_column\"\ntable = \"t\"\ncolumn = { name = \"c\" }\n"));
      REQUIRE(e);
      CHECK(starts_with(e->what(), kPath + ":5:10: column 'c' needs a type"));
    }
    SUBCASE("length on a non-string type") {
      auto e =
          parse_error(with_rev("[[upgrade]]\nop = \"add_column\"\ntable = \"t\"\n"
                               "column = { name = \"n\", type = \"integer\", length = 5 }\n"));
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(starts_with(e->what(), kPath + ":5:51: column 'n': length applies only to type \"string\""));
    }
    SUBCASE("precision on a non-numeric type") {
      auto e =
          parse_error(with_rev("[[upgrade]]\nop = \"add_column\"\ntable = \"t\"\n"
                               "column = { name = \"n\", type = \"float\", precision = 5 }\n"));
      REQUIRE(e);
      CHECK(starts_with(e->what(), kPath + ":5:52: column 'n': precision applies only to type \"numeric\""));
    }
    SUBCASE("missing revision") {
      auto e = parse_error("message = \"no revision\"\n");
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(starts_with(e->what(), kPath + ":1:1: migration file has no 'revision'"));
      CHECK(contains(e->hint(), "revision = "));
    }
    SUBCASE("revision not 12 lowercase hex characters") {
      auto upper = parse_error("revision = \"3F2A9C1B7D4E\"\n", "versions/3F2A9C1B7D4E_x.toml");
      REQUIRE(upper);
      CHECK(upper->kind() == ErrorKind::input);
      CHECK(
          starts_with(upper->what(),
                      "versions/3F2A9C1B7D4E_x.toml:1:12: revision '3F2A9C1B7D4E' is not 12 lowercase hex characters"));
      auto shorter = parse_error("\nrevision = \"3f2a9c\"\n", "versions/3f2a9c_x.toml");
      REQUIRE(shorter);
      CHECK(starts_with(shorter->what(),
                        "versions/3f2a9c_x.toml:2:12: revision '3f2a9c' is not 12 lowercase hex characters"));
      auto not_string = parse_error("revision = 12\n");
      REQUIRE(not_string);
      CHECK(starts_with(not_string->what(), kPath + ":1:12: revision must be a string"));
    }
    SUBCASE("file name does not start with the revision") {
      auto e = parse_error(with_rev("message = \"m\"\n"), "versions/000000000000_add_posts.toml");
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(starts_with(e->what(),
                        "versions/000000000000_add_posts.toml:1:12: file name '000000000000_add_posts.toml' "
                        "does not start with its revision '3f2a9c1b7d4e'"));
      CHECK(contains(e->hint(), "<revision>_<slug>.toml"));
    }
    SUBCASE("execute with no SQL") {
      auto e = parse_error(with_rev("\n[[upgrade]]\nop = \"execute\"\n"));
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(starts_with(e->what(), kPath + ":3:1: execute needs 'sql', or 'sqlite' and/or 'postgresql'"));
    }
    SUBCASE("execute with both sql and a dialect") {
      auto e = parse_error(with_rev("[[upgrade]]\nop = \"execute\"\nsql = \"SELECT 1\"\nsqlite = \"SELECT 2\"\n"));
      REQUIRE(e);
      CHECK(starts_with(e->what(), kPath + ":2:1: execute has both 'sql' and a per-dialect key"));
    }
    SUBCASE("nullable primary key") {
      auto e = parse_error(
          with_rev("[[upgrade]]\nop = \"create_table\"\ntable = \"t\"\n"
                   "columns = [{ name = \"id\", type = \"integer\", primary_key = true, nullable = true }]\n"));
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(starts_with(e->what(), kPath + ":5:76: primary key column 'id' cannot be nullable"));
    }
    SUBCASE("bad on_delete") {
      auto e = parse_error(
          with_rev("[[upgrade]]\nop = \"create_foreign_key\"\nname = \"fk\"\ntable = \"t\"\ncolumns = [\"a\"]\n"
                   "references_table = \"u\"\nreferences_columns = [\"id\"]\non_delete = \"explode\"\n"));
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(starts_with(e->what(), kPath + ":9:13: on_delete 'explode' is not a referential action"));
      CHECK(contains(e->hint(), "cascade"));
    }
    SUBCASE("on_delete on a column without foreign_key") {
      auto e =
          parse_error(with_rev("[[upgrade]]\nop = \"add_column\"\ntable = \"t\"\n"
                               "column = { name = \"c\", type = \"integer\", on_delete = \"cascade\" }\n"));
      REQUIRE(e);
      CHECK(starts_with(e->what(), kPath + ":5:10: column 'c' has on_delete/on_update but no foreign_key"));
    }
    SUBCASE("invalid TOML") {
      auto e = parse_error("revision = \"3f2a9c1b7d4e\"\nmessage = \"unterminated\n");
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(starts_with(e->what(), kPath + ":2:"));
      CHECK(contains(e->what(), "invalid TOML"));
      CHECK(contains(e->what(), "\n    message = \"unterminated\n"));
    }
    SUBCASE("down_revision naming the file's own revision") {
      auto e = parse_error(with_rev("down_revision = \"3f2a9c1b7d4e\"\n"));
      REQUIRE(e);
      CHECK(starts_with(e->what(), kPath + ":2:17: down_revision names the file's own revision"));
    }
    SUBCASE("a create_table key naming no column") {
      auto e =
          parse_error(with_rev("[[upgrade]]\nop = \"create_table\"\ntable = \"t\"\n"
                               "columns = [{ name = \"id\", type = \"integer\" }]\nprimary_key = [\"ident\"]\n"));
      REQUIRE(e);
      CHECK(starts_with(e->what(), kPath + ":6:15: 'ident' is not a column of t"));
    }
    SUBCASE("alter_column that changes nothing") {
      auto e = parse_error(with_rev("[[upgrade]]\nop = \"alter_column\"\ntable = \"t\"\ncolumn = \"c\"\n"));
      REQUIRE(e);
      CHECK(starts_with(e->what(), kPath + ":2:1: alter_column changes nothing"));
    }
  }

  TEST_CASE("load_migrations: reads every file sorted; reports every broken file at once") {
    TempDir tmp;
    const std::string a = "a1b2c3d4e5f6", b = "b1b2c3d4e5f6";
    tmp.write(b + "_second.toml", "revision = \"" + b + "\"\ndown_revision = \"" + a + "\"\n");
    tmp.write(a + "_first.toml", "revision = \"" + a + "\"\n");
    tmp.write("README.md", "not a migration");

    std::vector<Migration> ok = load_migrations(tmp.path);
    REQUIRE(ok.size() == 2);
    CHECK(ok[0].revision == a);
    CHECK(ok[1].revision == b);
    CHECK(ok[0].path == (tmp.path / (a + "_first.toml")).string());

    const fs::path bad1 =
        tmp.write("c1b2c3d4e5f6_bad_op.toml", "revision = \"c1b2c3d4e5f6\"\n[[upgrade]]\nop = \"drop_tabel\"\n");
    const fs::path bad2 = tmp.write("d1b2c3d4e5f6_bad_key.toml", "revision = \"d1b2c3d4e5f6\"\nmesage = \"x\"\n");
    auto e = error_of([&] { load_migrations(tmp.path); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::input);
    const std::string msg = e->what();
    CHECK(contains(msg, bad1.string() + ":3:6: unknown operation 'drop_tabel'"));
    CHECK(contains(msg, bad2.string() + ":2:1: unknown key 'mesage' in migration file"));
    CHECK(msg.find(bad1.string()) < msg.find(bad2.string()));
    CHECK(contains(msg, "hint: did you mean 'drop_table'?"));
    CHECK(starts_with(e->hint(), "2 migration file(s) are invalid"));

    // `call` is refused unless the caller allows it.
    fs::remove(bad1);
    fs::remove(bad2);
    tmp.write("e1b2c3d4e5f6_call.toml", "revision = \"e1b2c3d4e5f6\"\n[[upgrade]]\nop = \"call\"\nfunction = \"f\"\n");
    auto refused = error_of([&] { load_migrations(tmp.path); });
    REQUIRE(refused);
    CHECK(starts_with(refused->hint(), "1 migration file(s) are invalid"));
    CHECK(load_migrations(tmp.path, ParseOptions{.allow_call = true}).size() == 3);
  }

  TEST_CASE("the parse cache's byte form keeps every field") {
    Migration m = parse_migration(kEveryOp, kPath);
    m.upgrade[0].comment = "DESTRUCTIVE: a comment autogenerate wrote";
    m.upgrade[0].lint_ignore = {"create-index-not-concurrently"};
    m.upgrade[1].not_valid = true;
    const std::string bytes = encode_migration(m);
    Migration back = decode_migration(bytes);
    CHECK(encode_migration(back) == bytes);
    // What the revision writer makes of it: every field a file can hold, in its own words.
    CHECK(write_migration(back) == write_migration(m));
    CHECK(back.path == m.path);
    CHECK(back.checksum == m.checksum);
    CHECK(back.down_line == m.down_line);
    CHECK(back.depends_col == m.depends_col);
    REQUIRE(back.upgrade.size() == m.upgrade.size());
    const Operation plain;  // no boxed members: extra() is the shared empty one
    for (std::size_t i = 0; i < m.upgrade.size(); ++i) {
      CHECK(back.upgrade[i].line == m.upgrade[i].line);
      CHECK(back.upgrade[i].col == m.upgrade[i].col);
      // A decoded operation has a box for its check/foreign key/execute/call members only when
      // it uses one of them.
      const bool boxed = &back.upgrade[i].extra() != &plain.extra();
      CHECK(boxed == !(back.upgrade[i].extra() == OperationExtra{}));
    }
    CHECK(std::any_of(back.upgrade.begin(), back.upgrade.end(),
                      [&](const Operation& op) { return &op.extra() == &plain.extra(); }));
    CHECK(std::any_of(back.upgrade.begin(), back.upgrade.end(),
                      [&](const Operation& op) { return &op.extra() != &plain.extra(); }));
    // Malformed bytes are refused, never half-read.
    CHECK_THROWS(decode_migration(bytes.substr(0, bytes.size() / 2)));
    CHECK_THROWS(decode_migration(bytes + "x"));
  }

  TEST_CASE("load_migrations: a missing directory") {
    TempDir tmp;
    auto e = error_of([&] { load_migrations(tmp.path / "versions"); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::input);
    CHECK(std::string(e->what()) == "Core migrations directory not found: " + (tmp.path / "versions").string());
  }

}  // TEST_SUITE

TEST_CASE("create_table with two unique constraints on the same columns is refused (PostgreSQL would keep one)") {
  const std::string text =
      "revision = \"3f2a9c1b7d4e\"\n[[upgrade]]\nop = \"create_table\"\ntable = \"t\"\n"
      "columns = [ { name = \"id\", type = \"integer\", primary_key = true }, { name = \"c\", type = \"integer\", "
      "unique = true } ]\n"
      "unique = [ { name = \"uc_t_c\", columns = [\"c\"] } ]\n";
  try {
    fastappkit::migration::parse_migration(text, "3f2a9c1b7d4e_t.toml");
    FAIL("expected an error");
  } catch (const fastappkit::Error& e) {
    CHECK(std::string(e.what()).rfind(
              "3f2a9c1b7d4e_t.toml:2:1: unique constraints uq_t_c and uc_t_c of table 't' cover the same columns (c)",
              0) == 0);
  }
}
