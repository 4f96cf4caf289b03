#include "fastappkit/config/project.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include "../util/toml_support.hpp"

namespace fastappkit::config {

namespace fs = std::filesystem;

std::vector<AppEntry> ProjectConfig::ordered_apps() const {
  std::vector<AppEntry> out;
  for (const auto& name : order) {
    for (const auto& a : apps)
      if (a.name == name) out.push_back(a);
  }
  for (const auto& a : apps) {
    if (std::find(order.begin(), order.end(), a.name) == order.end()) out.push_back(a);
  }
  return out;
}

std::vector<std::string> ProjectConfig::internal_apps() const {
  std::vector<std::string> out;
  for (const auto& a : ordered_apps())
    if (a.internal) out.push_back(a.name);
  return out;
}

std::vector<std::string> ProjectConfig::external_apps() const {
  std::vector<std::string> out;
  for (const auto& a : ordered_apps())
    if (!a.internal) out.push_back(a.name);
  return out;
}

ProjectConfig parse_project(std::string_view text, const std::string& path, const fs::path& root) {
  util::TomlSource src{path, text};
  toml::table doc = src.parse();
  ProjectConfig cfg;
  cfg.root = root;
  cfg.config_path = path;

  auto tool = doc["tool"]["fastappkit"].as_table();
  if (!tool) {
    throw Error(ErrorKind::input, path + ": missing [tool.fastappkit] table",
                "add a [tool.fastappkit] table with apps = [...] (see docs/configuration.md)");
  }
  for (const auto& [k, v] : doc) {
    if (k.str() != "tool")
      src.fail(k.source(), "unknown top-level key '" + std::string(k.str()) + "'",
               "fastappkit reads only [tool.fastappkit]");
  }
  src.check_keys(*tool, {"apps", "plugin_paths", "migration", "plugins"}, "[tool.fastappkit]");

  if (auto apps = tool->get("apps")) {
    auto arr = apps->as_array();
    if (!arr)
      src.fail(apps->source(), "apps must be an array of strings", "write apps = [\"apps.blog\", \"payments\"]");
    std::set<std::string> seen;
    for (const auto& e : *arr) {
      std::string entry = src.str(e, "apps item");
      AppEntry app;
      app.line = static_cast<int>(e.source().begin.line);
      app.col = static_cast<int>(e.source().begin.column);
      if (entry.rfind("apps.", 0) == 0) {
        app.internal = true;
        app.name = entry.substr(5);
      } else {
        app.name = entry;
      }
      if (!util::is_valid_app_name(app.name)) {
        src.fail(e.source(), "invalid app name '" + app.name + "'",
                 "app names match [a-z][a-z0-9_]* and have at most 48 characters; internal apps are written "
                 "\"apps.<name>\"");
      }
      if (!seen.insert(app.name).second) {
        src.fail(e.source(), "duplicate app '" + app.name + "'", "list each app once in apps");
      }
      cfg.apps.push_back(app);
    }
  }
  if (auto pp = tool->get("plugin_paths")) {
    cfg.plugin_paths = src.str_list(*pp, "plugin_paths");
    // A plugin path is a folder of the project; anything else could hand the engine code
    // the project's owner never put there (SPEC §7).
    auto arr = pp->as_array();
    for (std::size_t i = 0; i < cfg.plugin_paths.size(); ++i) {
      fs::path rel(cfg.plugin_paths[i]);
      fs::path norm = rel.lexically_normal();
      if (cfg.plugin_paths[i].empty() || rel.is_absolute() || norm.empty() || *norm.begin() == "..")
        src.fail((*arr)[i].source(), "plugin_paths entry '" + cfg.plugin_paths[i] + "' is outside the project root",
                 "plugin paths are folders inside the project, relative to its root: move the plugins into the project "
                 "(e.g. plugins/) and list that folder");
    }
  }

  if (auto plugins = tool->get("plugins")) {
    auto pt = plugins->as_table();
    if (!pt)
      src.fail(plugins->source(),
               "[tool.fastappkit.plugins] must be a table of [tool.fastappkit.plugins.<app>] tables");
    for (const auto& [k, v] : *pt) {
      std::string name(k.str());
      auto app = std::find_if(cfg.apps.begin(), cfg.apps.end(), [&](const AppEntry& a) { return a.name == name; });
      if (app == cfg.apps.end() || app->internal) {
        std::vector<std::string> external;
        for (const auto& a : cfg.apps)
          if (!a.internal) external.push_back(a.name);
        std::string near = util::did_you_mean(name, external);
        src.fail(k.source(), "[tool.fastappkit.plugins." + name + "] names no external app of this project",
                 near.empty() ? "pins are for external apps listed in apps" : "did you mean '" + near + "'?");
      }
      auto t = v.as_table();
      if (!t)
        src.fail(v.source(), "[tool.fastappkit.plugins." + name + "] must be a table",
                 "write sha256 = \"<64 hex digits>\" under it");
      src.check_keys(*t, {"sha256"}, "[tool.fastappkit.plugins." + name + "]");
      auto sha = t->get("sha256");
      if (!sha)
        src.fail(v.source(), "[tool.fastappkit.plugins." + name + "] needs 'sha256'",
                 "fastappkit app validate " + name + " prints it");
      std::string hex = src.str(*sha, "sha256");
      std::transform(hex.begin(), hex.end(), hex.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdef") != std::string::npos)
        src.fail(sha->source(), "sha256 of plugin '" + name + "' is not 64 hexadecimal digits",
                 "copy the value that 'fastappkit app validate " + name + "' prints");
      cfg.plugin_pins[name] = {hex, static_cast<int>(sha->source().begin.line),
                               static_cast<int>(sha->source().begin.column)};
    }
  }

  if (auto mig = tool->get("migration")) {
    auto mt = mig->as_table();
    if (!mt) src.fail(mig->source(), "[tool.fastappkit.migration] must be a table");
    src.check_keys(*mt, {"order"}, "[tool.fastappkit.migration]");
    if (auto order = mt->get("order")) {
      auto arr = order->as_array();
      if (!arr) src.fail(order->source(), "migration.order must be an array of app names");
      std::vector<std::string> names;
      for (const auto& a : cfg.apps) names.push_back(a.name);
      std::set<std::string> seen;
      for (const auto& e : *arr) {
        std::string name = src.str(e, "migration.order item");
        if (name.rfind("apps.", 0) == 0) name = name.substr(5);
        if (std::find(names.begin(), names.end(), name) == names.end()) {
          std::string near = util::did_you_mean(name, names);
          src.fail(
              e.source(), "migration.order names unknown app '" + name + "'",
              near.empty() ? "every name in migration.order must be listed in apps" : "did you mean '" + near + "'?");
        }
        if (!seen.insert(name).second) src.fail(e.source(), "app '" + name + "' appears twice in migration.order");
        cfg.order.push_back(name);
      }
    }
  }
  return cfg;
}

ProjectConfig load_project(const fs::path& dir) {
  std::error_code ec;
  fs::path root = fs::weakly_canonical(fs::absolute(dir), ec);
  if (ec) root = fs::absolute(dir);
  fs::path file = root / "fastappkit.toml";
  if (!fs::is_regular_file(file)) {
    // The message is the seed's; a project above the folder is named (it is not used: a command
    // runs where it is asked to, as the seed documents).
    for (fs::path up = root.parent_path(); !up.empty(); up = up.parent_path()) {
      if (fs::is_regular_file(up / "fastappkit.toml", ec))
        throw Error(
            ErrorKind::input, "Configuration file not found: " + file.string(),
            "this folder is inside the project at " + up.string() + ": run from there, or pass -C " + up.string());
      if (up == up.root_path()) break;
    }
    throw Error(ErrorKind::input, "Configuration file not found: " + file.string(),
                "run from the project root, where fastappkit.toml is, or pass -C <project dir>");
  }
  std::string text = util::read_file(file.string());
  return parse_project(text, file.string(), root);
}

}  // namespace fastappkit::config
