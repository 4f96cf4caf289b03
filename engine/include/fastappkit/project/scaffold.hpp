#pragma once
// Scaffolding (fastappkit core new / app new [--as-plugin]). Names are checked, nothing existing
// is overwritten; each returns the folder it made.
#include <filesystem>
#include <string>

namespace fastappkit::project {

// A project in <parent>/<name>: fastappkit.toml, a SQLite .env, core/models.toml, the
// migrations folder, apps/ and plugins/.
std::filesystem::path new_project(const std::filesystem::path& parent, const std::string& name);
// An external app's source folder in <parent>/<name> that builds with the installed SDK.
std::filesystem::path new_plugin_source(const std::filesystem::path& parent, const std::string& name);
// apps/<name>/models.toml in the project at `project_dir`, and "apps.<name>" added to its
// apps (by editing the text, so comments and layout stay).
struct NewInternalApp {
  std::filesystem::path folder;       // apps/<name>/
  std::filesystem::path config_path;  // the fastappkit.toml it was added to
};
NewInternalApp new_internal_app(const std::filesystem::path& project_dir, const std::string& name);

}  // namespace fastappkit::project
