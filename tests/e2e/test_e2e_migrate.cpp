// The migrate commands end to end: the real binary on a copy of apps-example, on SQLite and
// on PostgreSQL (every case runs on both).
#include <doctest/doctest.h>

#include <algorithm>
#include <thread>

#include "harness.hpp"

using namespace e2e;

namespace {

constexpr const char* kUsers = "1a2b3c4d5e6f";
constexpr const char* kSessions = "2b3c4d5e6f70";
constexpr const char* kPosts = "3c4d5e6f7081";
constexpr const char* kHead = "4d5e6f708192";

struct Project {
  TempDir dir;
  fs::path root;
  std::unique_ptr<Database> db;

  Project() : root(dir.path / "project") {
    copy_tree(source_dir() / "apps-example", root);
    install_plugins(root);
  }
  template <class B>
  explicit Project(B) : Project() {
    db = make_database<B>(dir.path);
  }
  RunResult run(std::vector<std::string> args) const { return fastappkit(args, root, {{"DATABASE_URL", db->url()}}); }
  std::vector<std::string> versions() const {
    std::vector<std::string> out;
    for (auto& r : db->query("SELECT version_num FROM alembic_version ORDER BY version_num")) out.push_back(r[0]);
    return out;
  }
  fs::path versions_dir() const { return root / "core" / "db" / "migrations" / "versions"; }
};

}  // namespace

TEST_SUITE("fastappkit::e2e") {
  TEST_CASE_TEMPLATE("upgrade to head builds the expected schema and an Alembic version table", B, Sqlite, Postgresql) {
    Project p{B{}};
    auto r = p.run({"migrate", "upgrade"});
    REQUIRE_OK(r);
    CHECK(r.out.find("applied 1a2b3c4d5e6f  Create users table") != std::string::npos);
    CHECK(r.out.find("blog  applied 3c4d5e6f7081  Add post model") != std::string::npos);
    CHECK(p.versions() == std::vector<std::string>{kHead});
    std::string dump = p.db->schema_dump();
    CHECK_MESSAGE(matches_golden(std::string("apps_example_head.") + B::name + ".txt", dump), dump);

    if (p.db->backend() == "sqlite") {
      auto ddl = p.db->query("SELECT sql FROM sqlite_master WHERE name = 'alembic_version'");
      REQUIRE(ddl.size() == 1);
      CHECK(ddl[0][0] ==
            "CREATE TABLE alembic_version (\n\tversion_num VARCHAR(32) NOT NULL, \n\tCONSTRAINT alembic_version_pkc "
            "PRIMARY KEY (version_num)\n)");
    } else {
      auto cols = p.db->query(
          "SELECT column_name, data_type, character_maximum_length, is_nullable FROM information_schema.columns "
          "WHERE table_name = 'alembic_version'");
      CHECK(cols == std::vector<std::vector<std::string>>{{"version_num", "character varying", "32", "NO"}});
      auto pk = p.db->query(
          "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'alembic_version'::regclass");
      CHECK(pk == std::vector<std::vector<std::string>>{{"alembic_version_pkc", "PRIMARY KEY (version_num)"}});
    }

    auto again = p.run({"migrate", "upgrade"});
    REQUIRE_OK(again);
    CHECK(again.out.find("nothing to do") != std::string::npos);
  }

  TEST_CASE_TEMPLATE("downgrade to base leaves an empty version table and the history log", B, Sqlite, Postgresql) {
    Project p{B{}};
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    p.db->exec("INSERT INTO users (email) VALUES ('a@example.com')");
    auto r = p.run({"migrate", "downgrade", "base"});
    REQUIRE_OK(r);
    CHECK(p.db->tables() == std::vector<std::string>{"alembic_version", "fastappkit_history"});
    CHECK(p.versions().empty());
    auto hist = p.db->query("SELECT direction, count(*) FROM fastappkit_history GROUP BY direction ORDER BY direction");
    CHECK(hist == std::vector<std::vector<std::string>>{{"downgrade", "4"}, {"upgrade", "4"}});
  }

  TEST_CASE_TEMPLATE("upgrade to a middle revision by prefix, relative steps, and back", B, Sqlite, Postgresql) {
    Project p{B{}};
    REQUIRE_OK(p.run({"migrate", "upgrade", "--revision", "2b3c"}));
    CHECK(p.versions() == std::vector<std::string>{kSessions});
    CHECK(p.db->tables() == std::vector<std::string>{"alembic_version", "fastappkit_history", "sessions", "users"});

    REQUIRE_OK(p.run({"migrate", "upgrade", "--revision", "+1"}));
    CHECK(p.versions() == std::vector<std::string>{kPosts});
    REQUIRE_OK(p.run({"migrate", "downgrade", "-2"}));
    CHECK(p.versions() == std::vector<std::string>{kUsers});
    REQUIRE_OK(p.run({"migrate", "upgrade", "-r", "head"}));
    CHECK(p.versions() == std::vector<std::string>{kHead});
    REQUIRE_OK(p.run({"migrate", "downgrade", kSessions}));
    CHECK(p.versions() == std::vector<std::string>{kSessions});
    auto cur = p.run({"migrate", "current"});
    REQUIRE_OK(cur);
    CHECK(cur.out.find(kSessions) != std::string::npos);
    auto st = p.run({"--json", "migrate", "status"});
    REQUIRE_OK(st);
    CHECK(json_of(st)["apps"][0]["pending"] == nlohmann::json{"3c4d5e6f7081", "4d5e6f708192"});
  }

  TEST_CASE_TEMPLATE("preview prints the SQL and writes nothing", B, Sqlite, Postgresql) {
    Project p{B{}};
    auto first = p.run({"migrate", "preview"});
    REQUIRE_OK(first);
    CHECK(first.out.find("CREATE TABLE alembic_version") != std::string::npos);
    CHECK(first.out.find("CREATE TABLE \"posts\"") != std::string::npos);
    CHECK(first.out.find("INSERT INTO alembic_version (version_num) VALUES ('1a2b3c4d5e6f')") != std::string::npos);
    if (p.db->backend() == "sqlite")
      CHECK_FALSE(fs::exists(p.dir.path / "test.db"));
    else
      CHECK(p.db->tables().empty());

    REQUIRE_OK(p.run({"migrate", "upgrade", "--revision", kSessions}));
    std::string before_dump = p.db->schema_dump();
    std::string before_bytes = p.db->backend() == "sqlite" ? read_file(p.dir.path / "test.db") : "";
    auto r = p.run({"migrate", "preview"});
    REQUIRE_OK(r);
    CHECK(r.out.find("CREATE TABLE alembic_version") == std::string::npos);
    CHECK(r.out.find("CREATE TABLE \"users\"") == std::string::npos);
    CHECK(r.out.find("CREATE TABLE \"posts\"") != std::string::npos);
    CHECK(r.out.find("UPDATE alembic_version SET version_num='3c4d5e6f7081' WHERE alembic_version.version_num = "
                     "'2b3c4d5e6f70'") != std::string::npos);
    auto down = p.run({"migrate", "preview", "--downgrade", "--revision", "base"});
    REQUIRE_OK(down);
    CHECK(down.out.find("DROP TABLE \"sessions\"") != std::string::npos);
    CHECK(down.out.find("DELETE FROM alembic_version WHERE alembic_version.version_num = '1a2b3c4d5e6f'") !=
          std::string::npos);
    CHECK(p.db->schema_dump() == before_dump);
    CHECK(p.versions() == std::vector<std::string>{kSessions});
    if (p.db->backend() == "sqlite") CHECK(read_file(p.dir.path / "test.db") == before_bytes);
  }

  TEST_CASE_TEMPLATE("a failing migration is rolled back and earlier ones stay applied", B, Sqlite, Postgresql) {
    Project p{B{}};
    write_file(p.versions_dir() / "5e6f708192a3_seed_users.toml", R"TOML(revision = "5e6f708192a3"
down_revision = "4d5e6f708192"
message = "Seed users"

[[upgrade]]
op = "create_table"
table = "audit_log"
columns = [ { name = "id", type = "integer", primary_key = true } ]

[[upgrade]]
op = "execute"
sql = "INSERT INTO users (email) VALUES ('dup@example.com')"

[[upgrade]]
op = "execute"
sql = "INSERT INTO users (email) VALUES ('dup@example.com')"

[[downgrade]]
op = "drop_table"
table = "audit_log"
)TOML");
    write_file(p.versions_dir() / "6f708192a3b4_never.toml", R"TOML(revision = "6f708192a3b4"
down_revision = "5e6f708192a3"
message = "Never reached"

[[upgrade]]
op = "create_table"
table = "never"
columns = [ { name = "id", type = "integer", primary_key = true } ]
)TOML");
    auto r = p.run({"migrate", "upgrade"});
    CHECK(r.code == 1);
    CHECK(r.err.find("upgrade of core revision 5e6f708192a3 (\"Seed users\") failed") != std::string::npos);
    CHECK(r.err.find("5e6f708192a3_seed_users.toml") != std::string::npos);
    CHECK(r.err.find("statement: INSERT INTO users (email) VALUES ('dup@example.com')") != std::string::npos);
    if (p.db->backend() == "sqlite")
      CHECK(r.err.find("UNIQUE constraint failed: users.email") != std::string::npos);
    else {
      CHECK(r.err.find("duplicate key value violates unique constraint \"uq_users_email\"") != std::string::npos);
      CHECK(r.err.find("SQLSTATE 23505") != std::string::npos);
    }
    CHECK(p.versions() == std::vector<std::string>{kHead});
    auto tables = p.db->tables();
    CHECK(std::find(tables.begin(), tables.end(), "audit_log") == tables.end());
    CHECK(std::find(tables.begin(), tables.end(), "never") == tables.end());
    CHECK(p.db->query("SELECT count(*) FROM users")[0][0] == "0");
  }

  TEST_CASE_TEMPLATE("an invalid migration file stops everything before the database is touched", B, Sqlite,
                     Postgresql) {
    Project p{B{}};
    write_file(p.versions_dir() / "5e6f708192a3_broken.toml", R"TOML(revision = "5e6f708192a3"
down_revision = "4d5e6f708192"
message = "Broken"

[[upgrade]]
op = "add_colum"
table = "posts"
)TOML");
    auto r = p.run({"migrate", "upgrade"});
    CHECK(r.code == 2);
    CHECK(r.err.find("5e6f708192a3_broken.toml:6:6: unknown operation 'add_colum'") != std::string::npos);
    CHECK(r.err.find("did you mean 'add_column'?") != std::string::npos);
    if (p.db->backend() == "sqlite")
      CHECK_FALSE(fs::exists(p.dir.path / "test.db"));
    else
      CHECK(p.db->tables().empty());

    fs::remove(p.versions_dir() / "5e6f708192a3_broken.toml");
    write_file(p.versions_dir() / "5e6f708192a3_orphan.toml",
               "revision = \"5e6f708192a3\"\ndown_revision = \"ffffffffffff\"\n");
    auto g = p.run({"migrate", "upgrade"});
    CHECK(g.code == 2);
    CHECK(g.err.find("5e6f708192a3_orphan.toml:2:17: Can't locate revision identified by 'ffffffffffff'") !=
          std::string::npos);
    if (p.db->backend() == "sqlite")
      CHECK_FALSE(fs::exists(p.dir.path / "test.db"));
    else
      CHECK(p.db->tables().empty());
  }

  TEST_CASE_TEMPLATE("a database whose version table Alembic wrote is continued", B, Sqlite, Postgresql) {
    Project p{B{}};
    // What Alembic leaves behind: its version table and the schema, no fastappkit_history.
    REQUIRE_OK(p.run({"migrate", "upgrade", "--revision", kSessions}));
    p.db->exec("DROP TABLE fastappkit_history");
    auto r = p.run({"migrate", "upgrade"});
    REQUIRE_OK(r);
    CHECK(r.out.find("applying 2 migration(s)") != std::string::npos);
    CHECK(p.versions() == std::vector<std::string>{kHead});
  }

  TEST_CASE_TEMPLATE("a SQLite-rebuilding change keeps every row (alter column, add constraint)", B, Sqlite,
                     Postgresql) {
    Project p{B{}};
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    p.db->exec("INSERT INTO users (id, email, name) VALUES (1, 'a@example.com', 'Ann')");
    p.db->exec("INSERT INTO posts (title, author_id) VALUES ('Hello', 1), ('World', 1)");
    write_file(p.versions_dir() / "5e6f708192a3_tighten_posts.toml", R"TOML(revision = "5e6f708192a3"
down_revision = "4d5e6f708192"
message = "Tighten posts"

[[upgrade]]
op = "alter_column"
table = "posts"
column = "title"
type = "string"
length = 300
nullable = false

[[upgrade]]
op = "create_unique"
name = "uq_posts_title"
table = "posts"
columns = ["title"]

[[downgrade]]
op = "drop_constraint"
name = "uq_posts_title"
table = "posts"

[[downgrade]]
op = "alter_column"
table = "posts"
column = "title"
type = "string"
length = 200
)TOML");
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    CHECK(p.db->query("SELECT title FROM posts ORDER BY id") ==
          std::vector<std::vector<std::string>>{{"Hello"}, {"World"}});
    std::string dump = p.db->schema_dump();
    CHECK(dump.find("ix_posts_title") != std::string::npos);
    CHECK(dump.find("ix_posts_published_at") != std::string::npos);
    CHECK((dump.find("posts.author_id -> users.id") != std::string::npos ||
           dump.find("FOREIGN KEY (author_id) REFERENCES users(id)") != std::string::npos));
    REQUIRE_OK(p.run({"migrate", "downgrade", "-1"}));
    CHECK(p.db->query("SELECT count(*) FROM posts")[0][0] == "2");
    // Deleting the user still cascades: the foreign key survived both rebuilds.
    p.db->exec(p.db->backend() == "sqlite" ? "PRAGMA foreign_keys = ON; DELETE FROM users" : "DELETE FROM users");
    CHECK(p.db->query("SELECT count(*) FROM posts")[0][0] == "0");
  }

  TEST_CASE_TEMPLATE("identifiers that are reserved words or contain quotes work", B, Sqlite, Postgresql) {
    Project p{B{}};
    write_file(p.versions_dir() / "5e6f708192a3_hostile.toml", R"TOML(revision = "5e6f708192a3"
down_revision = "4d5e6f708192"
message = "Hostile names"

[[upgrade]]
op = "create_table"
table = "select"
columns = [
  { name = "order", type = "integer", primary_key = true },
  { name = 'we"ird', type = "string", length = 10 },
  { name = "it's", type = "text" },
]

[[upgrade]]
op = "create_index"
name = 'ix "odd"'
table = "select"
columns = ['we"ird']

[[upgrade]]
op = "alter_column"
table = "select"
column = "it's"
nullable = false
default = "'x'"

[[downgrade]]
op = "drop_index"
name = 'ix "odd"'
table = "select"

[[downgrade]]
op = "drop_table"
table = "select"
)TOML");
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    CHECK(p.db->schema_dump().find("we\"ird") != std::string::npos);
    REQUIRE_OK(p.run({"migrate", "downgrade", "-1"}));
    auto tables = p.db->tables();
    CHECK(std::find(tables.begin(), tables.end(), "select") == tables.end());
  }

  TEST_CASE_TEMPLATE("two concurrent upgrades apply each migration exactly once", B, Sqlite, Postgresql) {
    Project p{B{}};
    RunResult a, b;
    std::thread ta([&] { a = p.run({"migrate", "upgrade"}); });
    std::thread tb([&] { b = p.run({"migrate", "upgrade"}); });
    ta.join();
    tb.join();
    CHECK_MESSAGE(a.code == 0, a.err);
    CHECK_MESSAGE(b.code == 0, b.err);
    CHECK(p.versions() == std::vector<std::string>{kHead});
    auto hist = p.db->query(
        "SELECT revision, count(*) FROM fastappkit_history WHERE direction = 'upgrade' GROUP BY revision ORDER BY "
        "revision");
    CHECK(hist == std::vector<std::vector<std::string>>{{kUsers, "1"}, {kSessions, "1"}, {kPosts, "1"}, {kHead, "1"}});
  }

  TEST_CASE_TEMPLATE("a migration edited after it was applied is reported", B, Sqlite, Postgresql) {
    Project p{B{}};
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    auto f = p.versions_dir() / "1a2b3c4d5e6f_create_users.toml";
    write_file(f, read_file(f) + "\n# edited\n");
    auto st = p.run({"migrate", "status"});
    REQUIRE_OK(st);
    CHECK(st.out.find("warning: 1a2b3c4d5e6f") != std::string::npos);
    CHECK(st.out.find("changed after it was applied") != std::string::npos);
  }

  TEST_CASE_TEMPLATE("branches and a merge keep one version row per head", B, Sqlite, Postgresql) {
    Project p{B{}};
    auto branch = [&](const std::string& rev, const std::string& table) {
      write_file(p.versions_dir() / (rev + "_" + table + ".toml"),
                 "revision = \"" + rev + "\"\ndown_revision = \"4d5e6f708192\"\nmessage = \"Add " + table +
                     "\"\n\n[[upgrade]]\nop = \"create_table\"\ntable = \"" + table +
                     "\"\ncolumns = [ { name = \"id\", type = \"integer\", primary_key = true } ]\n\n[[downgrade]]\nop "
                     "= \"drop_table\"\ntable = \"" +
                     table + "\"\n");
    };
    branch("aaaaaaaaaaa1", "tags");
    branch("bbbbbbbbbbb2", "likes");
    auto ambiguous = p.run({"migrate", "upgrade"});
    CHECK(ambiguous.code == 2);
    CHECK(ambiguous.err.find("Multiple heads are present: aaaaaaaaaaa1, bbbbbbbbbbb2") != std::string::npos);
    REQUIRE_OK(p.run({"migrate", "upgrade", "--revision", "heads"}));
    CHECK(p.versions() == std::vector<std::string>{"aaaaaaaaaaa1", "bbbbbbbbbbb2"});
    write_file(
        p.versions_dir() / "ccccccccccc3_merge.toml",
        "revision = \"ccccccccccc3\"\ndown_revision = [\"aaaaaaaaaaa1\", \"bbbbbbbbbbb2\"]\nmessage = \"Merge\"\n");
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    CHECK(p.versions() == std::vector<std::string>{"ccccccccccc3"});
    // -1 from a merge has no single parent to walk to: refused, as Alembic's "Ambiguous walk".
    auto through_merge = p.run({"migrate", "downgrade", "-1"});
    CHECK(through_merge.code == 2);
    CHECK(through_merge.err.find("the walk reaches the merge ccccccccccc3") != std::string::npos);
    CHECK(p.versions() == std::vector<std::string>{"ccccccccccc3"});
    REQUIRE_OK(p.run({"migrate", "downgrade", "aaaaaaaaaaa1"}));
    CHECK(p.versions() == std::vector<std::string>{"aaaaaaaaaaa1", "bbbbbbbbbbb2"});
    // Going down to the branch point reverts everything that needs it: both branches.
    REQUIRE_OK(p.run({"migrate", "downgrade", "bbbbbbbbbbb2-1"}));
    CHECK(p.versions() == std::vector<std::string>{kHead});
    auto tables = p.db->tables();
    CHECK(std::find(tables.begin(), tables.end(), "likes") == tables.end());
    CHECK(std::find(tables.begin(), tables.end(), "tags") == tables.end());
    REQUIRE_OK(p.run({"migrate", "stamp", "base"}));
    CHECK(p.versions().empty());
    REQUIRE_OK(p.run({"migrate", "stamp", "heads"}));
    CHECK(p.versions() == std::vector<std::string>{"ccccccccccc3"});
  }

  TEST_CASE_TEMPLATE("a transactional = false migration runs outside a transaction", B, Sqlite, Postgresql) {
    Project p{B{}};
    write_file(p.versions_dir() / "5e6f708192a3_concurrent_index.toml", R"TOML(revision = "5e6f708192a3"
down_revision = "4d5e6f708192"
message = "Index posts.status concurrently"
transactional = false

[[upgrade]]
op = "execute"
postgresql = 'CREATE INDEX CONCURRENTLY "ix_posts_status" ON "posts" ("status")'
sqlite = 'CREATE INDEX "ix_posts_status" ON "posts" ("status")'

[[downgrade]]
op = "drop_index"
name = "ix_posts_status"
table = "posts"
)TOML");
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    CHECK(p.versions() == std::vector<std::string>{"5e6f708192a3"});
    CHECK(p.db->schema_dump().find("ix_posts_status") != std::string::npos);
    REQUIRE_OK(p.run({"migrate", "downgrade", "-1"}));
    CHECK(p.db->schema_dump().find("ix_posts_status") == std::string::npos);
  }

  TEST_CASE("CLI refusals are clear and exit 2") {
    TempDir dir;
    auto r = fastappkit({"migrate", "upgrade"}, dir.path);
    CHECK(r.code == 2);
    CHECK(r.err.find("Configuration file not found: " + (fs::canonical(dir.path) / "fastappkit.toml").string()) !=
          std::string::npos);
    CHECK(r.err.find("-C") != std::string::npos);

    auto typo = fastappkit({"migrate", "upgade"}, dir.path);
    CHECK(typo.code == 2);
    CHECK(typo.err.find("did you mean 'upgrade'?") != std::string::npos);

    auto help = fastappkit({"migrate", "downgrade", "--help"}, dir.path);
    CHECK(help.code == 0);
    CHECK(help.out.find("usage: fastappkit migrate downgrade <revision>") != std::string::npos);

    Project p;
    auto unknown =
        fastappkit({"migrate", "upgrade", "--revision", "abcdef"}, p.root, {{"DATABASE_URL", "sqlite:///x.db"}});
    CHECK(unknown.code == 2);
    CHECK(unknown.err.find("Can't locate revision identified by 'abcdef'") != std::string::npos);
    CHECK_FALSE(fs::exists(p.root / "x.db"));

    auto bad_url = fastappkit({"migrate", "status", "--database-url", "mysql://u:secret@h/db"}, p.root);
    CHECK(bad_url.code == 2);
    CHECK(bad_url.err.find("unsupported database URL scheme 'mysql'") != std::string::npos);
    CHECK(bad_url.err.find("secret") == std::string::npos);

    auto pg_down =
        fastappkit({"migrate", "upgrade", "--database-url", "postgresql://app:hunter2@127.0.0.1:1/app"}, p.root);
    CHECK(pg_down.code == 1);
    CHECK(pg_down.err.find("cannot connect to PostgreSQL at host 127.0.0.1, port 1, database app") !=
          std::string::npos);
    CHECK(pg_down.err.find("hunter2") == std::string::npos);
    CHECK(pg_down.err.find("postgresql://app:***@127.0.0.1:1/app") != std::string::npos);
  }

}  // TEST_SUITE
