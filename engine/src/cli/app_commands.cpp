// app list / app validate <name>
#include <fastappkit/plugin_abi.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>

#include "context.hpp"
#include "fastappkit/db/connection.hpp"
#include "fastappkit/error.hpp"
#include "fastappkit/migration/models.hpp"
#include "fastappkit/plugin/host.hpp"
#include "fastappkit/run/migrator.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::cli {

namespace fs = std::filesystem;

namespace {

struct Check {
  std::string name;
  bool ok = true;
  std::string message;
};

// Runs `f`; a thrown Error becomes a failed check. Returns whether it passed.
template <class F>
bool check(std::vector<Check>& checks, const std::string& name, F&& f) {
  try {
    std::string detail = f();
    checks.push_back({name, true, detail});
    return true;
  } catch (const Error& e) {
    checks.push_back({name, false, std::string(e.what()) + (e.hint().empty() ? "" : " (" + e.hint() + ")")});
    return false;
  }
}

std::string state_of(db::Connection* conn, const migration::RevisionGraph& g, const std::string& version_table) {
  if (!conn) return "database not created";
  run::Migrator m(g, "", version_table, conn->dialect());
  auto current = m.current(conn);
  auto applied = migration::applied_set(g, current, version_table);
  std::size_t pending = 0;
  for (const auto& id : g.ancestors(g.heads()))
    if (!applied.count(id)) ++pending;
  if (pending == 0) return current.empty() ? "no revisions" : "up to date";
  return std::to_string(pending) + " pending";
}

}  // namespace

int cmd_app_list(Context& ctx) {
  CoreProject p = load_core(ctx, false);
  std::unique_ptr<db::Connection> conn;
  std::string db_note;
  try {
    p.url = config::resolve_database_url(ctx.database_url, p.config.root);
    conn = db::open(p.url, db::OpenMode::read_only, ctx.lock_timeout);
  } catch (const Error& e) {
    db_note = e.what();
  }
  struct Row {
    std::string name, kind, version, table, state;
  };
  std::vector<Row> rows{{"core", "core", "-", "alembic_version", conn || db_note.empty() ? state_of(conn.get(), *p.graph, "alembic_version") : "unknown"}};
  // Tables are checked against core's and earlier plugins' when the models load.
  std::optional<std::map<std::string, std::string>> owner;
  migration::ModelSet models;
  migration::Schema head;
  try {
    models = migration::load_project_models(p.config.root, p.config.internal_apps());
    head = migration::state_at(*p.graph, p.graph->ancestors(p.graph->heads()));
    owner = plugin::core_table_owners(models, head);
  } catch (const Error&) {
  }
  std::map<std::string, plugin::Manifest> manifests;
  std::string discover_error;
  try {
    for (const auto& m : plugin::discover(p.config)) manifests.emplace(m.name, m);
  } catch (const Error& e) {
    discover_error = e.what();
  }
  for (const auto& a : p.config.ordered_apps()) {
    if (a.internal) {
      rows.push_back({a.name, "internal", "-", "alembic_version", "in core"});
      continue;
    }
    auto it = manifests.find(a.name);
    if (it == manifests.end()) {
      rows.push_back({a.name, "external", "?", "alembic_version_" + a.name, discover_error.empty() ? "missing: no plugin folder" : "invalid: " + discover_error});
      continue;
    }
    try {
      plugin::Plugin pl = plugin::load(it->second);
      if (owner) plugin::check_tables(pl, *owner, models, head);
      rows.push_back({a.name, "external", pl.manifest.version, pl.version_table(),
                      conn || db_note.empty() ? state_of(conn.get(), *pl.graph, pl.version_table()) : "unknown"});
    } catch (const Error& e) {
      rows.push_back({a.name, "external", it->second.version, "alembic_version_" + a.name, std::string("invalid: ") + e.what()});
    }
  }
  if (ctx.json) {
    ctx.out << "[";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      ctx.out << (i ? ",\n " : "") << "{\"app\": " << util::json_escape(r.name) << ", \"kind\": " << util::json_escape(r.kind)
              << ", \"version\": " << util::json_escape(r.version) << ", \"version_table\": " << util::json_escape(r.table)
              << ", \"state\": " << util::json_escape(r.state) << "}";
    }
    ctx.out << "]\n";
    return 0;
  }
  char line[512];
  std::snprintf(line, sizeof line, "%-20s %-9s %-9s %-30s %s\n", "APP", "KIND", "VERSION", "VERSION TABLE", "STATE");
  ctx.out << line;
  for (const auto& r : rows) {
    std::snprintf(line, sizeof line, "%-20s %-9s %-9s %-30s %s\n", r.name.c_str(), r.kind.c_str(), r.version.c_str(), r.table.c_str(), r.state.c_str());
    ctx.out << line;
  }
  if (!db_note.empty() && ctx.verbosity > 0) ctx.out << "note: state unknown: " << db_note << "\n";
  return 0;
}

int cmd_app_validate(Context& ctx) {
  const std::string name = ctx.params.at(0);
  auto config = config::load_project(ctx.directory);
  const config::AppEntry* app = nullptr;
  std::vector<std::string> names;
  for (const auto& a : config.apps) {
    names.push_back(a.name);
    if (a.name == name) app = &a;
  }
  if (!app) {
    std::string near = util::did_you_mean(name, names);
    throw Error(ErrorKind::usage, "no app '" + name + "' in " + config.config_path.string(),
                near.empty() ? "apps are listed in [tool.fastappkit] apps" : "did you mean '" + near + "'?");
  }
  std::vector<Check> checks;
  CoreProject core;
  bool core_ok = check(checks, "core migrations and graph", [&] {
    core = load_core(ctx, false);
    return std::to_string(core.graph->migrations().size()) + " revision(s), heads " + util::join(core.graph->heads(), ", ");
  });
  migration::ModelSet models;
  bool models_ok = check(checks, "models of core and internal apps", [&] {
    models = migration::load_project_models(config.root, config.internal_apps());
    return std::to_string(models.schema.tables.size()) + " table(s)";
  });
  if (app->internal) {
    check(checks, "app folder", [&] {
      fs::path dir = config.root / "apps" / name;
      if (!fs::is_directory(dir)) throw Error(ErrorKind::input, "no folder " + dir.string(), "create it with 'fastappkit app new " + name + "'");
      return dir.string();
    });
    if (core_ok) {
      check(checks, "revisions for this app", [&] {
        std::size_t n = 0;
        for (const auto& m : core.graph->migrations()) n += m.app == name ? 1 : 0;
        return std::to_string(n) + " revision(s) with app = \"" + name + "\" in the core graph";
      });
    }
  } else {
    plugin::Manifest manifest;
    bool found = check(checks, "plugin folder found", [&] {
      std::vector<std::string> seen;
      for (const auto& m : plugin::discover(config)) {
        seen.push_back(m.name);
        if (m.name == name) {
          if (!manifest.name.empty())
            throw Error(ErrorKind::input, "two plugin folders hold '" + name + "': " + manifest.folder.string() + " and " + m.folder.string());
          manifest = m;
        }
      }
      if (manifest.name.empty()) {
        std::string near = util::did_you_mean(name, seen);
        throw Error(ErrorKind::input, "no plugin folder under plugin_paths holds '" + name + "'",
                    near.empty() ? "drop the plugin's folder into plugins/" : "did you mean '" + near + "'?");
      }
      return manifest.folder.string() + " (plugin.toml: version " + manifest.version + ", abi " + std::to_string(manifest.abi_major) + "." +
             std::to_string(manifest.abi_minor) + ")";
    });
    if (found) check(checks, "library SHA-256", [&] { return plugin::pin_status(manifest); });
    bool lib_ok = found && check(checks, "library and entry symbol", [&] {
      plugin::check_library(manifest);
      return manifest.library + " exports " + FAK_ENTRY_SYMBOL;
    });
    plugin::Plugin loaded;
    bool loaded_ok = lib_ok && check(checks, "load, descriptor and embedded files", [&] {
      loaded = plugin::load(manifest);
      return std::to_string(loaded.graph->migrations().size()) + " revision(s), " + std::to_string(loaded.models.schema.tables.size()) +
             " model table(s), " + std::to_string(loaded.step_names.size()) + " C++ step(s)";
    });
    if (loaded_ok && core_ok && models_ok) {
      check(checks, "tables do not collide with core, internal apps or other plugins", [&] {
        plugin::load_project_plugins(config, models, migration::state_at(*core.graph, core.graph->ancestors(core.graph->heads())));
        return std::string("version table ") + loaded.version_table();
      });
    }
  }
  bool ok = std::all_of(checks.begin(), checks.end(), [](const Check& c) { return c.ok; });
  if (ctx.json) {
    ctx.out << "{\"app\": " << util::json_escape(name) << ", \"kind\": \"" << (app->internal ? "internal" : "external") << "\", \"ok\": "
            << (ok ? "true" : "false") << ", \"checks\": [";
    for (std::size_t i = 0; i < checks.size(); ++i)
      ctx.out << (i ? ", " : "") << "{\"check\": " << util::json_escape(checks[i].name) << ", \"ok\": " << (checks[i].ok ? "true" : "false")
              << ", \"message\": " << util::json_escape(checks[i].message) << "}";
    ctx.out << "]}\n";
  } else {
    ctx.out << name << " (" << (app->internal ? "internal" : "external") << " app)\n";
    for (const auto& c : checks) ctx.out << "  " << (c.ok ? "ok      " : "FAILED  ") << c.name << ": " << c.message << "\n";
    ctx.out << (ok ? "all checks passed\n" : "some checks failed\n");
  }
  return ok ? 0 : 2;
}

}  // namespace fastappkit::cli
