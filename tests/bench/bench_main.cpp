// fastappkit benchmark: autogenerate on a 1,000-table project, and applying the generated
// migrations compared with the raw database running the same SQL in the same run.
// Run with: bash scripts/bench.sh  (PostgreSQL figures too when FASTAPPKIT_TEST_PGHOST is set)
#include <SQLiteCpp/Database.h>
#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "../e2e/harness.hpp"

using namespace e2e;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string models(int tables) {
  std::ostringstream out;
  for (int i = 0; i < tables; ++i) {
    out << "[[tables]]\nname = \"t" << i << "\"\ncolumns = [\n"
        << "  { name = \"id\", type = \"integer\", primary_key = true },\n"
        << "  { name = \"name\", type = \"string\", length = 100, nullable = false },\n"
        << "  { name = \"body\", type = \"text\" },\n"
        << "  { name = \"amount\", type = \"numeric\", precision = 12, scale = 2, default = \"0\" },\n"
        << "  { name = \"created_at\", type = \"datetime\", nullable = false, default = \"CURRENT_TIMESTAMP\" },\n";
    if (i > 0) out << "  { name = \"parent_id\", type = \"integer\", foreign_key = \"t" << i - 1 << ".id\" },\n";
    out << "]\nindexes = [ { columns = [\"name\"] } ]\n\n";
  }
  return out.str();
}

fs::path make_project(const fs::path& dir, int tables) {
  fs::path root = dir / "bench-project";
  fs::create_directories(root / "core" / "db" / "migrations" / "versions");
  write_file(root / "fastappkit.toml", "[tool.fastappkit]\napps = []\n");
  write_file(root / "core" / "models.toml", models(tables));
  return root;
}

void require(const RunResult& r, const char* what) {
  if (r.code != 0) {
    std::cerr << what << " failed (" << r.code << "):\n" << r.out << r.err;
    std::exit(1);
  }
}

// The statements of a preview script, without comments or transaction control.
std::string script_body(const std::string& preview) {
  std::istringstream in(preview);
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.rfind("--", 0) == 0 || line == "BEGIN;" || line == "COMMIT;") continue;
    out += line + "\n";
  }
  return out;
}

}  // namespace

int main() {
  const int tables = 1000;
  const int runs = 5;
  TempDir dir;
  fs::path root = make_project(dir.path, tables);
  fs::path versions = root / "core" / "db" / "migrations" / "versions";
  const std::map<std::string, std::string> env{{"DATABASE_URL", "sqlite:///bench.db"}};

  std::vector<double> gen;
  for (int i = 0; i < runs; ++i) {
    for (auto& e : fs::directory_iterator(versions)) fs::remove(e.path());
    auto t0 = Clock::now();
    require(fastappkit({"-q", "migrate", "core", "-m", "bench"}, root, env), "migrate core");
    gen.push_back(ms_since(t0));
  }
  std::printf(
      "autogenerate, %d tables (whole process: load models + migrations, diff, write): median %.1f ms over %d runs "
      "(target <= 200 ms)\n",
      tables, median(gen), runs);

  // No change: load, replay, diff.
  std::vector<double> nochange;
  for (int i = 0; i < runs; ++i) {
    auto t0 = Clock::now();
    require(fastappkit({"-q", "migrate", "core", "-m", "again"}, root, env), "migrate core (no change)");
    nochange.push_back(ms_since(t0));
  }
  std::printf("autogenerate with no change on %d tables (replay the migration + diff): median %.1f ms\n", tables,
              median(nochange));

  // Apply with fastappkit versus raw SQLite running the same statements in one transaction.
  auto preview = fastappkit({"migrate", "preview"}, root, env);
  require(preview, "preview");
  std::string sql = script_body(preview.out);
  std::vector<double> ours, raw;
  for (int i = 0; i < runs; ++i) {
    fs::remove(root / "bench.db");
    auto t0 = Clock::now();
    require(fastappkit({"-q", "migrate", "upgrade"}, root, env), "upgrade");
    ours.push_back(ms_since(t0));
    fs::remove(dir.path / "raw.db");
    t0 = Clock::now();
    {
      SQLite::Database db((dir.path / "raw.db").string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
      db.exec("BEGIN; " + sql + " COMMIT;");
    }
    raw.push_back(ms_since(t0));
  }
  std::printf(
      "SQLite upgrade creating %d tables: fastappkit %.1f ms (process, incl. history), raw SQLiteCpp %.1f ms; ratio "
      "%.2f\n",
      tables, median(ours), median(raw), median(ours) / median(raw));

  if (const char* host = std::getenv("FASTAPPKIT_TEST_PGHOST"); host && *host) {
    // Fresh databases each round, alternating which side goes first, so neither gets the
    // other's warm caches.
    std::vector<double> ours_pg, raw_pg;
    std::string pg_sql;
    for (int i = 0; i < 3; ++i) {
      auto ours_db = make_postgresql();
      auto raw_db = make_postgresql();
      std::map<std::string, std::string> pg_env{{"DATABASE_URL", ours_db->url()}};
      if (pg_sql.empty()) {
        auto pg_preview = fastappkit({"migrate", "preview"}, root, pg_env);
        require(pg_preview, "pg preview");
        pg_sql = script_body(pg_preview.out);
      }
      // A checkpoint before each timed run, so neither pays for the other's dirty pages.
      auto run_ours = [&] {
        ours_db->exec("CHECKPOINT");
        auto t0 = Clock::now();
        require(fastappkit({"-q", "migrate", "upgrade"}, root, pg_env), "pg upgrade");
        ours_pg.push_back(ms_since(t0));
      };
      auto run_raw = [&] {
        raw_db->exec("CHECKPOINT");
        auto t0 = Clock::now();
        raw_db->exec("BEGIN; " + pg_sql + " COMMIT;");
        raw_pg.push_back(ms_since(t0));
      };
      if (i % 2 == 0) {
        run_ours();
        run_raw();
      } else {
        run_raw();
        run_ours();
      }
    }
    std::printf(
        "PostgreSQL upgrade creating %d tables: fastappkit %.1f ms (process, incl. lock + history), raw libpq %.1f ms; "
        "ratio %.2f (median of 3)\n",
        tables, median(ours_pg), median(raw_pg), median(ours_pg) / median(raw_pg));
  }
  return 0;
}
