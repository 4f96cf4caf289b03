#pragma once
// External apps as shared-library plugins (SPEC §7): discovery, checks, loading, and the
// host side of the C ABI (plugin-sdk/include/fastappkit/plugin_abi.h).
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fastappkit/config/project.hpp"
#include "fastappkit/db/connection.hpp"
#include "fastappkit/migration/graph.hpp"
#include "fastappkit/migration/models.hpp"

namespace fastappkit::plugin {

// plugin.toml: read without running any plugin code.
struct Manifest {
  std::string name, version, library;
  int abi_major = 0, abi_minor = 0;
  std::filesystem::path folder;
};

// Owns a loaded library; kept alive by every Plugin that took something from it.
class Library;

struct Plugin {
  Manifest manifest;
  std::shared_ptr<Library> library;
  std::string models_text;
  migration::ModelSet models;
  std::unique_ptr<migration::RevisionGraph> graph;
  std::vector<std::string> step_names;

  std::string version_table() const { return "alembic_version_" + manifest.name; }
  // Tables the plugin's models declare or its migrations name.
  std::set<std::string> tables() const;
  // Runs the plugin's C++ step for a `call` operation on `conn`, inside its transaction.
  // Throws db::DbError carrying the plugin's (or the database's) message.
  void call(const migration::Operation& op, db::Connection& conn) const;
};

// Every folder directly under the project's plugin_paths that holds a plugin.toml.
// Throws Error(input) for a manifest that does not parse, naming the folder.
std::vector<Manifest> discover(const config::ProjectConfig& config);
Manifest read_manifest(const std::filesystem::path& folder);

// The checks that need no plugin code: the library exists, exports the entry symbol of this
// host's ABI major, and the manifest's ABI is one this host supports.
void check_library(const Manifest& m);

// Loads, calls the entry, checks the descriptor (magic, ABI, struct_size, name and version
// against the manifest), and parses the embedded models and migrations. Throws Error(input)
// whose message names the plugin folder.
Plugin load(const Manifest& m);

// Which app owns each table of core and the internal apps (for collision messages).
std::map<std::string, std::string> core_table_owners(const migration::ModelSet& core_models, const migration::Schema& core_head);
// Refuses a plugin whose tables collide with `owner`'s (then records them there), or whose
// foreign keys reference tables that are neither its own nor core's.
void check_tables(const Plugin& p, std::map<std::string, std::string>& owner, const migration::ModelSet& core_models,
                  const migration::Schema& core_head);

// The external apps a project lists, found, loaded and checked together against core and
// internal apps' tables and against each other, in migration order.
std::vector<Plugin> load_project_plugins(const config::ProjectConfig& config, const migration::ModelSet& core_models,
                                         const migration::Schema& core_head);

}  // namespace fastappkit::plugin
