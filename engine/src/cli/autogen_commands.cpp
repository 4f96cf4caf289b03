// migrate core -m / migrate app <name> makemigrations -m / migrate merge -m / migrate check
#include <chrono>
#include <ctime>
#include <filesystem>
#include <set>
#include <fstream>

#include "context.hpp"
#include "fastappkit/db/connection.hpp"
#include "fastappkit/error.hpp"
#include "fastappkit/migration/autogenerate.hpp"
#include "fastappkit/migration/models.hpp"
#include "fastappkit/run/migrator.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::cli {

namespace fs = std::filesystem;

namespace {

std::string utc_now() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::string require_message(const Context& ctx, const std::string& usage) {
  std::string m = ctx.opt("message");
  if (m.empty()) throw Error(ErrorKind::usage, "a message is required", "pass -m \"what this revision does\" (" + usage + ")");
  return m;
}

std::vector<std::string> single_parent(const migration::RevisionGraph& g) {
  auto heads = g.heads();
  if (heads.size() > 1) {
    throw Error(ErrorKind::input, "Multiple heads are present: " + util::join(heads, ", ") + "; a new revision needs one parent",
                "merge them first: fastappkit migrate merge -m \"merge heads\"");
  }
  return heads;
}

fs::path write_revision(Context& ctx, const migration::RevisionGraph& graph, const fs::path& versions_dir, migration::Migration m) {
  std::string id;
  do id = migration::new_revision_id();
  while (graph.contains(id));
  m.revision = id;
  m.create_date = utc_now();
  std::string text = migration::write_migration(m);
  fs::path file = versions_dir / (id + "_" + migration::slugify(m.message) + ".toml");
  migration::parse_migration(text, file.string());  // what we write must read back
  if (fs::exists(file)) throw Error(ErrorKind::failed, "refusing to overwrite " + file.string(), "run the command again");
  std::ofstream(file) << text;
  if (ctx.verbosity > 0) {
    ctx.out << "Generated " << file.string() << "\n";
    if (m.upgrade.empty()) ctx.out << "  (no operations: fill in [[upgrade]] and [[downgrade]])\n";
    for (const auto& op : m.upgrade) ctx.out << "  - " << migration::describe(op) << (op.comment.empty() ? "" : "   # " + op.comment) << "\n";
  }
  return file;
}

namespace {

int autogenerate(Context& ctx, const std::string& app, const std::string& usage) {
  std::string message = require_message(ctx, usage);
  CoreProject p = load_core(ctx, false);
  auto models = migration::load_project_models(p.config.root, p.config.internal_apps());
  auto parents = single_parent(*p.graph);
  migration::Schema head = migration::state_at(*p.graph, p.graph->ancestors(parents));
  migration::Migration m;
  m.upgrade = migration::diff(head, models.schema);
  if (m.upgrade.empty()) {
    if (ctx.verbosity > 0) ctx.out << "No changes detected\n";
    return 0;
  }
  m.downgrade = migration::diff(models.schema, head);
  m.down_revisions = parents;
  m.message = message;
  m.app = app;
  write_revision(ctx, *p.graph, p.config.versions_dir(), m);
  return 0;
}

}  // namespace

// Constraint names SQLite does not keep are replaced by their shape on both sides, and
// defaults are put in one form, so only real differences remain.
migration::Schema comparable(migration::Schema s, bool names_kept) {
  for (auto& [name, t] : s.tables) {
    for (auto& c : t.columns)
      if (c.default_value) c.default_value = sql::normalize_default(*c.default_value);
    if (names_kept) continue;
    for (auto& fk : t.foreign_keys) fk.name = "foreign key (" + util::join(fk.columns, ", ") + ") -> " + fk.references_table;
    for (auto& u : t.uniques) u.name = "unique (" + util::join(u.columns, ", ") + ")";
  }
  return s;
}

std::vector<std::string> differences(const migration::Schema& expected, const migration::Schema& actual) {
  std::vector<std::string> out;
  try {
    for (const auto& op : migration::diff(expected, actual)) out.push_back(migration::describe(op));
  } catch (const Error& e) {
    out.push_back(e.what());
  }
  return out;
}

int cmd_makemigrations_core(Context& ctx) { return autogenerate(ctx, "", "fastappkit migrate core -m MSG"); }

int cmd_app_makemigrations(Context& ctx) {
  const std::string name = ctx.params.at(0);
  auto config = config::load_project(ctx.directory);
  std::vector<std::string> names;
  for (const auto& a : config.apps) {
    names.push_back(a.name);
    if (a.name != name) continue;
    if (!a.internal) {
      throw Error(ErrorKind::usage, "External apps cannot create migrations from core project ('" + name + "' is an external app)",
                  "develop it on its own: cd to its source folder and run 'fastappkit plugin revision --autogenerate -m MSG'");
    }
    return autogenerate(ctx, name, "fastappkit migrate app " + name + " makemigrations -m MSG");
  }
  std::string near = util::did_you_mean(name, names);
  throw Error(ErrorKind::usage, "no app '" + name + "' in " + config.config_path.string(),
              near.empty() ? "apps are listed in [tool.fastappkit] apps" : "did you mean '" + near + "'?");
}

int cmd_merge(Context& ctx) {
  std::string message = require_message(ctx, "fastappkit migrate merge -m MSG");
  CoreProject p = load_core(ctx, false);
  auto heads = p.graph->heads();
  if (heads.size() < 2) {
    if (ctx.verbosity > 0) ctx.out << "Nothing to merge: there is " << (heads.empty() ? "no head" : "one head (" + heads[0] + ")") << "\n";
    return 0;
  }
  migration::Migration m;
  m.down_revisions = heads;
  m.message = message;
  write_revision(ctx, *p.graph, p.config.versions_dir(), m);
  return 0;
}

int cmd_check(Context& ctx) {
  // External apps' tables live in the same database but not in core's graph: leave them out.
  FullProject full = load_full(ctx);
  const CoreProject& p = full.core;
  const auto& models = full.models;
  std::set<std::string> external_tables;
  for (const auto& pl : full.plugins)
    for (const auto& t : pl.tables()) external_tables.insert(t);
  std::vector<std::string> model_diff, db_diff, notes;
  auto heads = p.graph->heads();
  migration::Schema head = migration::state_at(*p.graph, p.graph->ancestors(heads));
  model_diff = differences(comparable(head, true), comparable(models.schema, true));

  std::unique_ptr<db::Connection> conn;
  try {
    conn = db::open(p.url, db::OpenMode::read_only, ctx.lock_timeout);
  } catch (const db::DbError& e) {
    if (e.failure() != db::Failure::connect) throw;
    notes.push_back(std::string("database not checked: ") + e.what());
  }
  std::vector<std::string> current;
  if (conn) {
    run::Migrator migrator(*p.graph, "core", "alembic_version", conn->dialect());
    current = migrator.current(conn.get());
    auto applied = migration::applied_set(*p.graph, current, "alembic_version");
    std::vector<std::string> pending;
    for (const auto& id : p.graph->topological(p.graph->ancestors(heads)))
      if (!applied.count(id)) pending.push_back(id);
    if (!pending.empty())
      db_diff.push_back("database is behind: at " + (current.empty() ? std::string("base") : util::join(current, ", ")) + ", " +
                        std::to_string(pending.size()) + " migration(s) pending (" + util::join(pending, ", ") + ")");
    std::vector<std::string> unmapped;
    bool names_kept = conn->dialect() == sql::Dialect::postgresql;
    auto expected = comparable(conn->as_stored(migration::state_at(*p.graph, applied)), names_kept);
    auto live = conn->reflect(&unmapped);
    for (const auto& t : external_tables) live.tables.erase(t);
    std::erase_if(unmapped, [&](const std::string& u) { return external_tables.count(u.substr(0, u.find('.'))) != 0; });
    auto actual = comparable(live, names_kept);
    for (const auto& d : differences(expected, actual)) db_diff.push_back("database differs from its revision: " + d);
    for (const auto& u : unmapped) db_diff.push_back("column type with no model type: " + u);
  } else if (notes.empty()) {
    notes.push_back("database " + p.url.redacted() + " does not exist yet; run fastappkit migrate upgrade");
    if (!heads.empty()) db_diff.push_back("database is behind: it does not exist, " + std::to_string(p.graph->migrations().size()) + " migration(s) pending");
  }

  bool same = model_diff.empty() && db_diff.empty();
  if (ctx.json) {
    ctx.out << "{\"ok\": " << (same ? "true" : "false") << ", \"database\": " << util::json_escape(p.url.redacted()) << ", \"current\": " << json_list(current)
            << ", \"heads\": " << json_list(heads) << ", \"models_vs_migrations\": " << json_list(model_diff)
            << ", \"database_vs_migrations\": " << json_list(db_diff) << ", \"notes\": " << json_list(notes) << "}\n";
    return same ? 0 : 1;
  }
  for (const auto& n : notes) ctx.out << "note: " << n << "\n";
  if (!model_diff.empty()) {
    ctx.out << "Models differ from the migrations' head (" << model_diff.size() << "); run 'fastappkit migrate core -m MSG' or "
            << "'fastappkit migrate app <name> makemigrations -m MSG':\n";
    for (const auto& d : model_diff) ctx.out << "  - " << d << "\n";
  }
  if (!db_diff.empty()) {
    ctx.out << "Database " << p.url.redacted() << " differs (" << db_diff.size() << "):\n";
    for (const auto& d : db_diff) ctx.out << "  - " << d << "\n";
  }
  if (same && ctx.verbosity > 0) ctx.out << "No differences: models, migrations and database agree\n";
  return same ? 0 : 1;
}

}  // namespace fastappkit::cli
