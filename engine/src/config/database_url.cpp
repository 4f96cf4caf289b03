#include "fastappkit/config/database_url.hpp"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

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

}  // namespace

std::string DatabaseUrl::redacted() const {
  if (backend == Backend::sqlite) return "sqlite:///" + sqlite_path;
  std::string out = "postgresql://";
  if (!user.empty() || !password.empty()) {
    out += percent_encode_userinfo(user);
    if (!password.empty()) out += ":***";
    out += "@";
  }
  bool socket_host = !host.empty() && host[0] == '/';
  if (!socket_host) out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (!port.empty()) out += ":" + port;
  out += "/" + database;
  std::string q;
  if (socket_host) q = "host=" + host;
  for (const auto& [k, v] : params) {
    if (!q.empty()) q += "&";
    q += k + "=" + (k == "password" ? std::string("***") : v);
  }
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

DatabaseUrl parse_database_url(std::string_view url, const fs::path& root) {
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
  }
  std::string_view rest = url.substr(sep + 3);
  if (scheme == "sqlite") {
    if (!driver.empty() && driver != "aiosqlite" && driver != "pysqlite") {
      throw Error(ErrorKind::input, "unknown SQLite driver suffix '+" + driver + "' in the database URL",
                  "write sqlite:///file.db (the suffixes +aiosqlite and +pysqlite are accepted and ignored)");
    }
    out.backend = Backend::sqlite;
    if (auto q = rest.find('?'); q != std::string_view::npos) rest = rest.substr(0, q);
    if (rest.empty() || rest == "/:memory:" || rest == "/") {
      out.sqlite_path = ":memory:";
      return out;
    }
    if (rest[0] != '/') {
      throw Error(ErrorKind::input, "invalid SQLite URL 'sqlite://" + std::string(rest) + "': a host is not allowed",
                  "use three slashes for a path relative to the project (sqlite:///app.db) or four for an absolute one (sqlite:////var/app.db)");
    }
    std::string path = percent_decode(rest.substr(1), "path");
    fs::path p(path);
    out.sqlite_path = (p.is_absolute() ? p : root / p).lexically_normal().string();
    return out;
  }
  if (scheme == "postgresql" || scheme == "postgres") {
    if (!driver.empty() && driver != "asyncpg" && driver != "psycopg2" && driver != "psycopg" && driver != "pg8000") {
      throw Error(ErrorKind::input, "unknown PostgreSQL driver suffix '+" + driver + "' in the database URL",
                  "write postgresql://... (the suffixes +asyncpg, +psycopg2, +psycopg and +pg8000 are accepted and ignored)");
    }
    out.backend = Backend::postgresql;
    std::string_view query;
    if (auto q = rest.find('?'); q != std::string_view::npos) {
      query = rest.substr(q + 1);
      rest = rest.substr(0, q);
    }
    std::string_view authority = rest, path;
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
      authority = rest.substr(0, slash);
      path = rest.substr(slash + 1);
    }
    if (auto at = authority.rfind('@'); at != std::string_view::npos) {
      std::string_view userinfo = authority.substr(0, at);
      authority = authority.substr(at + 1);
      if (auto colon = userinfo.find(':'); colon != std::string_view::npos) {
        out.user = percent_decode(userinfo.substr(0, colon), "user");
        out.password = percent_decode(userinfo.substr(colon + 1), "password");
      } else {
        out.user = percent_decode(userinfo, "user");
      }
    }
    if (!authority.empty() && authority[0] == '[') {
      auto close = authority.find(']');
      if (close == std::string_view::npos) throw Error(ErrorKind::input, "invalid database URL: unclosed '[' in the host", "write IPv6 hosts as [::1]");
      out.host = std::string(authority.substr(1, close - 1));
      authority = authority.substr(close + 1);
      if (!authority.empty() && authority[0] == ':') out.port = std::string(authority.substr(1));
    } else if (auto colon = authority.find(':'); colon != std::string_view::npos) {
      out.host = percent_decode(authority.substr(0, colon), "host");
      out.port = std::string(authority.substr(colon + 1));
    } else {
      out.host = percent_decode(authority, "host");
    }
    for (char c : out.port) {
      if (c < '0' || c > '9') {
        throw Error(ErrorKind::input, "invalid port '" + out.port + "' in the database URL", "the port is a number, e.g. :5432");
      }
    }
    out.database = percent_decode(path, "database name");
    while (!query.empty()) {
      auto amp = query.find('&');
      std::string_view kv = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      if (kv.empty()) continue;
      auto eq = kv.find('=');
      std::string k = percent_decode(kv.substr(0, eq), "query");
      std::string v = eq == std::string_view::npos ? "" : percent_decode(kv.substr(eq + 1), "query");
      if (k == "host") out.host = v;
      else if (k == "port") out.port = v;
      else if (k == "user") out.user = v;
      else if (k == "password") out.password = v;
      else if (k == "dbname") out.database = v;
      else out.params.emplace_back(k, v);
    }
    return out;
  }
  throw Error(ErrorKind::input, "unsupported database URL scheme '" + scheme + "'",
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
      throw Error(ErrorKind::input,
                  util::diagnostic(file.string(), text, n, static_cast<int>(i) + 1, "expected KEY=VALUE"),
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
        throw Error(ErrorKind::input,
                    util::diagnostic(file.string(), text, n, static_cast<int>(line.size() - v.size()) + 1,
                                     "unterminated quoted value"),
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

DatabaseUrl resolve_database_url(const std::optional<std::string>& from_cli, const fs::path& root) {
  if (from_cli) {
    DatabaseUrl u = parse_database_url(*from_cli, root);
    u.source = "--database-url";
    return u;
  }
  if (const char* env = std::getenv("DATABASE_URL"); env && *env) {
    DatabaseUrl u = parse_database_url(env, root);
    u.source = "environment variable DATABASE_URL";
    return u;
  }
  int line = 0;
  fs::path dotenv = root / ".env";
  if (auto v = read_dotenv(dotenv, "DATABASE_URL", &line)) {
    try {
      DatabaseUrl u = parse_database_url(*v, root);
      u.source = dotenv.string() + ":" + std::to_string(line);
      return u;
    } catch (const Error& e) {
      throw Error(e.kind(), dotenv.string() + ":" + std::to_string(line) + ": " + e.what(), e.hint());
    }
  }
  throw Error(ErrorKind::input, "no database URL: neither --database-url, DATABASE_URL nor " + dotenv.string() + " sets one",
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
