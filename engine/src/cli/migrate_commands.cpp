// migrate upgrade / downgrade / preview / current / heads / history / status / stamp
#include <filesystem>
#include <sstream>

#include "context.hpp"
#include "fastappkit/db/connection.hpp"
#include "fastappkit/error.hpp"
#include "fastappkit/plugin/host.hpp"
#include "fastappkit/run/migrator.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::cli {

namespace fs = std::filesystem;
using migration::Direction;

CoreProject load_core(const Context& ctx, bool need_url) {
  CoreProject p;
  p.config = config::load_project(ctx.directory);
  for (const auto& app : p.config.apps) {
    if (app.internal && !fs::is_directory(p.config.root / "apps" / app.name)) {
      throw Error(ErrorKind::input,
                  p.config.config_path.string() + ":" + std::to_string(app.line) + ":" + std::to_string(app.col) + ": internal app '" +
                      app.name + "' has no folder " + (p.config.root / "apps" / app.name).string(),
                  "create it with 'fastappkit app new " + app.name + "', or remove \"apps." + app.name + "\" from apps");
    }
  }
  if (!fs::is_directory(p.config.versions_dir())) {
    throw Error(ErrorKind::input, "Core migrations directory not found: " + p.config.versions_dir().string(),
                "check the project structure: core/db/migrations/versions/ must exist");
  }
  auto migrations = migration::load_migrations(p.config.versions_dir());
  auto internal = p.config.internal_apps();
  for (const auto& m : migrations) {
    if (!m.app.empty() && m.app != "core" && std::find(internal.begin(), internal.end(), m.app) == internal.end()) {
      throw Error(ErrorKind::input, m.path + ": app = \"" + m.app + "\" is not an internal app of this project",
                  "list \"apps." + m.app + "\" in fastappkit.toml, or fix the app key of this revision");
    }
  }
  p.graph = std::make_unique<migration::RevisionGraph>(std::move(migrations));
  if (need_url) p.url = config::resolve_database_url(ctx.database_url, p.config.root);
  return p;
}

FullProject load_full(const Context& ctx, bool need_url) {
  FullProject f;
  f.core = load_core(ctx, need_url);
  f.models = migration::load_project_models(f.core.config.root, f.core.config.internal_apps());
  auto head = migration::state_at(*f.core.graph, f.core.graph->ancestors(f.core.graph->heads()));
  f.plugins = plugin::load_project_plugins(f.core.config, f.models, head);
  return f;
}

Target core_target(const CoreProject& p) { return {p.graph.get(), "core", "alembic_version", {}}; }

Target plugin_target(const plugin::Plugin& p) {
  return {p.graph.get(), p.manifest.name, p.version_table(),
          [&p](const migration::Operation& op, db::Connection& conn) { p.call(op, conn); }};
}

std::string describe_revisions(const migration::RevisionGraph& g, const std::vector<std::string>& ids) {
  if (ids.empty()) return "base (nothing applied)";
  auto heads = g.heads();
  std::vector<std::string> parts;
  for (const auto& id : ids) {
    bool head = std::find(heads.begin(), heads.end(), id) != heads.end();
    parts.push_back(id + (head ? " (head)" : ""));
  }
  return util::join(parts, ", ");
}

std::string json_list(const std::vector<std::string>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + util::json_escape(v[i]);
  return out + "]";
}

void apply_plan(Context& ctx, db::Connection& conn, const Target& t, bool upgrade, const std::string& target) {
  const auto& g = *t.graph;
  run::Migrator migrator(g, t.label, t.version_table, conn.dialect(), t.calls);
  auto current = migrator.current(&conn);
  auto plan = upgrade ? migration::plan_upgrade(g, current, target) : migration::plan_downgrade(g, current, target);
  auto steps = migrator.render(plan, current);  // every step renders before anything is written
  if (upgrade) {
    for (const auto& id : migrator.modified_since_applied(conn, migration::applied_set(g, current, t.version_table)))
      ctx.err << "fastappkit: warning: " << t.label << " revision " << id << " (" << g.get(id).path << ") changed after it was applied\n";
  }
  migrator.ensure_tables(conn);
  if (ctx.verbosity > 0) {
    if (steps.empty())
      ctx.out << t.label << ": nothing to do; " << t.version_table << " is at " << describe_revisions(g, current) << "\n";
    else
      ctx.out << t.label << ": " << (upgrade ? "applying " : "reverting ") << steps.size() << " migration(s) on " << conn.describe() << " ("
              << (t.label == "core" ? "internal apps are included in core" : t.version_table) << ")\n";
  }
  migrator.run(conn, steps, [&](const run::StepReport& r) {
    if (ctx.verbosity == 0) return;
    const auto& m = *r.step.migration;
    char ms[32];
    std::snprintf(ms, sizeof ms, "%.1f ms", r.milliseconds);
    ctx.out << "  " << r.app << "  " << (upgrade ? "applied " : "reverted ") << m.revision << "  " << m.message << "  "
            << (r.skipped ? std::string("(skipped: already done by another run)") : std::string("(") + ms + ")") << "\n";
    if (ctx.verbosity > 1) {
      for (const auto& [i, op] : r.step.calls) ctx.out << "      -- call " << op->function << "\n";
      for (const auto& st : r.step.statements) ctx.out << "      " << st << ";\n";
    }
  });
  if (ctx.verbosity > 0 && !steps.empty())
    ctx.out << t.label << ": " << t.version_table << " is now at " << describe_revisions(g, migrator.current(&conn)) << "\n";
}

// Opens the database for writing and takes the run lock, for one or several targets.
std::unique_ptr<db::Connection> open_for_run(Context& ctx, const config::DatabaseUrl& url) {
  auto conn = db::open(url, db::OpenMode::read_write, ctx.lock_timeout);
  conn->lock_for_run(ctx.lock_timeout);
  return conn;
}

namespace {

void write_preview(Context& ctx, db::Connection* conn, sql::Dialect dialect, const Target& t, bool down, const std::string& target) {
  const auto& g = *t.graph;
  run::Migrator migrator(g, t.label, t.version_table, dialect, t.calls);
  auto current = migrator.current(conn);
  auto plan = down ? migration::plan_downgrade(g, current, target) : migration::plan_upgrade(g, current, target);
  std::ostringstream script;
  migrator.write_script(script, plan, current, conn && conn->table_exists(t.version_table));
  ctx.out << "-- " << t.label << " (" << t.version_table << "): " << (down ? "downgrade" : "upgrade") << " to " << target << " from "
          << describe_revisions(g, current) << "; " << plan.steps.size() << " migration(s)\n\n"
          << script.str();
}

const plugin::Plugin& find_plugin(const FullProject& f, const std::string& name) {
  for (const auto& p : f.plugins)
    if (p.manifest.name == name) return p;
  throw Error(ErrorKind::usage, "no external app '" + name + "'", "external apps are listed in fastappkit.toml apps");
}

// Refuses internal apps (their migrations are core's) and unknown names, before any loading.
void require_external(const config::ProjectConfig& config, const std::string& name) {
  std::vector<std::string> names;
  for (const auto& a : config.apps) {
    names.push_back(a.name);
    if (a.name != name) continue;
    if (a.internal)
      throw Error(ErrorKind::usage, "per-app upgrade/downgrade/preview is not supported for internal app '" + name + "': its migrations are part of core",
                  "use the unified commands: fastappkit migrate upgrade, fastappkit migrate downgrade <rev>, fastappkit migrate preview");
    return;
  }
  std::string near = util::did_you_mean(name, names);
  throw Error(ErrorKind::usage, "no app '" + name + "' in " + config.config_path.string(),
              near.empty() ? "apps are listed in [tool.fastappkit] apps" : "did you mean '" + near + "'?");
}

}  // namespace

int cmd_upgrade(Context& ctx) {
  CoreProject p = load_core(ctx);
  std::string target = ctx.opt("revision", "head");
  migration::validate_target(*p.graph, target);
  auto conn = open_for_run(ctx, p.url);
  apply_plan(ctx, *conn, core_target(p), true, target);
  return 0;
}

int cmd_all(Context& ctx) {
  FullProject f = load_full(ctx);  // every app is checked before the database is touched
  auto conn = open_for_run(ctx, f.core.url);
  apply_plan(ctx, *conn, core_target(f.core), true, "head");
  auto internal = f.core.config.internal_apps();
  if (ctx.verbosity > 0 && !internal.empty())
    ctx.out << "internal apps (" << util::join(internal, ", ") << "): skipped, already included in core migrations\n";
  for (const auto& p : f.plugins) apply_plan(ctx, *conn, plugin_target(p), true, "head");
  return 0;
}

int cmd_app_migrate(Context& ctx) {
  const std::string name = ctx.params.at(0);
  const std::string verb = ctx.params.size() > 1 ? ctx.params[1] : "";
  require_external(config::load_project(ctx.directory), name);
  FullProject f = load_full(ctx);
  const plugin::Plugin& p = find_plugin(f, name);
  Target t = plugin_target(p);
  if (verb == "preview") {
    auto conn = db::open(f.core.url, db::OpenMode::read_only, ctx.lock_timeout);
    auto dialect = f.core.url.backend == config::Backend::sqlite ? sql::Dialect::sqlite : sql::Dialect::postgresql;
    bool down = ctx.flag("downgrade");
    std::string target = ctx.opt("revision", "head");
    if (down && !ctx.vm.count("revision")) throw Error(ErrorKind::usage, "preview --downgrade needs --revision", "e.g. --downgrade --revision base");
    write_preview(ctx, conn.get(), dialect, t, down, target);
    return 0;
  }
  bool upgrade = verb == "upgrade";
  if (!upgrade && !ctx.vm.count("revision"))
    throw Error(ErrorKind::usage, "migrate app " + name + " downgrade needs --revision", "e.g. --revision base, or --revision -1");
  std::string target = ctx.opt("revision", "head");
  migration::validate_target(*p.graph, target);
  auto conn = open_for_run(ctx, f.core.url);
  apply_plan(ctx, *conn, t, upgrade, target);
  return 0;
}

int cmd_downgrade(Context& ctx) {
  if (!ctx.vm.count("revision"))
    throw Error(ErrorKind::usage, "migrate downgrade needs a target revision", "e.g. fastappkit migrate downgrade -1, or ... downgrade base");
  CoreProject p = load_core(ctx);
  std::string target = ctx.opt("revision");
  migration::validate_target(*p.graph, target);
  auto conn = open_for_run(ctx, p.url);
  apply_plan(ctx, *conn, core_target(p), false, target);
  return 0;
}

int cmd_preview(Context& ctx) {
  bool down = ctx.flag("downgrade");
  bool all = ctx.flag("all");
  if (down && !ctx.vm.count("revision")) throw Error(ErrorKind::usage, "preview --downgrade needs --revision", "e.g. --downgrade --revision -1");
  if (all && ctx.vm.count("revision")) throw Error(ErrorKind::usage, "preview --all previews every app to its head", "leave out --revision");
  FullProject f;
  if (all) f = load_full(ctx);
  else f.core = load_core(ctx);
  const CoreProject& p = f.core;
  auto conn = db::open(p.url, db::OpenMode::read_only, ctx.lock_timeout);
  auto dialect = conn ? conn->dialect() : (p.url.backend == config::Backend::sqlite ? sql::Dialect::sqlite : sql::Dialect::postgresql);
  std::string target = ctx.opt("revision", "head");
  ctx.out << "-- fastappkit preview on " << p.url.redacted() << "; nothing is applied\n";
  write_preview(ctx, conn.get(), dialect, core_target(p), down, target);
  for (const auto& pl : f.plugins) {
    ctx.out << "\n";
    write_preview(ctx, conn.get(), dialect, plugin_target(pl), false, "head");
  }
  return 0;
}

void print_current(Context& ctx, const Target& t, db::Connection* conn) {
  run::Migrator migrator(*t.graph, t.label, t.version_table, conn ? conn->dialect() : sql::Dialect::sqlite);
  auto current = migrator.current(conn);
  if (ctx.json) {
    ctx.out << "{\"app\": " << util::json_escape(t.label) << ", \"version_table\": " << util::json_escape(t.version_table)
            << ", \"current\": " << json_list(current)
            << ", \"revisions\": " << json_list(migration::current_heads(*t.graph, current, t.version_table)) << "}\n";
    return;
  }
  // Alembic's `current`: the rows and the revisions they imply that nothing applied follows.
  auto shown = migration::current_heads(*t.graph, current, t.version_table);
  auto heads = t.graph->heads();
  if (shown.empty() && ctx.verbosity > 0) ctx.out << "(no revision applied)\n";
  for (const auto& id : shown) {
    bool head = std::find(heads.begin(), heads.end(), id) != heads.end();
    bool row = std::find(current.begin(), current.end(), id) != current.end();
    ctx.out << id << (head ? " (head)" : "") << (row ? "" : " (implied by depends_on)");
    if (ctx.verbosity > 0 && t.graph->contains(id)) ctx.out << "  " << t.graph->get(id).message;
    ctx.out << "\n";
  }
}

void print_history(Context& ctx, const migration::RevisionGraph& g, const std::string& default_app) {
  std::set<std::string> all;
  for (const auto& m : g.migrations()) all.insert(m.revision);
  auto order = g.topological(all);
  std::reverse(order.begin(), order.end());
  auto heads = g.heads();
  if (ctx.json) {
    ctx.out << "[";
    for (std::size_t i = 0; i < order.size(); ++i) {
      const auto& m = g.get(order[i]);
      ctx.out << (i ? ",\n " : "") << "{\"revision\": " << util::json_escape(m.revision) << ", \"down_revision\": " << json_list(m.down_revisions)
              << ", \"depends_on\": " << json_list(m.depends_on) << ", \"message\": " << util::json_escape(m.message)
              << ", \"app\": " << util::json_escape(m.app.empty() ? default_app : m.app) << ", \"head\": "
              << (std::find(heads.begin(), heads.end(), m.revision) != heads.end() ? "true" : "false") << ", \"file\": " << util::json_escape(m.path) << "}";
    }
    ctx.out << "]\n";
    return;
  }
  for (const auto& id : order) {
    const auto& m = g.get(id);
    std::string from = m.down_revisions.empty() ? "<base>" : util::join(m.down_revisions, ", ");
    std::vector<std::string> marks;
    if (std::find(heads.begin(), heads.end(), id) != heads.end()) marks.push_back("head");
    if (m.down_revisions.size() > 1) marks.push_back("mergepoint");
    if (g.children(id).size() > 1) marks.push_back("branchpoint");
    ctx.out << from << " -> " << id << (marks.empty() ? "" : " (" + util::join(marks, ") (") + ")") << ", " << m.message;
    if (!m.app.empty()) ctx.out << "  [" << m.app << "]";
    ctx.out << "\n";
  }
}

int cmd_current(Context& ctx) {
  CoreProject p = load_core(ctx);
  auto conn = db::open(p.url, db::OpenMode::read_only, ctx.lock_timeout);
  print_current(ctx, core_target(p), conn.get());
  return 0;
}

int cmd_heads(Context& ctx) {
  CoreProject p = load_core(ctx, false);
  auto heads = p.graph->heads();
  if (ctx.json) {
    ctx.out << "{\"app\": \"core\", \"heads\": " << json_list(heads) << "}\n";
    return 0;
  }
  for (const auto& h : heads) ctx.out << h << " (head)  " << p.graph->get(h).message << "\n";
  return 0;
}

int cmd_history(Context& ctx) {
  CoreProject p = load_core(ctx, false);
  print_history(ctx, *p.graph, "core");
  return 0;
}

int cmd_status(Context& ctx) {
  FullProject f;
  if (config::load_project(ctx.directory).external_apps().empty()) f.core = load_core(ctx);
  else f = load_full(ctx);
  const CoreProject& p = f.core;
  auto conn = db::open(p.url, db::OpenMode::read_only, ctx.lock_timeout);
  std::vector<Target> targets{core_target(p)};
  std::vector<std::string> kinds{"core"}, versions{""};
  for (const auto& pl : f.plugins) {
    targets.push_back(plugin_target(pl));
    kinds.push_back("external");
    versions.push_back(pl.manifest.version);
  }
  if (!ctx.json) ctx.out << "database: " << p.url.redacted() << (conn ? "" : " (does not exist yet)") << "\n";
  std::string json = "{\"database\": " + util::json_escape(p.url.redacted()) + ", \"apps\": [";
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const Target& t = targets[i];
    const auto& g = *t.graph;
    run::Migrator migrator(g, t.label, t.version_table, conn ? conn->dialect() : sql::Dialect::sqlite);
    auto current = migrator.current(conn.get());
    auto heads = g.heads();
    auto applied = migration::applied_set(g, current, t.version_table);
    std::vector<std::string> pending;
    for (const auto& id : g.topological(g.ancestors(heads)))
      if (!applied.count(id)) pending.push_back(id);
    std::vector<std::string> changed = conn ? migrator.modified_since_applied(*conn, applied) : std::vector<std::string>{};
    if (ctx.json) {
      json += std::string(i ? ", " : "") + "{\"app\": " + util::json_escape(t.label) + ", \"kind\": \"" + kinds[i] + "\"" +
              (i == 0 ? ", \"internal_apps\": " + json_list(p.config.internal_apps()) : ", \"version\": " + util::json_escape(versions[i])) +
              ", \"version_table\": " + util::json_escape(t.version_table) + ", \"current\": " + json_list(current) + ", \"heads\": " + json_list(heads) +
              ", \"pending\": " + json_list(pending) + ", \"modified_since_applied\": " + json_list(changed) + "}";
      continue;
    }
    ctx.out << t.label;
    if (i == 0 && !p.config.internal_apps().empty()) ctx.out << " + internal apps: " << util::join(p.config.internal_apps(), ", ");
    if (i > 0) ctx.out << " (external app, plugin " << versions[i] << ")";
    ctx.out << "\n  version table: " << t.version_table << "\n  current:       " << describe_revisions(g, current)
            << "\n  heads:         " << (heads.empty() ? std::string("(no revisions)") : util::join(heads, ", ")) << "\n  pending:       "
            << pending.size() << "\n";
    for (const auto& id : pending) ctx.out << "    " << id << "  " << g.get(id).message << "\n";
    for (const auto& id : changed) ctx.out << "  warning: " << id << " (" << g.get(id).path << ") changed after it was applied\n";
  }
  if (ctx.json) ctx.out << json << "]}\n";
  return 0;
}

int cmd_stamp(Context& ctx) {
  if (!ctx.vm.count("revision")) throw Error(ErrorKind::usage, "migrate stamp needs a revision", "e.g. fastappkit migrate stamp head");
  CoreProject p = load_core(ctx);
  std::string target = ctx.opt("revision");
  migration::stamp_rows(*p.graph, {}, target, true);  // refuses a bad target before the database is opened
  auto conn = open_for_run(ctx, p.url);
  run::Migrator migrator(*p.graph, "core", "alembic_version", conn->dialect());
  auto rows = migrator.stamp(*conn, target, ctx.flag("purge"));
  if (ctx.verbosity > 0) ctx.out << "core: stamped " << conn->describe() << " at " << describe_revisions(*p.graph, rows) << "\n";
  return 0;
}

}  // namespace fastappkit::cli
