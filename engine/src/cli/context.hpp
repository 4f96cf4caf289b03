#pragma once
// Private to the CLI: what every handler gets, and the loading every migrate command shares.
#include <boost/program_options/variables_map.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "fastappkit/config/database_url.hpp"
#include "fastappkit/config/project.hpp"
#include "fastappkit/migration/graph.hpp"
#include "fastappkit/migration/models.hpp"
#include "fastappkit/plugin/host.hpp"
#include "fastappkit/run/migrator.hpp"

namespace fastappkit::cli {

struct Context {
  Context(std::ostream& o, std::ostream& e) : out(o), err(e) {}
  std::ostream& out;
  std::ostream& err;
  std::string directory = ".";
  std::optional<std::string> database_url;
  int verbosity = 1;  // 0 quiet, 1 normal, 2 verbose
  bool json = false;
  std::chrono::milliseconds lock_timeout{60000};
  boost::program_options::variables_map vm;  // the command's own options
  std::vector<std::string> params;           // path parameters, e.g. the app in "migrate app <name> ..."

  std::string opt(const std::string& name, const std::string& fallback = {}) const {
    return vm.count(name) ? vm[name].as<std::string>() : fallback;
  }
  bool flag(const std::string& name) const { return vm.count(name) && vm[name].as<bool>(); }
};

// The project, the core revision graph and the database URL, all checked before any
// connection is made.
struct CoreProject {
  config::ProjectConfig config;
  std::unique_ptr<migration::RevisionGraph> graph;
  config::DatabaseUrl url;
};
CoreProject load_core(const Context& ctx, bool need_url = true);

// Core plus the models of core and internal apps and every external app's plugin, loaded
// and checked together (SPEC §9: nothing touches the database before this passes).
struct FullProject {
  CoreProject core;
  migration::ModelSet models;
  std::vector<plugin::Plugin> plugins;
};
FullProject load_full(const Context& ctx, bool need_url = true);

// One revision graph and its version table: core (with internal apps) or an external app.
struct Target {
  const migration::RevisionGraph* graph;
  std::string label;
  std::string version_table;
  run::CallHandler calls;
};
Target core_target(const CoreProject& p);
Target plugin_target(const plugin::Plugin& p);
// Shared by the autogenerate commands of core, internal apps and plugin source folders.
std::string require_message(const Context& ctx, const std::string& usage);
std::vector<std::string> single_parent(const migration::RevisionGraph& g);
// Writes a new revision (fresh id, create_date now) into `versions_dir`, reads it back, and
// prints what it does.
std::filesystem::path write_revision(Context& ctx, const migration::RevisionGraph& graph, const std::filesystem::path& versions_dir,
                                     migration::Migration m);
// Schemas put in a comparable form (SQLite keeps no constraint names; default spellings).
migration::Schema comparable(migration::Schema s, bool names_kept);
std::vector<std::string> differences(const migration::Schema& expected, const migration::Schema& actual);

// Applies a plan for one target with progress lines.
void apply_plan(Context& ctx, db::Connection& conn, const Target& t, bool upgrade, const std::string& target);
// Opens the database for writing and takes the run lock.
std::unique_ptr<db::Connection> open_for_run(Context& ctx, const config::DatabaseUrl& url);
void print_current(Context& ctx, const Target& t, db::Connection* conn);
void print_history(Context& ctx, const migration::RevisionGraph& g, const std::string& default_app);

std::string describe_revisions(const migration::RevisionGraph& g, const std::vector<std::string>& ids);
std::string json_list(const std::vector<std::string>& v);

int cmd_upgrade(Context& ctx);
int cmd_downgrade(Context& ctx);
int cmd_preview(Context& ctx);
int cmd_current(Context& ctx);
int cmd_heads(Context& ctx);
int cmd_history(Context& ctx);
int cmd_status(Context& ctx);
int cmd_stamp(Context& ctx);
int cmd_makemigrations_core(Context& ctx);
int cmd_app_makemigrations(Context& ctx);
int cmd_app_migrate(Context& ctx);
int cmd_app_list(Context& ctx);
int cmd_app_validate(Context& ctx);
int cmd_merge(Context& ctx);
int cmd_check(Context& ctx);
int cmd_all(Context& ctx);
int cmd_plugin_revision(Context& ctx);
int cmd_plugin_upgrade(Context& ctx);
int cmd_plugin_downgrade(Context& ctx);
int cmd_plugin_current(Context& ctx);
int cmd_plugin_history(Context& ctx);
int cmd_plugin_check(Context& ctx);
int cmd_core_new(Context& ctx);
int cmd_app_new(Context& ctx);

}  // namespace fastappkit::cli
