// Commands that only read: migrate current / heads / history / status / check, app list /
// validate, and plugin current / history / check in a plugin's source folder.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "context.hpp"
#include "fastappkit/error.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::cli {

using json = nlohmann::ordered_json;
using project::Workspace;

namespace {

void print_current(Context& ctx, const Workspace& w, const project::Target& t) {
  auto rows = project::read_current(w, t, ctx.lock_timeout);
  // Alembic's `current`: the rows and the revisions they imply that nothing applied follows.
  auto shown = migration::current_heads(*t.graph, rows, t.version_table);
  if (ctx.json) {
    ctx.print_json({{"app", t.name}, {"version_table", t.version_table}, {"current", rows}, {"revisions", shown}});
    return;
  }
  auto heads = t.graph->heads();
  if (shown.empty() && ctx.verbosity > 0) ctx.out << "(no revision applied)\n";
  for (const auto& id : shown) {
    bool head = std::find(heads.begin(), heads.end(), id) != heads.end();
    bool row = std::find(rows.begin(), rows.end(), id) != rows.end();
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
  auto is_head = [&](const std::string& id) { return std::find(heads.begin(), heads.end(), id) != heads.end(); };
  if (ctx.json) {
    json list = json::array();
    for (const auto& id : order) {
      const auto& m = g.get(id);
      list.push_back({{"revision", m.revision},
                      {"down_revision", m.down_revisions},
                      {"depends_on", m.depends_on},
                      {"message", m.message},
                      {"app", m.app.empty() ? default_app : m.app},
                      {"head", is_head(id)},
                      {"file", m.path}});
    }
    ctx.print_json(list);
    return;
  }
  for (const auto& id : order) {
    const auto& m = g.get(id);
    std::vector<std::string> marks;
    if (is_head(id)) marks.emplace_back("head");
    if (m.down_revisions.size() > 1) marks.emplace_back("mergepoint");
    if (g.children(id).size() > 1) marks.emplace_back("branchpoint");
    ctx.out << (m.down_revisions.empty() ? std::string("<base>") : util::join(m.down_revisions, ", ")) << " -> " << id
            << (marks.empty() ? "" : " (" + util::join(marks, ") (") + ")") << ", " << m.message;
    if (!m.app.empty()) ctx.out << "  [" << m.app << "]";
    ctx.out << "\n";
  }
}

// Text or JSON for a check result; exit 2 when an app is broken, 1 on a difference.
int print_check(Context& ctx, const project::CheckResult& r, bool plugin_source) {
  int code = r.broken() ? 2 : r.ok() ? 0 : 1;
  if (ctx.json) {
    json apps = json::array();
    for (const auto& a : r.apps) {
      json j{{"app", a.name}, {"ok", a.ok()}};
      if (a.error)
        j["error"] = error_json(*a.error);
      else {
        j["current"] = a.current;
        j["heads"] = a.heads;
        j["models_vs_migrations"] = a.models_vs_migrations;
        j["database_vs_migrations"] = a.database_vs_migrations;
        j["notes"] = a.notes;
      }
      apps.push_back(j);
    }
    ctx.print_json({{"ok", r.ok()}, {"database", r.database}, {"apps", apps}});
    return code;
  }
  for (const auto& a : r.apps) {
    const std::string who =
        a.name == "core" ? std::string("core") : (plugin_source ? a.name : "external app " + a.name);
    if (a.error) {
      ctx.out << who << ": " << ctx.paint("INVALID:", Tone::bad) << " " << config::redact_text(a.error->what()) << "\n";
      if (!a.error->hint().empty())
        ctx.out << "  " << ctx.paint("hint:", Tone::hint) << " " << config::redact_text(a.error->hint()) << "\n";
      continue;
    }
    for (const auto& n : a.notes) ctx.out << "note: " << n << "\n";
    if (!a.models_vs_migrations.empty()) {
      ctx.out << who << ": " << ctx.paint("models differ", Tone::warn) << " from the migrations' head ("
              << a.models_vs_migrations.size() << "); run "
              << (a.name == "core"
                      ? "'fastappkit migrate core -m MSG' or 'fastappkit migrate app <name> makemigrations -m MSG'"
                      : "'fastappkit plugin revision --autogenerate -m MSG' in its source folder")
              << ":\n";
      for (const auto& d : a.models_vs_migrations) ctx.out << "  - " << d << "\n";
    }
    if (!a.database_vs_migrations.empty()) {
      ctx.out << who << ": database " << r.database << " " << ctx.paint("differs", Tone::warn) << " ("
              << a.database_vs_migrations.size() << "):\n";
      for (const auto& d : a.database_vs_migrations) ctx.out << "  - " << d << "\n";
    }
  }
  if (code == 0 && ctx.verbosity > 0)
    ctx.out << ctx.paint("No differences", Tone::good) << ": models, migrations and database agree\n";
  return code;
}

std::string state_text(const project::AppStatus& a, bool database_exists) {
  if (a.error) return "invalid: " + a.error->message();
  if (!database_exists) return "database not created";
  if (a.pending.empty()) return a.current.empty() ? "no revisions" : "up to date";
  return std::to_string(a.pending.size()) + " pending";
}

}  // namespace

int cmd_current(Context& ctx) {
  if (fleet_requested(ctx)) return fleet_current(ctx);
  Workspace w = Workspace::open_project(ctx.load({.external_apps = false}));
  print_current(ctx, w, w.core());
  return 0;
}

int cmd_heads(Context& ctx) {
  Workspace w = Workspace::open_project(ctx.load({.need_url = false, .external_apps = false}));
  const auto& g = *w.core().graph;
  auto heads = g.heads();
  if (ctx.json) {
    ctx.print_json({{"app", "core"}, {"heads", heads}});
    return 0;
  }
  for (const auto& h : heads) ctx.out << h << " (head)  " << g.get(h).message << "\n";
  return 0;
}

int cmd_history(Context& ctx) {
  Workspace w = Workspace::open_project(ctx.load({.need_url = false, .external_apps = false}));
  print_history(ctx, *w.core().graph, "core");
  return 0;
}

int cmd_status(Context& ctx) {
  if (fleet_requested(ctx)) return fleet_status(ctx);
  Workspace w = Workspace::open_project(ctx.load({.keep_broken = true}));
  project::Status s = project::read_status(w, ctx.lock_timeout);
  for (const auto& n : w.notes()) ctx.warn(n);
  if (ctx.json) {
    json apps = json::array();
    for (const auto& a : s.apps) {
      json j{{"app", a.name}, {"kind", a.kind}};
      if (a.kind == "core")
        j["internal_apps"] = a.internal_apps;
      else
        j["version"] = a.version;
      j["version_table"] = a.version_table;
      if (a.error)
        j["error"] = error_json(*a.error);
      else {
        j["current"] = a.current;
        j["heads"] = a.heads;
        j["pending"] = a.pending;
        j["modified_since_applied"] = a.modified;
        j["half_applied"] = a.half_applied;  // revision -> statements committed
      }
      apps.push_back(j);
    }
    ctx.print_json({{"database", s.database}, {"apps", apps}});
    return s.healthy() ? 0 : 2;
  }
  ctx.out << "database: " << s.database << (s.database_exists ? "" : " (does not exist yet)") << "\n";
  for (const auto& a : s.apps) {
    ctx.out << a.name;
    if (a.kind == "core" && !a.internal_apps.empty())
      ctx.out << " + internal apps: " << util::join(a.internal_apps, ", ");
    if (a.kind == "external") ctx.out << " (external app" << (a.error ? "" : ", plugin " + a.version) << ")";
    if (a.error) {
      ctx.out << "\n  " << ctx.paint("INVALID:", Tone::bad) << " " << config::redact_text(a.error->what()) << "\n";
      if (!a.error->hint().empty())
        ctx.out << "  " << ctx.paint("hint:", Tone::hint) << " " << config::redact_text(a.error->hint()) << "\n";
      continue;
    }
    const auto& g = *a.graph;
    ctx.out << "\n  version table: " << a.version_table
            << "\n  current:       " << project::describe_revisions(g, a.current)
            << "\n  heads:         " << (a.heads.empty() ? std::string("(no revisions)") : util::join(a.heads, ", "))
            << "\n  pending:       "
            << ctx.paint(std::to_string(a.pending.size()), a.pending.empty() ? Tone::good : Tone::warn) << "\n";
    for (const auto& id : a.pending) {
      ctx.out << "    " << id << "  " << g.get(id).message;
      if (auto half = a.half_applied.find(id); half != a.half_applied.end())
        ctx.out << "  " << ctx.paint("(half applied:", Tone::warn) << " its first " << half->second
                << " statement(s) are committed; the next run goes on after them)";
      ctx.out << "\n";
    }
    for (const auto& id : a.modified)
      ctx.out << "  " << ctx.paint("warning:", Tone::warn) << " " << id << " (" << g.get(id).path
              << ") changed after it was applied; see 'fastappkit migrate check'\n";
  }
  return s.healthy() ? 0 : 2;
}

int cmd_check(Context& ctx) {
  if (fleet_requested(ctx)) return fleet_check(ctx);
  Workspace w = Workspace::open_project(ctx.load({.keep_broken = true}));
  return print_check(ctx, project::read_check(w, ctx.lock_timeout), false);
}

int cmd_app_list(Context& ctx) {
  if (fleet_requested(ctx)) return fleet_app_list(ctx);
  Workspace w = Workspace::open_project(ctx.load({.need_url = false, .keep_broken = true}));
  const project::AppListing listing = project::list_apps(w, ctx.database_url, ctx.lock_timeout);
  const project::Status& s = listing.status;
  const std::string& db_note = listing.note;
  const bool database_read = listing.database_read;
  for (const auto& n : w.notes()) ctx.warn(n);
  struct Row {
    std::string name, kind, version, table, state;
  };
  std::vector<Row> rows;
  const auto& core = s.apps.front();
  rows.push_back(
      {"core", "core", "-", core.version_table, db_note.empty() ? state_text(core, database_read) : "unknown"});
  std::size_t next_external = 1;
  for (const auto& a : w.config().ordered_apps()) {
    if (a.internal) {
      rows.push_back({a.name, "internal", "-", "alembic_version", "in core"});
      continue;
    }
    const auto& st = s.apps.at(next_external++);
    rows.push_back({st.name, "external", st.error ? "?" : st.version, st.version_table,
                    st.error || db_note.empty() ? state_text(st, database_read) : "unknown"});
  }
  if (ctx.json) {
    json list = json::array();
    for (const auto& r : rows)
      list.push_back(
          {{"app", r.name}, {"kind", r.kind}, {"version", r.version}, {"version_table", r.table}, {"state", r.state}});
    ctx.print_json(list);
    return s.healthy() ? 0 : 2;
  }
  char line[1024];
  std::snprintf(line, sizeof line, "%-20s %-9s %-9s %-30s %s\n", "APP", "KIND", "VERSION", "VERSION TABLE", "STATE");
  ctx.out << line;
  for (const auto& r : rows) {
    std::snprintf(line, sizeof line, "%-20s %-9s %-9s %-30s ", r.name.c_str(), r.kind.c_str(), r.version.c_str(),
                  r.table.c_str());
    const Tone tone = r.state == "up to date"                        ? Tone::good
                      : r.state.rfind("invalid", 0) == 0             ? Tone::bad
                      : r.state.find("pending") != std::string::npos ? Tone::warn
                                                                     : Tone::dim;
    ctx.out << line << ctx.paint(r.state, tone) << "\n";
  }
  if (!db_note.empty() && ctx.verbosity > 0) ctx.out << "note: state unknown: " << db_note << "\n";
  return s.healthy() ? 0 : 2;
}

int cmd_app_validate(Context& ctx) {
  const std::string name = ctx.params.at(0);
  const project::AppValidation v = project::validate_app(ctx.load({.need_url = false}), name);
  const auto& items = v.items;
  const bool ok = v.ok(), internal = v.internal;
  if (ctx.json) {
    json checks = json::array();
    for (const auto& c : items) checks.push_back({{"check", c.name}, {"ok", c.ok}, {"message", c.message}});
    ctx.print_json({{"app", name}, {"kind", internal ? "internal" : "external"}, {"ok", ok}, {"checks", checks}});
  } else {
    ctx.out << name << " (" << (internal ? "internal" : "external") << " app)\n";
    for (const auto& c : items)
      ctx.out << "  " << (c.ok ? ctx.paint("ok", Tone::good) + "      " : ctx.paint("FAILED", Tone::bad) + "  ")
              << c.name << ": " << c.message << "\n";
    ctx.out << (ok ? "all checks passed\n" : "some checks failed\n");
  }
  return ok ? 0 : 2;
}

int cmd_graph(Context& ctx) {
  const std::string format = ctx.opt("format", "dot");
  if (format != "dot" && format != "svg")
    throw Error(ErrorKind::usage, "unknown --format '" + format + "'",
                "use fastappkit migrate graph --format dot, or --format svg");
  Workspace w = Workspace::open_project(ctx.load({.need_url = false}));
  const std::string dot = w.graph_dot();
  if (format == "dot") {
    ctx.out << dot;
    return 0;
  }
  ctx.out << util::run_filter(
      "dot", {"-Tsvg"}, dot,
      "Graphviz's dot is not installed (apt-get install graphviz); or print DOT and render it elsewhere: "
      "fastappkit migrate graph --format dot");
  return 0;
}

int cmd_plugin_current(Context& ctx) {
  Workspace w = Workspace::open_plugin_source(ctx.load());
  print_current(ctx, w, w.core());
  return 0;
}

int cmd_plugin_history(Context& ctx) {
  Workspace w = Workspace::open_plugin_source(ctx.load({.need_url = false}));
  print_history(ctx, *w.core().graph, w.core().name);
  return 0;
}

int cmd_plugin_check(Context& ctx) {
  Workspace w = Workspace::open_plugin_source(ctx.load());
  return print_check(ctx, project::read_check(w, ctx.lock_timeout), true);
}

}  // namespace fastappkit::cli
