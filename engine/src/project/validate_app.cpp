// `app validate`: every check for one app, each passing or failing on its own.
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
#include "fastappkit/project/workspace.hpp"
#include "fastappkit/util/text.hpp"
#include "workspace_internal.hpp"

namespace fastappkit::project {

namespace fs = std::filesystem;
using migration::Direction;

bool AppValidation::ok() const {
  return std::all_of(items.begin(), items.end(), [](const ValidationItem& c) { return c.ok; });
}

AppValidation validate_app(const LoadOptions& options, const std::string& name) {
  AppValidation result;
  std::vector<ValidationItem>& items = result.items;
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
  result.internal = app->internal;
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
    return result;
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
  return result;
}

}  // namespace fastappkit::project
