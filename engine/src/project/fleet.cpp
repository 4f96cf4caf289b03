#include "fastappkit/project/fleet.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "fastappkit/db/connection.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::project {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The source text Error prints the line from: blank lines up to it, then the line as shown.
std::string source_at(int line, std::string_view shown) {
  return std::string(static_cast<std::size_t>(line - 1), '\n') + std::string(shown);
}

}  // namespace

std::string expand_variables(std::string_view text, const SourceLocation& where, std::string_view shown,
                             const std::function<std::optional<std::string>(const std::string&)>& lookup) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '$' || i + 1 >= text.size() || text[i + 1] != '{') {
      out += text[i++];
      continue;
    }
    SourceLocation at = where;
    at.column = where.column + static_cast<int>(i) + 1;
    std::size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos)
      throw Error(ErrorKind::input, at, "unterminated ${ in the fleet file", "write ${NAME} with a closing brace",
                  source_at(at.line, shown));
    std::string name(text.substr(i + 2, close - i - 2));
    bool ok = !name.empty() && (std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_') &&
              std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; });
    if (!ok)
      throw Error(ErrorKind::input, at, "invalid variable reference in the fleet file",
                  "write ${NAME}, NAME made of letters, digits and _", source_at(at.line, shown));
    auto value = lookup(name);
    if (!value)
      throw Error(ErrorKind::input, at, "environment variable " + name + " is not set",
                  "export " + name + " before the run (the fleet file reads it with ${" + name + "})",
                  source_at(at.line, shown));
    out += *value;
    i = close + 1;
  }
  return out;
}

std::vector<FleetDatabase> read_fleet(const fs::path& file, const fs::path& root) {
  std::ifstream in(file, std::ios::binary);
  if (!in || fs::is_directory(file))
    throw Error(ErrorKind::input, "cannot read the fleet file " + file.string(),
                "pass --databases FILE, a text file with one database URL per line");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream lines(text);
  std::vector<FleetDatabase> out;
  std::map<std::string, int> seen;  // what identifies a database -> its line
  std::string line;
  int n = 0;
  auto env = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
  while (std::getline(lines, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    std::size_t end = line.find(" #", start);  // a comment after the URL
    if (end == std::string::npos) end = line.find("\t#", start);
    std::string raw = line.substr(0, end);
    while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t')) raw.pop_back();
    const std::string shown = config::redact_text(line);
    SourceLocation where{file.string(), n, static_cast<int>(start) + 1};
    std::string url = expand_variables(raw.substr(start), SourceLocation{file.string(), n, static_cast<int>(start)},
                                       shown, [&](const std::string& name) { return env(name); });
    FleetDatabase db;
    db.line = n;
    try {
      db.url = config::parse_database_url(url, root);
    } catch (const Error& e) {
      throw Error(ErrorKind::input, where, e.message(), e.hint(), source_at(n, shown));
    }
    db.url.source = file.string() + ":" + std::to_string(n);
    if (db.url.is_memory())
      throw Error(ErrorKind::input, where, "an in-memory SQLite database cannot be part of a fleet",
                  "name a file, e.g. sqlite:///tenants/a.db", source_at(n, shown));
    std::string key = db.url.backend == config::Backend::sqlite
                          ? "sqlite:" + db.url.sqlite_path
                          : "postgresql:" + db.url.libpq_conninfo() + "\n" + db.url.schema;
    if (auto it = seen.find(key); it != seen.end())
      throw Error(ErrorKind::input, where,
                  "the same database as line " + std::to_string(it->second) + " (" + db.url.redacted() + ")",
                  "list each database once; two runs on one database would only wait for each other",
                  source_at(n, shown));
    seen.emplace(key, n);
    out.push_back(std::move(db));
  }
  if (out.empty())
    throw Error(ErrorKind::input, "the fleet file " + file.string() + " lists no database",
                "write one database URL per line, e.g. sqlite:///tenants/a.db or postgresql://app@db/tenant_a");
  return out;
}

std::string_view to_string(FleetState s) {
  switch (s) {
    case FleetState::done:
      return "done";
    case FleetState::failed:
      return "failed";
    case FleetState::not_started:
      return "not started";
  }
  return "?";
}

void DatabaseOutcome::add(const std::string& app, std::size_t n) {
  auto it = std::find_if(counts.begin(), counts.end(), [&](const auto& c) { return c.first == app; });
  if (it == counts.end())
    counts.emplace_back(app, n);
  else
    it->second += n;
}

std::size_t DatabaseOutcome::total() const {
  std::size_t n = 0;
  for (const auto& [app, c] : counts) n += c;
  return n;
}

bool DatabaseOutcome::flagged() const {
  return !differences.empty() || std::any_of(findings.begin(), findings.end(), [](const lint::Finding& f) {
    return !f.ignored && f.level == lint::Level::error;
  });
}

std::size_t FleetSummary::count(FleetState s) const {
  return static_cast<std::size_t>(
      std::count_if(databases.begin(), databases.end(), [&](const DatabaseOutcome& d) { return d.state == s; }));
}

std::size_t FleetSummary::total() const {
  std::size_t n = 0;
  for (const auto& d : databases) n += d.total();
  return n;
}

FleetSummary run_fleet(const std::vector<FleetDatabase>& fleet, const FleetOptions& options, const FleetWork& work,
                       const std::function<void(const DatabaseOutcome&)>& finished) {
  FleetSummary summary;
  summary.jobs = std::max(1u, options.jobs);
  summary.databases.resize(fleet.size());
  for (std::size_t i = 0; i < fleet.size(); ++i) {
    summary.databases[i].database = fleet[i].url.redacted();
    summary.databases[i].line = fleet[i].line;
  }
  const auto start = Clock::now();
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex report;
  auto worker = [&] {
    for (;;) {
      const std::size_t i = next++;
      if (i >= fleet.size()) return;
      DatabaseOutcome& out = summary.databases[i];
      if (options.fail_fast && failed) {
        out.detail = "not started: another database failed (--fail-fast)";
      } else {
        const auto t0 = Clock::now();
        try {
          work(fleet[i], out);
          out.state = FleetState::done;
        } catch (const Error& e) {
          out.state = FleetState::failed;
          out.error = e;
        } catch (const std::exception& e) {
          out.state = FleetState::failed;
          out.error = Error(ErrorKind::failed, e.what());
        }
        out.milliseconds = ms_since(t0);
        if (out.state == FleetState::failed) {
          failed = true;
          out.detail = "failed" + (out.total() ? " after " + std::to_string(out.total()) + " applied" : std::string());
        }
      }
      if (finished) {
        std::lock_guard<std::mutex> g(report);
        finished(out);
      }
    }
  };
  const std::size_t threads = std::min<std::size_t>(summary.jobs, fleet.size());
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  summary.milliseconds = ms_since(start);
  return summary;
}

void status_database(const Workspace& w, const config::DatabaseUrl& url, std::chrono::milliseconds lock_timeout,
                     DatabaseOutcome& out) {
  auto conn = db::open(url, db::OpenMode::read_only, lock_timeout);
  Status s = w.status(conn.get());
  for (const auto& a : s.apps) {
    if (a.error) throw *a.error;
    out.add(a.name, a.pending.size());
    for (const auto& id : a.modified) out.notes.push_back(a.name + " revision " + id + " changed after it was applied");
  }
  out.detail = !s.database_exists ? "database not created, " + std::to_string(out.total()) + " pending"
               : out.total() == 0 ? std::string("up to date")
                                  : std::to_string(out.total()) + " pending";
}

void current_database(const Workspace& w, const config::DatabaseUrl& url, std::chrono::milliseconds lock_timeout,
                      DatabaseOutcome& out) {
  auto conn = db::open(url, db::OpenMode::read_only, lock_timeout);  // nullptr: an SQLite file not created yet
  const Target& t = w.core();
  out.revisions = migration::current_heads(*t.graph, w.current(conn.get(), t), t.version_table);
  out.add(t.name, out.revisions.size());
  out.detail = !conn                   ? std::string("database not created")
               : out.revisions.empty() ? std::string("no revision applied")
                                       : "at " + describe_revisions(*t.graph, out.revisions);
}

void stamp_database(const Workspace& w, const std::string& revision, bool purge, const config::DatabaseUrl& url,
                    std::chrono::milliseconds lock_timeout, DatabaseOutcome& out, const run::DdlPolicy& ddl) {
  auto conn = db::open(url, db::OpenMode::read_write, lock_timeout);
  conn->lock_for_run(lock_timeout);
  const Target& t = w.core();
  out.revisions = w.stamp(*conn, t, revision, purge, ddl);
  out.add(t.name, out.revisions.size());
  out.detail = "stamped at " + describe_revisions(*t.graph, out.revisions);
}

void lint_database(const Workspace& w, std::optional<sql::Dialect> dialect, const config::DatabaseUrl& url,
                   std::chrono::milliseconds lock_timeout, DatabaseOutcome& out) {
  auto conn = db::open(url, db::OpenMode::read_only, lock_timeout);  // nullptr: every revision is pending
  out.findings = w.lint(conn.get(), dialect ? *dialect : url.backend, false);
  std::size_t errors = 0, warnings = 0;
  for (const auto& t : w.targets()) out.add(t.name, 0);
  for (const auto& f : out.findings) {
    if (f.ignored) continue;
    out.add(f.app, 1);
    ++(f.level == lint::Level::error ? errors : warnings);
  }
  out.detail = std::to_string(errors) + " error(s), " + std::to_string(warnings) + " warning(s)";
}

void check_database(const Workspace& w, const config::DatabaseUrl& url, std::chrono::milliseconds lock_timeout,
                    DatabaseOutcome& out) {
  auto conn = db::open(url, db::OpenMode::read_only, lock_timeout);
  CheckResult r = w.check(conn.get());
  for (const auto& a : r.apps) {
    if (a.error) throw *a.error;
    std::size_t before = out.differences.size();
    for (const auto& d : a.models_vs_migrations) out.differences.push_back(a.name + ": " + d);
    for (const auto& d : a.database_vs_migrations) out.differences.push_back(a.name + ": " + d);
    out.add(a.name, out.differences.size() - before);
    for (const auto& n : a.notes) out.notes.push_back(a.name + ": " + n);
  }
  out.detail = out.differences.empty() ? std::string("no differences")
                                       : std::to_string(out.differences.size()) + " difference(s)";
}

}  // namespace fastappkit::project
