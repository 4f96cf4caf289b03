// fastappkit plugin revision / upgrade / downgrade / current / history / check: an external
// app's own workflow in its source folder, against its own .env database, from the source
// files (no build needed, except to run C++ steps).
#include <filesystem>
#include <optional>
#include <set>

#include "context.hpp"
#include "fastappkit/db/connection.hpp"
#include "fastappkit/error.hpp"
#include "fastappkit/migration/autogenerate.hpp"
#include "fastappkit/migration/models.hpp"
#include "fastappkit/migration/validate.hpp"
#include "fastappkit/plugin/host.hpp"
#include "fastappkit/run/migrator.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::cli {

namespace fs = std::filesystem;

namespace {

struct PluginSource {
  plugin::Manifest manifest;
  fs::path folder, versions_dir;
  migration::ModelSet models;
  std::unique_ptr<migration::RevisionGraph> graph;
  config::DatabaseUrl url;
  std::optional<plugin::Plugin> built;  // the library built from this folder, for `call` steps

  std::string version_table() const { return "alembic_version_" + manifest.name; }
  std::set<std::string> tables() const {
    std::set<std::string> out;
    for (const auto& [t, tab] : models.schema.tables) out.insert(t);
    for (const auto& m : graph->migrations())
      for (const auto* ops : {&m.upgrade, &m.downgrade})
        for (const auto& op : *ops) {
          if (!op.table.empty()) out.insert(op.table);
          if (op.kind == migration::OpKind::rename_table) out.insert(op.new_name);
        }
    return out;
  }
};

PluginSource load_source(const Context& ctx, bool need_url) {
  PluginSource s;
  std::error_code ec;
  s.folder = fs::weakly_canonical(fs::absolute(ctx.directory), ec);
  if (!fs::is_regular_file(s.folder / "plugin.toml")) {
    throw Error(ErrorKind::input, "not a plugin source folder: " + (s.folder / "plugin.toml").string() + " not found",
                "run in the folder 'fastappkit app new <name> --as-plugin' made, or pass -C <plugin folder>");
  }
  s.manifest = plugin::read_manifest(s.folder);
  s.versions_dir = s.folder / "migrations" / "versions";
  if (!fs::is_directory(s.versions_dir))
    throw Error(ErrorKind::input, "migrations directory not found: " + s.versions_dir.string(), "create migrations/versions/ in the plugin folder");
  auto migrations = migration::load_migrations(s.versions_dir, {.allow_call = true});
  for (const auto& m : migrations)
    for (const auto* ops : {&m.upgrade, &m.downgrade})
      for (const auto& op : *ops)
        if (op.table.rfind("alembic_version", 0) == 0 || op.table == "fastappkit_history")
          throw Error(ErrorKind::input, m.path + ":" + std::to_string(op.line) + ": table '" + op.table + "' belongs to fastappkit's bookkeeping",
                      "the app's version table (alembic_version_" + s.manifest.name + ") is managed by fastappkit");
  s.graph = std::make_unique<migration::RevisionGraph>(std::move(migrations));
  migration::validate_operations(*s.graph, {.foreign_tables_allowed = true});
  fs::path models = s.folder / "models.toml";
  if (fs::is_regular_file(models)) s.models = migration::parse_models(util::read_file(models.string()), models.string(), s.manifest.name);
  fs::path built = s.folder / "build" / "plugins" / s.manifest.name;
  if (fs::is_regular_file(built / "plugin.toml")) s.built = plugin::load(plugin::read_manifest(built));
  if (need_url) s.url = config::resolve_database_url(ctx.database_url, s.folder);
  return s;
}

Target source_target(const PluginSource& s) {
  return {s.graph.get(), s.manifest.name, s.version_table(), [&s](const migration::Operation& op, db::Connection& conn) {
            if (!s.built)
              throw db::DbError(db::Failure::other, "revision needs C++ step '" + op.function + "', which runs from the built library",
                                "call " + op.function, {},
                                "build the plugin first: cmake -S . -B build && cmake --build build (fastappkit looks in build/plugins/" +
                                    s.manifest.name + ")");
            s.built->call(op, conn);
          }};
}

// Refuses a plan with C++ steps when the library is not built, before the database is touched.
void require_steps_built(const PluginSource& s, const migration::Plan& plan) {
  if (s.built) return;
  for (const auto& id : plan.steps) {
    const auto& m = s.graph->get(id);
    for (const auto* ops : {&m.upgrade, &m.downgrade})
      for (const auto& op : *ops)
        if (op.kind == migration::OpKind::call)
          throw Error(ErrorKind::input, m.path + ":" + std::to_string(op.line) + ": this revision calls C++ step '" + op.function + "', which runs from the built library",
                      "build the plugin first: cmake -S . -B build && cmake --build build (fastappkit looks in build/plugins/" + s.manifest.name + ")");
  }
}

int migrate_source(Context& ctx, bool upgrade) {
  PluginSource s = load_source(ctx, true);
  std::string target = ctx.opt("revision", upgrade ? "head" : "");
  if (target.empty()) throw Error(ErrorKind::usage, "plugin downgrade needs a target revision", "e.g. fastappkit plugin downgrade -1, or base");
  migration::validate_target(*s.graph, target);
  {
    // Check the whole plan against what is built before opening for writing.
    auto ro = db::open(s.url, db::OpenMode::read_only, ctx.lock_timeout);
    run::Migrator m(*s.graph, s.manifest.name, s.version_table(), ro ? ro->dialect() : sql::Dialect::sqlite);
    auto current = m.current(ro.get());
    require_steps_built(s, upgrade ? migration::plan_upgrade(*s.graph, current, target) : migration::plan_downgrade(*s.graph, current, target));
  }
  auto conn = open_for_run(ctx, s.url);
  apply_plan(ctx, *conn, source_target(s), upgrade, target);
  return 0;
}

}  // namespace

int cmd_plugin_revision(Context& ctx) {
  std::string message = require_message(ctx, "fastappkit plugin revision [--autogenerate] -m MSG");
  PluginSource s = load_source(ctx, false);
  auto parents = single_parent(*s.graph);
  migration::Migration m;
  m.down_revisions = parents;
  m.message = message;
  if (ctx.flag("autogenerate")) {
    // Only this app's models: core tables it references are not its to create.
    migration::Schema head = migration::state_at(*s.graph, s.graph->ancestors(parents));
    m.upgrade = migration::diff(head, s.models.schema);
    if (m.upgrade.empty()) {
      if (ctx.verbosity > 0) ctx.out << "No changes detected\n";
      return 0;
    }
    m.downgrade = migration::diff(s.models.schema, head);
  }
  write_revision(ctx, *s.graph, s.versions_dir, m);
  return 0;
}

int cmd_plugin_upgrade(Context& ctx) { return migrate_source(ctx, true); }
int cmd_plugin_downgrade(Context& ctx) { return migrate_source(ctx, false); }

int cmd_plugin_current(Context& ctx) {
  PluginSource s = load_source(ctx, true);
  auto conn = db::open(s.url, db::OpenMode::read_only, ctx.lock_timeout);
  print_current(ctx, source_target(s), conn.get());
  return 0;
}

int cmd_plugin_history(Context& ctx) {
  PluginSource s = load_source(ctx, false);
  print_history(ctx, *s.graph, s.manifest.name);
  return 0;
}

int cmd_plugin_check(Context& ctx) {
  PluginSource s = load_source(ctx, true);
  auto heads = s.graph->heads();
  migration::Schema head = migration::state_at(*s.graph, s.graph->ancestors(heads));
  std::vector<std::string> model_diff = differences(comparable(head, true), comparable(s.models.schema, true)), db_diff, notes;
  auto conn = db::open(s.url, db::OpenMode::read_only, ctx.lock_timeout);
  if (conn) {
    run::Migrator m(*s.graph, s.manifest.name, s.version_table(), conn->dialect());
    auto current = m.current(conn.get());
    auto applied = migration::applied_set(*s.graph, current, s.version_table());
    std::size_t pending = 0;
    for (const auto& id : s.graph->ancestors(heads)) pending += applied.count(id) ? 0 : 1;
    if (pending) db_diff.push_back("database is behind: " + std::to_string(pending) + " migration(s) pending");
    bool names_kept = conn->dialect() == sql::Dialect::postgresql;
    auto live = conn->reflect();
    auto mine = s.tables();
    std::erase_if(live.tables, [&](const auto& kv) { return !mine.count(kv.first); });
    for (const auto& d : differences(comparable(conn->as_stored(migration::state_at(*s.graph, applied)), names_kept), comparable(live, names_kept)))
      db_diff.push_back("database differs from its revision: " + d);
  } else {
    notes.push_back("database " + s.url.redacted() + " does not exist yet");
    if (!heads.empty()) db_diff.push_back("database is behind: it does not exist");
  }
  bool same = model_diff.empty() && db_diff.empty();
  if (ctx.json) {
    ctx.out << "{\"ok\": " << (same ? "true" : "false") << ", \"app\": " << util::json_escape(s.manifest.name) << ", \"models_vs_migrations\": "
            << json_list(model_diff) << ", \"database_vs_migrations\": " << json_list(db_diff) << ", \"notes\": " << json_list(notes) << "}\n";
    return same ? 0 : 1;
  }
  for (const auto& n : notes) ctx.out << "note: " << n << "\n";
  if (!model_diff.empty()) {
    ctx.out << "Models differ from the migrations' head; run 'fastappkit plugin revision --autogenerate -m MSG':\n";
    for (const auto& d : model_diff) ctx.out << "  - " << d << "\n";
  }
  for (const auto& d : db_diff) ctx.out << "  - " << d << "\n";
  if (same && ctx.verbosity > 0) ctx.out << "No differences: models, migrations and database agree\n";
  return same ? 0 : 1;
}

}  // namespace fastappkit::cli
