#pragma once
// Dialect-neutral schema: column specs as written (SPEC §4), the normalised table state that
// replaying migrations produces, and the operations of a migration file (SPEC §5).
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace fastappkit::migration {

enum class ColumnType {
  integer,
  bigint,
  smallint,
  string,
  text,
  boolean,
  float_,
  double_,
  numeric,
  date,
  datetime,
  time,
  json,
  uuid,
  binary
};

std::optional<ColumnType> parse_column_type(std::string_view name);
std::string_view column_type_name(ColumnType t);
std::vector<std::string> column_type_names();

// A column as written in models.toml or a migration (SPEC §4 inline table).
struct ColumnSpec {
  std::string name;
  ColumnType type = ColumnType::integer;
  std::optional<int> length, precision, scale;
  bool primary_key = false;
  std::optional<bool> nullable;  // default: false for primary keys, true otherwise
  std::optional<std::string> default_value;
  bool unique = false;
  std::optional<std::string> foreign_key;  // "table.column"
  std::optional<std::string> on_delete, on_update;
};

// A column in the normalised state: constraints live on the table.
struct Column {
  std::string name;
  ColumnType type = ColumnType::integer;
  std::optional<int> length, precision, scale;
  bool nullable = true;
  std::optional<std::string> default_value;
  bool operator==(const Column&) const = default;
};

struct ForeignKey {
  std::string name;
  std::vector<std::string> columns;
  std::string references_table;
  std::vector<std::string> references_columns;
  std::optional<std::string> on_delete, on_update;
  bool operator==(const ForeignKey&) const = default;
};

struct UniqueConstraint {
  std::string name;
  std::vector<std::string> columns;
  bool operator==(const UniqueConstraint&) const = default;
};

// A CHECK constraint: `condition` is SQL as written. `not_valid`: added with NOT VALID and not
// yet validated (PostgreSQL checks new rows only until validate_constraint).
struct CheckConstraint {
  std::string name;
  std::string condition;
  bool not_valid = false;
  bool operator==(const CheckConstraint&) const = default;
};

struct Index {
  std::string name;
  std::vector<std::string> columns;
  bool unique = false;
  bool operator==(const Index&) const = default;
};

struct Table {
  std::string name;
  std::vector<Column> columns;
  std::vector<std::string> primary_key;
  std::vector<ForeignKey> foreign_keys;
  std::vector<UniqueConstraint> uniques;
  std::vector<Index> indexes;
  // Only migrations add these (create_check_constraint); models declare none, so autogenerate
  // and `migrate check` ignore them.
  std::vector<CheckConstraint> checks;

  const Column* find_column(std::string_view n) const;
  Column* find_column(std::string_view n);
  bool operator==(const Table&) const = default;
};

// Tables by name; what the migrations say the database holds at some revision.
struct Schema {
  std::map<std::string, Table> tables;
  const Table* find(std::string_view name) const;
};

enum class OpKind {
  create_table,
  drop_table,
  rename_table,
  add_column,
  drop_column,
  alter_column,
  create_index,
  drop_index,
  create_unique,
  create_foreign_key,
  create_check_constraint,
  drop_constraint,
  validate_constraint,
  execute,
  call
};
std::string_view op_kind_name(OpKind k);

// An optional value kept on the heap, read like std::optional. For the members of Operation
// that most operations leave empty: a long history holds operations by the hundred thousand
// (N = 10,000 of the benchmark: 100,000), and an inline std::optional<ColumnSpec> is 240 bytes
// in every one of them where a Box is 8. Copies are deep.
template <class T>
class Box {
 public:
  Box() = default;
  Box(std::nullopt_t) {}  // NOLINT(google-explicit-constructor): as std::optional
  // A value, or what makes one ("0" for a Box<std::string>), as std::optional takes it.
  template <class U = T,
            std::enable_if_t<std::is_constructible_v<T, U&&> && !std::is_same_v<std::remove_cvref_t<U>, Box> &&
                                 !std::is_same_v<std::remove_cvref_t<U>, std::optional<T>> &&
                                 !std::is_same_v<std::remove_cvref_t<U>, std::nullopt_t>,
                             int> = 0>
  Box(U&& v) : p_(std::make_unique<T>(std::forward<U>(v))) {}                    // NOLINT(google-explicit-constructor)
  Box(const std::optional<T>& v) : p_(v ? std::make_unique<T>(*v) : nullptr) {}  // NOLINT(google-explicit-constructor)
  Box(std::optional<T>&& v)                                                      // NOLINT(google-explicit-constructor)
      : p_(v ? std::make_unique<T>(std::move(*v)) : nullptr) {}
  Box(const Box& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
  Box(Box&&) noexcept = default;
  Box& operator=(const Box& o) {
    if (this != &o) p_ = o.p_ ? std::make_unique<T>(*o.p_) : nullptr;
    return *this;
  }
  Box& operator=(Box&&) noexcept = default;
  ~Box() = default;

  bool has_value() const { return p_ != nullptr; }
  explicit operator bool() const { return p_ != nullptr; }
  T& operator*() { return *p_; }
  const T& operator*() const { return *p_; }
  T* operator->() { return p_.get(); }
  const T* operator->() const { return p_.get(); }
  const T& value() const {
    if (!p_) throw std::bad_optional_access();
    return *p_;
  }
  T value_or(T fallback) const { return p_ ? *p_ : std::move(fallback); }
  void reset() { p_.reset(); }
  // A copy as std::optional, spelled out: a deep copy is never made behind the reader's back.
  std::optional<T> to_optional() const { return p_ ? std::optional<T>(*p_) : std::nullopt; }
  friend bool operator==(const Box& a, const Box& b) { return a.p_ ? (b.p_ && *a.p_ == *b.p_) : !b.p_; }
  friend bool operator==(const Box& a, const std::optional<T>& b) { return a.p_ ? (b && *a.p_ == *b) : !b; }
  friend bool operator==(const Box& a, std::nullopt_t) { return !a.p_; }

 private:
  std::unique_ptr<T> p_;
};

// The members of an Operation that only some kinds use, in one box (Operation::extra): 200
// bytes that most operations of a history would carry empty.
struct OperationExtra {
  std::string condition;         // create_check_constraint: an SQL boolean expression
  std::string references_table;  // create_foreign_key
  std::vector<std::string> references_columns;
  std::optional<std::string> on_delete, on_update;
  std::map<std::string, std::string> sql;  // execute: "" key = every dialect, else "sqlite"/"postgresql"
  std::string function;                    // call
  std::vector<std::string> args;
  bool operator==(const OperationExtra&) const = default;
};

struct Operation {
  OpKind kind = OpKind::execute;
  int line = 0, col = 0;                 // of the [[upgrade]]/[[downgrade]] entry, for messages
  std::string comment;                   // written above the operation by autogenerate (e.g. "DESTRUCTIVE: ...")
  std::vector<std::string> lint_ignore;  // `migrate lint` rule ids silenced on this operation

  std::string table;     // every op but execute/call
  std::string name;      // index or constraint name
  std::string new_name;  // rename_table, alter_column

  // create_table
  std::vector<ColumnSpec> columns;
  std::vector<std::string> primary_key;
  std::vector<ForeignKey> foreign_keys;
  std::vector<UniqueConstraint> uniques;

  Box<ColumnSpec> column;   // add_column
  std::string column_name;  // drop_column, alter_column

  // alter_column: what changes (absent = unchanged); new_default "" removes the default
  std::optional<ColumnType> new_type;
  std::optional<int> length, precision, scale;
  std::optional<bool> nullable;
  Box<std::string> new_default;

  // create_index, create_unique, create_foreign_key
  std::vector<std::string> index_columns;
  bool unique = false;
  bool concurrently = false;  // create_index, drop_index: PostgreSQL CONCURRENTLY (transactional = false files)
  bool not_valid = false;     // create_foreign_key, create_check_constraint: PostgreSQL NOT VALID (existing rows
                              // checked by validate_constraint)

  // What only check constraints, foreign keys, `execute` and `call` carry: read with extra()
  // (empty values when the operation has none), written with edit_extra().
  const OperationExtra& extra() const {
    static const OperationExtra none;
    return extra_ ? *extra_ : none;
  }
  OperationExtra& edit_extra() {
    if (!extra_) extra_ = OperationExtra{};
    return *extra_;
  }

 private:
  Box<OperationExtra> extra_;
};

// Turns a create_table operation (or a models.toml table) into normalised state, deriving
// names for column-level constraints: fk_<table>_<column>_<reftable>, uq_<table>_<column>.
Table table_from_specs(const std::string& table, const std::vector<ColumnSpec>& columns,
                       const std::vector<std::string>& primary_key, const std::vector<ForeignKey>& fks,
                       const std::vector<UniqueConstraint>& uniques);
Column column_from_spec(const ColumnSpec& spec);

// The identifier-like words of an SQL expression, quoted or not, lower-cased; string literals
// are skipped (and double-quoted names with `bare_only`). Tells which columns a CHECK names.
std::vector<std::string> sql_identifiers(std::string_view sql, bool bare_only = false);
// `sql` with every identifier `from` (bare or double-quoted, any case) replaced by `to`,
// double-quoted; string literals are left alone. A column rename carries into CHECK conditions.
std::string rename_identifier(std::string_view sql, std::string_view from, std::string_view to);

// Two unique constraints of `t` on the same columns ("" when there are none). PostgreSQL keeps
// only one of them in a CREATE TABLE, so the declaration is refused rather than half-applied.
std::string duplicate_unique(const Table& t);

// Applies `op` to `schema`. Operations on tables the state does not know (made by raw SQL)
// are recorded as best it can; it never throws for those.
void apply(Schema& schema, const Operation& op);

// What `apply` changed: the tables it touched, as they were before (nullopt: absent). Lets a
// caller walk a history backwards without replaying it from the first revision.
struct Undo {
  std::vector<std::pair<std::string, std::optional<Table>>> saved;
};
// Applies `op` and appends to `undo` what `revert` needs to take it back exactly.
void apply(Schema& schema, const Operation& op, Undo& undo);
// Takes back everything recorded in `undo`, newest first, and empties it.
void revert(Schema& schema, Undo& undo);

}  // namespace fastappkit::migration
