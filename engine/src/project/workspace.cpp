#include "fastappkit/project/workspace.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <fstream>
#include <ostream>

#include "fastappkit/db/connection.hpp"
#include "fastappkit/migration/autogenerate.hpp"
#include "fastappkit/migration/parse_cache.hpp"
#include "fastappkit/migration/validate.hpp"
#include "fastappkit/plugin/host.hpp"
#include "fastappkit/project/fleet.hpp"
#include "fastappkit/project/head_snapshot.hpp"
#include "fastappkit/util/heap.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::project {

namespace fs = std::filesystem;
using migration::Direction;

namespace {

// Parse caches (migration/parse_cache.hpp), beside the project or plugin source folder.
constexpr const char* kCacheDir = ".fastappkit/cache";  // no fs::path global: built before main

// The tables of fastappkit's own bookkeeping, which no app may name.
bool is_bookkeeping(const std::string& t) { return t.rfind("alembic_version", 0) == 0 || t == run::kHistoryTable; }

SourceLocation op_location(const migration::Migration& m, const migration::Operation& op) {
  return {m.path, op.line, op.col};
}

std::vector<std::string> pending_of(const migration::RevisionGraph& g, const std::set<std::string>& applied) {
  std::vector<std::string> out;
  for (const auto& id : g.topological(g.ancestors(g.heads())))
    if (!applied.count(id)) out.push_back(id);
  return out;
}

std::string utc_now() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::vector<std::string> single_parent(const migration::RevisionGraph& g) {
  auto heads = g.heads();
  if (heads.size() > 1)
    throw Error(ErrorKind::input,
                "Multiple heads are present: " + util::join(heads, ", ") + "; a new revision needs one parent",
                "merge them first: fastappkit migrate merge -m \"merge heads\"");
  return heads;
}

// Constraint names SQLite does not keep are replaced by their shape on both sides, and
// defaults are put in one form, so only real differences remain.
migration::Schema comparable(migration::Schema s, bool names_kept) {
  for (auto& [name, t] : s.tables) {
    for (auto& c : t.columns)
      if (c.default_value) c.default_value = sql::normalize_default(*c.default_value);
    if (names_kept) continue;
    for (auto& fk : t.foreign_keys)
      fk.name = "foreign key (" + util::join(fk.columns, ", ") + ") -> " + fk.references_table;
    for (auto& u : t.uniques) u.name = "unique (" + util::join(u.columns, ", ") + ")";
  }
  return s;
}

std::vector<std::string> differences(const migration::Schema& expected, const migration::Schema& actual) {
  std::vector<std::string> out;
  try {
    for (const auto& op : migration::diff(expected, actual)) out.push_back(migration::describe(op));
  } catch (const Error& e) {
    out.push_back(e.message());
  }
  return out;
}

// A plugin's own tables checked against the tables core and earlier plugins own; a foreign key
// may reference only its own tables and core's.
void check_plugin_tables(const Target& t, std::map<std::string, std::string>& owner,
                         const migration::Schema& core_tables) {
  for (const auto& table : t.tables) {
    auto [o, inserted] = owner.emplace(table, "external app " + t.name);
    if (!inserted && o->second != "external app " + t.name)
      throw Error(
          ErrorKind::input,
          "plugin folder " + t.folder.string() + ": table '" + table + "' collides with a table of " + o->second,
          "rename the plugin's table (prefix it with the app name)");
  }
  for (const auto& [name, tab] : t.models.schema.tables)
    for (const auto& fk : tab.foreign_keys)
      if (!t.models.schema.tables.count(fk.references_table) && !core_tables.tables.count(fk.references_table))
        throw Error(ErrorKind::input,
                    "plugin folder " + t.folder.string() + ": table '" + name + "' references '" + fk.references_table +
                        "', which is neither its own nor a core table",
                    "an external app's tables may reference only its own and core tables");
}

}  // namespace

run::CallHandler Target::calls() const {
  if (!plugin) return {};
  auto p = plugin;
  return [p](const migration::Operation& op, db::Connection& conn) { p->call(op, conn); };
}

std::size_t RunPlan::step_count() const {
  std::size_t n = 0;
  for (const auto& p : parts) n += p.steps.size();
  return n;
}

bool Status::healthy() const {
  return std::none_of(apps.begin(), apps.end(), [](const AppStatus& a) { return a.error.has_value(); });
}

bool CheckResult::ok() const {
  return std::all_of(apps.begin(), apps.end(), [](const AppCheck& a) { return a.ok(); });
}

bool CheckResult::broken() const {
  return std::any_of(apps.begin(), apps.end(), [](const AppCheck& a) { return a.error.has_value(); });
}

std::string describe_revisions(const migration::RevisionGraph& g, const std::vector<std::string>& rows) {
  if (rows.empty()) return "base (nothing applied)";
  auto heads = g.heads();
  std::vector<std::string> parts;
  for (const auto& id : rows)
    parts.push_back(id + (std::find(heads.begin(), heads.end(), id) != heads.end() ? " (head)" : ""));
  return util::join(parts, ", ");
}

Workspace::Workspace() = default;
Workspace::Workspace(Workspace&&) noexcept = default;
Workspace& Workspace::operator=(Workspace&&) noexcept = default;
Workspace::~Workspace() = default;

Workspace Workspace::open_project(const LoadOptions& o) {
  const std::int64_t began = migration::wall_clock_ns();
  util::grow_heap_in_huge_pages();  // a load builds megabytes of revisions: 2 MiB pages, fewer faults
  Workspace w;
  w.config_ = config::load_project(o.directory);
  const auto& cfg = w.config_;
  for (const auto& app : cfg.apps) {
    if (app.internal && !fs::is_directory(cfg.root / "apps" / app.name))
      throw Error(
          ErrorKind::input, SourceLocation{cfg.config_path.string(), app.line, app.col},
          "internal app '" + app.name + "' has no folder " + (cfg.root / "apps" / app.name).string(),
          "create it with 'fastappkit app new " + app.name + "', or remove \"apps." + app.name + "\" from apps");
  }
  if (!fs::is_directory(cfg.versions_dir()))
    throw Error(ErrorKind::input, "Core migrations directory not found: " + cfg.versions_dir().string(),
                "check the project structure: core/db/migrations/versions/ must exist");
  start_loading_client(o, cfg.root);
  const fs::path core_cache = cfg.root / kCacheDir / "core.bin";
  migration::ParseCache cache(core_cache);
  std::vector<migration::ListedEntry> listing;  // for the head snapshot: the folder listed once
  auto migrations = migration::load_migrations(cfg.versions_dir(), {}, cache, cache.enabled() ? &listing : nullptr);
  auto internal = cfg.internal_apps();
  for (const auto& m : migrations) {
    if (!m.app.empty() && m.app != "core" && std::find(internal.begin(), internal.end(), m.app) == internal.end())
      throw Error(ErrorKind::input, m.path + ": app = \"" + m.app + "\" is not an internal app of this project",
                  "list \"apps." + m.app + "\" in fastappkit.toml, or fix the app key of this revision");
    for (const auto* ops : {&m.upgrade, &m.downgrade})
      for (const auto& op : *ops)
        if (is_bookkeeping(op.table))
          throw Error(ErrorKind::input, op_location(m, op),
                      "table '" + op.table + "' belongs to fastappkit's bookkeeping",
                      "the version tables and fastappkit_history are managed by fastappkit");
  }
  Target core;
  core.kind = TargetKind::core;
  core.name = "core";
  core.version_table = "alembic_version";
  core.versions_dir = cfg.versions_dir();
  core.parse_cache = core_cache;
  core.internal_apps = internal;
  core.graph = std::make_shared<const migration::RevisionGraph>(std::move(migrations));
  cache.validate(*core.graph);
  cache.save();
  core.steps_hint = "'call' steps exist only in external apps (plugins)";
  if (o.need_url) w.url_ = config::resolve_database_url(o.database_url, cfg.root, o.url_use);

  const auto external = cfg.external_apps();
  if (o.external_apps) {
    core.models = migration::load_project_models(cfg.root, internal);
    // Only a load that read the models too is what `migrate upgrade` and `migrate all` load.
    HeadSnapshot::record(cfg, *core.graph, listing, began);
  }
  const std::set<std::string> core_named = migration::tables_named(*core.graph);
  core.tables = core_named;
  for (const auto& [t, tab] : core.models.schema.tables) core.tables.insert(t);
  for (const auto& [t, a] : core.models.owner) w.owner_[t] = a == "core" ? "core" : "internal app " + a;
  for (const auto& t : core.tables) w.owner_.emplace(t, "core");
  w.targets_.push_back(std::move(core));
  if (!o.external_apps) return w;

  // Every table core's migrations or models know, for the plugins' foreign keys.
  migration::Schema core_tables;
  if (!external.empty()) {
    const auto& g = *w.targets_.front().graph;
    core_tables = migration::state_at(g, g.ancestors(g.heads()));
  }
  for (const auto& [t, tab] : w.targets_.front().models.schema.tables) core_tables.tables.emplace(t, tab);
  std::map<std::string, std::string> owner;  // what plugins may not take: core's migrations and earlier plugins
  for (const auto& t : core_named) owner.emplace(t, w.owner_.count(t) ? w.owner_[t] : "core");

  // Discovery folder by folder, so that one unreadable plugin.toml marks only its own app.
  std::map<std::string, plugin::Manifest> manifests;
  std::map<std::string, Error> discovery_errors;  // by app name, or by folder name when the manifest is unreadable
  std::optional<Error> untrusted;                 // a plugin_paths folder nothing in which is trusted
  try {
    for (auto& f : plugin::discover_folders(cfg)) {
      if (f.error) {
        discovery_errors.emplace(f.folder.filename().string(), *f.error);
        continue;
      }
      auto [it, inserted] = manifests.emplace(f.manifest->name, *f.manifest);
      if (!inserted)
        discovery_errors.emplace(f.manifest->name, Error(ErrorKind::input,
                                                         "two plugin folders hold app '" + f.manifest->name + "': " +
                                                             it->second.folder.string() + " and " + f.folder.string(),
                                                         "remove one of them from the plugin paths"));
    }
  } catch (const Error& e) {
    untrusted = e;
  }
  for (const auto& [name, m] : manifests)
    if (std::find(external.begin(), external.end(), name) == external.end())
      w.notes_.push_back("plugin folder " + m.folder.string() + " holds app '" + name + "', which " +
                         cfg.config_path.filename().string() + " does not list: it is not migrated (add \"" + name +
                         "\" to apps to migrate it)");
  for (const auto& name : external) {
    try {
      if (untrusted) throw *untrusted;
      if (auto d = discovery_errors.find(name); d != discovery_errors.end()) throw d->second;
      auto it = manifests.find(name);
      if (it == manifests.end()) {
        std::vector<std::string> names;
        for (const auto& [n, m] : manifests) names.push_back(n);
        std::string near = util::did_you_mean(name, names), paths;
        for (const auto& p : cfg.plugin_paths) paths += (paths.empty() ? "" : ", ") + (cfg.root / p).string();
        throw Error(ErrorKind::input,
                    "external app '" + name + "' is listed in " + cfg.config_path.string() +
                        " but no plugin folder in " + (paths.empty() ? std::string("(no plugin_paths)") : paths) +
                        " holds it",
                    near.empty() ? "drop the plugin's folder (plugin.toml + library) into " +
                                       (paths.empty() ? std::string("plugins/") : paths)
                                 : "did you mean '" + near + "'?");
      }
      migration::ParseCache plugin_cache(cfg.root / kCacheDir / ("app-" + name + ".bin"));
      auto loaded = std::make_shared<plugin::Plugin>(plugin::load(it->second, &plugin_cache));
      plugin_cache.save();
      Target t;
      t.kind = TargetKind::external;
      t.name = name;
      t.version = loaded->manifest.version;
      t.version_table = loaded->version_table();
      t.folder = loaded->manifest.folder;
      t.graph = std::shared_ptr<const migration::RevisionGraph>(loaded, loaded->graph.get());
      t.models = loaded->models;
      t.tables = loaded->tables();
      t.steps = std::set<std::string>(loaded->step_names.begin(), loaded->step_names.end());
      t.steps_hint = "rebuild the plugin so its library registers that step (FASTAPPKIT_STEP)";
      t.plugin = loaded;
      std::map<std::string, std::string> trial = owner;
      check_plugin_tables(t, trial, core_tables);
      owner = std::move(trial);
      for (const auto& table : t.tables) w.owner_[table] = "external app " + name;
      w.targets_.push_back(std::move(t));
    } catch (const Error& e) {
      if (!o.keep_broken) throw;
      w.broken_.push_back({name, e});
    }
  }
  // A model of core or an internal app that declares an external app's table: the model is
  // wrong (the table is the plugin's), so this is refused at the model, naming both.
  const auto& models = w.targets_.front().models;
  for (const auto& [table, app] : models.owner) {
    auto o2 = w.owner_.find(table);
    if (o2 == w.owner_.end() || o2->second.rfind("external app ", 0) != 0) continue;
    const std::string declared_by = app == "core" ? "core" : "internal app '" + app + "'";
    throw Error(ErrorKind::input, models.origin.at(table),
                "table '" + table + "' is declared by " + declared_by + " but belongs to " + o2->second.substr(0, 13) +
                    "'" + o2->second.substr(13) + "'",
                "an external app's tables are its own: rename this table, or remove it from the models");
  }
  return w;
}

Workspace Workspace::open_plugin_source(const LoadOptions& o) {
  Workspace w;
  w.plugin_source_ = true;
  std::error_code ec;
  fs::path folder = fs::weakly_canonical(fs::absolute(o.directory), ec);
  if (!fs::is_regular_file(folder / "plugin.toml"))
    throw Error(ErrorKind::input, "not a plugin source folder: " + (folder / "plugin.toml").string() + " not found",
                "run in the folder 'fastappkit app new <name> --as-plugin' made, or pass -C <plugin folder>");
  plugin::Manifest manifest = plugin::read_manifest(folder);
  start_loading_client(o, folder);
  Target t;
  t.kind = TargetKind::external;
  t.name = manifest.name;
  t.version = manifest.version;
  t.version_table = "alembic_version_" + manifest.name;
  t.folder = folder;
  t.versions_dir = folder / "migrations" / "versions";
  if (!fs::is_directory(t.versions_dir))
    throw Error(ErrorKind::input, "migrations directory not found: " + t.versions_dir.string(),
                "create migrations/versions/ in the plugin folder");
  t.parse_cache = folder / kCacheDir / (manifest.name + ".bin");
  migration::ParseCache cache(t.parse_cache);
  auto migrations = migration::load_migrations(t.versions_dir, {.allow_call = true}, cache);
  for (const auto& m : migrations)
    for (const auto* ops : {&m.upgrade, &m.downgrade})
      for (const auto& op : *ops)
        if (is_bookkeeping(op.table))
          throw Error(ErrorKind::input, op_location(m, op),
                      "table '" + op.table + "' belongs to fastappkit's bookkeeping",
                      "the app's version table (" + t.version_table + ") is managed by fastappkit");
  t.graph = std::make_shared<const migration::RevisionGraph>(std::move(migrations));
  cache.validate(*t.graph, {.foreign_tables_allowed = true});  // a plugin's tables may reference core's
  cache.save();
  fs::path models = folder / "models.toml";
  if (fs::is_regular_file(models))
    t.models = migration::parse_models(util::read_file(models.string()), models.string(), manifest.name);
  t.tables = migration::tables_named(*t.graph);
  for (const auto& [name, tab] : t.models.schema.tables) t.tables.insert(name);
  fs::path built = folder / "build" / "plugins" / manifest.name;
  t.steps_hint = "build the plugin: cmake -S . -B build && cmake --build build (fastappkit loads build/plugins/" +
                 manifest.name + ")";
  if (fs::is_regular_file(built / "plugin.toml")) {
    auto loaded = std::make_shared<plugin::Plugin>(plugin::load(plugin::read_manifest(built)));
    t.steps = std::set<std::string>(loaded->step_names.begin(), loaded->step_names.end());
    t.plugin = loaded;
  }
  for (const auto& table : t.tables) w.owner_[table] = "external app " + t.name;
  if (o.need_url) w.url_ = config::resolve_database_url(o.database_url, folder, o.url_use);
  w.targets_.push_back(std::move(t));
  return w;
}

void start_loading_client(const LoadOptions& o, const fs::path& root) {
  if (!o.need_url || o.url_use != config::UrlUse::connect) return;
  try {
    db::start_loading_client(config::resolve_database_url(o.database_url, root, config::UrlUse::dialect).backend);
  } catch (const std::exception&) {
    // Reported where the URL is resolved.
  }
}

void require_external_app(const config::ProjectConfig& config, std::string_view name) {
  std::vector<std::string> names;
  for (const auto& a : config.apps) {
    names.push_back(a.name);
    if (a.name != name) continue;
    if (a.internal)
      throw Error(ErrorKind::usage,
                  "per-app upgrade/downgrade/preview is not supported for internal app '" + a.name +
                      "': its migrations are part of core",
                  "use the unified commands: fastappkit migrate upgrade, fastappkit migrate downgrade <rev>, "
                  "fastappkit migrate preview");
    return;
  }
  std::string near = util::did_you_mean(name, names);
  throw Error(ErrorKind::usage, "no app '" + std::string(name) + "' in " + config.config_path.string(),
              near.empty() ? "apps are listed in [tool.fastappkit] apps" : "did you mean '" + near + "'?");
}

const Target& Workspace::external(std::string_view name) const {
  require_external_app(config_, name);
  for (const auto& t : targets_)
    if (!t.is_core() && t.name == name) return t;
  for (const auto& b : broken_)
    if (b.name == name) throw b.error;
  throw Error(ErrorKind::usage, "external app '" + std::string(name) + "' was not loaded",
              "run 'fastappkit app validate " + std::string(name) + "'");
}

void Workspace::require_healthy() const {
  if (!broken_.empty()) throw broken_.front().error;
}

std::string Workspace::owner_of(const std::string& table) const {
  auto it = owner_.find(table);
  return it == owner_.end() ? std::string() : it->second;
}

std::vector<std::string> Workspace::current(db::Connection* conn, const Target& t) const {
  if (!conn) return {};
  run::Migrator m(*t.graph, t.name, t.version_table, conn->dialect());
  return m.current(conn);
}

namespace {

// Every `call` of the plan must name a step the target's library registers: checked before
// the first write, so a stale library cannot stop a run halfway (SPEC §9).
void resolve_calls(const Target& t, const TargetPlan& part) {
  for (const auto& step : part.steps)
    for (const auto& [index, op] : step.calls) {
      if (!t.steps)
        throw Error(ErrorKind::input, op_location(*step.migration, *op),
                    "revision " + step.migration->revision + " calls C++ step '" + op->extra().function +
                        "', which runs from the plugin's library",
                    t.steps_hint);
      if (!t.steps->count(op->extra().function)) {
        std::vector<std::string> have(t.steps->begin(), t.steps->end());
        throw Error(ErrorKind::input, op_location(*step.migration, *op),
                    "revision " + step.migration->revision + " calls C++ step '" + op->extra().function +
                        "', which the library of " + t.name + " does not register (" +
                        (have.empty() ? std::string("it registers none") : "its steps: " + util::join(have, ", ")) +
                        ")",
                    t.steps_hint);
      }
    }
}

struct Touch {
  bool whole = false;
  std::set<std::string> columns;
  std::string revision, what;  // the first revision that touches it, and how
};

// Tables and columns a core plan drops, renames or retypes: from its operations (a table
// dropped and made again inside the plan still lost its rows) and from the schema before and
// after the plan.
std::map<std::string, Touch> touched_by(const TargetPlan& part, const migration::Schema& before,
                                        const migration::Schema& after) {
  std::map<std::string, Touch> out;
  auto whole = [&](const std::string& table, const std::string& rev, const std::string& what) {
    auto& x = out[table];
    if (x.revision.empty() || !x.whole) {
      x.revision = rev;
      x.what = what;
    }
    x.whole = true;
  };
  auto column = [&](const std::string& table, const std::string& col, const std::string& rev, const std::string& what) {
    auto& x = out[table];
    if (x.revision.empty()) {
      x.revision = rev;
      x.what = what;
    }
    x.columns.insert(col);
  };
  for (const auto& step : part.steps) {
    const auto& m = *step.migration;
    const auto& ops = step.direction == Direction::upgrade ? m.upgrade : m.downgrade;
    for (const auto& op : ops) {
      switch (op.kind) {
        case migration::OpKind::drop_table:
          whole(op.table, m.revision, "drops table '" + op.table + "'");
          break;
        case migration::OpKind::rename_table:
          whole(op.table, m.revision, "renames table '" + op.table + "'");
          break;
        case migration::OpKind::drop_column:
          column(op.table, op.column_name, m.revision, "drops column '" + op.table + "." + op.column_name + "'");
          break;
        case migration::OpKind::alter_column:
          if (!op.new_name.empty() || op.new_type)
            column(op.table, op.column_name, m.revision, "alters column '" + op.table + "." + op.column_name + "'");
          break;
        case migration::OpKind::create_table:
        case migration::OpKind::add_column:
        case migration::OpKind::create_index:
        case migration::OpKind::drop_index:
        case migration::OpKind::create_unique:
        case migration::OpKind::create_foreign_key:
        case migration::OpKind::create_check_constraint:
        case migration::OpKind::drop_constraint:
        case migration::OpKind::validate_constraint:
        case migration::OpKind::execute:
        case migration::OpKind::call:
          break;
      }
    }
  }
  const std::string last = part.steps.empty() ? std::string() : part.steps.back().migration->revision;
  for (const auto& [name, table] : before.tables) {
    const auto* now = after.find(name);
    if (!now) {
      if (!out.count(name) || !out[name].whole) whole(name, last, "removes table '" + name + "'");
      continue;
    }
    for (const auto& c : table.columns) {
      const auto* n = now->find_column(c.name);
      if (!n || n->type != c.type) column(name, c.name, last, "changes column '" + name + "." + c.name + "'");
    }
  }
  return out;
}

}  // namespace

RunPlan Workspace::plan(db::Connection* conn, sql::Dialect dialect, const std::vector<Request>& requests,
                        RenderCache* cache) const {
  RunPlan rp;
  rp.dialect = dialect;
  // What each target will have applied once the earlier parts of this run are done.
  std::map<const Target*, std::set<std::string>> after;
  for (const auto& req : requests) {
    const Target& t = *req.target;
    run::Migrator m(*t.graph, t.name, t.version_table, dialect, t.calls());
    TargetPlan part;
    part.target = &t;
    part.direction = req.direction;
    part.revision = req.revision;
    part.dialect = dialect;
    part.current = req.from ? *req.from : m.current(conn);
    migration::validate_target(*t.graph, req.revision);
    part.plan = req.direction == Direction::upgrade ? migration::plan_upgrade(*t.graph, part.current, req.revision)
                                                    : migration::plan_downgrade(*t.graph, part.current, req.revision);
    part.steps =
        cache ? cache->steps(t, dialect, part.plan, part.current, [&] { return m.render(part.plan, part.current); })
              : m.render(part.plan, part.current);
    resolve_calls(t, part);
    std::set<std::string> applied = migration::applied_set(*t.graph, part.current, t.version_table);
    if (req.from) part.version_table_exists = !req.from->empty();
    if (conn) {
      part.version_table_exists = conn->table_exists(t.version_table);
      if (req.direction == Direction::upgrade) part.modified = m.modified_since_applied(*conn, applied);
    }
    std::set<std::string> later = applied;
    for (const auto& id : part.plan.steps) {
      if (req.direction == Direction::upgrade)
        later.insert(id);
      else
        later.erase(id);
    }
    after[&t] = later;
    if (t.is_core() && conn && !part.steps.empty()) {
      const migration::Schema core_before = migration::state_at(*t.graph, applied),
                              core_after = migration::state_at(*t.graph, later);
      auto touched = touched_by(part, core_before, core_after);
      if (!touched.empty()) {
        // The truth is in the database: every foreign key into a touched table, from a table
        // that is not core's own, is another app's data.
        migration::Schema live = conn->reflect();
        std::map<std::string, std::vector<std::string>> by_owner;  // owner -> "table.cols -> table.cols"
        std::vector<std::string> reasons;
        for (const auto& [name, table] : live.tables) {
          if (core_before.tables.count(name) || core_after.tables.count(name)) continue;
          for (const auto& fk : table.foreign_keys) {
            auto it = touched.find(fk.references_table);
            if (it == touched.end()) continue;
            bool hit =
                it->second.whole || std::any_of(fk.references_columns.begin(), fk.references_columns.end(),
                                                [&](const std::string& c) { return it->second.columns.count(c) != 0; });
            if (!hit) continue;
            std::string owner = owner_of(name);
            // A table an earlier part of this run removes is no longer in the way.
            bool gone = false;
            for (const auto& [target, set] : after)
              if (!target->is_core() && target->tables.count(name) &&
                  !migration::state_at(*target->graph, set).tables.count(name))
                gone = true;
            if (gone) continue;
            by_owner[owner].push_back(name + " (" + util::join(fk.columns, ", ") + ") -> " + fk.references_table +
                                      " (" + util::join(fk.references_columns, ", ") + ")");
            std::string reason = "revision " + it->second.revision + " " + it->second.what;
            if (std::find(reasons.begin(), reasons.end(), reason) == reasons.end()) reasons.push_back(reason);
          }
        }
        if (!by_owner.empty()) {
          std::vector<std::string> who, commands;
          for (const auto& [owner, refs] : by_owner)
            who.push_back((owner.empty() ? std::string("tables no app of this project owns") : owner) + ": " +
                          util::join(refs, "; "));
          for (auto it = targets_.rbegin(); it != targets_.rend(); ++it)
            if (!it->is_core() && by_owner.count("external app " + it->name))
              commands.push_back("fastappkit migrate app " + it->name + " downgrade --revision base");
          std::string verb = req.direction == Direction::upgrade ? "upgrade" : "downgrade";
          std::string hint =
              commands.empty()
                  ? "drop or change those foreign keys first; a migration never reaches into data it does not own"
                  : "revert them first: " + util::join(commands, ", then ");
          if (req.direction == Direction::downgrade)
            hint += (commands.empty() ? "" : "; ") +
                    std::string("or revert the whole project in order: fastappkit migrate downgrade base --all");
          throw Error(ErrorKind::input,
                      "refusing to " + verb + " core to '" + req.revision + "': " + util::join(reasons, ", ") +
                          ", which applied tables of other apps reference (" + util::join(who, " | ") +
                          "); their rows would be deleted or the run would fail halfway",
                      hint);
        }
      }
    }
    rp.parts.push_back(std::move(part));
  }
  return rp;
}

void Workspace::apply(db::Connection& conn, const RunPlan& plan, Observer& observer, const run::DdlPolicy& ddl) const {
  // Before the version tables are created or read, not only for the migrations (Migrator::run).
  if (plan.dialect == sql::Dialect::postgresql)
    conn.execute("SET lock_timeout = '" + std::to_string(ddl.lock_timeout.count()) + "ms'");
  for (const auto& part : plan.parts) {
    const Target& t = *part.target;
    run::Migrator m(*t.graph, t.name, t.version_table, plan.dialect, t.calls());
    m.ensure_tables(conn);
    observer.part_started(part, conn.describe());
    run::DdlPolicy policy = ddl;
    policy.on_retry = [&](const std::string& message) { observer.retrying(part, message); };
    m.run(
        conn, part.steps, [&](const run::StepReport& r) { observer.step_done(part, r); }, policy);
    observer.part_done(part, m.current(&conn));
  }
}

std::vector<lint::Finding> Workspace::lint(db::Connection* conn, sql::Dialect dialect, bool all) const {
  std::vector<lint::Finding> out;
  for (const auto& t : targets_) {
    std::set<std::string> revisions;
    std::set<std::string> applied;
    if (conn && !all) applied = migration::applied_set(*t.graph, current(conn, t), t.version_table);
    for (const auto& m : t.graph->migrations())
      if (!applied.count(m.revision)) revisions.insert(m.revision);
    auto found = lint::lint_graph(*t.graph, revisions, dialect, t.name);
    out.insert(out.end(), std::make_move_iterator(found.begin()), std::make_move_iterator(found.end()));
  }
  return out;
}

std::vector<lint::Finding> Workspace::lint_new_revision(const Target& t, const std::filesystem::path& file,
                                                        sql::Dialect dialect) const {
  migration::ParseOptions po;
  po.allow_call = !t.is_core();
  migration::Migration m = migration::parse_migration(util::read_file(file.string()), file.string(), po);
  migration::Schema state = migration::state_at(*t.graph, t.graph->ancestors(m.down_revisions));
  return lint::lint_migration(m, state, dialect, t.name);
}

std::vector<std::vector<lint::Finding>> Workspace::lint_new_revisions(const Target& t,
                                                                      const std::vector<std::filesystem::path>& files,
                                                                      sql::Dialect dialect) const {
  std::vector<std::vector<lint::Finding>> out;
  migration::Schema state;
  for (const auto& file : files) {
    migration::ParseOptions po;
    po.allow_call = !t.is_core();
    migration::Migration m = migration::parse_migration(util::read_file(file.string()), file.string(), po);
    if (out.empty()) state = migration::state_at(*t.graph, t.graph->ancestors(m.down_revisions));
    out.push_back(lint::lint_migration(m, state, dialect, t.name));  // leaves `state` after m
  }
  return out;
}

void Workspace::write_script(std::ostream& out, const TargetPlan& part) const {
  const Target& t = *part.target;
  run::Migrator m(*t.graph, t.name, t.version_table, part.dialect, t.calls());
  m.write_script(out, part.steps, part.current, part.version_table_exists);  // rendered once, by plan()
}

template <class Healthy, class Broken>
void Workspace::for_each_external(Healthy&& healthy, Broken&& broken) const {
  for (const auto& name : config_.external_apps()) {
    auto t =
        std::find_if(targets_.begin(), targets_.end(), [&](const Target& x) { return !x.is_core() && x.name == name; });
    if (t != targets_.end()) healthy(*t);
    for (const auto& b : broken_)
      if (b.name == name) broken(b);
  }
}

std::vector<Request> Workspace::revert_all() const {
  std::vector<Request> out;
  for (auto it = targets_.rbegin(); it != targets_.rend(); ++it) out.emplace_back(&*it, Direction::downgrade, "base");
  return out;
}

namespace {

// The rows of every target's version table: one query lists the tables, then each existing
// version table is read, where asking each target whether its table exists cost a query more
// per app (status and app list over many apps, docs/perf-start.md). The same statement, rows
// and order as Migrator::current.
std::map<std::string, std::vector<std::string>> version_rows(db::Connection& conn, const std::vector<Target>& targets) {
  // SQLite finds a table whatever the case of its name (ASCII), as table_exists does.
  const bool fold = conn.dialect() == sql::Dialect::sqlite;
  auto key = [&](std::string name) {
    if (fold)
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return name;
  };
  std::set<std::string> existing;
  for (auto& name : conn.tables()) existing.insert(key(name));
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& t : targets) {
    if (!existing.count(key(t.version_table))) continue;
    auto& rows = out[t.version_table];
    for (const auto& r : conn.query("SELECT version_num FROM " + t.version_table + " ORDER BY version_num"))
      if (r[0]) rows.push_back(*r[0]);
  }
  return out;
}

}  // namespace

Status Workspace::status(db::Connection* conn, StatusOptions options) const {
  Status s;
  s.database = url_.redacted();
  s.database_exists = conn != nullptr;
  const auto rows = conn ? version_rows(*conn, targets_) : std::map<std::string, std::vector<std::string>>{};
  auto describe = [&](const Target& t) {
    AppStatus a;
    a.name = t.name;
    a.kind = t.is_core() ? "core" : "external";
    a.version = t.version;
    a.version_table = t.version_table;
    a.internal_apps = t.internal_apps;
    a.graph = t.graph.get();
    if (auto r = rows.find(t.version_table); r != rows.end()) a.current = r->second;
    a.heads = t.graph->heads();
    try {
      auto applied = migration::applied_set(*t.graph, a.current, t.version_table);
      a.pending = pending_of(*t.graph, applied);
      if (conn && options.modified)
        a.modified =
            run::Migrator(*t.graph, t.name, t.version_table, conn->dialect()).modified_since_applied(*conn, applied);
    } catch (const Error& e) {
      a.error = e;
    }
    return a;
  };
  s.apps.push_back(describe(core()));
  if (plugin_source_) return s;
  for_each_external([&](const Target& t) { s.apps.push_back(describe(t)); },
                    [&](const BrokenApp& b) {
                      AppStatus a;
                      a.name = b.name;
                      a.kind = "external";
                      a.version_table = "alembic_version_" + b.name;
                      a.error = b.error;
                      s.apps.push_back(std::move(a));
                    });
  return s;
}

CheckResult Workspace::check(db::Connection* conn) const {
  CheckResult r;
  r.database = url_.redacted();
  const bool names_kept = conn && sql::traits(conn->dialect()).keeps_constraint_names;
  std::vector<std::string> unmapped;
  std::optional<migration::Schema> live;
  if (conn) live = conn->reflect(&unmapped);
  std::set<std::string> external_tables;
  for (const auto& t : targets_)
    if (!t.is_core()) external_tables.insert(t.tables.begin(), t.tables.end());

  auto check_target = [&](const Target& t) {
    AppCheck a;
    a.name = t.name;
    const auto& g = *t.graph;
    a.heads = g.heads();
    const bool has_models = t.is_core() || !t.models.schema.tables.empty() ||
                            (t.plugin && !t.plugin->models_text.empty()) ||
                            (plugin_source_ && fs::is_regular_file(t.folder / "models.toml"));
    if (has_models) {
      migration::Schema head = migration::state_at(g, g.ancestors(a.heads));
      a.models_vs_migrations = differences(comparable(head, true), comparable(t.models.schema, true));
    }
    if (!conn) {
      a.notes.push_back("database " + url_.redacted() + " does not exist yet; run fastappkit migrate " +
                        (t.is_core() ? "upgrade" : "all"));
      if (!a.heads.empty())
        a.database_vs_migrations.push_back("database is behind: it does not exist, " +
                                           std::to_string(g.migrations().size()) + " migration(s) pending");
      return a;
    }
    a.current = current(conn, t);
    std::set<std::string> applied;
    try {
      applied = migration::applied_set(g, a.current, t.version_table);
    } catch (const Error& e) {
      a.database_vs_migrations.push_back(e.message());
      return a;
    }
    auto pending = pending_of(g, applied);
    if (!pending.empty())
      a.database_vs_migrations.push_back(
          "database is behind: at " + (a.current.empty() ? std::string("base") : util::join(a.current, ", ")) + ", " +
          std::to_string(pending.size()) + " migration(s) pending (" + util::join(pending, ", ") + ")");
    run::Migrator m(g, t.name, t.version_table, conn->dialect());
    for (const auto& id : m.modified_since_applied(*conn, applied))
      a.database_vs_migrations.push_back("revision " + id + " (" + g.get(id).path +
                                         ") was edited after it was applied");
    migration::Schema mine = *live;
    std::erase_if(mine.tables, [&](const auto& kv) {
      return t.is_core() ? external_tables.count(kv.first) != 0 : t.tables.count(kv.first) == 0;
    });
    // What the server stores for the expected schema (PostgreSQL normalises default expressions).
    for (const auto& d : differences(comparable(conn->as_stored(migration::state_at(g, applied)), names_kept),
                                     comparable(mine, names_kept)))
      a.database_vs_migrations.push_back("database differs from its revision: " + d);
    for (const auto& u : unmapped)
      if (mine.tables.count(u.substr(0, u.find('.'))))
        a.database_vs_migrations.push_back("column type with no model type: " + u);
    return a;
  };
  r.apps.push_back(check_target(core()));
  if (plugin_source_) return r;
  for_each_external([&](const Target& t) { r.apps.push_back(check_target(t)); },
                    [&](const BrokenApp& b) {
                      AppCheck a;
                      a.name = b.name;
                      a.error = b.error;
                      r.apps.push_back(std::move(a));
                    });
  if (!broken_.empty() && !r.apps.empty())
    r.apps.front().notes.emplace_back(
        "the tables of broken external apps are not known: core's differences may include them");
  return r;
}

namespace {

std::string dot_id(const std::string& app, const std::string& rev) { return "\"" + app + ":" + rev + "\""; }

std::string dot_label(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// The revision of `g` that creates `table` (create_table, or rename_table to it), first in graph order.
std::string creator_of(const migration::RevisionGraph& g, const std::string& table) {
  std::set<std::string> all;
  for (const auto& m : g.migrations()) all.insert(m.revision);
  for (const auto& id : g.topological(all))
    for (const auto& op : g.get(id).upgrade)
      if ((op.kind == migration::OpKind::create_table && op.table == table) ||
          (op.kind == migration::OpKind::rename_table && op.new_name == table))
        return id;
  return {};
}

}  // namespace

std::string Workspace::graph_dot() const {
  std::string out =
      "digraph fastappkit {\n  rankdir=BT;\n  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=10];\n";
  for (const auto& t : targets_) {
    const auto& g = *t.graph;
    auto heads = g.heads();
    out +=
        "  subgraph \"cluster_" + t.name + "\" {\n    label=\"" +
        dot_label(t.name + (t.is_core() && !t.internal_apps.empty() ? " + " + util::join(t.internal_apps, ", ") : "") +
                  " (" + t.version_table + ")") +
        "\";\n";
    for (const auto& m : g.migrations()) {
      bool head = std::find(heads.begin(), heads.end(), m.revision) != heads.end();
      std::string label =
          m.revision + "\\n" + dot_label(m.message) + (m.app.empty() ? "" : "\\n[" + dot_label(m.app) + "]");
      out += "    " + dot_id(t.name, m.revision) + " [label=\"" + label + "\"" + (head ? ", penwidth=2" : "") + "];\n";
    }
    for (const auto& m : g.migrations()) {
      for (const auto& d : m.down_revisions)
        out += "    " + dot_id(t.name, m.revision) + " -> " + dot_id(t.name, d) + ";\n";
      for (const auto& d : m.depends_on)
        if (g.contains(d))
          out += "    " + dot_id(t.name, m.revision) + " -> " + dot_id(t.name, d) +
                 " [style=dashed, label=\"depends_on\"];\n";
    }
    out += "  }\n";
  }
  // Foreign keys from external apps' tables into core's.
  const Target& c = core();
  for (const auto& t : targets_) {
    if (t.is_core()) continue;
    migration::Schema head = migration::state_at(*t.graph, t.graph->ancestors(t.graph->heads()));
    for (const auto& [name, table] : head.tables)
      for (const auto& fk : table.foreign_keys) {
        if (!c.tables.count(fk.references_table)) continue;
        std::string from = creator_of(*t.graph, name), to = creator_of(*c.graph, fk.references_table);
        if (from.empty() || to.empty()) continue;
        out += "  " + dot_id(t.name, from) + " -> " + dot_id(c.name, to) +
               " [style=dotted, color=\"#b03030\", fontcolor=\"#b03030\", label=\"" +
               dot_label(name + "." + util::join(fk.columns, ",") + " -> " + fk.references_table + "." +
                         util::join(fk.references_columns, ",")) +
               "\"];\n";
      }
  }
  return out + "}\n";
}

std::vector<std::string> Workspace::stamp(db::Connection& conn, const Target& t, const std::string& revision,
                                          bool purge, const run::DdlPolicy& ddl) const {
  run::Migrator m(*t.graph, t.name, t.version_table, conn.dialect());
  return m.stamp(conn, revision, purge, ddl);
}

std::optional<migration::Migration> Workspace::autogenerate(const Target& t, const std::string& app,
                                                            const std::string& message) const {
  auto parents = single_parent(*t.graph);
  migration::Schema head = migration::state_at(*t.graph, t.graph->ancestors(parents));
  migration::Migration m;
  // An external app sees only its own models: core tables it references are not its to create.
  m.upgrade = migration::diff(head, t.models.schema);
  if (m.upgrade.empty()) return std::nullopt;
  m.downgrade = migration::diff(t.models.schema, head);
  m.down_revisions = parents;
  m.message = message;
  m.app = app;
  migration::prefer_online_safe(m);
  return m;
}

std::vector<migration::Migration> Workspace::autogenerate(const Target& t, const std::string& app,
                                                          const std::string& message, sql::Dialect dialect) const {
  auto m = autogenerate(t, app, message);
  if (!m) return {};
  if (dialect != sql::Dialect::postgresql) return {*m};
  return migration::split_online_safe(*m, migration::state_at(*t.graph, t.graph->ancestors(m->down_revisions)));
}

std::optional<migration::Migration> Workspace::merge(const Target& t, const std::string& message) const {
  auto heads = t.graph->heads();
  if (heads.size() < 2) return std::nullopt;
  migration::Migration m;
  m.down_revisions = heads;
  m.message = message;
  return m;
}

migration::Migration Workspace::empty_revision(const Target& t, const std::string& message) const {
  migration::Migration m;
  m.down_revisions = single_parent(*t.graph);
  m.message = message;
  return m;
}

fs::path Workspace::write_revision(const Target& t, migration::Migration m) const {
  if (t.versions_dir.empty())
    throw Error(
        ErrorKind::usage,
        "external app " + t.name + " is installed as a built plugin; its revisions are written in its source folder",
        "cd to its source folder and run 'fastappkit plugin revision -m MSG'");
  std::string id;
  do id = migration::new_revision_id();
  while (t.graph->contains(id));
  m.revision = id;
  m.create_date = utc_now();
  std::string text = migration::write_migration(m);
  fs::path file = t.versions_dir / (id + "_" + migration::slugify(m.message) + ".toml");
  // What is written must read back. Parsed through the target's parse cache, which keeps what it
  // had, so that the next command finds the new revision there instead of parsing it again (an
  // autogenerate over 1,000 tables writes 0.8 MB of TOML: about 90 ms of toml++).
  migration::ParseCache cache(t.parse_cache);
  cache.keep_all();
  cache.parse(text, file.string(), {.allow_call = !t.is_core()});
  if (fs::exists(file))
    throw Error(ErrorKind::failed, "refusing to overwrite " + file.string(), "run the command again");
  {
    std::ofstream out(file, std::ios::binary);
    out << text;
    if (!out.flush()) throw Error(ErrorKind::failed, "cannot write " + file.string(), "check the folder's permissions");
  }
  cache.save();
  return file;
}

std::vector<fs::path> Workspace::write_revisions(const Target& t, std::vector<migration::Migration> ms) const {
  std::vector<fs::path> out;
  for (auto& m : ms) {
    if (!out.empty()) m.down_revisions = {out.back().filename().string().substr(0, 12)};
    out.push_back(write_revision(t, std::move(m)));
  }
  return out;
}

std::vector<ValidationItem> validate_app(const LoadOptions& options, const std::string& name) {
  std::vector<ValidationItem> items;
  auto check = [&](const std::string& what, auto&& f) {
    try {
      items.push_back({what, true, f()});
      return true;
    } catch (const Error& e) {
      items.push_back(
          {what, false,
           e.message() +
               (e.location() ? " (" + e.location()->file + ":" + std::to_string(e.location()->line) + ")" : "") +
               (e.hint().empty() ? "" : " (" + e.hint() + ")")});
      return false;
    }
  };
  auto cfg = config::load_project(options.directory);
  const config::AppEntry* app = nullptr;
  std::vector<std::string> names;
  for (const auto& a : cfg.apps) {
    names.push_back(a.name);
    if (a.name == name) app = &a;
  }
  if (!app) {
    std::string near = util::did_you_mean(name, names);
    throw Error(ErrorKind::usage, "no app '" + name + "' in " + cfg.config_path.string(),
                near.empty() ? "apps are listed in [tool.fastappkit] apps" : "did you mean '" + near + "'?");
  }
  LoadOptions core_only = options;
  core_only.need_url = false;
  core_only.external_apps = false;
  std::optional<Workspace> core;
  bool core_ok = check("core migrations and graph", [&] {
    core.emplace(Workspace::open_project(core_only));
    const auto& g = *core->core().graph;
    return std::to_string(g.migrations().size()) + " revision(s), heads " + util::join(g.heads(), ", ");
  });
  check("models of core and internal apps", [&] {
    auto models = migration::load_project_models(cfg.root, cfg.internal_apps());
    return std::to_string(models.schema.tables.size()) + " table(s)";
  });
  if (app->internal) {
    check("app folder", [&] {
      fs::path dir = cfg.root / "apps" / name;
      if (!fs::is_directory(dir))
        throw Error(ErrorKind::input, "no folder " + dir.string(), "create it with 'fastappkit app new " + name + "'");
      return dir.string();
    });
    if (core_ok)
      check("revisions for this app", [&] {
        std::size_t n = 0;
        for (const auto& m : core->core().graph->migrations()) n += m.app == name ? 1 : 0;
        return std::to_string(n) + " revision(s) with app = \"" + name + "\" in the core graph";
      });
    return items;
  }
  plugin::Manifest manifest;
  bool found = check("plugin folder found", [&] {
    std::vector<std::string> seen;
    for (const auto& m : plugin::discover(cfg)) {
      seen.push_back(m.name);
      if (m.name != name) continue;
      if (!manifest.name.empty())
        throw Error(ErrorKind::input, "two plugin folders hold '" + name + "': " + manifest.folder.string() + " and " +
                                          m.folder.string());
      manifest = m;
    }
    if (manifest.name.empty()) {
      std::string near = util::did_you_mean(name, seen);
      throw Error(ErrorKind::input, "no plugin folder under plugin_paths holds '" + name + "'",
                  near.empty() ? "drop the plugin's folder into plugins/" : "did you mean '" + near + "'?");
    }
    return manifest.folder.string() + " (plugin.toml: version " + manifest.version + ", abi " +
           std::to_string(manifest.abi_major) + "." + std::to_string(manifest.abi_minor) + ")";
  });
  if (found) check("library SHA-256", [&] { return plugin::pin_status(manifest); });
  bool lib_ok = found && check("library and entry symbol", [&] {
                  plugin::check_library(manifest);
                  return manifest.library + " exports the entry symbol";
                });
  bool loaded_ok = lib_ok && check("load, descriptor and embedded files", [&] {
                     plugin::Plugin p = plugin::load(manifest);
                     return std::to_string(p.graph->migrations().size()) + " revision(s), " +
                            std::to_string(p.models.schema.tables.size()) + " model table(s), " +
                            std::to_string(p.step_names.size()) + " C++ step(s)";
                   });
  if (loaded_ok && core_ok)
    check("tables do not collide with core, internal apps or other plugins", [&] {
      LoadOptions all = options;
      all.need_url = false;
      all.keep_broken = true;
      Workspace w = Workspace::open_project(all);
      for (const auto& b : w.broken())
        if (b.name == name) throw b.error;
      return std::string("version table alembic_version_") + name;
    });
  return items;
}

}  // namespace fastappkit::project
