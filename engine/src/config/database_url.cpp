#include "fastappkit/config/database_url.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

#include "../util/libpq.hpp"
#include "fastappkit/error.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::config {

namespace fs = std::filesystem;

namespace {

std::string percent_decode(std::string_view s, std::string_view what) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      if (i + 2 >= s.size() || hex(s[i + 1]) < 0 || hex(s[i + 2]) < 0) {
        throw Error(ErrorKind::input, "invalid percent-encoding in the database URL's " + std::string(what),
                    "write %XX with two hex digits, e.g. %40 for @");
      }
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string percent_encode_userinfo(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string conninfo_quote(std::string_view v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// libpq's messages quote the URI or a piece of it; only their kind is kept, never the text.
std::string safe_parse_message(const std::string& libpq) {
  auto has = [&](const char* s) { return libpq.find(s) != std::string::npos; };
  if (has("matching \"]\"")) return "unclosed '[' in the host (write IPv6 hosts as [::1])";
  if (has("IPv6 host address may not be empty")) return "empty IPv6 host '[]'";
  if (has("percent-encoded")) return "invalid percent-encoding (write %XX with two hex digits, e.g. %40 for @)";
  if (has("key/value separator")) return "a query parameter is not written key=value";
  if (has("invalid URI query parameter")) {
    auto a = libpq.find('"'), b = libpq.rfind('"');
    std::string key = a != std::string::npos && b > a ? libpq.substr(a + 1, b - a - 1) : std::string();
    bool plain = !key.empty() && key.size() <= 64 &&
                 std::all_of(key.begin(), key.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; });
    return plain ? "unknown connection parameter '" + key + "' in the query"
                 : std::string("unknown connection parameter in the query");
  }
  if (has("unexpected character")) {
    auto at = libpq.find("at position ");
    std::string pos;
    if (at != std::string::npos)
      for (std::size_t i = at + 12; i < libpq.size() && std::isdigit(static_cast<unsigned char>(libpq[i])); ++i)
        pos += libpq[i];
    return "unexpected character" + (pos.empty() ? std::string() : " at position " + pos) +
           " (a ':' or '/' was expected there)";
  }
  return "it does not parse";
}

// A password holding an unencoded '/', '@', '?' or '#' silently moves the URL's parts (its
// end read as a port, host or database name) and would be echoed in an error later: refuse.
void check_unencoded_userinfo(std::string_view rest) {
  std::string_view before_query = rest.substr(0, rest.find('?'));
  std::size_t slash = before_query.find('/');
  std::string_view authority = before_query.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : before_query.substr(slash + 1);
  const char* hint =
      "percent-encode special characters of the user and password: %40 for @, %2F for /, %3A for :, %3F for ?, %23 for "
      "#";
  if (std::count(authority.begin(), authority.end(), '@') > 1 || path.find('@') != std::string_view::npos ||
      rest.find('#') != std::string_view::npos)
    throw Error(ErrorKind::input,
                "invalid PostgreSQL URL: an unencoded '@', '/' or '#' in the user or password (the URL is not shown: "
                "it holds a secret)",
                hint);
}

// libpq checks ports only when it connects (exit 1, its message quoting the value); a port
// that is not a number is more often a password missing its '@': refuse it here, unquoted.
void check_ports(const std::string& ports) {
  std::size_t start = 0;
  while (start <= ports.size()) {
    std::size_t comma = ports.find(',', start);
    std::string p = ports.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    bool ok = p.empty() ||
              (p.size() <= 5 && std::all_of(p.begin(), p.end(), [](unsigned char c) { return std::isdigit(c); }) &&
               std::stoi(p) >= 1 && std::stoi(p) <= 65535);
    if (!ok)
      throw Error(ErrorKind::input, "invalid port in the database URL (not shown: it may be part of a password)",
                  "the port is a number from 1 to 65535, e.g. :5432; if the password holds '/', '@' or ':', "
                  "percent-encode them (%2F, %40, %3A)");
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  std::size_t start = 0;
  for (;;) {
    std::size_t c = s.find(',', start);
    out.push_back(s.substr(start, c == std::string::npos ? std::string::npos : c - start));
    if (c == std::string::npos) break;
    start = c + 1;
  }
  return out;
}

// An error on a .env line, shown with its key but never its value: `shown` is the line as it
// may be printed (the value replaced by ***).
[[noreturn]] void dotenv_fail(const fs::path& file, int line, int col, const std::string& shown,
                              const std::string& message, const std::string& hint) {
  std::string source(static_cast<std::size_t>(line - 1), '\n');
  source += shown;
  throw Error(ErrorKind::input, SourceLocation{file.string(), line, col}, message, hint, source);
}

// A tenant schema name: plain identifier characters, so it is quoted the same on every
// server and never needs escaping; pg_* and information_schema belong to the server.
void check_schema_name(const std::string& name) {
  const char* hint =
      "write ?schema=NAME with letters, digits and _ (starting with a letter or _), at most 63 characters";
  bool ok = !name.empty() && name.size() <= 63 &&
            (std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_') &&
            std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; });
  if (!ok) {
    bool plain =
        name.size() <= 80 && std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isprint(c); });
    throw Error(ErrorKind::input,
                plain ? "invalid schema '" + name + "' in the database URL" : "invalid schema in the database URL",
                hint);
  }
  std::string lower = name;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.rfind("pg_", 0) == 0 || lower == "information_schema")
    throw Error(ErrorKind::input, "schema '" + name + "' in the database URL belongs to the PostgreSQL server",
                "name a schema of your own, e.g. ?schema=tenant_a");
}

// Takes `schema=...` out of a PostgreSQL URL's query (libpq would refuse the keyword) and
// returns it percent-decoded; "" when absent.
std::string take_schema(std::string& rest) {
  auto q = rest.find('?');
  if (q == std::string::npos) return {};
  std::string query = rest.substr(q + 1), kept, schema;
  bool found = false;
  std::size_t start = 0;
  for (;;) {
    std::size_t amp = query.find('&', start);
    std::string item = query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    if (item.rfind("schema=", 0) == 0) {
      if (found) throw Error(ErrorKind::input, "the database URL gives schema= twice", "keep one ?schema=NAME per URL");
      found = true;
      schema = percent_decode(item.substr(7), "schema");
      check_schema_name(schema);
    } else if (!item.empty()) {
      kept += (kept.empty() ? "" : "&") + item;
    }
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  rest = rest.substr(0, q) + (kept.empty() ? "" : "?" + kept);
  return schema;
}

}  // namespace

bool is_secret_option(std::string_view keyword) {
  // libpq marks every option that must not be shown with dispchar '*' (password, sslpassword,
  // and whatever later versions add).
  static const std::vector<std::string> secrets = [] {
    std::vector<std::string> out;
    if (PQconninfoOption* d = util::libpq().PQconndefaults()) {
      for (PQconninfoOption* o = d; o->keyword; ++o)
        if (o->dispchar && o->dispchar[0] == '*') out.emplace_back(o->keyword);
      util::libpq().PQconninfoFree(d);
    }
    for (const char* k : {"password", "sslpassword"})
      if (std::find(out.begin(), out.end(), k) == out.end()) out.emplace_back(k);
    return out;
  }();
  return std::find(secrets.begin(), secrets.end(), keyword) != secrets.end();
}

std::string DatabaseUrl::redacted() const {
  if (backend == Backend::sqlite) return "sqlite:///" + sqlite_path;
  std::string out = "postgresql://";
  if (!user.empty() || !password.empty()) {
    out += percent_encode_userinfo(user);
    if (!password.empty()) out += ":***";
    out += "@";
  }
  std::vector<std::string> hosts = split_commas(host), ports = split_commas(port);
  bool sockets =
      std::any_of(hosts.begin(), hosts.end(), [](const std::string& h) { return !h.empty() && h[0] == '/'; });
  bool in_authority = !sockets && (ports.size() <= 1 || ports.size() == hosts.size());
  std::string q;
  auto add = [&](const std::string& k, const std::string& v) {
    q += (q.empty() ? "" : "&") + k + "=" + (is_secret_option(k) ? std::string("***") : v);
  };
  if (in_authority) {
    for (std::size_t i = 0; i < std::max<std::size_t>(hosts.size(), 1); ++i) {
      if (i) out += ",";
      std::string h = i < hosts.size() ? hosts[i] : std::string();
      out += h.find(':') != std::string::npos ? "[" + h + "]" : h;
      std::string p = ports.size() == hosts.size() && i < ports.size()
                          ? ports[i]
                          : (ports.size() == 1 && i == 0 && hosts.size() <= 1 ? ports[0] : "");
      if (!p.empty()) out += ":" + p;
    }
    if (ports.size() == 1 && hosts.size() > 1) add("port", ports[0]);
  } else {
    if (!host.empty()) add("host", host);
    if (!port.empty()) add("port", port);
  }
  out += "/" + database;
  for (const auto& [k, v] : params) add(k, v);
  if (!schema.empty()) add("schema", schema);
  if (!q.empty()) out += "?" + q;
  return out;
}

std::string DatabaseUrl::libpq_conninfo() const {
  std::string out;
  auto add = [&](std::string_view k, std::string_view v) {
    if (v.empty()) return;
    if (!out.empty()) out += ' ';
    out += std::string(k) + "=" + conninfo_quote(v);
  };
  add("host", host);
  add("port", port);
  add("dbname", database);
  add("user", user);
  add("password", password);
  for (const auto& [k, v] : params) add(k, v);
  return out;
}

DatabaseUrl parse_database_url(std::string_view url, const fs::path& root, UrlUse use) {
  DatabaseUrl out;
  auto sep = url.find("://");
  if (sep == std::string_view::npos) {
    // Without "://" the text cannot be parsed into parts, so it is not echoed: it may hold a password.
    throw Error(ErrorKind::input, "invalid database URL: no scheme (expected '<scheme>://')",
                "use sqlite:///file.db or postgresql://user:pass@host:5432/dbname");
  }
  std::string scheme(url.substr(0, sep));
  std::string driver;
  if (auto plus = scheme.find('+'); plus != std::string::npos) {
    driver = scheme.substr(plus + 1);
    scheme = scheme.substr(0, plus);
    if (!std::all_of(driver.begin(), driver.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; }) ||
        driver.size() > 20)
      throw Error(ErrorKind::input, "invalid driver suffix in the database URL's scheme",
                  "write postgresql://... or sqlite:///...");
  }
  std::string_view rest = url.substr(sep + 3);
  if (scheme == "sqlite") {
    if (!driver.empty() && driver != "aiosqlite" && driver != "pysqlite") {
      throw Error(ErrorKind::input, "unknown SQLite driver suffix '+" + driver + "' in the database URL",
                  "write sqlite:///file.db (the suffixes +aiosqlite and +pysqlite are accepted and ignored)");
    }
    out.backend = Backend::sqlite;
    if (auto q = rest.find('?'); q != std::string_view::npos) {
      std::string query = "&" + std::string(rest.substr(q + 1));
      if (query.find("&schema=") != std::string::npos)
        throw Error(ErrorKind::input, "?schema= is for PostgreSQL URLs; an SQLite database has no schemas",
                    "give each SQLite tenant its own file, e.g. sqlite:///tenants/a.db");
      rest = rest.substr(0, q);
    }
    if (rest.empty() || rest == "/:memory:" || rest == "/") {
      out.sqlite_path = ":memory:";
      return out;
    }
    if (rest[0] != '/') {
      // Not echoed: whatever stands where a host would be may be credentials.
      throw Error(ErrorKind::input, "invalid SQLite URL: a host is not allowed after sqlite://",
                  "use three slashes for a path relative to the project (sqlite:///app.db) or four for an absolute one "
                  "(sqlite:////var/app.db)");
    }
    std::string path = percent_decode(rest.substr(1), "path");
    fs::path p(path);
    out.sqlite_path = (p.is_absolute() ? p : root / p).lexically_normal().string();
    return out;
  }
  if (scheme == "postgresql" || scheme == "postgres") {
    if (!driver.empty() && driver != "asyncpg" && driver != "psycopg2" && driver != "psycopg" && driver != "pg8000") {
      throw Error(
          ErrorKind::input, "unknown PostgreSQL driver suffix '+" + driver + "' in the database URL",
          "write postgresql://... (the suffixes +asyncpg, +psycopg2, +psycopg and +pg8000 are accepted and ignored)");
    }
    out.backend = Backend::postgresql;
    check_unencoded_userinfo(rest);
    std::string without_schema(rest);
    out.schema = take_schema(without_schema);
    if (use == UrlUse::dialect) return out;
    // libpq parses the URI itself (multi-host lists, IPv6, percent-encoding, every keyword),
    // so fastappkit connects to exactly what libpq would.
    const std::string uri = "postgresql://" + without_schema;
    char* err = nullptr;
    PQconninfoOption* opts = util::libpq().PQconninfoParse(uri.c_str(), &err);
    if (!opts) {
      std::string why = err ? err : "out of memory";
      if (err) util::libpq().PQfreemem(err);
      const std::string what = safe_parse_message(why);
      // An unknown parameter is most often a typo of a known one (sslmod for sslmode).
      const std::string prefix = "unknown connection parameter '";
      if (what.rfind(prefix, 0) == 0) {
        std::vector<std::string> known{"schema"};
        if (PQconninfoOption* d = util::libpq().PQconndefaults()) {
          for (PQconninfoOption* o = d; o->keyword; ++o) known.emplace_back(o->keyword);
          util::libpq().PQconninfoFree(d);
        }
        const std::string key = what.substr(prefix.size(), what.find('\'', prefix.size()) - prefix.size());
        const std::string near = util::did_you_mean(key, known);
        if (!near.empty())
          throw Error(ErrorKind::input, "invalid PostgreSQL URL: " + what,
                      "did you mean '" + near + "'? (libpq's connection parameters, and ?schema=)");
      }
      throw Error(ErrorKind::input, "invalid PostgreSQL URL: " + what,
                  "write postgresql://user:password@host:5432/dbname?param=value, percent-encoding special characters "
                  "(%40 for @, %2F for /)");
    }
    for (PQconninfoOption* o = opts; o->keyword; ++o) {
      if (!o->val) continue;
      std::string k = o->keyword, v = o->val;
      if (k == "host")
        out.host = v;
      else if (k == "port")
        out.port = v;
      else if (k == "user")
        out.user = v;
      else if (k == "password")
        out.password = v;
      else if (k == "dbname")
        out.database = v;
      else
        out.params.emplace_back(k, v);
    }
    util::libpq().PQconninfoFree(opts);
    check_ports(out.port);
    return out;
  }
  // The scheme is echoed only when it looks like one: text before "://" may be anything.
  bool plain = !scheme.empty() && scheme.size() <= 20 && std::all_of(scheme.begin(), scheme.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '-';
  });
  throw Error(
      ErrorKind::input,
      plain ? "unsupported database URL scheme '" + scheme + "'" : std::string("unsupported database URL scheme"),
      "fastappkit supports sqlite:/// and postgresql:// (postgres://) URLs");
}

std::optional<std::string> read_dotenv(const fs::path& file, std::string_view key, int* line_out) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream lines(text);
  std::string line;
  int n = 0;
  std::optional<std::string> found;
  while (std::getline(lines, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::size_t i = line.find_first_not_of(" \t");
    if (i == std::string::npos || line[i] == '#') continue;
    std::string_view l(line);
    l = l.substr(i);
    if (l.rfind("export ", 0) == 0) l = l.substr(7);
    auto eq = l.find('=');
    if (eq == std::string_view::npos) {
      // Without '=' nothing tells a key from a value (a pasted token, "KEY value"): show none of it.
      dotenv_fail(file, n, static_cast<int>(i) + 1, line.substr(0, i) + "***",
                  "expected KEY=VALUE (the line is not shown: it may hold a secret)",
                  "fix or comment out this line of .env");
    }
    std::string_view k = l.substr(0, eq);
    while (!k.empty() && (k.back() == ' ' || k.back() == '\t')) k.remove_suffix(1);
    std::string_view v = l.substr(eq + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    std::string value;
    if (!v.empty() && (v.front() == '"' || v.front() == '\'')) {
      char q = v.front();
      auto close = v.find(q, 1);
      if (close == std::string_view::npos) {
        const std::size_t col = line.size() - v.size();
        dotenv_fail(file, n, static_cast<int>(col) + 1, line.substr(0, col + 1) + "***",
                    "unterminated quoted value of " + std::string(k) + " (the value is not shown)",
                    std::string("close the value with ") + q);
      }
      value = std::string(v.substr(1, close - 1));
    } else {
      auto hash = v.find(" #");
      value = std::string(v.substr(0, hash));
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
    }
    if (k == key) {
      found = value;  // the last definition wins, as in a shell
      if (line_out) *line_out = n;
    }
  }
  return found;
}

DatabaseUrl resolve_database_url(const std::optional<std::string>& from_cli, const fs::path& root, UrlUse use) {
  if (from_cli) {
    DatabaseUrl u = parse_database_url(*from_cli, root, use);
    u.source = "--database-url";
    return u;
  }
  if (const char* env = std::getenv("DATABASE_URL"); env && *env) {
    DatabaseUrl u = parse_database_url(env, root, use);
    u.source = "environment variable DATABASE_URL";
    return u;
  }
  int line = 0;
  fs::path dotenv = root / ".env";
  if (auto v = read_dotenv(dotenv, "DATABASE_URL", &line)) {
    try {
      DatabaseUrl u = parse_database_url(*v, root, use);
      u.source = dotenv.string() + ":" + std::to_string(line);
      return u;
    } catch (const Error& e) {
      throw Error(e.kind(), dotenv.string() + ":" + std::to_string(line) + ": " + e.what(), e.hint());
    }
  }
  throw Error(ErrorKind::input,
              "no database URL: neither --database-url, DATABASE_URL nor " + dotenv.string() + " sets one",
              "add DATABASE_URL=sqlite:///app.db to .env at the project root, or pass --database-url");
}

std::string redact_text(std::string text) {
  std::size_t pos = 0;
  while ((pos = text.find("://", pos)) != std::string::npos) {
    std::size_t start = pos + 3;
    std::size_t end = text.find_first_of("/? \t\n'\"", start);
    if (end == std::string::npos) end = text.size();
    std::size_t at = text.rfind('@', end);
    if (at != std::string::npos && at >= start) {
      std::size_t colon = text.find(':', start);
      if (colon != std::string::npos && colon < at) {
        text.replace(colon + 1, at - colon - 1, "***");
        end = colon + 4;
      }
    }
    pos = end;
  }
  // libpq conninfo form: password='...'
  pos = 0;
  while ((pos = text.find("password=", pos)) != std::string::npos) {
    std::size_t start = pos + 9;
    if (text.compare(start, 3, "***") == 0) {  // already redacted (a redacted() URL)
      pos = start + 3;
      continue;
    }
    std::size_t end;
    if (start < text.size() && text[start] == '\'') {
      end = start + 1;
      while (end < text.size() && text[end] != '\'') end += (text[end] == '\\') ? 2 : 1;
      end = std::min(end + 1, text.size());
    } else {
      end = text.find_first_of(" &\t\n", start);
      if (end == std::string::npos) end = text.size();
    }
    text.replace(start, end - start, "***");
    pos = start + 3;
  }
  return text;
}

}  // namespace fastappkit::config
