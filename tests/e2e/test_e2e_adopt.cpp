// `migrate adopt` (issue 31, SPEC §12): a database made by raw SQL, with rows, taken under
// management on both backends. The catalogs are read here with the databases' own tools
// (sqlite_master and the pragmas; pg_dump --schema-only), not with fastappkit's reader.
#include <doctest/doctest.h>

#include <cstdlib>
#include <set>
#include <sstream>

#include "harness.hpp"

using namespace e2e;

namespace {

// Every file of the project folder with its bytes: what a refusal or a dry run must leave alone.
std::map<std::string, std::string> tree_of(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) out[fs::relative(e.path(), root).string()] = read_file(e.path());
  return out;
}

bool own_table(const std::string& name) {
  return name.rfind("alembic_version", 0) == 0 || name == "fastappkit_history";
}

// SQLite's catalog as SQLite reports it, fastappkit's own tables aside: each table's columns
// (pragma_table_xinfo), foreign keys, indexes with their columns, and the views and triggers
// as stored. `with_sql`: the tables' CREATE statements too (the adopted database keeps its own).
std::string sqlite_catalog(Database& db, bool with_sql) {
  std::string out;
  for (const auto& r : db.query("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")) {
    if (own_table(r[2]) || r[1].rfind("sqlite_autoindex_", 0) == 0) continue;
    if (r[0] == "view" || r[0] == "trigger" || (with_sql && r[0] == "table"))
      out += r[0] + " " + r[1] + ": " + r[3] + "\n";
    if (r[0] != "table") continue;
    const auto keys = db.query("SELECT count(*) FROM pragma_table_xinfo('" + r[1] + "') WHERE pk > 0");
    // Declared types without spaces ("NUMERIC(10, 2)" is "NUMERIC(10,2)": the same affinity).
    for (const auto& c : db.query("SELECT cid, name, replace(upper(type), ' ', ''), \"notnull\", dflt_value, pk, "
                                  "hidden FROM pragma_table_xinfo('" +
                                  r[1] + "') ORDER BY cid")) {
      // The rowid alias (a one-column key declared INTEGER) never holds NULL, NOT NULL or not.
      const bool rowid = keys[0][0] == "1" && c[5] == "1" && c[2] == "INTEGER";
      out += "  column " + r[1] + "." + c[1] + " " + c[0] + " " +
             (c[2].find("INT") != std::string::npos ? "INT" : c[2]) + " notnull=" + (rowid ? "rowid" : c[3]) +
             " default=" + c[4] + " pk=" + c[5] + " hidden=" + c[6] + "\n";
    }
    // Foreign keys in no order (their ids follow the order they were declared in).
    std::set<std::string> fks;
    for (const auto& f : db.query("SELECT \"table\", \"from\", \"to\", on_update, on_delete FROM "
                                  "pragma_foreign_key_list('" +
                                  r[1] + "') ORDER BY id, seq"))
      fks.insert("  fk " + r[1] + " " + f[1] + " -> " + f[0] + "." + f[2] + " " + f[3] + " " + f[4] + "\n");
    for (const auto& f : fks) out += f;
    for (const auto& ix :
         db.query("SELECT name, \"unique\", origin, partial FROM pragma_index_list('" + r[1] + "') ORDER BY name")) {
      std::string cols;
      for (const auto& c : db.query("SELECT coalesce(name, '<expr>') FROM pragma_index_info('" + ix[0] + "')"))
        cols += c[0] + ",";
      const std::string name = ix[0].rfind("sqlite_autoindex_", 0) == 0 ? std::string("(auto)") : ix[0];
      out += "  index " + r[1] + " " + name + " unique=" + ix[1] + " origin=" + ix[2] + " partial=" + ix[3] + " (" +
             cols + ")\n";
    }
  }
  return out;
}

std::string all_rows(Database& db, const std::vector<std::string>& tables) {
  std::string out;
  for (const auto& t : tables)
    for (const auto& r : db.query("SELECT * FROM " + t + " ORDER BY 1")) {
      out += t + ":";
      for (const auto& v : r) out += " " + v;
      out += "\n";
    }
  return out;
}

constexpr const char* kSqliteSchema = R"(
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  email VARCHAR(200) NOT NULL UNIQUE,
  name TEXT DEFAULT 'anon',
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  born DATE, wakes TIME, score INTEGER CHECK (score >= 0), big BIGINT, small SMALLINT,
  ratio REAL, precise DOUBLE PRECISION, money NUMERIC(10, 2) DEFAULT (1 + 1), flag BOOLEAN DEFAULT FALSE,
  doc JSON, uid CHAR(36), photo BLOB,
  CONSTRAINT name_len CHECK (length(name) < 100)
);
CREATE TABLE tags (
  a INTEGER NOT NULL, b VARCHAR(20) NOT NULL, parent_a INTEGER, parent_b VARCHAR(20),
  PRIMARY KEY (a, b),
  FOREIGN KEY (parent_a, parent_b) REFERENCES tags (a, b) ON DELETE CASCADE ON UPDATE SET NULL
);
CREATE TABLE posts (
  id INTEGER PRIMARY KEY,
  user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
  editor_id INTEGER REFERENCES users (id) ON DELETE RESTRICT ON UPDATE CASCADE,
  reviewer_id INTEGER REFERENCES users (id) ON DELETE SET DEFAULT,
  title VARCHAR(100), body TEXT,
  UNIQUE (user_id, title)
);
CREATE INDEX ix_posts_title ON posts (title);
CREATE UNIQUE INDEX ux_posts_body ON posts (body, title);
CREATE INDEX ix_posts_partial ON posts (title) WHERE body IS NOT NULL;
CREATE INDEX ix_posts_lower ON posts (lower(title));
CREATE VIEW v_users AS SELECT id, email FROM users;
CREATE VIEW v_users2 AS SELECT id FROM v_users;
CREATE TRIGGER tr_posts AFTER INSERT ON posts BEGIN UPDATE users SET score = coalesce(score, 0) + 1 WHERE id = NEW.user_id; END;
INSERT INTO users (email, name, score) VALUES ('a@example.com', 'A', 1), ('b@example.com', 'B', 2);
INSERT INTO tags (a, b) VALUES (1, 'x');
INSERT INTO tags (a, b, parent_a, parent_b) VALUES (2, 'y', 1, 'x');
INSERT INTO posts (user_id, title, body) VALUES (1, 'first', 'hello'), (2, 'second', NULL);
)";

struct SqliteProject {
  TempDir dir;
  fs::path root = dir.path / "proj";
  std::unique_ptr<Database> db = make_sqlite(dir.path);
  SqliteProject() { REQUIRE_OK(fastappkit({"core", "new", "proj"}, dir.path)); }
  RunResult run(const std::vector<std::string>& args, const std::string& url = {}) const {
    return fastappkit(args, root, {{"DATABASE_URL", url.empty() ? db->url() : url}});
  }
  std::string file() const {
    const std::string u = db->url();
    return u.substr(std::string("sqlite:///").size());
  }
};

}  // namespace

TEST_SUITE("fastappkit::e2e::adopt") {
  TEST_CASE("SQLite: adopt writes models and a base revision, proves them, stamps; rows and objects stay") {
    SqliteProject p;
    p.db->exec(kSqliteSchema);
    const std::vector<std::string> tables = {"users", "tags", "posts"};
    const std::string catalog_before = sqlite_catalog(*p.db, true), rows_before = all_rows(*p.db, tables);
    const auto tree_before = tree_of(p.root);
    const std::string bytes_before = read_file(p.file());

    // --dry-run: proves and prints, writes nothing anywhere.
    auto dry = p.run({"migrate", "adopt", "-m", "adopt", "--dry-run"});
    REQUIRE_OK(dry);
    for (const char* object : {"index ix_posts_partial", "index ix_posts_lower", "view v_users", "view v_users2",
                               "trigger tr_posts", "proved", "nothing was written", "[[tables]]"})
      CHECK_OUT(dry, object);
    CHECK(tree_of(p.root) == tree_before);
    CHECK(read_file(p.file()) == bytes_before);
    auto doc = json_of(p.run({"migrate", "adopt", "-m", "adopt", "--dry-run", "--json"}));
    CHECK(doc["written"] == false);
    CHECK(doc["tables"] == 3);
    CHECK(doc["carried"].size() == 5);
    CHECK(tree_of(p.root) == tree_before);

    auto adopted = p.run({"migrate", "adopt", "-m", "adopt existing schema"});
    REQUIRE_OK(adopted);
    CHECK_OUT(adopted, "stamped");
    // Every object and row as it was; only the version and history tables are new.
    CHECK(sqlite_catalog(*p.db, true) == catalog_before);
    CHECK(all_rows(*p.db, tables) == rows_before);
    auto versions = p.db->query("SELECT version_num FROM alembic_version");
    REQUIRE(versions.size() == 1);
    const std::string base = versions[0][0];
    auto history = p.db->query("SELECT app, revision, direction FROM fastappkit_history");
    REQUIRE(history.size() == 1);
    CHECK(history[0] == std::vector<std::string>{"core", base, "adopt"});
    CHECK_HAS(read_file(p.root / "core" / "models.toml"), "name = \"posts\"");

    auto check = p.run({"migrate", "check"});
    CHECK_CODE(check, 0);
    CHECK_OUT(check, "No differences");
    CHECK_OUT(p.run({"migrate", "status"}), base + " (head)");
    CHECK_OUT(p.run({"migrate", "core", "-m", "nothing"}), "No changes detected");
    CHECK_OUT(p.run({"migrate", "upgrade"}), "nothing to do");

    // A fresh database upgraded from the project has the same catalog (the tables' statements
    // are fastappkit's own there, so they are compared through the pragmas).
    fs::create_directories(p.dir.path / "fresh");
    auto fresh = make_sqlite(p.dir.path / "fresh");
    REQUIRE_OK(p.run({"migrate", "upgrade"}, fresh->url()));
    CHECK(sqlite_catalog(*fresh, false) == sqlite_catalog(*p.db, false));
    // Downgrade to base and up again on the fresh one: the base revision's reverse works.
    REQUIRE_OK(p.run({"migrate", "downgrade", "base"}, fresh->url()));
    CHECK(fresh
              ->query("SELECT name FROM sqlite_master WHERE name NOT LIKE 'alembic%' AND name NOT LIKE "
                      "'fastappkit%' AND name NOT LIKE 'sqlite_%'")
              .empty());

    // A model edit afterwards is an ordinary revision on the adopted database.
    const std::string rows_kept = all_rows(*p.db, {"tags", "posts"});
    std::string models = read_file(p.root / "core" / "models.toml");
    const std::string anchor = "  { name = \"photo\", type = \"binary\" },\n";
    REQUIRE(models.find(anchor) != std::string::npos);
    models.replace(models.find(anchor), anchor.size(), anchor + "  { name = \"bio\", type = \"text\" },\n");
    write_file(p.root / "core" / "models.toml", models);
    REQUIRE_OK(p.run({"migrate", "core", "-m", "add bio"}));
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    CHECK(p.db->query("SELECT count(*) FROM users WHERE bio IS NULL")[0][0] == "2");
    CHECK_CODE(p.run({"migrate", "check"}), 0);
    CHECK(all_rows(*p.db, {"tags", "posts"}) == rows_kept);

    // The database is managed now: another adoption of it is refused.
    SqliteProject other;
    auto again = other.run({"migrate", "adopt", "-m", "again"}, p.db->url());
    CHECK_CODE(again, 2);
    CHECK_ERR(again, "managed already");
    CHECK_ERR(again, "alembic_version");
  }

  TEST_CASE("SQLite: what the replay cannot reproduce is refused with the difference named, nothing written") {
    SqliteProject p;
    p.db->exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT COLLATE NOCASE)");
    p.db->exec("INSERT INTO t (name) VALUES ('x')");
    const auto tree_before = tree_of(p.root);
    const std::string bytes_before = read_file(p.file());
    auto r = p.run({"migrate", "adopt", "-m", "adopt"});
    CHECK_CODE(r, 2);
    CHECK_ERR(r, "does not reproduce");
    CHECK_ERR(r, "column t.name");
    CHECK_ERR(r, "collate NOCASE");
    CHECK_ERR(r, "nothing was written");
    CHECK(tree_of(p.root) == tree_before);
    CHECK(read_file(p.file()) == bytes_before);
    // A type models cannot name is refused before the proof, naming the column.
    SqliteProject q;
    q.db->exec("CREATE TABLE g (id INTEGER PRIMARY KEY, shape GEOMETRY)");
    auto unmapped = q.run({"migrate", "adopt", "-m", "adopt"});
    CHECK_CODE(unmapped, 2);
    CHECK_ERR(unmapped, "g.shape: GEOMETRY");
  }

  TEST_CASE("SQLite: an empty database, a project with revisions, and a missing message are refused") {
    SqliteProject p;
    p.db->exec("CREATE TABLE IF NOT EXISTS x (id INTEGER)");
    p.db->exec("DROP TABLE x");
    auto empty = p.run({"migrate", "adopt", "-m", "adopt"});
    CHECK_CODE(empty, 2);
    CHECK_ERR(empty, "has no tables");
    CHECK_CODE(p.run({"migrate", "adopt"}), 2);
    p.db->exec("CREATE TABLE y (id INTEGER PRIMARY KEY)");
    write_file(p.root / "core" / "db" / "migrations" / "versions" / "aaaaaaaaaaa1_x.toml",
               "revision = \"aaaaaaaaaaa1\"\nmessage = \"x\"\n");
    auto with_revisions = p.run({"migrate", "adopt", "-m", "adopt"});
    CHECK_CODE(with_revisions, 2);
    CHECK_ERR(with_revisions, "has revisions already");
    CHECK(p.db->query("SELECT name FROM sqlite_master WHERE name LIKE 'alembic%'").empty());
  }

  TEST_CASE("SQLite: a fleet adopts its first database and stamps the others with the same schema") {
    SqliteProject p;
    fs::create_directories(p.dir.path / "second");
    fs::create_directories(p.dir.path / "third");
    auto second = make_sqlite(p.dir.path / "second");
    auto third = make_sqlite(p.dir.path / "third");
    for (auto* db : {p.db.get(), second.get(), third.get()})
      db->exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)");
    third->exec("CREATE INDEX ix_t_name ON t (name)");
    write_file(p.root / "fleet.txt", p.db->url() + "\n" + second->url() + "\n" + third->url() + "\n");
    auto r = fastappkit({"migrate", "adopt", "-m", "adopt", "--databases", "fleet.txt"}, p.root);
    CHECK_CODE(r, 1);
    CHECK_OUT(r, "fleet.txt:2): same schema: stamped at");
    CHECK_OUT(r, "fleet.txt:3): 1 difference(s): left alone");
    CHECK_OUT(r, "index ix_t_name: only in this one");
    CHECK(second->query("SELECT version_num FROM alembic_version") ==
          p.db->query("SELECT version_num FROM alembic_version"));
    CHECK(third->query("SELECT name FROM sqlite_master WHERE name = 'alembic_version'").empty());
  }
}

// ---------------------------------------------------------------------------------------------

namespace {

std::string pg_host() {
  const char* h = std::getenv("FASTAPPKIT_TEST_PGHOST");
  return h ? h : "";
}

std::string database_name(const std::string& url) {
  auto slash = url.find("@/") + 2;
  return url.substr(slash, url.find('?') - slash);
}

// pg_dump --schema-only of one schema, without fastappkit's own tables and pg_dump's random
// \restrict key.
std::string pg_schema(const std::string& url, const std::string& schema = "public") {
  std::string out;
  const int rc = shell("/usr/lib/postgresql/15/bin/pg_dump --schema-only --no-owner -h '" + pg_host() +
                           "' -U postgres -n " + schema + " " + database_name(url),
                       &out);
  REQUIRE_MESSAGE(rc == 0, out);
  // Blocks are separated by blank lines; every block that names a fastappkit table goes, and so
  // do pg_dump's SET lines and blank lines (where it puts them depends on the first table).
  std::string kept, block;
  auto flush = [&] {
    if (block.find("alembic_version") == std::string::npos && block.find("fastappkit_history") == std::string::npos)
      kept += block;
    block.clear();
  };
  std::size_t start = 0;
  while (start < out.size()) {
    auto end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    std::string line = out.substr(start, end - start);
    start = end + 1;
    if (line.empty()) {
      flush();
      continue;
    }
    if (line.rfind("\\restrict", 0) == 0 || line.rfind("\\unrestrict", 0) == 0 || line.rfind("SET ", 0) == 0) continue;
    block += line + "\n";
  }
  flush();
  return kept;
}

constexpr const char* kPgSchema = R"(
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE SEQUENCE standalone_seq START 100;
CREATE TABLE users (
  id SERIAL PRIMARY KEY,
  email VARCHAR(200) NOT NULL UNIQUE,
  name TEXT DEFAULT 'anon',
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  born DATE, wakes TIME, score INTEGER CHECK (score >= 0), big BIGINT, small SMALLINT,
  ratio REAL, precise DOUBLE PRECISION, money NUMERIC(10, 2) DEFAULT (1 + 1), flag BOOLEAN DEFAULT false,
  doc JSONB, uid UUID, photo BYTEA, upper_name TEXT DEFAULT upper('x'),
  CONSTRAINT name_len CHECK (length(name) < 100)
);
CREATE TABLE tags (
  a INTEGER NOT NULL, b VARCHAR(20) NOT NULL, parent_a INTEGER, parent_b VARCHAR(20),
  PRIMARY KEY (a, b),
  FOREIGN KEY (parent_a, parent_b) REFERENCES tags (a, b) ON DELETE CASCADE ON UPDATE SET NULL
);
CREATE TABLE posts (
  id INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
  editor_id INTEGER REFERENCES users (id) ON DELETE RESTRICT ON UPDATE CASCADE,
  reviewer_id INTEGER REFERENCES users (id) ON DELETE SET DEFAULT ON UPDATE NO ACTION,
  title VARCHAR(100), body TEXT,
  UNIQUE (user_id, title)
);
CREATE TABLE counters (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n BIGINT DEFAULT nextval('standalone_seq'));
CREATE TABLE plain (id INTEGER PRIMARY KEY, label TEXT);
CREATE INDEX ix_posts_title ON posts (title);
CREATE INDEX ix_posts_partial ON posts (title) WHERE body IS NOT NULL;
CREATE INDEX ix_posts_lower ON posts (lower(title));
CREATE VIEW v_users AS SELECT id, email FROM users;
CREATE VIEW v_users2 AS SELECT id FROM v_users;
CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE users SET score = coalesce(score, 0) + 1 WHERE id = NEW.user_id; RETURN NEW; END $$;
CREATE TRIGGER tr_posts AFTER INSERT ON posts FOR EACH ROW EXECUTE FUNCTION bump();
COMMENT ON TABLE users IS 'the users';
COMMENT ON COLUMN users.email IS 'where we write';
INSERT INTO users (email, name, score) VALUES ('a@example.com', 'A', 1), ('b@example.com', 'B', 2);
INSERT INTO tags (a, b) VALUES (1, 'x');
INSERT INTO tags (a, b, parent_a, parent_b) VALUES (2, 'y', 1, 'x');
INSERT INTO posts (user_id, title, body) VALUES (1, 'first', 'hello'), (2, 'second', NULL);
INSERT INTO plain VALUES (7, 'seven');
)";

struct PgProject {
  TempDir dir;
  fs::path root = dir.path / "proj";
  std::unique_ptr<Database> db = make_postgresql();
  PgProject() { REQUIRE_OK(fastappkit({"core", "new", "proj"}, dir.path)); }
  RunResult run(const std::vector<std::string>& args, const std::string& url = {}) const {
    return fastappkit(args, root, {{"DATABASE_URL", url.empty() ? db->url() : url}});
  }
};

}  // namespace

TEST_SUITE("fastappkit::e2e::adopt") {
  TEST_CASE("PostgreSQL: adopt carries types, sequences, functions, views, triggers and comments; proof, stamp") {
    PgProject p;
    p.db->exec(kPgSchema);
    const std::string before = pg_schema(p.db->url());
    const std::vector<std::string> tables = {"users", "tags", "posts", "plain"};
    const std::string rows_before = all_rows(*p.db, tables);
    const auto tree_before = tree_of(p.root);

    auto dry = p.run({"migrate", "adopt", "-m", "adopt", "--dry-run"});
    REQUIRE_OK(dry);
    for (const char* object : {"enum type mood", "sequence standalone_seq", "function bump()", "serial column users.id",
                               "identity column (always) posts.id", "key column without identity plain.id",
                               "sequence default counters.n", "index ix_posts_partial", "index ix_posts_lower",
                               "view v_users2", "trigger posts.tr_posts", "comment users.email"})
      CHECK_OUT(dry, object);
    CHECK(tree_of(p.root) == tree_before);
    CHECK(p.db->tables() == std::vector<std::string>{"counters", "plain", "posts", "tags", "users"});
    // The temporary schema of the proof is gone.
    CHECK(p.db->query("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'fastappkit%'").empty());

    REQUIRE_OK(p.run({"migrate", "adopt", "-m", "adopt"}));
    CHECK(pg_schema(p.db->url()) == before);
    CHECK(all_rows(*p.db, tables) == rows_before);
    CHECK(p.db->query("SELECT direction FROM fastappkit_history")[0][0] == "adopt");
    CHECK(p.db->query("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'fastappkit%'").empty());
    CHECK_CODE(p.run({"migrate", "check"}), 0);
    CHECK_OUT(p.run({"migrate", "core", "-m", "nothing"}), "No changes detected");

    // A fresh database upgraded from the project: pg_dump gives the same schema.
    auto fresh = make_postgresql();
    REQUIRE_OK(p.run({"migrate", "upgrade"}, fresh->url()));
    CHECK(pg_schema(fresh->url()) == before);
    REQUIRE_OK(p.run({"migrate", "downgrade", "base"}, fresh->url()));
    CHECK(fresh->tables() == std::vector<std::string>{"alembic_version", "fastappkit_history"});

    // A model edit afterwards, on the adopted database.
    std::string models = read_file(p.root / "core" / "models.toml");
    const std::string anchor = "name = \"plain\"\ncolumns = [\n";
    REQUIRE(models.find(anchor) != std::string::npos);
    models.insert(models.find(anchor) + anchor.size(), "  { name = \"note\", type = \"text\" },\n");
    write_file(p.root / "core" / "models.toml", models);
    REQUIRE_OK(p.run({"migrate", "core", "-m", "note"}));
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    CHECK(p.db->query("SELECT label FROM plain WHERE id = 7")[0][0] == "seven");
  }

  TEST_CASE("PostgreSQL: a non-default schema with ?schema=, and --scratch-url") {
    PgProject p;
    p.db->exec("CREATE SCHEMA shop");
    p.db->exec("CREATE TABLE shop.items (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, sku TEXT NOT NULL)");
    p.db->exec("CREATE VIEW shop.v_items AS SELECT sku FROM shop.items");
    p.db->exec("CREATE TABLE public.elsewhere (id INTEGER)");
    p.db->exec("INSERT INTO shop.items (sku) VALUES ('a')");
    const std::string url = p.db->url() + "&schema=shop";
    const std::string before = pg_schema(p.db->url(), "shop");
    auto scratch = make_postgresql();
    auto r = p.run({"migrate", "adopt", "-m", "adopt", "--scratch-url", scratch->url()}, url);
    REQUIRE_OK(r);
    CHECK_OUT(r, "view v_items");
    CHECK(pg_schema(p.db->url(), "shop") == before);
    CHECK(p.db->query("SELECT version_num FROM shop.alembic_version").size() == 1);
    CHECK(p.db->query(
              "SELECT count(*) FROM pg_tables WHERE tablename = 'alembic_version' AND schemaname = 'public'")[0][0] ==
          "0");
    CHECK_CODE(p.run({"migrate", "check"}, url), 0);
    // A scratch database that is not empty is refused.
    PgProject q;
    q.db->exec("CREATE TABLE t (id INTEGER)");
    auto used = q.run({"migrate", "adopt", "-m", "adopt", "--scratch-url", scratch->url()});
    CHECK_CODE(used, 2);
    CHECK_ERR(used, "is not empty");
  }

  TEST_CASE("PostgreSQL: an unmappable column type and an irreproducible object are refused, nothing written") {
    PgProject p;
    p.db->exec("CREATE TABLE a (id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, tags TEXT[])");
    const auto tree_before = tree_of(p.root);
    auto r = p.run({"migrate", "adopt", "-m", "adopt"});
    CHECK_CODE(r, 2);
    CHECK_ERR(r, "a.tags: text[]");
    CHECK(tree_of(p.root) == tree_before);
    CHECK(p.db->tables() == std::vector<std::string>{"a"});

    PgProject q;
    q.db->exec("CREATE TABLE b (id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name TEXT COLLATE \"C\")");
    auto d = q.run({"migrate", "adopt", "-m", "adopt"});
    CHECK_CODE(d, 2);
    CHECK_ERR(d, "column b.name");
    CHECK_ERR(d, "collation C");
    CHECK(q.db->tables() == std::vector<std::string>{"b"});
    CHECK(q.db->query("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'fastappkit%'").empty());
  }
}

TEST_CASE("the walkthrough of docs/adopt.md runs as written") {
  TempDir dir;
  fs::path cwd = dir.path;
  std::istringstream doc(read_file(source_dir() / "docs" / "adopt.md"));
  std::string line;
  bool in_sh = false;
  int ran = 0;
  while (std::getline(doc, line)) {
    if (line.rfind("```", 0) == 0) {
      in_sh = !in_sh && line == "```sh";
      continue;
    }
    if (!in_sh) continue;
    INFO("docs/adopt.md: " << line);
    if (line.rfind("cd ", 0) == 0) {
      cwd /= line.substr(3);
    } else if (line.rfind("sqlite3 ", 0) == 0) {
      std::string out;
      REQUIRE_MESSAGE(shell("cd '" + cwd.string() + "' && " + line, &out) == 0, out);
    } else {
      REQUIRE(line.rfind("fastappkit ", 0) == 0);
      auto words = shell_words(line);
      REQUIRE_OK(fastappkit(std::vector<std::string>(words.begin() + 1, words.end()), cwd));
    }
    ++ran;
  }
  CHECK(ran == 8);
  CHECK(fs::exists(cwd / "core" / "models.toml"));
  CHECK_HAS(read_file(cwd / "core" / "models.toml"), "name = \"customers\"");
}
