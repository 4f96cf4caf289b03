#include "fastappkit/run/migrator.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "../util/test_hooks.hpp"
#include "fastappkit/util/interrupt.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::run {

using migration::Direction;

std::string version_table_ddl(const std::string& table) {
  return "CREATE TABLE " + table + " (\n\tversion_num VARCHAR(32) NOT NULL, \n\tCONSTRAINT " + table +
         "_pkc PRIMARY KEY (version_num)\n)";
}

std::string history_table_ddl(sql::Dialect d) {
  const std::string id(sql::traits(d).identity_key), ts(sql::traits(d).timestamp_type);
  return std::string("CREATE TABLE ") + kHistoryTable + " (\n\t" + id +
         ",\n\tapp VARCHAR(64) NOT NULL,\n\trevision VARCHAR(32) NOT NULL,\n\tdirection VARCHAR(10) NOT NULL,\n\t"
         "checksum VARCHAR(64) NOT NULL,\n\tapplied_at " +
         ts + " NOT NULL DEFAULT CURRENT_TIMESTAMP,\n\tduration_ms INTEGER NOT NULL\n)";
}

Migrator::Migrator(const migration::RevisionGraph& graph, std::string label, std::string version_table,
                   sql::Dialect dialect, CallHandler calls)
    : graph_(graph),
      label_(std::move(label)),
      version_table_(std::move(version_table)),
      dialect_(dialect),
      calls_(std::move(calls)) {}

namespace {

void check_foreign_keys(db::Connection& conn) {
  auto bad = conn.query("PRAGMA foreign_key_check");
  if (!bad.empty()) {
    throw db::DbError(db::Failure::constraint,
                      "foreign key check failed after rebuilding tables: " + std::to_string(bad.size()) +
                          " row(s) in table '" + bad[0][0].value_or("?") + "' reference missing rows in '" +
                          bad[0][2].value_or("?") + "'",
                      "PRAGMA foreign_key_check", {}, "fix or delete those rows, then run again");
  }
}

// SQLite's table rebuild (https://www.sqlite.org/lang_altertable.html, "Making Other Kinds Of
// Table Schema Changes"): foreign key enforcement off before the transaction (step 1; the pragma
// does nothing inside one) and back on after it (step 12), whichever way the step ends: done,
// skipped because another run did it, or failed.
class ForeignKeysOff {
 public:
  ForeignKeysOff(db::Connection& conn, bool off) : conn_(off ? &conn : nullptr) {
    if (conn_) conn_->execute("PRAGMA foreign_keys = OFF");
  }
  ~ForeignKeysOff() {
    if (!conn_) return;
    try {
      conn_->execute("PRAGMA foreign_keys = ON");
    } catch (...) {  // a destructor does not throw; the connection is closed by the caller's error
    }
  }
  ForeignKeysOff(const ForeignKeysOff&) = delete;
  ForeignKeysOff& operator=(const ForeignKeysOff&) = delete;

 private:
  db::Connection* conn_;
};

// Runs one SQLite rebuild against what sqlite_master holds now (earlier statements of the
// migration may have made triggers or indexes). `own_transaction`: a transactional = false
// file, where the rebuild still commits whole or not at all (SQLite's steps 2 and 10-11).
void run_rebuild(db::Connection& conn, const sql::SqliteRebuild& r, bool own_transaction) {
  std::optional<db::Transaction> tx;
  if (own_transaction) tx.emplace(conn);
  std::vector<sql::SchemaObject> master;
  for (const auto& row : conn.query("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid"))
    master.push_back({row[0].value_or(""), row[1].value_or(""), row[2].value_or(""), row[3].value_or("")});
  for (const auto& s : sql::expand_rebuild(r, master)) {
    try {
      conn.execute(s.sql);
    } catch (const db::DbError& e) {
      if (s.object.empty()) throw;
      const std::string hint =
          "it names something this migration removes or changes: drop or rewrite it earlier in the same migration "
          "(op = \"execute\"), then run again";
      if (s.object == "*check*")
        throw db::DbError(e.failure(),
                          "a trigger or view cannot be recreated after rebuilding table '" + r.table + "': " + e.what(),
                          {}, {}, hint);
      throw db::DbError(e.failure(),
                        "cannot recreate " + s.object + " after rebuilding table '" + r.table + "': " + e.what(),
                        e.statement(), {}, hint);
    }
  }
  if (own_transaction) {
    check_foreign_keys(conn);
    tx->commit();
  }
}

// A `_fastappkit_tmp_<table>` table is what a rebuild that did not finish leaves (before
// rebuilds had a transaction of their own in transactional = false files); running on would
// fail on it or, worse, lose the rows it holds.
void refuse_leftover_rebuild(db::Connection& conn) {
  auto rows = conn.query(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '\\_fastappkit\\_tmp\\_%' ESCAPE '\\' ORDER "
      "BY name");
  if (rows.empty()) return;
  const std::string tmp = rows[0][0].value_or("");
  const std::string table = tmp.substr(std::string("_fastappkit_tmp_").size());
  const std::string what = "table " + tmp + " in " + conn.describe() + " is left over from a rebuild of table '" +
                           table + "' that did not finish; ";
  if (conn.table_exists(table))
    throw Error(ErrorKind::input,
                what + "'" + table + "' is still there, so " + tmp + " holds a copy of its rows from then",
                "check that '" + table + "' holds your rows, then drop the copy (DROP TABLE " + sql::quote_ident(tmp) +
                    ") and run again");
  throw Error(
      ErrorKind::input, what + "'" + table + "' is gone and its rows are in " + tmp,
      "put the table back (ALTER TABLE " + sql::quote_ident(tmp) + " RENAME TO " + sql::quote_ident(table) +
          "), recreate its indexes, triggers and views, check it with 'fastappkit migrate check', then run again");
}

}  // namespace

std::vector<std::string> Migrator::execute_step(db::Connection& conn, const Step& step, bool one_by_one,
                                                std::size_t start,
                                                const std::function<void(std::size_t)>& progress) const {
  std::size_t next = start;
  auto done = [&](std::size_t n) {
    next = n;
    if (one_by_one && progress) progress(n);
  };
  auto run_until = [&](std::size_t end) {
    if (end <= next) return;
    if (one_by_one) {
      for (std::size_t i = next; i < end; ++i) {
        conn.execute(step.statements[i]);
        done(i + 1);
      }
      return;
    }
    conn.execute(std::vector<std::string>(step.statements.begin() + static_cast<long>(next),
                                          step.statements.begin() + static_cast<long>(end)));
    next = end;
  };
  std::size_t call = 0;
  // Calls before what a resumed step has done ran with it.
  while (call < step.calls.size() && step.calls[call].first < start) ++call;
  // A call placed at a rebuild's first statement came before it in the file.
  auto calls_until = [&](std::size_t index) {
    for (; call < step.calls.size() && step.calls[call].first <= index; ++call) {
      run_until(step.calls[call].first);
      const auto* op = step.calls[call].second;
      if (!calls_)
        throw db::DbError(db::Failure::other, "'call " + op->extra().function +
                                                  "' needs a plugin's C++ step, and this migration is not a plugin's");
      calls_(*op, conn);
    }
  };
  for (const auto& rb : step.rebuilds) {
    if (rb.first < start) continue;
    calls_until(rb.first);
    run_until(rb.first);
    run_rebuild(conn, rb.rebuild, one_by_one);
    done(rb.first + rb.count);
  }
  calls_until(step.statements.size());
  if (!one_by_one) {
    std::vector<std::string> last(step.statements.begin() + static_cast<long>(next), step.statements.end());
    return last;
  }
  run_until(step.statements.size());
  return {};
}

namespace {

// What a progress row records of statements[0, n): their text, so that a rerun goes on after
// them only when the file still says the same.
std::string prefix_checksum(const Step& step, std::size_t n) {
  std::string text;
  for (std::size_t i = 0; i < n && i < step.statements.size(); ++i) text += step.statements[i] + "\n";
  return util::hex64(util::fnv1a64(text));
}

std::string progress_direction(Direction d, std::size_t n) {
  return (d == Direction::upgrade ? "up:" : "down:") + std::to_string(n);
}

}  // namespace

std::map<std::string, Migrator::Progress> Migrator::progress_of(db::Connection& conn, Direction d,
                                                                const std::vector<std::string>& revisions) const {
  std::map<std::string, Progress> out;
  if (revisions.empty() || !conn.table_exists(kHistoryTable)) return out;
  // Only the rows of these revisions, in the order they were written.
  const auto& traits = sql::traits(dialect_);
  std::string in;
  std::vector<std::string> params{label_};
  for (const auto& r : revisions) {
    params.push_back(r);
    in += (in.empty() ? "" : ", ") + traits.placeholder(static_cast<int>(params.size()));
  }
  const std::string prefix = d == Direction::upgrade ? "up:" : "down:";
  for (const auto& r :
       conn.query(std::string("SELECT revision, direction, checksum FROM ") + kHistoryTable +
                      " WHERE app = " + traits.placeholder(1) + " AND revision IN (" + in + ") ORDER BY id",
                  params)) {
    const std::string rev = r[0].value_or(""), dir = r[1].value_or("");
    if (dir.rfind(prefix, 0) == 0)
      out[rev] = {std::stoul(dir.substr(prefix.size())), r[2].value_or("")};
    else if (dir.find(':') == std::string::npos)
      out.erase(rev);  // a whole upgrade, downgrade or adoption ends what came before it
  }
  return out;
}

std::map<std::string, std::size_t> Migrator::half_applied(db::Connection& conn, Direction d,
                                                          const std::vector<std::string>& revisions) const {
  std::map<std::string, std::size_t> out;
  for (const auto& [rev, p] : progress_of(conn, d, revisions))
    if (p.statements > 0) out[rev] = p.statements;
  return out;
}

std::size_t Migrator::resume_point(db::Connection& conn, const Step& step) const {
  const auto& m = *step.migration;
  auto partial = progress_of(conn, step.direction, {m.revision});
  auto it = partial.find(m.revision);
  if (it == partial.end() || it->second.statements == 0) return 0;
  const std::size_t n = it->second.statements;
  const std::string& recorded = it->second.checksum;
  if (n <= step.statements.size() && recorded == prefix_checksum(step, n)) return n;
  std::string listing;
  for (std::size_t i = 0; i < n && i < step.statements.size(); ++i)
    listing += "\n    " + std::to_string(i + 1) + ". " + step.statements[i];
  const std::string verb = step.direction == Direction::upgrade ? "up" : "down";
  throw Error(
      ErrorKind::input,
      label_ + " revision " + m.revision + " (\"" + m.message +
          "\", transactional = false) is half applied: a run that " + "stopped committed its first " +
          std::to_string(n) + " statement(s), and the file's first " + std::to_string(n) +
          " statement(s) no longer read as they did then, so where to go on is not known." + "\n  the first " +
          std::to_string(n) + " statement(s) as the file reads now:" + listing + "\n  nothing was run",
      "make those statements read as they did when they ran (the run then goes on after them), or undo what they did "
      "by hand and clear the progress: DELETE FROM " +
          std::string(kHistoryTable) + " WHERE app = '" + label_ + "' AND revision = '" + m.revision +
          "' AND direction LIKE '" + verb + ":%'");
}

std::string Migrator::history_insert(const migration::Migration& m, Direction d, const std::string& duration_ms) const {
  return std::string("INSERT INTO ") + kHistoryTable + " (app, revision, direction, checksum, duration_ms) VALUES (" +
         sql::quote_literal(label_) + ", " + sql::quote_literal(m.revision) + ", " +
         (d == Direction::upgrade ? "'upgrade'" : "'downgrade'") + ", " + sql::quote_literal(m.checksum) + ", " +
         duration_ms + ")";
}

namespace {

std::vector<std::string> rows_of(db::Connection& conn, const std::string& table) {
  std::vector<std::string> out;
  for (const auto& r : conn.query("SELECT version_num FROM " + table + " ORDER BY version_num"))
    if (r[0]) out.push_back(*r[0]);
  return out;
}

}  // namespace

std::vector<std::string> Migrator::current(db::Connection* conn) const {
  if (!conn || !conn->table_exists(version_table_)) return {};
  return rows_of(*conn, version_table_);
}

migration::Schema Migrator::state_of(const std::set<std::string>& applied) const {
  return migration::state_at(graph_, applied);
}

std::vector<Step> Migrator::render(const migration::Plan& plan, const std::vector<std::string>& current) const {
  std::set<std::string> applied = migration::applied_set(graph_, current, version_table_);
  if (plan.steps.empty()) return {};  // a no-op needs no state
  const bool downgrade = plan.direction == Direction::downgrade;
  // The state after a downgrade step is what the remaining revisions give, whatever the
  // downgrade operations say: later steps render against the truth. When the plan reverts the
  // newest revisions of the applied order (always, on a linear history), that state is the one
  // before those revisions' upgrade operations, so they are applied once with an undo record
  // each and taken back step by step: linear in the history instead of a replay per step.
  std::vector<migration::Undo> undos;
  migration::Schema state;
  if (downgrade) {
    std::vector<std::string> order = graph_.topological(applied);
    if (plan.steps.size() <= order.size() && std::equal(plan.steps.begin(), plan.steps.end(), order.rbegin())) {
      undos.resize(plan.steps.size());
      const std::size_t keep = order.size() - plan.steps.size();
      for (std::size_t i = 0; i < order.size(); ++i)
        for (const auto& op : graph_.get(order[i]).upgrade) {
          if (i < keep)
            migration::apply(state, op);
          else
            migration::apply(state, op, undos[order.size() - 1 - i]);
        }
    } else {
      state = state_of(applied);
    }
  } else {
    state = state_of(applied);
  }
  std::vector<Step> steps;
  for (std::size_t k = 0; k < plan.steps.size(); ++k) {
    const std::string& id = plan.steps[k];
    Step step;
    step.migration = &graph_.get(id);
    step.direction = plan.direction;
    const auto& ops = downgrade ? step.migration->downgrade : step.migration->upgrade;
    migration::Undo scratch;  // the downgrade operations' own changes, taken back after the step
    for (const auto& op : ops) {
      if (op.kind == migration::OpKind::call) step.calls.emplace_back(step.statements.size(), &op);
      try {
        sql::RenderedOp r = sql::render(op, state, dialect_);
        step.statements.insert(step.statements.end(), r.statements.begin(), r.statements.end());
        if (r.rebuild) {
          // The rebuild's known part ends the operation's statements.
          std::size_t count = sql::expand_rebuild(*r.rebuild, {}).size();
          step.rebuilds.push_back({step.statements.size() - count, count, std::move(*r.rebuild)});
        }
        step.sqlite_rebuild = step.sqlite_rebuild || r.sqlite_rebuild;
      } catch (const Error& e) {
        throw Error(e.kind(), SourceLocation{step.migration->path, op.line, op.col}, e.message(), e.hint());
      }
      if (!undos.empty())
        migration::apply(state, op, scratch);
      else
        migration::apply(state, op);
    }
    if (downgrade) {
      if (!undos.empty()) {
        migration::revert(state, scratch);
        migration::revert(state, undos[k]);
      } else {
        applied.erase(id);
        state = state_of(applied);
      }
    }
    steps.push_back(std::move(step));
  }
  return steps;
}

std::vector<std::string> Migrator::version_change(std::vector<std::string>& rows, const std::string& revision,
                                                  Direction d) const {
  for (const auto& r : rows)
    if (!graph_.contains(r)) migration::applied_set(graph_, rows, version_table_);  // refuses, naming the table
  std::vector<std::string> after = migration::rows_after_step(graph_, rows, revision, d);
  std::vector<std::string> removed, added;
  for (const auto& r : rows)
    if (std::find(after.begin(), after.end(), r) == after.end()) removed.push_back(r);
  for (const auto& r : after)
    if (std::find(rows.begin(), rows.end(), r) == rows.end()) added.push_back(r);
  std::vector<std::string> out;
  const std::string& t = version_table_;
  std::size_t i = 0;
  for (; i < removed.size() && i < added.size(); ++i)
    out.push_back("UPDATE " + t + " SET version_num='" + added[i] + "' WHERE " + t + ".version_num = '" + removed[i] +
                  "'");
  for (std::size_t j = i; j < removed.size(); ++j)
    out.push_back("DELETE FROM " + t + " WHERE " + t + ".version_num = '" + removed[j] + "'");
  for (std::size_t j = i; j < added.size(); ++j)
    out.push_back("INSERT INTO " + t + " (version_num) VALUES ('" + added[j] + "')");
  rows = after;
  return out;
}

void Migrator::write_script(std::ostream& out, const migration::Plan& plan, const std::vector<std::string>& current,
                            bool version_table_exists) const {
  write_script(out, render(plan, current), current, version_table_exists);
}

void Migrator::write_script(std::ostream& out, const std::vector<Step>& steps, const std::vector<std::string>& current,
                            bool version_table_exists) const {
  if (!version_table_exists) out << version_table_ddl(version_table_) << ";\n\n";
  std::vector<std::string> rows = current;
  for (const auto& step : steps) {
    const auto& m = *step.migration;
    std::string from = util::join(m.down_revisions, ", ");
    if (step.direction == Direction::upgrade)
      out << "-- Running upgrade " << from << " -> " << m.revision;
    else
      out << "-- Running downgrade " << m.revision << " -> " << from;
    out << ", " << m.message << "\n-- file: " << m.path << "\n";
    if (step.sqlite_rebuild) out << "PRAGMA foreign_keys = OFF;\n";
    if (m.transactional) out << "BEGIN;\n";
    std::size_t call = 0, rebuild = 0;
    for (std::size_t i = 0; i <= step.statements.size(); ++i) {
      for (; call < step.calls.size() && step.calls[call].first == i; ++call) {
        const auto* op = step.calls[call].second;
        out << "-- call C++ step " << op->extra().function << "(" << util::join(op->extra().args, ", ")
            << ") of plugin " << label_ << "\n";
      }
      const Step::Rebuild* rb = rebuild < step.rebuilds.size() ? &step.rebuilds[rebuild] : nullptr;
      if (rb && rb->first == i) {
        out << "-- SQLite rebuild of table " << sql::quote_ident(rb->rebuild.table)
            << " (https://www.sqlite.org/lang_altertable.html section 7). Read from sqlite_master at run time:\n"
               "-- every trigger and view is dropped before the statements below and recreated after them from its "
               "stored SQL,\n"
               "-- so are the table's indexes made by execute; then a rename rolled back to a savepoint checks them "
               "all.\n";
        if (!m.transactional) out << "BEGIN;\n";
      }
      if (i < step.statements.size()) out << step.statements[i] << ";\n";
      if (rb && i + 1 == rb->first + rb->count) {
        if (!m.transactional) out << "PRAGMA foreign_key_check;\nCOMMIT;\n";
        ++rebuild;
      }
    }
    if (step.sqlite_rebuild && m.transactional) out << "PRAGMA foreign_key_check;\n";
    for (const auto& s : version_change(rows, m.revision, step.direction)) out << s << ";\n";
    if (m.transactional) out << "COMMIT;\n";
    if (step.sqlite_rebuild) out << "PRAGMA foreign_keys = ON;\n";
    out << "\n";
  }
}

void Migrator::ensure_tables(db::Connection& conn) const {
  bool version = conn.table_exists(version_table_);
  bool history = conn.table_exists(kHistoryTable);
  if (version && history) return;
  db::Transaction tx(conn);
  // Re-check under the write lock: a concurrent run may have created them meanwhile.
  if (!conn.table_exists(version_table_)) conn.execute(version_table_ddl(version_table_));
  if (!conn.table_exists(kHistoryTable)) conn.execute(history_table_ddl(dialect_));
  tx.commit();
}

void Migrator::run(db::Connection& conn, const std::vector<Step>& steps,
                   const std::function<void(const StepReport&)>& report, const DdlPolicy& ddl) const {
  const bool sqlite = dialect_ == sql::Dialect::sqlite;
  if (sqlite && !steps.empty()) refuse_leftover_rebuild(conn);
  // A statement waiting for a lock queues every later query on that table behind it: it gives
  // up after ddl.lock_timeout instead, and the migration is retried.
  if (!sqlite && !steps.empty())
    conn.execute("SET lock_timeout = '" + std::to_string(ddl.lock_timeout.count()) + "ms'");
  std::mt19937 jitter(std::random_device{}());
  // The version table is never dropped by a run: once it is there, each step reads its rows
  // without asking the catalog first.
  const bool have_table = !steps.empty() && conn.table_exists(version_table_);
  // The applied set of the rows last seen, kept up to date across steps where that is exact
  // (a revision with one parent and no depends_on), so a step does not walk the whole history.
  std::vector<std::string> known_rows;
  std::set<std::string> known_applied;
  bool known = false;
  auto applied_of = [&](const std::vector<std::string>& rows) -> const std::set<std::string>& {
    if (!known || rows != known_rows) {
      known_applied = migration::applied_set(graph_, rows, version_table_);
      known_rows = rows;
      known = true;
    }
    return known_applied;
  };
  auto advance = [&](const migration::Migration& m, Direction d, const std::vector<std::string>& rows_after) {
    bool exact = known && m.depends_on.empty() && m.down_revisions.size() <= 1;
    if (exact && d == Direction::upgrade) {
      exact = m.down_revisions.empty() || known_applied.count(m.down_revisions[0]);
      if (exact) known_applied.insert(m.revision);
    } else if (exact) {
      exact = std::find(known_rows.begin(), known_rows.end(), m.revision) != known_rows.end();
      for (const auto& c : graph_.dependents(m.revision)) exact = exact && !known_applied.count(c);
      if (exact) known_applied.erase(m.revision);
    }
    known = exact;
    known_rows = rows_after;
  };
  for (const auto& step : steps) {
    const auto& m = *step.migration;
    const std::string app = m.app.empty() ? label_ : m.app;
    // A staged race (tests only): between the first and the second step, outside any
    // transaction, where only the run lock keeps another run out.
    if (steps.size() > 1 && &step == &steps[1]) util::test_hold("between");
    // Between revisions: a SIGINT/SIGTERM stops the run here (util/interrupt.hpp), and so does a
    // run lock that is no longer held (its PostgreSQL session was ended).
    if (util::interrupted_signal() != 0)
      throw db::DbError(db::Failure::other,
                        "stopped before " + app + " revision " + m.revision + " (\"" + m.message +
                            "\"): nothing of it ran; revisions before it stay applied",
                        {}, {}, "run the command again to go on");
    conn.check_run_lock();
    // A transactional = false revision an earlier run stopped in: where it goes on (refused,
    // before anything runs, when its committed part no longer reads the same).
    const std::size_t resume = m.transactional ? 0 : resume_point(conn, step);
    for (int attempt = 0;; ++attempt) {
      auto t0 = std::chrono::steady_clock::now();
      const bool fk_off = sqlite && step.sqlite_rebuild;
      std::string failing;
      try {
        // Declared before the transaction, so it ends after it: foreign keys come back on once
        // the step is committed or rolled back, on every way out of this block.
        ForeignKeysOff keys(conn, fk_off);
        auto already_done = [&](const std::vector<std::string>& rows) {
          const auto& applied = applied_of(rows);
          return step.direction == Direction::upgrade ? applied.count(m.revision) != 0 : applied.count(m.revision) == 0;
        };
        if (!m.transactional) {
          if (already_done(current(&conn))) {
            report({step, app, 0, true});
            break;
          }
          // Statements that cannot run in a transaction go one by one, committed as they run, each
          // followed by a progress row; a rerun goes on after what an earlier run committed.
          execute_step(conn, step, true, resume, [&](std::size_t done) {
            conn.execute(std::string("INSERT INTO ") + kHistoryTable +
                         " (app, revision, direction, checksum, duration_ms) VALUES (" + sql::quote_literal(label_) +
                         ", " + sql::quote_literal(m.revision) + ", " +
                         sql::quote_literal(progress_direction(step.direction, done)) + ", " +
                         sql::quote_literal(prefix_checksum(step, done)) + ", 0)");
          });
        }
        db::Transaction tx(conn);
        // Re-read inside the transaction (which holds SQLite's write lock): another run may
        // have applied this step since the plan was made.
        std::vector<std::string> rows = have_table ? rows_of(conn, version_table_) : current(&conn);
        // A staged race (tests only): the first step holds here, inside its transaction and under
        // the run lock, until the test lets it go.
        if (&step == &steps.front()) util::test_hold("holding");
        if (m.transactional && already_done(rows)) {
          tx.commit();
          report({step, app, 0, true});
          break;
        }
        applied_of(rows);  // what `advance` starts from
        // version_change turns `rows` into the rows the change leaves (as rows_of reads them, sorted).
        std::vector<std::string> change = version_change(rows, m.revision, step.direction);
        // The step's last statements, the version-table change, the history row and COMMIT
        // go together: on PostgreSQL one round trip (Connection::commit_after).
        std::vector<std::string> last;
        if (m.transactional) last = execute_step(conn, step, false);
        if (fk_off && m.transactional) {
          conn.execute(last);
          last.clear();
          check_foreign_keys(conn);
        }
        last.insert(last.end(), change.begin(), change.end());
        if (sqlite) {
          // In-process: nothing to save by sending these with the history row, which then
          // records the time they took.
          conn.execute(last);
          last.clear();
        }
        // Where the statements are sent with the row, the server measures from the transaction's
        // start (its BEGIN went with the version-table read) to the row; elsewhere they have run
        // (in a transactional = false file, before the transaction) and the client measures.
        std::string duration =
            !sqlite && m.transactional
                ? "CAST(1000 * EXTRACT(EPOCH FROM clock_timestamp() - transaction_timestamp()) AS INTEGER)"
                : std::to_string(static_cast<long long>(
                      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count()));
        last.push_back(history_insert(m, step.direction, duration));
        tx.commit(last);
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        // Only once the step is committed. When the next step reads other rows, `applied_of`
        // computes the set again from them.
        advance(m, step.direction, rows);
        report({step, app, ms, false});
        break;
      } catch (const db::DbError& e) {
        known = false;  // what was applied is read again on a retry
        conn.rollback();
        const bool lock_timeout = !sqlite && e.sqlstate() == "55P03";
        // A transactional = false migration may have committed statements already (or left an
        // invalid index behind a CONCURRENTLY build): running it again is not safe.
        if (lock_timeout && m.transactional && attempt < ddl.retries && util::interrupted_signal() == 0) {
          auto wait = ddl.backoff * (1LL << attempt);
          wait += std::chrono::milliseconds(std::uniform_int_distribution<long long>(0, wait.count() / 2)(jitter));
          if (ddl.on_retry)
            ddl.on_retry(app + " revision " + m.revision + ": a statement waited more than " +
                         std::to_string(ddl.lock_timeout.count()) + " ms for a lock" + blocker_text(conn, step) +
                         "; rolled back, retry " + std::to_string(attempt + 1) + " of " + std::to_string(ddl.retries) +
                         " in " + std::to_string(wait.count()) + " ms");
          // A staged race (tests only): the attempt gave up on its lock and rolled back; it retries after `wait`.
          util::test_touch("retrying");
          std::this_thread::sleep_for(wait);
          continue;
        }
        std::string verb = step.direction == Direction::upgrade ? "upgrade" : "downgrade";
        std::string msg =
            verb + " of " + app + " revision " + m.revision + " (\"" + m.message + "\") failed\n  file: " + m.path;
        if (!e.statement().empty()) msg += "\n  statement: " + e.statement();
        msg += "\n  " + std::string(sql::dialect_name(dialect_)) + " said: " + e.what();
        std::string hint = util::interrupted_signal() != 0 ? "run the command again to go on"
                           : e.hint().empty()              ? "fix the migration or the data, then run the command again"
                                                           : e.hint();
        if (lock_timeout) {
          msg += "\n  it waited more than " + std::to_string(ddl.lock_timeout.count()) + " ms for a lock" +
                 (m.transactional ? ", " + std::to_string(attempt + 1) + " time(s)"
                                  : " (not retried: transactional = false)") +
                 blocker_text(conn, step);
          hint =
              "end or wait for the blocking session (SELECT pg_terminate_backend(<pid>) ends it), then run the "
              "command "
              "again; --ddl-lock-timeout and --ddl-retries set how long and how often a migration waits";
        }
        msg += m.transactional
                   ? "\n  this migration was rolled back; migrations before it stay applied"
                   : "\n  this migration is transactional = false: statements before the failing one stay committed"
                     " (a table rebuild among them commits whole or not at all); fastappkit_history records them, so"
                     " the next run goes on after them as long as they read the same (migrate status shows it)";
        throw db::DbError(e.failure(), msg, e.statement(), e.sqlstate(), hint);
      }
    }
  }
}

std::string Migrator::blocker_text(db::Connection& conn, const Step& step) const {
  std::set<std::string> tables;
  const auto& ops = step.direction == Direction::upgrade ? step.migration->upgrade : step.migration->downgrade;
  for (const auto& op : ops) {
    for (const std::string* t : {&op.table, &op.extra().references_table, &op.new_name})
      if (!t->empty()) tables.insert(*t);
  }
  return lockers_of(conn, tables);
}

std::string Migrator::lockers_of(db::Connection& conn, const std::set<std::string>& tables) const {
  std::string names;
  for (const auto& t : tables) names += (names.empty() ? "" : "\x1f") + t;
  try {
    // Sessions holding a lock on a table the migration touches (the migration's own wait is
    // over by now, so pg_blocking_pids would name no one).
    auto rows = conn.query(
        "SELECT DISTINCT c.relname, a.pid::text, l.mode, coalesce(a.state, ''), left(coalesce(a.query, ''), 200) "
        "FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_class c ON c.oid = l.relation "
        "JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.granted AND l.pid <> pg_backend_pid() AND c.relnamespace = current_schema()::regnamespace "
        "AND c.relname = ANY(string_to_array($1, chr(31))) ORDER BY 1, 2",
        {names});
    std::string out;
    for (const auto& r : rows)
      out += "\n  table '" + r[0].value_or("") + "' is locked (" + r[2].value_or("") + ") by pid " + r[1].value_or("") +
             " (" + r[3].value_or("") + "): " + r[4].value_or("");
    return out.empty() ? "\n  no session holds a lock on its tables now" : out;
  } catch (const db::DbError&) {
    return {};
  }
}

std::vector<std::string> Migrator::stamp(db::Connection& conn, std::string_view target, bool purge,
                                         const DdlPolicy& ddl) const {
  const bool pg = dialect_ == sql::Dialect::postgresql;
  // As for a run: waiting on a busy version table would queue the application's queries on it
  // behind this session, so every statement gives up after ddl.lock_timeout (not retried:
  // stamp is one short transaction the person runs again).
  if (pg) conn.execute("SET lock_timeout = '" + std::to_string(ddl.lock_timeout.count()) + "ms'");
  try {
    // A target or rows it cannot stamp are refused before anything (even the tables) is written.
    if (!purge) migration::applied_set(graph_, current(&conn), version_table_);  // names the table in the error
    migration::stamp_rows(graph_, current(&conn), target, purge);
    ensure_tables(conn);
    db::Transaction tx(conn);
    // Rows are read again and written under the transaction (a concurrent run may have moved
    // them): Alembic's stamp (rows of unrelated branches stay; purge empties the table first).
    std::vector<std::string> before = current(&conn);
    std::vector<std::string> rows = migration::stamp_rows(graph_, before, target, purge);
    if (rows != before) {
      conn.execute("DELETE FROM " + version_table_);
      for (const auto& r : rows) conn.execute("INSERT INTO " + version_table_ + " (version_num) VALUES ('" + r + "')");
    }
    tx.commit();
    return rows;
  } catch (const db::DbError& e) {
    if (!pg || e.sqlstate() != "55P03") throw;
    // The transaction is rolled back by now, so the lock table can be read.
    throw db::DbError(e.failure(),
                      "stamp of " + label_ + " failed: " + e.message() + "\n  it waited more than " +
                          std::to_string(ddl.lock_timeout.count()) + " ms for a lock" +
                          lockers_of(conn, {version_table_, kHistoryTable}) +
                          "\n  nothing was written: the version table is as it was",
                      e.statement(), e.sqlstate(),
                      "end or wait for the blocking session (SELECT pg_terminate_backend(<pid>) ends it), then run "
                      "stamp again; --ddl-lock-timeout sets how long it waits");
  }
}

void Migrator::adopt(db::Connection& conn, const std::string& revision) const {
  const migration::Migration& m = graph_.get(revision);
  ensure_tables(conn);
  db::Transaction tx(conn);
  // Read under the transaction: another tool may have stamped the database meanwhile.
  if (auto rows = current(&conn); !rows.empty())
    throw Error(ErrorKind::failed,
                "the database's " + version_table_ + " has rows now (" + util::join(rows, ", ") +
                    "): something else manages it; nothing was adopted",
                "look at what wrote them; fastappkit migrate stamp sets the version table by hand");
  conn.execute("INSERT INTO " + version_table_ + " (version_num) VALUES (" + sql::quote_literal(revision) + ")");
  conn.execute(std::string("INSERT INTO ") + kHistoryTable +
               " (app, revision, direction, checksum, duration_ms) VALUES (" + sql::quote_literal(label_) + ", " +
               sql::quote_literal(m.revision) + ", 'adopt', " + sql::quote_literal(m.checksum) + ", 0)");
  tx.commit();
}

std::vector<std::string> Migrator::modified_since_applied(db::Connection& conn,
                                                          const std::set<std::string>& applied) const {
  std::vector<std::string> out;
  if (!conn.table_exists(kHistoryTable)) return out;
  auto rows = conn.query(std::string("SELECT revision, checksum FROM ") + kHistoryTable +
                             " WHERE app = " + sql::traits(dialect_).placeholder(1) +
                             " AND direction IN ('upgrade', 'adopt') ORDER BY id",
                         {label_});
  std::map<std::string, std::string> last;
  for (const auto& r : rows) last[r[0].value_or("")] = r[1].value_or("");
  for (const auto& id : applied) {
    auto it = last.find(id);
    if (it != last.end() && graph_.contains(id) && graph_.get(id).checksum != it->second) out.push_back(id);
  }
  return out;
}

}  // namespace fastappkit::run
