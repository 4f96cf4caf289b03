// The catalog adopt reads and compares (db/catalog.hpp). Every query reads the catalog only.
#include "fastappkit/db/catalog.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include "fastappkit/sql/render.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::db {

namespace {

bool own_table(const std::string& name) {
  return name.rfind("alembic_version", 0) == 0 || name == "fastappkit_history" ||
         name.rfind("_fastappkit_tmp_", 0) == 0 || name.rfind("sqlite_", 0) == 0;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Runs of white space as one space, none at either end: how two definitions that differ only
// in layout compare equal.
std::string squeeze(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else
      out += c;
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string value(const std::optional<std::string>& v) { return v ? *v : std::string("NULL"); }

// ---------------------------------------------------------------------------------------------
// SQLite

// The affinity SQLite gives a declared type (https://www.sqlite.org/datatype3.html, 3.1
// "Determination Of Column Affinity"): all it keeps of the declaration.
std::string sqlite_affinity(const std::string& declared) {
  const std::string t = upper(declared);
  if (t.find("INT") != std::string::npos) return "INTEGER";
  if (t.find("CHAR") != std::string::npos || t.find("CLOB") != std::string::npos || t.find("TEXT") != std::string::npos)
    return "TEXT";
  if (t.find("BLOB") != std::string::npos || t.empty()) return "BLOB";
  if (t.find("REAL") != std::string::npos || t.find("FLOA") != std::string::npos || t.find("DOUB") != std::string::npos)
    return "REAL";
  return "NUMERIC";
}

// What a CREATE TABLE statement says that SQLite's pragmas do not: CHECK conditions, column
// collations, AUTOINCREMENT. A token scan of the statement (string literals, quoted names and
// comments skipped), not a parser: it only needs the top-level items of the column list.
struct TableText {
  // (name or "", condition as written with white space squeezed)
  std::vector<std::pair<std::string, std::string>> checks;
  std::map<std::string, std::string> collations;  // column -> COLLATE name, upper case
  bool autoincrement = false;
};

struct Token {
  std::string text;  // a word (upper case), a name (unquoted) or one punctuation character
  bool word = false;
  std::size_t begin = 0, end = 0;
};

std::vector<Token> tokens_of(const std::string& sql) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      while (i < sql.size() && sql[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      auto e = sql.find("*/", i + 2);
      i = e == std::string::npos ? sql.size() : e + 2;
    } else if (c == '\'' || c == '"' || c == '`' || c == '[') {
      const char close = c == '[' ? ']' : c;
      std::string text;
      std::size_t j = i + 1;
      for (; j < sql.size(); ++j) {
        if (sql[j] == close) {
          if (close != ']' && j + 1 < sql.size() && sql[j + 1] == close) {
            text += close;
            ++j;
            continue;
          }
          break;
        }
        text += sql[j];
      }
      out.push_back({c == '\'' ? std::string("'") : text, false, i, std::min(j + 1, sql.size())});
      i = std::min(j + 1, sql.size());
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      std::size_t j = i;
      while (j < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[j])) || sql[j] == '_' || sql[j] == '$'))
        ++j;
      out.push_back({upper(sql.substr(i, j - i)), true, i, j});
      i = j;
    } else {
      out.push_back({std::string(1, c), false, i, i + 1});
      ++i;
    }
  }
  return out;
}

TableText scan_create_table(const std::string& sql) {
  TableText out;
  auto toks = tokens_of(sql);
  std::size_t i = 0;
  while (i < toks.size() && toks[i].text != "(") ++i;
  ++i;
  // The items of the column list, split at top-level commas.
  std::vector<std::pair<std::size_t, std::size_t>> items;
  std::size_t start = i;
  int depth = 0;
  for (; i < toks.size(); ++i) {
    const auto& t = toks[i].text;
    if (t == "(") {
      ++depth;
    } else if (t == ")") {
      if (depth == 0) break;
      --depth;
    } else if (t == "," && depth == 0) {
      items.emplace_back(start, i);
      start = i + 1;
    }
  }
  items.emplace_back(start, i);
  static const std::set<std::string> table_constraint = {"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"};
  for (const auto& [b, e] : items) {
    if (b >= e) continue;
    const bool column = !(toks[b].word && table_constraint.count(toks[b].text));
    const std::string column_name =
        toks[b].word ? sql.substr(toks[b].begin, toks[b].end - toks[b].begin) : toks[b].text;
    int d = 0;
    for (std::size_t k = b; k < e; ++k) {
      const auto& t = toks[k];
      if (t.text == "(") ++d;
      if (t.text == ")") --d;
      if (d != 0 || !t.word) continue;
      if (t.text == "CHECK" && k + 1 < e && toks[k + 1].text == "(") {
        int pd = 0;
        std::size_t m = k + 1;
        for (; m < e; ++m) {
          if (toks[m].text == "(") ++pd;
          if (toks[m].text == ")" && --pd == 0) break;
        }
        std::string name;
        if (k >= b + 2 && toks[k - 2].word && toks[k - 2].text == "CONSTRAINT")
          name =
              toks[k - 1].word ? sql.substr(toks[k - 1].begin, toks[k - 1].end - toks[k - 1].begin) : toks[k - 1].text;
        if (m < e) out.checks.emplace_back(name, squeeze(sql.substr(toks[k + 1].end, toks[m].begin - toks[k + 1].end)));
      } else if (t.text == "COLLATE" && column && k + 1 < e) {
        out.collations[column_name] = upper(toks[k + 1].text);
      } else if (t.text == "AUTOINCREMENT") {
        out.autoincrement = true;
      }
    }
  }
  return out;
}

void read_sqlite(Connection& conn, Catalog& cat) {
  auto& facts = cat.facts;
  int unnamed_checks = 0;
  for (const auto& r : conn.query("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid")) {
    const std::string type = value(r[0]), name = value(r[1]), table = value(r[2]);
    if (own_table(name) || own_table(table)) continue;
    if (type == "table") {
      const std::string sql = r[3].value_or("");
      auto text = scan_create_table(sql);
      std::string shape;
      for (const auto& t : conn.query("SELECT wr, strict FROM pragma_table_list(?) WHERE schema = 'main'", {name}))
        shape = "without_rowid=" + value(t[0]) + " strict=" + value(t[1]);
      facts["table " + name] = shape + (text.autoincrement ? " autoincrement" : "");
      const auto xinfo = conn.query(
          "SELECT cid, name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?) ORDER BY cid",
          {name});
      std::vector<std::string> key;
      std::string first_key_type;
      for (const auto& c : xinfo) {
        if (c[5].value_or("0") == "1") first_key_type = upper(c[2].value_or(""));
        if (c[5].value_or("0") != "0") key.push_back(value(c[1]));
      }
      // A key declared exactly INTEGER is the rowid itself
      // (https://www.sqlite.org/lang_createtable.html#rowid): it never holds NULL, whatever its
      // NOT NULL says, so that is not compared.
      std::string rowid_alias;
      if (key.size() == 1 && first_key_type == "INTEGER" && shape.find("without_rowid=0") == 0) {
        rowid_alias = key[0];
        facts["table " + name] += " rowid alias " + rowid_alias;
      }
      for (const auto& c : xinfo) {
        const std::string col = value(c[1]);
        auto coll = text.collations.find(col);
        facts["column " + name + "." + col] =
            "position " + value(c[0]) + ", affinity " + sqlite_affinity(c[2].value_or("")) + ", not null " +
            (col == rowid_alias ? std::string("(rowid)") : value(c[3])) + ", default " +
            (c[4] ? sql::normalize_default(*c[4]) : std::string("none")) + ", primary key position " + value(c[5]) +
            ", hidden " + value(c[6]) + (coll == text.collations.end() ? std::string() : ", collate " + coll->second);
      }
      std::vector<std::string> checks;
      for (const auto& [n, c] : text.checks) checks.push_back(c);
      std::sort(checks.begin(), checks.end());
      for (std::size_t k = 0; k < checks.size(); ++k) facts["check " + name + " #" + std::to_string(k + 1)] = checks[k];
      // The model carries checks by name; SQLite keeps none in its catalog (only in the
      // statement), so unnamed ones get one here and the facts compare conditions only.
      if (auto it = cat.schema.tables.find(name); it != cat.schema.tables.end())
        for (const auto& [n, c] : text.checks)
          it->second.checks.push_back(
              {n.empty() ? "ck_" + name + "_" + std::to_string(++unnamed_checks) : n, c, false});
      std::map<std::string, std::vector<Row>> fks;
      for (const auto& f : conn.query("SELECT id, \"table\", \"from\", \"to\", on_update, on_delete, \"match\" FROM "
                                      "pragma_foreign_key_list(?) ORDER BY id, seq",
                                      {name}))
        fks[value(f[0])].push_back(f);
      for (const auto& [id, rows] : fks) {
        std::vector<std::string> from, to;
        for (const auto& f : rows) {
          from.push_back(value(f[2]));
          to.push_back(value(f[3]));
        }
        const auto& f = rows.front();
        facts["foreign key " + name + "(" + util::join(from, ", ") + ")"] =
            "references " + value(f[1]) + "(" + util::join(to, ", ") + ") on update " + value(f[4]) + " on delete " +
            value(f[5]) + " match " + value(f[6]);
      }
      for (const auto& ix : conn.query("SELECT name, \"unique\", origin, partial FROM pragma_index_list(?)", {name})) {
        const std::string origin = value(ix[2]);
        if (origin == "pk") continue;  // the columns' primary key positions say it
        std::vector<std::string> cols;
        for (const auto& c : conn.query(
                 "SELECT name, \"desc\", coll FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno", {value(ix[0])}))
          cols.push_back(value(c[0]) + (c[1].value_or("0") == "1" ? " DESC" : "") + " " + value(c[2]));
        if (origin == "u")
          facts["unique " + name + "(" + util::join(cols, ", ") + ")"] = "unique";
        else if (ix[3].value_or("0") == "0")
          facts["index " + value(ix[0])] =
              "on " + name + " unique " + value(ix[1]) + " (" + util::join(cols, ", ") + ")";
      }
    } else if (type == "index" && r[3]) {
      // A partial or expression index: its statement is its definition (ordinary indexes are
      // model indexes, read above from the pragmas).
      bool model = true;
      for (const auto& ix : conn.query("SELECT partial FROM pragma_index_list(?) WHERE name = ?", {table, name}))
        model = ix[0].value_or("0") == "0";
      for (const auto& c : conn.query("SELECT cid FROM pragma_index_info(?)", {name}))
        model = model && c[0].value_or("") != "-2";
      if (model) continue;
      facts["index " + name] = squeeze(*r[3]);
      cat.carried.push_back({"index", name, {*r[3]}, {"DROP INDEX " + sql::quote_ident(name)}, false});
    } else if ((type == "view" || type == "trigger") && r[3]) {
      facts[type + " " + name] = squeeze(*r[3]);
      cat.carried.push_back({type, name, {*r[3]}, {"DROP " + upper(type) + " " + sql::quote_ident(name)}, false});
    }
  }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL (every query is on current_schema(): the URL's ?schema= or the search path's first)

const char* kSchema = "n.nspname = current_schema()";

std::string own_filter(const std::string& rel) {
  return rel + ".relname NOT LIKE 'alembic\\_version%' AND " + rel + ".relname <> 'fastappkit_history'";
}

// Objects that belong to an extension are the extension's: CREATE EXTENSION makes them.
std::string not_from_extension(const std::string& classid, const std::string& oid) {
  return "NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.classid = '" + classid +
         "'::regclass AND dep.objid = " + oid + " AND dep.deptype = 'e')";
}

// `def` without the schema qualification PostgreSQL writes after each of `after` (pg_get_indexdef,
// pg_get_triggerdef and pg_get_functiondef always qualify the objects they name, see the
// PostgreSQL documentation of System Information Functions): the base revision creates them in
// whichever schema it runs in, as it does the tables. Only those places change: a body is left
// as written.
std::string unqualified(std::string def, const std::string& schema, std::initializer_list<const char*> after) {
  const std::string plain = schema + ".", quoted = sql::quote_ident(schema) + ".";
  for (const char* a : after) {
    const std::string marker(a);
    auto at = def.find(marker);
    if (at == std::string::npos) continue;
    const auto from = at + marker.size();
    if (def.compare(from, quoted.size(), quoted) == 0)
      def.erase(from, quoted.size());
    else if (def.compare(from, plain.size(), plain) == 0)
      def.erase(from, plain.size());
  }
  return def;
}

void read_postgresql(Connection& conn, Catalog& cat) {
  auto& facts = cat.facts;
  auto q = [&](const std::string& sql) { return conn.query(sql); };
  auto qi = [](const std::string& s) { return sql::quote_ident(s); };
  std::string schema;
  for (const auto& r : q("SELECT current_schema()")) schema = value(r[0]);

  for (const auto& r : q("SELECT extname, extversion FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY extname")) {
    facts["extension " + value(r[0])] = "installed";
    cat.carried.push_back({"extension",
                           value(r[0]),
                           {"CREATE EXTENSION IF NOT EXISTS " + qi(value(r[0]))},
                           {"DROP EXTENSION IF EXISTS " + qi(value(r[0]))},
                           true});
  }
  // Enum and domain types.
  for (const auto& r : q("SELECT t.typname, t.typtype, (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY "
                         "e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), format_type(t.typbasetype, "
                         "t.typtypmod), t.typnotnull, t.typdefault, (SELECT string_agg('CONSTRAINT ' || "
                         "quote_ident(c.conname) || ' ' || pg_get_constraintdef(c.oid), ' ' ORDER BY c.conname) FROM "
                         "pg_constraint c WHERE c.contypid = t.oid) FROM pg_type t JOIN pg_namespace n ON n.oid = "
                         "t.typnamespace WHERE " +
                         std::string(kSchema) + " AND t.typtype IN ('e', 'd') AND " +
                         not_from_extension("pg_type", "t.oid") + " ORDER BY t.oid")) {
    const std::string name = value(r[0]);
    std::string create;
    if (value(r[1]) == "e") {
      create = "CREATE TYPE " + qi(name) + " AS ENUM (" + r[2].value_or("") + ")";
      facts["type " + name] = "enum (" + r[2].value_or("") + ")";
    } else {
      create = "CREATE DOMAIN " + qi(name) + " AS " + value(r[3]);
      if (r[5]) create += " DEFAULT " + *r[5];
      if (r[4].value_or("f") == "t") create += " NOT NULL";
      if (r[6]) create += " " + *r[6];
      facts["type " + name] = "domain " + create;
    }
    cat.carried.push_back(
        {value(r[1]) == "e" ? "enum type" : "domain", name, {create}, {"DROP TYPE " + qi(name)}, true});
  }
  // Sequences: what each is, and who owns it (a serial or identity column, or nobody).
  std::map<std::string, std::string> owner_of;  // sequence -> "table.column"
  for (const auto& r :
       q("SELECT s.relname, t.relname, a.attname, dep.deptype FROM pg_class s JOIN pg_namespace n ON "
         "n.oid = s.relnamespace JOIN pg_depend dep ON dep.classid = 'pg_class'::regclass AND dep.objid "
         "= s.oid AND dep.deptype IN ('a', 'i') JOIN pg_class t ON t.oid = dep.refobjid JOIN "
         "pg_attribute a ON a.attrelid = t.oid AND a.attnum = dep.refobjsubid WHERE " +
         std::string(kSchema) + " AND s.relkind = 'S'"))
    owner_of[value(r[0])] = value(r[1]) + "." + value(r[2]) + (value(r[3]) == "i" ? " (identity)" : "");
  std::map<std::string, std::string> sequence_options;  // sequence -> "AS ... CYCLE"
  for (const auto& r :
       q("SELECT c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, "
         "s.seqcache, s.seqcycle FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON "
         "n.oid = c.relnamespace WHERE " +
         std::string(kSchema) + " AND " + not_from_extension("pg_class", "c.oid") + " ORDER BY c.oid")) {
    const std::string name = value(r[0]);
    auto owner = owner_of.find(name);
    if (owner != owner_of.end() && own_table(owner->second.substr(0, owner->second.find('.')))) continue;
    const std::string options = "AS " + value(r[1]) + " INCREMENT BY " + value(r[3]) + " MINVALUE " + value(r[4]) +
                                " MAXVALUE " + value(r[5]) + " START WITH " + value(r[2]) + " CACHE " + value(r[6]) +
                                (value(r[7]) == "t" ? " CYCLE" : " NO CYCLE");
    sequence_options[name] = options;
    facts["sequence " + name] = options + (owner == owner_of.end() ? "" : ", owned by " + owner->second);
    if (owner == owner_of.end())
      cat.carried.push_back(
          {"sequence", name, {"CREATE SEQUENCE " + qi(name) + " " + options}, {"DROP SEQUENCE " + qi(name)}, true});
  }
  // Functions and procedures (their definitions may name tables: PostgreSQL checks a body only
  // when it runs, SQL-language bodies aside).
  for (const auto& r : q("SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid), "
                         "p.prokind FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE " +
                         std::string(kSchema) + " AND p.prokind IN ('f', 'p') AND " +
                         not_from_extension("pg_proc", "p.oid") + " ORDER BY p.oid")) {
    const std::string signature = value(r[0]) + "(" + value(r[1]) + ")";
    const std::string kind = value(r[3]) == "p" ? "PROCEDURE" : "FUNCTION";
    const std::string def = unqualified(value(r[2]), schema, {" FUNCTION ", " PROCEDURE "});
    facts["function " + signature] = squeeze(def);
    cat.carried.push_back({kind == "PROCEDURE" ? "procedure" : "function",
                           signature,
                           {def},
                           {"DROP " + kind + " " + qi(value(r[0])) + "(" + value(r[1]) + ")"},
                           true});
  }
  // Tables and their columns as PostgreSQL stores them.
  for (const auto& r : q("SELECT c.relname, c.relkind, c.relpersistence, array_to_string(c.reloptions, ',') FROM "
                         "pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE " +
                         std::string(kSchema) + " AND c.relkind IN ('r', 'p') AND " + own_filter("c")))
    facts["table " + value(r[0])] =
        "kind " + value(r[1]) + ", persistence " + value(r[2]) + ", options " + r[3].value_or("");
  for (const auto& r :
       q("SELECT c.relname, a.attname, row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum), "
         "format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity, "
         "a.attgenerated, CASE WHEN a.attcollation <> t.typcollation THEN co.collname END FROM pg_class c JOIN "
         "pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid JOIN pg_type t ON t.oid "
         "= a.atttypid LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum LEFT JOIN pg_collation co "
         "ON co.oid = a.attcollation WHERE " +
         std::string(kSchema) + " AND c.relkind IN ('r', 'p') AND " + own_filter("c") +
         " AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum")) {
    const std::string table = value(r[0]), column = value(r[1]);
    const std::string identity = r[6].value_or(""), def = r[5].value_or("");
    facts["column " + table + "." + column] = "position " + value(r[2]) + ", type " + value(r[3]) + ", not null " +
                                              value(r[4]) + ", default " + (r[5] ? def : "none") + ", identity " +
                                              identity + ", generated " + r[7].value_or("") + ", collation " +
                                              r[8].value_or("default");
    // What the typed table would make of this column, and what turns it into what it is.
    auto it = cat.schema.tables.find(table);
    if (it == cat.schema.tables.end()) continue;
    const migration::Column* col = it->second.find_column(column);
    if (!col) continue;
    const bool made_identity = sql::is_identity(it->second, *col);
    const std::string at = "ALTER TABLE " + qi(table) + " ALTER COLUMN " + qi(column);
    const std::string who = table + "." + column;
    std::string sequence;  // a serial's: nextval('name'::regclass)
    if (def.rfind("nextval('", 0) == 0) {
      auto end = def.find('\'', 9);
      sequence = def.substr(9, end == std::string::npos ? 0 : end - 9);
      if (sequence.size() > 1 && sequence.front() == '"') sequence = sequence.substr(1, sequence.size() - 2);
    }
    CarriedObject fix{"", who, {}, {}, false};
    auto owner = owner_of.find(sequence);
    const bool serial = !sequence.empty() && owner != owner_of.end() && owner->second == who;
    if (!sequence.empty() && !serial && identity.empty() && !made_identity) {
      // A default drawn from a sequence the column does not own (reflect leaves nextval out).
      fix.kind = "sequence default";
      fix.create = {at + " SET DEFAULT " + def};
      fix.drop = {at + " DROP DEFAULT"};
    } else if (serial && identity.empty()) {
      fix.kind = "serial column";
      if (made_identity) fix.create.push_back(at + " DROP IDENTITY");
      auto opts = sequence_options.find(sequence);
      fix.create.push_back("CREATE SEQUENCE " + qi(sequence) + " " +
                           (opts == sequence_options.end() ? std::string() : opts->second + " ") + "OWNED BY " +
                           qi(table) + "." + qi(column));
      fix.create.push_back(at + " SET DEFAULT " + def);
      fix.drop = {at + " DROP DEFAULT", "DROP SEQUENCE " + qi(sequence)};
      if (made_identity) fix.drop.push_back(at + " ADD GENERATED BY DEFAULT AS IDENTITY");
    } else if (made_identity && identity.empty()) {
      fix.kind = "key column without identity";
      fix.create = {at + " DROP IDENTITY"};
      fix.drop = {at + " ADD GENERATED BY DEFAULT AS IDENTITY"};
    } else if (made_identity && identity == "a") {
      fix.kind = "identity column (always)";
      fix.create = {at + " SET GENERATED ALWAYS"};
      fix.drop = {at + " SET GENERATED BY DEFAULT"};
    } else if (!made_identity && !identity.empty()) {
      fix.kind = "identity column";
      fix.create = {at + " ADD GENERATED " + std::string(identity == "a" ? "ALWAYS" : "BY DEFAULT") + " AS IDENTITY"};
      fix.drop = {at + " DROP IDENTITY"};
    }
    if (!fix.kind.empty()) cat.carried.push_back(std::move(fix));
  }
  // Constraints by name, with PostgreSQL's own definition; CHECKs into the model too.
  for (const auto& r : q("SELECT c.relname, con.conname, con.contype, pg_get_constraintdef(con.oid), con.convalidated "
                         "FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid "
                         "= c.relnamespace WHERE " +
                         std::string(kSchema) + " AND " + own_filter("c") + " ORDER BY c.relname, con.conname")) {
    const std::string table = value(r[0]), name = value(r[1]), def = value(r[3]);
    facts["constraint " + table + "." + name] = def;
    if (value(r[2]) != "c") continue;
    auto it = cat.schema.tables.find(table);
    auto open = def.find('('), close = def.rfind(')');
    if (it != cat.schema.tables.end() && def.rfind("CHECK ", 0) == 0 && open != std::string::npos &&
        close != std::string::npos && close > open)
      it->second.checks.push_back({name, def.substr(open + 1, close - open - 1), value(r[4]) != "t"});
  }
  // Indexes that no constraint owns; those the model cannot hold are carried.
  for (const auto& r : q("SELECT ic.relname, pg_get_indexdef(i.indexrelid), i.indexprs IS NOT NULL OR i.indpred IS "
                         "NOT NULL FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid "
                         "= c.relnamespace JOIN pg_class ic ON ic.oid = i.indexrelid WHERE " +
                         std::string(kSchema) + " AND " + own_filter("c") +
                         " AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid) ORDER BY "
                         "i.indexrelid")) {
    const std::string def = unqualified(value(r[1]), schema, {" ON ONLY ", " ON "});
    facts["index " + value(r[0])] = def;
    if (value(r[2]) == "t")
      cat.carried.push_back({"index", value(r[0]), {def}, {"DROP INDEX " + qi(value(r[0]))}, false});
  }
  // Views and materialized views, in the order they were made (a view on a view after it).
  for (const auto& r : q("SELECT c.relname, c.relkind, pg_get_viewdef(c.oid) FROM pg_class c JOIN pg_namespace n ON "
                         "n.oid = c.relnamespace WHERE " +
                         std::string(kSchema) + " AND c.relkind IN ('v', 'm') AND " +
                         not_from_extension("pg_class", "c.oid") + " ORDER BY c.oid")) {
    const bool materialized = value(r[1]) == "m";
    const std::string name = value(r[0]);
    std::string body = value(r[2]);
    while (!body.empty() && (body.back() == ';' || std::isspace(static_cast<unsigned char>(body.back()))))
      body.pop_back();
    facts[std::string(materialized ? "materialized view " : "view ") + name] = squeeze(body);
    cat.carried.push_back({materialized ? "materialized view" : "view",
                           name,
                           {std::string(materialized ? "CREATE MATERIALIZED VIEW " : "CREATE VIEW ") + qi(name) +
                            " AS " + body + (materialized ? " WITH NO DATA" : "")},
                           {std::string(materialized ? "DROP MATERIALIZED VIEW " : "DROP VIEW ") + qi(name)},
                           false});
  }
  for (const auto& r : q("SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON "
                         "c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE " +
                         std::string(kSchema) + " AND NOT t.tgisinternal ORDER BY t.oid")) {
    const std::string def = unqualified(value(r[2]), schema, {" ON ", " EXECUTE FUNCTION ", " EXECUTE PROCEDURE "});
    facts["trigger " + value(r[0]) + "." + value(r[1])] = def;
    cat.carried.push_back({"trigger",
                           value(r[0]) + "." + value(r[1]),
                           {def},
                           {"DROP TRIGGER " + qi(value(r[1])) + " ON " + qi(value(r[0]))},
                           false});
  }
  // Comments on tables, views, and their columns.
  for (const auto& r : q("SELECT c.relname, c.relkind, a.attname, d.description FROM pg_description d JOIN pg_class c "
                         "ON d.classoid = 'pg_class'::regclass AND d.objoid = c.oid JOIN pg_namespace n ON n.oid = "
                         "c.relnamespace LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid AND "
                         "d.objsubid > 0 WHERE " +
                         std::string(kSchema) + " AND c.relkind IN ('r', 'p', 'v', 'm') AND " + own_filter("c") +
                         " ORDER BY c.relname, d.objsubid")) {
    const std::string kind = value(r[1]) == "v" ? "VIEW" : value(r[1]) == "m" ? "MATERIALIZED VIEW" : "TABLE";
    const std::string target = r[2] ? "COLUMN " + qi(value(r[0])) + "." + qi(*r[2]) : kind + " " + qi(value(r[0]));
    const std::string name = value(r[0]) + (r[2] ? "." + *r[2] : "");
    facts["comment on " + name] = value(r[3]);
    cat.carried.push_back({"comment",
                           name,
                           {"COMMENT ON " + target + " IS " + sql::quote_literal(value(r[3]))},
                           {"COMMENT ON " + target + " IS NULL"},
                           false});
  }
}

}  // namespace

Catalog read_catalog(Connection& conn) {
  Catalog cat;
  cat.schema = conn.reflect(&cat.unmapped);
  if (conn.dialect() == sql::Dialect::sqlite)
    read_sqlite(conn, cat);
  else
    read_postgresql(conn, cat);
  return cat;
}

std::vector<std::string> catalog_differences(const Catalog& a, const Catalog& b, const std::string& a_name,
                                             const std::string& b_name) {
  std::vector<std::string> out;
  for (const auto& [key, what] : a.facts) {
    auto it = b.facts.find(key);
    if (it == b.facts.end())
      out.push_back(key + ": only in " + a_name + " (" + what + ")");
    else if (it->second != what)
      out.push_back(key + ": " + a_name + " has " + what + "; " + b_name + " has " + it->second);
  }
  for (const auto& [key, what] : b.facts)
    if (!a.facts.count(key)) out.push_back(key + ": only in " + b_name + " (" + what + ")");
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> management_tables(Connection& conn) {
  std::vector<std::string> out;
  for (const auto& t : conn.tables())
    if (t.rfind("alembic_version", 0) == 0 || t == "fastappkit_history") out.push_back(t);
  return out;
}

}  // namespace fastappkit::db
