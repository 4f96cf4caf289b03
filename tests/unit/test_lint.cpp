// migrate lint (SPEC §11): each rule fires on its risky form and not on its safe form, the
// PostgreSQL-only rules stay quiet on SQLite, lint_ignore silences and is checked, and a graph
// of 1,000 revisions lints in well under a second with every finding well-formed.
#include <doctest/doctest.h>

#include <chrono>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "fastappkit/error.hpp"
#include "fastappkit/lint/lint.hpp"
#include "fastappkit/migration/graph.hpp"
#include "fastappkit/migration/migration_file.hpp"
#include "fastappkit/sql/render.hpp"
#include "support.hpp"

using namespace fastappkit;
using namespace fastappkit::migration;
using fastappkit::lint::Finding;

namespace {

using unit::contains;
using unit::error_of;

const char* const kBase = R"(revision = "aaaaaaaaaaa1"
[[upgrade]]
op = "create_table"
table = "orgs"
columns = [ { name = "id", type = "integer", primary_key = true } ]
[[upgrade]]
op = "create_table"
table = "users"
columns = [ { name = "id", type = "integer", primary_key = true }, { name = "email", type = "string", length = 100 },
  { name = "name", type = "text" }, { name = "age", type = "integer" }, { name = "org_id", type = "integer" },
  { name = "price", type = "numeric", precision = 10, scale = 2 } ]
unique = [ { name = "uq_users_name", columns = ["name"] } ]
[[upgrade]]
op = "create_index"
name = "ix_users_age"
table = "users"
columns = ["age"]
)";

// Findings of the second revision (`body`, with optional top-level lines in `head`) on top of kBase.
std::vector<Finding> lint_body(const std::string& body, sql::Dialect d = sql::Dialect::postgresql,
                               const std::string& head = "") {
  std::vector<Migration> ms;
  ms.push_back(parse_migration(kBase, "versions/aaaaaaaaaaa1_base.toml"));
  ms.push_back(parse_migration("revision = \"bbbbbbbbbbb2\"\ndown_revision = \"aaaaaaaaaaa1\"\n" + head + body,
                               "versions/bbbbbbbbbbb2_next.toml"));
  RevisionGraph g(std::move(ms));
  return lint::lint_graph(g, {"bbbbbbbbbbb2"}, d, "core");
}

std::set<std::string> rules_of(const std::vector<Finding>& fs, bool ignored = false) {
  std::set<std::string> out;
  for (const auto& f : fs)
    if (f.ignored == ignored) out.insert(f.rule);
  return out;
}

bool fires(const std::string& rule, const std::string& body, sql::Dialect d = sql::Dialect::postgresql,
           const std::string& head = "") {
  return rules_of(lint_body(body, d, head)).count(rule) != 0;
}

}  // namespace

TEST_SUITE("fastappkit::lint") {
  TEST_CASE("every rule has an id, a title and is found by id") {
    std::set<std::string> ids;
    for (const auto& r : lint::rules()) {
      CHECK(ids.insert(std::string(r.id)).second);
      CHECK(!r.title.empty());
      CHECK(lint::find_rule(r.id) == &r);
    }
    CHECK(lint::find_rule("no-such-rule") == nullptr);
    CHECK(ids.size() >= 14);
  }

  TEST_CASE("require-concurrent-index") {
    const std::string risky =
        "[[upgrade]]\nop = \"create_index\"\nname = \"ix_e\"\ntable = \"users\"\ncolumns = [\"email\"]\n";
    CHECK(fires("require-concurrent-index", risky));
    CHECK_FALSE(fires("require-concurrent-index", risky, sql::Dialect::sqlite));
    CHECK_FALSE(fires("require-concurrent-index", risky + "concurrently = true\n", sql::Dialect::postgresql,
                      "transactional = false\n"));
    // A table the same revision creates has no rows and no readers yet.
    CHECK_FALSE(fires("require-concurrent-index",
                      "[[upgrade]]\nop = \"create_table\"\ntable = \"t\"\ncolumns = [ { name = \"a\", type = "
                      "\"integer\" } ]\n[[upgrade]]\nop = \"create_index\"\nname = \"ix_t\"\ntable = \"t\"\ncolumns = "
                      "[\"a\"]\n"));
    auto fs = lint_body(risky);
    REQUIRE(fs.size() == 1);
    CHECK(fs[0].line == 3);
    CHECK(fs[0].column == 1);
    CHECK(fs[0].file == "versions/bbbbbbbbbbb2_next.toml");
    CHECK(fs[0].revision == "bbbbbbbbbbb2");
    CHECK(fs[0].level == lint::Level::error);
    CHECK(contains(fs[0].what, "SHARE lock"));
    CHECK(contains(fs[0].fix, "concurrently = true"));
    CHECK(contains(fs[0].fix, "transactional = false"));
  }

  TEST_CASE("require-concurrent-index-deletion") {
    const std::string risky = "[[upgrade]]\nop = \"drop_index\"\nname = \"ix_users_age\"\ntable = \"users\"\n";
    CHECK(fires("require-concurrent-index-deletion", risky));
    CHECK_FALSE(fires("require-concurrent-index-deletion", risky, sql::Dialect::sqlite));
    CHECK_FALSE(fires("require-concurrent-index-deletion", risky + "concurrently = true\n", sql::Dialect::postgresql,
                      "transactional = false\n"));
  }

  TEST_CASE("foreign-key-not-valid and validate-in-same-transaction") {
    const std::string fk =
        "[[upgrade]]\nop = \"create_foreign_key\"\nname = \"fk_u_org\"\ntable = \"users\"\ncolumns = "
        "[\"org_id\"]\nreferences_table = \"orgs\"\nreferences_columns = [\"id\"]\n";
    CHECK(fires("foreign-key-not-valid", fk));
    CHECK_FALSE(fires("foreign-key-not-valid", fk, sql::Dialect::sqlite));
    CHECK_FALSE(fires("foreign-key-not-valid", fk + "not_valid = true\n"));
    auto fs = lint_body(fk);
    REQUIRE(!fs.empty());
    CHECK(contains(fs[0].fix, "not_valid = true"));
    CHECK(contains(fs[0].fix, "validate_constraint"));
    // A column added with a foreign key validates it at once too.
    CHECK(fires("foreign-key-not-valid",
                "[[upgrade]]\nop = \"add_column\"\ntable = \"users\"\ncolumn = { name = \"o2\", type = \"integer\", "
                "foreign_key = \"orgs.id\" }\n"));
    const std::string validate = "[[upgrade]]\nop = \"validate_constraint\"\nname = \"fk_u_org\"\ntable = \"users\"\n";
    CHECK(fires("validate-in-same-transaction", fk + "not_valid = true\n" + validate));
    CHECK_FALSE(fires("validate-in-same-transaction", fk + "not_valid = true\n"));
    // Not valid in one revision, validated in a later one: no finding on either.
    std::vector<Migration> ms;
    ms.push_back(parse_migration(kBase, "versions/aaaaaaaaaaa1_base.toml"));
    ms.push_back(
        parse_migration("revision = \"bbbbbbbbbbb2\"\ndown_revision = \"aaaaaaaaaaa1\"\n" + fk + "not_valid = true\n",
                        "versions/bbbbbbbbbbb2_x.toml"));
    ms.push_back(parse_migration("revision = \"ccccccccccc3\"\ndown_revision = \"bbbbbbbbbbb2\"\n" + validate,
                                 "versions/ccccccccccc3_x.toml"));
    RevisionGraph g(std::move(ms));
    CHECK(lint::lint_graph(g, {"bbbbbbbbbbb2", "ccccccccccc3"}, sql::Dialect::postgresql, "core").empty());
  }

  TEST_CASE("unique-constraint") {
    const std::string risky =
        "[[upgrade]]\nop = \"create_unique\"\nname = \"uq_e\"\ntable = \"users\"\ncolumns = [\"email\"]\n";
    CHECK(fires("unique-constraint", risky));
    CHECK_FALSE(fires("unique-constraint", risky, sql::Dialect::sqlite));
    CHECK(fires("unique-constraint",
                "[[upgrade]]\nop = \"add_column\"\ntable = \"users\"\ncolumn = { name = \"c\", "
                "type = \"integer\", unique = true }\n"));
    CHECK_FALSE(fires("unique-constraint",
                      "[[upgrade]]\nop = \"create_index\"\nname = \"uq_e\"\ntable = \"users\"\ncolumns = "
                      "[\"email\"]\nunique = true\nconcurrently = true\n",
                      sql::Dialect::postgresql, "transactional = false\n"));
  }

  TEST_CASE("changing-column-type and narrowing-type") {
    auto alter = [](const std::string& what) {
      return "[[upgrade]]\nop = \"alter_column\"\ntable = \"users\"\ncolumn = " + what + "\n";
    };
    // Rewrites: integer -> bigint; not narrowing.
    CHECK(fires("changing-column-type", alter("\"age\"\ntype = \"bigint\"")));
    CHECK_FALSE(fires("narrowing-type", alter("\"age\"\ntype = \"bigint\"")));
    // varchar(100) -> varchar(200) or text: catalog only.
    CHECK_FALSE(fires("changing-column-type", alter("\"email\"\ntype = \"string\"\nlength = 200")));
    CHECK_FALSE(fires("changing-column-type", alter("\"email\"\ntype = \"text\"")));
    CHECK_FALSE(fires("narrowing-type", alter("\"email\"\ntype = \"text\"")));
    // numeric(10,2) -> numeric(12,2): catalog only; -> numeric(8,2) narrows.
    CHECK_FALSE(fires("changing-column-type", alter("\"price\"\ntype = \"numeric\"\nprecision = 12\nscale = 2")));
    CHECK(fires("narrowing-type", alter("\"price\"\ntype = \"numeric\"\nprecision = 8\nscale = 2")));
    // Narrowing on every backend.
    CHECK(fires("narrowing-type", alter("\"email\"\ntype = \"string\"\nlength = 50"), sql::Dialect::sqlite));
    CHECK(fires("narrowing-type", alter("\"name\"\ntype = \"integer\""), sql::Dialect::sqlite));
    CHECK(fires("narrowing-type", alter("\"age\"\ntype = \"smallint\"")));
    CHECK_FALSE(fires("changing-column-type", alter("\"age\"\ntype = \"bigint\""), sql::Dialect::sqlite));
    auto fs = lint_body(alter("\"email\"\ntype = \"string\"\nlength = 50"));
    REQUIRE(rules_of(fs).count("narrowing-type"));
    for (const auto& f : fs)
      if (f.rule == "narrowing-type") CHECK(contains(f.what, "string(100) to string(50)"));
  }

  TEST_CASE("set-not-null") {
    const std::string risky =
        "[[upgrade]]\nop = \"alter_column\"\ntable = \"users\"\ncolumn = \"age\"\nnullable = false\n";
    CHECK(fires("set-not-null", risky));
    CHECK_FALSE(fires("set-not-null", risky, sql::Dialect::sqlite));
    CHECK_FALSE(fires("set-not-null",
                      "[[upgrade]]\nop = \"alter_column\"\ntable = \"users\"\ncolumn = \"age\"\nnullable = true\n"));
    auto fs = lint_body(risky);
    REQUIRE(fs.size() == 1);
    CHECK(contains(fs[0].fix, "condition = \"age IS NOT NULL\"\nnot_valid = true"));
    CHECK(contains(fs[0].fix, "op = \"validate_constraint\""));
  }

  TEST_CASE("volatile-default and add-required-column") {
    auto add = [](const std::string& col) {
      return "[[upgrade]]\nop = \"add_column\"\ntable = \"users\"\ncolumn = " + col + "\n";
    };
    CHECK(fires("volatile-default", add("{ name = \"r\", type = \"double\", default = \"random()\" }")));
    CHECK(fires("volatile-default", add("{ name = \"u\", type = \"uuid\", default = \"gen_random_uuid()\" }")));
    CHECK_FALSE(
        fires("volatile-default", add("{ name = \"t\", type = \"datetime\", default = \"CURRENT_TIMESTAMP\" }")));
    CHECK_FALSE(fires("volatile-default", add("{ name = \"n\", type = \"integer\", default = \"0\" }")));
    CHECK_FALSE(fires("volatile-default", add("{ name = \"r\", type = \"double\", default = \"random()\" }"),
                      sql::Dialect::sqlite));
    CHECK(fires("add-required-column", add("{ name = \"n\", type = \"integer\", nullable = false }")));
    CHECK(fires("add-required-column", add("{ name = \"n\", type = \"integer\", nullable = false }"),
                sql::Dialect::sqlite));
    CHECK_FALSE(
        fires("add-required-column", add("{ name = \"n\", type = \"integer\", nullable = false, default = \"0\" }")));
    CHECK_FALSE(fires("add-required-column", add("{ name = \"n\", type = \"integer\" }")));
  }

  TEST_CASE("renames, drops and execute fire on every backend") {
    for (auto d : {sql::Dialect::sqlite, sql::Dialect::postgresql}) {
      CAPTURE(static_cast<int>(d));
      CHECK(fires("rename-table", "[[upgrade]]\nop = \"rename_table\"\ntable = \"users\"\nnew_name = \"people\"\n", d));
      CHECK(fires("rename-column",
                  "[[upgrade]]\nop = \"alter_column\"\ntable = \"users\"\ncolumn = \"age\"\nnew_name = \"years\"\n",
                  d));
      CHECK(fires("drop-table", "[[upgrade]]\nop = \"drop_table\"\ntable = \"orgs\"\n", d));
      CHECK(fires("drop-column", "[[upgrade]]\nop = \"drop_column\"\ntable = \"users\"\ncolumn = \"age\"\n", d));
      CHECK(fires("execute-unanalysed", "[[upgrade]]\nop = \"execute\"\nsql = \"SELECT 1\"\n", d));
    }
    // Nothing to break on a table this revision made.
    CHECK(lint_body("[[upgrade]]\nop = \"create_table\"\ntable = \"t\"\ncolumns = [ { name = \"a\", type = \"integer\" "
                    "} ]\n[[upgrade]]\nop = \"rename_table\"\ntable = \"t\"\nnew_name = \"t2\"\n[[upgrade]]\nop = "
                    "\"drop_table\"\ntable = \"t2\"\n")
              .empty());
    CHECK(lint::find_rule("execute-unanalysed")->level == lint::Level::warning);
  }

  TEST_CASE("lint_ignore silences one rule on one operation and names only real rules") {
    auto fs = lint_body(
        "[[upgrade]]\nop = \"drop_column\"\ntable = \"users\"\ncolumn = \"age\"\nlint_ignore = "
        "[\"drop-column\"]\n[[upgrade]]\nop = \"drop_column\"\ntable = \"users\"\ncolumn = \"name\"\n");
    REQUIRE(fs.size() == 2);
    CHECK(fs[0].ignored);
    CHECK_FALSE(fs[1].ignored);
    auto e = error_of(
        [] { lint_body("[[upgrade]]\nop = \"drop_table\"\ntable = \"orgs\"\nlint_ignore = [\"drop-tabel\"]\n"); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::input);
    CHECK(contains(e->what(), "versions/bbbbbbbbbbb2_next.toml:3:1:"));
    CHECK(contains(e->what(), "'drop-tabel'"));
    CHECK(e->hint() == "did you mean 'drop-table'?");
  }

  TEST_CASE("1,000 generated revisions lint in well under a second, every finding well-formed") {
    std::mt19937 rng(16);
    std::vector<Migration> ms;
    std::string prev;
    int tables = 0;
    const char* const kinds[] = {"create_index", "drop_column", "alter_type", "set_not_null", "add_fk",
                                 "add_default",  "rename",      "execute",    "create_table"};
    for (int i = 0; i < 1000; ++i) {
      char id[13];
      std::snprintf(id, sizeof id, "%012x", i + 1);
      std::string text = std::string("revision = \"") + id + "\"\n";
      if (!prev.empty()) text += "down_revision = \"" + prev + "\"\n";
      const std::string kind = i < 5 ? "create_table" : kinds[rng() % 9];
      const std::string t = "t" + std::to_string(tables ? static_cast<int>(rng() % tables) : 0);
      const std::string c = "c" + std::to_string(i);
      if (kind == "create_table") {
        text += "[[upgrade]]\nop = \"create_table\"\ntable = \"t" + std::to_string(tables++) +
                "\"\ncolumns = [ { name = \"id\", type = \"integer\", primary_key = true }, { name = \"v\", type = "
                "\"integer\" } ]\n";
      } else {
        // Each revision adds its own column first, so every operation names something that exists.
        text += "[[upgrade]]\nop = \"add_column\"\ntable = \"" + t + "\"\ncolumn = { name = \"" + c +
                "\", type = \"integer\" }\n";
        if (kind == "create_index")
          text += "[[upgrade]]\nop = \"create_index\"\nname = \"ix_" + c + "\"\ntable = \"" + t + "\"\ncolumns = [\"" +
                  c + "\"]\n";
        else if (kind == "drop_column")
          text += "[[upgrade]]\nop = \"drop_column\"\ntable = \"" + t + "\"\ncolumn = \"" + c + "\"\n";
        else if (kind == "alter_type")
          text +=
              "[[upgrade]]\nop = \"alter_column\"\ntable = \"" + t + "\"\ncolumn = \"" + c + "\"\ntype = \"text\"\n";
        else if (kind == "set_not_null")
          text +=
              "[[upgrade]]\nop = \"alter_column\"\ntable = \"" + t + "\"\ncolumn = \"" + c + "\"\nnullable = false\n";
        else if (kind == "add_fk")
          text += "[[upgrade]]\nop = \"create_foreign_key\"\nname = \"fk_" + c + "\"\ntable = \"" + t +
                  "\"\ncolumns = [\"" + c + "\"]\nreferences_table = \"t0\"\nreferences_columns = [\"id\"]\n";
        else if (kind == "add_default")
          text += "[[upgrade]]\nop = \"add_column\"\ntable = \"" + t + "\"\ncolumn = { name = \"d" + c +
                  "\", type = \"double\", default = \"random()\" }\n";
        else if (kind == "rename")
          text += "[[upgrade]]\nop = \"alter_column\"\ntable = \"" + t + "\"\ncolumn = \"" + c + "\"\nnew_name = \"r" +
                  c + "\"\n";
        else
          text += "[[upgrade]]\nop = \"execute\"\nsql = \"UPDATE " + t + " SET v = 1\"\n";
      }
      ms.push_back(parse_migration(text, std::string("versions/") + id + "_x.toml"));
      prev = id;
    }
    RevisionGraph g(std::move(ms));
    std::set<std::string> all;
    for (const auto& m : g.migrations()) all.insert(m.revision);
    for (auto d : {sql::Dialect::postgresql, sql::Dialect::sqlite}) {
      auto t0 = std::chrono::steady_clock::now();
      auto fs = lint::lint_graph(g, all, d, "core");
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      MESSAGE("lint of 1,000 revisions: ", s * 1000, " ms, ", fs.size(), " findings");
      CHECK(s < 0.5);
      CHECK(fs.size() > 300);
      for (const auto& f : fs) {
        const auto* r = lint::find_rule(f.rule);
        REQUIRE(r);
        CHECK(f.level == r->level);
        CHECK((!r->postgresql_only || d == sql::Dialect::postgresql));
        CHECK(f.line > 0);
        CHECK(f.column > 0);
        CHECK(g.contains(f.revision));
        CHECK(f.file == g.get(f.revision).path);
        CHECK(!f.what.empty());
        CHECK(!f.fix.empty());
        CHECK(f.app == "core");
        CHECK(!lint::format(f).empty());
      }
    }
  }
}

TEST_SUITE("fastappkit::migration") {
  TEST_CASE("concurrently, not_valid and validate_constraint parse, and concurrently needs transactional = false") {
    auto m = parse_migration(
        "revision = \"aaaaaaaaaaa1\"\ntransactional = false\n[[upgrade]]\nop = \"create_index\"\nname = \"ix\"\ntable "
        "= "
        "\"t\"\ncolumns = [\"a\"]\nconcurrently = true\n[[upgrade]]\nop = \"create_foreign_key\"\nname = \"fk\"\ntable "
        "= \"t\"\ncolumns = [\"a\"]\nreferences_table = \"u\"\nreferences_columns = [\"id\"]\nnot_valid = true\n"
        "[[upgrade]]\nop = \"validate_constraint\"\nname = \"fk\"\ntable = \"t\"\nlint_ignore = [\"x\"]\n",
        "versions/aaaaaaaaaaa1_x.toml");
    REQUIRE(m.upgrade.size() == 3);
    CHECK(m.upgrade[0].concurrently);
    CHECK(m.upgrade[1].not_valid);
    CHECK(m.upgrade[2].kind == OpKind::validate_constraint);
    CHECK(m.upgrade[2].lint_ignore == std::vector<std::string>{"x"});
    auto e = error_of([] {
      parse_migration(
          "revision = \"aaaaaaaaaaa1\"\n[[upgrade]]\nop = \"create_index\"\nname = \"ix\"\ntable = "
          "\"t\"\ncolumns = [\"a\"]\nconcurrently = true\n",
          "versions/aaaaaaaaaaa1_x.toml");
    });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::input);
    CHECK(contains(e->what(), "versions/aaaaaaaaaaa1_x.toml:2:1:"));
    CHECK(contains(e->hint(), "transactional = false"));
    // not_valid belongs to create_foreign_key only.
    CHECK(error_of([] {
      parse_migration(
          "revision = \"aaaaaaaaaaa1\"\n[[upgrade]]\nop = \"create_unique\"\nname = \"u\"\ntable = "
          "\"t\"\ncolumns = [\"a\"]\nnot_valid = true\n",
          "versions/aaaaaaaaaaa1_x.toml");
    }));
  }
}

TEST_SUITE("fastappkit::sql") {
  TEST_CASE("the safe forms render per dialect") {
    Schema s;
    ColumnSpec id;
    id.name = "id";
    id.primary_key = true;
    ColumnSpec a;
    a.name = "a";
    s.tables["t"] = table_from_specs("t", {id, a}, {}, {}, {});
    s.tables["u"] = table_from_specs("u", {id}, {}, {}, {});
    Operation ix;
    ix.kind = OpKind::create_index;
    ix.name = "ix_a";
    ix.table = "t";
    ix.index_columns = {"a"};
    ix.unique = true;
    ix.concurrently = true;
    CHECK(sql::render(ix, s, sql::Dialect::postgresql).statements ==
          std::vector<std::string>{R"(CREATE UNIQUE INDEX CONCURRENTLY "ix_a" ON "t" ("a"))"});
    CHECK(sql::render(ix, s, sql::Dialect::sqlite).statements ==
          std::vector<std::string>{R"(CREATE UNIQUE INDEX "ix_a" ON "t" ("a"))"});
    Operation drop = ix;
    drop.kind = OpKind::drop_index;
    CHECK(sql::render(drop, s, sql::Dialect::postgresql).statements ==
          std::vector<std::string>{R"(DROP INDEX CONCURRENTLY "ix_a")"});
    Operation fk;
    fk.kind = OpKind::create_foreign_key;
    fk.name = "fk_a";
    fk.table = "t";
    fk.index_columns = {"a"};
    fk.edit_extra().references_table = "u";
    fk.edit_extra().references_columns = {"id"};
    fk.not_valid = true;
    auto pg = sql::render(fk, s, sql::Dialect::postgresql).statements;
    REQUIRE(pg.size() == 1);
    CHECK(contains(pg[0], "ALTER TABLE \"t\" ADD CONSTRAINT \"fk_a\" FOREIGN KEY"));
    CHECK(contains(pg[0], " NOT VALID"));
    Operation v;
    v.kind = OpKind::validate_constraint;
    v.name = "fk_a";
    v.table = "t";
    CHECK(sql::render(v, s, sql::Dialect::postgresql).statements ==
          std::vector<std::string>{R"(ALTER TABLE "t" VALIDATE CONSTRAINT "fk_a")"});
    // SQLite checks every row when its rebuild adds the key: nothing left to validate.
    CHECK(sql::render(v, s, sql::Dialect::sqlite).statements.empty());
  }
}
