#pragma once
// fastappkit.toml: which apps a project has, where plugins live, and in what order apps migrate.
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace fastappkit::config {

struct AppEntry {
  std::string name;       // "blog" for both "apps.blog" and "blog"
  bool internal = false;  // written as "apps.<name>"
  int line = 0, col = 0;  // where it is written in fastappkit.toml
};

// [tool.fastappkit.plugins.<name>] sha256 = "...": the library's expected SHA-256 (lowercase
// hex), and where it is written, so a mismatch can point at the line to update.
struct PluginPin {
  std::string sha256;
  int line = 0, col = 0;
};

struct ProjectConfig {
  std::filesystem::path root;         // absolute project folder
  std::filesystem::path config_path;  // <root>/fastappkit.toml
  std::vector<AppEntry> apps;         // in `apps` order
  std::vector<std::string> plugin_paths{"plugins"};
  std::vector<std::string> order;                // migration.order as written
  std::map<std::string, PluginPin> plugin_pins;  // by external app name

  // Apps in migration order: those named by migration.order first, the rest in `apps` order.
  std::vector<AppEntry> ordered_apps() const;
  std::vector<std::string> internal_apps() const;  // in migration order
  std::vector<std::string> external_apps() const;  // in migration order
  std::filesystem::path migrations_dir() const { return root / "core" / "db" / "migrations"; }
  std::filesystem::path versions_dir() const { return migrations_dir() / "versions"; }
};

// Reads <dir>/fastappkit.toml; throws Error(input) naming file:line:col on any problem.
ProjectConfig load_project(const std::filesystem::path& dir);
// Parses already-read text; `path` is used in messages only.
ProjectConfig parse_project(std::string_view text, const std::string& path, const std::filesystem::path& root);

}  // namespace fastappkit::config
