#include "fastappkit/migration/autogenerate.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <set>

#include "fastappkit/error.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::migration {

namespace {

ColumnSpec spec_of(const Column& c) {
  ColumnSpec s;
  s.name = c.name;
  s.type = c.type;
  s.length = c.length;
  s.precision = c.precision;
  s.scale = c.scale;
  s.nullable = c.nullable;
  s.default_value = c.default_value;
  return s;
}

Operation create_table_op(const Table& t, bool with_fks) {
  Operation op;
  op.kind = OpKind::create_table;
  op.table = t.name;
  for (const auto& c : t.columns) op.columns.push_back(spec_of(c));
  op.primary_key = t.primary_key;
  if (with_fks) op.foreign_keys = t.foreign_keys;
  op.uniques = t.uniques;
  return op;
}

Operation index_op(const std::string& table, const Index& ix) {
  Operation op;
  op.kind = OpKind::create_index;
  op.table = table;
  op.name = ix.name;
  op.index_columns = ix.columns;
  op.unique = ix.unique;
  return op;
}

Operation fk_op(const std::string& table, const ForeignKey& fk) {
  Operation op;
  op.kind = OpKind::create_foreign_key;
  op.table = table;
  op.name = fk.name;
  op.index_columns = fk.columns;
  op.edit_extra().references_table = fk.references_table;
  op.edit_extra().references_columns = fk.references_columns;
  op.edit_extra().on_delete = fk.on_delete;
  op.edit_extra().on_update = fk.on_update;
  return op;
}

Operation named_op(OpKind kind, const std::string& table, const std::string& name) {
  Operation op;
  op.kind = kind;
  op.table = table;
  op.name = name;
  return op;
}

template <class T>
const T* by_name(const std::vector<T>& v, const std::string& name) {
  for (const auto& x : v)
    if (x.name == name) return &x;
  return nullptr;
}

int type_rank(ColumnType t) {
  switch (t) {
    case ColumnType::smallint:
      return 1;
    case ColumnType::integer:
      return 2;
    case ColumnType::bigint:
      return 3;
    case ColumnType::float_:
      return 4;
    case ColumnType::double_:
      return 5;
    default:
      return 0;
  }
}

// A type change that can lose data or fail on existing rows.
std::string narrowing(const Column& a, const Column& b) {
  if (a.type == b.type) {
    if (a.type == ColumnType::string && b.length && (!a.length || *b.length < *a.length))
      return "narrows " + a.name + " from " +
             (a.length ? "string(" + std::to_string(*a.length) + ")" : std::string("string")) + " to string(" +
             std::to_string(*b.length) + ")";
    if (a.type == ColumnType::numeric && b.precision &&
        (!a.precision || *b.precision < *a.precision || b.scale.value_or(0) < a.scale.value_or(0)))
      return "narrows " + a.name + " numeric precision/scale";
    return {};
  }
  int ra = type_rank(a.type), rb = type_rank(b.type);
  if (ra && rb && rb > ra) return {};
  if (a.type == ColumnType::string && b.type == ColumnType::text) return {};
  return "changes " + a.name + " from " + std::string(column_type_name(a.type)) + " to " +
         std::string(column_type_name(b.type)) + "; existing values must convert";
}

// Tables in an order where referenced tables come first; tables in a cycle are returned in
// `cyclic` (their foreign keys are added afterwards).
std::vector<std::string> creation_order(const Schema& s, const std::set<std::string>& names,
                                        std::set<std::string>& cyclic) {
  std::map<std::string, std::set<std::string>> deps;
  for (const auto& n : names) {
    deps[n];
    for (const auto& fk : s.tables.at(n).foreign_keys)
      if (fk.references_table != n && names.count(fk.references_table)) deps[n].insert(fk.references_table);
  }
  std::vector<std::string> out;
  std::set<std::string> placed;
  bool progress = true;
  while (progress) {
    progress = false;
    for (const auto& [n, d] : deps) {
      if (placed.count(n)) continue;
      if (std::all_of(d.begin(), d.end(), [&](const std::string& x) { return placed.count(x) != 0; })) {
        out.push_back(n);
        placed.insert(n);
        progress = true;
      }
    }
  }
  for (const auto& [n, d] : deps)
    if (!placed.count(n)) {
      cyclic.insert(n);
      out.push_back(n);
    }
  return out;
}

}  // namespace

std::vector<Operation> diff(const Schema& from, const Schema& to) {
  std::vector<Operation> drops_first, creates, adds, alters, col_drops, constraint_creates, fk_creates, table_drops;
  std::set<std::string> added, removed;
  for (const auto& [n, t] : to.tables)
    if (!from.tables.count(n)) added.insert(n);
  for (const auto& [n, t] : from.tables)
    if (!to.tables.count(n)) removed.insert(n);

  for (const auto& [name, f] : from.tables) {
    auto it = to.tables.find(name);
    if (it == to.tables.end()) continue;
    const Table& g = it->second;
    if (f.primary_key != g.primary_key) {
      throw Error(ErrorKind::input,
                  "the primary key of table '" + name + "' changes from (" + util::join(f.primary_key, ", ") +
                      ") to (" + util::join(g.primary_key, ", ") + "), which autogenerate cannot express",
                  "write this revision by hand (e.g. create a new table, copy rows with execute, drop the old one)");
    }
    for (const auto& fk : f.foreign_keys) {
      const ForeignKey* other = by_name(g.foreign_keys, fk.name);
      if (!other || !(*other == fk)) drops_first.push_back(named_op(OpKind::drop_constraint, name, fk.name));
    }
    for (const auto& u : f.uniques) {
      const UniqueConstraint* other = by_name(g.uniques, u.name);
      if (!other || !(*other == u)) drops_first.push_back(named_op(OpKind::drop_constraint, name, u.name));
    }
    for (const auto& ix : f.indexes) {
      const Index* other = by_name(g.indexes, ix.name);
      if (!other || !(*other == ix)) drops_first.push_back(named_op(OpKind::drop_index, name, ix.name));
    }
    for (const auto& c : g.columns) {
      const Column* old = f.find_column(c.name);
      if (!old) {
        Operation op;
        op.kind = OpKind::add_column;
        op.table = name;
        op.column = spec_of(c);
        if (!c.nullable && !c.default_value)
          op.comment = "NOT NULL without a default: fails if '" + name + "' has rows; add a default if it may";
        adds.push_back(op);
        continue;
      }
      if (*old == c) continue;
      Operation op;
      op.kind = OpKind::alter_column;
      op.table = name;
      op.column_name = c.name;
      if (old->type != c.type || old->length != c.length || old->precision != c.precision || old->scale != c.scale) {
        op.new_type = c.type;
        op.length = c.length;
        op.precision = c.precision;
        op.scale = c.scale;
        std::string n = narrowing(*old, c);
        if (!n.empty()) op.comment = "DESTRUCTIVE: " + n;
      }
      if (old->nullable != c.nullable) {
        op.nullable = c.nullable;
        if (!c.nullable && op.comment.empty())
          op.comment = "NOT NULL: fails if " + name + "." + c.name + " holds NULLs";
      }
      if (old->default_value != c.default_value) op.new_default = c.default_value.value_or("");
      alters.push_back(op);
    }
    for (const auto& c : f.columns) {
      if (g.find_column(c.name)) continue;
      Operation op;
      op.kind = OpKind::drop_column;
      op.table = name;
      op.column_name = c.name;
      op.comment = "DESTRUCTIVE: drops column " + name + "." + c.name + " and its data";
      col_drops.push_back(op);
    }
    for (const auto& u : g.uniques) {
      const UniqueConstraint* other = by_name(f.uniques, u.name);
      if (!other || !(*other == u)) {
        Operation op = named_op(OpKind::create_unique, name, u.name);
        op.index_columns = u.columns;
        constraint_creates.push_back(op);
      }
    }
    for (const auto& ix : g.indexes) {
      const Index* other = by_name(f.indexes, ix.name);
      if (!other || !(*other == ix)) constraint_creates.push_back(index_op(name, ix));
    }
    for (const auto& fk : g.foreign_keys) {
      const ForeignKey* other = by_name(f.foreign_keys, fk.name);
      if (!other || !(*other == fk)) fk_creates.push_back(fk_op(name, fk));
    }
  }

  std::set<std::string> cyclic;
  for (const auto& name : creation_order(to, added, cyclic)) {
    const Table& t = to.tables.at(name);
    Table inline_part = t;
    if (cyclic.count(name)) {
      // Foreign keys inside a cycle are added once every table of the cycle exists.
      std::erase_if(inline_part.foreign_keys, [&](const ForeignKey& fk) {
        return cyclic.count(fk.references_table) && fk.references_table != name;
      });
      for (const auto& fk : t.foreign_keys)
        if (cyclic.count(fk.references_table) && fk.references_table != name) fk_creates.push_back(fk_op(name, fk));
    }
    creates.push_back(create_table_op(inline_part, true));
    for (const auto& ix : t.indexes) constraint_creates.push_back(index_op(name, ix));
    // Models declare no CHECK, so only a table re-created from the migrations' state (a
    // downgrade) has some: they come back with it.
    for (const auto& k : t.checks) {
      Operation op = named_op(OpKind::create_check_constraint, name, k.name);
      op.edit_extra().condition = k.condition;
      constraint_creates.push_back(op);
    }
  }

  std::set<std::string> cyclic_drop;
  auto drop_order = creation_order(from, removed, cyclic_drop);
  std::reverse(drop_order.begin(), drop_order.end());
  for (const auto& name : drop_order) {
    const Table& t = from.tables.at(name);
    if (cyclic_drop.count(name)) {
      for (const auto& fk : t.foreign_keys)
        if (cyclic_drop.count(fk.references_table) && fk.references_table != name)
          drops_first.push_back(named_op(OpKind::drop_constraint, name, fk.name));
    }
    Operation op;
    op.kind = OpKind::drop_table;
    op.table = name;
    op.comment = "DESTRUCTIVE: drops table " + name + " and all its rows";
    table_drops.push_back(op);
  }

  std::vector<Operation> out;
  for (auto* part :
       {&drops_first, &creates, &adds, &alters, &col_drops, &constraint_creates, &fk_creates, &table_drops})
    out.insert(out.end(), part->begin(), part->end());
  return out;
}

void prefer_online_safe(Migration& m) {
  std::set<std::string> created;
  for (const auto& op : m.upgrade)
    if (op.kind == OpKind::create_table) created.insert(op.table);
  auto note = [](Operation& op, const std::string& text) { op.comment += (op.comment.empty() ? "" : "; ") + text; };
  if (m.upgrade.size() == 1 && m.upgrade[0].kind == OpKind::create_index && !created.count(m.upgrade[0].table)) {
    auto& ix = m.upgrade[0];
    ix.concurrently = true;
    m.transactional = false;
    note(ix,
         "online-safe on PostgreSQL: CONCURRENTLY lets writes go on during the build, so this revision is "
         "transactional = false");
    for (auto& op : m.downgrade)
      if (op.kind == OpKind::drop_index && op.name == ix.name) op.concurrently = true;
    return;
  }
  for (auto& op : m.upgrade) {
    if (created.count(op.table)) continue;
    if (op.kind == OpKind::create_index || op.kind == OpKind::create_unique)
      note(op,
           "PostgreSQL, busy table: move this into a revision of its own with transactional = false and "
           "create_index concurrently = true (fastappkit migrate lint)");
    else if (op.kind == OpKind::create_foreign_key)
      note(op,
           "PostgreSQL, busy table: add not_valid = true here and a validate_constraint in a later revision "
           "(fastappkit migrate lint)");
  }
}

std::vector<Migration> split_online_safe(const Migration& m, const Schema& head) {
  std::set<std::string> created;
  for (const auto& op : m.upgrade)
    if (op.kind == OpKind::create_table) created.insert(op.table);
  auto existing = [&](const Operation& op) { return !created.count(op.table) && head.find(op.table); };
  Migration a = m, b = m, c = m;
  a.upgrade.clear();
  b.upgrade.clear();
  c.upgrade.clear();
  a.transactional = c.transactional = true;
  b.transactional = false;
  for (const auto& op : m.upgrade) {
    if (op.kind == OpKind::create_index && existing(op)) {
      Operation ix = op;
      ix.concurrently = true;
      ix.comment.clear();
      b.upgrade.push_back(ix);
    } else if ((op.kind == OpKind::create_foreign_key || op.kind == OpKind::create_check_constraint) && existing(op)) {
      Operation key = op;
      key.not_valid = true;
      key.comment = "NOT VALID: new rows are checked now, existing ones by validate_constraint in a later revision";
      a.upgrade.push_back(key);
      c.upgrade.push_back(named_op(OpKind::validate_constraint, op.table, op.name));
    } else {
      a.upgrade.push_back(op);
    }
  }
  if (b.upgrade.empty() && c.upgrade.empty()) return {m};
  // Each part's downgrade takes the schema back to where the part started.
  Schema after_a = head;
  for (const auto& op : a.upgrade) apply(after_a, op);
  Schema after_b = after_a;
  for (const auto& op : b.upgrade) apply(after_b, op);
  a.downgrade = diff(after_a, head);
  b.downgrade = diff(after_b, after_a);
  for (auto& op : b.downgrade)
    if (op.kind == OpKind::drop_index) op.concurrently = true;
  c.downgrade.clear();  // a validation leaves nothing to undo
  std::vector<Migration> parts;
  for (Migration* p : {&a, &b, &c})
    if (!p->upgrade.empty()) parts.push_back(std::move(*p));
  if (parts.size() == 1 && m.upgrade.size() == 1) return {m};  // a lone index: prefer_online_safe's form already
  const std::string of = " of " + std::to_string(parts.size());
  for (std::size_t i = 0; i < parts.size(); ++i) {
    Migration& p = parts[i];
    std::string why;
    if (!p.transactional) {
      why =
          "indexes on existing tables are built CONCURRENTLY (writes go on during the build), which PostgreSQL "
          "cannot do inside a transaction, so this revision is transactional = false";
      if (i > 0) p.message += " (concurrent indexes)";
    } else if (p.upgrade.front().kind == OpKind::validate_constraint) {
      why =
          "VALIDATE CONSTRAINT scans the existing rows under a lock that lets reads and writes go on; in a "
          "transaction of its own, after the NOT VALID constraint was committed";
      if (i > 0) p.message += " (validate constraints)";
    } else {
      why = "the transactional changes; foreign keys and checks on existing tables are added NOT VALID here";
    }
    std::string& first = p.upgrade.front().comment;
    first = "PostgreSQL online-safe split, revision " + std::to_string(i + 1) + of + ": " + why +
            (first.empty() ? "" : "\n# " + first);
  }
  return parts;
}

std::string describe(const Operation& op) {
  auto cols = [](const std::vector<std::string>& c) { return "(" + util::join(c, ", ") + ")"; };
  switch (op.kind) {
    case OpKind::create_table:
      return "add table " + op.table;
    case OpKind::drop_table:
      return "drop table " + op.table;
    case OpKind::rename_table:
      return "rename table " + op.table + " to " + op.new_name;
    case OpKind::add_column:
      return "add column " + op.table + "." + op.column->name + " (" + std::string(column_type_name(op.column->type)) +
             ")";
    case OpKind::drop_column:
      return "drop column " + op.table + "." + op.column_name;
    case OpKind::alter_column: {
      std::vector<std::string> what;
      if (op.new_type)
        what.push_back("type " + std::string(column_type_name(*op.new_type)) +
                       (op.length ? "(" + std::to_string(*op.length) + ")" : ""));
      if (op.nullable) what.emplace_back(*op.nullable ? "nullable" : "not null");
      if (op.new_default) what.push_back(op.new_default->empty() ? "no default" : "default " + *op.new_default);
      if (!op.new_name.empty()) what.push_back("renamed to " + op.new_name);
      return "alter column " + op.table + "." + op.column_name + ": " + util::join(what, ", ");
    }
    case OpKind::create_index:
      return std::string(op.unique ? "add unique index " : "add index ") + op.name + " on " + op.table +
             cols(op.index_columns);
    case OpKind::drop_index:
      return "drop index " + op.name + " on " + op.table;
    case OpKind::create_unique:
      return "add unique constraint " + op.name + " on " + op.table + cols(op.index_columns);
    case OpKind::create_foreign_key:
      return "add foreign key " + op.name + " on " + op.table + cols(op.index_columns) + " -> " +
             op.extra().references_table + cols(op.extra().references_columns);
    case OpKind::create_check_constraint:
      return "add check constraint " + op.name + " on " + op.table + " (" + op.extra().condition + ")";
    case OpKind::drop_constraint:
      return "drop constraint " + op.name + " on " + op.table;
    case OpKind::validate_constraint:
      return "validate constraint " + op.name + " on " + op.table;
    case OpKind::execute:
      return "execute SQL";
    case OpKind::call:
      return "call " + op.extra().function;
  }
  return "?";
}

namespace {

std::string q(const std::string& s) { return util::json_escape(s); }  // a TOML basic string is JSON-compatible

std::string list(const std::vector<std::string>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + q(v[i]);
  return out + "]";
}

std::string column_inline(const ColumnSpec& c) {
  std::string out = "{ name = " + q(c.name) + ", type = " + q(std::string(column_type_name(c.type)));
  if (c.length) out += ", length = " + std::to_string(*c.length);
  if (c.precision) out += ", precision = " + std::to_string(*c.precision);
  if (c.scale) out += ", scale = " + std::to_string(*c.scale);
  if (c.primary_key) out += ", primary_key = true";
  if (c.nullable) out += std::string(", nullable = ") + (*c.nullable ? "true" : "false");
  if (c.default_value) out += ", default = " + q(*c.default_value);
  if (c.unique) out += ", unique = true";
  if (c.foreign_key) out += ", foreign_key = " + q(*c.foreign_key);
  if (c.on_delete) out += ", on_delete = " + q(*c.on_delete);
  if (c.on_update) out += ", on_update = " + q(*c.on_update);
  return out + " }";
}

// A foreign key or unique constraint as an inline table; the name only where there is one (the
// models parser derives it otherwise).
std::string fk_inline(const ForeignKey& fk) {
  std::string out = "{ ";
  if (!fk.name.empty()) out += "name = " + q(fk.name) + ", ";
  out += "columns = " + list(fk.columns) + ", references_table = " + q(fk.references_table) +
         ", references_columns = " + list(fk.references_columns);
  if (fk.on_delete) out += ", on_delete = " + q(*fk.on_delete);
  if (fk.on_update) out += ", on_update = " + q(*fk.on_update);
  return out + " }";
}

std::string unique_inline(const UniqueConstraint& u) {
  return "{ " + (u.name.empty() ? std::string() : "name = " + q(u.name) + ", ") + "columns = " + list(u.columns) + " }";
}

void write_op(std::string& out, const char* section, const Operation& op) {
  if (!op.comment.empty()) out += "# " + op.comment + "\n";
  out += std::string("[[") + section + "]]\nop = " + q(std::string(op_kind_name(op.kind))) + "\n";
  auto kv = [&](const char* k, const std::string& v) { out += std::string(k) + " = " + v + "\n"; };
  switch (op.kind) {
    case OpKind::create_table:
      kv("table", q(op.table));
      out += "columns = [\n";
      for (const auto& c : op.columns) out += "  " + column_inline(c) + ",\n";
      out += "]\n";
      if (!op.primary_key.empty()) kv("primary_key", list(op.primary_key));
      if (!op.foreign_keys.empty()) {
        out += "foreign_keys = [\n";
        for (const auto& fk : op.foreign_keys) out += "  " + fk_inline(fk) + ",\n";
        out += "]\n";
      }
      if (!op.uniques.empty()) {
        out += "unique = [\n";
        for (const auto& u : op.uniques) out += "  " + unique_inline(u) + ",\n";
        out += "]\n";
      }
      break;
    case OpKind::drop_table:
      kv("table", q(op.table));
      break;
    case OpKind::rename_table:
      kv("table", q(op.table));
      kv("new_name", q(op.new_name));
      break;
    case OpKind::add_column:
      kv("table", q(op.table));
      kv("column", column_inline(*op.column));
      break;
    case OpKind::drop_column:
      kv("table", q(op.table));
      kv("column", q(op.column_name));
      break;
    case OpKind::alter_column:
      kv("table", q(op.table));
      kv("column", q(op.column_name));
      if (!op.new_name.empty()) kv("new_name", q(op.new_name));
      if (op.new_type) {
        kv("type", q(std::string(column_type_name(*op.new_type))));
        if (op.length) kv("length", std::to_string(*op.length));
        if (op.precision) kv("precision", std::to_string(*op.precision));
        if (op.scale) kv("scale", std::to_string(*op.scale));
      }
      if (op.nullable) kv("nullable", *op.nullable ? "true" : "false");
      if (op.new_default) kv("default", q(*op.new_default));
      break;
    case OpKind::create_index:
      kv("name", q(op.name));
      kv("table", q(op.table));
      kv("columns", list(op.index_columns));
      if (op.unique) kv("unique", "true");
      if (op.concurrently) kv("concurrently", "true");
      break;
    case OpKind::drop_index:
      kv("name", q(op.name));
      kv("table", q(op.table));
      if (op.concurrently) kv("concurrently", "true");
      break;
    case OpKind::drop_constraint:
    case OpKind::validate_constraint:
      kv("name", q(op.name));
      kv("table", q(op.table));
      break;
    case OpKind::create_unique:
      kv("name", q(op.name));
      kv("table", q(op.table));
      kv("columns", list(op.index_columns));
      break;
    case OpKind::create_foreign_key:
      kv("name", q(op.name));
      kv("table", q(op.table));
      kv("columns", list(op.index_columns));
      kv("references_table", q(op.extra().references_table));
      kv("references_columns", list(op.extra().references_columns));
      if (op.extra().on_delete) kv("on_delete", q(*op.extra().on_delete));
      if (op.extra().on_update) kv("on_update", q(*op.extra().on_update));
      if (op.not_valid) kv("not_valid", "true");
      break;
    case OpKind::create_check_constraint:
      kv("name", q(op.name));
      kv("table", q(op.table));
      kv("condition", q(op.extra().condition));
      if (op.not_valid) kv("not_valid", "true");
      break;
    case OpKind::execute:
      for (const auto& [d, sql] : op.extra().sql) kv(d.empty() ? "sql" : d.c_str(), q(sql));
      break;
    case OpKind::call:
      kv("function", q(op.extra().function));
      if (!op.extra().args.empty()) kv("args", list(op.extra().args));
      break;
  }
  if (!op.lint_ignore.empty()) kv("lint_ignore", list(op.lint_ignore));
  out += "\n";
}

}  // namespace

std::string write_migration(const Migration& m) {
  std::string out = "# Generated by fastappkit. Review it before applying; edit freely.\n";
  out += "revision = " + q(m.revision) + "\n";
  if (m.down_revisions.size() == 1)
    out += "down_revision = " + q(m.down_revisions[0]) + "\n";
  else if (m.down_revisions.size() > 1)
    out += "down_revision = " + list(m.down_revisions) + "\n";
  if (!m.depends_on.empty()) out += "depends_on = " + list(m.depends_on) + "\n";
  if (!m.branch_labels.empty()) out += "branch_labels = " + list(m.branch_labels) + "\n";
  out += "message = " + q(m.message) + "\n";
  if (!m.create_date.empty()) out += "create_date = " + q(m.create_date) + "\n";
  if (!m.app.empty()) out += "app = " + q(m.app) + "\n";
  if (!m.transactional) out += "transactional = false\n";
  out += "\n";
  for (const auto& op : m.upgrade) write_op(out, "upgrade", op);
  for (const auto& op : m.downgrade) write_op(out, "downgrade", op);
  // An empty revision to fill in (migrate revision): what a step looks like, commented out.
  if (m.upgrade.empty() && m.downgrade.empty() && m.down_revisions.size() <= 1)
    out +=
        "# Fill in the steps, e.g. a data fix and its reverse (every operation: migrations.md in "
        "/usr/share/doc/fastappkit/):\n"
        "#\n"
        "# [[upgrade]]\n"
        "# op = \"execute\"\n"
        "# sql = \"UPDATE posts SET status = 'draft' WHERE status IS NULL\"\n"
        "#\n"
        "# [[downgrade]]\n"
        "# op = \"execute\"\n"
        "# sql = \"UPDATE posts SET status = NULL WHERE status = 'draft'\"\n";
  return out;
}

std::string write_models(const Schema& s, const std::string& header) {
  std::string out = header;
  for (const auto& [name, t] : s.tables) {
    out += "\n[[tables]]\nname = " + q(name) + "\ncolumns = [\n";
    const bool single_key = t.primary_key.size() == 1;
    for (const auto& c : t.columns) {
      ColumnSpec spec = spec_of(c);
      spec.primary_key = single_key && t.primary_key[0] == c.name;
      // Written only where it is not what the parser assumes (false for a key, true otherwise).
      if (c.nullable == !spec.primary_key) spec.nullable.reset();
      out += "  " + column_inline(spec) + ",\n";
    }
    out += "]\n";
    if (t.primary_key.size() > 1) out += "primary_key = " + list(t.primary_key) + "\n";
    if (!t.foreign_keys.empty()) {
      out += "foreign_keys = [\n";
      for (const auto& fk : t.foreign_keys) out += "  " + fk_inline(fk) + ",\n";
      out += "]\n";
    }
    if (!t.uniques.empty()) {
      out += "unique = [\n";
      for (const auto& u : t.uniques) out += "  " + unique_inline(u) + ",\n";
      out += "]\n";
    }
    if (!t.indexes.empty()) {
      out += "indexes = [\n";
      for (const auto& ix : t.indexes)
        out += "  { name = " + q(ix.name) + ", columns = " + list(ix.columns) + (ix.unique ? ", unique = true" : "") +
               " },\n";
      out += "]\n";
    }
  }
  return out;
}

std::string new_revision_id() {
  std::random_device rd;
  std::uniform_int_distribution<unsigned> d(0, 15);
  std::string id;
  for (int i = 0; i < 12; ++i) id += "0123456789abcdef"[d(rd)];
  return id;
}

std::string slugify(const std::string& message) {
  std::string out;
  for (char c : message) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u))
      out += static_cast<char>(std::tolower(u));
    else if (!out.empty() && out.back() != '_')
      out += '_';
    if (out.size() >= 40) break;
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out.empty() ? "revision" : out;
}

}  // namespace fastappkit::migration
