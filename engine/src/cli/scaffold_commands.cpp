// fastappkit core new <name> / app new <name> [--as-plugin]: the options and the output; the
// files are made by project::new_project / new_internal_app / new_plugin_source.
#include "context.hpp"
#include "fastappkit/error.hpp"
#include "fastappkit/project/scaffold.hpp"

namespace fastappkit::cli {

namespace {

std::string required_name(const Context& ctx, const std::string& usage) {
  std::string name = ctx.opt("name");
  if (name.empty()) throw Error(ErrorKind::usage, "a name is required", "usage: " + usage);
  return name;
}

}  // namespace

int cmd_core_new(Context& ctx) {
  std::string name = required_name(ctx, "fastappkit core new <name>");
  auto dir = project::new_project(ctx.directory, name);
  if (ctx.verbosity > 0)
    ctx.out << "Created project " << dir.string() << "\n  next: cd " << name << " && fastappkit app new <app>\n";
  return 0;
}

int cmd_app_new(Context& ctx) {
  std::string name = required_name(ctx, "fastappkit app new <name> [--as-plugin]");
  if (ctx.flag("as-plugin")) {
    auto dir = project::new_plugin_source(ctx.directory, name);
    if (ctx.verbosity > 0) ctx.out << "Created plugin source folder " << dir.string() << "\n";
    return 0;
  }
  const auto made = project::new_internal_app(ctx.directory, name);
  if (ctx.verbosity > 0)
    ctx.out << "Created internal app " << made.folder.string() << " and added \"apps." << name << "\" to "
            << made.config_path.string() << "\n  next: edit its models.toml, then fastappkit migrate app " << name
            << " makemigrations -m \"...\"\n";
  return 0;
}

}  // namespace fastappkit::cli
