// migrate adopt (project/adopt.hpp).
#include "fastappkit/project/adopt.hpp"

#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "fastappkit/migration/autogenerate.hpp"
#include "fastappkit/migration/graph.hpp"
#include "fastappkit/migration/models.hpp"
#include "fastappkit/run/migrator.hpp"
#include "fastappkit/sql/render.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::project {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void refuse(std::string message, std::string hint) {
  throw Error(ErrorKind::usage, std::move(message), std::move(hint));
}

// An execute step per statement: the dialect's own SQL, so the revision says where it was made.
migration::Operation execute_op(sql::Dialect d, const std::string& statement, const std::string& comment) {
  migration::Operation op;
  op.kind = migration::OpKind::execute;
  op.edit_extra().sql[std::string(sql::dialect_name(d))] = statement;
  op.comment = comment;
  return op;
}

// The base revision: what models cannot express that tables may use, the tables (as autogenerate
// makes them from the models, CHECKs included), then what goes on or over the tables. The
// downgrade undoes it in reverse.
migration::Migration base_revision(const migration::Schema& tables, const std::vector<db::CarriedObject>& carried,
                                   sql::Dialect d, const std::string& message) {
  migration::Migration m;
  m.message = message;
  std::vector<migration::Operation> before, after, undo_before, undo_after;
  for (const auto& o : carried) {
    auto& up = o.before_tables ? before : after;
    auto& down = o.before_tables ? undo_before : undo_after;
    const std::string what = "adopted " + o.kind + " " + o.name;
    for (const auto& s : o.create) up.push_back(execute_op(d, s, up.size() && up.back().comment == what ? "" : what));
    std::vector<migration::Operation> drops;
    for (const auto& s : o.drop) drops.push_back(execute_op(d, s, drops.empty() ? "undo " + what : ""));
    down.insert(down.begin(), drops.begin(), drops.end());
  }
  m.upgrade = before;
  for (auto& op : migration::diff({}, tables)) m.upgrade.push_back(std::move(op));
  m.upgrade.insert(m.upgrade.end(), after.begin(), after.end());
  m.downgrade = undo_after;
  for (auto& op : migration::diff(tables, {})) m.downgrade.push_back(std::move(op));
  m.downgrade.insert(m.downgrade.end(), undo_before.begin(), undo_before.end());
  return m;
}

// A database of the same dialect the base revision is replayed on, removed when it goes.
class Scratch {
 public:
  Scratch(const config::DatabaseUrl& live, const std::optional<std::string>& scratch_url, const fs::path& root,
          std::chrono::milliseconds timeout) {
    url_ = live;
    if (scratch_url) {
      url_ = config::parse_database_url(*scratch_url, root);
      if (url_.backend != live.backend)
        refuse("--scratch-url is not a database of the adopted database's kind (" +
                   std::string(sql::dialect_name(live.backend)) + ")",
               "give a scratch database of the same kind as the one adopted");
      conn_ = db::open(url_, db::OpenMode::read_write, timeout);
      auto cat = db::read_catalog(*conn_);
      if (!cat.facts.empty() || !db::management_tables(*conn_).empty())
        refuse("the scratch database " + url_.redacted() + " is not empty",
               "give --scratch-url an empty database: the base revision is replayed there");
      return;
    }
    if (live.backend == config::Backend::sqlite) {
      file_ = fs::temp_directory_path() /
              ("fastappkit-adopt-" + std::to_string(::getpid()) + "-" + migration::new_revision_id() + ".db");
      url_.sqlite_path = file_.string();
      url_.source = "scratch";
    } else {
      // A temporary schema in the live database: created, replayed into, read, dropped.
      schema_ = "fastappkit_adopt_" + migration::new_revision_id();
      admin_ = db::open(live, db::OpenMode::read_write, timeout);
      admin_->execute("CREATE SCHEMA " + sql::quote_ident(schema_));
      url_.schema = schema_;
    }
    conn_ = db::open(url_, db::OpenMode::read_write, timeout);
  }
  ~Scratch() {
    conn_.reset();
    std::error_code ec;
    if (!file_.empty()) {
      for (const char* suffix : {"", "-journal", "-wal", "-shm"}) fs::remove(file_.string() + suffix, ec);
    }
    if (admin_) {
      try {
        admin_->execute("DROP SCHEMA " + sql::quote_ident(schema_) + " CASCADE");
      } catch (const std::exception&) {
        // Only when the server went away meanwhile (the run has failed already and says so): the
        // empty schema then stays under its fastappkit_adopt_ name (docs/adopt.md).
      }
    }
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  db::Connection& conn() { return *conn_; }
  std::string describe() const {
    return schema_.empty() ? url_.redacted() : "schema " + schema_ + " of the adopted database";
  }

 private:
  config::DatabaseUrl url_;
  fs::path file_;
  std::string schema_;
  std::unique_ptr<db::Connection> admin_, conn_;
};

void refuse_unmanageable(db::Connection& conn, const std::string& database) {
  auto managed = db::management_tables(conn);
  if (!managed.empty())
    refuse("the database " + database + " is managed already: it has " + util::join(managed, ", "),
           "a database another fastappkit project or Alembic migrated is taken over with 'fastappkit migrate stamp "
           "REVISION' once the project has its revisions, or with 'fastappkit import alembic'");
}

// What the live database would need to be adopted: refused here when it cannot be.
struct Proven {
  db::Catalog live;
  std::string models_text;
  migration::Migration revision;  // parsed back from its text
  std::string revision_text;
};

Proven prove(const Workspace& w, const config::DatabaseUrl& url, db::Connection& conn, const AdoptRequest& r,
             const RunSettings& s) {
  const std::string database = url.redacted();
  Proven p;
  p.live = db::read_catalog(conn);
  if (p.live.schema.tables.empty() && p.live.carried.empty())
    refuse("the database " + database + " has no tables: there is nothing to adopt",
           "start the project's migrations instead: edit core/models.toml, then 'fastappkit migrate core -m MSG'");
  if (!p.live.unmapped.empty())
    throw Error(ErrorKind::input,
                "models.toml has no type for these columns, so the database cannot be adopted:\n  " +
                    util::join(p.live.unmapped, "\n  "),
                "change those columns to a type of docs/models.md, or keep the database under its current tool; "
                "docs/adopt.md lists what adopt carries");
  const sql::Dialect d = conn.dialect();
  // A key column is NOT NULL in the models. SQLite's rowid alias says notnull 0 and never holds a
  // NULL; any other key column the database lets be NULL differs in the proof and is refused.
  migration::Schema tables = p.live.schema;
  for (auto& [name, t] : tables.tables)
    for (auto& c : t.columns)
      if (std::find(t.primary_key.begin(), t.primary_key.end(), c.name) != t.primary_key.end()) c.nullable = false;
  const fs::path models_path = w.config().root / "core" / "models.toml";
  p.models_text = migration::write_models(
      tables, "# Core models, written by 'fastappkit migrate adopt' from " + database +
                  ".\n# Views, triggers and the other objects models cannot declare are in the base revision.\n");
  migration::ModelSet models = migration::parse_models(p.models_text, models_path.string(), "core");
  migration::check_references(models);
  for (auto& [name, t] : models.schema.tables) t.checks = p.live.schema.tables.at(name).checks;
  migration::Migration m = base_revision(models.schema, p.live.carried, d, r.message);
  m.revision = migration::new_revision_id();
  p.revision_text = migration::write_migration(m);
  p.revision = migration::parse_migration(p.revision_text, m.revision + ".toml");

  // The proof: the revision replayed on a scratch database by the migrator a run uses.
  Scratch scratch(url, r.scratch_url, w.config().root, s.lock_timeout);
  migration::RevisionGraph graph({p.revision});
  run::Migrator migrator(graph, "core", "alembic_version", d);
  try {
    auto steps = migrator.render(migration::plan_upgrade(graph, {}, "head"), {});
    migrator.ensure_tables(scratch.conn());
    migrator.run(
        scratch.conn(), steps, [](const run::StepReport&) {}, s.ddl);
  } catch (const Error& e) {
    throw Error(
        ErrorKind::input,
        "the base revision written from " + database + " does not replay on " + scratch.describe() + ": " +
            e.message() + "\n  nothing was written",
        "docs/adopt.md lists what adopt carries; an object it cannot recreate must be changed or dropped first");
  }
  auto replay = db::read_catalog(scratch.conn());
  auto differences = db::catalog_differences(p.live, replay, "the database", "the replay");
  if (!differences.empty())
    throw Error(ErrorKind::input,
                "the base revision does not reproduce " + database + " (" + std::to_string(differences.size()) +
                    " difference(s)); nothing was written:\n  " + util::join(differences, "\n  "),
                "docs/adopt.md lists what adopt carries and how; change or drop what differs, or keep the database "
                "under its current tool");
  return p;
}

// The project's checks, before any database is opened.
Workspace open_for_adopt(LoadOptions load) {
  load.external_apps = false;
  Workspace w = Workspace::open_project(load);
  if (!w.config().external_apps().empty())
    refuse("the project lists external apps (" + util::join(w.config().external_apps(), ", ") +
               "): adopt takes a database into core alone",
           "adopt the database before adding external apps to fastappkit.toml");
  const Target& core = w.core();
  if (!core.graph->empty())
    refuse("the project has revisions already (" + std::to_string(core.graph->migrations().size()) +
               " in core): adopt writes the first one",
           "adopt in a new project (fastappkit core new NAME), or bring the database to the project's head and run "
           "'fastappkit migrate stamp head'");
  if (!core.models.schema.tables.empty())
    refuse("the project's models declare tables already (" + core.models.origin.begin()->second.file +
               "): adopt writes core/models.toml from the database",
           "adopt in a new project (fastappkit core new NAME), or empty core/models.toml first");
  return w;
}

std::unique_ptr<db::Connection> open_adoptable(const config::DatabaseUrl& url, bool dry_run, const RunSettings& s) {
  if (url.is_memory()) refuse("an in-memory database cannot be adopted", "point DATABASE_URL at a database file");
  if (url.backend == config::Backend::sqlite && !fs::exists(url.sqlite_path))
    refuse("the database " + url.sqlite_path + " does not exist (from " + url.source + ")",
           "point DATABASE_URL at the database to adopt");
  // A dry run never writes: opened read-only, no run lock.
  auto conn = db::open(url, dry_run ? db::OpenMode::read_only : db::OpenMode::read_write, s.lock_timeout);
  if (!dry_run) conn->lock_for_run(s.lock_timeout);
  refuse_unmanageable(*conn, url.redacted());
  return conn;
}

// The stamp of an adopted database at `revision_text`'s revision.
void stamp_adopted(db::Connection& conn, const std::string& revision_text, const std::string& path) {
  migration::RevisionGraph graph({migration::parse_migration(revision_text, path)});
  run::Migrator(graph, "core", "alembic_version", conn.dialect()).adopt(conn, graph.order().front());
}

Adoption adopt_on(const Workspace& w, const config::DatabaseUrl& url, const AdoptRequest& r, const RunSettings& s,
                  db::Catalog* live) {
  auto conn = open_adoptable(url, r.dry_run, s);
  Proven p = prove(w, url, *conn, r, s);
  const Target& core = w.core();
  Adoption out;
  out.database = conn->describe();
  out.dialect = conn->dialect();
  out.revision = p.revision.revision;
  out.models_path = w.config().root / "core" / "models.toml";
  out.revision_path = w.config().versions_dir() / (p.revision.revision + "_" + migration::slugify(r.message) + ".toml");
  out.models_text = p.models_text;
  out.revision_text = p.revision_text;
  out.tables = p.live.schema.tables.size();
  out.carried = p.live.carried;
  if (live) *live = p.live;
  if (r.dry_run) return out;

  // Files first, then the stamp; a stamp that fails takes the files back.
  std::optional<std::string> models_before;
  if (fs::exists(out.models_path)) models_before = util::read_file(out.models_path.string());
  auto write = [](const fs::path& file, const std::string& text) {
    std::ofstream f(file, std::ios::binary | std::ios::trunc);
    f << text;
    if (!f.flush()) throw Error(ErrorKind::failed, "cannot write " + file.string(), "check the folder's permissions");
  };
  fs::create_directories(out.models_path.parent_path());
  write(out.models_path, out.models_text);
  fs::path written;
  try {
    fs::create_directories(core.versions_dir);
    written = w.write_revision(core, p.revision);
    out.revision_path = written;
    out.revision_text = util::read_file(written.string());
    stamp_adopted(*conn, out.revision_text, written.string());
  } catch (...) {
    std::error_code ec;
    if (!written.empty()) fs::remove(written, ec);
    if (models_before)
      write(out.models_path, *models_before);
    else
      fs::remove(out.models_path, ec);
    throw;
  }
  out.written = true;
  return out;
}

}  // namespace

Adoption adopt(const LoadOptions& load, const AdoptRequest& r, const RunSettings& s) {
  Workspace w = open_for_adopt(load);
  return adopt_on(w, w.url(), r, s, nullptr);
}

FleetAdoption adopt_fleet(const LoadOptions& load_options, const AdoptRequest& r,
                          const std::vector<FleetDatabase>& fleet, const RunSettings& s) {
  if (fleet.empty()) refuse("the fleet file lists no database", "list one database URL per line");
  LoadOptions load = load_options;
  load.need_url = false;
  Workspace w = open_for_adopt(load);
  FleetAdoption out;
  db::Catalog first;
  out.first = adopt_on(w, fleet.front().url, r, s, &first);
  // Every other database: compared with the first, stamped only when equal; one that cannot
  // be read or is managed already is a failure of its own and stops nothing.
  for (std::size_t i = 1; i < fleet.size(); ++i) {
    const auto& db = fleet[i];
    DatabaseOutcome o;
    o.database = db.url.redacted();
    o.line = db.line;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      auto conn = open_adoptable(db.url, r.dry_run, s);
      auto mine = db::read_catalog(*conn);
      o.differences = db::catalog_differences(first, mine, "the first database", "this one");
      o.state = FleetState::done;
      if (!o.differences.empty()) {
        o.detail = std::to_string(o.differences.size()) + " difference(s): left alone";
      } else if (r.dry_run) {
        o.detail = "same schema: would be stamped at " + out.first.revision;
      } else {
        stamp_adopted(*conn, out.first.revision_text, out.first.revision_path.string());
        o.detail = "same schema: stamped at " + out.first.revision;
        o.revisions = {out.first.revision};
      }
    } catch (const Error& e) {
      o.state = FleetState::failed;
      o.error = e;
      o.detail = "failed";
    }
    o.milliseconds = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    out.others.push_back(std::move(o));
  }
  return out;
}

}  // namespace fastappkit::project
