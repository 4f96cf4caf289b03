#pragma once
// How a project (or a plugin source folder) is loaded: Workspace::open_project and
// open_plugin_source, and the no-op shortcut (head_snapshot.hpp), which must load nothing more.
#include <filesystem>
#include <optional>
#include <string>

#include "fastappkit/config/database_url.hpp"

namespace fastappkit::project {

struct LoadOptions {
  std::filesystem::path directory = ".";
  std::optional<std::string> database_url;  // --database-url
  bool need_url = true;                     // resolve the database URL (refused when none is set)
  // Only its dialect is needed (preview --from): a PostgreSQL URL is not handed to libpq.
  config::UrlUse url_use = config::UrlUse::connect;
  bool external_apps = true;  // load the plugins of the manifest
  // Record a plugin that cannot be loaded in broken() and go on (status, app list, check);
  // otherwise loading stops with its error.
  bool keep_broken = false;
};

}  // namespace fastappkit::project
