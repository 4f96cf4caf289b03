// --databases FILE on the commands that read or write a database (SPEC §10): options, the
// progress line per database, and the summary as a table or JSON. The work is the library's
// (project/fleet.hpp).
#include <boost/program_options.hpp>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "context.hpp"
#include "fastappkit/error.hpp"
#include "fastappkit/project/fleet.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::cli {

namespace po = boost::program_options;
using json = nlohmann::ordered_json;
using project::DatabaseOutcome;
using project::FleetState;

namespace {

constexpr unsigned kMaxJobs = 64;

// What the counts of a command mean, for the table header and the JSON key, and the list each
// database adds to the JSON.
struct Kind {
  enum class List { none, differences, revisions, script, findings };
  const char* command;
  const char* counts;  // "applied", "pending", "differences", "revisions", "stamped", "findings"
  List list = List::none;
};

project::FleetOptions fleet_settings(const Context& ctx) {
  project::FleetOptions o;
  if (ctx.has("jobs")) {
    int j = ctx.vm["jobs"].as<int>();
    if (j < 1 || j > static_cast<int>(kMaxJobs))
      throw Error(ErrorKind::usage,
                  "--jobs must be from 1 to " + std::to_string(kMaxJobs) + ", not " + std::to_string(j),
                  "e.g. --jobs 4 (each PostgreSQL database of a run holds two connections)");
    o.jobs = static_cast<unsigned>(j);
  }
  o.fail_fast = ctx.flag("fail-fast");
  return o;
}

// The fleet file and --jobs/--fail-fast, checked before any database is opened.
struct Fleet {
  project::FleetOptions options;
  std::vector<project::FleetDatabase> databases;
};

Fleet load_fleet(const Context& ctx) {
  project::FleetOptions options = fleet_settings(ctx);
  return {options, project::read_fleet(ctx.opt("databases"), ctx.directory)};
}

std::string counts_text(const DatabaseOutcome& d) {
  std::vector<std::string> parts;
  for (const auto& [app, n] : d.counts)
    if (n) parts.push_back(app + " " + std::to_string(n));
  return parts.empty() ? std::string("-") : util::join(parts, ", ");
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// Each database that failed on stderr, as a single run prints its error: "fastappkit: error:
// URL (FILE:LINE): what", then the hint; with `not_started`, those --fail-fast did not start too.
void print_failures(Context& ctx, const std::vector<const DatabaseOutcome*>& databases, bool not_started) {
  for (const auto* d : databases) {
    if (!d->error && !(not_started && d->state == FleetState::not_started)) continue;
    print_error(ctx, d->error ? *d->error : Error(ErrorKind::failed, d->detail),
                d->database + " (" + ctx.opt("databases") + ":" + std::to_string(d->line) + "): ");
  }
}

// The outcomes of `s` in fleet-file order.
std::vector<const DatabaseOutcome*> in_file_order(const project::FleetSummary& s) {
  std::vector<const DatabaseOutcome*> all;
  for (const auto& d : s.databases) all.push_back(&d);
  return all;
}

// Prints the summary; returns the exit code: 1 if a database failed, was not started, (check)
// differs or (lint) has an error.
int report(Context& ctx, const project::FleetSummary& s, const Kind& kind) {
  const bool flagged =
      std::any_of(s.databases.begin(), s.databases.end(), [](const DatabaseOutcome& d) { return d.flagged(); });
  const int code = s.ok() && !flagged ? 0 : 1;
  if (ctx.json) {
    json list = json::array();
    for (const auto& d : s.databases) {
      json counts = json::object();
      for (const auto& [app, n] : d.counts) counts[app] = n;
      json j{{"database", d.database}, {"line", d.line},      {"state", std::string(project::to_string(d.state))},
             {"detail", d.detail},     {kind.counts, counts}, {"milliseconds", std::llround(d.milliseconds)}};
      if (kind.list == Kind::List::differences) j["difference_list"] = d.differences;
      if (d.state == FleetState::done) {
        if (kind.list == Kind::List::revisions) j["revision_list"] = d.revisions;
        if (kind.list == Kind::List::script) j["script"] = d.script;
        if (kind.list == Kind::List::findings) {
          json findings = json::array();
          for (const auto& f : d.findings) findings.push_back(finding_json(f));
          j["finding_list"] = findings;
        }
      }
      if (!d.notes.empty()) j["notes"] = d.notes;
      if (d.error) j["error"] = error_json(*d.error);
      list.push_back(j);
    }
    ctx.print_json({{"command", kind.command},
                    {"ok", code == 0},
                    {"jobs", s.jobs},
                    {"databases", list},
                    {"totals",
                     {{"databases", s.databases.size()},
                      {"done", s.count(FleetState::done)},
                      {"failed", s.count(FleetState::failed)},
                      {"not_started", s.count(FleetState::not_started)},
                      {kind.counts, s.total()},
                      {"milliseconds", std::llround(s.milliseconds)}}}});
    return code;
  }
  // Failed databases last, each with its error.
  std::vector<const DatabaseOutcome*> order;
  for (auto state : {FleetState::done, FleetState::not_started, FleetState::failed})
    for (const auto& d : s.databases)
      if (d.state == state) order.push_back(&d);
  std::size_t width = 8, state_width = 26;
  for (const auto* d : order) {
    width = std::max(width, d->database.size());
    state_width = std::max(state_width, d->detail.size());
  }
  std::string header = kind.counts;
  for (auto& c : header) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto pad = [](const std::string& s, std::size_t n) { return s.size() < n ? s + std::string(n - s.size(), ' ') : s; };
  if (ctx.verbosity > 0) {
    ctx.out << "\n"
            << pad("DATABASE", width) << "  " << pad("STATE", state_width) << " " << pad(header, 30) << " "
            << "      MS\n";
    for (const auto* d : order) {
      char ms[32];
      std::snprintf(ms, sizeof ms, "%8.0f", d->milliseconds);
      ctx.out << pad(d->database, width) << "  " << pad(d->detail, state_width) << " " << pad(counts_text(*d), 30)
              << " " << ms << "\n";
    }
    for (const auto& d : s.databases)
      for (const auto& diff : d.differences) ctx.out << d.database << ": " << diff << "\n";
  }
  // A revision pending on many databases is linted alike on each: every finding once.
  std::set<std::string> shown;
  for (const auto& d : s.databases)
    for (const auto& f : d.findings)
      if (const std::string line = lint::format(f); shown.insert(line).second) ctx.out << line << "\n";
  print_failures(ctx, order, false);
  if (ctx.verbosity > 0) {
    char total[256];
    std::snprintf(total, sizeof total,
                  "%zu database(s): %zu done, %zu failed, %zu not started; %zu %s; %.0f ms with --jobs %u\n",
                  s.databases.size(), s.count(FleetState::done), s.count(FleetState::failed),
                  s.count(FleetState::not_started), s.total(), kind.counts, s.milliseconds, s.jobs);
    ctx.out << total;
  }
  return code;
}

// The load's notes as warnings.
class Warnings : public project::Observer {
 public:
  explicit Warnings(const Context& ctx) : ctx_(ctx) {}
  void note(const std::string& message) override { ctx_.warn(message); }

 private:
  const Context& ctx_;
};

// The progress line as each database finishes: "[ 3/25] sqlite:///a.db: applied 5 (core 3, ...) in 12 ms".
std::function<void(const DatabaseOutcome&)> progress(Context& ctx, std::size_t total) {
  if (ctx.json || ctx.verbosity == 0) return {};
  auto done = std::make_shared<std::size_t>(0);
  return [&ctx, total, done](const DatabaseOutcome& d) {
    char n[32];
    std::snprintf(n, sizeof n, "[%*zu/%zu] ", static_cast<int>(std::to_string(total).size()), ++*done, total);
    ctx.out << n << d.database << ": " << d.detail;
    if (d.total()) ctx.out << " (" << counts_text(d) << ")";
    if (d.state != FleetState::not_started) ctx.out << " in " << std::llround(d.milliseconds) << " ms";
    if (d.error) ctx.out << ": " << first_line(config::redact_text(d.error->message()));
    ctx.out << "\n";
    for (const auto& note : d.notes) ctx.warn(d.database + ": " + note);
    ctx.out.flush();
  };
}

}  // namespace

void fleet_options(po::options_description& d) {
  d.add_options()("databases", po::value<std::string>(),
                  "run on every database listed in FILE (one URL per line, # comments, ${VAR} from the environment)")(
      "jobs,j", po::value<int>(), "with --databases: databases at a time (default 4)")(
      "fail-fast", po::bool_switch(), "with --databases: start no further database after one fails");
}

bool fleet_requested(const Context& ctx) {
  const bool fleet = ctx.has("databases");
  if (!fleet && (ctx.has("jobs") || ctx.flag("fail-fast")))
    throw Error(ErrorKind::usage, std::string(ctx.has("jobs") ? "--jobs" : "--fail-fast") + " needs --databases FILE",
                "a single database runs alone; give a fleet file: --databases FILE --jobs N");
  if (fleet && ctx.database_url)
    throw Error(ErrorKind::usage, "--database-url and --databases both name the database(s)",
                "give one: --database-url URL for one database, --databases FILE for a fleet");
  return fleet;
}

namespace {

// A read-only command over the fleet: the project loaded once (external apps too unless
// `external_apps` is false), `one` run per database.
template <class PerDatabase>
int fleet_read(Context& ctx, PerDatabase one, const Kind& kind, bool external_apps = true) {
  const Fleet fleet = load_fleet(ctx);
  Warnings notes(ctx);
  auto summary = project::over_fleet(
      ctx.load({.need_url = false, .external_apps = external_apps}), fleet.databases, fleet.options, notes,
      [&](const project::Workspace& w, const project::FleetDatabase& db, DatabaseOutcome& out) {
        one(w, db.url, ctx.lock_timeout, out);
      },
      progress(ctx, fleet.databases.size()));
  return report(ctx, summary, kind);
}

}  // namespace

int fleet_migrate(Context& ctx, const project::RunRequest& request, project::Observer& notes) {
  const Fleet fleet = load_fleet(ctx);
  auto summary = project::migrate_fleet(ctx.load(), request, fleet.databases, fleet.options, ctx.settings(), notes,
                                        progress(ctx, fleet.databases.size()));
  return report(ctx, summary,
                {request.scope == project::RunRequest::Scope::all ? "migrate all" : "migrate", "applied"});
}

int fleet_status(Context& ctx) { return fleet_read(ctx, project::status_database, {"migrate status", "pending"}); }

int fleet_app_list(Context& ctx) { return fleet_read(ctx, project::status_database, {"app list", "pending"}); }

int fleet_check(Context& ctx) {
  return fleet_read(ctx, project::check_database, {"migrate check", "differences", Kind::List::differences});
}

int fleet_current(Context& ctx) {
  return fleet_read(ctx, project::current_database, {"migrate current", "revisions", Kind::List::revisions}, false);
}

int fleet_lint(Context& ctx, std::optional<sql::Dialect> dialect) {
  return fleet_read(
      ctx,
      [dialect](const project::Workspace& w, const config::DatabaseUrl& url, std::chrono::milliseconds lock_timeout,
                DatabaseOutcome& out) { project::lint_database(w, dialect, url, lock_timeout, out); },
      {"migrate lint", "findings", Kind::List::findings});
}

int fleet_preview(Context& ctx, const project::PreviewRequest& request, bool headed) {
  const Fleet fleet = load_fleet(ctx);
  Warnings notes(ctx);
  auto summary =
      project::preview_fleet(ctx.load(), request, fleet.databases, fleet.options, ctx.settings(), notes, headed);
  if (ctx.json) return report(ctx, summary, {"migrate preview", "pending", Kind::List::script});
  // SQL on stdout, each database's script in file order; failures on stderr, as report prints them.
  bool first = true;
  for (const auto& d : summary.databases) {
    if (d.state != FleetState::done) continue;
    ctx.out << (first ? "" : "\n") << "-- " << ctx.opt("databases") << ":" << d.line << "\n" << d.script;
    first = false;
  }
  print_failures(ctx, in_file_order(summary), true);
  return summary.ok() ? 0 : 1;
}

int fleet_stamp(Context& ctx, const std::string& revision) {
  const Fleet fleet = load_fleet(ctx);
  Warnings notes(ctx);
  auto summary = project::stamp_fleet(ctx.load(), revision, ctx.flag("purge"), fleet.databases, fleet.options,
                                      ctx.settings(), notes, progress(ctx, fleet.databases.size()));
  return report(ctx, summary, {"migrate stamp", "stamped", Kind::List::revisions});
}

}  // namespace fastappkit::cli
