// Faults from outside (issue 30, items 1 and 3): a run stopped by SIGINT, SIGTERM or SIGKILL in
// the middle of a statement, a write past `ulimit -f`, a busy SQLite file, and the PostgreSQL
// session holding the run lock ended by the server. Each fault is made for real on the real
// binary; the staged points are the database's own (a statement seen running in
// pg_stat_activity, SQLite's journal on disk) or the test hooks (FASTAPPKIT_TEST_HOLD_DIR).
#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "harness.hpp"

extern char** environ;

using namespace e2e;

namespace {

// The binary started in the background, so that the test can signal it while it runs.
class Child {
 public:
  Child(const std::vector<std::string>& args, const fs::path& cwd, const std::map<std::string, std::string>& env) {
    std::vector<std::string> argv_s{FASTAPPKIT_BIN};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      std::string key = kv.substr(0, kv.find('='));
      if (key != "DATABASE_URL" && !env.count(key)) env_s.push_back(kv);
    }
    for (const auto& [k, v] : env) env_s.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, (io_.path / "out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, (io_.path / "err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
    REQUIRE(posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), envp.data()) == 0);
    posix_spawn_file_actions_destroy(&fa);
  }
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  void signal(int s) const { REQUIRE(kill(pid_, s) == 0); }
  // Waits (at most 60 s) and returns what happened, as the harness reports a command.
  RunResult wait() {
    int status = 0;
    // Reaped once (wait_until asks its condition again at the end, which a reaped child fails).
    bool reaped = false;
    wait_until([&] { return reaped = reaped || waitpid(pid_, &status, WNOHANG) == pid_; });
    REQUIRE(reaped);
    pid_ = -1;
    RunResult r;
    r.command = "fastappkit (in the background)";
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = read_file(io_.path / "out");
    r.err = read_file(io_.path / "err");
    return r;
  }

 private:
  TempDir io_;
  pid_t pid_ = -1;
};

// A revision that writes a lot in one statement: SQLite is inside it for seconds, its rollback
// journal on disk.
std::string big_insert(long long rows) {
  return R"toml(revision = "bbbbbbbbbbb2"
down_revision = "aaaaaaaaaaa1"
message = "big"
[[upgrade]]
op = "create_table"
table = "big"
columns = [ { name = "id", type = "integer", primary_key = true }, { name = "v", type = "text" } ]
[[upgrade]]
op = "execute"
sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < )toml" +
         std::to_string(rows) + R"toml() INSERT INTO big (v) SELECT 'row number ' || x FROM c"
[[downgrade]]
op = "drop_table"
table = "big"
)toml";
}

constexpr const char* kKeep = R"toml(revision = "aaaaaaaaaaa1"
message = "keep"
[[upgrade]]
op = "create_table"
table = "keep"
columns = [ { name = "id", type = "integer", primary_key = true }, { name = "v", type = "text" } ]
[[upgrade]]
op = "execute"
sql = "INSERT INTO keep (v) VALUES ('kept')"
[[downgrade]]
op = "drop_table"
table = "keep"
)toml";

struct SqliteRun {
  TempDir dir;
  fs::path root = dir.path / "proj";
  fs::path versions = root / "core" / "db" / "migrations" / "versions";
  std::unique_ptr<Database> db = make_sqlite(dir.path);
  std::string file = db->url().substr(std::string("sqlite:///").size());
  explicit SqliteRun(long long rows) {
    REQUIRE_OK(fastappkit({"core", "new", "proj"}, dir.path));
    write_file(versions / "aaaaaaaaaaa1_keep.toml", kKeep);
    REQUIRE_OK(run({"migrate", "upgrade"}));
    write_file(versions / "bbbbbbbbbbb2_big.toml", big_insert(rows));
  }
  RunResult run(const std::vector<std::string>& args) const {
    return fastappkit(args, root, {{"DATABASE_URL", db->url()}});
  }
  std::unique_ptr<Child> start(const std::vector<std::string>& args) const {
    return std::make_unique<Child>(args, root, std::map<std::string, std::string>{{"DATABASE_URL", db->url()}});
  }
  // The big insert is running: its journal holds pages already.
  bool inserting() const {
    std::error_code ec;
    return fs::file_size(file + "-journal", ec) > 0 && !ec;
  }
};

}  // namespace

TEST_SUITE("fastappkit::e2e::faults") {
  TEST_CASE("SQLite: SIGINT and SIGTERM in the middle of a statement roll it back and exit 130 / 143") {
    for (int sig : {SIGINT, SIGTERM}) {
      CAPTURE(sig);
      SqliteRun p(200000000);
      auto child = p.start({"migrate", "upgrade"});
      REQUIRE(wait_until([&] { return p.inserting(); }));
      child->signal(sig);
      auto r = child->wait();
      CHECK_CODE(r, 128 + sig);
      CHECK_ERR(r, sig == SIGINT ? "interrupted by SIGINT" : "interrupted by SIGTERM");
      CHECK_ERR(r, "revision bbbbbbbbbbb2");
      CHECK_ERR(r, "this migration was rolled back");
      CHECK_ERR(r, "run the command again");
      // Rolled back by SQLite before the process ended: no journal is left behind.
      CHECK_FALSE(fs::exists(p.file + "-journal"));
      CHECK(p.db->query("SELECT version_num FROM alembic_version") ==
            std::vector<std::vector<std::string>>{{"aaaaaaaaaaa1"}});
      CHECK(p.db->query("SELECT v FROM keep") == std::vector<std::vector<std::string>>{{"kept"}});
      write_file(p.versions / "bbbbbbbbbbb2_big.toml", big_insert(10));
      REQUIRE_OK(p.run({"migrate", "upgrade"}));
      CHECK(p.db->query("SELECT count(*) FROM big")[0][0] == "10");
    }
  }

  TEST_CASE("SQLite: after SIGKILL mid-insert the hot journal is rolled back by the next command, reading ones too") {
    SqliteRun p(200000000);
    auto child = p.start({"migrate", "upgrade"});
    REQUIRE(wait_until([&] { return p.inserting(); }));
    child->signal(SIGKILL);
    CHECK(child->wait().code == 128 + SIGKILL);
    REQUIRE(fs::file_size(p.file + "-journal") > 0);  // a hot journal, as the kill left it
    auto status = p.run({"migrate", "status"});
    CHECK_CODE(status, 0);
    CHECK_OUT(status, "aaaaaaaaaaa1");
    CHECK_OUT(status, "pending:       1");
    CHECK_NO_ERR(status, "permissions");
    auto current = p.run({"migrate", "current"});
    CHECK_CODE(current, 0);
    CHECK_OUT(current, "aaaaaaaaaaa1");
    CHECK(p.db->query("SELECT v FROM keep") == std::vector<std::vector<std::string>>{{"kept"}});
    CHECK(p.db->query("SELECT count(*) FROM sqlite_master WHERE name = 'big'")[0][0] == "0");
    write_file(p.versions / "bbbbbbbbbbb2_big.toml", big_insert(10));
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
  }

  TEST_CASE("SQLite: a write past ulimit -f says the file-size limit was reached; the step is rolled back") {
    SqliteRun p(5000000);
    std::string out;
    const int rc = shell("cd '" + p.root.string() + "' && ulimit -f 4096 && DATABASE_URL='" + p.db->url() + "' '" +
                             FASTAPPKIT_BIN + "' migrate upgrade",
                         &out);
    CHECK_MESSAGE(rc == 1, out);
    CHECK_HAS(out, "the disk is full, or the file-size limit (ulimit -f) was reached");
    CHECK_HAS(out, "this migration was rolled back");
    CHECK_LACKS(out, "permissions");
    CHECK_FALSE(fs::exists(p.file + "-journal"));
    CHECK_OUT(p.run({"migrate", "current"}), "aaaaaaaaaaa1");
    CHECK(p.db->query("SELECT v FROM keep") == std::vector<std::vector<std::string>>{{"kept"}});
  }

  TEST_CASE("SQLite: a database another connection holds exclusively is reported busy, not as a permissions problem") {
    SqliteRun p(10);
    SQLite::Database other(p.file, SQLite::OPEN_READWRITE);
    other.exec("BEGIN EXCLUSIVE");
    other.exec("INSERT INTO keep (v) VALUES ('held')");
    auto r = p.run({"migrate", "status", "--lock-timeout", "0.2"});
    CHECK_CODE(r, 1);
    CHECK_ERR(r, "is locked by another connection");
    CHECK_ERR(r, "raise --lock-timeout");
    CHECK_NO_ERR(r, "permissions");
    other.exec("ROLLBACK");
    CHECK_CODE(p.run({"migrate", "status"}), 0);
  }
}

namespace {

constexpr const char* kFirst = R"toml(revision = "aaaaaaaaaaa1"
message = "t"
[[upgrade]]
op = "create_table"
table = "t"
columns = [ { name = "id", type = "integer", primary_key = true } ]
[[downgrade]]
op = "drop_table"
table = "t"
)toml";

std::string slow(const std::string& sql) {
  return R"toml(revision = "bbbbbbbbbbb2"
down_revision = "aaaaaaaaaaa1"
message = "slow"
[[upgrade]]
op = "create_table"
table = "u"
columns = [ { name = "id", type = "integer", primary_key = true } ]
[[upgrade]]
op = "execute"
sql = ")toml" +
         sql + R"toml("
[[downgrade]]
op = "drop_table"
table = "u"
)toml";
}

struct PgRun {
  TempDir dir;
  TempDir hooks;
  fs::path root = dir.path / "proj";
  fs::path versions = root / "core" / "db" / "migrations" / "versions";
  std::unique_ptr<Database> db = make_postgresql();
  PgRun() {
    REQUIRE_OK(fastappkit({"core", "new", "proj"}, dir.path));
    write_file(versions / "aaaaaaaaaaa1_t.toml", kFirst);
  }
  std::map<std::string, std::string> env(bool hold = false) const {
    std::map<std::string, std::string> e{{"DATABASE_URL", db->url()}};
    if (hold) e["FASTAPPKIT_TEST_HOLD_DIR"] = hooks.path.string();
    return e;
  }
  RunResult run(const std::vector<std::string>& args) const { return fastappkit(args, root, env()); }
  std::vector<std::vector<std::string>> version() const { return db->query("SELECT version_num FROM alembic_version"); }
  std::string sessions(const std::string& like) const {
    return db->query("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fastappkit' AND query LIKE '" +
                     like + "'")[0][0];
  }
};

}  // namespace

TEST_SUITE("fastappkit::e2e::faults") {
  TEST_CASE("PostgreSQL: SIGINT and SIGTERM cancel the statement in flight; nothing commits after the process ends") {
    for (int sig : {SIGINT, SIGTERM}) {
      CAPTURE(sig);
      PgRun p;
      write_file(p.versions / "bbbbbbbbbbb2_slow.toml", slow("SELECT pg_sleep(60)"));
      auto child = std::make_unique<Child>(std::vector<std::string>{"migrate", "upgrade"}, p.root, p.env());
      REQUIRE(wait_until([&] { return p.sessions("%pg_sleep%") == "1"; }));
      child->signal(sig);
      auto r = child->wait();
      CHECK_CODE(r, 128 + sig);
      CHECK_ERR(r, sig == SIGINT ? "interrupted by SIGINT" : "interrupted by SIGTERM");
      CHECK_ERR(r, "canceling statement due to user request");
      CHECK_ERR(r, "this migration was rolled back");
      // The cancelled transaction is gone with the process, and stays gone: no backend of the run
      // is left running it, and the revision is not applied.
      CHECK(p.sessions("%") == "0");
      CHECK(p.version() == std::vector<std::vector<std::string>>{{"aaaaaaaaaaa1"}});
      CHECK(p.db->query("SELECT to_regclass('u') IS NULL")[0][0] == "t");
      // An immediate rerun takes the lock and applies it without colliding with anything.
      write_file(p.versions / "bbbbbbbbbbb2_slow.toml", slow("SELECT 1"));
      REQUIRE_OK(p.run({"migrate", "upgrade", "--lock-timeout", "5"}));
      CHECK(p.version() == std::vector<std::vector<std::string>>{{"bbbbbbbbbbb2"}});
    }
  }

  TEST_CASE("PostgreSQL: a run whose lock session the server ended stops before its next revision") {
    PgRun p;
    write_file(p.versions / "bbbbbbbbbbb2_slow.toml", slow("SELECT 1"));
    auto child = std::make_unique<Child>(std::vector<std::string>{"migrate", "upgrade"}, p.root, p.env(true));
    // The first revision holds inside its transaction ("holding"), then between the two ("between").
    REQUIRE(wait_until([&] { return fs::exists(p.hooks.path / "holding"); }));
    fs::remove(p.hooks.path / "holding");
    REQUIRE(wait_until([&] { return fs::exists(p.hooks.path / "between"); }));
    p.db->exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'fastappkit' AND query "
        "LIKE '%advisory%'");
    REQUIRE(wait_until([&] { return p.sessions("%advisory%") == "0"; }));
    fs::remove(p.hooks.path / "between");
    auto r = child->wait();
    CHECK_CODE(r, 1);
    CHECK_ERR(r, "the session holding the run lock");
    CHECK_ERR(r, "was lost");
    CHECK(p.version() == std::vector<std::vector<std::string>>{{"aaaaaaaaaaa1"}});
    CHECK(p.db->query("SELECT to_regclass('u') IS NULL")[0][0] == "t");
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    CHECK(p.version() == std::vector<std::vector<std::string>>{{"bbbbbbbbbbb2"}});
  }
}
