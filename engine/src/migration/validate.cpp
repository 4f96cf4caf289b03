#include "fastappkit/migration/validate.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <set>

#include "fastappkit/error.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::migration {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The replayed schema plus what raw SQL may have touched.
struct State {
  Schema schema;
  std::set<std::string> mentioned;  // lower-case words of raw DDL that may change tables, columns or constraints
  std::set<std::string> indexed;    // lower-case words of raw CREATE/DROP INDEX: index names and their tables
  bool raw = false;                 // some `execute` or `call` ran: unknown tables may exist
  bool called = false;              // a plugin's C++ step ran: nothing is certain any more
};

// The identifier-like words of one SQL statement, quoted or not, lower-cased.
std::vector<std::string> words_of(const std::string& sql) {
  std::vector<std::string> out;
  std::string word;
  auto flush = [&] {
    if (!word.empty()) out.push_back(lower(word));
    word.clear();
  };
  for (std::size_t i = 0; i < sql.size(); ++i) {
    char c = sql[i];
    if (c == '"' || c == '`' || c == '[') {
      flush();
      char close = c == '[' ? ']' : c;
      for (++i; i < sql.size() && sql[i] != close; ++i) word += sql[i];
      flush();
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || static_cast<unsigned char>(c) >= 0x80) {
      word += c;
    } else {
      flush();
    }
  }
  flush();
  return out;
}

// Sorts raw SQL's statements by what they may change: CREATE/DROP INDEX make or remove index
// names only; CREATE/DROP VIEW, TRIGGER, FUNCTION and data statements change no table's
// columns or constraints; anything else (ALTER TABLE, CREATE TABLE, what is not recognised)
// makes every name it mentions unverifiable.
void mention_sql(State& st, const std::string& sql) {
  std::vector<std::string> statements{""};
  char quote = 0;
  for (char c : sql) {
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == ';') {
      statements.emplace_back();
      continue;
    }
    statements.back() += c;
  }
  static const std::set<std::string> harmless = {"view",   "trigger",   "function", "procedure",    "sequence",
                                                 "type",   "extension", "schema",   "materialized", "rule",
                                                 "policy", "role",      "user",     "database"};
  static const std::set<std::string> data = {"insert",  "update", "delete",  "select", "with",   "pragma",
                                             "analyze", "vacuum", "comment", "grant",  "revoke", "set",
                                             "reindex", "values", "begin",   "end",    "return", "refresh"};
  static const std::set<std::string> modifiers = {"unique",       "or",     "replace", "temp",
                                                  "temporary",    "if",     "not",     "exists",
                                                  "concurrently", "global", "local",   "unlogged"};
  for (const auto& stmt : statements) {
    auto w = words_of(stmt);
    if (w.empty() || data.count(w[0])) continue;
    std::size_t i = 1;
    while (i < w.size() && modifiers.count(w[i])) ++i;
    const std::string object = i < w.size() ? w[i] : "";
    if ((w[0] == "create" || w[0] == "drop") && harmless.count(object)) continue;
    auto& into = (w[0] == "create" || w[0] == "drop") && object == "index" ? st.indexed : st.mentioned;
    into.insert(w.begin(), w.end());
  }
}

void record(State& st, const Operation& op) {
  if (op.kind == OpKind::execute) {
    st.raw = true;
    for (const auto& [dialect, sql] : op.extra().sql) mention_sql(st, sql);
  } else if (op.kind == OpKind::call) {
    st.raw = st.called = true;
  }
  apply(st.schema, op);
}

class Checker {
 public:
  Checker(const Migration& m, const Operation& op, const State& st, const ValidateOptions& options)
      : m_(m), op_(op), st_(st), options_(options) {}

  void run() {
    if (st_.called) return;
    switch (op_.kind) {
      case OpKind::create_table:
        return create_table();
      case OpKind::drop_table:
        table(op_.table);
        return;
      case OpKind::rename_table:
        if (table(op_.table)) table_free(op_.new_name);
        return;
      case OpKind::add_column:
        if (const Table* t = table(op_.table); t && op_.column) {
          column_free(*t, op_.column->name);
          if (op_.column->foreign_key) column_reference(*op_.column);
        }
        return;
      case OpKind::drop_column:
        if (const Table* t = table(op_.table)) column(*t, op_.column_name);
        return;
      case OpKind::alter_column:
        if (const Table* t = table(op_.table); t && column(*t, op_.column_name) && !op_.new_name.empty())
          column_free(*t, op_.new_name);
        return;
      case OpKind::create_index:
        if (const Table* t = table(op_.table)) {
          columns(*t, op_.index_columns);
          index_name_free(op_.name);
        }
        return;
      case OpKind::drop_index:
        if (const Table* t = table(op_.table);
            t && !raw_index(t->name) && !raw_index(op_.name) &&
            std::none_of(t->indexes.begin(), t->indexes.end(), [&](const Index& i) { return i.name == op_.name; }))
          fail("table '" + t->name + "' has no index '" + op_.name + "' at this revision",
               "its indexes: " + list_of(t->indexes) + "; name one of them");
        return;
      case OpKind::create_unique:
        if (const Table* t = table(op_.table)) {
          columns(*t, op_.index_columns);
          index_name_free(op_.name);
          constraint_free(*t, op_.name);
        }
        return;
      case OpKind::create_foreign_key:
        if (const Table* t = table(op_.table)) {
          columns(*t, op_.index_columns);
          constraint_free(*t, op_.name);
          reference(t, op_.extra().references_table, op_.extra().references_columns, op_.index_columns.size());
        }
        return;
      case OpKind::create_check_constraint:
        if (const Table* t = table(op_.table)) constraint_free(*t, op_.name);
        return;
      case OpKind::drop_constraint:
        if (const Table* t = table(op_.table);
            t && !opaque(t->name) &&
            std::none_of(t->foreign_keys.begin(), t->foreign_keys.end(),
                         [&](const ForeignKey& f) { return f.name == op_.name; }) &&
            std::none_of(t->uniques.begin(), t->uniques.end(),
                         [&](const UniqueConstraint& u) { return u.name == op_.name; }) &&
            std::none_of(t->checks.begin(), t->checks.end(),
                         [&](const CheckConstraint& k) { return k.name == op_.name; }))
          fail("table '" + t->name + "' has no constraint '" + op_.name + "' at this revision",
               "its unique, foreign-key and check constraints: " + list_of(t->uniques, t->foreign_keys, t->checks) +
                   "; name one of them");
        return;
      case OpKind::validate_constraint:
        if (const Table* t = table(op_.table);
            t && !opaque(t->name) &&
            std::none_of(t->foreign_keys.begin(), t->foreign_keys.end(),
                         [&](const ForeignKey& f) { return f.name == op_.name; }) &&
            std::none_of(t->checks.begin(), t->checks.end(),
                         [&](const CheckConstraint& k) { return k.name == op_.name; }))
          fail("table '" + t->name + "' has no foreign key or check constraint '" + op_.name + "' at this revision",
               "its foreign keys and check constraints: " + list_of(t->foreign_keys, t->checks) +
                   "; validate_constraint follows a create_foreign_key or create_check_constraint with not_valid = "
                   "true");
        return;
      case OpKind::execute:
      case OpKind::call:
        return;
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what, const std::string& hint) const {
    throw Error(ErrorKind::input, SourceLocation{m_.path, op_.line, op_.col},
                std::string(op_kind_name(op_.kind)) + " in revision " + m_.revision + ": " + what, hint);
  }

  bool opaque(const std::string& name) const { return st_.mentioned.count(lower(name)) != 0; }
  bool raw_index(const std::string& name) const { return opaque(name) || st_.indexed.count(lower(name)) != 0; }

  template <class... Lists>
  static std::string list_of(const Lists&... lists) {
    std::vector<std::string> names;
    (
        [&] {
          for (const auto& x : lists) names.push_back(x.name);
        }(),
        ...);
    return names.empty() ? "none" : util::join(names, ", ");
  }

  // The table, or nullptr when it is unknown but raw SQL may have made it (then nothing
  // about it can be checked).
  const Table* table(const std::string& name) const {
    if (const Table* t = st_.schema.find(name)) return t;
    if (st_.raw) return nullptr;
    std::vector<std::string> names;
    for (const auto& [n, t] : st_.schema.tables) names.push_back(n);
    std::string near = util::did_you_mean(name, names);
    fail("table '" + name + "' does not exist at this revision",
         near.empty()
             ? "the revisions it comes after do not create it: fix the name, or create the table in an earlier revision"
             : "did you mean '" + near + "'?");
  }

  void table_free(const std::string& name) const {
    if (st_.schema.find(name) && !opaque(name))
      fail("table '" + name + "' already exists at this revision",
           "choose another name, or drop or rename that table first");
  }

  bool column(const Table& t, const std::string& name) const {
    if (t.find_column(name) || opaque(t.name)) return true;
    std::vector<std::string> names;
    for (const auto& c : t.columns) names.push_back(c.name);
    std::string near = util::did_you_mean(name, names);
    fail("table '" + t.name + "' has no column '" + name + "' at this revision",
         near.empty() ? "its columns: " + util::join(names, ", ") : "did you mean '" + near + "'?");
  }

  void columns(const Table& t, const std::vector<std::string>& names) const {
    for (const auto& n : names) column(t, n);
  }

  void column_free(const Table& t, const std::string& name) const {
    if (t.find_column(name) && !opaque(t.name))
      fail("table '" + t.name + "' already has a column '" + name + "'",
           "choose another name, or drop or rename that column first");
  }

  void index_name_free(const std::string& name) const {
    for (const auto& [n, t] : st_.schema.tables) {
      bool used = std::any_of(t.indexes.begin(), t.indexes.end(),
                              [&](const Index& i) { return lower(i.name) == lower(name); }) ||
                  std::any_of(t.uniques.begin(), t.uniques.end(),
                              [&](const UniqueConstraint& u) { return lower(u.name) == lower(name); });
      if (used && !raw_index(name))
        fail("the name '" + name + "' is already used by an index or unique constraint of table '" + t.name + "'",
             "index names are shared by the whole schema: choose another name");
    }
    if (st_.schema.find(name) && !raw_index(name))
      fail("the name '" + name + "' is already a table's", "choose another name");
  }

  void constraint_free(const Table& t, const std::string& name) const {
    bool used =
        std::any_of(t.foreign_keys.begin(), t.foreign_keys.end(),
                    [&](const ForeignKey& f) { return f.name == name; }) ||
        std::any_of(t.uniques.begin(), t.uniques.end(), [&](const UniqueConstraint& u) { return u.name == name; }) ||
        std::any_of(t.checks.begin(), t.checks.end(), [&](const CheckConstraint& k) { return k.name == name; });
    if (used && !opaque(name))
      fail("table '" + t.name + "' already has a constraint '" + name + "'", "choose another name");
  }

  // `self` is the table being made (a foreign key may reference its own table).
  void reference(const Table* self, const std::string& table_name, const std::vector<std::string>& cols,
                 std::size_t count) const {
    if (cols.size() != count)
      fail("foreign key to '" + table_name + "' has " + std::to_string(count) + " column(s) but references " +
               std::to_string(cols.size()),
           "list as many references_columns as columns");
    const Table* target = self && self->name == table_name ? self : st_.schema.find(table_name);
    if (!target) {
      if (st_.raw || options_.foreign_tables_allowed) return;
      fail("foreign key references table '" + table_name + "', which does not exist at this revision",
           "create that table in an earlier revision, or fix the name");
    }
    columns(*target, cols);
  }

  void column_reference(const ColumnSpec& c, const Table* self = nullptr) const {
    auto dot = c.foreign_key->find('.');
    if (dot == std::string::npos) return;  // the parser reports it
    reference(self, c.foreign_key->substr(0, dot), {c.foreign_key->substr(dot + 1)}, 1);
  }

  void create_table() const {
    table_free(op_.table);
    Table made = table_from_specs(op_.table, op_.columns, op_.primary_key, op_.foreign_keys, op_.uniques);
    auto own = [&](const std::vector<std::string>& cols, const std::string& what) {
      for (const auto& n : cols)
        if (!made.find_column(n))
          fail(what + " names column '" + n + "', which this table does not declare",
               "its columns are the ones in `columns`");
    };
    own(op_.primary_key, "primary_key");
    for (const auto& u : op_.uniques) own(u.columns, "unique constraint '" + u.name + "'");
    for (const auto& f : op_.foreign_keys) {
      own(f.columns, "foreign key '" + f.name + "'");
      reference(&made, f.references_table, f.references_columns, f.columns.size());
    }
    for (const auto& c : op_.columns)
      if (c.foreign_key) column_reference(c, &made);
  }

  const Migration& m_;
  const Operation& op_;
  const State& st_;
  const ValidateOptions& options_;
};

void check_all(const Migration& m, const std::vector<Operation>& ops, State& st, const ValidateOptions& options) {
  for (const auto& op : ops) {
    Checker(m, op, st, options).run();
    record(st, op);
  }
}

}  // namespace

void validate_operations(const RevisionGraph& graph, const ValidateOptions& options) {
  std::set<std::string> all;
  for (const auto& m : graph.migrations()) all.insert(m.revision);
  auto simple = [&](const Migration& m) { return m.down_revisions.size() == 1 && m.depends_on.empty(); };
  // How many revisions continue from each one's state; a state is moved to its last user.
  std::map<std::string, int> users;
  for (const auto& m : graph.migrations())
    if (simple(m)) ++users[m.down_revisions[0]];
  std::map<std::string, State> after;
  for (const auto& id : graph.topological(all)) {
    const Migration& m = graph.get(id);
    State st;
    if (simple(m)) {
      auto it = after.find(m.down_revisions[0]);
      if (--users[m.down_revisions[0]] == 0) {
        st = std::move(it->second);
        after.erase(it);
      } else {
        st = it->second;
      }
    } else if (!m.down_revisions.empty() || !m.depends_on.empty()) {
      // A merge or a depends_on: replay what it stands on.
      auto base = graph.ancestors({id});
      base.erase(id);
      for (const auto& a : graph.topological(base))
        for (const auto& op : graph.get(a).upgrade) record(st, op);
    }
    check_all(m, m.upgrade, st, options);
    if (!m.downgrade.empty()) {
      State down = st;
      check_all(m, m.downgrade, down, options);
    }
    if (users[id] > 0) after.emplace(id, std::move(st));
  }
}

}  // namespace fastappkit::migration
