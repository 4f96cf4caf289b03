// Fleet benchmark (SPEC §10, docs/fleets.md): apps-example's whole manifest (`migrate all`)
// on 200 SQLite files and 50 PostgreSQL databases (or tenant schemas), first as N sequential
// single runs (the hand-written loop a fleet replaces), then as one fleet run with --jobs 1, 2,
// 4 and 8, each on fresh databases; reported as databases per second and as a ratio to the
// sequential runs of the same invocation.
// Run with: bash tests/bench/fleet_bench.sh [BUILD_DIR]
// Options: --sqlite N (default 200), --postgresql N (default 50, needs FASTAPPKIT_TEST_PGHOST),
// --schemas (PostgreSQL tenants as ?schema= in one database instead of databases).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "../e2e/harness.hpp"

using namespace e2e;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Row {
  std::string backend, mode;
  int databases = 0;
  double seconds = 0;
};

// Fresh databases for one measurement: URLs, and what keeps the PostgreSQL ones alive.
struct Batch {
  std::vector<std::string> urls;
  std::vector<std::unique_ptr<Database>> keep;
};

Batch sqlite_batch(const fs::path& dir, const std::string& tag, int n) {
  Batch b;
  fs::create_directories(dir / tag);
  for (int i = 0; i < n; ++i)
    b.urls.push_back("sqlite:///" + (dir / tag / ("db" + std::to_string(i) + ".db")).string());
  return b;
}

Batch postgresql_batch(int n, bool schemas) {
  Batch b;
  if (schemas) {
    b.keep.push_back(make_postgresql());
    for (int i = 0; i < n; ++i) b.urls.push_back(b.keep.back()->url() + "&schema=tenant_" + std::to_string(i));
  } else {
    for (int i = 0; i < n; ++i) {
      b.keep.push_back(make_postgresql());
      b.urls.push_back(b.keep.back()->url());
    }
  }
  return b;
}

void require(bool ok, const RunResult& r) {
  if (!ok) {
    std::cerr << "fleet_bench: a run failed\n" << describe(r) << "\n";
    std::exit(1);
  }
}

// Times `sequential` single runs and one fleet run per --jobs value; each on fresh databases.
void measure(const fs::path& project, const std::string& backend, const std::function<Batch(const std::string&)>& make,
             int n, std::vector<Row>& rows) {
  {
    Batch b = make("seq");
    const auto t0 = Clock::now();
    for (const auto& url : b.urls) {
      auto r = fastappkit({"-q", "--database-url", url, "migrate", "all"}, project);
      require(r.code == 0, r);
    }
    rows.push_back({backend, std::to_string(n) + " sequential runs", n, seconds_since(t0)});
    std::cerr << "  " << backend << " sequential: " << rows.back().seconds << " s\n";
  }
  for (int jobs : {1, 2, 4, 8}) {
    Batch b = make("jobs" + std::to_string(jobs));
    std::string text;
    for (const auto& url : b.urls) text += url + "\n";
    const fs::path file = project / ("fleet-" + backend + "-" + std::to_string(jobs) + ".txt");
    write_file(file, text);
    const auto t0 = Clock::now();
    auto r =
        fastappkit({"-q", "migrate", "all", "--databases", file.string(), "--jobs", std::to_string(jobs)}, project);
    const double s = seconds_since(t0);
    require(r.code == 0, r);
    rows.push_back({backend, "fleet --jobs " + std::to_string(jobs), n, s});
    std::cerr << "  " << backend << " --jobs " << jobs << ": " << s << " s\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  int sqlite_n = 200, pg_n = 50;
  bool schemas = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--sqlite" && i + 1 < argc)
      sqlite_n = std::atoi(argv[++i]);
    else if (a == "--postgresql" && i + 1 < argc)
      pg_n = std::atoi(argv[++i]);
    else if (a == "--schemas")
      schemas = true;
    else {
      std::cerr << "usage: fastappkit_fleet_bench [--sqlite N] [--postgresql N] [--schemas]\n";
      return 2;
    }
  }
  TempDir dir;
  const fs::path project = dir.path / "apps-example";
  copy_tree(source_dir() / "apps-example", project);
  install_plugins(project);
  std::vector<Row> rows;
  if (sqlite_n > 0)
    measure(
        project, "sqlite", [&](const std::string& tag) { return sqlite_batch(dir.path / "sqlite", tag, sqlite_n); },
        sqlite_n, rows);
  const char* pg = std::getenv("FASTAPPKIT_TEST_PGHOST");
  if (pg_n > 0 && pg && *pg)
    measure(
        project, schemas ? "postgresql-schemas" : "postgresql",
        [&](const std::string&) { return postgresql_batch(pg_n, schemas); }, pg_n, rows);
  else if (pg_n > 0)
    std::cerr << "fleet_bench: FASTAPPKIT_TEST_PGHOST is not set; PostgreSQL skipped\n";

  std::printf("fleet benchmark: apps-example `migrate all` (7 migrations, 3 apps) per database\n");
  std::printf("%-20s %-22s %9s %9s %8s %14s\n", "backend", "mode", "databases", "seconds", "db/s", "x sequential");
  double base = 0;
  for (const auto& r : rows) {
    const double rate = r.databases / r.seconds;
    if (r.mode.find("sequential") != std::string::npos) base = rate;
    std::printf("%-20s %-22s %9d %9.2f %8.1f %13.2fx\n", r.backend.c_str(), r.mode.c_str(), r.databases, r.seconds,
                rate, rate / base);
  }
  return 0;
}
