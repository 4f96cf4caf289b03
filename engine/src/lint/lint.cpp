#include "fastappkit/lint/lint.hpp"

#include <algorithm>
#include <set>

#include "fastappkit/error.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::lint {

using migration::Column;
using migration::ColumnType;
using migration::Operation;
using migration::OpKind;

std::string_view level_name(Level l) { return l == Level::error ? "error" : "warning"; }

const std::vector<Rule>& rules() {
  // squawk: https://squawkhq.com/docs/rules; strong_migrations: its README's "Checks".
  static const std::vector<Rule> all = {
      {"require-concurrent-index", Level::error, true, "create_index without concurrently on an existing table",
       "require-concurrent-index-creation", "Adding an index non-concurrently"},
      {"require-concurrent-index-deletion", Level::warning, true, "drop_index without concurrently",
       "require-concurrent-index-deletion", "Removing an index non-concurrently"},
      {"foreign-key-not-valid", Level::error, true,
       "a foreign key added to an existing table without not_valid + validate_constraint",
       "adding-foreign-key-constraint", "Adding a foreign key"},
      {"check-constraint-not-valid", Level::error, true,
       "a check constraint added to an existing table without not_valid + validate_constraint",
       "constraint-missing-not-valid", "Adding a check constraint"},
      {"validate-in-same-transaction", Level::warning, true,
       "validate_constraint in the same transaction as the not_valid constraint it validates",
       "constraint-missing-not-valid", "Adding a foreign key (validate in a separate migration)"},
      {"unique-constraint", Level::error, true, "a unique constraint added to an existing table",
       "disallowed-unique-constraint", "Adding a unique constraint"},
      {"changing-column-type", Level::error, true, "a type change that rewrites the table", "changing-column-type",
       "Changing the type of a column"},
      {"set-not-null", Level::error, true, "SET NOT NULL on an existing column without a validated CHECK",
       "adding-not-nullable-field", "Setting NOT NULL on an existing column"},
      {"volatile-default", Level::error, true, "add_column with a volatile default", "adding-field-with-default",
       "Adding a column with a volatile default value"},
      {"add-required-column", Level::error, false, "add_column NOT NULL without a default on an existing table",
       "adding-required-field", ""},
      {"rename-table", Level::error, false, "renaming a table that is in use", "renaming-table", "Renaming a table"},
      {"rename-column", Level::error, false, "renaming a column that is in use", "renaming-column",
       "Renaming a column"},
      {"drop-table", Level::error, false, "drop_table: the table and its rows are gone", "ban-drop-table", ""},
      {"drop-column", Level::error, false, "drop_column: the column's data is gone", "ban-drop-column",
       "Removing a column"},
      {"narrowing-type", Level::error, false, "a type change that can fail on or cut existing values", "", ""},
      {"execute-unanalysed", Level::warning, false, "execute: raw SQL lint cannot analyse", "",
       "Executing SQL directly"},
  };
  return all;
}

const Rule* find_rule(std::string_view id) {
  for (const auto& r : rules())
    if (r.id == id) return &r;
  return nullptr;
}

namespace {

std::string q(const std::string& s) { return util::json_escape(s); }  // a TOML basic string

std::string list(const std::vector<std::string>& v) {
  std::vector<std::string> parts;
  for (const auto& s : v) parts.push_back(q(s));
  // Appended, not "[" + ...: GCC 12 warns falsely (-Wrestrict, bug 105651) on literal + temporary at -O3.
  std::string out = "[";
  out += util::join(parts, ", ");
  return out += "]";
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Defaults PostgreSQL must evaluate once per existing row (volatile functions), so adding the
// column rewrites the table. Stable ones (now(), CURRENT_TIMESTAMP) are evaluated once.
bool volatile_default(const std::string& expr) {
  const std::string e = lower(expr);
  for (const char* f : {"random(", "gen_random_uuid(", "uuid_generate_v", "clock_timestamp(", "timeofday(", "nextval(",
                        "txid_current("})
    if (e.find(f) != std::string::npos) return true;
  return false;
}

// Families whose values convert into each other without loss when the new one is wider.
int family(ColumnType t) {
  switch (t) {
    case ColumnType::smallint:
    case ColumnType::integer:
    case ColumnType::bigint:
      return 1;
    case ColumnType::float_:
    case ColumnType::double_:
      return 2;
    case ColumnType::numeric:
      return 3;
    case ColumnType::string:
    case ColumnType::text:
      return 4;
    default:
      return 10 + static_cast<int>(t);
  }
}

long long width(ColumnType t, const std::optional<int>& length, const std::optional<int>& precision) {
  constexpr long long unbounded = 1LL << 40;
  switch (t) {
    case ColumnType::smallint:
      return 2;
    case ColumnType::integer:
      return 4;
    case ColumnType::bigint:
      return 8;
    case ColumnType::float_:
      return 4;
    case ColumnType::double_:
      return 8;
    case ColumnType::numeric:
      return precision ? *precision : unbounded;
    case ColumnType::string:
      return length ? *length : unbounded;
    case ColumnType::text:
      return unbounded;
    default:
      return 0;
  }
}

std::string type_text(ColumnType t, const std::optional<int>& length, const std::optional<int>& precision,
                      const std::optional<int>& scale) {
  std::string out(migration::column_type_name(t));
  if (length) out.append("(").append(std::to_string(*length)).append(")");
  if (precision) {
    out.append("(").append(std::to_string(*precision));
    if (scale) out.append(", ").append(std::to_string(*scale));
    out.append(")");
  }
  return out;
}

struct TypeChange {
  bool narrowing = false;  // existing values may fail to convert or be cut
  bool rewrite = false;    // PostgreSQL rewrites the table (or rescans it) under ACCESS EXCLUSIVE
};

TypeChange type_change(const Column& old, const Operation& op) {
  TypeChange out;
  const ColumnType to = *op.new_type;
  const bool text_target = to == ColumnType::string || to == ColumnType::text;
  if (family(old.type) != family(to)) {
    out.narrowing = !text_target;
    out.rewrite = true;
    return out;
  }
  const long long w0 = width(old.type, old.length, old.precision), w1 = width(to, op.length, op.precision);
  out.narrowing = w1 < w0 || (to == ColumnType::numeric && op.scale.value_or(0) < old.scale.value_or(0));
  // varchar(n) -> varchar(m >= n) or text, numeric(p, s) -> numeric(p' >= p, s) change only the catalog.
  const bool binary_coercible =
      (family(to) == 4 && w1 >= w0) ||
      (to == ColumnType::numeric && old.type == ColumnType::numeric && w1 >= w0 &&
       op.scale.value_or(0) == old.scale.value_or(0)) ||
      (old.type == to && old.length == op.length && old.precision == op.precision && old.scale == op.scale);
  out.rewrite = !binary_coercible;
  return out;
}

class Linter {
 public:
  Linter(const migration::Migration& m, sql::Dialect d, const std::string& app) : m_(m), dialect_(d), app_(app) {}

  std::vector<Finding> run(migration::Schema& state) {
    for (const auto& op : m_.upgrade) {
      for (const auto& id : op.lint_ignore) {
        if (find_rule(id)) continue;
        std::vector<std::string> ids;
        for (const auto& r : rules()) ids.emplace_back(r.id);
        std::string near = util::did_you_mean(id, ids);
        throw Error(ErrorKind::input, SourceLocation{m_.path, op.line, op.col},
                    "lint_ignore names '" + id + "', which is no lint rule",
                    near.empty() ? "rules: " + util::join(ids, ", ") : "did you mean '" + near + "'?");
      }
      check(op, state);
      if (op.kind == OpKind::create_table) created_.insert(op.table);
      if (op.kind == OpKind::rename_table && created_.count(op.table)) created_.insert(op.new_name);
      if ((op.kind == OpKind::create_foreign_key || op.kind == OpKind::create_check_constraint) && op.not_valid)
        not_valid_.insert(op.table + "\n" + op.name);
      migration::apply(state, op);
    }
    return std::move(out_);
  }

 private:
  bool pg() const { return dialect_ == sql::Dialect::postgresql; }
  // A table that exists before this revision: one it creates has no rows and no readers yet.
  bool existing(const std::string& table) const { return !created_.count(table); }

  void add(const Operation& op, std::string_view rule, std::string what, std::string fix) {
    const Rule* r = find_rule(rule);
    if (r->postgresql_only && !pg()) return;
    Finding f;
    f.rule = std::string(rule);
    f.level = r->level;
    f.app = m_.app.empty() ? app_ : m_.app;  // an internal app's revision lives in core's graph
    f.revision = m_.revision;
    f.file = m_.path;
    f.line = op.line;
    f.column = op.col;
    f.operation = std::string(migration::op_kind_name(op.kind));
    f.what = std::move(what);
    f.fix = std::move(fix);
    f.ignored = std::find(op.lint_ignore.begin(), op.lint_ignore.end(), f.rule) != op.lint_ignore.end();
    out_.push_back(std::move(f));
  }

  static std::string index_op(const Operation& op, bool unique, const std::vector<std::string>& columns,
                              const std::string& name) {
    return "in a revision of its own with transactional = false:\n[[upgrade]]\nop = \"create_index\"\nname = " +
           q(name) + "\ntable = " + q(op.table) + "\ncolumns = " + list(columns) + (unique ? "\nunique = true" : "") +
           "\nconcurrently = true";
  }

  static std::string fk_ops(const std::string& table, const std::string& name, const std::vector<std::string>& cols,
                            const std::string& ref_table, const std::vector<std::string>& ref_cols) {
    return "[[upgrade]]\nop = \"create_foreign_key\"\nname = " + q(name) + "\ntable = " + q(table) +
           "\ncolumns = " + list(cols) + "\nreferences_table = " + q(ref_table) +
           "\nreferences_columns = " + list(ref_cols) +
           "\nnot_valid = true\nthen, in a later revision (it scans without blocking writes):\n"
           "[[upgrade]]\nop = \"validate_constraint\"\nname = " +
           q(name) + "\ntable = " + q(table);
  }

  static std::string check_ops(const std::string& table, const std::string& name, const std::string& condition) {
    return "[[upgrade]]\nop = \"create_check_constraint\"\nname = " + q(name) + "\ntable = " + q(table) +
           "\ncondition = " + q(condition) +
           "\nnot_valid = true\nthen, in a later revision (it scans without blocking writes):\n"
           "[[upgrade]]\nop = \"validate_constraint\"\nname = " +
           q(name) + "\ntable = " + q(table);
  }

  // A validated CHECK (col IS NOT NULL) on the table: PostgreSQL 12+ then sets NOT NULL without a scan.
  static bool validated_not_null_check(const migration::Table* table, const std::string& column) {
    if (!table) return false;
    const std::vector<std::string> want = {lower(column), "is", "not", "null"};
    for (const auto& k : table->checks) {
      if (k.not_valid || migration::sql_identifiers(k.condition) != want) continue;
      // Only parentheses, spaces and the words themselves: "a IS NOT NULL OR b > 0" has more.
      std::string rest = k.condition;
      if (std::all_of(rest.begin(), rest.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '"' || c == ' ' || c == '(' ||
                   c == ')' || c == '\t' || c == '\n';
          }))
        return true;
    }
    return false;
  }

  void check(const Operation& op, const migration::Schema& state) {
    const std::string t = op.table;
    switch (op.kind) {
      case OpKind::create_index:
        if (existing(t) && !op.concurrently)
          add(op, "require-concurrent-index",
              "CREATE INDEX takes a SHARE lock on '" + t +
                  "': every INSERT, UPDATE and DELETE waits until the index is built",
              index_op(op, op.unique, op.index_columns, op.name));
        return;
      case OpKind::drop_index:
        if (existing(t) && !op.concurrently)
          add(op, "require-concurrent-index-deletion",
              "DROP INDEX takes an ACCESS EXCLUSIVE lock on '" + t + "': reads and writes wait while it is dropped",
              "in a revision of its own with transactional = false:\n[[upgrade]]\nop = \"drop_index\"\nname = " +
                  q(op.name) + "\ntable = " + q(t) + "\nconcurrently = true");
        return;
      case OpKind::create_foreign_key:
        if (existing(t) && !op.not_valid)
          add(op, "foreign-key-not-valid",
              "ADD FOREIGN KEY scans every row of '" + t + "' while holding a SHARE ROW EXCLUSIVE lock on '" + t +
                  "' and '" + op.extra().references_table + "': writes to both wait for the scan",
              fk_ops(t, op.name, op.index_columns, op.extra().references_table, op.extra().references_columns));
        return;
      case OpKind::create_check_constraint:
        if (existing(t) && !op.not_valid)
          add(op, "check-constraint-not-valid",
              "ADD CONSTRAINT ... CHECK scans every row of '" + t +
                  "' while holding an ACCESS EXCLUSIVE lock: reads and writes wait for the scan",
              check_ops(t, op.name, op.extra().condition));
        return;
      case OpKind::validate_constraint:
        if (m_.transactional && not_valid_.count(t + "\n" + op.name))
          add(op, "validate-in-same-transaction",
              "the constraint was added with not_valid = true in this same transaction, so its lock is still held "
              "while VALIDATE scans '" +
                  t + "': the same as adding it without not_valid",
              "move this validate_constraint into a later revision");
        return;
      case OpKind::create_unique:
        if (existing(t))
          add(op, "unique-constraint",
              "ADD CONSTRAINT ... UNIQUE builds its index under an ACCESS EXCLUSIVE lock on '" + t +
                  "': reads and writes wait until it is built",
              index_op(op, true, op.index_columns, op.name) +
                  "\n(a unique index enforces the same rule; a constraint can then be attached with execute: "
                  "ALTER TABLE ... ADD CONSTRAINT ... UNIQUE USING INDEX, which is instant)");
        return;
      case OpKind::add_column:
        return add_column(op);
      case OpKind::alter_column:
        return alter_column(op, state);
      case OpKind::rename_table:
        if (existing(t))
          add(op, "rename-table",
              "the running application still reads and writes '" + t +
                  "': its queries fail from the moment this "
                  "commits until the new code is deployed",
              "create '" + op.new_name +
                  "' (create_table), make the application write to both and backfill, switch "
                  "reads to '" +
                  op.new_name + "', then drop '" + t +
                  "' in a later revision; or, when every reader is "
                  "gone, keep this and add lint_ignore = [\"rename-table\"]");
        return;
      case OpKind::drop_table:
        if (existing(t))
          add(op, "drop-table",
              "DROP TABLE removes '" + t + "' and all its rows for good (and takes an ACCESS EXCLUSIVE lock)",
              "first deploy code that no longer uses '" + t +
                  "' and keep a backup; then add lint_ignore = "
                  "[\"drop-table\"] to this operation");
        return;
      case OpKind::drop_column:
        if (existing(t))
          add(op, "drop-column",
              "DROP COLUMN removes '" + t + "." + op.column_name +
                  "' and its data for good; code that still "
                  "selects it fails",
              "first deploy code that no longer reads or writes '" + op.column_name +
                  "'; then add lint_ignore = "
                  "[\"drop-column\"] to this operation");
        return;
      case OpKind::execute:
        add(op, "execute-unanalysed",
            "raw SQL: lint cannot tell which locks it takes or whether it rewrites or loses data",
            "use an engine operation where one exists (create_index concurrently, create_foreign_key or "
            "create_check_constraint not_valid, validate_constraint); otherwise review the SQL (set lock_timeout, "
            "batch data changes) and add "
            "lint_ignore = [\"execute-unanalysed\"]");
        return;
      case OpKind::create_table:
      case OpKind::drop_constraint:
      case OpKind::call:
        return;
    }
  }

  void add_column(const Operation& op) {
    const std::string& t = op.table;
    if (!existing(t) || !op.column) return;
    const auto& c = *op.column;
    const bool not_null = c.primary_key || !c.nullable.value_or(true);
    if (c.default_value && volatile_default(*c.default_value))
      add(op, "volatile-default",
          "the default '" + *c.default_value +
              "' is volatile: PostgreSQL computes it for every existing row, "
              "rewriting '" +
              t + "' under an ACCESS EXCLUSIVE lock",
          "[[upgrade]]\nop = \"add_column\"\ntable = " + q(t) + "\ncolumn = { name = " + q(c.name) +
              ", type = " + q(std::string(migration::column_type_name(c.type))) +
              " }\n[[upgrade]]\nop = \"alter_column\"\ntable = " + q(t) + "\ncolumn = " + q(c.name) + "\ndefault = " +
              q(*c.default_value) + "\nthen backfill existing rows in batches (execute, in a later revision or a job)");
    if (not_null && !c.default_value)
      add(op, "add-required-column",
          "a NOT NULL column without a default cannot be added to a table that has rows: the migration fails on "
          "any non-empty '" +
              t + "'",
          "add it nullable (or with a constant default), backfill, then alter_column nullable = false in a later "
          "revision");
    if (c.foreign_key) {
      auto dot = c.foreign_key->find('.');
      std::string ref = c.foreign_key->substr(0, dot);
      std::string name = "fk_" + t + "_" + c.name + "_" + ref;
      add(op, "foreign-key-not-valid",
          "REFERENCES on a new column of '" + t + "' validates under a SHARE ROW EXCLUSIVE lock on '" + ref +
              "': writes to it wait",
          "add the column without foreign_key, then:\n" +
              fk_ops(t, name, {c.name}, ref, {c.foreign_key->substr(dot + 1)}));
    }
    if (c.unique || c.primary_key)
      add(op, "unique-constraint",
          std::string(c.primary_key ? "PRIMARY KEY" : "UNIQUE") + " on a new column of '" + t +
              "' builds its index under an ACCESS EXCLUSIVE lock",
          "add the column without unique, then:\n" + index_op(op, true, {c.name}, "uq_" + t + "_" + c.name));
  }

  void alter_column(const Operation& op, const migration::Schema& state) {
    const std::string& t = op.table;
    if (!existing(t)) return;
    const migration::Table* table = state.find(t);
    const Column* old = table ? table->find_column(op.column_name) : nullptr;
    const std::string col = t + "." + op.column_name;
    if (op.new_type && old) {
      TypeChange tc = type_change(*old, op);
      if (tc.narrowing)
        add(op, "narrowing-type",
            "'" + col + "' goes from " + type_text(old->type, old->length, old->precision, old->scale) + " to " +
                type_text(*op.new_type, op.length, op.precision, op.scale) +
                ": existing values that do not fit make the migration fail, or are cut",
            "check the existing values first (e.g. SELECT max(length(...)) or min/max); prefer a new column of the "
            "new type, backfilled, then drop the old one; add lint_ignore = [\"narrowing-type\"] once checked");
      if (tc.rewrite)
        add(op, "changing-column-type",
            "ALTER COLUMN TYPE rewrites '" + t +
                "' and its indexes under an ACCESS EXCLUSIVE lock: reads and writes "
                "wait for the whole rewrite",
            "[[upgrade]]\nop = \"add_column\"\ntable = " + q(t) + "\ncolumn = { name = " + q(op.column_name + "_new") +
                ", type = " + q(std::string(migration::column_type_name(*op.new_type))) +
                " }\nthen write both columns from the application, backfill in batches, switch reads, and drop "
                "the old column in a later revision (rename-free: keep the new name)");
    } else if (op.new_type && !old) {
      add(op, "changing-column-type",
          "ALTER COLUMN TYPE on '" + col +
              "' (a column raw SQL made): PostgreSQL may rewrite the table under an "
              "ACCESS EXCLUSIVE lock",
          "add a new column of the new type, backfill in batches, switch reads, drop the old one");
    }
    if (op.nullable && !*op.nullable && (!old || old->nullable) && !validated_not_null_check(table, op.column_name)) {
      const std::string check = "ck_" + t + "_" + op.column_name + "_not_null";
      add(op, "set-not-null",
          "SET NOT NULL scans every row of '" + t +
              "' under an ACCESS EXCLUSIVE lock: reads and writes wait for "
              "the scan",
          "on PostgreSQL 12+, a validated CHECK lets SET NOT NULL skip the scan; in four revisions:\n" +
              check_ops(t, check, op.column_name + " IS NOT NULL") +
              "\nthen, in a later revision:\n[[upgrade]]\nop = \"alter_column\"\ntable = " + q(t) +
              "\ncolumn = " + q(op.column_name) +
              "\nnullable = false\nthen, in a later revision (the check is no longer needed):\n"
              "[[upgrade]]\nop = \"drop_constraint\"\nname = " +
              q(check) + "\ntable = " + q(t));
    }
    if (!op.new_name.empty())
      add(op, "rename-column",
          "the running application still reads and writes '" + col +
              "': its queries fail from the moment this "
              "commits until the new code is deployed",
          "add '" + op.new_name +
              "' (add_column), write both from the application and backfill, switch reads, "
              "then drop '" +
              op.column_name +
              "' in a later revision; or, when every reader is gone, add "
              "lint_ignore = [\"rename-column\"]");
  }

  const migration::Migration& m_;
  sql::Dialect dialect_;
  std::string app_;
  std::set<std::string> created_, not_valid_;
  std::vector<Finding> out_;
};

}  // namespace

std::vector<Finding> lint_migration(const migration::Migration& migration, migration::Schema& before,
                                    sql::Dialect dialect, const std::string& app) {
  return Linter(migration, dialect, app).run(before);
}

std::vector<Finding> lint_graph(const migration::RevisionGraph& graph, const std::set<std::string>& revisions,
                                sql::Dialect dialect, const std::string& app) {
  std::vector<Finding> out;
  if (revisions.empty()) return out;
  std::vector<std::string> ids(revisions.begin(), revisions.end());
  migration::Schema state;
  for (const auto& id : graph.topological(graph.ancestors(ids))) {
    const auto& m = graph.get(id);
    if (!revisions.count(id)) {
      for (const auto& op : m.upgrade) migration::apply(state, op);
      continue;
    }
    auto found = lint_migration(m, state, dialect, app);
    out.insert(out.end(), std::make_move_iterator(found.begin()), std::make_move_iterator(found.end()));
  }
  return out;
}

std::string format(const Finding& f) {
  std::string out = f.file + ":" + std::to_string(f.line) + ":" + std::to_string(f.column) + ": " +
                    std::string(level_name(f.level)) + " [" + f.rule + "]" +
                    (f.ignored ? " (silenced by lint_ignore)" : "") + " " + f.app + " revision " + f.revision + ", " +
                    f.operation + ": " + f.what;
  if (!f.ignored) {
    out += "\n  safe alternative:";
    std::size_t start = 0;
    while (start <= f.fix.size()) {
      std::size_t end = f.fix.find('\n', start);
      if (end == std::string::npos) end = f.fix.size();
      out += "\n    " + f.fix.substr(start, end - start);
      start = end + 1;
    }
  }
  return out;
}

}  // namespace fastappkit::lint
