#pragma once
// The difference between two schema states as migration operations, and revision files
// written from them (SPEC §4, §5).
#include <string>
#include <vector>

#include "fastappkit/migration/migration_file.hpp"

namespace fastappkit::migration {

// Operations that turn `from` into `to`, ordered so every statement can run: constraint and
// index drops, table creates (referenced tables first), column adds, alters and drops,
// unique/index/foreign-key creates, then table drops (referencing tables first).
// Deterministic: same inputs, same operations in the same order. Destructive operations
// carry a comment. CHECK constraints are not compared (models declare none, as with Alembic's
// autogenerate): a table `to` has and `from` lacks is created with its checks. Throws Error(input) for a change no
// operation expresses (a primary key change of an existing table).
std::vector<Operation> diff(const Schema& from, const Schema& to);

// The online-safe forms (SPEC §11, docs/lint.md) where a generated revision can carry them on
// its own: a revision that only adds one index to an existing table builds it CONCURRENTLY
// (transactional = false; drop_index in the downgrade likewise). Other index, unique and
// foreign-key additions to existing tables get a comment saying how to make them safe on
// PostgreSQL. Marks what it changed with a comment.
void prefer_online_safe(Migration& m);

// PostgreSQL: a generated revision `m` on `head` split into chained revisions that each take
// only short locks: (1) the transactional changes, with each foreign key or check added to an
// existing table NOT VALID; (2) transactional = false, each index on an existing table built
// CONCURRENTLY; (3) validate_constraint of those keys, in a transaction of its own. Empty parts
// are left out; `m` alone when nothing needs splitting. Each part's downgrade undoes that part
// (diff of the states), the first operation of each carries a comment saying why it was split,
// and down_revisions of the later parts are left for the writer to chain.
std::vector<Migration> split_online_safe(const Migration& m, const Schema& head);

// One line a person can read, e.g. "add column posts.content (text)".
std::string describe(const Operation& op);

// The revision file's text; parse_migration reads it back to the same migration.
std::string write_migration(const Migration& m);

// models.toml text declaring `s` (SPEC §4): tables by name, columns in order, a one-column
// primary key on its column, constraint names written where `s` has them (the parser derives
// the others). CHECK constraints are not written: models declare none.
std::string write_models(const Schema& s, const std::string& header);

std::string new_revision_id();
std::string slugify(const std::string& message);

}  // namespace fastappkit::migration
