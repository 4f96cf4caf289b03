// Online safety end to end (SPEC §11): `migrate lint` on a real project, the safe operations
// applied on a real database, and on PostgreSQL the DDL lock timeout with its retries against
// a real session holding a lock, and a concurrent index built while another session inserts.
#include <doctest/doctest.h>
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "harness.hpp"

using namespace e2e;

namespace {

constexpr const char* kBase = R"(revision = "aaaaaaaaaaa1"
message = "users"
[[upgrade]]
op = "create_table"
table = "users"
columns = [ { name = "id", type = "integer", primary_key = true }, { name = "email", type = "string", length = 100 } ]
[[upgrade]]
op = "create_table"
table = "orgs"
columns = [ { name = "id", type = "integer", primary_key = true } ]
[[downgrade]]
op = "drop_table"
table = "orgs"
[[downgrade]]
op = "drop_table"
table = "users"
)";

// A project made by `core new` whose revisions are written by the test.
struct LintProject {
  TempDir dir;
  fs::path root = dir.path / "proj";
  std::unique_ptr<Database> db;
  template <class B>
  explicit LintProject(B) {
    auto r = fastappkit({"core", "new", "proj"}, dir.path);
    REQUIRE_OK(r);
    db = make_database<B>(dir.path);
    write("aaaaaaaaaaa1_users.toml", kBase);
  }
  void write(const std::string& name, const std::string& text) const {
    write_file(root / "core" / "db" / "migrations" / "versions" / name, text);
  }
  RunResult run(const std::vector<std::string>& args) const {
    return fastappkit(args, root, {{"DATABASE_URL", db->url()}});
  }
  std::vector<std::string> versions() const {
    std::vector<std::string> out;
    for (auto& r : db->query("SELECT version_num FROM alembic_version")) out.push_back(r[0]);
    return out;
  }
};

// A second revision on kBase.
std::string next(const std::string& id, const std::string& down, const std::string& body,
                 const std::string& head = "") {
  return "revision = \"" + id + "\"\ndown_revision = \"" + down + "\"\nmessage = \"next\"\n" + head + body;
}

// A PostgreSQL session of the test's own, outside fastappkit, for holding locks and inserting.
class Session {
 public:
  explicit Session(const std::string& url) : c_(PQconnectdb(url.c_str())) {
    REQUIRE_MESSAGE(PQstatus(c_) == CONNECTION_OK, PQerrorMessage(c_));
  }
  ~Session() { PQfinish(c_); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  bool exec(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return ok;
  }
  int pid() const { return PQbackendPID(c_); }

 private:
  PGconn* c_;
};

}  // namespace

TEST_SUITE("fastappkit::e2e::lint") {
  TEST_CASE_TEMPLATE("migrate lint: pending or all revisions, exit codes, JSON, lint_ignore", B, Sqlite, Postgresql) {
    LintProject p{B{}};
    p.write("bbbbbbbbbbb2_index.toml",
            next("bbbbbbbbbbb2", "aaaaaaaaaaa1",
                 "[[upgrade]]\nop = \"create_index\"\nname = \"ix_users_email\"\ntable = \"users\"\ncolumns = "
                 "[\"email\"]\n[[upgrade]]\nop = \"drop_column\"\ntable = \"users\"\ncolumn = \"email\"\n"
                 "lint_ignore = [\"drop-column\"]\n[[downgrade]]\nop = \"add_column\"\ntable = \"users\"\ncolumn = { "
                 "name = \"email\", type = \"string\", length = 100 }\n"));
    const bool pg = std::string(B::name) == "postgresql";
    auto r = p.run({"migrate", "lint"});
    // On PostgreSQL the index is an error; on SQLite only the silenced drop is listed.
    CHECK_CODE(r, pg ? 1 : 0);
    CHECK_OUT(r, "bbbbbbbbbbb2_index.toml:9:1: error [drop-column] (silenced by lint_ignore)");
    if (pg) {
      CHECK_OUT(r, "bbbbbbbbbbb2_index.toml:4:1: error [require-concurrent-index] core revision bbbbbbbbbbb2");
      CHECK_OUT(r, "concurrently = true");
    } else {
      CHECK_NO_OUT(r, "require-concurrent-index");
    }
    CHECK_OUT(r, std::string("lint (") + B::name + ", pending revisions)");
    // The base revision is linted too while pending (its tables are new: nothing fires).
    CHECK_NO_OUT(r, "aaaaaaaaaaa1");

    auto j = json_of(p.run({"migrate", "lint", "--json", "--dialect", "postgresql"}));
    CHECK(j["dialect"] == "postgresql");
    CHECK(j["errors"] == 1);
    CHECK(j["silenced"] == 1);
    REQUIRE(j["findings"].size() == 2);
    CHECK(j["findings"][0]["rule"] == "require-concurrent-index");
    CHECK(j["findings"][0]["line"] == 4);
    CHECK(j["findings"][0]["column"] == 1);
    CHECK(j["findings"][0]["app"] == "core");
    CHECK(j["findings"][0]["operation"] == "create_index");

    // Once applied, nothing is pending; --all lints them again, without a database.
    REQUIRE_OK(p.run({"migrate", "upgrade", "--revision", "aaaaaaaaaaa1"}));
    REQUIRE_OK(p.run({"migrate", "stamp", "bbbbbbbbbbb2"}));
    r = p.run({"migrate", "lint"});
    REQUIRE_OK(r);
    CHECK_OUT(r, "0 error(s), 0 warning(s), 0 silenced");
    r = fastappkit({"migrate", "lint", "--all", "--dialect", "postgresql"}, p.root, {});
    CHECK_CODE(r, 1);
    CHECK_OUT(r, "require-concurrent-index");
    // --all takes the dialect from the URL without connecting: a PostgreSQL URL whose server is
    // not there lints exactly as the reachable one.
    if (p.db->backend() == "postgresql") {
      TempDir nowhere;
      r = fastappkit({"migrate", "lint", "--all"}, p.root,
                     {{"DATABASE_URL", "postgresql:///nodb?host=" + (nowhere.path / "no-server").string()}});
      CHECK_CODE(r, 1);
      CHECK_OUT(r, "require-concurrent-index");
      CHECK_FALSE(has(r.err, "connect"));
    }
  }

  TEST_CASE_TEMPLATE("bad lint input is refused with exit 2 and file:line:col, nothing written", B, Sqlite,
                     Postgresql) {
    LintProject p{B{}};
    p.write("bbbbbbbbbbb2_x.toml", next("bbbbbbbbbbb2", "aaaaaaaaaaa1",
                                        "[[upgrade]]\nop = \"drop_table\"\ntable = \"orgs\"\nlint_ignore = "
                                        "[\"drop-tabel\"]\n"));
    auto r = p.run({"migrate", "lint"});
    CHECK_CODE(r, 2);
    CHECK_ERR(r, "bbbbbbbbbbb2_x.toml:4:1: lint_ignore names 'drop-tabel', which is no lint rule");
    CHECK_ERR(r, "did you mean 'drop-table'?");
    r = p.run({"migrate", "lint", "--dialect", "oracle"});
    CHECK_CODE(r, 2);
    CHECK_ERR(r, "--dialect 'oracle' is not a dialect");

    // concurrently = true in a transactional file: refused before anything runs, with the fix.
    p.write("bbbbbbbbbbb2_x.toml", next("bbbbbbbbbbb2", "aaaaaaaaaaa1",
                                        "[[upgrade]]\nop = \"create_index\"\nname = \"ix\"\ntable = \"users\"\n"
                                        "columns = [\"email\"]\nconcurrently = true\n"));
    r = p.run({"migrate", "upgrade"});
    CHECK_CODE(r, 2);
    CHECK_ERR(r, "bbbbbbbbbbb2_x.toml:4:1: create_index 'ix' has concurrently = true");
    CHECK_ERR(r, "add transactional = false at the top of the file");
    CHECK(p.db->tables().empty());
  }

  TEST_CASE_TEMPLATE("the safe forms apply: concurrent index, NOT VALID key validated later", B, Sqlite, Postgresql) {
    LintProject p{B{}};
    p.write("bbbbbbbbbbb2_ix.toml",
            next("bbbbbbbbbbb2", "aaaaaaaaaaa1",
                 "[[upgrade]]\nop = \"add_column\"\ntable = \"users\"\ncolumn = { name = \"org_id\", type = "
                 "\"integer\" }\n[[upgrade]]\nop = \"create_index\"\nname = \"ix_users_email\"\ntable = "
                 "\"users\"\ncolumns = [\"email\"]\nconcurrently = true\n[[downgrade]]\nop = \"drop_index\"\nname = "
                 "\"ix_users_email\"\ntable = \"users\"\nconcurrently = true\n[[downgrade]]\nop = "
                 "\"drop_column\"\ntable = \"users\"\ncolumn = \"org_id\"\n",
                 "transactional = false\n"));
    p.write("ccccccccccc3_fk.toml",
            next("ccccccccccc3", "bbbbbbbbbbb2",
                 "[[upgrade]]\nop = \"create_foreign_key\"\nname = \"fk_users_org\"\ntable = \"users\"\ncolumns = "
                 "[\"org_id\"]\nreferences_table = \"orgs\"\nreferences_columns = [\"id\"]\nnot_valid = true\n"
                 "[[downgrade]]\nop = \"drop_constraint\"\nname = \"fk_users_org\"\ntable = \"users\"\n"));
    p.write("ddddddddddd4_validate.toml",
            next("ddddddddddd4", "ccccccccccc3",
                 "[[upgrade]]\nop = \"validate_constraint\"\nname = \"fk_users_org\"\ntable = \"users\"\n"));
    auto lint = p.run({"migrate", "lint", "--dialect", "postgresql"});
    REQUIRE_OK(lint);
    CHECK_OUT(lint, "0 error(s), 0 warning(s), 0 silenced");
    REQUIRE_OK(p.run({"migrate", "upgrade", "--revision", "aaaaaaaaaaa1"}));
    p.db->exec("INSERT INTO orgs (id) VALUES (1)");
    p.db->exec("INSERT INTO users (id, email) VALUES (1, 'a@example.com')");
    auto r = p.run({"migrate", "upgrade", "-v"});
    REQUIRE_OK(r);
    const bool pg = std::string(B::name) == "postgresql";
    CHECK_OUT(r, pg ? "CREATE INDEX CONCURRENTLY \"ix_users_email\"" : "CREATE INDEX \"ix_users_email\"");
    if (pg) {
      CHECK_OUT(r, "FOREIGN KEY(\"org_id\") REFERENCES \"orgs\" (\"id\") NOT VALID");
      CHECK_OUT(r, "VALIDATE CONSTRAINT \"fk_users_org\"");
      CHECK(p.db->query("SELECT convalidated::text FROM pg_constraint WHERE conname = 'fk_users_org'") ==
            std::vector<std::vector<std::string>>{{"true"}});
    }
    CHECK(p.versions() == std::vector<std::string>{"ddddddddddd4"});
    REQUIRE_OK(p.run({"migrate", "downgrade", "aaaaaaaaaaa1"}));
    CHECK(p.versions() == std::vector<std::string>{"aaaaaaaaaaa1"});
  }

  TEST_CASE("PostgreSQL: a session holding a lock makes upgrade retry, then fail naming it; nothing applied") {
    LintProject p{Postgresql{}};
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    p.write("bbbbbbbbbbb2_col.toml",
            next("bbbbbbbbbbb2", "aaaaaaaaaaa1",
                 "[[upgrade]]\nop = \"add_column\"\ntable = \"users\"\ncolumn = { name = \"nick\", type = \"text\" "
                 "}\n"));
    Session blocker(p.db->url());
    REQUIRE(blocker.exec("BEGIN"));
    REQUIRE(blocker.exec("LOCK TABLE users IN ACCESS SHARE MODE"));
    auto t0 = std::chrono::steady_clock::now();
    auto r = p.run({"migrate", "upgrade", "--ddl-lock-timeout", "0.2", "--ddl-retries", "2"});
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK_CODE(r, 1);
    CHECK_ERR(r, "retry 1 of 2");
    CHECK_ERR(r, "retry 2 of 2");
    CHECK_ERR(r, "canceling statement due to lock timeout");
    CHECK_ERR(r, "it waited more than 200 ms for a lock, 3 time(s)");
    CHECK_ERR(r, "table 'users' is locked (AccessShareLock) by pid " + std::to_string(blocker.pid()) +
                     " (idle in transaction): LOCK TABLE users IN ACCESS SHARE MODE");
    CHECK_ERR(r, "pg_terminate_backend");
    CHECK_ERR(r, "this migration was rolled back");
    // Three attempts of 0.2 s plus backoffs of 0.5-0.75 s and 1-1.5 s.
    CHECK(s < 10);
    CHECK(p.versions() == std::vector<std::string>{"aaaaaaaaaaa1"});
    CHECK(p.db->query("SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = "
                      "'nick'")
              .empty());

    // Released while the run waits: a retry gets the lock and the run succeeds. The run says
    // "retrying" (FASTAPPKIT_TEST_HOLD_DIR) once an attempt has hit the lock timeout and been
    // rolled back; only then is the lock released, so the success below is a retry's. Each
    // attempt also holds at "holding" inside its transaction: let it go each time.
    TempDir hooks;
    RunResult second;
    std::atomic<bool> ended{false};
    std::thread run([&] {
      second = fastappkit({"migrate", "upgrade", "--ddl-lock-timeout", "0.3", "--ddl-retries", "5"}, p.root,
                          {{"DATABASE_URL", p.db->url()}, {"FASTAPPKIT_TEST_HOLD_DIR", hooks.path.string()}});
      ended = true;
    });
    auto release_until = [&](const std::function<bool()>& done) {
      return wait_until([&] {
        fs::remove(hooks.path / "holding");
        return done();
      });
    };
    release_until([&] { return ended.load() || fs::exists(hooks.path / "retrying"); });
    CHECK_MESSAGE(fs::exists(hooks.path / "retrying"), "the run never hit the lock timeout");
    const bool committed = blocker.exec("COMMIT");
    release_until([&] { return ended.load(); });
    run.join();
    REQUIRE(committed);
    REQUIRE_OK(second);
    CHECK_ERR(second, "retry 1 of 5");
    CHECK_OUT(second, "applied bbbbbbbbbbb2");
    CHECK(p.versions() == std::vector<std::string>{"bbbbbbbbbbb2"});
  }

  TEST_CASE("PostgreSQL: create_index concurrently builds the index while another session keeps inserting") {
    LintProject p{Postgresql{}};
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    p.db->exec("INSERT INTO users (id, email) SELECT g, 'u' || g || '@example.com' FROM generate_series(1, 200000) g");
    p.write("bbbbbbbbbbb2_ix.toml",
            next("bbbbbbbbbbb2", "aaaaaaaaaaa1",
                 "[[upgrade]]\nop = \"create_index\"\nname = \"ix_users_email\"\ntable = \"users\"\ncolumns = "
                 "[\"email\"]\nconcurrently = true\n",
                 "transactional = false\n"));
    Session writer(p.db->url());
    std::atomic<bool> stop{false};
    std::atomic<int> inserted{0}, failed{0};
    std::thread inserts([&] {
      for (int id = 1000000; !stop; ++id) {
        // Each insert gets at most 2 s: a plain CREATE INDEX would block it for the whole build.
        if (writer.exec("SET statement_timeout = 2000; INSERT INTO users (id, email) VALUES (" + std::to_string(id) +
                        ", 'w@example.com')"))
          ++inserted;
        else
          ++failed;
      }
    });
    // The writer is inserting before the build starts (a row in), so "during" counts inserts
    // that ran while the index was being built.
    CHECK(wait_until([&] { return inserted > 0 || failed > 0; }));
    const int before = inserted;
    auto r = p.run({"migrate", "upgrade", "--ddl-lock-timeout", "5"});
    const int during = inserted - before;
    stop = true;
    inserts.join();
    REQUIRE_OK(r);
    CHECK(failed == 0);
    CHECK(during > 0);
    MESSAGE("inserts while the index was built: ", during);
    CHECK(p.db->query("SELECT i.indisvalid::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE "
                      "c.relname = 'ix_users_email'") == std::vector<std::vector<std::string>>{{"true"}});
    CHECK(p.versions() == std::vector<std::string>{"bbbbbbbbbbb2"});
  }
}

TEST_SUITE("fastappkit::e2e::lint") {
  TEST_CASE_TEMPLATE("autogenerate writes the concurrent index form and makemigrations prints lint's findings", B,
                     Sqlite, Postgresql) {
    LintProject p{B{}};
    fs::remove(p.root / "core" / "db" / "migrations" / "versions" / "aaaaaaaaaaa1_users.toml");
    const std::string table =
        "[[tables]]\nname = \"posts\"\ncolumns = [ { name = \"id\", type = \"integer\", primary_key = true }, { name = "
        "\"title\", type = \"string\", length = 200 } ]\n";
    write_file(p.root / "core" / "models.toml", table);
    auto r = p.run({"migrate", "core", "-m", "posts"});
    REQUIRE_OK(r);
    CHECK_NO_OUT(r, "migrate lint on this revision");  // a new table: nothing to flag
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    p.db->exec("INSERT INTO posts (id, title) VALUES (1, 'a')");

    write_file(p.root / "core" / "models.toml",
               table + "indexes = [ { name = \"ix_posts_title\", columns = [\"title\"] } ]\n");
    r = p.run({"migrate", "core", "-m", "title index"});
    REQUIRE_OK(r);
    CHECK_OUT(r, "online-safe on PostgreSQL");
    CHECK_NO_OUT(r, "migrate lint on this revision");
    std::string file;
    for (const auto& e : fs::directory_iterator(p.root / "core" / "db" / "migrations" / "versions"))
      if (e.path().string().find("title_index") != std::string::npos) file = read_file(e.path());
    CHECK(file.find("transactional = false\n") != std::string::npos);
    CHECK(file.find("# online-safe on PostgreSQL: CONCURRENTLY") != std::string::npos);
    CHECK(file.find("concurrently = true") != std::string::npos);
    r = p.run({"migrate", "upgrade", "-v"});
    REQUIRE_OK(r);
    CHECK_OUT(r,
              std::string(B::name) == "postgresql" ? "CREATE INDEX CONCURRENTLY" : "CREATE INDEX \"ix_posts_title\"");
    REQUIRE_OK(p.run({"migrate", "downgrade", "-1"}));
    REQUIRE_OK(p.run({"migrate", "upgrade"}));

    // A NOT NULL column without a default on a table with rows: makemigrations says so.
    write_file(p.root / "core" / "models.toml",
               "[[tables]]\nname = \"posts\"\ncolumns = [ { name = \"id\", type = \"integer\", primary_key = true }, { "
               "name = \"title\", type = \"string\", length = 200 }, { name = \"rank\", type = \"integer\", nullable = "
               "false } ]\nindexes = [ { name = \"ix_posts_title\", columns = [\"title\"] } ]\n");
    r = p.run({"migrate", "core", "-m", "rank"});
    REQUIRE_OK(r);
    CHECK_OUT(r, "migrate lint on this revision:");
    CHECK_OUT(r, "error [add-required-column] core revision");
  }
}
