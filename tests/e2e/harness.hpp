#pragma once
// End-to-end harness: temp project copies, the real fastappkit binary run as a child process,
// and one database per test on each backend (an SQLite file; a fresh database in the test
// PostgreSQL cluster that CTest starts and always stops).
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

// Checks on a command's result that, when they fail, print the command, its exit code and
// its whole output.
#define REQUIRE_OK(r) REQUIRE_MESSAGE((r).code == 0, e2e::describe(r))
#define CHECK_CODE(r, c) CHECK_MESSAGE((r).code == (c), e2e::describe(r))
#define CHECK_OUT(r, part) \
  CHECK_MESSAGE(e2e::has((r).out, part), "expected on stdout: " << (part) << "\n" << e2e::describe(r))
#define CHECK_ERR(r, part) \
  CHECK_MESSAGE(e2e::has((r).err, part), "expected on stderr: " << (part) << "\n" << e2e::describe(r))
#define CHECK_NO_OUT(r, part) \
  CHECK_MESSAGE(!e2e::has((r).out, part), "unexpected on stdout: " << (part) << "\n" << e2e::describe(r))
#define CHECK_NO_ERR(r, part) \
  CHECK_MESSAGE(!e2e::has((r).err, part), "unexpected on stderr: " << (part) << "\n" << e2e::describe(r))
// A text (a file, a schema dump) holds, or does not hold, a part; a failure shows the text.
#define CHECK_HAS(text, part) CHECK_MESSAGE(e2e::has(text, part), "missing: " << (part) << "\nin:\n" << (text))
#define CHECK_LACKS(text, part) CHECK_MESSAGE(!e2e::has(text, part), "unexpected: " << (part) << "\nin:\n" << (text))

namespace e2e {

inline bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

namespace fs = std::filesystem;

struct TempDir {
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  fs::path path;
};

struct RunResult {
  std::string command;  // as a shell would show it
  int code = -1;
  std::string out, err;
};

// A command line split into words as a shell would ("..." quotes; # starts a comment).
std::vector<std::string> shell_words(const std::string& line);
// The command, its exit code and its output, for failure messages.
std::string describe(const RunResult& r);
// stdout parsed as one JSON document; a failure names the command and shows its output.
nlohmann::json json_of(const RunResult& r);

// Runs the fastappkit binary with `args` in `cwd`; DATABASE_URL is removed from the
// environment unless given in `env`.
RunResult fastappkit(const std::vector<std::string>& args, const fs::path& cwd,
                     const std::map<std::string, std::string>& env = {});
// The binary started in the background, for a test that signals it while it runs
// (fastappkit() is one of these, waited for at once).
class Background {
 public:
  Background(const std::vector<std::string>& args, const fs::path& cwd,
             const std::map<std::string, std::string>& env = {});
  ~Background();  // kills a child that is still running
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
  void signal(int sig) const;
  // Waits for the child (killed after FASTAPPKIT_TEST_COMMAND_TIMEOUT, which throws) and
  // returns what it did, as fastappkit() does.
  RunResult wait();

 private:
  std::unique_ptr<TempDir> io_;
  std::string command_;
  int pid_ = -1;
};

fs::path source_dir();
fs::path build_dir();
// Polls `done` every 5 ms until it holds or `limit` passes; returns its last answer (staged races).
bool wait_until(const std::function<bool()>& done, std::chrono::seconds limit = std::chrono::seconds(60));
// Runs a shell command line (for cmake in the SDK journeys); returns its exit code, output in `out`.
int shell(const std::string& command, std::string* out = nullptr);
void copy_tree(const fs::path& from, const fs::path& to);
// Drops the example plugins built by this build (build/plugins/*) into <project>/plugins/.
void install_plugins(const fs::path& project);
fs::path test_plugins_dir();  // deliberately broken plugins built for the tests
void write_file(const fs::path& p, const std::string& text);
std::string read_file(const fs::path& p);

// One database for one test. Dropped (PostgreSQL) or deleted with its folder (SQLite).
class Database {
 public:
  virtual ~Database() = default;
  virtual std::string url() const = 0;
  virtual std::string backend() const = 0;
  // Runs SQL directly on the database (not through fastappkit).
  virtual void exec(const std::string& sql) = 0;
  virtual std::vector<std::vector<std::string>> query(const std::string& sql) = 0;
  // Tables, columns, indexes and constraints, one per line, sorted; NULL shown as "NULL".
  virtual std::string schema_dump() = 0;
  virtual std::vector<std::string> tables() = 0;
};

std::unique_ptr<Database> make_sqlite(const fs::path& dir);
std::unique_ptr<Database> make_postgresql();

// Empty when `actual` equals tests/e2e/golden/<name>; otherwise a unified diff (golden -> actual).
// FASTAPPKIT_UPDATE_GOLDEN=1 rewrites the golden file instead.
std::string golden_mismatch(const std::string& name, const std::string& actual);

struct Sqlite {
  static constexpr const char* name = "sqlite";
};
struct Postgresql {
  static constexpr const char* name = "postgresql";
};

template <class B>
std::unique_ptr<Database> make_database(const fs::path& dir) {
  if constexpr (std::is_same_v<B, Sqlite>)
    return make_sqlite(dir);
  else
    return make_postgresql();
}

// A copy of apps-example with the example plugins dropped in, and (with a backend) one
// database; without one, commands run on sqlite:///app.db in the project.
struct ExampleProject {
  TempDir dir;
  fs::path root = dir.path / "project";
  std::unique_ptr<Database> db;
  ExampleProject();
  template <class B>
  explicit ExampleProject(B) : ExampleProject() {
    db = make_database<B>(dir.path);
  }
  RunResult run(const std::vector<std::string>& args) const;
  bool has_table(const std::string& table) const;
  // Rows of a version table; empty when it has none or does not exist.
  std::vector<std::string> versions(const std::string& table) const;
};

}  // namespace e2e
