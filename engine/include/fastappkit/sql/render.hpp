#pragma once
// SQL for each migration operation, per dialect. Rendering reads the schema state before the
// operation (SQLite's table rebuilds need a table's full definition) and never touches a database.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fastappkit/migration/schema.hpp"
#include "fastappkit/sql/dialect.hpp"

namespace fastappkit::sql {

std::string quote_ident(std::string_view name);    // "name", with " doubled
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
migration::Column reflected_column(const std::string& table, const std::string& name, const std::string& sql_type,
                                   bool nullable, const std::optional<std::string>& default_expr, Dialect d,
                                   std::vector<std::string>* unmapped);
// A default expression in a form both the models and either catalog agree on: casts of
// literals and outer parentheses removed, keywords upper-cased.
std::string normalize_default(std::string_view expr);

// A row of sqlite_master, as a rebuild reads it at run time.
struct SchemaObject {
  std::string type, name, table, sql;  // type: table, index, trigger, view; table: sqlite_master.tbl_name
};

// An SQLite table rebuild, SQLite's own procedure for schema changes ALTER TABLE cannot do
// (https://www.sqlite.org/lang_altertable.html, section 7, "Making Other Kinds Of Table Schema
// Changes", the 12 steps). The migrations know the table's columns, constraints and declared
// indexes; indexes made by `execute`, triggers and views are only in the database, so the full
// statement list is made at run time from sqlite_master (expand_rebuild).
struct SqliteRebuild {
  std::string table;                         // the table rebuilt (same name before and after)
  std::vector<std::string> move;             // steps 4-7: create the new table, copy rows, drop old, rename new
  std::vector<migration::Index> indexes;     // step 8: the declared indexes after the operation
  std::vector<std::string> declared_before;  // declared index names before: not recreated from sqlite_master
  std::size_t checks_before = 0;             // CHECK constraints the migrations know on the table before
};

// One statement of an expanded rebuild; `object` names what a recreate statement brings back
// ("trigger trg_items_log"), so a failure can say which object cannot be recreated.
struct RebuildStatement {
  std::string sql;
  std::string object;
};

// The rebuild's statements for a database whose sqlite_master holds `master` (in rowid order):
// every trigger and view is dropped first, because SQLite's RENAME (step 7) re-parses all of
// them and a view or trigger that reads the table (directly or through another view) fails
// while the table is away; then steps 4-7; then the declared indexes, the table's other indexes
// from their stored SQL, and every trigger and view from its stored SQL in the original order
// (steps 8-9); last, when there are triggers or views, a rename of the table inside a savepoint
// that is rolled back, which makes SQLite check every trigger and view against the new table,
// so one that names a dropped column stops the migration by name. With `master` empty this is
// the part known without a database (what preview prints).
std::vector<RebuildStatement> expand_rebuild(const SqliteRebuild& r, const std::vector<SchemaObject>& master);

struct RenderedOp {
  std::vector<std::string> statements;
  // SQLite: the operation rebuilds a table, so the migration must run with foreign keys off
  // (switched outside its transaction) and pass PRAGMA foreign_key_check before commit.
  bool sqlite_rebuild = false;
  // The rebuild, when there is one: `statements` ends with its known part, expand_rebuild(
  // *rebuild, {}), which the migrator replaces with the statements for the live sqlite_master.
  std::optional<SqliteRebuild> rebuild;
};

// The one integer-family column (integer, bigint, smallint) that is the whole primary key and
// no foreign key: ids the database assigns (PostgreSQL identity; SQLite rowid alias, which
// SQLite makes only of a column declared exactly INTEGER, so such a column is INTEGER there).
bool is_identity(const migration::Table& t, const migration::Column& c);

// Throws Error(input) when the operation cannot be rendered (an `execute` without SQL for this
// dialect, a rebuild of a table whose definition the migrations do not give).
RenderedOp render(const migration::Operation& op, const migration::Schema& before, Dialect d);

}  // namespace fastappkit::sql
