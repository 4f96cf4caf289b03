#pragma once
// Private to the CLI: what every handler gets. Handlers parse their options, call the library
// (project::Workspace) and format its answers as text or JSON; nothing else.
#include <boost/program_options/variables_map.hpp>
#include <chrono>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "fastappkit/project/run.hpp"
#include "fastappkit/project/workspace.hpp"

namespace boost::program_options {
class options_description;
}

namespace fastappkit::cli {

// What a word means, for colour on a terminal (SGR codes; none when colour is off).
enum class Tone { good, warn, bad, hint, dim };

struct Context {
  Context(std::ostream& o, std::ostream& e) : out(o), err(e) {}
  std::ostream& out;
  std::ostream& err;
  std::string directory = ".";
  std::optional<std::string> database_url;
  int verbosity = 1;  // 0 quiet, 1 normal, 2 verbose
  bool json = false;
  bool color_out = false;  // colour on stdout / stderr: a terminal, no NO_COLOR, or --color always
  bool color_err = false;
  std::chrono::milliseconds lock_timeout{60000};
  run::DdlPolicy ddl;                        // --ddl-lock-timeout, --ddl-retries
  boost::program_options::variables_map vm;  // the command's own options
  std::vector<std::string> params;           // path parameters, e.g. the app in "migrate app <name> ..."

  std::string opt(const std::string& name, const std::string& fallback = {}) const;
  bool flag(const std::string& name) const;
  bool has(const std::string& name) const { return vm.count(name) != 0; }

  // What a command needs loaded besides the project itself, by name: ctx.load({.need_url = false}).
  struct Needs {
    bool need_url = true;       // the database URL is resolved (refused when none is set)
    bool external_apps = true;  // every external app's plugin is loaded
    bool keep_broken = false;   // a plugin that cannot be loaded is recorded and the command goes on
  };
  // The project at -C with --database-url; with --databases no URL is resolved (each database of
  // the fleet names its own).
  project::LoadOptions load(Needs needs) const;
  project::LoadOptions load() const { return load(Needs{}); }
  // --lock-timeout, --ddl-lock-timeout, --ddl-retries.
  project::RunSettings settings() const { return {lock_timeout, ddl}; }
  // Prints one JSON document on stdout.
  void print_json(const nlohmann::ordered_json& doc) const;
  void warn(const std::string& message) const;
  // `text` wrapped in the tone's colour when the stream it goes to (stdout, or stderr) has colour.
  std::string paint(std::string_view text, Tone tone, bool to_err = false) const;
};

// --databases FILE, --jobs N, --fail-fast (SPEC §10) for the commands that can run over a fleet.
void fleet_options(boost::program_options::options_description& d);
// Whether --databases was given; refuses --jobs or --fail-fast without it, --database-url with it.
bool fleet_requested(const Context& ctx);
// A run (upgrade, downgrade, all, app upgrade/downgrade) on every database of the fleet; `notes`
// prints the load's warnings.
int fleet_migrate(Context& ctx, const project::RunRequest& request, project::Observer& notes);
int fleet_status(Context& ctx);
int fleet_check(Context& ctx);
int fleet_current(Context& ctx);
// app list over a fleet: pending migrations per app on each database (as migrate status).
int fleet_app_list(Context& ctx);
// migrate lint over a fleet: each database's pending revisions, on `dialect` or its own.
int fleet_lint(Context& ctx, std::optional<sql::Dialect> dialect);
// migrate stamp over a fleet.
int fleet_stamp(Context& ctx, const std::string& revision);
// migrate preview over a fleet: each database's script, in fleet-file order (`headed`: with the
// "-- fastappkit preview on ..." line, as core's preview has); --json: the fleet summary with them.
int fleet_preview(Context& ctx, const project::PreviewRequest& request, bool headed);

int cmd_upgrade(Context& ctx);
int cmd_downgrade(Context& ctx);
int cmd_preview(Context& ctx);
int cmd_all(Context& ctx);
int cmd_app_migrate(Context& ctx);
int cmd_stamp(Context& ctx);
int cmd_adopt(Context& ctx);
int cmd_current(Context& ctx);
int cmd_heads(Context& ctx);
int cmd_history(Context& ctx);
int cmd_status(Context& ctx);
int cmd_check(Context& ctx);
int cmd_graph(Context& ctx);
int cmd_app_list(Context& ctx);
int cmd_app_validate(Context& ctx);
int cmd_makemigrations_core(Context& ctx);
int cmd_app_makemigrations(Context& ctx);
int cmd_merge(Context& ctx);
int cmd_revision(Context& ctx);
int cmd_plugin_revision(Context& ctx);
int cmd_plugin_upgrade(Context& ctx);
int cmd_plugin_downgrade(Context& ctx);
int cmd_plugin_current(Context& ctx);
int cmd_plugin_history(Context& ctx);
int cmd_plugin_check(Context& ctx);
int cmd_core_new(Context& ctx);
int cmd_app_new(Context& ctx);
int cmd_completion(Context& ctx);
int cmd_manpage(Context& ctx);
int cmd_lint(Context& ctx);

// lint_commands.cpp: the dialect `migrate lint` (and makemigrations) lint for: --dialect, else
// the database URL's backend, else PostgreSQL; and the findings as text.
// One error, redacted (a URL's password never reaches the terminal or the JSON, whatever
// echoed it), for every path that reports one: as JSON {message, hint, file, line, column}
// (null where unknown), and as the lines "fastappkit: error: <prefix><what>" and "  hint: ...".
nlohmann::ordered_json error_json(const Error& e);
void print_error(const Context& ctx, const Error& e, const std::string& prefix = {});

sql::Dialect lint_dialect(const Context& ctx, const project::Workspace& w, bool url_resolved);
void print_findings(const Context& ctx, const std::vector<lint::Finding>& findings);
// One finding as --json gives it.
nlohmann::ordered_json finding_json(const lint::Finding& f);

}  // namespace fastappkit::cli
