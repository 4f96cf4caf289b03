#pragma once
// A database's whole catalog as adopt reads it (SPEC §12): the tables in the engine's model,
// what the model cannot express with the catalog's own definition, and a canonical description
// of every object, so that two databases can be compared object by object (a live database and
// a scratch database the base revision was replayed on).
#include <map>
#include <string>
#include <vector>

#include "fastappkit/db/connection.hpp"
#include "fastappkit/migration/schema.hpp"

namespace fastappkit::db {

// An object models.toml cannot express, carried by `execute` steps: `create` recreates it on
// this dialect (the catalog's own definition where the database keeps one), `drop` undoes
// `create`. Statements run one at a time, in order.
struct CarriedObject {
  std::string kind;  // "view", "trigger", "partial index", "function", "sequence", "enum type", ...
  std::string name;  // as the catalog names it ("table.column" for a column's identity or serial)
  std::vector<std::string> create, drop;
  // PostgreSQL objects that tables or their defaults may use (extensions, types, sequences,
  // functions) are created before the tables; the others after them.
  bool before_tables = false;
};

struct Catalog {
  // The tables (reflect()), CHECK constraints included (reflect leaves them out).
  migration::Schema schema;
  std::vector<std::string> unmapped;         // "table.column: TYPE": a type models.toml has no name for
  std::vector<CarriedObject> carried;        // in the order they can be created
  std::map<std::string, std::string> facts;  // object ("column users.email") -> what it is, canonical
};

// Reads everything of the connection's schema (PostgreSQL: current_schema()) except
// fastappkit's own tables. Never writes.
Catalog read_catalog(Connection& conn);

// Each object that differs, is only in `a` or only in `b`, one line each, sorted:
// "column users.email: live has X; replay has Y". Empty when the two catalogs are the same.
std::vector<std::string> catalog_differences(const Catalog& a, const Catalog& b, const std::string& a_name,
                                             const std::string& b_name);

// Whether fastappkit or Alembic manages this database already: the version tables or
// fastappkit_history it holds (sorted), none for an unmanaged one.
std::vector<std::string> management_tables(Connection& conn);

}  // namespace fastappkit::db
