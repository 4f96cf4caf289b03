#include "fastappkit/migration/migration_file.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>

#include "spec_parse.hpp"

namespace fastappkit::migration {

namespace fs = std::filesystem;
using util::TomlSource;

bool is_revision_id(std::string_view s) {
  return s.size() == 12 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

namespace detail {

std::optional<std::string> referential_action(const TomlSource& src, const toml::table& t, std::string_view key) {
  auto n = t.get(key);
  if (!n) return std::nullopt;
  std::string v = src.str(*n, std::string(key));
  std::string norm;
  for (char c : v) norm += (c == '_') ? ' ' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  static const char* const allowed[] = {"CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT", "NO ACTION"};
  for (const char* a : allowed)
    if (norm == a) return norm;
  src.fail(n->source(), std::string(key) + " '" + v + "' is not a referential action",
           "use one of: cascade, set null, set default, restrict, no action");
}

ColumnType column_type(const TomlSource& src, const toml::node& n) {
  std::string v = src.str(n, "type");
  if (auto t = parse_column_type(v)) return *t;
  std::string near = util::did_you_mean(v, column_type_names());
  src.fail(n.source(), "unknown column type '" + v + "'",
           near.empty() ? "types: " + util::join(column_type_names(), ", ") : "did you mean '" + near + "'?");
}

void check_type_params(const TomlSource& src, const toml::table& t, std::optional<ColumnType> type,
                       const std::string& what) {
  if (auto n = t.get("length"); n && type != ColumnType::string)
    src.fail(n->source(), what + ": length applies only to type \"string\"");
  for (const char* k : {"precision", "scale"}) {
    if (auto n = t.get(k); n && type != ColumnType::numeric)
      src.fail(n->source(), what + ": " + std::string(k) + " applies only to type \"numeric\"");
  }
  if (auto n = t.get("scale"); n && !t.get("precision"))
    src.fail(n->source(), what + ": scale needs precision", "write precision = 10, scale = 2");
}

ColumnSpec column_spec(const TomlSource& src, const toml::node& node, const std::string& what) {
  auto t = node.as_table();
  if (!t) src.fail(node.source(), what + " must be an inline table such as { name = \"id\", type = \"integer\" }");
  src.check_keys(*t,
                 {"name", "type", "length", "precision", "scale", "primary_key", "nullable", "default", "unique",
                  "foreign_key", "on_delete", "on_update"},
                 what);
  ColumnSpec c;
  c.name = src.req_str(*t, "name", what, node.source());
  if (c.name.empty()) src.fail(node.source(), what + ": name is empty");
  auto type = t->get("type");
  if (!type) src.fail(node.source(), what + " '" + c.name + "' needs a type", "e.g. type = \"integer\"");
  c.type = column_type(src, *type);
  check_type_params(src, *t, c.type, "column '" + c.name + "'");
  c.length = src.opt_int(*t, "length", c.name);
  c.precision = src.opt_int(*t, "precision", c.name);
  c.scale = src.opt_int(*t, "scale", c.name);
  c.primary_key = src.opt_bool(*t, "primary_key", c.name).value_or(false);
  c.nullable = src.opt_bool(*t, "nullable", c.name);
  if (c.primary_key && c.nullable.value_or(false)) {
    src.fail(t->get("nullable")->source(), "primary key column '" + c.name + "' cannot be nullable");
  }
  c.default_value = src.opt_str(*t, "default", c.name);
  c.unique = src.opt_bool(*t, "unique", c.name).value_or(false);
  if (auto fk = t->get("foreign_key")) {
    std::string v = src.str(*fk, c.name + ".foreign_key");
    auto dot = v.find('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == v.size() || v.find('.', dot + 1) != std::string::npos)
      src.fail(fk->source(), "foreign_key '" + v + "' must be \"table.column\"");
    c.foreign_key = v;
  }
  c.on_delete = referential_action(src, *t, "on_delete");
  c.on_update = referential_action(src, *t, "on_update");
  if ((c.on_delete || c.on_update) && !c.foreign_key) {
    src.fail(node.source(), "column '" + c.name + "' has on_delete/on_update but no foreign_key");
  }
  return c;
}

std::vector<std::string> name_list(const TomlSource& src, const toml::table& t, std::string_view key,
                                   const std::string& what, const toml::source_region& where) {
  auto n = t.get(key);
  if (!n) src.fail(where, what + " needs '" + std::string(key) + "'");
  auto out = src.str_list(*n, std::string(key));
  if (out.empty()) src.fail(n->source(), std::string(key) + " must name at least one column");
  return out;
}

ForeignKey foreign_key_entry(const TomlSource& src, const toml::node& node, bool name_required) {
  auto t = node.as_table();
  if (!t) src.fail(node.source(), "foreign_keys entries must be inline tables");
  src.check_keys(*t, {"name", "columns", "references_table", "references_columns", "on_delete", "on_update"},
                 "foreign key");
  ForeignKey fk;
  fk.name = name_required ? src.req_str(*t, "name", "foreign key", node.source())
                          : src.opt_str(*t, "name", "foreign key").value_or("");
  fk.columns = name_list(src, *t, "columns", "foreign key", node.source());
  fk.references_table = src.req_str(*t, "references_table", "foreign key", node.source());
  fk.references_columns = name_list(src, *t, "references_columns", "foreign key", node.source());
  if (fk.columns.size() != fk.references_columns.size())
    src.fail(node.source(), "foreign key '" + fk.name + "': columns and references_columns differ in length");
  fk.on_delete = referential_action(src, *t, "on_delete");
  fk.on_update = referential_action(src, *t, "on_update");
  return fk;
}

UniqueConstraint unique_entry(const TomlSource& src, const toml::node& node, bool name_required) {
  auto t = node.as_table();
  if (!t)
    src.fail(node.source(), "unique entries must be inline tables such as { name = \"uq_x\", columns = [\"a\"] }");
  src.check_keys(*t, {"name", "columns"}, "unique constraint");
  UniqueConstraint u;
  u.name = name_required ? src.req_str(*t, "name", "unique constraint", node.source())
                         : src.opt_str(*t, "name", "unique constraint").value_or("");
  u.columns = name_list(src, *t, "columns", "unique constraint", node.source());
  return u;
}

}  // namespace detail

namespace {
using namespace detail;

Operation operation(const TomlSource& src, const toml::node& node, const ParseOptions& options) {
  auto t = node.as_table();
  if (!t) src.fail(node.source(), "each [[upgrade]] / [[downgrade]] entry must be a table");
  Operation op;
  op.line = static_cast<int>(node.source().begin.line);
  op.col = static_cast<int>(node.source().begin.column);
  auto opn = t->get("op");
  if (!opn) src.fail(node.source(), "operation needs 'op'", "e.g. op = \"create_table\"");
  std::string kind = src.str(*opn, "op");
  static const OpKind kinds[] = {OpKind::create_table,
                                 OpKind::drop_table,
                                 OpKind::rename_table,
                                 OpKind::add_column,
                                 OpKind::drop_column,
                                 OpKind::alter_column,
                                 OpKind::create_index,
                                 OpKind::drop_index,
                                 OpKind::create_unique,
                                 OpKind::create_foreign_key,
                                 OpKind::create_check_constraint,
                                 OpKind::drop_constraint,
                                 OpKind::validate_constraint,
                                 OpKind::execute,
                                 OpKind::call};
  bool known = false;
  std::vector<std::string> names;
  for (OpKind k : kinds) {
    names.emplace_back(op_kind_name(k));
    if (kind == op_kind_name(k)) {
      op.kind = k;
      known = true;
    }
  }
  if (!known) {
    std::string near = util::did_you_mean(kind, names);
    src.fail(opn->source(), "unknown operation '" + kind + "'",
             near.empty() ? "operations: " + util::join(names, ", ") : "did you mean '" + near + "'?");
  }
  const std::string what = "operation " + kind;
  auto req = [&](std::string_view key) { return src.req_str(*t, key, what, node.source()); };
  op.lint_ignore = src.opt_str_list(*t, "lint_ignore", what);
  switch (op.kind) {
    case OpKind::create_table: {
      src.check_keys(*t, {"op", "table", "columns", "primary_key", "foreign_keys", "unique", "lint_ignore"}, what);
      op.table = req("table");
      auto cols = t->get("columns");
      if (!cols || !cols->as_array() || cols->as_array()->empty())
        src.fail(cols ? cols->source() : node.source(),
                 "create_table '" + op.table + "' needs a non-empty columns array");
      for (const auto& c : *cols->as_array()) {
        op.columns.push_back(column_spec(src, c, "column of " + op.table));
        for (std::size_t i = 0; i + 1 < op.columns.size(); ++i)
          if (op.columns[i].name == op.columns.back().name)
            src.fail(c.source(), "duplicate column '" + op.columns.back().name + "'");
      }
      op.primary_key = src.opt_str_list(*t, "primary_key", what);
      if (!op.primary_key.empty() &&
          std::any_of(op.columns.begin(), op.columns.end(), [](const ColumnSpec& c) { return c.primary_key; }))
        src.fail(t->get("primary_key")->source(), "primary key given both on columns and as primary_key",
                 "use one of the two");
      auto check_cols = [&](const std::vector<std::string>& cs, const toml::node& where) {
        for (const auto& c : cs) {
          if (std::none_of(op.columns.begin(), op.columns.end(), [&](const ColumnSpec& s) { return s.name == c; }))
            src.fail(where.source(), "'" + c + "' is not a column of " + op.table);
        }
      };
      if (auto n = t->get("primary_key")) check_cols(op.primary_key, *n);
      if (auto n = t->get("foreign_keys")) {
        auto arr = n->as_array();
        if (!arr) src.fail(n->source(), "foreign_keys must be an array of inline tables");
        for (const auto& e : *arr) {
          op.foreign_keys.push_back(foreign_key_entry(src, e, true));
          check_cols(op.foreign_keys.back().columns, e);
        }
      }
      if (auto n = t->get("unique")) {
        auto arr = n->as_array();
        if (!arr) src.fail(n->source(), "unique must be an array of inline tables");
        for (const auto& e : *arr) {
          op.uniques.push_back(unique_entry(src, e, true));
          check_cols(op.uniques.back().columns, e);
        }
      }
      if (auto dup =
              duplicate_unique(table_from_specs(op.table, op.columns, op.primary_key, op.foreign_keys, op.uniques));
          !dup.empty())
        src.fail(node.source(), dup, "keep one of them (a column's unique = true is a unique constraint too)");
      break;
    }
    case OpKind::drop_table:
      src.check_keys(*t, {"op", "table", "lint_ignore"}, what);
      op.table = req("table");
      break;
    case OpKind::rename_table:
      src.check_keys(*t, {"op", "table", "new_name", "lint_ignore"}, what);
      op.table = req("table");
      op.new_name = req("new_name");
      break;
    case OpKind::add_column: {
      src.check_keys(*t, {"op", "table", "column", "lint_ignore"}, what);
      op.table = req("table");
      auto c = t->get("column");
      if (!c)
        src.fail(node.source(), "add_column needs 'column', a column spec such as { name = \"x\", type = \"text\" }");
      op.column = column_spec(src, *c, "column");
      break;
    }
    case OpKind::drop_column:
      src.check_keys(*t, {"op", "table", "column", "lint_ignore"}, what);
      op.table = req("table");
      op.column_name = req("column");
      break;
    case OpKind::alter_column: {
      src.check_keys(*t,
                     {"op", "table", "column", "new_name", "type", "length", "precision", "scale", "nullable",
                      "default", "lint_ignore"},
                     what);
      op.table = req("table");
      op.column_name = req("column");
      if (auto n = src.opt_str(*t, "new_name", what)) op.new_name = *n;
      if (auto n = t->get("type")) op.new_type = column_type(src, *n);
      if ((t->get("length") || t->get("precision") || t->get("scale")) && !op.new_type)
        src.fail(node.source(), "alter_column: length/precision/scale need 'type' as well",
                 "write the full new type, e.g. type = \"string\", length = 300");
      if (op.new_type) check_type_params(src, *t, op.new_type, "alter_column");
      op.length = src.opt_int(*t, "length", what);
      op.precision = src.opt_int(*t, "precision", what);
      op.scale = src.opt_int(*t, "scale", what);
      op.nullable = src.opt_bool(*t, "nullable", what);
      op.new_default = src.opt_str(*t, "default", what);
      if (op.new_name.empty() && !op.new_type && !op.nullable && !op.new_default)
        src.fail(node.source(), "alter_column changes nothing", "give new_name, type, nullable or default");
      break;
    }
    case OpKind::create_index:
      src.check_keys(*t, {"op", "name", "table", "columns", "unique", "concurrently", "lint_ignore"}, what);
      op.name = req("name");
      op.table = req("table");
      op.index_columns = name_list(src, *t, "columns", what, node.source());
      op.unique = src.opt_bool(*t, "unique", what).value_or(false);
      op.concurrently = src.opt_bool(*t, "concurrently", what).value_or(false);
      break;
    case OpKind::drop_index:
      src.check_keys(*t, {"op", "name", "table", "concurrently", "lint_ignore"}, what);
      op.name = req("name");
      op.table = req("table");
      op.concurrently = src.opt_bool(*t, "concurrently", what).value_or(false);
      break;
    case OpKind::drop_constraint:
    case OpKind::validate_constraint:
      src.check_keys(*t, {"op", "name", "table", "lint_ignore"}, what);
      op.name = req("name");
      op.table = req("table");
      break;
    case OpKind::create_unique:
      src.check_keys(*t, {"op", "name", "table", "columns", "lint_ignore"}, what);
      op.name = req("name");
      op.table = req("table");
      op.index_columns = name_list(src, *t, "columns", what, node.source());
      break;
    case OpKind::create_foreign_key:
      src.check_keys(*t,
                     {"op", "name", "table", "columns", "references_table", "references_columns", "on_delete",
                      "on_update", "not_valid", "lint_ignore"},
                     what);
      op.name = req("name");
      op.table = req("table");
      op.index_columns = name_list(src, *t, "columns", what, node.source());
      op.edit_extra().references_table = req("references_table");
      op.edit_extra().references_columns = name_list(src, *t, "references_columns", what, node.source());
      if (op.index_columns.size() != op.extra().references_columns.size())
        src.fail(node.source(), "create_foreign_key: columns and references_columns differ in length");
      op.edit_extra().on_delete = referential_action(src, *t, "on_delete");
      op.edit_extra().on_update = referential_action(src, *t, "on_update");
      op.not_valid = src.opt_bool(*t, "not_valid", what).value_or(false);
      break;
    case OpKind::create_check_constraint: {
      src.check_keys(*t, {"op", "name", "table", "condition", "not_valid", "lint_ignore"}, what);
      op.name = req("name");
      op.table = req("table");
      op.edit_extra().condition = req("condition");
      if (op.extra().condition.find_first_not_of(" \t\r\n") == std::string::npos)
        src.fail(t->get("condition")->source(), what + ": condition is empty",
                 "write an SQL boolean expression, e.g. condition = \"price >= 0\"");
      op.not_valid = src.opt_bool(*t, "not_valid", what).value_or(false);
      break;
    }
    case OpKind::execute:
      src.check_keys(*t, {"op", "sql", "sqlite", "postgresql", "lint_ignore"}, what);
      for (const char* k : {"sql", "sqlite", "postgresql"}) {
        if (auto v = src.opt_str(*t, k, what)) op.edit_extra().sql[std::string(k) == "sql" ? "" : k] = *v;
      }
      if (op.extra().sql.empty()) src.fail(node.source(), "execute needs 'sql', or 'sqlite' and/or 'postgresql'");
      if (op.extra().sql.count("") && op.extra().sql.size() > 1)
        src.fail(node.source(), "execute has both 'sql' and a per-dialect key",
                 "use 'sql' for every dialect, or 'sqlite' and 'postgresql'");
      break;
    case OpKind::call:
      src.check_keys(*t, {"op", "function", "args", "lint_ignore"}, what);
      if (!options.allow_call)
        src.fail(node.source(), "'call' operations run C++ steps that only plugins (external apps) provide",
                 "use op = \"execute\" with SQL here, or move the step into a plugin");
      op.edit_extra().function = req("function");
      op.edit_extra().args = src.opt_str_list(*t, "args", what);
      break;
  }
  if (t->get("table") && op.table.empty()) src.fail(t->get("table")->source(), what + ": table is empty");
  if (t->get("name") && op.name.empty()) src.fail(t->get("name")->source(), what + ": name is empty");
  return op;
}

std::vector<Operation> operations(const TomlSource& src, const toml::table& doc, std::string_view key,
                                  const ParseOptions& options) {
  std::vector<Operation> out;
  auto n = doc.get(key);
  if (!n) return out;
  auto arr = n->as_array();
  if (!arr) src.fail(n->source(), std::string(key) + " must be written as [[" + std::string(key) + "]] tables");
  for (const auto& e : *arr) out.push_back(operation(src, e, options));
  return out;
}

}  // namespace

Migration parse_migration(std::string_view text, const std::string& path, const ParseOptions& options) {
  TomlSource src{path, text};
  toml::table doc = src.parse();
  toml::source_region top;
  top.begin = {1, 1};
  src.check_keys(doc,
                 {"revision", "down_revision", "depends_on", "branch_labels", "message", "create_date", "app",
                  "transactional", "upgrade", "downgrade"},
                 "migration file");
  Migration m;
  m.path = path;
  m.checksum = util::hex64(util::fnv1a64(text));
  auto rev = doc.get("revision");
  if (!rev) src.fail(top, "migration file has no 'revision'", "add revision = \"<12 hex characters>\" at the top");
  m.revision = src.str(*rev, "revision");
  if (!is_revision_id(m.revision))
    src.fail(rev->source(), "revision '" + m.revision + "' is not 12 lowercase hex characters",
             "e.g. revision = \"3f2a9c1b7d4e\"");
  auto check_refs = [&](const toml::node& n, const std::vector<std::string>& ids, const char* what) {
    for (const auto& id : ids) {
      if (id.empty()) src.fail(n.source(), std::string(what) + " contains an empty revision");
      if (id == m.revision) src.fail(n.source(), std::string(what) + " names the file's own revision");
    }
  };
  if (auto d = doc.get("down_revision")) {
    m.down_line = static_cast<int>(d->source().begin.line);
    m.down_col = static_cast<int>(d->source().begin.column);
    m.down_revisions = src.str_list(*d, "down_revision", true);
    check_refs(*d, m.down_revisions, "down_revision");
  }
  if (auto d = doc.get("depends_on")) {
    m.depends_line = static_cast<int>(d->source().begin.line);
    m.depends_col = static_cast<int>(d->source().begin.column);
    m.depends_on = src.str_list(*d, "depends_on", true);
    check_refs(*d, m.depends_on, "depends_on");
  }
  if (auto d = doc.get("branch_labels")) m.branch_labels = src.str_list(*d, "branch_labels", true);
  m.message = src.opt_str(doc, "message", "migration").value_or("");
  m.create_date = src.opt_str(doc, "create_date", "migration").value_or("");
  m.app = src.opt_str(doc, "app", "migration").value_or("");
  if (auto a = doc.get("app"); a && !m.app.empty() && !util::is_valid_app_name(m.app))
    src.fail(a->source(), "app '" + m.app + "' is not a valid app name");
  m.transactional = src.opt_bool(doc, "transactional", "migration").value_or(true);
  m.upgrade = operations(src, doc, "upgrade", options);
  m.downgrade = operations(src, doc, "downgrade", options);
  // PostgreSQL refuses CREATE/DROP INDEX CONCURRENTLY inside a transaction block.
  if (m.transactional) {
    for (const auto* ops : {&m.upgrade, &m.downgrade}) {
      for (const auto& op : *ops) {
        if (!op.concurrently) continue;
        throw Error(ErrorKind::input, SourceLocation{path, op.line, op.col},
                    std::string(op_kind_name(op.kind)) + " '" + op.name +
                        "' has concurrently = true, which PostgreSQL cannot run inside a transaction, and this file "
                        "is transactional",
                    "add transactional = false at the top of the file (best with the index operation in a revision "
                    "of its own), or remove concurrently = true",
                    text);
      }
    }
  }

  std::string stem = fs::path(path).stem().string();
  if (stem.rfind(m.revision, 0) != 0) {
    src.fail(
        rev->source(),
        "file name '" + fs::path(path).filename().string() + "' does not start with its revision '" + m.revision + "'",
        "name revision files <revision>_<slug>.toml");
  }
  return m;
}

}  // namespace fastappkit::migration
