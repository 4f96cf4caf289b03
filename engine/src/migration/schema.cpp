#include "fastappkit/migration/schema.hpp"

#include <algorithm>
#include <cctype>

namespace fastappkit::migration {

namespace {
struct TypeName {
  ColumnType type;
  std::string_view name;
};
constexpr TypeName kTypes[] = {
    {ColumnType::integer, "integer"}, {ColumnType::bigint, "bigint"},     {ColumnType::smallint, "smallint"},
    {ColumnType::string, "string"},   {ColumnType::text, "text"},         {ColumnType::boolean, "boolean"},
    {ColumnType::float_, "float"},    {ColumnType::double_, "double"},    {ColumnType::numeric, "numeric"},
    {ColumnType::date, "date"},       {ColumnType::datetime, "datetime"}, {ColumnType::time, "time"},
    {ColumnType::json, "json"},       {ColumnType::uuid, "uuid"},         {ColumnType::binary, "binary"},
};

template <class T>
void erase_named(std::vector<T>& v, std::string_view name) {
  v.erase(std::remove_if(v.begin(), v.end(), [&](const T& x) { return x.name == name; }), v.end());
}

void rename_in(std::vector<std::string>& cols, const std::string& from, const std::string& to) {
  for (auto& c : cols)
    if (c == from) c = to;
}

bool mentions(const std::vector<std::string>& cols, const std::string& c) {
  return std::find(cols.begin(), cols.end(), c) != cols.end();
}
}  // namespace

std::optional<ColumnType> parse_column_type(std::string_view name) {
  for (const auto& t : kTypes)
    if (t.name == name) return t.type;
  return std::nullopt;
}

std::string_view column_type_name(ColumnType type) {
  for (const auto& t : kTypes)
    if (t.type == type) return t.name;
  return "?";
}

std::vector<std::string> column_type_names() {
  std::vector<std::string> out;
  for (const auto& t : kTypes) out.emplace_back(t.name);
  return out;
}

std::string_view op_kind_name(OpKind k) {
  switch (k) {
    case OpKind::create_table:
      return "create_table";
    case OpKind::drop_table:
      return "drop_table";
    case OpKind::rename_table:
      return "rename_table";
    case OpKind::add_column:
      return "add_column";
    case OpKind::drop_column:
      return "drop_column";
    case OpKind::alter_column:
      return "alter_column";
    case OpKind::create_index:
      return "create_index";
    case OpKind::drop_index:
      return "drop_index";
    case OpKind::create_unique:
      return "create_unique";
    case OpKind::create_foreign_key:
      return "create_foreign_key";
    case OpKind::create_check_constraint:
      return "create_check_constraint";
    case OpKind::drop_constraint:
      return "drop_constraint";
    case OpKind::validate_constraint:
      return "validate_constraint";
    case OpKind::execute:
      return "execute";
    case OpKind::call:
      return "call";
  }
  return "?";
}

const Column* Table::find_column(std::string_view n) const {
  for (const auto& c : columns)
    if (c.name == n) return &c;
  return nullptr;
}

Column* Table::find_column(std::string_view n) {
  for (auto& c : columns)
    if (c.name == n) return &c;
  return nullptr;
}

const Table* Schema::find(std::string_view name) const {
  auto it = tables.find(std::string(name));
  return it == tables.end() ? nullptr : &it->second;
}

Column column_from_spec(const ColumnSpec& spec) {
  Column c;
  c.name = spec.name;
  c.type = spec.type;
  c.length = spec.length;
  c.precision = spec.precision;
  c.scale = spec.scale;
  c.nullable = spec.nullable.value_or(!spec.primary_key);
  c.default_value = spec.default_value;
  return c;
}

namespace {
bool ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}
bool same_word(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}
// Calls f(begin, end, word, quoted) for each identifier-like token of `sql` outside string literals.
template <class F>
void each_identifier(std::string_view sql, F&& f) {
  for (std::size_t i = 0; i < sql.size();) {
    char c = sql[i];
    if (c == '\'') {
      for (++i; i < sql.size(); ++i)
        if (sql[i] == '\'') {
          if (i + 1 < sql.size() && sql[i + 1] == '\'')
            ++i;
          else
            break;
        }
      ++i;
    } else if (c == '"') {
      std::size_t start = i;
      std::string word;
      for (++i; i < sql.size(); ++i) {
        if (sql[i] == '"') {
          if (i + 1 < sql.size() && sql[i + 1] == '"') {
            word += '"';
            ++i;
          } else {
            break;
          }
        } else {
          word += sql[i];
        }
      }
      ++i;
      f(start, std::min(i, sql.size()), word, true);
    } else if (ident_char(c) && !std::isdigit(static_cast<unsigned char>(c))) {
      std::size_t start = i;
      while (i < sql.size() && ident_char(sql[i])) ++i;
      f(start, i, std::string(sql.substr(start, i - start)), false);
    } else if (ident_char(c)) {
      while (i < sql.size() && ident_char(sql[i])) ++i;  // a number
    } else {
      ++i;
    }
  }
}
}  // namespace

std::vector<std::string> sql_identifiers(std::string_view sql, bool bare_only) {
  std::vector<std::string> out;
  each_identifier(sql, [&](std::size_t, std::size_t, const std::string& w, bool quoted) {
    if (quoted && bare_only) return;
    std::string l = w;
    for (auto& ch : l) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    out.push_back(l);
  });
  return out;
}

std::string rename_identifier(std::string_view sql, std::string_view from, std::string_view to) {
  std::string out;
  std::size_t done = 0;
  each_identifier(sql, [&](std::size_t b, std::size_t e, const std::string& w, bool quoted) {
    if (quoted ? w != from : !same_word(w, from)) return;
    out.append(sql.substr(done, b - done));
    out += '"';
    for (char ch : to) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    out += '"';
    done = e;
  });
  out.append(sql.substr(done));
  return out;
}

// Column-level constraints of `spec` added to `t` with derived names.
static void add_column_constraints(Table& t, const ColumnSpec& spec) {
  if (spec.primary_key) t.primary_key.push_back(spec.name);
  if (spec.unique) t.uniques.push_back({"uq_" + t.name + "_" + spec.name, {spec.name}});
  if (spec.foreign_key) {
    auto dot = spec.foreign_key->find('.');
    std::string ref_table = spec.foreign_key->substr(0, dot);
    ForeignKey fk;
    fk.name = "fk_" + t.name + "_" + spec.name + "_" + ref_table;
    fk.columns = {spec.name};
    fk.references_table = ref_table;
    fk.references_columns = {spec.foreign_key->substr(dot + 1)};
    fk.on_delete = spec.on_delete;
    fk.on_update = spec.on_update;
    t.foreign_keys.push_back(fk);
  }
}

Table table_from_specs(const std::string& table, const std::vector<ColumnSpec>& columns,
                       const std::vector<std::string>& primary_key, const std::vector<ForeignKey>& fks,
                       const std::vector<UniqueConstraint>& uniques) {
  Table t;
  t.name = table;
  for (const auto& spec : columns) {
    t.columns.push_back(column_from_spec(spec));
    add_column_constraints(t, spec);
  }
  if (!primary_key.empty()) t.primary_key = primary_key;
  for (auto& c : t.columns)
    if (mentions(t.primary_key, c.name)) c.nullable = false;
  t.foreign_keys.insert(t.foreign_keys.end(), fks.begin(), fks.end());
  t.uniques.insert(t.uniques.end(), uniques.begin(), uniques.end());
  return t;
}

std::string duplicate_unique(const Table& t) {
  for (std::size_t i = 0; i < t.uniques.size(); ++i)
    for (std::size_t j = i + 1; j < t.uniques.size(); ++j) {
      auto a = t.uniques[i].columns, b = t.uniques[j].columns;
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      if (a == b) {
        std::string cols;
        for (const auto& c : t.uniques[i].columns) cols += (cols.empty() ? "" : ", ") + c;
        return "unique constraints " + t.uniques[i].name + " and " + t.uniques[j].name + " of table '" + t.name +
               "' cover the same columns (" + cols + ")";
      }
    }
  return {};
}

void apply(Schema& schema, const Operation& op) {
  auto it = schema.tables.find(op.table);
  Table* t = it == schema.tables.end() ? nullptr : &it->second;
  switch (op.kind) {
    case OpKind::create_table:
      schema.tables[op.table] = table_from_specs(op.table, op.columns, op.primary_key, op.foreign_keys, op.uniques);
      break;
    case OpKind::drop_table:
      schema.tables.erase(op.table);
      break;
    case OpKind::rename_table:
      if (t) {
        Table moved = std::move(*t);
        schema.tables.erase(it);
        moved.name = op.new_name;
        for (auto& [name, other] : schema.tables)
          for (auto& fk : other.foreign_keys)
            if (fk.references_table == op.table) fk.references_table = op.new_name;
        for (auto& fk : moved.foreign_keys)
          if (fk.references_table == op.table) fk.references_table = op.new_name;
        schema.tables[op.new_name] = std::move(moved);
      }
      break;
    case OpKind::add_column:
      if (t && op.column) {
        t->columns.push_back(column_from_spec(*op.column));
        add_column_constraints(*t, *op.column);
      }
      break;
    case OpKind::drop_column:
      if (t) {
        const std::string& c = op.column_name;
        erase_named(t->columns, c);
        t->primary_key.erase(std::remove(t->primary_key.begin(), t->primary_key.end(), c), t->primary_key.end());
        std::erase_if(t->foreign_keys, [&](const ForeignKey& fk) { return mentions(fk.columns, c); });
        std::erase_if(t->uniques, [&](const UniqueConstraint& u) { return mentions(u.columns, c); });
        std::erase_if(t->indexes, [&](const Index& i) { return mentions(i.columns, c); });
        // PostgreSQL drops the CHECK constraints that name the column with it.
        std::erase_if(t->checks, [&](const CheckConstraint& k) {
          auto words = sql_identifiers(k.condition);
          return std::any_of(words.begin(), words.end(), [&](const std::string& w) { return same_word(w, c); });
        });
      }
      break;
    case OpKind::alter_column:
      if (t) {
        Column* c = t->find_column(op.column_name);
        if (!c) break;
        if (op.new_type) {
          c->type = *op.new_type;
          c->length = op.length;
          c->precision = op.precision;
          c->scale = op.scale;
        }
        if (op.nullable) c->nullable = *op.nullable;
        if (op.new_default) {
          if (op.new_default->empty())
            c->default_value.reset();
          else
            c->default_value = *op.new_default;
        }
        if (!op.new_name.empty()) {
          std::string from = c->name;
          c->name = op.new_name;
          rename_in(t->primary_key, from, op.new_name);
          for (auto& fk : t->foreign_keys) rename_in(fk.columns, from, op.new_name);
          for (auto& u : t->uniques) rename_in(u.columns, from, op.new_name);
          for (auto& i : t->indexes) rename_in(i.columns, from, op.new_name);
          for (auto& k : t->checks) k.condition = rename_identifier(k.condition, from, op.new_name);
          for (auto& [name, other] : schema.tables)
            for (auto& fk : other.foreign_keys)
              if (fk.references_table == op.table) rename_in(fk.references_columns, from, op.new_name);
        }
      }
      break;
    case OpKind::create_index:
      if (t) t->indexes.push_back({op.name, op.index_columns, op.unique});
      break;
    case OpKind::drop_index:
      if (t) erase_named(t->indexes, op.name);
      break;
    case OpKind::create_unique:
      if (t) t->uniques.push_back({op.name, op.index_columns});
      break;
    case OpKind::create_foreign_key:
      if (t) {
        ForeignKey fk{op.name,
                      op.index_columns,
                      op.extra().references_table,
                      op.extra().references_columns,
                      op.extra().on_delete,
                      op.extra().on_update};
        t->foreign_keys.push_back(fk);
      }
      break;
    case OpKind::create_check_constraint:
      if (t) t->checks.push_back({op.name, op.extra().condition, op.not_valid});
      break;
    case OpKind::drop_constraint:
      if (t) {
        erase_named(t->foreign_keys, op.name);
        erase_named(t->uniques, op.name);
        erase_named(t->checks, op.name);
      }
      break;
    case OpKind::validate_constraint:  // the constraint exists already; only its checked state changes
      if (t)
        for (auto& k : t->checks)
          if (k.name == op.name) k.not_valid = false;
      break;
    case OpKind::execute:
    case OpKind::call:
      break;
  }
}

void apply(Schema& schema, const Operation& op, Undo& undo) {
  if (op.kind == OpKind::execute || op.kind == OpKind::call) return;  // the state does not change
  auto save = [&](const std::string& name) {
    auto it = schema.tables.find(name);
    undo.saved.emplace_back(name, it == schema.tables.end() ? std::nullopt : std::optional<Table>(it->second));
  };
  save(op.table);
  if (op.kind == OpKind::rename_table) save(op.new_name);
  // These two rewrite the foreign keys of other tables that reference op.table.
  if (op.kind == OpKind::rename_table || (op.kind == OpKind::alter_column && !op.new_name.empty()))
    for (const auto& [name, other] : schema.tables)
      if (name != op.table && std::any_of(other.foreign_keys.begin(), other.foreign_keys.end(),
                                          [&](const ForeignKey& fk) { return fk.references_table == op.table; }))
        save(name);
  apply(schema, op);
}

void revert(Schema& schema, Undo& undo) {
  for (auto it = undo.saved.rbegin(); it != undo.saved.rend(); ++it) {
    if (it->second)
      schema.tables[it->first] = std::move(*it->second);
    else
      schema.tables.erase(it->first);
  }
  undo.saved.clear();
}

}  // namespace fastappkit::migration
