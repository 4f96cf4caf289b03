// Commands that move databases: migrate upgrade / downgrade / all / app <n> upgrade|downgrade /
// preview / stamp, and plugin upgrade / downgrade in a plugin's source folder.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "context.hpp"
#include "fastappkit/error.hpp"
#include "fastappkit/project/head_snapshot.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::cli {

using migration::Direction;
using project::Workspace;

namespace {

// Progress lines of a run, as each part and step finishes.
class Progress : public project::Observer {
 public:
  // `after_core` is printed once core's part is done (migrate all: where the internal apps went).
  Progress(const Context& ctx, std::string after_core) : ctx_(ctx), after_core_(std::move(after_core)) {}
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
    if (p.target->is_core() && !after_core_.empty()) ctx_.out << after_core_ << "\n";
  }
  void retrying(const project::TargetPlan&, const std::string& message) override { ctx_.warn(message); }

 private:
  const Context& ctx_;
  std::string after_core_;
};

void warn_modified(const Context& ctx, const project::RunPlan& plan) {
  for (const auto& part : plan.parts)
    for (const auto& id : part.modified)
      ctx.warn(part.target->name + " revision " + id + " (" + part.target->graph->get(id).path +
               ") changed after it was applied; 'fastappkit migrate check' lists every such revision");
}

// Plans every request under the run lock, renders and checks it all, then applies it.
int run(Context& ctx, const Workspace& w, const std::vector<project::Request>& requests, std::string after_core = {}) {
  for (const auto& r : requests)
    migration::validate_target(*r.target->graph, r.revision);  // before a database is opened
  for (const auto& n : w.notes()) ctx.warn(n);
  if (fleet_requested(ctx)) return fleet_migrate(ctx, w, requests);
  // An SQLite file that does not exist yet is not created for a plan that cannot run.
  if (w.url().backend == config::Backend::sqlite && !w.url().is_memory() && !ctx.open_read_only(w.url()))
    w.plan(nullptr, sql::Dialect::sqlite, requests);
  auto conn = ctx.open_for_run(w.url());
  project::RunPlan plan = w.plan(conn.get(), conn->dialect(), requests);
  warn_modified(ctx, plan);
  Progress progress(ctx, std::move(after_core));
  w.apply(*conn, plan, progress, ctx.ddl);
  return 0;
}

std::string required_revision(const Context& ctx, const std::string& message, const std::string& example) {
  if (!ctx.has("revision")) throw Error(ErrorKind::usage, message, example);
  return ctx.opt("revision");
}

// The no-op shortcut (project/head_snapshot.hpp): at head, with nothing changed since a full load,
// print what the full way prints and open nothing else. False: take the full way.
bool at_head_already(Context& ctx, const std::string& after_core = {}) {
  if (ctx.has("databases") || ctx.has("jobs") || ctx.flag("fail-fast")) return false;
  auto snap = project::HeadSnapshot::match(ctx.load(true, true, true));
  if (!snap || snap->url().is_memory()) return false;
  try {
    auto conn = ctx.open_read_only(snap->url());
    if (!conn || !snap->at_head(*conn)) return false;
  } catch (const std::exception&) {
    return false;  // whatever went wrong, the full way meets it again and reports it as usual
  }
  if (ctx.verbosity > 0) {
    ctx.out << "core: nothing to do; alembic_version is at " << snap->head() << " (head)\n";
    if (!after_core.empty()) ctx.out << after_core << "\n";
  }
  return true;
}

std::string internal_apps_note(const std::vector<std::string>& internal) {
  return internal.empty()
             ? ""
             : "internal apps (" + util::join(internal, ", ") + "): skipped, already included in core migrations";
}

}  // namespace

int cmd_upgrade(Context& ctx) {
  if (ctx.opt("revision", "head") == "head" && at_head_already(ctx)) return 0;
  Workspace w = Workspace::open_project(ctx.load(true, true, true));
  return run(ctx, w, {{&w.core(), Direction::upgrade, ctx.opt("revision", "head")}});
}

int cmd_downgrade(Context& ctx) {
  std::string target = required_revision(ctx, "migrate downgrade needs a target revision",
                                         "e.g. fastappkit migrate downgrade -1, or fastappkit migrate downgrade base");
  if (ctx.flag("all")) {
    if (target != "base")
      throw Error(ErrorKind::usage,
                  "migrate downgrade --all reverts every app to base; '" + target + "' names a revision of one graph",
                  "use 'fastappkit migrate downgrade base --all', or downgrade apps one by one");
    Workspace w = Workspace::open_project(ctx.load());
    return run(ctx, w, w.revert_all());
  }
  Workspace w = Workspace::open_project(ctx.load(true, true, true));
  return run(ctx, w, {{&w.core(), Direction::downgrade, target}});
}

int cmd_all(Context& ctx) {
  if (at_head_already(ctx, internal_apps_note(config::load_project(ctx.directory).internal_apps()))) return 0;
  Workspace w = Workspace::open_project(ctx.load());  // every app is checked before the database is touched
  std::vector<project::Request> requests;
  for (const auto& t : w.targets()) requests.emplace_back(&t, Direction::upgrade, "head");
  const auto& internal = w.core().internal_apps;
  for (const auto& t : w.targets())
    if (t.graph->heads().size() > 1)
      throw Error(ErrorKind::usage,
                  (t.is_core() ? std::string("core") : "external app " + t.name) +
                      " has several heads: " + util::join(t.graph->heads(), ", "),
                  t.is_core()
                      ? "merge them first: fastappkit migrate merge -m \"merge heads\" (or apply every branch of core: "
                        "fastappkit migrate upgrade --revision heads)"
                      : "the plugin's revisions must be merged in its source folder; then rebuild it");
  return run(ctx, w, requests, internal_apps_note(internal));
}

int cmd_app_migrate(Context& ctx) {
  const std::string name = ctx.params.at(0), verb = ctx.params.size() > 1 ? ctx.params[1] : "";
  project::require_external_app(config::load_project(ctx.directory), name);
  if (verb == "preview") return cmd_preview(ctx);
  Workspace w = Workspace::open_project(ctx.load(true, true, true));
  const project::Target& t = w.external(name);
  bool upgrade = verb == "upgrade";
  std::string target = upgrade ? ctx.opt("revision", "head")
                               : required_revision(ctx, "migrate app " + name + " downgrade needs --revision",
                                                   "e.g. fastappkit migrate app " + name +
                                                       " downgrade --revision -1, or fastappkit migrate app " + name +
                                                       " downgrade --revision base");
  return run(ctx, w, {{&t, upgrade ? Direction::upgrade : Direction::downgrade, target}});
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
  project::LoadOptions load = ctx.load(true, true, !all && !app);
  if (offline) load.url_use = config::UrlUse::dialect;  // no connection: libpq is not loaded
  Workspace w = Workspace::open_project(load);
  std::string target = ctx.opt("revision", "head");
  std::vector<project::Request> requests;
  const Direction dir = down ? Direction::downgrade : Direction::upgrade;
  if (app) {
    requests.emplace_back(&w.external(ctx.params.at(0)), dir, target);
  } else {
    requests.emplace_back(&w.core(), dir, target);
    if (all)
      for (std::size_t i = 1; i < w.targets().size(); ++i)
        requests.emplace_back(&w.targets()[i], Direction::upgrade, "head");
  }
  for (const auto& r : requests) migration::validate_target(*r.target->graph, r.revision);
  // Offline (Alembic's `--sql` with a start revision): the rows `stamp --purge FROM` would leave
  // stand for the database, which is not opened at all.
  if (offline)
    requests.front().from = migration::stamp_rows(*requests.front().target->graph, {}, ctx.opt("from", ""), true);
  if (fleet_requested(ctx)) {
    if (offline)
      throw Error(ErrorKind::usage, "preview --from reads no database; --databases names databases to read",
                  "leave out --from to preview each database from where it is, or --databases for one offline script");
    return fleet_preview(ctx, w, requests, !app);
  }
  auto conn = offline ? nullptr : ctx.open_read_only(w.url());
  auto dialect = conn ? conn->dialect() : dialect_of(w.url());
  project::RunPlan plan = w.plan(conn.get(), dialect, requests);
  if (!app && offline)
    ctx.out << "-- fastappkit preview for " << sql::dialect_name(dialect) << " from " << ctx.opt("from", "")
            << ", offline: no database is read; nothing is applied\n";
  else if (!app)
    ctx.out << "-- fastappkit preview on " << w.url().redacted() << "; nothing is applied\n";
  write_preview(ctx.out, w, plan);
  return 0;
}

void write_preview(std::ostream& out, const Workspace& w, const project::RunPlan& plan) {
  for (std::size_t i = 0; i < plan.parts.size(); ++i) {
    const auto& part = plan.parts[i];
    const auto& t = *part.target;
    std::ostringstream script;
    w.write_script(script, part);
    out << (i > 0 ? "\n" : "") << "-- " << t.name << " (" << t.version_table
        << "): " << (part.direction == Direction::upgrade ? "upgrade" : "downgrade") << " to " << part.revision
        << " from " << project::describe_revisions(*t.graph, part.current) << "; " << part.plan.steps.size()
        << " migration(s)\n\n"
        << script.str();
  }
}

int cmd_stamp(Context& ctx) {
  std::string target = required_revision(ctx, "migrate stamp needs a revision", "e.g. fastappkit migrate stamp head");
  Workspace w = Workspace::open_project(ctx.load(true, false));
  const auto& t = w.core();
  migration::stamp_rows(*t.graph, {}, target, true);  // refuses a bad target before the database is opened
  if (fleet_requested(ctx)) return fleet_stamp(ctx, w, target);
  auto conn = ctx.open_for_run(w.url());
  auto rows = w.stamp(*conn, t, target, ctx.flag("purge"), ctx.ddl);
  if (ctx.verbosity > 0)
    ctx.out << "core: stamped " << conn->describe() << " at " << project::describe_revisions(*t.graph, rows) << "\n";
  return 0;
}

namespace {

int migrate_source(Context& ctx, bool upgrade) {
  Workspace w = Workspace::open_plugin_source(ctx.load());
  std::string target =
      upgrade ? ctx.opt("revision", "head")
              : required_revision(ctx, "plugin downgrade needs a target revision",
                                  "e.g. fastappkit plugin downgrade -1, or fastappkit plugin downgrade base");
  return run(ctx, w, {{&w.core(), upgrade ? Direction::upgrade : Direction::downgrade, target}});
}

}  // namespace

int cmd_plugin_upgrade(Context& ctx) { return migrate_source(ctx, true); }
int cmd_plugin_downgrade(Context& ctx) { return migrate_source(ctx, false); }

}  // namespace fastappkit::cli
