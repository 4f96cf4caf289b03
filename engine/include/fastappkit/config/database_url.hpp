#pragma once
// Database URLs (SPEC §3): parsing, the precedence of where they come from, and redaction.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fastappkit/config/backend.hpp"

namespace fastappkit::config {

struct DatabaseUrl {
  Backend backend = Backend::sqlite;
  std::string source;  // where it came from, for messages: "--database-url", ".env:3", ...

  // sqlite: absolute file path, or ":memory:"
  std::string sqlite_path;

  // postgresql, as libpq's PQconninfoParse reads the URL (percent-decoded; host and port may
  // be comma-separated lists for a multi-host URL); params: every other libpq keyword given.
  std::string user, password, host, port, database;
  std::vector<std::pair<std::string, std::string>> params;
  // postgresql: `?schema=NAME` (SPEC §10), taken out of the query before libpq sees it (libpq
  // refuses unknown keywords): the run's tables and version tables live in that schema.
  std::string schema;

  bool is_memory() const { return backend == Backend::sqlite && sqlite_path == ":memory:"; }
  // The URL with the password and every other secret option (is_secret_option) replaced by
  // "***"; safe to print.
  std::string redacted() const;
  // A libpq connection string (keyword=value, values quoted); contains the password.
  std::string libpq_conninfo() const;
};

// Whether libpq marks a connection keyword as secret (dispchar '*': password, sslpassword...).
bool is_secret_option(std::string_view keyword);

// Throws Error(input) with what is wrong, never quoting a password or anything that may be
// one (an unencoded '/' or '@' in a password moves the URL's parts); `root` resolves relative
// SQLite paths.
// What a command does with the URL: connect (every part parsed and checked, a PostgreSQL URL by
// libpq's PQconninfoParse, which loads libpq and its libraries: about 11 ms here), or only take
// its dialect (`preview --from`, `lint --all`: the scheme, the driver suffix, the userinfo encoding and
// the ?schema= parameter are checked as for a connection; the rest of a PostgreSQL URL is not
// read, so host, port, user and database stay empty).
enum class UrlUse { connect, dialect };

DatabaseUrl parse_database_url(std::string_view url, const std::filesystem::path& root, UrlUse use = UrlUse::connect);

// Value of `key` in a .env file (KEY=VALUE, # comments, optional quotes, optional `export `);
// std::nullopt if the file or the key is absent. `line_out` receives the line number.
std::optional<std::string> read_dotenv(const std::filesystem::path& file, std::string_view key,
                                       int* line_out = nullptr);

// --database-url, then $DATABASE_URL, then <root>/.env. Throws Error(input) when none is set.
DatabaseUrl resolve_database_url(const std::optional<std::string>& from_cli, const std::filesystem::path& root,
                                 UrlUse use = UrlUse::connect);

// Replaces a password inside any URL-looking text with ***; used on messages from drivers.
std::string redact_text(std::string text);

}  // namespace fastappkit::config
