// The migrate commands end to end: the real binary on a copy of apps-example, on SQLite and
// on PostgreSQL (every case runs on both).
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
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
  RunResult run(const std::vector<std::string>& args) const {
    return fastappkit(args, root, {{"DATABASE_URL", db->url()}});
  }
  std::vector<std::string> versions() const {
    std::vector<std::string> out;
    for (auto& r : db->query("SELECT version_num FROM alembic_version ORDER BY version_num")) out.push_back(r[0]);
    return out;
  }
  fs::path versions_dir() const { return root / "core" / "db" / "migrations" / "versions"; }
};

// The file of an sqlite:/// URL.
fs::path file_of_url(const std::string& url) { return url.substr(std::string("sqlite:///").size()); }

}  // namespace

TEST_SUITE("fastappkit::e2e") {
  TEST_CASE_TEMPLATE("upgrade to head builds the expected schema and an Alembic version table", B, Sqlite, Postgresql) {
    Project p{B{}};
    auto r = p.run({"migrate", "upgrade"});
    REQUIRE_OK(r);
    CHECK_OUT(r, "applied 1a2b3c4d5e6f  Create users table");
    CHECK_OUT(r, "blog  applied 3c4d5e6f7081  Add post model");
    CHECK(p.versions() == std::vector<std::string>{kHead});
    std::string dump = p.db->schema_dump();
    const std::string mismatch = golden_mismatch(std::string("apps_example_head.") + B::name + ".txt", dump);
    CHECK_MESSAGE(mismatch.empty(), mismatch);

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
    CHECK_OUT(again, "nothing to do");
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
    CHECK_OUT(cur, kSessions);
    auto st = p.run({"--json", "migrate", "status"});
    REQUIRE_OK(st);
    CHECK(json_of(st)["apps"][0]["pending"] == nlohmann::json{"3c4d5e6f7081", "4d5e6f708192"});
  }

  TEST_CASE_TEMPLATE("preview prints the SQL and writes nothing", B, Sqlite, Postgresql) {
    Project p{B{}};
    auto first = p.run({"migrate", "preview"});
    REQUIRE_OK(first);
    CHECK_OUT(first, "CREATE TABLE alembic_version");
    CHECK_OUT(first, "CREATE TABLE \"posts\"");
    CHECK_OUT(first, "INSERT INTO alembic_version (version_num) VALUES ('1a2b3c4d5e6f')");
    if (p.db->backend() == "sqlite")
      CHECK_FALSE(fs::exists(p.dir.path / "test.db"));
    else
      CHECK(p.db->tables().empty());

    REQUIRE_OK(p.run({"migrate", "upgrade", "--revision", kSessions}));
    std::string before_dump = p.db->schema_dump();
    std::string before_bytes = p.db->backend() == "sqlite" ? read_file(p.dir.path / "test.db") : "";
    auto r = p.run({"migrate", "preview"});
    REQUIRE_OK(r);
    CHECK_NO_OUT(r, "CREATE TABLE alembic_version");
    CHECK_NO_OUT(r, "CREATE TABLE \"users\"");
    CHECK_OUT(r, "CREATE TABLE \"posts\"");
    CHECK_OUT(r,
              "UPDATE alembic_version SET version_num='3c4d5e6f7081' WHERE alembic_version.version_num = "
              "'2b3c4d5e6f70'");
    auto down = p.run({"migrate", "preview", "--downgrade", "--revision", "base"});
    REQUIRE_OK(down);
    CHECK_OUT(down, "DROP TABLE \"sessions\"");
    CHECK_OUT(down, "DELETE FROM alembic_version WHERE alembic_version.version_num = '1a2b3c4d5e6f'");
    CHECK(p.db->schema_dump() == before_dump);
    CHECK(p.versions() == std::vector<std::string>{kSessions});
    if (p.db->backend() == "sqlite") CHECK(read_file(p.dir.path / "test.db") == before_bytes);
  }

  TEST_CASE_TEMPLATE("preview --from is offline: the script for a database at that revision, none opened", B, Sqlite,
                     Postgresql) {
    Project p{B{}};
    // The script after its first line (the header names the database, or says offline).
    auto body = [](const RunResult& r) { return r.out.substr(std::min(r.out.size(), r.out.find('\n') + 1)); };
    auto online = p.run({"migrate", "preview"});
    auto offline = p.run({"migrate", "preview", "--from", "base"});
    REQUIRE_OK(online);
    REQUIRE_OK(offline);
    CHECK(body(offline) == body(online));
    CHECK_OUT(offline, "CREATE TABLE alembic_version");
    CHECK_OUT(offline, "offline: no database is read");

    REQUIRE_OK(p.run({"migrate", "upgrade", "--revision", kSessions}));
    const std::string before = p.db->schema_dump();
    online = p.run({"migrate", "preview"});
    offline = p.run({"migrate", "preview", "--from", kSessions});
    REQUIRE_OK(offline);
    CHECK(body(offline) == body(online));
    CHECK_NO_OUT(offline, "CREATE TABLE alembic_version");  // a database at a revision has the table
    CHECK_OUT(offline, "UPDATE alembic_version SET version_num='3c4d5e6f7081'");
    // A unique prefix names the revision as --revision does; a downgrade starts from it too.
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    online = p.run({"migrate", "preview", "--downgrade", "--revision", "base"});
    offline = p.run({"migrate", "preview", "--downgrade", "--revision", "base", "--from", "4d5e6f"});
    REQUIRE_OK(offline);
    CHECK(body(offline) == body(online));
    CHECK_OUT(offline, "DROP TABLE \"sessions\"");
    CHECK(p.versions() == std::vector<std::string>{kHead});
    CHECK(p.db->schema_dump() != before);

    // No database is opened: a server that does not exist, a SQLite file in a missing folder.
    TempDir nowhere;
    const std::string absent = p.db->backend() == "sqlite"
                                   ? "sqlite:///" + (nowhere.path / "missing" / "x.db").string()
                                   : "postgresql://nobody@/nodb?host=" + (nowhere.path / "no-server").string();
    auto away = fastappkit({"migrate", "preview", "--from", "base"}, p.root, {{"DATABASE_URL", absent}});
    REQUIRE_OK(away);
    CHECK(body(away) == body(p.run({"migrate", "preview", "--from", "base"})));
    CHECK_FALSE(fs::exists(nowhere.path / "missing"));
    if (p.db->backend() == "postgresql") {
      // Offline, only the URL's dialect is read: libpq is not even loaded (it is opened on first
      // use, util/libpq.hpp; the dynamic loader names every library it opens under
      // LD_DEBUG=files). Online it is.
      auto traced = fastappkit({"migrate", "preview", "--from", "base"}, p.root,
                               {{"DATABASE_URL", p.db->url()}, {"LD_DEBUG", "files"}});
      REQUIRE_OK(traced);
      CHECK_FALSE(has(traced.err, "libpq.so"));
      auto connected =
          fastappkit({"migrate", "preview"}, p.root, {{"DATABASE_URL", p.db->url()}, {"LD_DEBUG", "files"}});
      REQUIRE_OK(connected);
      CHECK(has(connected.err, "libpq.so"));
    }
    // Refusals: exit 2, nothing written.
    const std::string dump = p.db->schema_dump();
    auto unknown = p.run({"migrate", "preview", "--from", "abcdef"});
    CHECK(unknown.code == 2);
    CHECK_ERR(unknown, "Can't locate revision identified by 'abcdef'");
    auto relative = p.run({"migrate", "preview", "--from", "-1"});
    CHECK(relative.code == 2);
    auto all = p.run({"migrate", "preview", "--all", "--from", "base"});
    CHECK(all.code == 2);
    CHECK_ERR(all, "preview --from names a revision of one app");
    CHECK(p.db->schema_dump() == dump);
    CHECK(p.versions() == std::vector<std::string>{kHead});
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
    CHECK_ERR(r, "upgrade of core revision 5e6f708192a3 (\"Seed users\") failed");
    CHECK_ERR(r, "5e6f708192a3_seed_users.toml");
    CHECK_ERR(r, "statement: INSERT INTO users (email) VALUES ('dup@example.com')");
    if (p.db->backend() == "sqlite")
      CHECK_ERR(r, "UNIQUE constraint failed: users.email");
    else {
      CHECK_ERR(r, "duplicate key value violates unique constraint \"uq_users_email\"");
      CHECK_ERR(r, "SQLSTATE 23505");
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
    CHECK_ERR(r, "5e6f708192a3_broken.toml:6:6: unknown operation 'add_colum'");
    CHECK_ERR(r, "did you mean 'add_column'?");
    if (p.db->backend() == "sqlite")
      CHECK_FALSE(fs::exists(p.dir.path / "test.db"));
    else
      CHECK(p.db->tables().empty());

    fs::remove(p.versions_dir() / "5e6f708192a3_broken.toml");
    write_file(p.versions_dir() / "5e6f708192a3_orphan.toml",
               "revision = \"5e6f708192a3\"\ndown_revision = \"ffffffffffff\"\n");
    auto g = p.run({"migrate", "upgrade"});
    CHECK(g.code == 2);
    CHECK_ERR(g, "5e6f708192a3_orphan.toml:2:17: Can't locate revision identified by 'ffffffffffff'");
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
    CHECK_OUT(r, "applying 2 migration(s)");
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
    CHECK_HAS(dump, "ix_posts_title");
    CHECK_HAS(dump, "ix_posts_published_at");
    const bool has_fk =
        e2e::has(dump, "posts.author_id -> users.id") || e2e::has(dump, "FOREIGN KEY (author_id) REFERENCES users(id)");
    CHECK_MESSAGE(has_fk, dump);
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
    CHECK_HAS(p.db->schema_dump(), "we\"ird");
    REQUIRE_OK(p.run({"migrate", "downgrade", "-1"}));
    auto tables = p.db->tables();
    CHECK(std::find(tables.begin(), tables.end(), "select") == tables.end());
  }

  TEST_CASE_TEMPLATE("two concurrent upgrades apply each migration exactly once", B, Sqlite, Postgresql) {
    // The race is staged, not hoped for: run A stops inside its first migration's transaction
    // (under the run lock) until this test lets it go (FASTAPPKIT_TEST_HOLD_DIR, see
    // engine/src/util/test_hooks.hpp); run B starts only then. A is released when B says it is
    // waiting for the lock, or when B has finished: without the run lock B never waits, so it
    // either finishes first (and A then fails or applies twice) or blocks on A's uncommitted
    // DDL and never says it waits (the test then fails on its deadline). A then holds again
    // between its first and second migration, where no transaction keeps B out: a lock taken
    // per migration (SQLite's write lock alone) lets B in there. With the run lock, B waits,
    // A finishes, and B finds nothing left to do.
    Project p{B{}};
    TempDir hooks;
    const std::map<std::string, std::string> env{{"DATABASE_URL", p.db->url()},
                                                 {"FASTAPPKIT_TEST_HOLD_DIR", hooks.path.string()}};
    RunResult a, b;
    std::atomic<bool> b_done{false};
    std::thread ta([&] { a = fastappkit({"migrate", "upgrade"}, p.root, env); });
    const bool a_holds = wait_until([&] { return fs::exists(hooks.path / "holding"); });
    CHECK_MESSAGE(a_holds, "run A never reached its first migration");
    // B gets its own hook folder: there it says "waiting" when the run lock is busy, and it would
    // say "holding" if it reached a migration of its own.
    TempDir b_hooks;
    std::thread tb([&] {
      b = fastappkit({"migrate", "upgrade"}, p.root,
                     {{"DATABASE_URL", p.db->url()}, {"FASTAPPKIT_TEST_HOLD_DIR", b_hooks.path.string()}});
      b_done = true;
    });
    const bool b_waits =
        wait_until([&] {
          return b_done.load() || fs::exists(b_hooks.path / "waiting") || fs::exists(b_hooks.path / "holding");
        }) &&
        fs::exists(b_hooks.path / "waiting");
    const bool b_finished_first = b_done.load();
    const bool b_migrated_too = fs::exists(b_hooks.path / "holding");
    fs::remove(hooks.path / "holding");  // let A go on to its next step
    // A holds again between its first and second migration, outside any transaction: SQLite's
    // write lock is free there, only the run lock keeps B out. B marks "lock-busy" on every poll
    // that finds the run lock taken: removed once A is there, it comes back only if B polled
    // again while A held on, so B really tried (and a B that got in would say "holding" or end).
    const bool a_between = wait_until([&] { return fs::exists(hooks.path / "between"); });
    CHECK_MESSAGE(a_between, "run A never reached its second migration\n" << describe(a));
    fs::remove(b_hooks.path / "lock-busy");
    const bool b_polled_between =
        wait_until([&] {
          return b_done.load() || fs::exists(b_hooks.path / "holding") || fs::exists(b_hooks.path / "lock-busy");
        }) &&
        fs::exists(b_hooks.path / "lock-busy");
    const bool b_interleaved = b_done.load() || fs::exists(b_hooks.path / "holding");
    fs::remove(hooks.path / "between");
    ta.join();
    // B holds in its own first steps once it has the lock (every step then skipped): let it go
    // as often as it says so, until it ends.
    wait_until([&] {
      fs::remove(b_hooks.path / "holding");
      fs::remove(b_hooks.path / "between");
      return b_done.load();
    });
    tb.join();
    CHECK_MESSAGE(!b_interleaved, "run B took a migration between two of run A's\n" << describe(b));
    CHECK_MESSAGE(b_polled_between, "run B did not try the run lock while run A was between migrations\n"
                                        << describe(b));
    CHECK_MESSAGE(b_waits, "run B did not wait for the run lock that run A held\n" << describe(b));
    CHECK_MESSAGE(!b_finished_first, "run B finished while run A held the run lock\n" << describe(b));
    CHECK_MESSAGE(!b_migrated_too, "run B started a migration while run A held the run lock\n" << describe(b));
    CHECK_MESSAGE(a.code == 0, describe(a));
    CHECK_MESSAGE(b.code == 0, describe(b));
    CHECK_NO_OUT(b, " applied ");  // "nothing to do" (PostgreSQL) or every step "skipped" (SQLite)
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
    CHECK_OUT(st, "warning: 1a2b3c4d5e6f");
    CHECK_OUT(st, "changed after it was applied");
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
    CHECK_ERR(ambiguous, "Multiple heads are present: aaaaaaaaaaa1, bbbbbbbbbbb2");
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
    CHECK_ERR(through_merge, "the walk reaches the merge ccccccccccc3");
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
    CHECK_HAS(p.db->schema_dump(), "ix_posts_status");
    REQUIRE_OK(p.run({"migrate", "downgrade", "-1"}));
    CHECK_LACKS(p.db->schema_dump(), "ix_posts_status");
  }

  TEST_CASE(
      "SQLite: a run keeps the rollback journal between migrations, removes it at the end, and leaves WAL as it is") {
    // docs/perf-apply.md: PERSIST for the run (the journal's header zeroed at each commit, not
    // the file created and deleted), DELETE again at its end.
    Project p{Sqlite{}};
    const fs::path file = file_of_url(p.db->url());
    const fs::path journal = file.string() + "-journal";
    TempDir hooks;
    RunResult a;
    std::thread run([&] {
      a = fastappkit({"migrate", "upgrade"}, p.root,
                     {{"DATABASE_URL", p.db->url()}, {"FASTAPPKIT_TEST_HOLD_DIR", hooks.path.string()}});
    });
    const bool held = wait_until([&] { return fs::exists(hooks.path / "holding"); });
    fs::remove(hooks.path / "holding");
    const bool between = wait_until([&] { return fs::exists(hooks.path / "between"); });
    const bool kept = fs::exists(journal);
    std::string header = kept ? read_file(journal).substr(0, 28) : std::string();
    fs::remove(hooks.path / "between");
    run.join();
    REQUIRE_MESSAGE(held, describe(a));
    REQUIRE_MESSAGE(between, describe(a));
    CHECK_MESSAGE(kept, "no rollback journal between two migrations: the run is not in PERSIST mode");
    CHECK_MESSAGE(header.find_first_not_of('\0') == std::string::npos, "the kept journal's header is not zeroed");
    REQUIRE_OK(a);
    CHECK(!fs::exists(journal));
    CHECK(p.db->query("PRAGMA journal_mode") == std::vector<std::vector<std::string>>{{"delete"}});

    // A database the application put in WAL mode stays there (that mode is stored in the file).
    Project w{Sqlite{}};
    w.db->exec("PRAGMA journal_mode = WAL");
    REQUIRE_OK(w.run({"migrate", "upgrade"}));
    CHECK(w.db->query("PRAGMA journal_mode") == std::vector<std::vector<std::string>>{{"wal"}});
    CHECK(w.versions() == std::vector<std::string>{kHead});
  }

  TEST_CASE(
      "SQLite: a database this user may only read gets a shared run lock: at head nothing to do, a write fails as "
      "SQLite's") {
    // The run lock opens the file to lock it; a read-only file must not turn "nothing to do" into
    // an error. As root (CI) the commands run as nobody (setpriv), so the file is not writable.
    Project p{Sqlite{}};
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    const fs::path file = file_of_url(p.db->url());
    const fs::path bin = p.dir.path / "fastappkit";  // a copy any user may run, wherever the build is
    fs::copy_file(FASTAPPKIT_BIN, bin);
    fs::permissions(file, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
    for (const auto& e : fs::recursive_directory_iterator(p.dir.path))
      if (e.is_directory())
        fs::permissions(e.path(), fs::perms::others_read | fs::perms::others_exec, fs::perm_options::add);
    fs::permissions(p.dir.path, fs::perms::others_read | fs::perms::others_exec, fs::perm_options::add);
    const std::string as_reader = ::geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups " : "";
    auto run = [&](const std::string& args, std::string* out) {
      return shell("cd '" + p.root.string() + "' && " + as_reader + "env DATABASE_URL='" + p.db->url() +
                       "' FASTAPPKIT_NO_CACHE=1 '" + bin.string() + "' " + args + " 2>&1",
                   out);
    };
    std::string out;
    CHECK_MESSAGE(run("migrate upgrade", &out) == 0, out);
    CHECK_MESSAGE(has(out, "nothing to do"), out);
    CHECK_MESSAGE(run("migrate downgrade -1", &out) == 1, out);
    CHECK_MESSAGE(has(out, "readonly database"), out);
    CHECK(p.versions() == std::vector<std::string>{kHead});
  }

  TEST_CASE("CLI refusals are clear and exit 2") {
    TempDir dir;
    auto r = fastappkit({"migrate", "upgrade"}, dir.path);
    CHECK(r.code == 2);
    CHECK_ERR(r, "Configuration file not found: " + (fs::canonical(dir.path) / "fastappkit.toml").string());
    CHECK_ERR(r, "-C");

    auto typo = fastappkit({"migrate", "upgade"}, dir.path);
    CHECK(typo.code == 2);
    CHECK_ERR(typo, "did you mean 'upgrade'?");

    auto help = fastappkit({"migrate", "downgrade", "--help"}, dir.path);
    CHECK(help.code == 0);
    CHECK_OUT(help, "usage: fastappkit migrate downgrade <revision>");

    Project p;
    auto unknown =
        fastappkit({"migrate", "upgrade", "--revision", "abcdef"}, p.root, {{"DATABASE_URL", "sqlite:///x.db"}});
    CHECK(unknown.code == 2);
    CHECK_ERR(unknown, "Can't locate revision identified by 'abcdef'");
    CHECK_FALSE(fs::exists(p.root / "x.db"));

    auto bad_url = fastappkit({"migrate", "status", "--database-url", "mysql://u:secret@h/db"}, p.root);
    CHECK(bad_url.code == 2);
    CHECK_ERR(bad_url, "unsupported database URL scheme 'mysql'");
    CHECK_NO_ERR(bad_url, "secret");

    auto pg_down =
        fastappkit({"migrate", "upgrade", "--database-url", "postgresql://app:hunter2@127.0.0.1:1/app"}, p.root);
    CHECK(pg_down.code == 1);
    CHECK_ERR(pg_down, "cannot connect to PostgreSQL at host 127.0.0.1, port 1, database app");
    CHECK_NO_ERR(pg_down, "hunter2");
    CHECK_ERR(pg_down, "postgresql://app:***@127.0.0.1:1/app");
  }

}  // TEST_SUITE
