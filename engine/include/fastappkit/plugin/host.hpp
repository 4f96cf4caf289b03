#pragma once
// External apps as shared-library plugins (SPEC §7): discovery, checks, loading, and the
// host side of the C ABI (plugin-sdk/include/fastappkit/plugin_abi.h).
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fastappkit/config/project.hpp"
#include "fastappkit/db/connection.hpp"
#include "fastappkit/migration/graph.hpp"
#include "fastappkit/migration/models.hpp"
#include "fastappkit/migration/parse_cache.hpp"

namespace fastappkit::plugin {

// plugin.toml: read without running any plugin code.
struct Manifest {
  std::string name, version, library;
  int abi_major = 0, abi_minor = 0;  // the ABI the plugin needs
  std::filesystem::path folder;
  // The plugin_paths folder it was found in: the plugin folder and its library must resolve
  // inside it. read_manifest() alone sets the folder's parent.
  std::filesystem::path container;
  // The pin of [tool.fastappkit.plugins.<name>], when the project has one.
  std::optional<config::PluginPin> pin;
  std::filesystem::path config_path;  // where the pin is written, for messages
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

// Every folder directly under the project's plugin_paths that holds a plugin.toml, with its
// container and pin set. Throws Error(input) for a manifest that does not parse, naming the
// folder, and for a plugin_paths folder that resolves outside the project root or that others
// can write to (nothing in it is trusted then).
std::vector<Manifest> discover(const config::ProjectConfig& config);
// The same, folder by folder: a folder whose plugin.toml cannot be read comes back with its
// error instead of stopping the others. A plugin_paths folder that cannot be trusted still
// throws (nothing in it is).
struct Found {
  std::filesystem::path folder;
  std::optional<Manifest> manifest;
  std::optional<Error> error;
};
std::vector<Found> discover_folders(const config::ProjectConfig& config);
Manifest read_manifest(const std::filesystem::path& folder);

// Whether the engine may open the plugin's library at all (SPEC §7), without opening it:
// the plugin_paths folder, the plugin folder, plugin.toml and the library are writable by no
// one but their owner and owned by root or the user running fastappkit; the folder and the
// library resolve (through symlinks and "..") inside the plugin_paths folder; the library's
// SHA-256 equals the project's pin, when there is one. Throws Error(input) naming the path,
// the reason and the fix.
void check_trust(const Manifest& m);

// Lowercase hex SHA-256 of a file (OpenSSL's EVP); throws Error(input) if it cannot be read.
std::string sha256_file(const std::filesystem::path& file);

// "sha256 <hex>" of the plugin's library and what the project's pin says about it, for
// `app validate` (so a user can pin it). Reads the file; never opens it as a library.
std::string pin_status(const Manifest& m);

// The names a shared library exports to dlsym: the defined, global or weak, default- or
// protected-visibility symbols of its dynamic symbol table, which `strip` keeps. Read from the
// file with bounds checks; the library is never opened as a library. Throws std::runtime_error
// saying why for a file that is not a 64-bit ELF shared object of this machine.
std::vector<std::string> exported_symbols(const std::filesystem::path& library);

// The checks that need no plugin code: check_trust(), then the library exports the entry
// symbol of this host's ABI major and the manifest's ABI is one this host supports.
void check_library(const Manifest& m);

// Loads, calls the entry, checks the descriptor (magic, ABI, struct_size, name and version
// against the manifest), and parses the embedded models and migrations. Throws Error(input)
// whose message names the plugin folder. `cache` (optional) keeps the parsed revisions and the
// validated set between runs.
Plugin load(const Manifest& m, migration::ParseCache* cache = nullptr);

// The C ABI's placeholder convention for PostgreSQL (plugin_abi.h): numbers each `?` outside
// literals, quoted identifiers, comments and dollar-quoted bodies as $1, $2, ...; `?|` and
// `?&` stay, `??` becomes `?`; with no parameters the text is returned unchanged. Throws
// std::invalid_argument when the count of placeholders differs from `param_count`.
std::string number_placeholders(std::string_view sql, std::size_t param_count);

}  // namespace fastappkit::plugin
