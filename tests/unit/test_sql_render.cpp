// SQL rendering per dialect (SPEC §4, §5): exact statements for every operation, SQLite table
// rebuilds, and a check that the SQLite statements run on a real database without losing rows.
#include <doctest/doctest.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "fastappkit/config/database_url.hpp"
#include "fastappkit/db/connection.hpp"
#include "fastappkit/error.hpp"
#include "fastappkit/migration/migration_file.hpp"
#include "fastappkit/migration/schema.hpp"
#include "fastappkit/sql/render.hpp"
#include "support.hpp"

using fastappkit::Error;
using fastappkit::ErrorKind;
using namespace fastappkit::migration;
using namespace fastappkit::sql;
using Stmts = std::vector<std::string>;

namespace {

using unit::contains;
using unit::error_of;
using unit::starts_with;
using unit::TempDir;

// One operation written as in a migration file (the keys of one [[upgrade]] entry).
Operation op_from(const std::string& body) {
  Migration m = parse_migration("revision = \"3f2a9c1b7d4e\"\n[[upgrade]]\n" + body, "3f2a9c1b7d4e_t.toml");
  REQUIRE(m.upgrade.size() == 1);
  return m.upgrade[0];
}

Schema schema_of(std::initializer_list<std::string> ops) {
  Schema s;
  for (const auto& body : ops) apply(s, op_from(body));
  return s;
}

const std::string kUsers = R"toml(op = "create_table"
table = "users"
columns = [
  { name = "id", type = "integer", primary_key = true },
  { name = "email", type = "string", length = 255, nullable = false },
]
)toml";

const std::string kPosts = R"toml(op = "create_table"
table = "posts"
columns = [
  { name = "id", type = "integer", primary_key = true },
  { name = "title", type = "string", length = 200, nullable = false },
  { name = "body", type = "text" },
  { name = "status", type = "string", length = 16, nullable = false, default = "'draft'" },
  { name = "author_id", type = "integer", foreign_key = "users.id", on_delete = "cascade" },
]
)toml";

const std::string kIxTitle =
    "op = \"create_index\"\nname = \"ix_posts_title\"\ntable = \"posts\"\ncolumns = [\"title\"]\n";
const std::string kIxAuthor =
    "op = \"create_index\"\nname = \"ix_posts_author\"\ntable = \"posts\"\ncolumns = [\"author_id\"]\n";

Schema blog() { return schema_of({kUsers, kPosts, kIxTitle, kIxAuthor}); }

const std::string kPostsSqlite =
    "CREATE TABLE \"posts\" (\n"
    "    \"id\" INTEGER NOT NULL,\n"
    "    \"title\" VARCHAR(200) NOT NULL,\n"
    "    \"body\" TEXT,\n"
    "    \"status\" VARCHAR(16) DEFAULT 'draft' NOT NULL,\n"
    "    \"author_id\" INTEGER,\n"
    "    PRIMARY KEY (\"id\"),\n"
    "    CONSTRAINT \"fk_posts_author_id_users\" FOREIGN KEY(\"author_id\") REFERENCES \"users\" (\"id\") ON DELETE "
    "CASCADE\n"
    ")";

// The tail of every rebuild of posts: swap the tables, recreate the indexes.
Stmts swap_posts(const Stmts& indexes) {
  Stmts out{"DROP TABLE \"posts\"", "ALTER TABLE \"_fastappkit_tmp_posts\" RENAME TO \"posts\""};
  out.insert(out.end(), indexes.begin(), indexes.end());
  return out;
}

Stmts concat(Stmts a, const Stmts& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

RenderedOp sqlite(const std::string& body, const Schema& before) {
  return render(op_from(body), before, Dialect::sqlite);
}
RenderedOp pg(const std::string& body, const Schema& before = {}) {
  return render(op_from(body), before, Dialect::postgresql);
}

}  // namespace

TEST_SUITE("fastappkit::sql") {
  TEST_CASE("quote_ident and quote_literal") {
    CHECK(quote_ident("posts") == "\"posts\"");
    CHECK(quote_ident("order") == "\"order\"");
    CHECK(quote_ident("we\"ird") == "\"we\"\"ird\"");
    CHECK(quote_ident("") == "\"\"");
    CHECK(quote_literal("it's") == "'it''s'");
    CHECK(quote_literal("") == "''");
    CHECK(dialect_name(Dialect::sqlite) == "sqlite");
    CHECK(dialect_name(Dialect::postgresql) == "postgresql");
  }

  TEST_CASE("column_type maps every type per dialect") {
    struct Case {
      ColumnType type;
      std::optional<int> length, precision, scale;
      const char* sqlite;
      const char* pg;
    };
    const Case cases[] = {
        {ColumnType::integer, {}, {}, {}, "INTEGER", "INTEGER"},
        {ColumnType::bigint, {}, {}, {}, "BIGINT", "BIGINT"},
        {ColumnType::smallint, {}, {}, {}, "SMALLINT", "SMALLINT"},
        {ColumnType::string, 120, {}, {}, "VARCHAR(120)", "VARCHAR(120)"},
        {ColumnType::string, {}, {}, {}, "VARCHAR", "VARCHAR"},
        {ColumnType::text, {}, {}, {}, "TEXT", "TEXT"},
        {ColumnType::boolean, {}, {}, {}, "BOOLEAN", "BOOLEAN"},
        {ColumnType::float_, {}, {}, {}, "REAL", "REAL"},
        {ColumnType::double_, {}, {}, {}, "DOUBLE PRECISION", "DOUBLE PRECISION"},
        {ColumnType::numeric, {}, 10, 2, "NUMERIC(10, 2)", "NUMERIC(10, 2)"},
        {ColumnType::numeric, {}, 8, {}, "NUMERIC(8)", "NUMERIC(8)"},
        {ColumnType::numeric, {}, {}, {}, "NUMERIC", "NUMERIC"},
        {ColumnType::date, {}, {}, {}, "DATE", "DATE"},
        {ColumnType::datetime, {}, {}, {}, "DATETIME", "TIMESTAMP WITHOUT TIME ZONE"},
        {ColumnType::time, {}, {}, {}, "TIME", "TIME WITHOUT TIME ZONE"},
        {ColumnType::json, {}, {}, {}, "JSON", "JSONB"},
        {ColumnType::uuid, {}, {}, {}, "CHAR(36)", "UUID"},
        {ColumnType::binary, {}, {}, {}, "BLOB", "BYTEA"},
    };
    for (const auto& c : cases) {
      CAPTURE(column_type_name(c.type));
      Column col;
      col.name = "c";
      col.type = c.type;
      col.length = c.length;
      col.precision = c.precision;
      col.scale = c.scale;
      CHECK(column_type(col, Dialect::sqlite) == c.sqlite);
      CHECK(column_type(col, Dialect::postgresql) == c.pg);
    }
  }

  TEST_CASE("default_clause: literals as written, other expressions in parentheses") {
    for (const char* literal : {"'draft'", "''", "'it''s'", "0", "-1", "+2.5", "3.", "NULL", "true", "FALSE",
                                "CURRENT_TIMESTAMP", "current_date", "CURRENT_TIME"}) {
      CAPTURE(literal);
      CHECK(default_clause(literal) == literal);
    }
    CHECK(default_clause("now()") == "(now())");
    CHECK(default_clause("lower('X')") == "(lower('X'))");
    CHECK(default_clause("'a' || 'b'") == "('a' || 'b')");
    CHECK(default_clause("gen_random_uuid()") == "(gen_random_uuid())");
    CHECK(default_clause("1 + 1") == "(1 + 1)");
    CHECK(default_clause("(1 + 1)") == "(1 + 1)");
    // Parentheses that do not enclose the whole expression still need the outer pair.
    CHECK(default_clause("(1) + (2)") == "((1) + (2))");
    CHECK(default_clause("(julianday('now') - 2440587.5) * (86400.0)") ==
          "((julianday('now') - 2440587.5) * (86400.0))");
    CHECK(default_clause("(')(')") == "(')(')");
    CHECK(default_clause("-") == "(-)");
  }

  TEST_CASE("render create_table: every type, both dialects") {
    Operation op = op_from(R"toml(op = "create_table"
table = "everything"
columns = [
  { name = "i", type = "integer" },
  { name = "b", type = "bigint" },
  { name = "s", type = "smallint" },
  { name = "v", type = "string", length = 10 },
  { name = "t", type = "text" },
  { name = "bo", type = "boolean", nullable = false, default = "false" },
  { name = "f", type = "float" },
  { name = "d", type = "double" },
  { name = "n", type = "numeric", precision = 10, scale = 2, default = "0.00" },
  { name = "dt", type = "date" },
  { name = "ts", type = "datetime", nullable = false, default = "CURRENT_TIMESTAMP" },
  { name = "tm", type = "time" },
  { name = "j", type = "json", default = "'{}'" },
  { name = "u", type = "uuid", default = "gen_random_uuid()" },
  { name = "bin", type = "binary" },
]
)toml");
    RenderedOp lite = render(op, {}, Dialect::sqlite);
    CHECK_FALSE(lite.sqlite_rebuild);
    CHECK(lite.statements == Stmts{"CREATE TABLE \"everything\" (\n"
                                   "    \"i\" INTEGER,\n"
                                   "    \"b\" BIGINT,\n"
                                   "    \"s\" SMALLINT,\n"
                                   "    \"v\" VARCHAR(10),\n"
                                   "    \"t\" TEXT,\n"
                                   "    \"bo\" BOOLEAN DEFAULT false NOT NULL,\n"
                                   "    \"f\" REAL,\n"
                                   "    \"d\" DOUBLE PRECISION,\n"
                                   "    \"n\" NUMERIC(10, 2) DEFAULT 0.00,\n"
                                   "    \"dt\" DATE,\n"
                                   "    \"ts\" DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL,\n"
                                   "    \"tm\" TIME,\n"
                                   "    \"j\" JSON DEFAULT '{}',\n"
                                   "    \"u\" CHAR(36) DEFAULT (gen_random_uuid()),\n"
                                   "    \"bin\" BLOB\n"
                                   ")"});
    RenderedOp post = render(op, {}, Dialect::postgresql);
    CHECK_FALSE(post.sqlite_rebuild);
    CHECK(post.statements == Stmts{"CREATE TABLE \"everything\" (\n"
                                   "    \"i\" INTEGER,\n"
                                   "    \"b\" BIGINT,\n"
                                   "    \"s\" SMALLINT,\n"
                                   "    \"v\" VARCHAR(10),\n"
                                   "    \"t\" TEXT,\n"
                                   "    \"bo\" BOOLEAN DEFAULT false NOT NULL,\n"
                                   "    \"f\" REAL,\n"
                                   "    \"d\" DOUBLE PRECISION,\n"
                                   "    \"n\" NUMERIC(10, 2) DEFAULT 0.00,\n"
                                   "    \"dt\" DATE,\n"
                                   "    \"ts\" TIMESTAMP WITHOUT TIME ZONE DEFAULT CURRENT_TIMESTAMP NOT NULL,\n"
                                   "    \"tm\" TIME WITHOUT TIME ZONE,\n"
                                   "    \"j\" JSONB DEFAULT '{}',\n"
                                   "    \"u\" UUID DEFAULT (gen_random_uuid()),\n"
                                   "    \"bin\" BYTEA\n"
                                   ")"});
  }

  TEST_CASE("render create_table: keys and constraints; identity on PostgreSQL") {
    SUBCASE("single integer primary key, column-level foreign key") {
      Operation op = op_from(kPosts);
      CHECK(render(op, {}, Dialect::sqlite).statements == Stmts{kPostsSqlite});
      CHECK(render(op, {}, Dialect::postgresql).statements ==
            Stmts{"CREATE TABLE \"posts\" (\n"
                  "    \"id\" INTEGER GENERATED BY DEFAULT AS IDENTITY NOT NULL,\n"
                  "    \"title\" VARCHAR(200) NOT NULL,\n"
                  "    \"body\" TEXT,\n"
                  "    \"status\" VARCHAR(16) DEFAULT 'draft' NOT NULL,\n"
                  "    \"author_id\" INTEGER,\n"
                  "    PRIMARY KEY (\"id\"),\n"
                  "    CONSTRAINT \"fk_posts_author_id_users\" FOREIGN KEY(\"author_id\") REFERENCES \"users\" "
                  "(\"id\") ON DELETE CASCADE\n"
                  ")"});
    }
    SUBCASE("composite key, named unique and foreign keys, column-level unique") {
      Operation op = op_from(R"toml(op = "create_table"
table = "memberships"
columns = [
  { name = "org_id", type = "bigint" },
  { name = "user_id", type = "integer", on_delete = "set null", on_update = "cascade", foreign_key = "users.id" },
  { name = "code", type = "string", length = 8, unique = true },
]
primary_key = ["org_id", "user_id"]
foreign_keys = [ { name = "fk_m_org", columns = ["org_id"], references_table = "orgs", references_columns = ["id"], on_delete = "restrict" } ]
unique = [ { name = "uq_m_code_org", columns = ["code", "org_id"] } ]
)toml");
      const std::string body =
          " (\n"
          "    \"org_id\" BIGINT NOT NULL,\n"
          "    \"user_id\" INTEGER NOT NULL,\n"
          "    \"code\" VARCHAR(8),\n"
          "    PRIMARY KEY (\"org_id\", \"user_id\"),\n"
          "    CONSTRAINT \"uq_memberships_code\" UNIQUE (\"code\"),\n"
          "    CONSTRAINT \"uq_m_code_org\" UNIQUE (\"code\", \"org_id\"),\n"
          "    CONSTRAINT \"fk_memberships_user_id_users\" FOREIGN KEY(\"user_id\") REFERENCES \"users\" (\"id\") ON "
          "DELETE SET NULL ON UPDATE CASCADE,\n"
          "    CONSTRAINT \"fk_m_org\" FOREIGN KEY(\"org_id\") REFERENCES \"orgs\" (\"id\") ON DELETE RESTRICT\n"
          ")";
      // No identity for a composite key, on either dialect.
      CHECK(render(op, {}, Dialect::sqlite).statements == Stmts{"CREATE TABLE \"memberships\"" + body});
      CHECK(render(op, {}, Dialect::postgresql).statements == Stmts{"CREATE TABLE \"memberships\"" + body});
    }
    SUBCASE("identity only for an integer key that is not a foreign key") {
      CHECK(pg("op = \"create_table\"\ntable = \"t\"\ncolumns = [{ name = \"id\", type = \"bigint\", primary_key = "
               "true }]\n")
                .statements == Stmts{"CREATE TABLE \"t\" (\n    \"id\" BIGINT GENERATED BY DEFAULT AS IDENTITY NOT "
                                     "NULL,\n    PRIMARY KEY (\"id\")\n)"});
      CHECK(pg("op = \"create_table\"\ntable = \"t\"\ncolumns = [{ name = \"id\", type = \"uuid\", primary_key = true "
               "}]\n")
                .statements == Stmts{"CREATE TABLE \"t\" (\n    \"id\" UUID NOT NULL,\n    PRIMARY KEY (\"id\")\n)"});
      CHECK(
          pg("op = \"create_table\"\ntable = \"profiles\"\n"
             "columns = [{ name = \"user_id\", type = \"integer\", primary_key = true, foreign_key = \"users.id\" }]\n")
              .statements ==
          Stmts{"CREATE TABLE \"profiles\" (\n"
                "    \"user_id\" INTEGER NOT NULL,\n"
                "    PRIMARY KEY (\"user_id\"),\n"
                "    CONSTRAINT \"fk_profiles_user_id_users\" FOREIGN KEY(\"user_id\") REFERENCES \"users\" (\"id\")\n"
                ")"});
    }
    SUBCASE("reserved words and a double quote in names") {
      Operation op = op_from(R"toml(op = "create_table"
table = "order"
columns = [ { name = "select", type = "text" }, { name = 'we"ird', type = "integer" } ]
)toml");
      const Stmts expected{"CREATE TABLE \"order\" (\n    \"select\" TEXT,\n    \"we\"\"ird\" INTEGER\n)"};
      CHECK(render(op, {}, Dialect::sqlite).statements == expected);
      CHECK(render(op, {}, Dialect::postgresql).statements == expected);
    }
  }

  TEST_CASE("render: indexes, drop_table, rename_table (same on both dialects)") {
    const Schema before = blog();
    for (Dialect d : {Dialect::sqlite, Dialect::postgresql}) {
      CAPTURE(dialect_name(d));
      CHECK(render(op_from(kIxTitle), before, d).statements ==
            Stmts{"CREATE INDEX \"ix_posts_title\" ON \"posts\" (\"title\")"});
      CHECK(render(op_from("op = \"create_index\"\nname = \"ux_posts_status_title\"\ntable = \"posts\"\ncolumns = "
                           "[\"status\", \"title\"]\n"
                           "unique = true\n"),
                   before, d)
                .statements ==
            Stmts{"CREATE UNIQUE INDEX \"ux_posts_status_title\" ON \"posts\" (\"status\", \"title\")"});
      RenderedOp drop_ix =
          render(op_from("op = \"drop_index\"\nname = \"ix_posts_title\"\ntable = \"posts\"\n"), before, d);
      CHECK(drop_ix.statements == Stmts{"DROP INDEX \"ix_posts_title\""});
      CHECK_FALSE(drop_ix.sqlite_rebuild);
      CHECK(render(op_from("op = \"drop_table\"\ntable = \"posts\"\n"), before, d).statements ==
            Stmts{"DROP TABLE \"posts\""});
      RenderedOp rename =
          render(op_from("op = \"rename_table\"\ntable = \"posts\"\nnew_name = \"articles\"\n"), before, d);
      CHECK(rename.statements == Stmts{"ALTER TABLE \"posts\" RENAME TO \"articles\""});
      CHECK_FALSE(rename.sqlite_rebuild);
    }
    CHECK(create_index("order", {"ix\"q", {"select"}, false}) == "CREATE INDEX \"ix\"\"q\" ON \"order\" (\"select\")");
  }

  TEST_CASE("render add_column") {
    const Schema before = blog();
    SUBCASE("SQLite: a plain ALTER TABLE when the column allows it") {
      RenderedOp r = sqlite(
          "op = \"add_column\"\ntable = \"posts\"\ncolumn = { name = \"views\", type = \"integer\", nullable = false, "
          "default = \"0\" }\n",
          before);
      CHECK_FALSE(r.sqlite_rebuild);
      CHECK(r.statements == Stmts{"ALTER TABLE \"posts\" ADD COLUMN \"views\" INTEGER DEFAULT 0 NOT NULL"});

      RenderedOp fk = sqlite(
          "op = \"add_column\"\ntable = \"posts\"\n"
          "column = { name = \"editor_id\", type = \"integer\", foreign_key = \"users.id\", on_delete = \"set null\" "
          "}\n",
          before);
      CHECK_FALSE(fk.sqlite_rebuild);
      CHECK(fk.statements ==
            Stmts{"ALTER TABLE \"posts\" ADD COLUMN \"editor_id\" INTEGER CONSTRAINT \"fk_posts_editor_id_users\" "
                  "REFERENCES \"users\" (\"id\") ON DELETE SET NULL"});
    }
    SUBCASE("SQLite: a REFERENCES column with a non-NULL default is a rebuild (ADD COLUMN refuses it)") {
      RenderedOp r = sqlite(
          "op = \"add_column\"\ntable = \"posts\"\n"
          "column = { name = \"editor_id\", type = \"integer\", nullable = false, default = \"1\", foreign_key = "
          "\"users.id\" }\n",
          before);
      CHECK(r.sqlite_rebuild);
    }
    SUBCASE("SQLite: rebuild for a unique column") {
      RenderedOp r = sqlite(
          "op = \"add_column\"\ntable = \"posts\"\ncolumn = { name = \"slug\", type = \"string\", length = 100, unique "
          "= true }\n",
          before);
      CHECK(r.sqlite_rebuild);
      CHECK(r.statements ==
            concat({"CREATE TABLE \"_fastappkit_tmp_posts\" (\n"
                    "    \"id\" INTEGER NOT NULL,\n"
                    "    \"title\" VARCHAR(200) NOT NULL,\n"
                    "    \"body\" TEXT,\n"
                    "    \"status\" VARCHAR(16) DEFAULT 'draft' NOT NULL,\n"
                    "    \"author_id\" INTEGER,\n"
                    "    \"slug\" VARCHAR(100),\n"
                    "    PRIMARY KEY (\"id\"),\n"
                    "    CONSTRAINT \"uq_posts_slug\" UNIQUE (\"slug\"),\n"
                    "    CONSTRAINT \"fk_posts_author_id_users\" FOREIGN KEY(\"author_id\") REFERENCES \"users\" "
                    "(\"id\") ON DELETE CASCADE\n"
                    ")",
                    "INSERT INTO \"_fastappkit_tmp_posts\" (\"id\", \"title\", \"body\", \"status\", \"author_id\") "
                    "SELECT \"id\", \"title\", \"body\", \"status\", \"author_id\" FROM \"posts\""},
                   swap_posts({"CREATE INDEX \"ix_posts_title\" ON \"posts\" (\"title\")",
                               "CREATE INDEX \"ix_posts_author\" ON \"posts\" (\"author_id\")"})));
    }
    SUBCASE("SQLite: rebuild for a CURRENT_TIMESTAMP default or an expression default") {
      RenderedOp ts = sqlite(
          "op = \"add_column\"\ntable = \"posts\"\n"
          "column = { name = \"created_at\", type = \"datetime\", nullable = false, default = \"CURRENT_TIMESTAMP\" "
          "}\n",
          before);
      CHECK(ts.sqlite_rebuild);
      REQUIRE(ts.statements.size() == 6);
      CHECK(contains(ts.statements[0], "    \"created_at\" DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL,\n"));
      CHECK(starts_with(
          ts.statements[1],
          "INSERT INTO \"_fastappkit_tmp_posts\" (\"id\", \"title\", \"body\", \"status\", \"author_id\") SELECT"));
      CHECK(ts.statements[2] == "DROP TABLE \"posts\"");

      RenderedOp expr = sqlite(
          "op = \"add_column\"\ntable = \"posts\"\ncolumn = { name = \"n\", type = \"integer\", default = \"abs(-1)\" "
          "}\n",
          before);
      CHECK(expr.sqlite_rebuild);
      CHECK(contains(expr.statements[0], "    \"n\" INTEGER DEFAULT (abs(-1)),\n"));
    }
    SUBCASE("SQLite: rebuild for NOT NULL without a default") {
      RenderedOp r = sqlite(
          "op = \"add_column\"\ntable = \"posts\"\ncolumn = { name = \"rank\", type = \"smallint\", nullable = false "
          "}\n",
          before);
      CHECK(r.sqlite_rebuild);
      CHECK(contains(r.statements[0], "    \"rank\" SMALLINT NOT NULL,\n"));
    }
    SUBCASE("PostgreSQL: always ALTER TABLE ... ADD COLUMN") {
      CHECK(pg("op = \"add_column\"\ntable = \"posts\"\ncolumn = { name = \"views\", type = \"integer\", nullable = "
               "false, default = \"0\" }\n")
                .statements == Stmts{"ALTER TABLE \"posts\" ADD COLUMN \"views\" INTEGER DEFAULT 0 NOT NULL"});
      CHECK(pg("op = \"add_column\"\ntable = \"posts\"\ncolumn = { name = \"slug\", type = \"string\", length = 100, "
               "unique = true }\n")
                .statements ==
            Stmts{"ALTER TABLE \"posts\" ADD COLUMN \"slug\" VARCHAR(100) CONSTRAINT \"uq_posts_slug\" UNIQUE"});
      CHECK(pg("op = \"add_column\"\ntable = \"posts\"\n"
               "column = { name = \"created_at\", type = \"datetime\", nullable = false, default = "
               "\"CURRENT_TIMESTAMP\" }\n")
                .statements == Stmts{"ALTER TABLE \"posts\" ADD COLUMN \"created_at\" TIMESTAMP WITHOUT TIME ZONE "
                                     "DEFAULT CURRENT_TIMESTAMP NOT NULL"});
      CHECK(pg("op = \"add_column\"\ntable = \"posts\"\n"
               "column = { name = \"editor_id\", type = \"integer\", foreign_key = \"users.id\", on_delete = "
               "\"cascade\", on_update = \"restrict\" }\n")
                .statements ==
            Stmts{"ALTER TABLE \"posts\" ADD COLUMN \"editor_id\" INTEGER CONSTRAINT \"fk_posts_editor_id_users\" "
                  "REFERENCES \"users\" (\"id\") ON DELETE CASCADE ON UPDATE RESTRICT"});
      RenderedOp r = pg("op = \"add_column\"\ntable = \"posts\"\ncolumn = { name = \"x\", type = \"text\" }\n");
      CHECK_FALSE(r.sqlite_rebuild);
    }
  }

  TEST_CASE("render drop_column") {
    const Schema before = blog();
    SUBCASE("SQLite: native DROP COLUMN for an unconstrained column") {
      RenderedOp r = sqlite("op = \"drop_column\"\ntable = \"posts\"\ncolumn = \"body\"\n", before);
      CHECK_FALSE(r.sqlite_rebuild);
      CHECK(r.statements == Stmts{"ALTER TABLE \"posts\" DROP COLUMN \"body\""});
    }
    SUBCASE("SQLite: rebuild when the column is indexed; its index goes, the others come back") {
      RenderedOp r = sqlite("op = \"drop_column\"\ntable = \"posts\"\ncolumn = \"title\"\n", before);
      CHECK(r.sqlite_rebuild);
      CHECK(r.statements ==
            concat({"CREATE TABLE \"_fastappkit_tmp_posts\" (\n"
                    "    \"id\" INTEGER NOT NULL,\n"
                    "    \"body\" TEXT,\n"
                    "    \"status\" VARCHAR(16) DEFAULT 'draft' NOT NULL,\n"
                    "    \"author_id\" INTEGER,\n"
                    "    PRIMARY KEY (\"id\"),\n"
                    "    CONSTRAINT \"fk_posts_author_id_users\" FOREIGN KEY(\"author_id\") REFERENCES \"users\" "
                    "(\"id\") ON DELETE CASCADE\n"
                    ")",
                    "INSERT INTO \"_fastappkit_tmp_posts\" (\"id\", \"body\", \"status\", \"author_id\") "
                    "SELECT \"id\", \"body\", \"status\", \"author_id\" FROM \"posts\""},
                   swap_posts({"CREATE INDEX \"ix_posts_author\" ON \"posts\" (\"author_id\")"})));
    }
    SUBCASE("SQLite: rebuild when the column has a foreign key, or another table references it") {
      Schema no_index = schema_of({kUsers, kPosts});
      RenderedOp fk = sqlite("op = \"drop_column\"\ntable = \"posts\"\ncolumn = \"author_id\"\n", no_index);
      CHECK(fk.sqlite_rebuild);
      CHECK(fk.statements == concat({"CREATE TABLE \"_fastappkit_tmp_posts\" (\n"
                                     "    \"id\" INTEGER NOT NULL,\n"
                                     "    \"title\" VARCHAR(200) NOT NULL,\n"
                                     "    \"body\" TEXT,\n"
                                     "    \"status\" VARCHAR(16) DEFAULT 'draft' NOT NULL,\n"
                                     "    PRIMARY KEY (\"id\")\n"
                                     ")",
                                     "INSERT INTO \"_fastappkit_tmp_posts\" (\"id\", \"title\", \"body\", \"status\") "
                                     "SELECT \"id\", \"title\", \"body\", \"status\" FROM \"posts\""},
                                    swap_posts({})));
      Schema refs = schema_of(
          {kUsers, kPosts, "op = \"add_column\"\ntable = \"users\"\ncolumn = { name = \"nick\", type = \"text\" }\n"});
      CHECK(sqlite("op = \"drop_column\"\ntable = \"users\"\ncolumn = \"nick\"\n", refs).statements ==
            Stmts{"ALTER TABLE \"users\" DROP COLUMN \"nick\""});
      RenderedOp referenced = sqlite("op = \"drop_column\"\ntable = \"users\"\ncolumn = \"id\"\n", refs);
      CHECK(referenced.sqlite_rebuild);
      CHECK(referenced.statements.front() ==
            "CREATE TABLE \"_fastappkit_tmp_users\" (\n"
            "    \"email\" VARCHAR(255) NOT NULL,\n"
            "    \"nick\" TEXT\n"
            ")");
    }
    SUBCASE("PostgreSQL") {
      CHECK(pg("op = \"drop_column\"\ntable = \"posts\"\ncolumn = \"title\"\n", before).statements ==
            Stmts{"ALTER TABLE \"posts\" DROP COLUMN \"title\""});
    }
  }

  TEST_CASE("render alter_column on SQLite") {
    const Schema before = blog();
    SUBCASE("rename only: RENAME COLUMN") {
      RenderedOp r =
          sqlite("op = \"alter_column\"\ntable = \"posts\"\ncolumn = \"title\"\nnew_name = \"headline\"\n", before);
      CHECK_FALSE(r.sqlite_rebuild);
      CHECK(r.statements == Stmts{"ALTER TABLE \"posts\" RENAME COLUMN \"title\" TO \"headline\""});
    }
    SUBCASE("type change: rebuild, indexes recreated") {
      RenderedOp r = sqlite(
          "op = \"alter_column\"\ntable = \"posts\"\ncolumn = \"title\"\ntype = \"string\"\nlength = 300\n", before);
      CHECK(r.sqlite_rebuild);
      CHECK(r.statements ==
            concat({"CREATE TABLE \"_fastappkit_tmp_posts\" (\n"
                    "    \"id\" INTEGER NOT NULL,\n"
                    "    \"title\" VARCHAR(300) NOT NULL,\n"
                    "    \"body\" TEXT,\n"
                    "    \"status\" VARCHAR(16) DEFAULT 'draft' NOT NULL,\n"
                    "    \"author_id\" INTEGER,\n"
                    "    PRIMARY KEY (\"id\"),\n"
                    "    CONSTRAINT \"fk_posts_author_id_users\" FOREIGN KEY(\"author_id\") REFERENCES \"users\" "
                    "(\"id\") ON DELETE CASCADE\n"
                    ")",
                    "INSERT INTO \"_fastappkit_tmp_posts\" (\"id\", \"title\", \"body\", \"status\", \"author_id\") "
                    "SELECT \"id\", \"title\", \"body\", \"status\", \"author_id\" FROM \"posts\""},
                   swap_posts({"CREATE INDEX \"ix_posts_title\" ON \"posts\" (\"title\")",
                               "CREATE INDEX \"ix_posts_author\" ON \"posts\" (\"author_id\")"})));
    }
    SUBCASE("type change with a rename: RENAME COLUMN first (SQLite rewrites triggers and views), then the rebuild") {
      RenderedOp r = sqlite(
          "op = \"alter_column\"\ntable = \"posts\"\ncolumn = \"title\"\nnew_name = \"headline\"\ntype = \"text\"\n",
          before);
      CHECK(r.sqlite_rebuild);
      REQUIRE(r.statements.size() == 7);
      CHECK(r.statements[0] == "ALTER TABLE \"posts\" RENAME COLUMN \"title\" TO \"headline\"");
      CHECK(contains(r.statements[1], "    \"headline\" TEXT NOT NULL,\n"));
      CHECK_FALSE(contains(r.statements[1], "\"title\""));
      CHECK(r.statements[2] ==
            "INSERT INTO \"_fastappkit_tmp_posts\" (\"id\", \"headline\", \"body\", \"status\", \"author_id\") "
            "SELECT \"id\", \"headline\", \"body\", \"status\", \"author_id\" FROM \"posts\"");
      CHECK(r.statements[5] == "CREATE INDEX \"ix_posts_title\" ON \"posts\" (\"headline\")");
      REQUIRE(r.rebuild);
      CHECK(expand_rebuild(*r.rebuild, {}).size() == 6);
    }
    SUBCASE("nullability and default changes rebuild too") {
      RenderedOp nn = sqlite("op = \"alter_column\"\ntable = \"posts\"\ncolumn = \"body\"\nnullable = false\n", before);
      CHECK(nn.sqlite_rebuild);
      CHECK(contains(nn.statements[0], "    \"body\" TEXT NOT NULL,\n"));
      RenderedOp null =
          sqlite("op = \"alter_column\"\ntable = \"posts\"\ncolumn = \"title\"\nnullable = true\n", before);
      CHECK(contains(null.statements[0], "    \"title\" VARCHAR(200),\n"));
      RenderedOp def =
          sqlite("op = \"alter_column\"\ntable = \"posts\"\ncolumn = \"status\"\ndefault = \"'published'\"\n", before);
      CHECK(def.sqlite_rebuild);
      CHECK(contains(def.statements[0], "    \"status\" VARCHAR(16) DEFAULT 'published' NOT NULL,\n"));
      RenderedOp nodef =
          sqlite("op = \"alter_column\"\ntable = \"posts\"\ncolumn = \"status\"\ndefault = \"\"\n", before);
      CHECK(contains(nodef.statements[0], "    \"status\" VARCHAR(16) NOT NULL,\n"));
    }
    SUBCASE("a column the table does not have") {
      auto e = error_of(
          [&] { sqlite("op = \"alter_column\"\ntable = \"posts\"\ncolumn = \"nope\"\ntype = \"text\"\n", before); });
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(std::string(e->what()) == "alter_column at line 2: table 'posts' has no column 'nope'");
    }
  }

  TEST_CASE("render alter_column on PostgreSQL") {
    CHECK(pg("op = \"alter_column\"\ntable = \"posts\"\ncolumn = \"title\"\ntype = \"string\"\nlength = 300\n")
              .statements ==
          Stmts{"ALTER TABLE \"posts\" ALTER COLUMN \"title\" TYPE VARCHAR(300) USING \"title\"::VARCHAR(300)"});
    CHECK(pg("op = \"alter_column\"\ntable = \"posts\"\ncolumn = \"price\"\ntype = \"numeric\"\nprecision = 12\nscale "
             "= 3\n")
              .statements ==
          Stmts{"ALTER TABLE \"posts\" ALTER COLUMN \"price\" TYPE NUMERIC(12, 3) USING \"price\"::NUMERIC(12, 3)"});
    CHECK(pg("op = \"alter_column\"\ntable = \"posts\"\ncolumn = \"body\"\nnullable = false\n").statements ==
          Stmts{"ALTER TABLE \"posts\" ALTER COLUMN \"body\" SET NOT NULL"});
    CHECK(pg("op = \"alter_column\"\ntable = \"posts\"\ncolumn = \"body\"\nnullable = true\n").statements ==
          Stmts{"ALTER TABLE \"posts\" ALTER COLUMN \"body\" DROP NOT NULL"});
    CHECK(pg("op = \"alter_column\"\ntable = \"posts\"\ncolumn = \"status\"\ndefault = \"'draft'\"\n").statements ==
          Stmts{"ALTER TABLE \"posts\" ALTER COLUMN \"status\" SET DEFAULT 'draft'"});
    CHECK(pg("op = \"alter_column\"\ntable = \"posts\"\ncolumn = \"created\"\ndefault = \"now()\"\n").statements ==
          Stmts{"ALTER TABLE \"posts\" ALTER COLUMN \"created\" SET DEFAULT (now())"});
    CHECK(pg("op = \"alter_column\"\ntable = \"posts\"\ncolumn = \"status\"\ndefault = \"\"\n").statements ==
          Stmts{"ALTER TABLE \"posts\" ALTER COLUMN \"status\" DROP DEFAULT"});
    CHECK(pg("op = \"alter_column\"\ntable = \"posts\"\ncolumn = \"title\"\nnew_name = \"headline\"\n").statements ==
          Stmts{"ALTER TABLE \"posts\" RENAME COLUMN \"title\" TO \"headline\""});
    RenderedOp all =
        pg("op = \"alter_column\"\ntable = \"posts\"\ncolumn = \"title\"\nnew_name = \"headline\"\ntype = \"text\"\n"
           "nullable = true\ndefault = \"'x'\"\n");
    CHECK_FALSE(all.sqlite_rebuild);
    CHECK(all.statements == Stmts{"ALTER TABLE \"posts\" ALTER COLUMN \"title\" TYPE TEXT USING \"title\"::TEXT, "
                                  "ALTER COLUMN \"title\" DROP NOT NULL, ALTER COLUMN \"title\" SET DEFAULT 'x'",
                                  "ALTER TABLE \"posts\" RENAME COLUMN \"title\" TO \"headline\""});
  }

  TEST_CASE("render constraints") {
    const Schema before = blog();
    const std::string uq =
        "op = \"create_unique\"\nname = \"uq_posts_title\"\ntable = \"posts\"\ncolumns = [\"title\", \"status\"]\n";
    const std::string fk =
        "op = \"create_foreign_key\"\nname = \"fk_posts_editor\"\ntable = \"posts\"\ncolumns = [\"author_id\"]\n"
        "references_table = \"users\"\nreferences_columns = [\"id\"]\non_delete = \"set null\"\non_update = "
        "\"cascade\"\n";
    const std::string drop = "op = \"drop_constraint\"\nname = \"fk_posts_author_id_users\"\ntable = \"posts\"\n";
    SUBCASE("PostgreSQL: ALTER TABLE ... ADD/DROP CONSTRAINT") {
      CHECK(pg(uq).statements ==
            Stmts{"ALTER TABLE \"posts\" ADD CONSTRAINT \"uq_posts_title\" UNIQUE (\"title\", \"status\")"});
      CHECK(pg(fk).statements ==
            Stmts{"ALTER TABLE \"posts\" ADD CONSTRAINT \"fk_posts_editor\" FOREIGN KEY(\"author_id\") REFERENCES "
                  "\"users\" (\"id\") ON DELETE SET NULL ON UPDATE CASCADE"});
      CHECK(pg(drop).statements == Stmts{"ALTER TABLE \"posts\" DROP CONSTRAINT \"fk_posts_author_id_users\""});
    }
    SUBCASE("SQLite: create_unique rebuilds with the constraint") {
      RenderedOp r = sqlite(uq, before);
      CHECK(r.sqlite_rebuild);
      REQUIRE(r.statements.size() == 6);
      CHECK(contains(r.statements[0],
                     "    PRIMARY KEY (\"id\"),\n    CONSTRAINT \"uq_posts_title\" UNIQUE (\"title\", \"status\"),\n"));
      CHECK(r.statements[1] ==
            "INSERT INTO \"_fastappkit_tmp_posts\" (\"id\", \"title\", \"body\", \"status\", \"author_id\") "
            "SELECT \"id\", \"title\", \"body\", \"status\", \"author_id\" FROM \"posts\"");
    }
    SUBCASE("SQLite: create_foreign_key rebuilds with the constraint") {
      RenderedOp r = sqlite(fk, before);
      CHECK(r.sqlite_rebuild);
      CHECK(contains(
          r.statements[0],
          "    CONSTRAINT \"fk_posts_author_id_users\" FOREIGN KEY(\"author_id\") REFERENCES \"users\" (\"id\") "
          "ON DELETE CASCADE,\n    CONSTRAINT \"fk_posts_editor\" FOREIGN KEY(\"author_id\") REFERENCES \"users\" "
          "(\"id\") ON DELETE SET NULL ON UPDATE CASCADE\n)"));
    }
    SUBCASE("SQLite: drop_constraint rebuilds without it") {
      RenderedOp r = sqlite(drop, before);
      CHECK(r.sqlite_rebuild);
      CHECK(r.statements ==
            concat({"CREATE TABLE \"_fastappkit_tmp_posts\" (\n"
                    "    \"id\" INTEGER NOT NULL,\n"
                    "    \"title\" VARCHAR(200) NOT NULL,\n"
                    "    \"body\" TEXT,\n"
                    "    \"status\" VARCHAR(16) DEFAULT 'draft' NOT NULL,\n"
                    "    \"author_id\" INTEGER,\n"
                    "    PRIMARY KEY (\"id\")\n"
                    ")",
                    "INSERT INTO \"_fastappkit_tmp_posts\" (\"id\", \"title\", \"body\", \"status\", \"author_id\") "
                    "SELECT \"id\", \"title\", \"body\", \"status\", \"author_id\" FROM \"posts\""},
                   swap_posts({"CREATE INDEX \"ix_posts_title\" ON \"posts\" (\"title\")",
                               "CREATE INDEX \"ix_posts_author\" ON \"posts\" (\"author_id\")"})));
    }
    SUBCASE("SQLite: drop_constraint of a name the table does not have") {
      auto e = error_of([&] { sqlite("op = \"drop_constraint\"\nname = \"uq_nope\"\ntable = \"posts\"\n", before); });
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(std::string(e->what()) == "drop_constraint at line 2: table 'posts' has no constraint 'uq_nope'");
    }
  }

  TEST_CASE("render execute and call") {
    const Operation all = op_from("op = \"execute\"\nsql = \"UPDATE posts SET status = 'x'\"\n");
    CHECK(render(all, {}, Dialect::sqlite).statements == Stmts{"UPDATE posts SET status = 'x'"});
    CHECK(render(all, {}, Dialect::postgresql).statements == Stmts{"UPDATE posts SET status = 'x'"});

    const Operation per = op_from("op = \"execute\"\nsqlite = \"VACUUM\"\npostgresql = \"VACUUM ANALYZE\"\n");
    CHECK(render(per, {}, Dialect::sqlite).statements == Stmts{"VACUUM"});
    CHECK(render(per, {}, Dialect::postgresql).statements == Stmts{"VACUUM ANALYZE"});

    const Operation pg_only = op_from("op = \"execute\"\npostgresql = \"CREATE EXTENSION citext\"\n");
    CHECK(render(pg_only, {}, Dialect::postgresql).statements == Stmts{"CREATE EXTENSION citext"});
    auto e = error_of([&] { render(pg_only, {}, Dialect::sqlite); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::input);
    CHECK(std::string(e->what()) == "execute at line 2 has no SQL for sqlite");
    CHECK(contains(e->hint(), "sqlite = \"...\""));

    const Operation lite_only = op_from("op = \"execute\"\nsqlite = \"SELECT 1\"\n");
    auto e2 = error_of([&] { render(lite_only, {}, Dialect::postgresql); });
    REQUIRE(e2);
    CHECK(std::string(e2->what()) == "execute at line 2 has no SQL for postgresql");

    Migration m = parse_migration("revision = \"3f2a9c1b7d4e\"\n[[upgrade]]\nop = \"call\"\nfunction = \"f\"\n",
                                  "3f2a9c1b7d4e_t.toml", ParseOptions{.allow_call = true});
    CHECK(render(m.upgrade[0], {}, Dialect::sqlite).statements.empty());
    CHECK(render(m.upgrade[0], {}, Dialect::postgresql).statements.empty());
  }

  TEST_CASE("render: a SQLite rebuild of a table the migrations do not define is an error") {
    const Schema empty;
    for (const std::string& body : {
             std::string("op = \"alter_column\"\ntable = \"ghost\"\ncolumn = \"c\"\ntype = \"text\"\n"),
             std::string(
                 "op = \"add_column\"\ntable = \"ghost\"\ncolumn = { name = \"c\", type = \"text\", unique = true }\n"),
             std::string("op = \"create_unique\"\nname = \"uq\"\ntable = \"ghost\"\ncolumns = [\"c\"]\n"),
             std::string("op = \"drop_constraint\"\nname = \"uq\"\ntable = \"ghost\"\n"),
         }) {
      CAPTURE(body);
      auto e = error_of([&] { render(op_from(body), empty, Dialect::sqlite); });
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(starts_with(e->what(), "cannot "));
      CHECK(contains(e->what(), "table 'ghost' on SQLite"));
      CHECK(contains(e->what(), "at line 2): the migrations before it do not define that table"));
      // PostgreSQL needs no definition.
      CHECK_FALSE(render(op_from(body), empty, Dialect::postgresql).statements.empty());
    }
    // What SQLite can do in place needs no definition either.
    CHECK(render(op_from("op = \"alter_column\"\ntable = \"ghost\"\ncolumn = \"c\"\nnew_name = \"d\"\n"), empty,
                 Dialect::sqlite)
              .statements == Stmts{"ALTER TABLE \"ghost\" RENAME COLUMN \"c\" TO \"d\""});
    CHECK(render(op_from("op = \"drop_column\"\ntable = \"ghost\"\ncolumn = \"c\"\n"), empty, Dialect::sqlite)
              .statements == Stmts{"ALTER TABLE \"ghost\" DROP COLUMN \"c\""});
  }

  TEST_CASE("SQLite: rendered statements run on a real database and rebuilds keep every row") {
    using namespace fastappkit;
    auto conn = db::open_sqlite(config::parse_database_url("sqlite:///:memory:", "/"), db::OpenMode::read_write,
                                std::chrono::seconds(5));
    REQUIRE(conn);
    Schema state;
    auto run = [&](const std::string& body) {
      Operation op = op_from(body);
      RenderedOp r = render(op, state, Dialect::sqlite);
      if (r.sqlite_rebuild) conn->execute("PRAGMA foreign_keys = OFF");
      conn->begin();
      conn->execute(r.statements);
      if (r.sqlite_rebuild) CHECK(conn->query("PRAGMA foreign_key_check").empty());
      conn->commit();
      if (r.sqlite_rebuild) conn->execute("PRAGMA foreign_keys = ON");
      apply(state, op);
      return r.sqlite_rebuild;
    };
    auto scalar = [&](const std::string& sql) {
      auto rows = conn->query(sql);
      REQUIRE(rows.size() == 1);
      REQUIRE(rows[0].size() == 1);
      return rows[0][0].value_or("NULL");
    };

    CHECK_FALSE(run(kUsers));
    CHECK_FALSE(run(kPosts));
    CHECK_FALSE(run(kIxTitle));
    CHECK_FALSE(run(kIxAuthor));
    conn->execute(Stmts{
        "INSERT INTO users (email) VALUES ('a@x'), ('b@x')",
        "INSERT INTO posts (title, body, author_id) VALUES ('one', 'b1', 1), ('two', 'b2', 2), ('three', NULL, 1)"});
    CHECK(scalar("SELECT group_concat(id) FROM (SELECT id FROM posts ORDER BY title)") ==
          "1,3,2");  // INTEGER PRIMARY KEY assigns ids

    CHECK(
        run("op = \"alter_column\"\ntable = \"posts\"\ncolumn = \"title\"\nnew_name = \"headline\"\ntype = "
            "\"string\"\nlength = 300\n"));
    CHECK(scalar("SELECT group_concat(headline, '|') FROM (SELECT headline FROM posts ORDER BY id)") ==
          "one|two|three");
    CHECK(scalar("SELECT sql FROM sqlite_master WHERE name = 'ix_posts_title'") ==
          "CREATE INDEX \"ix_posts_title\" ON \"posts\" (\"headline\")");
    CHECK(scalar("SELECT count(*) FROM sqlite_master WHERE name LIKE '_fastappkit_tmp_%'") == "0");

    CHECK(
        run("op = \"add_column\"\ntable = \"posts\"\ncolumn = { name = \"created_at\", type = \"datetime\", nullable = "
            "false, "
            "default = \"CURRENT_TIMESTAMP\" }\n"));
    CHECK(scalar("SELECT count(*) FROM posts WHERE created_at IS NOT NULL") == "3");

    CHECK_FALSE(
        run("op = \"add_column\"\ntable = \"posts\"\ncolumn = { name = \"views\", type = \"integer\", nullable = "
            "false, default = \"0\" }\n"));
    CHECK(run("op = \"create_unique\"\nname = \"uq_posts_headline\"\ntable = \"posts\"\ncolumns = [\"headline\"]\n"));
    CHECK_THROWS(conn->execute("INSERT INTO posts (headline, author_id) VALUES ('one', 1)"));
    CHECK(run("op = \"drop_column\"\ntable = \"posts\"\ncolumn = \"headline\"\n"));
    CHECK(run("op = \"drop_constraint\"\nname = \"fk_posts_author_id_users\"\ntable = \"posts\"\n"));
    CHECK_FALSE(run("op = \"drop_column\"\ntable = \"posts\"\ncolumn = \"body\"\n"));
    CHECK(scalar("SELECT count(*) FROM posts") == "3");
    CHECK(scalar("SELECT group_concat(author_id) FROM (SELECT author_id FROM posts ORDER BY id)") == "1,2,1");
    // The users table, referenced by posts until the constraint was dropped, still has its rows.
    CHECK(scalar("SELECT count(*) FROM users") == "2");
    CHECK(scalar("SELECT count(*) FROM pragma_index_list('posts') WHERE name = 'ix_posts_title'") == "0");
    CHECK(scalar("SELECT count(*) FROM pragma_index_list('posts') WHERE name = 'ix_posts_author'") == "1");
  }

  TEST_CASE("SQLite rebuild: expand_rebuild brings back what sqlite_master holds (lang_altertable.html section 7)") {
    SqliteRebuild r;
    r.table = "items";
    r.move = {"CREATE TABLE \"_fastappkit_tmp_items\" (...)", "INSERT ...", "DROP TABLE \"items\"",
              "ALTER TABLE \"_fastappkit_tmp_items\" RENAME TO \"items\""};
    r.indexes = {{"ix_items_name", {"name"}, false}};
    r.declared_before = {"ix_items_name", "ix_items_gone"};
    SUBCASE("without a database: the known part, as preview prints it") {
      auto out = expand_rebuild(r, {});
      REQUIRE(out.size() == 5);
      CHECK(out[4].sql == "CREATE INDEX \"ix_items_name\" ON \"items\" (\"name\")");
    }
    SUBCASE("triggers and views are dropped first and recreated in order, raw indexes too, then checked") {
      std::vector<SchemaObject> master = {
          {"table", "items", "items", "CREATE TABLE items (...)"},
          {"index", "sqlite_autoindex_items_1", "items", ""},
          {"index", "ix_items_name", "items", "CREATE INDEX ix_items_name ON items (name)"},
          {"index", "ix_items_gone", "items", "CREATE INDEX ix_items_gone ON items (gone)"},
          {"index", "ix_raw", "Items", "CREATE INDEX ix_raw ON items (qty)"},
          {"index", "ix_other", "other", "CREATE INDEX ix_other ON other (x)"},
          {"trigger", "trg_items", "items", "CREATE TRIGGER trg_items AFTER INSERT ON items BEGIN SELECT 1; END"},
          {"view", "v_items", "v_items", "CREATE VIEW v_items AS SELECT * FROM items"},
          {"view", "v_v", "v_v", "CREATE VIEW v_v AS SELECT * FROM v_items"},
          {"trigger", "trg_other", "other",
           "CREATE TRIGGER trg_other AFTER INSERT ON other BEGIN INSERT INTO items DEFAULT VALUES; END"},
      };
      std::vector<std::string> sql, objects;
      for (const auto& s : expand_rebuild(r, master)) {
        sql.push_back(s.sql);
        objects.push_back(s.object);
      }
      CHECK(sql == Stmts{"DROP TRIGGER \"trg_other\"", "DROP VIEW \"v_v\"", "DROP VIEW \"v_items\"",
                         "DROP TRIGGER \"trg_items\"", r.move[0], r.move[1], r.move[2], r.move[3],
                         "CREATE INDEX \"ix_items_name\" ON \"items\" (\"name\")", "CREATE INDEX ix_raw ON items (qty)",
                         "CREATE TRIGGER trg_items AFTER INSERT ON items BEGIN SELECT 1; END",
                         "CREATE VIEW v_items AS SELECT * FROM items", "CREATE VIEW v_v AS SELECT * FROM v_items",
                         "CREATE TRIGGER trg_other AFTER INSERT ON other BEGIN INSERT INTO items DEFAULT VALUES; END",
                         "SAVEPOINT fastappkit_rebuild_check",
                         "ALTER TABLE \"items\" RENAME TO \"_fastappkit_check_items\"",
                         "ROLLBACK TO fastappkit_rebuild_check", "RELEASE fastappkit_rebuild_check"});
      CHECK(objects[9] == "index ix_raw");
      CHECK(objects[10] == "trigger trg_items");
      CHECK(objects[11] == "view v_items");
      CHECK(objects[15] == "*check*");
    }
  }

  TEST_CASE(
      "SQLite rebuild on a real database keeps a trigger, a view and a raw index, and names one it cannot recreate") {
    using namespace fastappkit;
    auto conn = db::open_sqlite(config::parse_database_url("sqlite:///:memory:", "/"), db::OpenMode::read_write,
                                std::chrono::seconds(5));
    REQUIRE(conn);
    Schema state =
        schema_of({"op = \"create_table\"\ntable = \"items\"\ncolumns = [{ name = \"id\", type = \"integer\", "
                   "primary_key = true }, "
                   "{ name = \"qty\", type = \"integer\" }, { name = \"note\", type = \"text\" }]\n"});
    conn->execute(
        Stmts{render(op_from("op = \"create_table\"\ntable = \"items\"\ncolumns = [{ name = \"id\", type = "
                             "\"integer\", primary_key = true }, "
                             "{ name = \"qty\", type = \"integer\" }, { name = \"note\", type = \"text\" }]\n"),
                     {}, Dialect::sqlite)
                  .statements[0],
              "CREATE TABLE log (item_id INTEGER)",
              "CREATE TRIGGER trg_items_log AFTER INSERT ON items BEGIN INSERT INTO log (item_id) VALUES (NEW.id); END",
              "CREATE INDEX ix_items_raw ON items (qty)", "CREATE VIEW v_items AS SELECT id, qty FROM items",
              "INSERT INTO items (qty, note) VALUES (1, 'a'), (2, 'b')"});
    auto master = [&] {
      std::vector<SchemaObject> out;
      for (const auto& row : conn->query("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid"))
        out.push_back({row[0].value_or(""), row[1].value_or(""), row[2].value_or(""), row[3].value_or("")});
      return out;
    };
    auto rebuild = [&](const std::string& body) {
      RenderedOp r = render(op_from(body), state, Dialect::sqlite);
      REQUIRE(r.rebuild);
      conn->execute("PRAGMA foreign_keys = OFF");
      conn->begin();
      try {
        for (const auto& s : expand_rebuild(*r.rebuild, master())) conn->execute(s.sql);
      } catch (...) {
        conn->rollback();
        conn->execute("PRAGMA foreign_keys = ON");
        throw;
      }
      conn->commit();
      conn->execute("PRAGMA foreign_keys = ON");
      apply(state, op_from(body));
    };
    auto names = [&] {
      std::string out;
      for (const auto& row : conn->query(
               "SELECT type || ':' || name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"))
        out += row[0].value_or("") + " ";
      return out;
    };
    const std::string all = "index:ix_items_raw table:items table:log trigger:trg_items_log view:v_items ";
    REQUIRE(names() == all);
    rebuild("op = \"alter_column\"\ntable = \"items\"\ncolumn = \"qty\"\ntype = \"bigint\"\nnullable = false\n");
    CHECK(names() == all);
    CHECK(conn->query("SELECT count(*) FROM v_items")[0][0] == "2");
    conn->execute("INSERT INTO items (qty) VALUES (3)");
    CHECK(conn->query("SELECT count(*) FROM log")[0][0] == "3");  // the trigger still fires
    CHECK(conn->query("PRAGMA foreign_key_check").empty());

    // The raw index names qty: dropping qty cannot recreate it; nothing changes.
    state.tables["items"].indexes.push_back({"ix_items_qty_declared", {"qty"}, false});  // forces the rebuild path
    auto e = error_of([&] { rebuild("op = \"drop_column\"\ntable = \"items\"\ncolumn = \"qty\"\n"); });
    REQUIRE(e);
    CHECK(contains(e->what(), "no such column: qty"));
    CHECK(names() == all);
    // Without the index, the view is what cannot be recreated; SQLite's check names it.
    conn->execute("DROP INDEX ix_items_raw");
    e = error_of([&] { rebuild("op = \"drop_column\"\ntable = \"items\"\ncolumn = \"qty\"\n"); });
    REQUIRE(e);
    CHECK(contains(e->what(), "error in view v_items: no such column: qty"));
    CHECK(names() == "table:items table:log trigger:trg_items_log view:v_items ");
    CHECK(conn->query("SELECT count(*) FROM items")[0][0] == "3");
  }

  TEST_CASE("integer-family primary keys are assigned by the database on both backends") {
    const std::string body =
        "op = \"create_table\"\ntable = \"t\"\ncolumns = [{ name = \"id\", type = \"bigint\", primary_key = true }, { "
        "name = \"n\", type = \"smallint\" }]\n";
    CHECK(
        render(op_from(body), {}, Dialect::sqlite).statements ==
        Stmts{"CREATE TABLE \"t\" (\n    \"id\" INTEGER NOT NULL,\n    \"n\" SMALLINT,\n    PRIMARY KEY (\"id\")\n)"});
    CHECK(render(op_from(body), {}, Dialect::postgresql).statements ==
          Stmts{"CREATE TABLE \"t\" (\n    \"id\" BIGINT GENERATED BY DEFAULT AS IDENTITY NOT NULL,\n    \"n\" "
                "SMALLINT,\n    PRIMARY KEY (\"id\")\n)"});
    // A key that is also a foreign key is not assigned: it keeps its type.
    const std::string fk =
        "op = \"create_table\"\ntable = \"p\"\ncolumns = [{ name = \"id\", type = \"bigint\", primary_key = true, "
        "foreign_key = \"t.id\" }]\n";
    CHECK(contains(render(op_from(fk), {}, Dialect::sqlite).statements[0], "\"id\" BIGINT NOT NULL"));
    using namespace fastappkit;
    auto conn = db::open_sqlite(config::parse_database_url("sqlite:///:memory:", "/"), db::OpenMode::read_write,
                                std::chrono::seconds(5));
    conn->execute(render(op_from(body), {}, Dialect::sqlite).statements);
    conn->execute("INSERT INTO t (n) VALUES (1)");
    CHECK(conn->query("SELECT id FROM t")[0][0] == "1");
    // check compares SQLite's INTEGER with the model's bigint through as_stored.
    Schema expected = schema_of({body});
    CHECK(conn->as_stored(expected).tables.at("t").columns[0].type == ColumnType::integer);
    CHECK(conn->as_stored(expected).tables.at("t").columns[1].type == ColumnType::smallint);
  }

  TEST_CASE("SQLite: a double-quoted name that matches no column is an error, not a string") {
    using namespace fastappkit;
    auto conn = db::open_sqlite(config::parse_database_url("sqlite:///:memory:", "/"), db::OpenMode::read_write,
                                std::chrono::seconds(5));
    conn->execute("CREATE TABLE t (a INTEGER)");
    CHECK_THROWS_AS(conn->execute("CREATE INDEX ix ON t (\"nosuch\")"), db::DbError);
    CHECK_THROWS_AS(conn->query("SELECT \"nosuch\" FROM t"), db::DbError);
  }

  TEST_CASE("normalize_default strips a cast of a whole literal only") {
    CHECK(normalize_default("'draft'::character varying") == "'draft'");
    CHECK(normalize_default("upper('x'::text)") == "upper('x'::text)");
    CHECK(normalize_default("('a'::text || 'b'::text)") == "'a'::text || 'b'::text");
    CHECK(normalize_default("'{}'::jsonb") == "'{}'");
  }

}  // TEST_SUITE
