// Planning and applying a run across apps (SPEC §9): every step rendered and checked before the
// first write, then applied part by part.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <fstream>
#include <ostream>

#include "fastappkit/db/connection.hpp"
#include "fastappkit/migration/validate.hpp"
#include "fastappkit/plugin/host.hpp"
#include "fastappkit/project/render_cache.hpp"
#include "fastappkit/project/workspace.hpp"
#include "fastappkit/util/text.hpp"
#include "workspace_internal.hpp"

namespace fastappkit::project {

namespace fs = std::filesystem;
using migration::Direction;

namespace {

// Every `call` of the plan must name a step the target's library registers: checked before
// the first write, so a stale library cannot stop a run halfway (SPEC §9).
void resolve_calls(const Target& t, const TargetPlan& part) {
  for (const auto& step : part.steps)
    for (const auto& [index, op] : step.calls) {
      if (!t.steps)
        throw Error(ErrorKind::input, op_location(*step.migration, *op),
                    "revision " + step.migration->revision + " calls C++ step '" + op->extra().function +
                        "', which runs from the plugin's library",
                    t.steps_hint);
      if (!t.steps->count(op->extra().function)) {
        std::vector<std::string> have(t.steps->begin(), t.steps->end());
        throw Error(ErrorKind::input, op_location(*step.migration, *op),
                    "revision " + step.migration->revision + " calls C++ step '" + op->extra().function +
                        "', which the library of " + t.name + " does not register (" +
                        (have.empty() ? std::string("it registers none") : "its steps: " + util::join(have, ", ")) +
                        ")",
                    t.steps_hint);
      }
    }
}

struct Touch {
  bool whole = false;
  std::set<std::string> columns;
  std::string revision, what;  // the first revision that touches it, and how
};

// Tables and columns a core plan drops, renames or retypes: from its operations (a table
// dropped and made again inside the plan still lost its rows) and from the schema before and
// after the plan.
std::map<std::string, Touch> touched_by(const TargetPlan& part, const migration::Schema& before,
                                        const migration::Schema& after) {
  std::map<std::string, Touch> out;
  auto whole = [&](const std::string& table, const std::string& rev, const std::string& what) {
    auto& x = out[table];
    if (x.revision.empty() || !x.whole) {
      x.revision = rev;
      x.what = what;
    }
    x.whole = true;
  };
  auto column = [&](const std::string& table, const std::string& col, const std::string& rev, const std::string& what) {
    auto& x = out[table];
    if (x.revision.empty()) {
      x.revision = rev;
      x.what = what;
    }
    x.columns.insert(col);
  };
  for (const auto& step : part.steps) {
    const auto& m = *step.migration;
    const auto& ops = step.direction == Direction::upgrade ? m.upgrade : m.downgrade;
    for (const auto& op : ops) {
      switch (op.kind) {
        case migration::OpKind::drop_table:
          whole(op.table, m.revision, "drops table '" + op.table + "'");
          break;
        case migration::OpKind::rename_table:
          whole(op.table, m.revision, "renames table '" + op.table + "'");
          break;
        case migration::OpKind::drop_column:
          column(op.table, op.column_name, m.revision, "drops column '" + op.table + "." + op.column_name + "'");
          break;
        case migration::OpKind::alter_column:
          if (!op.new_name.empty() || op.new_type)
            column(op.table, op.column_name, m.revision, "alters column '" + op.table + "." + op.column_name + "'");
          break;
        case migration::OpKind::create_table:
        case migration::OpKind::add_column:
        case migration::OpKind::create_index:
        case migration::OpKind::drop_index:
        case migration::OpKind::create_unique:
        case migration::OpKind::create_foreign_key:
        case migration::OpKind::create_check_constraint:
        case migration::OpKind::drop_constraint:
        case migration::OpKind::validate_constraint:
        case migration::OpKind::execute:
        case migration::OpKind::call:
          break;
      }
    }
  }
  const std::string last = part.steps.empty() ? std::string() : part.steps.back().migration->revision;
  for (const auto& [name, table] : before.tables) {
    const auto* now = after.find(name);
    if (!now) {
      if (!out.count(name) || !out[name].whole) whole(name, last, "removes table '" + name + "'");
      continue;
    }
    for (const auto& c : table.columns) {
      const auto* n = now->find_column(c.name);
      if (!n || n->type != c.type) column(name, c.name, last, "changes column '" + name + "." + c.name + "'");
    }
  }
  return out;
}

}  // namespace

RunPlan Workspace::plan(db::Connection* conn, sql::Dialect dialect, const std::vector<Request>& requests,
                        RenderCache* cache) const {
  RunPlan rp;
  rp.dialect = dialect;
  // What each target will have applied once the earlier parts of this run are done.
  std::map<const Target*, std::set<std::string>> after;
  for (const auto& req : requests) {
    const Target& t = *req.target;
    run::Migrator m(*t.graph, t.name, t.version_table, dialect, t.calls());
    TargetPlan part;
    part.target = &t;
    part.direction = req.direction;
    part.revision = req.revision;
    part.dialect = dialect;
    part.current = req.from ? *req.from : m.current(conn);
    migration::validate_target(*t.graph, req.revision);
    part.plan = req.direction == Direction::upgrade ? migration::plan_upgrade(*t.graph, part.current, req.revision)
                                                    : migration::plan_downgrade(*t.graph, part.current, req.revision);
    part.steps =
        cache ? cache->steps(t, dialect, part.plan, part.current, [&] { return m.render(part.plan, part.current); })
              : m.render(part.plan, part.current);
    resolve_calls(t, part);
    std::set<std::string> applied = migration::applied_set(*t.graph, part.current, t.version_table);
    if (req.from) part.version_table_exists = !req.from->empty();
    if (conn) {
      part.version_table_exists = conn->table_exists(t.version_table);
      // Upgrade: every applied revision edited since (as status says). Downgrade: those it reverts,
      // whose edited downgrade is what runs.
      part.modified = m.modified_since_applied(*conn, applied);
      if (req.direction == Direction::downgrade)
        std::erase_if(part.modified, [&](const std::string& id) {
          return std::find(part.plan.steps.begin(), part.plan.steps.end(), id) == part.plan.steps.end();
        });
    }
    std::set<std::string> later = applied;
    for (const auto& id : part.plan.steps) {
      if (req.direction == Direction::upgrade)
        later.insert(id);
      else
        later.erase(id);
    }
    after[&t] = later;
    if (t.is_core() && conn && !part.steps.empty()) {
      const migration::Schema core_before = migration::state_at(*t.graph, applied),
                              core_after = migration::state_at(*t.graph, later);
      auto touched = touched_by(part, core_before, core_after);
      if (!touched.empty()) {
        // The truth is in the database: every foreign key into a touched table, from a table
        // that is not core's own, is another app's data.
        migration::Schema live = conn->reflect();
        // owner (nullopt: no app) -> "table (cols) -> table (cols)"
        std::map<std::optional<Owner>, std::vector<std::string>> by_owner;
        std::vector<std::string> reasons;
        for (const auto& [name, table] : live.tables) {
          if (core_before.tables.count(name) || core_after.tables.count(name)) continue;
          for (const auto& fk : table.foreign_keys) {
            auto it = touched.find(fk.references_table);
            if (it == touched.end()) continue;
            bool hit =
                it->second.whole || std::any_of(fk.references_columns.begin(), fk.references_columns.end(),
                                                [&](const std::string& c) { return it->second.columns.count(c) != 0; });
            if (!hit) continue;
            const std::optional<Owner> owner = owner_of(name);
            // A table an earlier part of this run removes is no longer in the way.
            bool gone = false;
            for (const auto& [target, set] : after)
              if (!target->is_core() && target->tables.count(name) &&
                  !migration::state_at(*target->graph, set).tables.count(name))
                gone = true;
            if (gone) continue;
            by_owner[owner].push_back(name + " (" + util::join(fk.columns, ", ") + ") -> " + fk.references_table +
                                      " (" + util::join(fk.references_columns, ", ") + ")");
            std::string reason = "revision " + it->second.revision + " " + it->second.what;
            if (std::find(reasons.begin(), reasons.end(), reason) == reasons.end()) reasons.push_back(reason);
          }
        }
        if (!by_owner.empty()) {
          std::vector<std::pair<std::string, std::string>> named;  // by the owner's description
          for (const auto& [owner, refs] : by_owner)
            named.emplace_back(owner ? owner->describe() : std::string(),
                               (owner ? owner->describe() : std::string("tables no app of this project owns")) + ": " +
                                   util::join(refs, "; "));
          std::sort(named.begin(), named.end());
          std::vector<std::string> who, commands;
          for (const auto& [key, text] : named) who.push_back(text);
          for (auto it = targets_.rbegin(); it != targets_.rend(); ++it)
            if (!it->is_core() && by_owner.count(Owner::external_app(it->name)))
              commands.push_back("fastappkit migrate app " + it->name + " downgrade --revision base");
          std::string verb = req.direction == Direction::upgrade ? "upgrade" : "downgrade";
          std::string hint =
              commands.empty()
                  ? "drop or change those foreign keys first; a migration never reaches into data it does not own"
                  : "revert them first: " + util::join(commands, ", then ");
          if (req.direction == Direction::downgrade)
            hint += (commands.empty() ? "" : "; ") +
                    std::string("or revert the whole project in order: fastappkit migrate downgrade base --all");
          throw Error(ErrorKind::input,
                      "refusing to " + verb + " core to '" + req.revision + "': " + util::join(reasons, ", ") +
                          ", which applied tables of other apps reference (" + util::join(who, " | ") +
                          "); their rows would be deleted or the run would fail halfway",
                      hint);
        }
      }
    }
    rp.parts.push_back(std::move(part));
  }
  return rp;
}

void Workspace::apply(db::Connection& conn, const RunPlan& plan, Observer& observer, const run::DdlPolicy& ddl) const {
  // Before the version tables are created or read, not only for the migrations (Migrator::run).
  if (plan.dialect == sql::Dialect::postgresql)
    conn.execute("SET lock_timeout = '" + std::to_string(ddl.lock_timeout.count()) + "ms'");
  for (const auto& part : plan.parts) {
    const Target& t = *part.target;
    run::Migrator m(*t.graph, t.name, t.version_table, plan.dialect, t.calls());
    m.ensure_tables(conn);
    observer.part_started(part, conn.describe());
    run::DdlPolicy policy = ddl;
    policy.on_retry = [&](const std::string& message) { observer.retrying(part, message); };
    m.run(
        conn, part.steps, [&](const run::StepReport& r) { observer.step_done(part, r); }, policy);
    observer.part_done(part, m.current(&conn));
  }
}

void Workspace::write_script(std::ostream& out, const TargetPlan& part) const {
  const Target& t = *part.target;
  run::Migrator m(*t.graph, t.name, t.version_table, part.dialect, t.calls());
  m.write_script(out, part.steps, part.current, part.version_table_exists);  // rendered once, by plan()
}

std::vector<std::string> Workspace::stamp(db::Connection& conn, const Target& t, const std::string& revision,
                                          bool purge, const run::DdlPolicy& ddl) const {
  run::Migrator m(*t.graph, t.name, t.version_table, conn.dialect());
  return m.stamp(conn, revision, purge, ddl);
}

}  // namespace fastappkit::project
