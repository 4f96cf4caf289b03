// The run path (project/run.hpp).
#include "fastappkit/project/run.hpp"

#include <algorithm>
#include <set>
#include <sstream>

#include "fastappkit/db/connection.hpp"
#include "fastappkit/error.hpp"
#include "fastappkit/project/head_snapshot.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::project {

using migration::Direction;
using Scope = RunRequest::Scope;

namespace {

std::unique_ptr<db::Connection> open_read_only(const config::DatabaseUrl& url, std::chrono::milliseconds timeout) {
  return db::open(url, db::OpenMode::read_only, timeout);
}

// What no project can make runnable, refused before anything is loaded.
void refuse_unrunnable(const RunRequest& r) {
  if (r.scope == Scope::everything && r.revision != "base")
    throw Error(ErrorKind::usage,
                "migrate downgrade --all reverts every app to base; '" + r.revision + "' names a revision of one graph",
                "use 'fastappkit migrate downgrade base --all', or downgrade apps one by one");
}

// The no-op shortcut: true when the head snapshot and the database say that `request` has
// nothing to do; then the observer has heard so.
bool answered_at_head(const LoadOptions& load, const RunRequest& r, const RunSettings& s, Observer& o) {
  if (r.folder != RunRequest::Folder::project || (r.scope != Scope::core && r.scope != Scope::all) ||
      r.direction != Direction::upgrade || r.revision != "head")
    return false;
  auto snap = HeadSnapshot::match(load);
  if (!snap || snap->url().is_memory()) return false;
  try {
    auto conn = open_read_only(snap->url(), s.lock_timeout);
    // A version table another session holds locked: give up as the full way's reads do (run_on),
    // and let the full way report it.
    if (conn && conn->dialect() == sql::Dialect::postgresql)
      conn->execute("SET lock_timeout = '" + std::to_string(s.ddl.lock_timeout.count()) + "ms'");
    if (!conn || !snap->at_head(*conn)) return false;
  } catch (const std::exception&) {
    return false;  // whatever went wrong, the full way meets it again and reports it as usual
  }
  o.at_head("alembic_version", snap->head(), snap->config().internal_apps());
  return true;
}

// Counts each migration a fleet database's run applies, per app, as it commits; keeps its notes.
class Counter : public Observer {
 public:
  explicit Counter(DatabaseOutcome& out) : out_(out) {}
  void part_started(const TargetPlan& p, const std::string&) override {
    out_.add(p.target->name, 0);
    if (p.direction == Direction::downgrade) reverting_ = true;
  }
  void step_done(const TargetPlan& p, const run::StepReport& r) override {
    if (!r.skipped) out_.add(p.target->name, 1);
  }
  void modified(const TargetPlan& p, const std::string& id) override {
    out_.notes.push_back(p.target->name + " revision " + id + " (" + p.target->graph->get(id).path +
                         ") changed after it was applied");
  }
  bool reverting() const { return reverting_; }

 private:
  DatabaseOutcome& out_;
  bool reverting_ = false;
};

void tell_notes(const Workspace& w, Observer& o) {
  for (const auto& n : w.notes()) o.note(n);
}

// A fleet's project: loaded once, without a URL (each database names its own).
LoadOptions for_fleet(LoadOptions load) {
  load.need_url = false;
  load.database_url.reset();
  return load;
}

Preview preview_of(const Workspace& w, const RunPlan& plan, const std::string& database,
                   const std::optional<std::string>& from) {
  Preview p;
  p.database = database;
  p.dialect = plan.dialect;
  p.from = from;
  for (const auto& part : plan.parts) {
    const Target& t = *part.target;
    std::ostringstream script;
    w.write_script(script, part);
    p.parts.push_back({t.name, t.version_table, part.direction, part.revision,
                       describe_revisions(*t.graph, part.current), part.plan.steps.size(), script.str()});
  }
  return p;
}

// The requests of a preview: the run's, checked; offline, the first starts from the rows
// `stamp --purge FROM` would leave.
std::vector<Request> preview_requests(const Workspace& w, const PreviewRequest& p) {
  std::vector<Request> requests = resolve(w, p.run);
  if (p.from) requests.front().from = migration::stamp_rows(*requests.front().target->graph, {}, *p.from, true);
  return requests;
}

Workspace open_for_preview(LoadOptions load, const PreviewRequest& p) {
  if (p.from) load.url_use = config::UrlUse::dialect;  // no connection: libpq is not asked
  Workspace w = open_for(load, p.run);
  return w;
}

}  // namespace

Workspace open_for(LoadOptions load, const RunRequest& r) {
  if (r.folder == RunRequest::Folder::plugin_source) {
    load.keep_broken = false;
    return Workspace::open_plugin_source(load);
  }
  // An internal app or an unknown name is refused before the plugins are loaded.
  if (r.scope == Scope::app) require_external_app(config::load_project(load.directory), r.app);
  if (r.scope == Scope::core || r.scope == Scope::app) load.keep_broken = true;
  return Workspace::open_project(load);
}

std::vector<Request> resolve(const Workspace& w, const RunRequest& r) {
  std::vector<Request> out;
  switch (r.scope) {
    case Scope::core:
      out.emplace_back(&w.core(), r.direction, r.revision);
      break;
    case Scope::app:
      out.emplace_back(&w.external(r.app), r.direction, r.revision);
      break;
    case Scope::everything:
      refuse_unrunnable(r);
      out = w.revert_all();
      break;
    case Scope::all:
      for (const auto& t : w.targets()) {
        if (t.graph->heads().size() > 1)
          throw Error(ErrorKind::usage,
                      (t.is_core() ? std::string("core") : "external app " + t.name) +
                          " has several heads: " + util::join(t.graph->heads(), ", "),
                      t.is_core() ? "merge them first: fastappkit migrate merge -m \"merge heads\" (or apply every "
                                    "branch of core: fastappkit migrate upgrade --revision heads)"
                                  : "the plugin's revisions must be merged in its source folder; then rebuild it");
        out.emplace_back(&t, r.direction, "head");
      }
      break;
  }
  for (const auto& q : out) migration::validate_target(*q.target->graph, q.revision);
  return out;
}

void run_on(const Workspace& w, const std::vector<Request>& requests, const config::DatabaseUrl& url,
            const RunSettings& s, Observer& o, RenderCache* cache) {
  // An SQLite file that does not exist yet is not created for a plan that cannot run.
  if (url.backend == config::Backend::sqlite && !url.is_memory() && !open_read_only(url, s.lock_timeout))
    w.plan(nullptr, sql::Dialect::sqlite, requests, cache);
  auto conn = db::open(url, db::OpenMode::read_write, s.lock_timeout);
  conn->lock_for_run(s.lock_timeout);
  // Planning reads the version tables and fastappkit_history: on PostgreSQL those reads wait at
  // most the DDL lock timeout too, as every statement of the run does (docs/lint.md), instead of
  // queueing forever behind a session that holds a lock on them.
  const bool pg = conn->dialect() == sql::Dialect::postgresql;
  if (pg) conn->execute("SET lock_timeout = '" + std::to_string(s.ddl.lock_timeout.count()) + "ms'");
  RunPlan plan;
  try {
    plan = w.plan(conn.get(), conn->dialect(), requests, cache);
  } catch (const db::DbError& e) {
    if (!pg || e.sqlstate() != "55P03") throw;
    throw db::DbError(e.failure(),
                      "reading the version tables waited more than " + std::to_string(s.ddl.lock_timeout.count()) +
                          " ms for a lock; nothing was run: " + e.what(),
                      e.statement(), e.sqlstate(),
                      "another session holds a lock on a version table or fastappkit_history (see pg_locks); end "
                      "or wait for it, then run the command again; --ddl-lock-timeout sets how long a statement waits");
  }
  for (const auto& part : plan.parts)
    for (const auto& id : part.modified) o.modified(part, id);
  w.apply(*conn, plan, o, s.ddl);
}

void migrate(const LoadOptions& load, const RunRequest& r, const RunSettings& s, Observer& o) {
  refuse_unrunnable(r);
  if (answered_at_head(load, r, s, o)) return;
  Workspace w = open_for(load, r);
  const auto requests = resolve(w, r);
  tell_notes(w, o);
  run_on(w, requests, w.url(), s, o);
}

FleetSummary migrate_fleet(const LoadOptions& load, const RunRequest& r, const std::vector<FleetDatabase>& fleet,
                           const FleetOptions& options, const RunSettings& s, Observer& notes,
                           const std::function<void(const DatabaseOutcome&)>& finished) {
  refuse_unrunnable(r);
  Workspace w = open_for(for_fleet(load), r);
  const auto requests = resolve(w, r);
  tell_notes(w, notes);
  RenderCache cache;
  // Rendered and checked once per dialect before any database is opened (SPEC §9): a plan that
  // cannot render stops the whole fleet with every database untouched. A downgrade's steps depend
  // on where each database is, so it is rendered per database (through the cache).
  if (std::all_of(requests.begin(), requests.end(),
                  [](const Request& q) { return q.direction == Direction::upgrade; })) {
    std::set<sql::Dialect> dialects;
    for (const auto& d : fleet) dialects.insert(d.url.backend);
    for (auto dialect : dialects) w.plan(nullptr, dialect, requests, &cache);
  }
  return run_fleet(
      fleet, options,
      [&](const FleetDatabase& db, DatabaseOutcome& out) {
        Counter counter(out);
        run_on(w, requests, db.url, s, counter, &cache);
        out.detail = out.total() == 0 ? std::string("up to date")
                                      : (counter.reverting() ? "reverted " : "applied ") + std::to_string(out.total());
      },
      finished);
}

FleetSummary over_fleet(const LoadOptions& load, const std::vector<FleetDatabase>& fleet, const FleetOptions& options,
                        Observer& notes, const FleetReading& work,
                        const std::function<void(const DatabaseOutcome&)>& finished) {
  const Workspace w = Workspace::open_project(for_fleet(load));
  tell_notes(w, notes);
  return run_fleet(
      fleet, options, [&](const FleetDatabase& db, DatabaseOutcome& out) { work(w, db, out); }, finished);
}

Preview preview(const LoadOptions& load, const PreviewRequest& p, const RunSettings& s) {
  Workspace w = open_for_preview(load, p);
  const auto requests = preview_requests(w, p);
  auto conn = p.from ? nullptr : open_read_only(w.url(), s.lock_timeout);
  const sql::Dialect dialect = conn ? conn->dialect() : w.url().backend;
  return preview_of(w, w.plan(conn.get(), dialect, requests), w.url().redacted(), p.from);
}

void write_preview(std::ostream& out, const Preview& p, bool headed) {
  if (headed && p.from)
    out << "-- fastappkit preview for " << sql::dialect_name(p.dialect) << " from " << *p.from
        << ", offline: no database is read; nothing is applied\n";
  else if (headed)
    out << "-- fastappkit preview on " << p.database << "; nothing is applied\n";
  for (std::size_t i = 0; i < p.parts.size(); ++i) {
    const auto& part = p.parts[i];
    out << (i > 0 ? "\n" : "") << "-- " << part.app << " (" << part.version_table
        << "): " << (part.direction == Direction::upgrade ? "upgrade" : "downgrade") << " to " << part.revision
        << " from " << part.from << "; " << part.migrations << " migration(s)\n\n"
        << part.script;
  }
}

FleetSummary preview_fleet(const LoadOptions& load, const PreviewRequest& p, const std::vector<FleetDatabase>& fleet,
                           const FleetOptions& options, const RunSettings& s, Observer& notes, bool headed) {
  if (p.from)
    throw Error(ErrorKind::usage, "preview --from reads no database; --databases names databases to read",
                "leave out --from to preview each database from where it is, or --databases for one offline script");
  Workspace w = open_for_preview(for_fleet(load), p);
  const auto requests = preview_requests(w, p);
  tell_notes(w, notes);
  RenderCache cache;  // databases at the same revisions share one rendering
  return run_fleet(fleet, options, [&](const FleetDatabase& db, DatabaseOutcome& out) {
    auto conn = open_read_only(db.url, s.lock_timeout);
    const RunPlan plan = w.plan(conn.get(), conn ? conn->dialect() : db.url.backend, requests, &cache);
    std::ostringstream script;
    write_preview(script, preview_of(w, plan, db.url.redacted(), std::nullopt), headed);
    out.script = script.str();
    for (const auto& part : plan.parts) out.counts.emplace_back(part.target->name, part.plan.steps.size());
    out.detail = out.total() == 0 ? std::string("nothing to run") : std::to_string(out.total()) + " to run";
  });
}

namespace {

Workspace open_for_stamp(LoadOptions load, const std::string& revision) {
  load.external_apps = false;
  Workspace w = Workspace::open_project(load);
  migration::stamp_rows(*w.core().graph, {}, revision, true);  // a bad target before the database is opened
  return w;
}

}  // namespace

Stamped stamp(const LoadOptions& load, const std::string& revision, bool purge, const RunSettings& s) {
  Workspace w = open_for_stamp(load, revision);
  auto conn = db::open(w.url(), db::OpenMode::read_write, s.lock_timeout);
  conn->lock_for_run(s.lock_timeout);
  Stamped out;
  out.rows = w.stamp(*conn, w.core(), revision, purge, s.ddl);
  out.database = conn->describe();
  out.graph = w.core().graph;
  return out;
}

FleetSummary stamp_fleet(const LoadOptions& load, const std::string& revision, bool purge,
                         const std::vector<FleetDatabase>& fleet, const FleetOptions& options, const RunSettings& s,
                         Observer& notes, const std::function<void(const DatabaseOutcome&)>& finished) {
  Workspace w = open_for_stamp(for_fleet(load), revision);
  tell_notes(w, notes);
  return run_fleet(
      fleet, options,
      [&](const FleetDatabase& db, DatabaseOutcome& out) {
        stamp_database(w, revision, purge, db.url, s.lock_timeout, out, s.ddl);
      },
      finished);
}

std::vector<std::string> read_current(const Workspace& w, const Target& t, std::chrono::milliseconds timeout) {
  auto conn = open_read_only(w.url(), timeout);
  return w.current(conn.get(), t);
}

Status read_status(const Workspace& w, std::chrono::milliseconds timeout, StatusOptions options) {
  auto conn = open_read_only(w.url(), timeout);
  return w.status(conn.get(), options);
}

CheckResult read_check(const Workspace& w, std::chrono::milliseconds timeout) {
  std::unique_ptr<db::Connection> conn;
  std::string note;
  try {
    conn = open_read_only(w.url(), timeout);
  } catch (const db::DbError& e) {
    if (e.failure() != db::Failure::connect) throw;
    note = std::string("database not checked: ") + e.what();
  }
  CheckResult r = w.check(conn.get());
  if (!note.empty()) {
    // Without a database only the models can be compared.
    for (auto& a : r.apps) {
      a.database_vs_migrations.clear();
      a.notes = {note};
    }
  }
  return r;
}

std::vector<lint::Finding> read_lint(const Workspace& w, sql::Dialect dialect, bool all,
                                     std::chrono::milliseconds timeout) {
  auto conn = all ? nullptr : open_read_only(w.url(), timeout);
  return w.lint(conn.get(), dialect, all);
}

AppListing list_apps(const Workspace& w, const std::optional<std::string>& database_url,
                     std::chrono::milliseconds timeout) {
  AppListing out;
  std::unique_ptr<db::Connection> conn;
  try {
    conn = open_read_only(config::resolve_database_url(database_url, w.config().root), timeout);
  } catch (const Error& e) {
    out.note = e.what();
  }
  out.database_read = conn != nullptr;
  out.status = w.status(conn.get(), {.modified = false});  // app list prints no edited revisions
  return out;
}

}  // namespace fastappkit::project
