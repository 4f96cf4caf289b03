// What a workspace answers about itself and a database: status, check, lint, the graph as DOT.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <fstream>
#include <ostream>

#include "fastappkit/db/connection.hpp"
#include "fastappkit/migration/autogenerate.hpp"
#include "fastappkit/migration/parse_cache.hpp"
#include "fastappkit/migration/validate.hpp"
#include "fastappkit/plugin/host.hpp"
#include "fastappkit/project/workspace.hpp"
#include "fastappkit/util/text.hpp"
#include "workspace_internal.hpp"

namespace fastappkit::project {

namespace fs = std::filesystem;
using migration::Direction;

namespace {

std::vector<std::string> pending_of(const migration::RevisionGraph& g, const std::set<std::string>& applied) {
  std::vector<std::string> out;
  for (const auto& id : g.topological(g.ancestors(g.heads())))
    if (!applied.count(id)) out.push_back(id);
  return out;
}

// Constraint names SQLite does not keep are replaced by their shape on both sides, and
// defaults are put in one form, so only real differences remain.
migration::Schema comparable(migration::Schema s, bool names_kept) {
  for (auto& [name, t] : s.tables) {
    for (auto& c : t.columns)
      if (c.default_value) c.default_value = sql::normalize_default(*c.default_value);
    if (names_kept) continue;
    for (auto& fk : t.foreign_keys)
      fk.name = "foreign key (" + util::join(fk.columns, ", ") + ") -> " + fk.references_table;
    for (auto& u : t.uniques) u.name = "unique (" + util::join(u.columns, ", ") + ")";
  }
  return s;
}

std::vector<std::string> differences(const migration::Schema& expected, const migration::Schema& actual) {
  std::vector<std::string> out;
  try {
    for (const auto& op : migration::diff(expected, actual)) out.push_back(migration::describe(op));
  } catch (const Error& e) {
    out.push_back(e.message());
  }
  return out;
}

}  // namespace

std::vector<lint::Finding> Workspace::lint(db::Connection* conn, sql::Dialect dialect, bool all) const {
  std::vector<lint::Finding> out;
  for (const auto& t : targets_) {
    std::set<std::string> revisions;
    std::set<std::string> applied;
    if (conn && !all) applied = migration::applied_set(*t.graph, current(conn, t), t.version_table);
    for (const auto& m : t.graph->migrations())
      if (!applied.count(m.revision)) revisions.insert(m.revision);
    auto found = lint::lint_graph(*t.graph, revisions, dialect, t.name);
    out.insert(out.end(), std::make_move_iterator(found.begin()), std::make_move_iterator(found.end()));
  }
  return out;
}

std::vector<lint::Finding> Workspace::lint_new_revision(const Target& t, const std::filesystem::path& file,
                                                        sql::Dialect dialect) const {
  migration::ParseOptions po;
  po.allow_call = !t.is_core();
  migration::Migration m = migration::parse_migration(util::read_file(file.string()), file.string(), po);
  migration::Schema state = migration::state_at(*t.graph, t.graph->ancestors(m.down_revisions));
  return lint::lint_migration(m, state, dialect, t.name);
}

std::vector<std::vector<lint::Finding>> Workspace::lint_new_revisions(const Target& t,
                                                                      const std::vector<std::filesystem::path>& files,
                                                                      sql::Dialect dialect) const {
  std::vector<std::vector<lint::Finding>> out;
  migration::Schema state;
  for (const auto& file : files) {
    migration::ParseOptions po;
    po.allow_call = !t.is_core();
    migration::Migration m = migration::parse_migration(util::read_file(file.string()), file.string(), po);
    if (out.empty()) state = migration::state_at(*t.graph, t.graph->ancestors(m.down_revisions));
    out.push_back(lint::lint_migration(m, state, dialect, t.name));  // leaves `state` after m
  }
  return out;
}

template <class Healthy, class Broken>
void Workspace::for_each_external(Healthy&& healthy, Broken&& broken) const {
  for (const auto& name : config_.external_apps()) {
    auto t =
        std::find_if(targets_.begin(), targets_.end(), [&](const Target& x) { return !x.is_core() && x.name == name; });
    if (t != targets_.end()) healthy(*t);
    for (const auto& b : broken_)
      if (b.name == name) broken(b);
  }
}

namespace {

// The rows of every target's version table: one query lists the tables, then each existing
// version table is read, where asking each target whether its table exists cost a query more
// per app (status and app list over many apps, docs/perf-start.md). The same statement, rows
// and order as Migrator::current.
std::map<std::string, std::vector<std::string>> version_rows(db::Connection& conn, const std::vector<Target>& targets) {
  // SQLite finds a table whatever the case of its name (ASCII), as table_exists does.
  const bool fold = conn.dialect() == sql::Dialect::sqlite;
  auto key = [&](std::string name) {
    if (fold)
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return name;
  };
  std::set<std::string> existing;
  for (auto& name : conn.tables()) existing.insert(key(name));
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& t : targets) {
    if (!existing.count(key(t.version_table))) continue;
    auto& rows = out[t.version_table];
    for (const auto& r : conn.query("SELECT version_num FROM " + t.version_table + " ORDER BY version_num"))
      if (r[0]) rows.push_back(*r[0]);
  }
  return out;
}

}  // namespace

Status Workspace::status(db::Connection* conn, StatusOptions options) const {
  Status s;
  s.database = url_.redacted();
  s.database_exists = conn != nullptr;
  const auto rows = conn ? version_rows(*conn, targets_) : std::map<std::string, std::vector<std::string>>{};
  auto describe = [&](const Target& t) {
    AppStatus a;
    a.name = t.name;
    a.kind = t.is_core() ? "core" : "external";
    a.version = t.version;
    a.version_table = t.version_table;
    a.internal_apps = t.internal_apps;
    a.graph = t.graph.get();
    if (auto r = rows.find(t.version_table); r != rows.end()) a.current = r->second;
    a.heads = t.graph->heads();
    try {
      auto applied = migration::applied_set(*t.graph, a.current, t.version_table);
      a.pending = pending_of(*t.graph, applied);
      if (conn && options.modified)
        a.modified =
            run::Migrator(*t.graph, t.name, t.version_table, conn->dialect()).modified_since_applied(*conn, applied);
      if (conn)
        a.half_applied = run::Migrator(*t.graph, t.name, t.version_table, conn->dialect())
                             .half_applied(*conn, Direction::upgrade, a.pending);
    } catch (const Error& e) {
      a.error = e;
    }
    return a;
  };
  s.apps.push_back(describe(core()));
  if (plugin_source_) return s;
  for_each_external([&](const Target& t) { s.apps.push_back(describe(t)); },
                    [&](const BrokenApp& b) {
                      AppStatus a;
                      a.name = b.name;
                      a.kind = "external";
                      a.version_table = "alembic_version_" + b.name;
                      a.error = b.error;
                      s.apps.push_back(std::move(a));
                    });
  return s;
}

CheckResult Workspace::check(db::Connection* conn) const {
  CheckResult r;
  r.database = url_.redacted();
  const bool names_kept = conn && sql::traits(conn->dialect()).keeps_constraint_names;
  std::vector<std::string> unmapped;
  std::optional<migration::Schema> live;
  if (conn) live = conn->reflect(&unmapped);
  std::set<std::string> external_tables;
  for (const auto& t : targets_)
    if (!t.is_core()) external_tables.insert(t.tables.begin(), t.tables.end());

  auto check_target = [&](const Target& t) {
    AppCheck a;
    a.name = t.name;
    const auto& g = *t.graph;
    a.heads = g.heads();
    const bool has_models = t.is_core() || !t.models.schema.tables.empty() ||
                            (t.plugin && !t.plugin->models_text.empty()) ||
                            (plugin_source_ && fs::is_regular_file(t.folder / "models.toml"));
    if (has_models) {
      migration::Schema head = migration::state_at(g, g.ancestors(a.heads));
      a.models_vs_migrations = differences(comparable(head, true), comparable(t.models.schema, true));
    }
    if (!conn) {
      a.notes.push_back("database " + url_.redacted() + " does not exist yet; run fastappkit migrate " +
                        (t.is_core() ? "upgrade" : "all"));
      if (!a.heads.empty())
        a.database_vs_migrations.push_back("database is behind: it does not exist, " +
                                           std::to_string(g.migrations().size()) + " migration(s) pending");
      return a;
    }
    a.current = current(conn, t);
    std::set<std::string> applied;
    try {
      applied = migration::applied_set(g, a.current, t.version_table);
    } catch (const Error& e) {
      a.database_vs_migrations.push_back(e.message());
      return a;
    }
    auto pending = pending_of(g, applied);
    if (!pending.empty())
      a.database_vs_migrations.push_back(
          "database is behind: at " + (a.current.empty() ? std::string("base") : util::join(a.current, ", ")) + ", " +
          std::to_string(pending.size()) + " migration(s) pending (" + util::join(pending, ", ") + ")");
    run::Migrator m(g, t.name, t.version_table, conn->dialect());
    for (const auto& id : m.modified_since_applied(*conn, applied))
      a.database_vs_migrations.push_back("revision " + id + " (" + g.get(id).path +
                                         ") was edited after it was applied");
    migration::Schema mine = *live;
    std::erase_if(mine.tables, [&](const auto& kv) {
      return t.is_core() ? external_tables.count(kv.first) != 0 : t.tables.count(kv.first) == 0;
    });
    // What the server stores for the expected schema (PostgreSQL normalises default expressions).
    for (const auto& d : differences(comparable(conn->as_stored(migration::state_at(g, applied)), names_kept),
                                     comparable(mine, names_kept)))
      a.database_vs_migrations.push_back("database differs from its revision: " + d);
    for (const auto& u : unmapped)
      if (mine.tables.count(u.substr(0, u.find('.'))))
        a.database_vs_migrations.push_back("column type with no model type: " + u);
    return a;
  };
  r.apps.push_back(check_target(core()));
  if (plugin_source_) return r;
  for_each_external([&](const Target& t) { r.apps.push_back(check_target(t)); },
                    [&](const BrokenApp& b) {
                      AppCheck a;
                      a.name = b.name;
                      a.error = b.error;
                      r.apps.push_back(std::move(a));
                    });
  if (!broken_.empty() && !r.apps.empty())
    r.apps.front().notes.emplace_back(
        "the tables of broken external apps are not known: core's differences may include them");
  return r;
}

namespace {

std::string dot_id(const std::string& app, const std::string& rev) { return "\"" + app + ":" + rev + "\""; }

std::string dot_label(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// The revision of `g` that creates `table` (create_table, or rename_table to it), first in graph order.
std::string creator_of(const migration::RevisionGraph& g, const std::string& table) {
  std::set<std::string> all;
  for (const auto& m : g.migrations()) all.insert(m.revision);
  for (const auto& id : g.topological(all))
    for (const auto& op : g.get(id).upgrade)
      if ((op.kind == migration::OpKind::create_table && op.table == table) ||
          (op.kind == migration::OpKind::rename_table && op.new_name == table))
        return id;
  return {};
}

}  // namespace

std::string Workspace::graph_dot() const {
  std::string out =
      "digraph fastappkit {\n  rankdir=BT;\n  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=10];\n";
  for (const auto& t : targets_) {
    const auto& g = *t.graph;
    auto heads = g.heads();
    out +=
        "  subgraph \"cluster_" + t.name + "\" {\n    label=\"" +
        dot_label(t.name + (t.is_core() && !t.internal_apps.empty() ? " + " + util::join(t.internal_apps, ", ") : "") +
                  " (" + t.version_table + ")") +
        "\";\n";
    for (const auto& m : g.migrations()) {
      bool head = std::find(heads.begin(), heads.end(), m.revision) != heads.end();
      std::string label =
          m.revision + "\\n" + dot_label(m.message) + (m.app.empty() ? "" : "\\n[" + dot_label(m.app) + "]");
      out += "    " + dot_id(t.name, m.revision) + " [label=\"" + label + "\"" + (head ? ", penwidth=2" : "") + "];\n";
    }
    for (const auto& m : g.migrations()) {
      for (const auto& d : m.down_revisions)
        out += "    " + dot_id(t.name, m.revision) + " -> " + dot_id(t.name, d) + ";\n";
      for (const auto& d : m.depends_on)
        if (g.contains(d))
          out += "    " + dot_id(t.name, m.revision) + " -> " + dot_id(t.name, d) +
                 " [style=dashed, label=\"depends_on\"];\n";
    }
    out += "  }\n";
  }
  // Foreign keys from external apps' tables into core's.
  const Target& c = core();
  for (const auto& t : targets_) {
    if (t.is_core()) continue;
    migration::Schema head = migration::state_at(*t.graph, t.graph->ancestors(t.graph->heads()));
    for (const auto& [name, table] : head.tables)
      for (const auto& fk : table.foreign_keys) {
        if (!c.tables.count(fk.references_table)) continue;
        std::string from = creator_of(*t.graph, name), to = creator_of(*c.graph, fk.references_table);
        if (from.empty() || to.empty()) continue;
        out += "  " + dot_id(t.name, from) + " -> " + dot_id(c.name, to) +
               " [style=dotted, color=\"#b03030\", fontcolor=\"#b03030\", label=\"" +
               dot_label(name + "." + util::join(fk.columns, ",") + " -> " + fk.references_table + "." +
                         util::join(fk.references_columns, ",")) +
               "\"];\n";
      }
  }
  return out + "}\n";
}

}  // namespace fastappkit::project
