#include "fastappkit/migration/models.hpp"

#include <algorithm>
#include <set>

#include "spec_parse.hpp"

namespace fastappkit::migration {

namespace fs = std::filesystem;
using namespace detail;

namespace {

std::string cols_slug(const std::vector<std::string>& cols) { return util::join(cols, "_"); }

SourceLocation where(const TomlSource& src, const toml::source_region& r) {
  return {src.path, static_cast<int>(r.begin.line), static_cast<int>(r.begin.column)};
}

std::string text(const SourceLocation& l) {
  return l.file + ":" + std::to_string(l.line) + ":" + std::to_string(l.column);
}

}  // namespace

ModelSet parse_models(std::string_view text, const std::string& path, const std::string& app) {
  TomlSource src{path, text};
  toml::table doc = src.parse();
  src.check_keys(doc, {"tables"}, "models file");
  ModelSet out;
  auto tables = doc.get("tables");
  if (!tables) return out;
  auto arr = tables->as_array();
  if (!arr) src.fail(tables->source(), "tables must be written as [[tables]] entries");
  for (const auto& node : *arr) {
    auto t = node.as_table();
    if (!t) src.fail(node.source(), "each [[tables]] entry must be a table");
    src.check_keys(*t, {"name", "columns", "primary_key", "foreign_keys", "unique", "indexes"}, "[[tables]]");
    std::string name = src.req_str(*t, "name", "[[tables]]", node.source());
    if (name.empty()) src.fail(node.source(), "table name is empty");
    if (name.rfind("alembic_version", 0) == 0 || name == "fastappkit_history")
      src.fail(t->get("name")->source(), "table name '" + name + "' is reserved for fastappkit's bookkeeping",
               "choose another name");
    if (out.schema.tables.count(name))
      src.fail(t->get("name")->source(), "table '" + name + "' is declared twice in this file");
    auto cols = t->get("columns");
    if (!cols || !cols->as_array() || cols->as_array()->empty())
      src.fail(cols ? cols->source() : node.source(), "table '" + name + "' needs a non-empty columns array");
    std::vector<ColumnSpec> specs;
    for (const auto& c : *cols->as_array()) {
      specs.push_back(column_spec(src, c, "column of " + name));
      for (std::size_t i = 0; i + 1 < specs.size(); ++i)
        if (specs[i].name == specs.back().name)
          src.fail(c.source(), "duplicate column '" + specs.back().name + "' in table '" + name + "'");
    }
    auto has_col = [&](const std::string& c) {
      return std::any_of(specs.begin(), specs.end(), [&](const ColumnSpec& s) { return s.name == c; });
    };
    auto check_cols = [&](const std::vector<std::string>& cs, const toml::node& at) {
      for (const auto& c : cs)
        if (!has_col(c)) src.fail(at.source(), "'" + c + "' is not a column of table '" + name + "'");
    };
    std::vector<std::string> pk = src.opt_str_list(*t, "primary_key", "[[tables]]");
    if (auto n = t->get("primary_key")) {
      check_cols(pk, *n);
      if (std::any_of(specs.begin(), specs.end(), [](const ColumnSpec& s) { return s.primary_key; }))
        src.fail(n->source(), "primary key given both on columns and as primary_key", "use one of the two");
    }
    std::vector<ForeignKey> fks;
    if (auto n = t->get("foreign_keys")) {
      if (!n->as_array()) src.fail(n->source(), "foreign_keys must be an array of inline tables");
      for (const auto& e : *n->as_array()) {
        ForeignKey fk = foreign_key_entry(src, e, false);
        check_cols(fk.columns, e);
        if (fk.name.empty()) fk.name = "fk_" + name + "_" + cols_slug(fk.columns) + "_" + fk.references_table;
        fks.push_back(fk);
      }
    }
    std::vector<UniqueConstraint> uniques;
    if (auto n = t->get("unique")) {
      if (!n->as_array()) src.fail(n->source(), "unique must be an array of inline tables");
      for (const auto& e : *n->as_array()) {
        UniqueConstraint u = unique_entry(src, e, false);
        check_cols(u.columns, e);
        if (u.name.empty()) u.name = "uq_" + name + "_" + cols_slug(u.columns);
        uniques.push_back(u);
      }
    }
    Table table = table_from_specs(name, specs, pk, fks, uniques);
    if (auto n = t->get("indexes")) {
      if (!n->as_array())
        src.fail(n->source(),
                 "indexes must be an array of inline tables such as { name = \"ix_x\", columns = [\"a\"] }");
      for (const auto& e : *n->as_array()) {
        auto it = e.as_table();
        if (!it) src.fail(e.source(), "indexes entries must be inline tables");
        src.check_keys(*it, {"name", "columns", "unique"}, "index");
        Index ix;
        ix.columns = name_list(src, *it, "columns", "index", e.source());
        check_cols(ix.columns, e);
        ix.name = src.opt_str(*it, "name", "index").value_or("ix_" + name + "_" + cols_slug(ix.columns));
        ix.unique = src.opt_bool(*it, "unique", "index").value_or(false);
        table.indexes.push_back(ix);
      }
    }
    if (auto dup = duplicate_unique(table); !dup.empty())
      src.fail(node.source(), dup, "keep one of them (a column's unique = true is a unique constraint too)");
    // Names must be unique within the table (and indexes within the database, checked on merge).
    std::set<std::string> names;
    for (const auto& fk : table.foreign_keys)
      if (!names.insert(fk.name).second)
        src.fail(node.source(), "constraint name '" + fk.name + "' is used twice in table '" + name + "'");
    for (const auto& u : table.uniques)
      if (!names.insert(u.name).second)
        src.fail(node.source(), "constraint name '" + u.name + "' is used twice in table '" + name + "'");
    out.schema.tables[name] = std::move(table);
    out.owner[name] = app;
    out.origin[name] = where(src, node.source());
  }
  return out;
}

void merge_models(ModelSet& into, const ModelSet& part) {
  for (const auto& [name, table] : part.schema.tables) {
    if (into.schema.tables.count(name)) {
      throw Error(ErrorKind::input, part.origin.at(name),
                  "table '" + name + "' is declared by two apps: " + into.owner.at(name) + " (" +
                      text(into.origin.at(name)) + ") and " + part.owner.at(name) + " (here)",
                  "each table belongs to one app: remove or rename one of them");
    }
    into.schema.tables[name] = table;
    into.owner[name] = part.owner.at(name);
    into.origin[name] = part.origin.at(name);
  }
  std::map<std::string, std::string> index_owner;
  for (const auto& [name, table] : into.schema.tables) {
    for (const auto& ix : table.indexes) {
      auto [it, inserted] = index_owner.emplace(ix.name, name);
      if (!inserted)
        throw Error(ErrorKind::input, into.origin.at(name),
                    "index name '" + ix.name + "' is used by tables '" + it->second + "' and '" + name + "'",
                    "index names are unique per database: rename one");
    }
  }
}

void check_references(const ModelSet& models) {
  std::vector<std::string> names;
  for (const auto& [n, t] : models.schema.tables) names.push_back(n);
  for (const auto& [name, table] : models.schema.tables) {
    for (const auto& fk : table.foreign_keys) {
      const Table* ref = models.schema.find(fk.references_table);
      if (!ref) {
        std::string near = util::did_you_mean(fk.references_table, names);
        throw Error(ErrorKind::input, models.origin.at(name),
                    "foreign key " + fk.name + " of table '" + name + "' references unknown table '" +
                        fk.references_table + "'",
                    near.empty() ? "declare that table in core/models.toml or an internal app's models.toml"
                                 : "did you mean '" + near + "'?");
      }
      for (const auto& c : fk.references_columns) {
        if (!ref->find_column(c))
          throw Error(ErrorKind::input, models.origin.at(name),
                      "foreign key " + fk.name + " of table '" + name + "' references unknown column '" +
                          fk.references_table + "." + c + "'",
                      "reference a column that table declares");
      }
    }
  }
}

std::vector<std::pair<fs::path, std::string>> project_models_files(const fs::path& root,
                                                                   const std::vector<std::string>& internal_apps) {
  std::vector<std::pair<fs::path, std::string>> files{{root / "core" / "models.toml", "core"}};
  for (const auto& app : internal_apps) files.emplace_back(root / "apps" / app / "models.toml", app);
  return files;
}

ModelSet load_project_models(const fs::path& root, const std::vector<std::string>& internal_apps) {
  ModelSet all;
  for (const auto& [file, app] : project_models_files(root, internal_apps)) {
    if (!fs::is_regular_file(file)) continue;
    std::string text = util::read_file(file.string());
    merge_models(all, parse_models(text, file.string(), app));
  }
  check_references(all);
  return all;
}

}  // namespace fastappkit::migration
