// Loading a project or a plugin source folder into a Workspace: targets, plugins, table owners.
#include "fastappkit/project/workspace.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <fstream>
#include <ostream>

#include "fastappkit/db/connection.hpp"
#include "fastappkit/migration/parse_cache.hpp"
#include "fastappkit/migration/validate.hpp"
#include "fastappkit/plugin/host.hpp"
#include "fastappkit/project/head_snapshot.hpp"
#include "fastappkit/util/text.hpp"
#include "workspace_internal.hpp"

namespace fastappkit::project {

namespace fs = std::filesystem;
using migration::Direction;

namespace {

// Parse caches (migration/parse_cache.hpp), beside the project or plugin source folder.
constexpr const char* kCacheDir = ".fastappkit/cache";  // no fs::path global: built before main

// The tables of fastappkit's own bookkeeping, which no app may name.
bool is_bookkeeping(const std::string& t) { return t.rfind("alembic_version", 0) == 0 || t == run::kHistoryTable; }

// A plugin's own tables checked against the tables core and earlier plugins own; a foreign key
// may reference only its own tables and core's.
void check_plugin_tables(const Target& t, std::map<std::string, Owner>& owner, const migration::Schema& core_tables) {
  for (const auto& table : t.tables) {
    auto [o, inserted] = owner.emplace(table, Owner::external_app(t.name));
    if (!inserted && o->second != Owner::external_app(t.name))
      throw Error(ErrorKind::input,
                  "plugin folder " + t.folder.string() + ": table '" + table + "' collides with a table of " +
                      o->second.describe(),
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
  for (const auto& [t, a] : core.models.owner) w.owner_[t] = a == "core" ? Owner::core() : Owner::internal_app(a);
  for (const auto& t : core.tables) w.owner_.emplace(t, Owner::core());
  w.targets_.push_back(std::move(core));
  if (!o.external_apps) return w;

  // Every table core's migrations or models know, for the plugins' foreign keys.
  migration::Schema core_tables;
  if (!external.empty()) {
    const auto& g = *w.targets_.front().graph;
    core_tables = migration::state_at(g, g.ancestors(g.heads()));
  }
  for (const auto& [t, tab] : w.targets_.front().models.schema.tables) core_tables.tables.emplace(t, tab);
  std::map<std::string, Owner> owner;  // what plugins may not take: core's migrations and earlier plugins
  for (const auto& t : core_named) owner.emplace(t, w.owner_.count(t) ? w.owner_[t] : Owner::core());

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
  for (const auto& [key, e] : discovery_errors)
    if (std::find(external.begin(), external.end(), key) == external.end())
      w.notes_.push_back(e.message() + "; no app of " + cfg.config_path.filename().string() +
                         " needs it, so nothing is loaded from it");
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
      std::map<std::string, Owner> trial = owner;
      check_plugin_tables(t, trial, core_tables);
      owner = std::move(trial);
      for (const auto& table : t.tables) w.owner_[table] = Owner::external_app(name);
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
    if (o2 == w.owner_.end() || o2->second.kind != Owner::Kind::external_app) continue;
    const std::string declared_by = app == "core" ? "core" : "internal app '" + app + "'";
    throw Error(
        ErrorKind::input, models.origin.at(table),
        "table '" + table + "' is declared by " + declared_by + " but belongs to external app '" + o2->second.app + "'",
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
  for (const auto& table : t.tables) w.owner_[table] = Owner::external_app(t.name);
  if (o.need_url) w.url_ = config::resolve_database_url(o.database_url, folder, o.url_use);
  w.targets_.push_back(std::move(t));
  return w;
}

void require_internal_app(const config::ProjectConfig& cfg, std::string_view name_view) {
  const std::string name(name_view);
  std::vector<std::string> names;
  for (const auto& a : cfg.apps) {
    names.push_back(a.name);
    if (a.name != name) continue;
    if (!a.internal)
      throw Error(
          ErrorKind::usage,
          "External apps cannot create migrations from core project ('" + name + "' is an external app)",
          "develop it on its own: cd to its source folder and run 'fastappkit plugin revision --autogenerate -m MSG'");
    return;
  }
  std::string near = util::did_you_mean(name, names);
  throw Error(ErrorKind::usage, "no app '" + name + "' in " + cfg.config_path.string(),
              near.empty() ? "apps are listed in [tool.fastappkit] apps" : "did you mean '" + near + "'?");
}

void require_internal_app(const fs::path& directory, std::string_view name) {
  require_internal_app(config::load_project(directory), name);
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

std::string Owner::describe() const {
  switch (kind) {
    case Kind::core:
      return "core";
    case Kind::internal_app:
      return "internal app " + app;
    case Kind::external_app:
      return "external app " + app;
  }
  return "core";
}

std::optional<Owner> Workspace::owner_of(const std::string& table) const {
  auto it = owner_.find(table);
  return it == owner_.end() ? std::nullopt : std::optional<Owner>(it->second);
}

std::vector<std::string> Workspace::current(db::Connection* conn, const Target& t) const {
  if (!conn) return {};
  run::Migrator m(*t.graph, t.name, t.version_table, conn->dialect());
  return m.current(conn);
}

std::vector<Request> Workspace::revert_all() const {
  std::vector<Request> out;
  for (auto it = targets_.rbegin(); it != targets_.rend(); ++it) out.emplace_back(&*it, Direction::downgrade, "base");
  return out;
}

}  // namespace fastappkit::project
