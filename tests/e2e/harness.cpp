#include "harness.hpp"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace e2e {

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "fastappkit-e2e-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path, ec);
}

fs::path source_dir() { return FASTAPPKIT_SOURCE_DIR; }
fs::path build_dir() { return FASTAPPKIT_BUILD_DIR; }

// How long one fastappkit command may run in a test (FASTAPPKIT_TEST_COMMAND_TIMEOUT seconds).
std::chrono::seconds command_timeout() {
  const char* v = std::getenv("FASTAPPKIT_TEST_COMMAND_TIMEOUT");
  return std::chrono::seconds(v && std::atoi(v) > 0 ? std::atoi(v) : 300);
}

int shell(const std::string& command, std::string* out) {
  // The command runs from a script under coreutils' timeout, so a hung child fails the test
  // (exit 124, said in its output) instead of hanging the suite.
  TempDir io;
  const std::string log = (io.path / "log").string();
  write_file(io.path / "command.sh", command + "\n");
  // Twice a fastappkit command's limit: a shell line may build a plugin with CMake.
  const std::string limit = std::to_string(2 * command_timeout().count());
  int rc = std::system(
      ("timeout -k 10 " + limit + " sh '" + (io.path / "command.sh").string() + "' >'" + log + "' 2>&1").c_str());
  const int code = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
  std::string text = read_file(log);
  if (code == 124) text += "\n[killed after " + limit + " s (FASTAPPKIT_TEST_COMMAND_TIMEOUT)]: " + command + "\n";
  if (out) *out = text;
  return code;
}

void copy_tree(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  // The example's own database, if a demo left one, is not part of the fixture.
  std::error_code ec;
  fs::remove(to / "app.db", ec);
}

void install_plugins(const fs::path& project) {
  for (const auto& e : fs::directory_iterator(FASTAPPKIT_PLUGINS_DIR))
    copy_tree(e.path(), project / "plugins" / e.path().filename());
}

fs::path test_plugins_dir() { return FASTAPPKIT_TEST_PLUGINS_DIR; }

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << text;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool wait_until(const std::function<bool()>& done, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return done();
}

Background::Background(const std::vector<std::string>& args, const fs::path& cwd,
                       const std::map<std::string, std::string>& env)
    : io_(std::make_unique<TempDir>()) {
  command_ = "fastappkit";
  for (const auto& a : args) command_ += " " + a;
  command_ += "   (in " + cwd.string() + ")";
  const std::string out_path = (io_->path / "out").string(), err_path = (io_->path / "err").string();
  std::vector<std::string> argv_s{FASTAPPKIT_BIN};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::vector<std::string> env_s;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    std::string key = kv.substr(0, kv.find('='));
    if (key == "DATABASE_URL" || env.count(key)) continue;
    env_s.push_back(kv);
  }
  for (const auto& [k, v] : env) env_s.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("cannot start " + std::string(FASTAPPKIT_BIN));
}

Background::~Background() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

void Background::signal(int sig) const {
  if (pid_ > 0) kill(pid_, sig);
}

RunResult Background::wait() {
  // A hung binary fails its test with its output instead of hanging the run until CTest's limit.
  int status = 0;
  bool timed_out = false;
  const auto deadline = std::chrono::steady_clock::now() + command_timeout();
  for (int polls = 0;; ++polls) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(polls < 200 ? 200 : 5000));
  }
  pid_ = -1;
  RunResult r;
  r.command = command_;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(io_->path / "out");
  r.err = read_file(io_->path / "err");
  if (timed_out)
    throw std::runtime_error("timed out after " + std::to_string(command_timeout().count()) +
                             " s (FASTAPPKIT_TEST_COMMAND_TIMEOUT) and was killed\n" + describe(r));
  return r;
}

RunResult fastappkit(const std::vector<std::string>& args, const fs::path& cwd,
                     const std::map<std::string, std::string>& env) {
  return Background(args, cwd, env).wait();
}

std::vector<std::string> shell_words(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false, have = false;
  for (char c : line) {
    if (c == '"') {
      quoted = !quoted;
      have = true;
    } else if (!quoted && c == '#') {
      break;
    } else if (!quoted && (c == ' ' || c == '\t')) {
      if (have) out.push_back(cur);
      cur.clear();
      have = false;
    } else {
      cur += c;
      have = true;
    }
  }
  if (have) out.push_back(cur);
  return out;
}

ExampleProject::ExampleProject() {
  copy_tree(source_dir() / "apps-example", root);
  install_plugins(root);
}

RunResult ExampleProject::run(const std::vector<std::string>& args) const {
  return fastappkit(args, root, {{"DATABASE_URL", db ? db->url() : std::string("sqlite:///app.db")}});
}

bool ExampleProject::has_table(const std::string& table) const {
  auto ts = db->tables();
  return std::find(ts.begin(), ts.end(), table) != ts.end();
}

std::vector<std::string> ExampleProject::versions(const std::string& table) const {
  std::vector<std::string> out;
  if (!has_table(table)) return out;
  for (auto& r : db->query("SELECT version_num FROM " + table)) out.push_back(r[0]);
  return out;
}

std::string describe(const RunResult& r) {
  return "command: " + r.command + "\nexit code: " + std::to_string(r.code) + "\nstdout:\n" + r.out + "\nstderr:\n" +
         r.err;
}

nlohmann::json json_of(const RunResult& r) {
  try {
    return nlohmann::json::parse(r.out);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(std::string("stdout is not one JSON document (") + e.what() + ")\n" + describe(r));
  }
}

std::string golden_mismatch(const std::string& name, const std::string& actual) {
  fs::path p = source_dir() / "tests" / "e2e" / "golden" / name;
  if (const char* u = std::getenv("FASTAPPKIT_UPDATE_GOLDEN"); u && std::string(u) == "1") {
    write_file(p, actual);
    return {};
  }
  if (!fs::exists(p)) return "golden file " + p.string() + " is missing (FASTAPPKIT_UPDATE_GOLDEN=1 writes it)";
  if (read_file(p) == actual) return {};
  TempDir dir;
  write_file(dir.path / name, actual);
  std::string diff;
  shell("diff -u '" + p.string() + "' '" + (dir.path / name).string() + "'", &diff);
  return "differs from " + p.string() + " (FASTAPPKIT_UPDATE_GOLDEN=1 rewrites it):\n" + diff;
}

namespace {

std::string join_lines(std::vector<std::string> lines) {
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

class SqliteDatabase final : public Database {
 public:
  explicit SqliteDatabase(fs::path file) : file_(std::move(file)) {}
  std::string url() const override { return "sqlite:///" + file_.string(); }
  std::string backend() const override { return "sqlite"; }

  void exec(const std::string& sql) override {
    SQLite::Database db(file_.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec(sql);
  }

  std::vector<std::vector<std::string>> query(const std::string& sql) override {
    std::vector<std::vector<std::string>> rows;
    if (!fs::exists(file_)) throw std::runtime_error("database file does not exist: " + file_.string());
    SQLite::Database db(file_.string(), SQLite::OPEN_READONLY);
    SQLite::Statement st(db, sql);
    while (st.executeStep()) {
      std::vector<std::string> row;
      for (int i = 0; i < st.getColumnCount(); ++i)
        row.push_back(st.getColumn(i).isNull() ? "NULL" : st.getColumn(i).getString());
      rows.push_back(row);
    }
    return rows;
  }

  std::vector<std::string> tables() override {
    std::vector<std::string> out;
    if (!fs::exists(file_)) return out;
    for (auto& r :
         query("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name"))
      out.push_back(r[0]);
    return out;
  }

  std::string schema_dump() override {
    std::vector<std::string> lines;
    for (const auto& t : tables()) {
      lines.push_back("table " + t);
      for (auto& c : query("SELECT cid, name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('" + t + "')"))
        lines.push_back("column " + t + "." + (c[0].size() < 2 ? "0" : "") + c[0] + " " + c[1] + " " + c[2] +
                        (c[3] == "1" ? " NOT NULL" : "") + " default=" + c[4] + " pk=" + c[5]);
      for (auto& i : query("SELECT name, \"unique\", origin FROM pragma_index_list('" + t + "')")) {
        std::string cols;
        for (auto& ic : query("SELECT name FROM pragma_index_info('" + i[0] + "') ORDER BY seqno"))
          cols += (cols.empty() ? "" : ",") + ic[0];
        std::string name = i[2] == "c" ? i[0] : "(auto " + i[2] + ")";
        lines.push_back("index " + t + " " + name + " (" + cols + ")" + (i[1] == "1" ? " unique" : ""));
      }
      for (auto& f :
           query("SELECT \"table\", \"from\", \"to\", on_update, on_delete FROM pragma_foreign_key_list('" + t + "')"))
        lines.push_back("fk " + t + "." + f[1] + " -> " + f[0] + "." + f[2] + " on_update=" + f[3] +
                        " on_delete=" + f[4]);
    }
    return join_lines(lines);
  }

 private:
  fs::path file_;
};

struct PgConn {
  explicit PgConn(const std::string& conninfo) : c(PQconnectdb(conninfo.c_str())) {
    if (PQstatus(c) != CONNECTION_OK) {
      std::string msg = PQerrorMessage(c);
      PQfinish(c);
      throw std::runtime_error("test harness cannot connect to PostgreSQL: " + msg);
    }
    PQsetNoticeProcessor(
        c, [](void*, const char*) {}, nullptr);
  }
  ~PgConn() { PQfinish(c); }
  std::vector<std::vector<std::string>> run(const std::string& sql) {
    PGresult* r = PQexec(c, sql.c_str());
    auto st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      std::string msg = PQresultErrorMessage(r);
      PQclear(r);
      throw std::runtime_error("PostgreSQL: " + msg + " in: " + sql);
    }
    std::vector<std::vector<std::string>> rows;
    for (int i = 0; i < PQntuples(r); ++i) {
      std::vector<std::string> row;
      for (int j = 0; j < PQnfields(r); ++j) row.emplace_back(PQgetisnull(r, i, j) ? "NULL" : PQgetvalue(r, i, j));
      rows.push_back(row);
    }
    PQclear(r);
    return rows;
  }
  PGconn* c;
};

std::string pg_host() {
  const char* h = std::getenv("FASTAPPKIT_TEST_PGHOST");
  if (!h || !*h) {
    throw std::runtime_error(
        "FASTAPPKIT_TEST_PGHOST is not set: run the tests with ctest, which starts the test PostgreSQL cluster "
        "(scripts/pg-test-cluster.sh) first");
  }
  return h;
}

class PostgresDatabase final : public Database {
 public:
  PostgresDatabase() {
    static std::atomic<int> counter{0};
    name_ = "fak_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
    PgConn admin(admin_conninfo());
    admin.run("DROP DATABASE IF EXISTS " + name_);
    admin.run("CREATE DATABASE " + name_);
  }
  ~PostgresDatabase() override {
    try {
      PgConn admin(admin_conninfo());
      admin.run("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (...) {
    }
  }
  std::string url() const override { return "postgresql://postgres@/" + name_ + "?host=" + pg_host(); }
  std::string backend() const override { return "postgresql"; }
  void exec(const std::string& sql) override { PgConn(conninfo()).run(sql); }
  std::vector<std::vector<std::string>> query(const std::string& sql) override { return PgConn(conninfo()).run(sql); }

  std::vector<std::string> tables() override {
    std::vector<std::string> out;
    for (auto& r : query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"))
      out.push_back(r[0]);
    return out;
  }

  std::string schema_dump() override {
    std::vector<std::string> lines;
    PgConn c(conninfo());
    for (auto& r : c.run("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
      lines.push_back("table " + r[0]);
    for (auto& r : c.run("SELECT table_name, lpad(ordinal_position::text, 2, '0'), column_name, "
                         "format_type(a.atttypid, a.atttypmod), is_nullable, column_default, is_identity "
                         "FROM information_schema.columns c JOIN pg_attribute a ON a.attrelid = ('public.' || "
                         "quote_ident(c.table_name))::regclass "
                         "AND a.attname = c.column_name WHERE table_schema = 'public'"))
      lines.push_back("column " + r[0] + "." + r[1] + " " + r[2] + " " + r[3] + (r[4] == "NO" ? " NOT NULL" : "") +
                      " default=" + r[5] + (r[6] == "YES" ? " identity" : ""));
    for (auto& r : c.run("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"))
      lines.push_back("index " + r[0] + " " + r[1] + " " + r[2]);
    for (auto& r : c.run("SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                         "WHERE connamespace = 'public'::regnamespace"))
      lines.push_back("constraint " + r[0] + " " + r[1] + " " + r[2]);
    return join_lines(lines);
  }

 private:
  static std::string admin_conninfo() { return "host=" + pg_host() + " user=postgres dbname=postgres"; }
  std::string conninfo() const { return "host=" + pg_host() + " user=postgres dbname=" + name_; }
  std::string name_;
};

}  // namespace

std::unique_ptr<Database> make_sqlite(const fs::path& dir) { return std::make_unique<SqliteDatabase>(dir / "test.db"); }
std::unique_ptr<Database> make_postgresql() { return std::make_unique<PostgresDatabase>(); }

}  // namespace e2e
