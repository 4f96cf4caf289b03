// A property test of autogenerate, on SQLite and PostgreSQL: a fixed-seed sequence of random
// model edits to apps/blog/models.toml. After every edit, makemigrations + upgrade + check must
// succeed (check exit 0: the reflected database equals the models) and every table keeps its
// rows. At the end, `downgrade -1` one revision at a time must bring back each earlier schema.
// Every table the sequence creates also carries objects the migrations do not know, made with
// raw SQL as a user would: a trigger (logging inserts into prop_log), a view and an index on an
// expression; every step, up and down, asserts they are all still there (SQLite rebuilds must
// bring them back).
//
// Reproduce a failure: the seed and step are in the failure's INFO. FASTAPPKIT_PROPERTY_SEED
// and FASTAPPKIT_PROPERTY_STEPS override the defaults (e.g. to explore other seeds locally);
// FASTAPPKIT_PROPERTY_KEEP=DIR copies the project there at the end, with history/<step>.toml,
// the models.toml of every step, beside the generated revisions.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>

#include "harness.hpp"

using namespace e2e;

namespace {

constexpr std::uint32_t kDefaultSeed = 20260521u;
constexpr int kDefaultSteps = 200;
constexpr std::size_t kMaxTables = 6;
constexpr std::size_t kMaxColumns = 8;  // including id

// ---- the models, as the test keeps them -------------------------------------------------

struct Col {
  std::string name;
  std::string type;  // integer, bigint, string, text, boolean, double, datetime
  int length = 0;    // string only
  bool nullable = true;
  std::optional<std::string> def;
  bool unique = false;    // column-level unique = true (constraint uq_<table>_<col>)
  std::string fk;         // "users.id" / "t3.id", empty for none
  std::string on_delete;  // with fk, may be empty
  bool primary_key = false;
  // Once a foreign-key column, never given a default: dropping the column and downgrading would
  // fill the row with the default, and downgrading further would restore the foreign key over it.
  bool was_fk = false;
  // Once NOT NULL: dropped without a default, the downgrade would add it back NULL, and
  // downgrading further would make it NOT NULL again.
  bool was_not_null = false;
};

struct Ix {
  std::string name;
  std::vector<std::string> cols;
  bool unique = false;
};

struct Uc {
  std::string name;
  std::vector<std::string> cols;
};

struct Tbl {
  std::string name;
  std::vector<Col> cols;
  std::vector<Ix> indexes;
  std::vector<Uc> uniques;
  Col* find(const std::string& c) {
    for (auto& x : cols)
      if (x.name == c) return &x;
    return nullptr;
  }
};

struct Models {
  std::vector<Tbl> tables;
  Tbl* find(const std::string& t) {
    for (auto& x : tables)
      if (x.name == t) return &x;
    return nullptr;
  }
  std::set<std::string> names() const {
    std::set<std::string> out;
    for (const auto& t : tables) out.insert(t.name);
    return out;
  }
};

std::string q(const std::string& s) { return "\"" + s + "\""; }  // the test's strings need no escaping

std::string list(const std::vector<std::string>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + q(v[i]);
  return out + "]";
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

std::string to_toml(const Models& m) {
  std::string out = "# Written by the autogenerate property test.\n";
  for (const auto& t : m.tables) {
    out += "\n[[tables]]\nname = " + q(t.name) + "\ncolumns = [\n";
    for (const auto& c : t.cols) {
      out += "  { name = " + q(c.name) + ", type = " + q(c.type);
      if (c.type == "string") out += ", length = " + std::to_string(c.length);
      if (c.primary_key) out += ", primary_key = true";
      if (!c.primary_key && !c.nullable) out += ", nullable = false";
      if (c.def) out += ", default = " + q(*c.def);
      if (c.unique) out += ", unique = true";
      if (!c.fk.empty()) out += ", foreign_key = " + q(c.fk);
      if (!c.on_delete.empty()) out += ", on_delete = " + q(c.on_delete);
      out += " },\n";
    }
    out += "]\n";
    if (!t.indexes.empty()) {
      out += "indexes = [\n";
      for (const auto& ix : t.indexes)
        out += "  { name = " + q(ix.name) + ", columns = " + list(ix.cols) + (ix.unique ? ", unique = true" : "") +
               " },\n";
      out += "]\n";
    }
    if (!t.uniques.empty()) {
      out += "unique = [\n";
      for (const auto& u : t.uniques) out += "  { name = " + q(u.name) + ", columns = " + list(u.cols) + " },\n";
      out += "]\n";
    }
  }
  return out;
}

// ---- value pools ---------------------------------------------------------------------------

const std::vector<std::string> kTypes = {"integer", "bigint", "string", "text", "boolean", "double", "datetime"};

std::vector<std::string> default_pool(const std::string& type) {
  if (type == "integer" || type == "bigint") return {"0", "1", "42"};
  if (type == "string") return {"'a'", "'draft'", "'x y'"};
  if (type == "text") return {"'a'", "'long text'"};
  if (type == "boolean") return {"TRUE", "FALSE"};
  if (type == "double") return {"0.5", "2.5"};
  if (type == "datetime") return {"CURRENT_TIMESTAMP"};
  return {};
}

std::string value_for(const std::string& type) {
  if (type == "integer") return "1";
  if (type == "bigint") return "2";
  if (type == "string") return "'v'";
  if (type == "text") return "'t'";
  if (type == "boolean") return "TRUE";
  if (type == "double") return "1.5";
  if (type == "datetime") return "'2020-01-02 03:04:05'";
  return "NULL";
}

// ---- the edits -------------------------------------------------------------------------------

enum Kind {
  add_table,
  drop_table,
  add_nullable_column,
  add_not_null_column_with_default,
  drop_column,
  widen_string_length,
  widen_integer_to_bigint,
  widen_string_to_text,
  make_nullable,
  set_default,
  change_default,
  remove_default,
  add_index,
  drop_index,
  add_unique_index,
  drop_unique_index,
  add_unique_constraint,
  drop_unique_constraint,
  add_column_unique,
  drop_column_unique,
  add_foreign_key_column,
  drop_foreign_key,
  no_op,
  kind_count
};

const char* kind_name(int k) {
  static const char* names[] = {"add table",
                                "drop table",
                                "add nullable column",
                                "add NOT NULL column with default",
                                "drop column",
                                "widen string length",
                                "widen integer to bigint",
                                "widen string to text",
                                "make nullable",
                                "set default",
                                "change default",
                                "remove default",
                                "add index",
                                "drop index",
                                "add unique index",
                                "drop unique index",
                                "add unique constraint",
                                "drop unique constraint",
                                "add column unique",
                                "drop column unique",
                                "add foreign key column",
                                "drop foreign key",
                                "no-op (tables reordered)"};
  return names[k];
}

struct Generator {
  std::mt19937 rng;
  Models m;

  explicit Generator(std::uint32_t seed) : rng(seed) {}

  std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); }
  bool coin(double p = 0.5) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; }
  template <class T>
  T& any(std::vector<T>& v) {
    return v[pick(v.size())];
  }
  template <class T>
  const T& any(const std::vector<T>& v) {
    return v[pick(v.size())];
  }

  // A table (pointer into m.tables) satisfying `pred`, or null.
  template <class P>
  Tbl* table_where(P pred) {
    std::vector<Tbl*> c;
    for (auto& t : m.tables)
      if (pred(t)) c.push_back(&t);
    return c.empty() ? nullptr : c[pick(c.size())];
  }
  // A (table, column) pair, not id, satisfying `pred`.
  template <class P>
  std::pair<Tbl*, Col*> column_where(P pred) {
    std::vector<std::pair<Tbl*, Col*>> c;
    for (auto& t : m.tables)
      for (auto& col : t.cols)
        if (!col.primary_key && pred(t, col)) c.emplace_back(&t, &col);
    return c.empty() ? std::pair<Tbl*, Col*>{nullptr, nullptr} : c[pick(c.size())];
  }

  std::optional<std::string> free_column_name(const Tbl& t) {
    std::vector<std::string> free;
    for (int i = 1; i <= 9; ++i) {
      std::string n = "c" + std::to_string(i);
      if (std::none_of(t.cols.begin(), t.cols.end(), [&](const Col& c) { return c.name == n; })) free.push_back(n);
    }
    if (free.empty()) return std::nullopt;
    return any(free);
  }

  Col random_column(const std::string& name, bool table_is_empty) {
    Col c;
    c.name = name;
    c.type = any(kTypes);
    if (c.type == "string") c.length = std::vector<int>{16, 32, 64}[pick(3)];
    if (coin(0.4)) c.def = any(default_pool(c.type));
    // NOT NULL without a default only while the table has no rows.
    if (coin(0.3) && (c.def || table_is_empty)) c.nullable = false, c.was_not_null = true;
    if (coin(0.15) && c.type != "text") c.unique = true;
    return c;
  }

  Col fk_column(const std::string& name, const std::string& self) {
    Col c;
    c.name = name;
    c.type = "integer";
    std::vector<std::string> targets{"users"};
    for (const auto& t : m.tables)
      if (t.name != self) targets.push_back(t.name);
    c.fk = any(targets) + ".id";
    c.was_fk = true;
    c.on_delete = std::vector<std::string>{"", "", "cascade", "set null"}[pick(4)];
    return c;
  }

  static std::vector<std::string> non_id(const Tbl& t) {
    std::vector<std::string> out;
    for (const auto& c : t.cols)
      if (!c.primary_key) out.push_back(c.name);
    return out;
  }

  // A unique constraint (table-level, or a column's unique = true) already covers exactly `cols`.
  static bool same_unique_exists(const Tbl& t, std::vector<std::string> cols) {
    std::sort(cols.begin(), cols.end());
    for (const auto& u : t.uniques) {
      auto c = u.cols;
      std::sort(c.begin(), c.end());
      if (c == cols) return true;
    }
    return cols.size() == 1 &&
           std::any_of(t.cols.begin(), t.cols.end(), [&](const Col& c) { return c.name == cols[0] && c.unique; });
  }

  bool name_used(const Tbl& t, const std::string& n) {
    return std::any_of(t.indexes.begin(), t.indexes.end(), [&](const Ix& i) { return i.name == n; }) ||
           std::any_of(t.uniques.begin(), t.uniques.end(), [&](const Uc& u) { return u.name == n; });
  }

  // 1 or 2 non-id columns of `t`, in table order, not text (PostgreSQL indexes text fine, but
  // keep them short), for an index or unique constraint named <prefix>_<table>_<cols>.
  std::optional<std::pair<std::string, std::vector<std::string>>> index_target(Tbl& t, const std::string& prefix) {
    auto cols = non_id(t);
    if (cols.empty()) return std::nullopt;
    std::vector<std::string> chosen{any(cols)};
    if (cols.size() > 1 && coin(0.3)) {
      std::string second = any(cols);
      if (second != chosen[0]) chosen.push_back(second);
    }
    std::string name = prefix + "_" + t.name + "_" + join(chosen, "_");
    if (name_used(t, name)) return std::nullopt;
    return std::pair{name, chosen};
  }

  // Applies one edit of kind `k` if it can; returns its description, or nullopt.
  // `created` receives the name of a table this edit created.
  std::optional<std::string> apply(int k, std::string& created) {
    switch (k) {
      case add_table: {
        if (m.tables.size() >= kMaxTables) return std::nullopt;
        std::vector<std::string> free;
        for (int i = 0; i <= 9; ++i)
          if (!m.find("t" + std::to_string(i))) free.push_back("t" + std::to_string(i));
        Tbl t;
        t.name = any(free);
        Col id;
        id.name = "id";
        id.type = "integer";
        id.primary_key = true;
        id.nullable = false;
        t.cols.push_back(id);
        std::size_t extra = pick(4);
        for (std::size_t i = 0; i < extra; ++i) {
          auto n = free_column_name(t);
          t.cols.push_back(coin(0.2) ? fk_column(*n, t.name) : random_column(*n, true));
        }
        if (t.cols.size() > 1 && coin(0.4))
          if (auto it = index_target(t, "ix")) t.indexes.push_back({it->first, it->second, false});
        created = t.name;
        m.tables.push_back(t);
        return "create table " + t.name;
      }
      case drop_table: {
        if (m.tables.empty()) return std::nullopt;
        std::string name = any(m.tables).name;
        std::string desc = "drop table " + name;
        // Foreign keys that reference it go in the same edit (the columns stay, all NULL).
        for (auto& t : m.tables)
          for (auto& c : t.cols)
            if (c.fk == name + ".id") {
              c.fk.clear();
              c.on_delete.clear();
              desc += " (and the foreign key of " + t.name + "." + c.name + ")";
            }
        std::erase_if(m.tables, [&](const Tbl& t) { return t.name == name; });
        return desc;
      }
      case add_nullable_column:
      case add_not_null_column_with_default:
      case add_foreign_key_column: {
        Tbl* t = table_where([](const Tbl& t) { return t.cols.size() < kMaxColumns; });
        if (!t) return std::nullopt;
        auto n = free_column_name(*t);
        Col c;
        if (k == add_foreign_key_column) {
          c = fk_column(*n, t->name);
        } else {
          c = random_column(*n, false);
          if (k == add_nullable_column) {
            c.nullable = true;
          } else {
            c.nullable = false;
            c.was_not_null = true;
            if (!c.def) c.def = any(default_pool(c.type));
          }
        }
        t->cols.push_back(c);
        return "add column " + t->name + "." + c.name + " " + c.type + (c.nullable ? "" : " NOT NULL") +
               (c.def ? " default " + *c.def : "") + (c.unique ? " unique" : "") + (c.fk.empty() ? "" : " -> " + c.fk);
      }
      case drop_column: {
        // Without a default, a NOT NULL column cannot be dropped: the downgrade could not add
        // it back to a table with rows. The same for a column that was NOT NULL before: the
        // downgrade would add it back NULL, and the downgrade of "make nullable" would fail.
        auto [t, c] = column_where([](const Tbl&, const Col& c) { return c.def || !c.was_not_null; });
        if (!t) return std::nullopt;
        std::string name = c->name;
        std::erase_if(t->indexes,
                      [&](const Ix& i) { return std::find(i.cols.begin(), i.cols.end(), name) != i.cols.end(); });
        std::erase_if(t->uniques,
                      [&](const Uc& u) { return std::find(u.cols.begin(), u.cols.end(), name) != u.cols.end(); });
        std::erase_if(t->cols, [&](const Col& x) { return x.name == name; });
        return "drop column " + t->name + "." + name;
      }
      case widen_string_length: {
        auto [t, c] = column_where([](const Tbl&, const Col& c) { return c.type == "string" && c.length < 255; });
        if (!t) return std::nullopt;
        std::vector<int> longer;
        for (int l : {32, 64, 128, 255})
          if (l > c->length) longer.push_back(l);
        int from = c->length;
        c->length = any(longer);
        return "widen " + t->name + "." + c->name + " string(" + std::to_string(from) + ") -> string(" +
               std::to_string(c->length) + ")";
      }
      case widen_integer_to_bigint: {
        auto [t, c] = column_where([](const Tbl&, const Col& c) { return c.type == "integer"; });
        if (!t) return std::nullopt;
        c->type = "bigint";
        return "widen " + t->name + "." + c->name + " integer -> bigint";
      }
      case widen_string_to_text: {
        auto [t, c] = column_where([](const Tbl&, const Col& c) { return c.type == "string"; });
        if (!t) return std::nullopt;
        c->type = "text";
        c->length = 0;
        return "widen " + t->name + "." + c->name + " string -> text";
      }
      case make_nullable: {
        auto [t, c] = column_where([](const Tbl&, const Col& c) { return !c.nullable; });
        if (!t) return std::nullopt;
        c->nullable = true;
        return "make " + t->name + "." + c->name + " nullable";
      }
      case set_default: {
        auto [t, c] = column_where([](const Tbl&, const Col& c) { return !c.def && !c.was_fk; });
        if (!t) return std::nullopt;
        c->def = any(default_pool(c->type));
        return "set default of " + t->name + "." + c->name + " to " + *c->def;
      }
      case change_default: {
        auto [t, c] = column_where([](const Tbl&, const Col& c) { return c.def && default_pool(c.type).size() > 1; });
        if (!t) return std::nullopt;
        std::vector<std::string> other;
        for (const auto& d : default_pool(c->type))
          if (d != *c->def) other.push_back(d);
        std::string from = *c->def;
        c->def = any(other);
        return "change default of " + t->name + "." + c->name + " from " + from + " to " + *c->def;
      }
      case remove_default: {
        auto [t, c] = column_where([](const Tbl&, const Col& c) { return c.def.has_value(); });
        if (!t) return std::nullopt;
        c->def.reset();
        return "remove default of " + t->name + "." + c->name;
      }
      case add_index:
      case add_unique_index:
      case add_unique_constraint: {
        Tbl* t = table_where([](const Tbl& t) { return t.cols.size() > 1 && t.indexes.size() + t.uniques.size() < 5; });
        if (!t) return std::nullopt;
        auto target = index_target(*t, k == add_index ? "ix" : k == add_unique_index ? "ux" : "uc");
        if (!target) return std::nullopt;
        // Two unique constraints on the same columns are refused by the engine (PostgreSQL
        // would keep only one): never generate them.
        if (k == add_unique_constraint && same_unique_exists(*t, target->second)) return std::nullopt;
        if (k == add_unique_constraint)
          t->uniques.push_back({target->first, target->second});
        else
          t->indexes.push_back({target->first, target->second, k == add_unique_index});
        return std::string(kind_name(k)) + " " + target->first + " on " + t->name + "(" + join(target->second, ", ") +
               ")";
      }
      case drop_index:
      case drop_unique_index: {
        bool unique = k == drop_unique_index;
        Tbl* t = table_where([&](const Tbl& t) {
          return std::any_of(t.indexes.begin(), t.indexes.end(), [&](const Ix& i) { return i.unique == unique; });
        });
        if (!t) return std::nullopt;
        std::vector<std::string> names;
        for (const auto& i : t->indexes)
          if (i.unique == unique) names.push_back(i.name);
        std::string name = any(names);
        std::erase_if(t->indexes, [&](const Ix& i) { return i.name == name; });
        return std::string(kind_name(k)) + " " + name + " on " + t->name;
      }
      case drop_unique_constraint: {
        Tbl* t = table_where([](const Tbl& t) { return !t.uniques.empty(); });
        if (!t) return std::nullopt;
        std::string name = any(t->uniques).name;
        std::erase_if(t->uniques, [&](const Uc& u) { return u.name == name; });
        return "drop unique constraint " + name + " on " + t->name;
      }
      case add_column_unique: {
        // Every table holds one row (or none), so any column is NULL-only or distinct.
        auto [t, c] = column_where([](const Tbl& t, const Col& c) {
          return !c.unique && c.type != "text" && !same_unique_exists(t, {c.name});
        });
        if (!t) return std::nullopt;
        c->unique = true;
        return "make " + t->name + "." + c->name + " unique (column-level)";
      }
      case drop_column_unique: {
        auto [t, c] = column_where([](const Tbl&, const Col& c) { return c.unique; });
        if (!t) return std::nullopt;
        c->unique = false;
        return "drop the column-level unique of " + t->name + "." + c->name;
      }
      case drop_foreign_key: {
        auto [t, c] = column_where([](const Tbl&, const Col& c) { return !c.fk.empty(); });
        if (!t) return std::nullopt;
        std::string ref = c->fk;
        c->fk.clear();
        c->on_delete.clear();
        return "drop the foreign key " + t->name + "." + c->name + " -> " + ref + " (column kept)";
      }
      case no_op: {
        if (m.tables.size() < 2) return std::nullopt;
        std::shuffle(m.tables.begin(), m.tables.end(), rng);
        return "no-op: tables written in another order";
      }
    }
    return std::nullopt;
  }
};

// The dump of a state reached by downgrading, made comparable with the dump of the same state
// reached by upgrading:
// - column positions are dropped: a downgrade re-adds a dropped column with ADD COLUMN, at the
//   end of the table (and PostgreSQL's ordinal positions keep the gaps of dropped columns);
// - PostgreSQL keeps a default's cast from when it was set: 'a'::character varying stays after
//   the column becomes text, while a default set on the text column reads 'a'::text.
std::string comparable_dump(const std::string& dump) {
  static const std::regex pos(R"(^column ([^ .]+)\.[0-9]+ )", std::regex::multiline);
  static const std::regex cast(R"((default='[^']*')::(character varying|text))");
  std::string s = std::regex_replace(std::regex_replace(dump, pos, "column $1."), cast, "$1");
  std::istringstream in(s);
  std::vector<std::string> lines;
  // The raw indexes (rx_<table>) and views (v_<table>, whose columns PostgreSQL's dump lists)
  // are checked on their own: a table a downgrade brings back comes back without them.
  for (std::string l; std::getline(in, l);)
    if (l.find(" rx_") == std::string::npos && l.rfind("column v_", 0) != 0) lines.push_back(l);
  std::sort(lines.begin(), lines.end());
  return join(lines, "\n") + "\n";
}

std::uint32_t env_or(const char* name, std::uint32_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10)) : fallback;
}

// The raw objects of one table: what they are called and the SQL that makes them.
struct Dress {
  std::string trigger, view, index;
  std::vector<std::string> create(bool sqlite, const std::string& t) const {
    const std::string q = "\"" + t + "\"";
    return {sqlite ? "CREATE TRIGGER " + trigger + " AFTER INSERT ON " + q +
                         " BEGIN INSERT INTO prop_log (tbl, row_id) VALUES ('" + t + "', NEW.id); END"
                   : "CREATE TRIGGER " + trigger + " AFTER INSERT ON " + q +
                         " FOR EACH ROW EXECUTE FUNCTION prop_log_row()",
            "CREATE VIEW " + view + " AS SELECT count(*) AS n FROM " + q,
            "CREATE INDEX " + index + " ON " + q + " ((id + 0))"};
  }
  static Dress of(const std::string& t) { return {"trg_" + t, "v_" + t, "rx_" + t}; }
};

// The dressed tables whose trigger, view or raw index is missing, or whose view or trigger does
// not work; "" when all are there.
std::string missing_dress(Database& db, const std::set<std::string>& dressed, const std::map<std::string, int>& rows) {
  const bool sqlite = db.backend() == "sqlite";
  std::string out;
  for (const auto& t : dressed) {
    const Dress d = Dress::of(t);
    auto count = [&](const std::string& sql) { return db.query(sql)[0][0]; };
    if (sqlite) {
      auto created = d.create(true, t);
      for (const auto& [name, sql] : {std::pair{d.trigger, created[0]}, {d.view, created[1]}, {d.index, created[2]}}) {
        std::string literal;
        for (char c : sql) literal += c == '\'' ? std::string("''") : std::string(1, c);
        if (count("SELECT count(*) FROM sqlite_master WHERE name = '" + name + "' AND sql = '" + literal + "'") != "1")
          out += name + " ";
      }
    } else {
      if (count("SELECT count(*) FROM pg_trigger WHERE tgname = '" + d.trigger + "' AND NOT tgisinternal") != "1")
        out += d.trigger + " ";
      if (count("SELECT count(*) FROM pg_views WHERE viewname = '" + d.view + "'") != "1") out += d.view + " ";
      if (count("SELECT count(*) FROM pg_indexes WHERE indexname = '" + d.index + "'") != "1") out += d.index + " ";
    }
    if (out.empty()) {
      auto it = rows.find(t);
      if (it != rows.end() && count("SELECT n FROM " + d.view) != std::to_string(it->second))
        out += d.view + " (wrong count) ";
      if (count("SELECT count(*) FROM prop_log WHERE tbl = '" + t + "'") != "1")
        out += d.trigger + " (did not log the insert) ";
    }
  }
  return out;
}

}  // namespace

TEST_SUITE("fastappkit::e2e") {
  TEST_CASE_TEMPLATE("autogenerate property: random model edits upgrade, check clean, keep rows and downgrade back", B,
                     Sqlite, Postgresql) {
    const std::uint32_t seed = env_or("FASTAPPKIT_PROPERTY_SEED", kDefaultSeed);
    const int steps = static_cast<int>(env_or("FASTAPPKIT_PROPERTY_STEPS", kDefaultSteps));
    const auto started = std::chrono::steady_clock::now();

    TempDir dir;
    const fs::path root = dir.path / "project";
    copy_tree(source_dir() / "tests" / "fixtures" / "seed-workflow", root);
    auto db = make_database<B>(dir.path);
    struct Keep {
      fs::path from;
      ~Keep() {
        if (const char* k = std::getenv("FASTAPPKIT_PROPERTY_KEEP")) {
          std::error_code ec;
          fs::remove_all(k, ec);
          fs::copy(from, k, fs::copy_options::recursive, ec);
        }
      }
    } keep{root};
    const fs::path models_file = root / "apps" / "blog" / "models.toml";
    const fs::path versions = root / "core" / "db" / "migrations" / "versions";
    auto run = [&](const std::vector<std::string>& args) {
      return fastappkit(args, root, {{"DATABASE_URL", db->url()}});
    };
    auto count_rows = [&](const std::string& t) {
      return std::stoi(db->query("SELECT COUNT(*) FROM \"" + t + "\"")[0][0]);
    };

    INFO("backend ", std::string(B::name), ", seed ", seed, " (FASTAPPKIT_PROPERTY_SEED=", seed, " reproduces it)");
    {
      auto r = run({"migrate", "upgrade"});
      REQUIRE_MESSAGE(r.code == 0, "stdout:\n" << r.out << "\nstderr:\n" << r.err);
      // The log the tables' triggers write to is a model of its own (so check knows it).
      const fs::path auth = root / "apps" / "auth" / "models.toml";
      write_file(auth, read_file(auth) +
                           "\n[[tables]]\nname = \"prop_log\"\ncolumns = [\n  { name = \"id\", type = \"integer\", "
                           "primary_key = true },\n"
                           "  { name = \"tbl\", type = \"string\", length = 16 },\n  { name = \"row_id\", type = "
                           "\"integer\" },\n]\n");
      r = run({"migrate", "app", "auth", "makemigrations", "-m", "prop_log"});
      REQUIRE_MESSAGE(r.code == 0, "stdout:\n" << r.out << "\nstderr:\n" << r.err);
      r = run({"migrate", "upgrade"});
      REQUIRE_MESSAGE(r.code == 0, "stdout:\n" << r.out << "\nstderr:\n" << r.err);
      if (db->backend() == "postgresql")
        db->exec(
            "CREATE FUNCTION prop_log_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO prop_log (tbl, "
            "row_id) "
            "VALUES (TG_TABLE_NAME, NEW.id); RETURN NEW; END $$");
    }
    std::set<std::string> dressed;  // tables that carry a trigger, a view and a raw index
    // A table about to be dropped loses its view first, as its owner would drop it (SQLite keeps a
    // view on a missing table, which no later rename accepts; PostgreSQL refuses the drop).
    auto undress_missing = [&](const std::set<std::string>& remaining) {
      for (auto it = dressed.begin(); it != dressed.end();) {
        if (remaining.count(*it)) {
          ++it;
          continue;
        }
        db->exec("DROP VIEW " + Dress::of(*it).view);
        db->exec("DELETE FROM prop_log WHERE tbl = '" + *it + "'");
        it = dressed.erase(it);
      }
    };

    Generator g(seed);
    // One entry per revision state: index 0 is the fixture's head, then one per generated revision.
    std::vector<std::string> dumps{db->schema_dump()};
    std::vector<std::set<std::string>> tables_at{{}};
    std::vector<int> revision_step{0};
    std::vector<int> revisions_of{0};  // files an edit wrote: several on PostgreSQL (online-safe split)
    std::map<std::string, int> rows;   // blog table -> expected row count
    std::vector<int> kind_counts(kind_count, 0);

    for (int step = 1; step <= steps; ++step) {
      INFO("step ", step, " of ", steps);
      const std::string before = to_toml(g.m);
      std::string created, desc;
      int kind = 0;
      for (int attempt = 0; desc.empty(); ++attempt) {
        REQUIRE(attempt < 1000);
        // The first steps build some tables; then every kind is equally likely.
        kind = step <= 3 ? add_table : static_cast<int>(g.pick(kind_count));
        // In the second half, a kind not seen yet goes first, so every seed covers every kind.
        if (step > steps / 2 && attempt < 20) {
          std::vector<int> unseen;
          for (int k = 0; k < kind_count; ++k)
            if (kind_counts[k] == 0) unseen.push_back(k);
          if (!unseen.empty()) kind = g.any(unseen);
        }
        Models saved = g.m;
        if (auto d = g.apply(kind, created))
          desc = *d;
        else
          g.m = saved;  // an edit that does not apply leaves the models as they were
      }
      ++kind_counts[kind];

      const std::string after = to_toml(g.m);
      write_file(models_file, after);
      if (std::getenv("FASTAPPKIT_PROPERTY_KEEP"))
        write_file(root / "history" / (std::to_string(step) + ".toml"), after);
      INFO("edit: ", desc);

      const std::string msg = "step" + std::to_string(step);
      auto revision_text = [&]() -> std::string {
        for (const auto& e : fs::directory_iterator(versions)) {
          std::string f = e.path().filename().string();
          if (f.size() > msg.size() + 6 && f.substr(f.size() - msg.size() - 6) == "_" + msg + ".toml")
            return f + ":\n" + read_file(e.path());
        }
        return "(no revision file for " + msg + ")";
      };
      auto report = [&](const std::string& command, const RunResult& r) {
        std::ostringstream s;
        s << "seed " << seed << ", step " << step << ", edit: " << desc << "\n--- models.toml before:\n"
          << before << "--- models.toml after:\n"
          << after << "--- revision " << revision_text() << "\n--- command: fastappkit " << command << "\n--- exit "
          << r.code << ", stdout:\n"
          << r.out << "--- stderr:\n"
          << r.err;
        return s.str();
      };

      auto gen = run({"migrate", "app", "blog", "makemigrations", "-m", msg});
      REQUIRE_MESSAGE(gen.code == 0, report("migrate app blog makemigrations -m " + msg, gen));
      if (kind == no_op) {
        REQUIRE_MESSAGE(gen.out.find("No changes detected") != std::string::npos,
                        report("migrate app blog makemigrations -m " + msg, gen));
      } else {
        REQUIRE_MESSAGE(gen.out.find("Generated ") != std::string::npos,
                        report("migrate app blog makemigrations -m " + msg, gen));
      }
      undress_missing(g.m.names());
      auto up = run({"migrate", "upgrade"});
      REQUIRE_MESSAGE(up.code == 0, report("migrate upgrade", up));
      auto check = run({"migrate", "check"});
      REQUIRE_MESSAGE(check.code == 0, report("migrate check", check));

      // Rows: every table keeps its row; a new table gets one.
      for (auto it = rows.begin(); it != rows.end();) it = g.m.find(it->first) ? std::next(it) : rows.erase(it);
      if (!created.empty()) {
        const Tbl& t = *g.m.find(created);
        std::vector<std::string> cols, values;
        for (const auto& c : t.cols)
          if (!c.primary_key && c.fk.empty()) {
            cols.push_back("\"" + c.name + "\"");
            values.push_back(value_for(c.type));
          }
        for (const auto& sql : Dress::of(created).create(db->backend() == "sqlite", created)) db->exec(sql);
        dressed.insert(created);
        db->exec(cols.empty() ? "INSERT INTO \"" + created + "\" DEFAULT VALUES"
                              : "INSERT INTO \"" + created + "\" (" + join(cols, ", ") + ") VALUES (" +
                                    join(values, ", ") + ")");
        rows[created] = 1;
      }
      for (const auto& row : rows)  // not a structured binding: doctest's message captures it (clang 14)
        CHECK_MESSAGE(count_rows(row.first) == row.second,
                      "table " << row.first << " after step " << step << " (" << desc << ")");
      {
        const std::string missing = missing_dress(*db, dressed, rows);
        CHECK_MESSAGE(missing.empty(),
                      "after step " << step << " (" << desc << ") these raw objects are gone or broken: " << missing);
      }

      if (kind != no_op) {
        dumps.push_back(db->schema_dump());
        tables_at.push_back(g.m.names());
        revision_step.push_back(step);
        int files = 0;
        for (std::size_t at = gen.out.find("Generated "); at != std::string::npos;
             at = gen.out.find("Generated ", at + 1))
          ++files;
        revisions_of.push_back(files);
      }
    }
    const auto upgraded = std::chrono::steady_clock::now();

    for (int k = 0; k < kind_count; ++k)
      CHECK_MESSAGE(kind_counts[k] > 0,
                    "the sequence never made an edit of kind '" << std::string(kind_name(k)) << "'");

    // All the way back, one revision at a time.
    for (std::size_t i = dumps.size() - 1; i >= 1; --i) {
      INFO("downgrading the revision of step ", revision_step[i], " (", i, " revisions left)");
      undress_missing(tables_at[i - 1]);
      auto down = run({"migrate", "downgrade", "-" + std::to_string(revisions_of[i])});
      REQUIRE_MESSAGE(down.code == 0, "fastappkit migrate downgrade -N\nstdout:\n"
                                          << down.out << "\nstderr:\n"
                                          << down.err);
      const std::string dump = db->schema_dump();
      CHECK_MESSAGE(comparable_dump(dump) == comparable_dump(dumps[i - 1]), "after downgrade:\n"
                                                                                << dump
                                                                                << "\nexpected (the dump after step "
                                                                                << revision_step[i - 1] << "):\n"
                                                                                << dumps[i - 1]);
      // Tables the revision created are gone; tables it dropped come back empty.
      for (auto it = rows.begin(); it != rows.end();)
        it = tables_at[i - 1].count(it->first) ? std::next(it) : rows.erase(it);
      for (const auto& t : tables_at[i - 1])
        if (!tables_at[i].count(t)) rows[t] = 0;
      for (const auto& row : rows)
        CHECK_MESSAGE(count_rows(row.first) == row.second,
                      "table " << row.first << " after downgrading step " << revision_step[i]);
      {
        const std::string missing = missing_dress(*db, dressed, rows);
        CHECK_MESSAGE(missing.empty(), "after downgrading step "
                                           << revision_step[i] << " these raw objects are gone or broken: " << missing);
      }
    }
    auto check = run({"migrate", "current"});
    CHECK(check.code == 0);

    const auto done = std::chrono::steady_clock::now();
    auto secs = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count() / 1000.0; };
    MESSAGE(std::string(B::name) << ": " << steps << " edits (" << dumps.size() - 1 << " revisions) in "
                                 << secs(upgraded - started) << " s, downgrades in " << secs(done - upgraded) << " s");
  }

}  // TEST_SUITE
