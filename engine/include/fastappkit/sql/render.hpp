#pragma once
// SQL for each migration operation, per dialect. Rendering reads the schema state before the
// operation (SQLite's table rebuilds need a table's full definition) and never touches a database.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fastappkit/migration/schema.hpp"

namespace fastappkit::sql {

enum class Dialect { sqlite, postgresql };
std::string_view dialect_name(Dialect d);

std::string quote_ident(std::string_view name);   // "name", with " doubled
std::string quote_literal(std::string_view text);  // 'text', with ' doubled
std::string column_type(const migration::Column& c, Dialect d);
std::string default_clause(const std::string& expr);  // literal as is, any other expression in parentheses
std::string create_table(const migration::Table& t, Dialect d, std::string_view as_name = {});
std::string create_index(const std::string& table, const migration::Index& index);

// The inverse of column_type: a type as the catalog shows it (SQLite's declared type,
// PostgreSQL's format_type) back to the model's type; nullopt when it has no model type.
std::optional<migration::Column> parse_sql_type(std::string_view sql_type, Dialect d);
// A column as a catalog describes it. A type with no model type becomes text and is named in
// `unmapped` ("table.column: TYPE"), so a caller can report it.
migration::Column reflected_column(const std::string& table, const std::string& name, const std::string& sql_type, bool nullable,
                                   const std::optional<std::string>& default_expr, Dialect d, std::vector<std::string>* unmapped);
// A default expression in a form both the models and either catalog agree on: casts of
// literals and outer parentheses removed, keywords upper-cased.
std::string normalize_default(std::string_view expr);

struct RenderedOp {
  std::vector<std::string> statements;
  // SQLite: the operation rebuilds a table, so the migration must run with foreign keys off
  // (switched outside its transaction) and pass PRAGMA foreign_key_check before commit.
  bool sqlite_rebuild = false;
};

// Throws Error(input) when the operation cannot be rendered (an `execute` without SQL for this
// dialect, a rebuild of a table whose definition the migrations do not give).
RenderedOp render(const migration::Operation& op, const migration::Schema& before, Dialect d);

}  // namespace fastappkit::sql
