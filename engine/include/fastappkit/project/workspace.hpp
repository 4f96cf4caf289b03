#pragma once
// One project (or one plugin source folder), loaded and checked as a whole: every target
// (core with its internal apps, each external app), which app owns which table, and the
// answers the commands need as values: plans that were rendered and checked across apps
// before the first write (SPEC §9), status, check results, new revisions. The CLI parses
// options, calls this, and formats; progress reaches it through an Observer.
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "fastappkit/config/database_url.hpp"
#include "fastappkit/config/project.hpp"
#include "fastappkit/db/connection.hpp"
#include "fastappkit/error.hpp"
#include "fastappkit/lint/lint.hpp"
#include "fastappkit/migration/graph.hpp"
#include "fastappkit/migration/models.hpp"
#include "fastappkit/project/load_options.hpp"
#include "fastappkit/run/migrator.hpp"

namespace fastappkit::plugin {
struct Plugin;
}

namespace fastappkit::project {

class RenderCache;

enum class TargetKind { core, external };

// One revision graph and its version table: core (with internal apps) or an external app.
struct Target {
  TargetKind kind = TargetKind::core;
  std::string name;                        // "core", or the external app's name
  std::string version;                     // the plugin's version ("" for core)
  std::string version_table;               // alembic_version or alembic_version_<app>
  std::filesystem::path folder;            // plugin folder or plugin source folder ("" for core)
  std::filesystem::path versions_dir;      // where new revisions are written ("" for an installed plugin)
  std::filesystem::path parse_cache;       // the parse cache its revisions load through ("" when none)
  std::vector<std::string> internal_apps;  // core only, in migration order
  std::shared_ptr<const migration::RevisionGraph> graph;
  migration::ModelSet models;    // core: core + internal apps' models; external: its own
  std::set<std::string> tables;  // the tables it owns: its models' and those its migrations name
  // The C++ steps its library registers; nullopt when no library is loaded (core, or a plugin
  // source folder that is not built): then a plan with a `call` step is refused.
  std::optional<std::set<std::string>> steps;
  std::string steps_hint;                        // what to do when a step is missing
  std::shared_ptr<const plugin::Plugin> plugin;  // keeps the library loaded for `call`

  run::CallHandler calls() const;
  bool is_core() const { return kind == TargetKind::core; }
};

// Which app a table belongs to.
struct Owner {
  enum class Kind { core, internal_app, external_app };
  Kind kind = Kind::core;
  std::string app{};  // the internal or external app's name; "" for core
  static Owner core() { return {}; }
  static Owner internal_app(std::string name) { return {Kind::internal_app, std::move(name)}; }
  static Owner external_app(std::string name) { return {Kind::external_app, std::move(name)}; }
  // "core", "internal app <name>" or "external app <name>", for messages.
  std::string describe() const;
  bool operator==(const Owner&) const = default;
  bool operator<(const Owner& o) const { return std::tie(kind, app) < std::tie(o.kind, o.app); }
};

// An external app listed in the manifest that could not be loaded, and why.
struct BrokenApp {
  std::string name;
  Error error;
};

// What a command wants done to one target.
struct Request {
  Request() = default;
  Request(const Target* t, migration::Direction d, std::string r) : target(t), direction(d), revision(std::move(r)) {}

  const Target* target = nullptr;
  migration::Direction direction = migration::Direction::upgrade;
  std::string revision = "head";
  // Offline (`preview --from`): the version rows to plan from, instead of the database's; the
  // version table is taken to exist when there are rows (as Alembic's offline mode does).
  std::optional<std::vector<std::string>> from;
};

// One target's part of a run, rendered before anything is written.
struct TargetPlan {
  const Target* target = nullptr;
  sql::Dialect dialect = sql::Dialect::sqlite;
  migration::Direction direction = migration::Direction::upgrade;
  std::string revision;
  std::vector<std::string> current;  // version rows when planned
  migration::Plan plan;
  std::vector<run::Step> steps;
  std::vector<std::string> modified;  // applied revisions whose file changed after they were applied
  bool version_table_exists = false;
};

struct RunPlan {
  sql::Dialect dialect = sql::Dialect::sqlite;
  std::vector<TargetPlan> parts;
  std::size_t step_count() const;
};

// What a run reports as it goes (Workspace::apply, and the run path of run.hpp). Every callback
// has an empty default.
class Observer {
 public:
  virtual ~Observer() = default;
  // Worth a warning, stops nothing: a plugin folder no app names, an unreadable entry in plugins/.
  virtual void note(const std::string& /*message*/) {}
  // An applied revision of `part` whose file changed after it was applied (fastappkit_history).
  virtual void modified(const TargetPlan&, const std::string& /*revision*/) {}
  // The no-op shortcut answered: core's version table holds its single head and nothing else was
  // loaded; `internal_apps` are core's, in migration order.
  virtual void at_head(const std::string& /*version_table*/, const std::string& /*head*/,
                       const std::vector<std::string>& /*internal_apps*/) {}
  virtual void part_started(const TargetPlan&, const std::string& /*database*/) {}
  virtual void step_done(const TargetPlan&, const run::StepReport&) {}
  virtual void part_done(const TargetPlan&, const std::vector<std::string>& /*rows now*/) {}
  // A migration hit the DDL lock timeout, was rolled back and is about to be tried again.
  virtual void retrying(const TargetPlan&, const std::string& /*message*/) {}
};

struct AppStatus {
  std::string name, kind, version, version_table;  // kind: "core" or "external"
  std::vector<std::string> internal_apps;          // core only
  std::vector<std::string> current, heads, pending, modified;
  // Pending transactional = false revisions a stopped run committed part of: revision -> how many
  // of their statements are committed (the next run goes on after them).
  std::map<std::string, std::size_t> half_applied;
  const migration::RevisionGraph* graph = nullptr;
  std::optional<Error> error;  // a broken external app: nothing else is known
};

struct Status {
  std::string database;  // redacted
  bool database_exists = false;
  std::vector<AppStatus> apps;  // core first, then external apps in migration order
  bool healthy() const;
};

// What Workspace::status reads besides each app's version rows.
struct StatusOptions {
  // Revisions edited after they were applied (fastappkit_history, one query per app); `app list`
  // does not print them.
  bool modified = true;
};

struct AppCheck {
  std::string name;
  std::vector<std::string> current, heads;
  std::vector<std::string> models_vs_migrations;    // what autogenerate would write
  std::vector<std::string> database_vs_migrations;  // behind, drift, edited-after-applied
  std::vector<std::string> notes;
  std::optional<Error> error;  // a broken external app
  bool ok() const { return !error && models_vs_migrations.empty() && database_vs_migrations.empty(); }
};

struct CheckResult {
  std::string database;
  std::vector<AppCheck> apps;
  bool ok() const;
  bool broken() const;
};

// One check of `app validate`.
struct ValidationItem {
  std::string name;
  bool ok = true;
  std::string message;
};

class Workspace {
 public:
  // A project root: fastappkit.toml, core and internal apps, and (with external_apps) every
  // external app's plugin, checked together. Throws Error(input/usage); nothing is opened.
  static Workspace open_project(const LoadOptions& options);
  // An external app's source folder (plugin.toml, models.toml, migrations/versions/), with its
  // own .env; the built library in build/plugins/<name>/ is used for `call` steps when present.
  static Workspace open_plugin_source(const LoadOptions& options);

  Workspace(Workspace&&) noexcept;
  Workspace& operator=(Workspace&&) noexcept;
  ~Workspace();

  bool is_plugin_source() const { return plugin_source_; }
  const config::ProjectConfig& config() const { return config_; }
  const config::DatabaseUrl& url() const { return url_; }
  // Core first (or the plugin source's one target), then external apps in migration order.
  const std::vector<Target>& targets() const { return targets_; }
  const Target& core() const { return targets_.front(); }
  // An external app by name; Error(usage) for an internal app (its migrations are core's), a
  // broken app (its error), or an unknown name (with a did-you-mean).
  const Target& external(std::string_view name) const;
  const std::vector<BrokenApp>& broken() const { return broken_; }
  // Things worth a warning that do not stop anything (a plugin folder no app names).
  const std::vector<std::string>& notes() const { return notes_; }
  // Throws the first broken app's error.
  void require_healthy() const;
  // The app a table belongs to; nullopt for a table no app owns.
  std::optional<Owner> owner_of(const std::string& table) const;

  // Reads every requested target's version rows, plans, renders each step, resolves every
  // `call` against its library and refuses a plan that would reach into another app's data
  // (a core change that drops or alters a table or column an applied external app's tables
  // reference), all before anything is written. `conn` may be null (no database yet). With a
  // `cache` (a fleet run), steps already rendered for the same rows and dialect are reused.
  RunPlan plan(db::Connection* conn, sql::Dialect dialect, const std::vector<Request>& requests,
               RenderCache* cache = nullptr) const;
  // Runs a plan's parts in order, each step in its own transaction (Migrator::run).
  void apply(db::Connection& conn, const RunPlan& plan, Observer& observer, const run::DdlPolicy& ddl = {}) const;
  // `migrate lint`: the rules of lint::rules() over every target's pending revisions (those
  // not applied on `conn`; every revision when `conn` is null or `all`), core first, for
  // `dialect`. A lint_ignore naming no rule throws Error(input) at its file:line:col.
  std::vector<lint::Finding> lint(db::Connection* conn, sql::Dialect dialect, bool all) const;
  // The findings for a revision file just written on the target's heads (makemigrations prints
  // them), read back from `file` so that they carry its lines.
  std::vector<lint::Finding> lint_new_revision(const Target& t, const std::filesystem::path& file,
                                               sql::Dialect dialect) const;
  // The same for chained files just written (write_revisions): each linted on the state after
  // the ones before it.
  std::vector<std::vector<lint::Finding>> lint_new_revisions(const Target& t,
                                                             const std::vector<std::filesystem::path>& files,
                                                             sql::Dialect dialect) const;
  // The plan as an SQL script, as apply would send it (preview).
  void write_script(std::ostream& out, const TargetPlan& part) const;

  // Requests that revert the whole project in order: external apps in reverse migration
  // order, then core, each to base.
  std::vector<Request> revert_all() const;

  Status status(db::Connection* conn, StatusOptions options = {}) const;
  // Models vs migrations vs database for every target (core and internal apps against their
  // models, each external app against its own), with revisions edited after they were applied.
  CheckResult check(db::Connection* conn) const;

  // The revision graphs of every target as Graphviz DOT: one cluster per app, down_revision
  // edges solid, depends_on dashed, and a dotted edge for each foreign key from an external
  // app's table to a core table (from the revision creating the one to the revision creating
  // the other).
  std::string graph_dot() const;

  // Version rows of a target.
  std::vector<std::string> current(db::Connection* conn, const Target& t) const;
  // Sets a target's version table as Alembic's `stamp [--purge]` does (migration::stamp_rows:
  // rows of unrelated branches kept unless `purge`), without running migrations; returns the
  // rows now.
  std::vector<std::string> stamp(db::Connection& conn, const Target& t, const std::string& revision, bool purge,
                                 const run::DdlPolicy& ddl = {}) const;

  // A new revision from the difference between the models and the migrations' head:
  // nullopt when there is none. For core, `app` is the internal app it is made for ("" for
  // core); a model table owned by an external app is refused, naming both.
  std::optional<migration::Migration> autogenerate(const Target& t, const std::string& app,
                                                   const std::string& message) const;
  // The same as one or more chained revisions for `dialect`: on PostgreSQL a revision that mixes
  // transactional changes with indexes or foreign keys added to existing tables is split into
  // online-safe parts (migration::split_online_safe); elsewhere one revision. Empty: no changes.
  std::vector<migration::Migration> autogenerate(const Target& t, const std::string& app, const std::string& message,
                                                 sql::Dialect dialect) const;
  // A merge of the current heads; nullopt when there are fewer than two.
  std::optional<migration::Migration> merge(const Target& t, const std::string& message) const;
  // An empty revision on the single head.
  migration::Migration empty_revision(const Target& t, const std::string& message) const;
  // Writes `m` (a fresh id unless it has one the graph lacks; create_date now) into the
  // target's versions folder, reads it back,
  // and returns the file; never overwrites.
  std::filesystem::path write_revision(const Target& t, migration::Migration m) const;
  // Writes `ms` in order, each after the one before (down_revision), and returns the files.
  std::vector<std::filesystem::path> write_revisions(const Target& t, std::vector<migration::Migration> ms) const;

 private:
  Workspace();
  // The manifest's external apps in migration order, each loaded or broken.
  template <class Healthy, class Broken>
  void for_each_external(Healthy&& healthy, Broken&& broken) const;
  bool plugin_source_ = false;
  config::ProjectConfig config_;
  config::DatabaseUrl url_;
  std::vector<Target> targets_;
  std::vector<BrokenApp> broken_;
  std::vector<std::string> notes_;
  std::map<std::string, Owner> owner_;  // table -> the app it belongs to
};

// Refuses a name that is not an external app of the project, before anything is loaded: an
// internal app (its migrations are core's: use the unified commands) or an unknown name.
void require_external_app(const config::ProjectConfig& config, std::string_view name);
// Refuses a name that is not an internal app (external apps make their revisions in their own
// source folder: the hint says how) or not an app at all (with a did-you-mean).
void require_internal_app(const config::ProjectConfig& config, std::string_view name);
// The same for the project at `directory`, reading only its fastappkit.toml.
void require_internal_app(const std::filesystem::path& directory, std::string_view name);

// Every check for one app of a project, each passing or failing on its own (app validate).
struct AppValidation {
  bool internal = false;  // an internal app (else external)
  std::vector<ValidationItem> items;
  bool ok() const;
};
AppValidation validate_app(const LoadOptions& options, const std::string& name);

// The version rows a set of applied revisions leaves, for messages: "base (nothing applied)"
// or "id (head), id".
std::string describe_revisions(const migration::RevisionGraph& g, const std::vector<std::string>& rows);

}  // namespace fastappkit::project
