// Commands that move databases: migrate upgrade / downgrade / all / app <n> upgrade|downgrade /
// preview / stamp, and plugin upgrade / downgrade in a plugin's source folder.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "context.hpp"
#include "fastappkit/error.hpp"
#include "fastappkit/project/run.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::cli {

using migration::Direction;

namespace {

// Progress lines of a run, as each part and step finishes, and its warnings.
class Progress : public project::Observer {
 public:
  // `internal_apps_note`: after core's part, say where the internal apps went (migrate all).
  Progress(const Context& ctx, bool internal_apps_note) : ctx_(ctx), internal_apps_note_(internal_apps_note) {}
  void note(const std::string& message) override { ctx_.warn(message); }
  void modified(const project::TargetPlan& p, const std::string& id) override {
    ctx_.warn(p.target->name + " revision " + id + " (" + p.target->graph->get(id).path +
              ") changed after it was applied; 'fastappkit migrate check' lists every such revision");
  }
  void at_head(const std::string& version_table, const std::string& head,
               const std::vector<std::string>& internal_apps) override {
    if (ctx_.verbosity == 0) return;
    ctx_.out << "core: nothing to do; " << version_table << " is at " << head << " (head)\n";
    after_core(internal_apps);
  }
  void part_started(const project::TargetPlan& p, const std::string& database) override {
    if (ctx_.verbosity == 0) return;
    const auto& t = *p.target;
    if (p.steps.empty())
      ctx_.out << t.name << ": nothing to do; " << t.version_table << " is at "
               << project::describe_revisions(*t.graph, p.current) << "\n";
    else
      ctx_.out << t.name << ": " << (p.direction == Direction::upgrade ? "applying " : "reverting ") << p.steps.size()
               << " migration(s) on " << database << " ("
               << (t.is_core() ? "internal apps are included in core" : t.version_table) << ")\n";
  }
  void step_done(const project::TargetPlan& p, const run::StepReport& r) override {
    if (ctx_.verbosity == 0) return;
    const auto& m = *r.step.migration;
    char ms[32];
    std::snprintf(ms, sizeof ms, "%.1f ms", r.milliseconds);
    const std::string verb = r.skipped                           ? ctx_.paint("skipped", Tone::dim)
                             : p.direction == Direction::upgrade ? ctx_.paint("applied", Tone::good)
                                                                 : ctx_.paint("reverted", Tone::warn);
    ctx_.out << "  " << r.app << "  " << verb << " " << m.revision << "  " << m.message << "  "
             << (r.skipped ? std::string("(already done by another run)") : std::string("(") + ms + ")") << "\n";
    if (ctx_.verbosity > 1) {
      for (const auto& [i, op] : r.step.calls) ctx_.out << "      -- call " << op->extra().function << "\n";
      for (const auto& st : r.step.statements) ctx_.out << "      " << st << ";\n";
    }
  }
  void part_done(const project::TargetPlan& p, const std::vector<std::string>& rows) override {
    if (ctx_.verbosity == 0) return;
    if (!p.steps.empty())
      ctx_.out << p.target->name << ": " << p.target->version_table << " is now at "
               << project::describe_revisions(*p.target->graph, rows) << "\n";
    if (p.target->is_core()) after_core(p.target->internal_apps);
  }
  void retrying(const project::TargetPlan&, const std::string& message) override { ctx_.warn(message); }

 private:
  void after_core(const std::vector<std::string>& internal_apps) const {
    if (internal_apps_note_ && !internal_apps.empty())
      ctx_.out << "internal apps (" << util::join(internal_apps, ", ")
               << "): skipped, already included in core migrations\n";
  }
  const Context& ctx_;
  bool internal_apps_note_;
};

std::string required_revision(const Context& ctx, const std::string& message, const std::string& example) {
  if (!ctx.has("revision")) throw Error(ErrorKind::usage, message, example);
  return ctx.opt("revision");
}

// A run request on the database(s) the options name: the project's, or each of a fleet's.
int run(Context& ctx, const project::RunRequest& request) {
  Progress progress(ctx, request.scope == project::RunRequest::Scope::all);
  if (fleet_requested(ctx)) return fleet_migrate(ctx, request, progress);
  project::migrate(ctx.load(), request, ctx.settings(), progress);
  return 0;
}

}  // namespace

int cmd_upgrade(Context& ctx) {
  return run(ctx, {.direction = Direction::upgrade, .revision = ctx.opt("revision", "head")});
}

int cmd_downgrade(Context& ctx) {
  std::string target = required_revision(ctx, "migrate downgrade needs a target revision",
                                         "e.g. fastappkit migrate downgrade -1, or fastappkit migrate downgrade base");
  using Scope = project::RunRequest::Scope;
  return run(ctx, {.scope = ctx.flag("all") ? Scope::everything : Scope::core,
                   .direction = Direction::downgrade,
                   .revision = target});
}

int cmd_all(Context& ctx) { return run(ctx, {.scope = project::RunRequest::Scope::all}); }

int cmd_app_migrate(Context& ctx) {
  const std::string name = ctx.params.at(0), verb = ctx.params.size() > 1 ? ctx.params[1] : "";
  if (verb == "preview") return cmd_preview(ctx);
  const bool upgrade = verb == "upgrade";
  std::string target = upgrade ? ctx.opt("revision", "head")
                               : required_revision(ctx, "migrate app " + name + " downgrade needs --revision",
                                                   "e.g. fastappkit migrate app " + name +
                                                       " downgrade --revision -1, or fastappkit migrate app " + name +
                                                       " downgrade --revision base");
  return run(ctx, {.scope = project::RunRequest::Scope::app,
                   .app = name,
                   .direction = upgrade ? Direction::upgrade : Direction::downgrade,
                   .revision = target});
}

int cmd_preview(Context& ctx) {
  const bool app = !ctx.params.empty();
  const bool down = ctx.flag("downgrade"), all = ctx.flag("all"), offline = ctx.has("from");
  if (down && !ctx.has("revision"))
    throw Error(ErrorKind::usage, "preview --downgrade needs --revision",
                "e.g. fastappkit migrate preview --downgrade --revision -1");
  if (all && ctx.has("revision"))
    throw Error(ErrorKind::usage, "preview --all previews every app to its head", "leave out --revision");
  if (all && offline)
    throw Error(ErrorKind::usage,
                "preview --from names a revision of one app; --all starts each app where its database is",
                "preview core and each external app alone: 'fastappkit migrate preview --from R' and "
                "'fastappkit migrate app <name> preview --from R'");
  using Scope = project::RunRequest::Scope;
  project::PreviewRequest request;
  request.run = {.scope = app   ? Scope::app
                          : all ? Scope::all
                                : Scope::core,
                 .app = app ? ctx.params.at(0) : std::string(),
                 .direction = down ? Direction::downgrade : Direction::upgrade,
                 .revision = ctx.opt("revision", "head")};
  if (offline) request.from = ctx.opt("from");
  if (fleet_requested(ctx)) return fleet_preview(ctx, request, !app);
  project::write_preview(ctx.out, project::preview(ctx.load(), request, ctx.settings()), !app);
  return 0;
}

int cmd_stamp(Context& ctx) {
  std::string target = required_revision(ctx, "migrate stamp needs a revision", "e.g. fastappkit migrate stamp head");
  if (fleet_requested(ctx)) return fleet_stamp(ctx, target);
  const project::Stamped s = project::stamp(ctx.load(), target, ctx.flag("purge"), ctx.settings());
  if (ctx.verbosity > 0)
    ctx.out << "core: stamped " << s.database << " at " << project::describe_revisions(*s.graph, s.rows) << "\n";
  return 0;
}

namespace {

int migrate_source(Context& ctx, bool upgrade) {
  std::string target =
      upgrade ? ctx.opt("revision", "head")
              : required_revision(ctx, "plugin downgrade needs a target revision",
                                  "e.g. fastappkit plugin downgrade -1, or fastappkit plugin downgrade base");
  return run(ctx, {.folder = project::RunRequest::Folder::plugin_source,
                   .direction = upgrade ? Direction::upgrade : Direction::downgrade,
                   .revision = target});
}

}  // namespace

int cmd_plugin_upgrade(Context& ctx) { return migrate_source(ctx, true); }
int cmd_plugin_downgrade(Context& ctx) { return migrate_source(ctx, false); }

}  // namespace fastappkit::cli
