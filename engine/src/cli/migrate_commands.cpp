// migrate upgrade / downgrade / preview / current / heads / history / status / stamp
#include <filesystem>
#include <sstream>

#include "context.hpp"
#include "fastappkit/db/connection.hpp"
#include "fastappkit/error.hpp"
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

namespace {

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

// Applies a plan with progress lines; shared by upgrade and downgrade.
int apply_plan(Context& ctx, const CoreProject& p, bool upgrade, const std::string& target) {
  migration::validate_target(*p.graph, target);
  auto conn = db::open(p.url, db::OpenMode::read_write, ctx.lock_timeout);
  conn->lock_for_run(ctx.lock_timeout);
  run::Migrator migrator(*p.graph, "core", "alembic_version", conn->dialect());
  auto current = migrator.current(conn.get());
  auto plan = upgrade ? migration::plan_upgrade(*p.graph, current, target) : migration::plan_downgrade(*p.graph, current, target);
  auto steps = migrator.render(plan, current);  // every step renders before anything is written
  if (upgrade) {
    auto changed = migrator.modified_since_applied(*conn, migration::applied_set(*p.graph, current, "alembic_version"));
    for (const auto& id : changed)
      ctx.err << "fastappkit: warning: revision " << id << " (" << p.graph->get(id).path << ") changed after it was applied\n";
  }
  migrator.ensure_tables(*conn);
  if (ctx.verbosity > 0) {
    if (steps.empty()) ctx.out << "core: nothing to do; database " << conn->describe() << " is at " << describe_revisions(*p.graph, current) << "\n";
    else
      ctx.out << "core: " << (upgrade ? "applying " : "reverting ") << steps.size() << " migration(s) on " << conn->describe()
              << " (internal apps are included in core)\n";
  }
  migrator.run(*conn, steps, [&](const run::StepReport& r) {
    if (ctx.verbosity == 0) return;
    const auto& m = *r.step.migration;
    char ms[32];
    std::snprintf(ms, sizeof ms, "%.1f ms", r.milliseconds);
    ctx.out << "  " << r.app << "  " << (upgrade ? "applied " : "reverted ") << m.revision << "  " << m.message << "  "
            << (r.skipped ? std::string("(skipped: already done by another run)") : std::string("(") + ms + ")") << "\n";
    if (ctx.verbosity > 1)
      for (const auto& s : r.step.statements) ctx.out << "      " << s << ";\n";
  });
  if (ctx.verbosity > 0 && !steps.empty())
    ctx.out << "core: database " << conn->describe() << " is now at " << describe_revisions(*p.graph, migrator.current(conn.get())) << "\n";
  return 0;
}

}  // namespace

int cmd_upgrade(Context& ctx) {
  CoreProject p = load_core(ctx);
  return apply_plan(ctx, p, true, ctx.opt("revision", "head"));
}

int cmd_all(Context& ctx) {
  CoreProject p = load_core(ctx);
  auto external = p.config.external_apps();
  if (!external.empty()) {
    // Checked before anything touches the database.
    throw Error(ErrorKind::input,
                "external app(s) " + util::join(external, ", ") + " are listed in " + p.config.config_path.string() +
                    ", but this build cannot load plugins yet",
                "remove them from apps, or migrate core with 'fastappkit migrate upgrade'");
  }
  int rc = apply_plan(ctx, p, true, "head");
  auto internal = p.config.internal_apps();
  if (ctx.verbosity > 0 && !internal.empty())
    ctx.out << "internal apps (" << util::join(internal, ", ") << "): skipped, already included in core migrations\n";
  return rc;
}

int cmd_downgrade(Context& ctx) {
  if (!ctx.vm.count("revision"))
    throw Error(ErrorKind::usage, "migrate downgrade needs a target revision", "e.g. fastappkit migrate downgrade -1, or ... downgrade base");
  CoreProject p = load_core(ctx);
  return apply_plan(ctx, p, false, ctx.opt("revision"));
}

int cmd_preview(Context& ctx) {
  CoreProject p = load_core(ctx);
  bool down = ctx.flag("downgrade");
  if (down && !ctx.vm.count("revision")) throw Error(ErrorKind::usage, "preview --downgrade needs --revision", "e.g. --downgrade --revision -1");
  auto conn = db::open(p.url, db::OpenMode::read_only, ctx.lock_timeout);
  auto dialect = conn ? conn->dialect() : (p.url.backend == config::Backend::sqlite ? sql::Dialect::sqlite : sql::Dialect::postgresql);
  run::Migrator migrator(*p.graph, "core", "alembic_version", dialect);
  auto current = migrator.current(conn.get());
  std::string target = ctx.opt("revision", "head");
  auto plan = down ? migration::plan_downgrade(*p.graph, current, target) : migration::plan_upgrade(*p.graph, current, target);
  std::ostringstream script;
  migrator.write_script(script, plan, current, conn && conn->table_exists("alembic_version"));
  ctx.out << "-- fastappkit preview: core " << (down ? "downgrade" : "upgrade") << " to " << target << " on " << p.url.redacted() << "\n"
          << "-- from " << describe_revisions(*p.graph, current) << "; " << plan.steps.size() << " migration(s); nothing is applied\n\n"
          << script.str();
  return 0;
}

int cmd_current(Context& ctx) {
  CoreProject p = load_core(ctx);
  auto conn = db::open(p.url, db::OpenMode::read_only, ctx.lock_timeout);
  run::Migrator migrator(*p.graph, "core", "alembic_version", sql::Dialect::sqlite);
  auto current = migrator.current(conn.get());
  if (ctx.json) {
    ctx.out << "{\"app\": \"core\", \"version_table\": \"alembic_version\", \"current\": " << json_list(current) << "}\n";
    return 0;
  }
  auto heads = p.graph->heads();
  if (current.empty() && ctx.verbosity > 0) ctx.out << "(no revision applied)\n";
  for (const auto& id : current) {
    bool head = std::find(heads.begin(), heads.end(), id) != heads.end();
    ctx.out << id << (head ? " (head)" : "");
    if (ctx.verbosity > 0 && p.graph->contains(id)) ctx.out << "  " << p.graph->get(id).message;
    ctx.out << "\n";
  }
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
  const auto& g = *p.graph;
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
              << ", \"app\": " << util::json_escape(m.app.empty() ? "core" : m.app) << ", \"head\": "
              << (std::find(heads.begin(), heads.end(), m.revision) != heads.end() ? "true" : "false") << ", \"file\": " << util::json_escape(m.path) << "}";
    }
    ctx.out << "]\n";
    return 0;
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
  return 0;
}

int cmd_status(Context& ctx) {
  CoreProject p = load_core(ctx);
  auto conn = db::open(p.url, db::OpenMode::read_only, ctx.lock_timeout);
  run::Migrator migrator(*p.graph, "core", "alembic_version", conn ? conn->dialect() : sql::Dialect::sqlite);
  auto current = migrator.current(conn.get());
  auto heads = p.graph->heads();
  auto applied = migration::applied_set(*p.graph, current, "alembic_version");
  std::set<std::string> wanted = p.graph->ancestors(heads);
  std::vector<std::string> pending;
  for (const auto& id : p.graph->topological(wanted))
    if (!applied.count(id)) pending.push_back(id);
  std::vector<std::string> changed = conn ? migrator.modified_since_applied(*conn, applied) : std::vector<std::string>{};
  if (ctx.json) {
    ctx.out << "{\"database\": " << util::json_escape(p.url.redacted()) << ", \"apps\": [{\"app\": \"core\", \"kind\": \"core\", \"internal_apps\": "
            << json_list(p.config.internal_apps()) << ", \"version_table\": \"alembic_version\", \"current\": " << json_list(current)
            << ", \"heads\": " << json_list(heads) << ", \"pending\": " << json_list(pending) << ", \"modified_since_applied\": " << json_list(changed)
            << "}]}\n";
    return 0;
  }
  ctx.out << "database: " << p.url.redacted() << (conn ? "" : " (does not exist yet)") << "\n";
  ctx.out << "core";
  auto internal = p.config.internal_apps();
  if (!internal.empty()) ctx.out << " + internal apps: " << util::join(internal, ", ");
  ctx.out << "\n  version table: alembic_version\n  current:       " << describe_revisions(*p.graph, current)
          << "\n  heads:         " << (heads.empty() ? std::string("(no revisions)") : util::join(heads, ", ")) << "\n  pending:       "
          << pending.size() << "\n";
  for (const auto& id : pending) ctx.out << "    " << id << "  " << p.graph->get(id).message << "\n";
  for (const auto& id : changed) ctx.out << "  warning: " << id << " (" << p.graph->get(id).path << ") changed after it was applied\n";
  return 0;
}

int cmd_stamp(Context& ctx) {
  if (!ctx.vm.count("revision")) throw Error(ErrorKind::usage, "migrate stamp needs a revision", "e.g. fastappkit migrate stamp head");
  CoreProject p = load_core(ctx);
  std::string target = ctx.opt("revision");
  std::vector<std::string> ids;
  if (target == "heads") {
    ids = p.graph->heads();
  } else if (target == "head") {
    ids = p.graph->heads();
    if (ids.size() > 1) throw Error(ErrorKind::usage, "Multiple heads are present: " + util::join(ids, ", "), "stamp 'heads' or name one revision");
  } else if (target != "base") {
    ids = {p.graph->resolve(target)};
  }
  auto conn = db::open(p.url, db::OpenMode::read_write, ctx.lock_timeout);
  conn->lock_for_run(ctx.lock_timeout);
  run::Migrator migrator(*p.graph, "core", "alembic_version", conn->dialect());
  migrator.stamp(*conn, ids);
  if (ctx.verbosity > 0) ctx.out << "core: stamped " << conn->describe() << " at " << describe_revisions(*p.graph, migrator.current(conn.get())) << "\n";
  return 0;
}

}  // namespace fastappkit::cli
