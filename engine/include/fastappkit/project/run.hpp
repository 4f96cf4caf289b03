#pragma once
// The run path: every command that reads or moves databases calls one of these, for one
// database or for each database of a fleet (SPEC §6, §9, §10). The CLI turns its options into a
// request and prints what comes back or what the Observer reports; it loads, opens, plans and
// sequences nothing itself.
//
// A run on one database is always the same sequence (run_on): the targets were checked before
// any database is opened; an SQLite file that does not exist yet is planned without a database
// first, so a plan that cannot render does not create it; then open for writing, take the run
// lock, plan (reading the version tables under the lock), report revisions edited after they were
// applied, apply each step in its own transaction. `migrate` puts the no-op shortcut in front of
// it; `migrate_fleet` loads once, renders once per dialect before any database is opened, then
// calls run_on for each database.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "fastappkit/config/database_url.hpp"
#include "fastappkit/migration/graph.hpp"
#include "fastappkit/project/fleet.hpp"
#include "fastappkit/project/load_options.hpp"
#include "fastappkit/project/render_cache.hpp"
#include "fastappkit/project/workspace.hpp"
#include "fastappkit/run/migrator.hpp"

namespace fastappkit::project {

// What a run command asks for, before anything is loaded.
struct RunRequest {
  enum class Scope {
    core,        // core with its internal apps (migrate upgrade / downgrade; plugin upgrade / downgrade)
    all,         // core, then every external app in migration order, each to its head (migrate all)
    everything,  // every app to base: external apps in reverse order, then core (downgrade base --all)
    app,         // one external app (migrate app <name> upgrade / downgrade)
  };
  enum class Folder {
    project,        // a project root (fastappkit.toml)
    plugin_source,  // an external app's source folder (plugin.toml), its one graph as `core`
  };
  Scope scope = Scope::core;
  Folder folder = Folder::project;
  std::string app{};  // Scope::app
  migration::Direction direction = migration::Direction::upgrade;
  std::string revision = "head";
};

// How a run waits: the run lock (and SQLite's busy timeout), and each DDL statement.
struct RunSettings {
  std::chrono::milliseconds lock_timeout{60000};
  run::DdlPolicy ddl;
};

// The project (or plugin source folder) a request needs, loaded as it needs it: a run of core or
// of one app goes on past a broken plugin it does not include; `all` and `everything` do not.
Workspace open_for(LoadOptions load, const RunRequest& request);

// The request's per-target requests, refused before any database is opened when an app or a
// target revision is unknown, or (`all`) when a graph has several heads.
std::vector<Request> resolve(const Workspace& w, const RunRequest& request);

// One run on one database, the sequence of the header. With a `cache` (a fleet), steps already
// rendered for the same rows and dialect are reused.
void run_on(const Workspace& w, const std::vector<Request>& requests, const config::DatabaseUrl& url,
            const RunSettings& settings, Observer& observer, RenderCache* cache = nullptr);

// A run command on the project's own database. `core` or `all` to head first asks the head
// snapshot (head_snapshot.hpp): when it answers, observer.at_head is all that happens and nothing
// else is loaded; otherwise open_for, resolve and run_on.
void migrate(const LoadOptions& load, const RunRequest& request, const RunSettings& settings, Observer& observer);

// The same request on every database of a fleet, up to options.jobs at a time. The project is
// loaded once without a URL; an upgrade is rendered once per dialect of the fleet before any
// database is opened, so a plan that cannot render stops the fleet with every database untouched.
// `notes` gets the load's notes; `finished` each database's outcome as it ends.
FleetSummary migrate_fleet(const LoadOptions& load, const RunRequest& request, const std::vector<FleetDatabase>& fleet,
                           const FleetOptions& options, const RunSettings& settings, Observer& notes,
                           const std::function<void(const DatabaseOutcome&)>& finished = {});

// Any per-database work over a fleet (status, current, check, lint): the project loaded once
// without a URL (its notes to `notes`), then `work` for each database, up to options.jobs at a time.
using FleetReading = std::function<void(const Workspace&, const FleetDatabase&, DatabaseOutcome&)>;
FleetSummary over_fleet(const LoadOptions& load, const std::vector<FleetDatabase>& fleet, const FleetOptions& options,
                        Observer& notes, const FleetReading& work,
                        const std::function<void(const DatabaseOutcome&)>& finished = {});

// --- preview: the SQL a run would send, nothing applied ---

struct PreviewRequest {
  RunRequest run;  // scope core, all (each external app to its head) or app
  // Offline: as if the database were stamped at this revision (Alembic's --sql with a start
  // revision); no database is opened and a PostgreSQL URL is not handed to libpq.
  std::optional<std::string> from;
};

struct PreviewPart {
  std::string app, version_table;
  migration::Direction direction = migration::Direction::upgrade;
  std::string revision;  // the target
  std::string from;      // the rows it starts from, described ("base (nothing applied)", "id (head)")
  std::size_t migrations = 0;
  std::string script;  // the statements, as apply would send them
};

struct Preview {
  std::string database;  // redacted URL
  sql::Dialect dialect = sql::Dialect::sqlite;
  std::optional<std::string> from;  // offline
  std::vector<PreviewPart> parts;
};

Preview preview(const LoadOptions& load, const PreviewRequest& request, const RunSettings& settings);
// The preview as `migrate preview` prints it: with `headed`, the line naming the database (or
// the offline start) first; then each part's header line and its script.
void write_preview(std::ostream& out, const Preview& p, bool headed);
// Each database's preview (not offline), its script in the outcome.
FleetSummary preview_fleet(const LoadOptions& load, const PreviewRequest& request,
                           const std::vector<FleetDatabase>& fleet, const FleetOptions& options,
                           const RunSettings& settings, Observer& notes, bool headed);

// --- stamp: core's version table set without running migrations ---

struct Stamped {
  std::string database;                                   // Connection::describe()
  std::vector<std::string> rows;                          // the rows now
  std::shared_ptr<const migration::RevisionGraph> graph;  // core's, for describing the rows
};

// The revision is checked against core's graph before the database is opened (migration::stamp_rows).
Stamped stamp(const LoadOptions& load, const std::string& revision, bool purge, const RunSettings& settings);
FleetSummary stamp_fleet(const LoadOptions& load, const std::string& revision, bool purge,
                         const std::vector<FleetDatabase>& fleet, const FleetOptions& options,
                         const RunSettings& settings, Observer& notes,
                         const std::function<void(const DatabaseOutcome&)>& finished = {});

// --- reading commands on the workspace's own database, opened read-only: an SQLite file that
// does not exist yet is read as empty and never created ---

std::vector<std::string> read_current(const Workspace& w, const Target& t, std::chrono::milliseconds lock_timeout);
Status read_status(const Workspace& w, std::chrono::milliseconds lock_timeout, StatusOptions options = {});
// A server that cannot be reached (or an SQLite file that cannot be opened) is not an error
// here: only the models are compared, and each app carries a note saying the database was not
// checked.
CheckResult read_check(const Workspace& w, std::chrono::milliseconds lock_timeout);
std::vector<lint::Finding> read_lint(const Workspace& w, sql::Dialect dialect, bool all,
                                     std::chrono::milliseconds lock_timeout);

// `app list`: the apps with their state when a database can be read. The URL is optional here:
// without one (or when it cannot be opened) `note` says why the state is unknown.
struct AppListing {
  Status status;
  bool database_read = false;  // a database was opened (an SQLite file not created yet is not)
  std::string note;            // why the state is unknown; "" when it is known
};
AppListing list_apps(const Workspace& w, const std::optional<std::string>& database_url,
                     std::chrono::milliseconds lock_timeout);

}  // namespace fastappkit::project
