// Database URLs (SPEC §3): parsing, .env, precedence and redaction.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "fastappkit/config/database_url.hpp"
#include "fastappkit/error.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
using fastappkit::Error;
using fastappkit::ErrorKind;
using fastappkit::config::Backend;
using fastappkit::config::DatabaseUrl;
using fastappkit::config::parse_database_url;
using fastappkit::config::read_dotenv;
using fastappkit::config::redact_text;
using fastappkit::config::resolve_database_url;

namespace {

using unit::contains;
using unit::error_of;
using unit::starts_with;
using unit::TempDir;

std::optional<Error> url_error(const std::string& url) {
  return error_of([&] { parse_database_url(url, "/proj"); });
}

// Sets or clears DATABASE_URL for one test and restores what was there.
struct EnvGuard {
  std::optional<std::string> saved;
  EnvGuard() {
    if (const char* v = std::getenv("DATABASE_URL")) saved = v;
    ::unsetenv("DATABASE_URL");
  }
  ~EnvGuard() {
    if (saved)
      ::setenv("DATABASE_URL", saved->c_str(), 1);
    else
      ::unsetenv("DATABASE_URL");
  }
};

}  // namespace

TEST_SUITE("fastappkit::config") {
  TEST_CASE("parse_database_url: SQLite paths") {
    SUBCASE("relative to the project root") {
      DatabaseUrl u = parse_database_url("sqlite:///app.db", "/proj");
      CHECK(u.backend == Backend::sqlite);
      CHECK(u.sqlite_path == "/proj/app.db");
      CHECK_FALSE(u.is_memory());
      CHECK(u.redacted() == "sqlite:////proj/app.db");
    }
    SUBCASE("relative with subfolders, normalised") {
      DatabaseUrl u = parse_database_url("sqlite:///data/../db/app.db", "/proj");
      CHECK(u.sqlite_path == "/proj/db/app.db");
    }
    SUBCASE("absolute") {
      DatabaseUrl u = parse_database_url("sqlite:////var/lib/app.db", "/proj");
      CHECK(u.backend == Backend::sqlite);
      CHECK(u.sqlite_path == "/var/lib/app.db");
      CHECK(u.redacted() == "sqlite:////var/lib/app.db");
    }
    SUBCASE(":memory:") {
      DatabaseUrl u = parse_database_url("sqlite:///:memory:", "/proj");
      CHECK(u.is_memory());
      CHECK(u.sqlite_path == ":memory:");
      CHECK(u.redacted() == "sqlite:///:memory:");
      CHECK(parse_database_url("sqlite://", "/proj").is_memory());
    }
    SUBCASE("percent-encoded path") {
      DatabaseUrl u = parse_database_url("sqlite:///my%20app.db", "/proj");
      CHECK(u.sqlite_path == "/proj/my app.db");
    }
    SUBCASE("driver suffixes are accepted and ignored") {
      DatabaseUrl u = parse_database_url("sqlite+aiosqlite:///app.db", "/proj");
      CHECK(u.backend == Backend::sqlite);
      CHECK(u.sqlite_path == "/proj/app.db");
      CHECK(parse_database_url("sqlite+pysqlite:////tmp/x.db", "/proj").sqlite_path == "/tmp/x.db");
    }
  }

  TEST_CASE("parse_database_url: PostgreSQL URLs") {
    SUBCASE("every part, password percent-encoded") {
      DatabaseUrl u = parse_database_url(
          "postgresql://app:s%40cr%3At%2Fx@db.example.com:6543/app_db?sslmode=require&application_name=fak", "/proj");
      CHECK(u.backend == Backend::postgresql);
      CHECK(u.user == "app");
      CHECK(u.password == "s@cr:t/x");
      CHECK(u.host == "db.example.com");
      CHECK(u.port == "6543");
      CHECK(u.database == "app_db");
      // In libpq's order of keywords (PQconninfoParse reads the URL).
      REQUIRE(u.params.size() == 2);
      CHECK(u.params[0] == std::pair<std::string, std::string>{"application_name", "fak"});
      CHECK(u.params[1] == std::pair<std::string, std::string>{"sslmode", "require"});
      CHECK(u.redacted() == "postgresql://app:***@db.example.com:6543/app_db?application_name=fak&sslmode=require");
      CHECK_FALSE(contains(u.redacted(), "cr"));
      CHECK(u.libpq_conninfo() ==
            "host='db.example.com' port='6543' dbname='app_db' user='app' password='s@cr:t/x' application_name='fak' "
            "sslmode='require'");
    }
    SUBCASE("postgres:// and no password") {
      DatabaseUrl u = parse_database_url("postgres://app@localhost/app", "/proj");
      CHECK(u.backend == Backend::postgresql);
      CHECK(u.user == "app");
      CHECK(u.password.empty());
      CHECK(u.host == "localhost");
      CHECK(u.port.empty());
      CHECK(u.database == "app");
      CHECK(u.redacted() == "postgresql://app@localhost/app");
      CHECK(u.libpq_conninfo() == "host='localhost' dbname='app' user='app'");
    }
    SUBCASE("driver suffixes are accepted and ignored") {
      for (const char* scheme :
           {"postgresql+asyncpg", "postgresql+psycopg2", "postgresql+psycopg", "postgres+asyncpg"}) {
        CAPTURE(scheme);
        DatabaseUrl u = parse_database_url(std::string(scheme) + "://u:pw@h:5432/d", "/proj");
        CHECK(u.backend == Backend::postgresql);
        CHECK(u.user == "u");
        CHECK(u.password == "pw");
        CHECK(u.host == "h");
        CHECK(u.port == "5432");
        CHECK(u.database == "d");
        CHECK(u.redacted() == "postgresql://u:***@h:5432/d");
      }
    }
    SUBCASE("a Unix socket directory in ?host=") {
      DatabaseUrl u = parse_database_url("postgresql://app:pw@/app?host=/var/run/postgresql", "/proj");
      CHECK(u.host == "/var/run/postgresql");
      CHECK(u.database == "app");
      CHECK(u.params.empty());
      CHECK(u.redacted() == "postgresql://app:***@/app?host=/var/run/postgresql");
      CHECK(u.libpq_conninfo() == "host='/var/run/postgresql' dbname='app' user='app' password='pw'");
    }
    SUBCASE("a percent-encoded socket directory as the host") {
      DatabaseUrl u = parse_database_url("postgresql://app@%2Ftmp%2Fpg/app", "/proj");
      CHECK(u.host == "/tmp/pg");
      CHECK(u.redacted() == "postgresql://app@/app?host=/tmp/pg");
    }
    SUBCASE("IPv6 host") {
      DatabaseUrl u = parse_database_url("postgresql://u:secret@[::1]:5433/db", "/proj");
      CHECK(u.host == "::1");
      CHECK(u.port == "5433");
      CHECK(u.database == "db");
      CHECK(u.redacted() == "postgresql://u:***@[::1]:5433/db");
      CHECK(u.libpq_conninfo() == "host='::1' port='5433' dbname='db' user='u' password='secret'");
    }
    SUBCASE("password given in the query is still redacted") {
      DatabaseUrl u = parse_database_url("postgresql://u@h/db?password=hunter2&port=7000", "/proj");
      CHECK(u.password == "hunter2");
      CHECK(u.port == "7000");
      CHECK(u.params.empty());
      CHECK(u.redacted() == "postgresql://u:***@h:7000/db");
    }
    SUBCASE("every secret libpq option is redacted (dispchar '*')") {
      CHECK(fastappkit::config::is_secret_option("password"));
      CHECK(fastappkit::config::is_secret_option("sslpassword"));
      CHECK_FALSE(fastappkit::config::is_secret_option("sslmode"));
      DatabaseUrl u = parse_database_url("postgresql://u:pw@h/db?sslpassword=keypass&sslmode=require", "/proj");
      CHECK(u.redacted() == "postgresql://u:***@h/db?sslmode=require&sslpassword=***");
      CHECK_FALSE(contains(u.redacted(), "keypass"));
      CHECK(contains(u.libpq_conninfo(), "sslpassword='keypass'"));
    }
    SUBCASE("multi-host URLs, as libpq reads them") {
      DatabaseUrl u =
          parse_database_url("postgresql://u:secret@db1:5432,db2:5433/app?target_session_attrs=read-write", "/proj");
      CHECK(u.host == "db1,db2");
      CHECK(u.port == "5432,5433");
      CHECK(u.redacted() == "postgresql://u:***@db1:5432,db2:5433/app?target_session_attrs=read-write");
      DatabaseUrl one_port = parse_database_url("postgresql://u@db1,db2/app?port=6000", "/proj");
      CHECK(one_port.redacted() == "postgresql://u@db1,db2/app?port=6000");
    }
    SUBCASE("libpq_conninfo escapes quotes and backslashes") {
      DatabaseUrl u = parse_database_url("postgresql://u:a%27b%5Cc@h/d", "/proj");
      CHECK(u.password == "a'b\\c");
      CHECK(u.libpq_conninfo() == R"(host='h' dbname='d' user='u' password='a\'b\\c')");
      CHECK_FALSE(contains(u.redacted(), "a'b"));
    }
  }

  TEST_CASE("parse_database_url: errors") {
    SUBCASE("no scheme") {
      auto e = url_error("app.db");
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(std::string(e->what()) == "invalid database URL: no scheme (expected '<scheme>://')");
      CHECK(contains(e->hint(), "sqlite:///"));
    }
    SUBCASE("unknown scheme") {
      auto e = url_error("mysql://u:topsecret@h/db");
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(std::string(e->what()) == "unsupported database URL scheme 'mysql'");
      CHECK_FALSE(contains(e->what(), "topsecret"));
    }
    SUBCASE("unknown driver suffix") {
      auto pg = url_error("postgresql+pg9://u:topsecret@h/db");
      REQUIRE(pg);
      CHECK(pg->kind() == ErrorKind::input);
      CHECK(std::string(pg->what()) == "unknown PostgreSQL driver suffix '+pg9' in the database URL");
      CHECK(contains(pg->hint(), "+asyncpg"));
      auto lite = url_error("sqlite+foo:///app.db");
      REQUIRE(lite);
      CHECK(std::string(lite->what()) == "unknown SQLite driver suffix '+foo' in the database URL");
    }
    SUBCASE("bad ports are refused here (exit 2), never quoted: they may be a password") {
      for (const char* url :
           {"postgresql://u:topsecret@h:54x2/db", "postgresql://app:topsecret/app", "postgresql://u@h:99999/db",
            "postgresql://u@h:0/db", "postgresql://u@h1:5432,h2:topsecret/db"}) {
        CAPTURE(url);
        auto e = url_error(url);
        REQUIRE(e);
        CHECK(e->kind() == ErrorKind::input);
        CHECK(std::string(e->what()) == "invalid port in the database URL (not shown: it may be part of a password)");
        CHECK(contains(e->hint(), "%2F"));
      }
      CHECK(parse_database_url("postgresql://u@h:65535/db", "/proj").port == "65535");
    }
    SUBCASE("a password with an unencoded '/', '@' or '#' is refused without echoing it") {
      for (const char* url : {"postgresql://app:top/secret@h/db", "postgresql://app:12/topsecret@h/db",
                              "postgresql://app:top@secret@h/db", "postgresql://app:top#secret@h/db"}) {
        CAPTURE(url);
        auto e = url_error(url);
        REQUIRE(e);
        CHECK(contains(e->what(), "an unencoded '@', '/' or '#' in the user or password"));
        CHECK_FALSE(contains(e->what(), "secret@"));
        CHECK_FALSE(contains(e->what(), "top"));
      }
    }
    SUBCASE("bad percent-encoding") {
      auto truncated = url_error("postgresql://u:top%4@h/db");
      REQUIRE(truncated);
      CHECK(truncated->kind() == ErrorKind::input);
      CHECK(starts_with(truncated->what(), "invalid PostgreSQL URL: invalid percent-encoding"));
      CHECK_FALSE(contains(truncated->what(), "top"));
      auto not_hex = url_error("postgresql://u:pw@h/d%zzb");
      REQUIRE(not_hex);
      CHECK(starts_with(not_hex->what(), "invalid PostgreSQL URL: invalid percent-encoding"));
    }
    SUBCASE("libpq's own parse errors are reduced to their kind") {
      CHECK(std::string(url_error("postgresql://u:topsecret@h/db?topsecret")->what()) ==
            "invalid PostgreSQL URL: a query parameter is not written key=value");
      CHECK(std::string(url_error("postgresql://u:topsecret@h/db?nosuch=topsecret")->what()) ==
            "invalid PostgreSQL URL: unknown connection parameter 'nosuch' in the query");
      CHECK(std::string(url_error("postgresql://u:topsecret@[]/db")->what()) ==
            "invalid PostgreSQL URL: empty IPv6 host '[]'");
      CHECK(std::string(url_error("postgresql+bad!x://u:topsecret@h/db")->what()) ==
            "invalid driver suffix in the database URL's scheme");
      CHECK(std::string(url_error("u:topsecret@h://x")->what()) == "unsupported database URL scheme");
    }
    SUBCASE("SQLite with a host") {
      auto e = url_error("sqlite://localhost/app.db");
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(std::string(e->what()) == "invalid SQLite URL: a host is not allowed after sqlite://");
      CHECK(contains(e->hint(), "sqlite:///app.db"));
    }
    SUBCASE("unclosed IPv6 bracket") {
      auto e = url_error("postgresql://u@[::1/db");
      REQUIRE(e);
      CHECK(contains(e->what(), "unclosed '['"));
    }
  }

  TEST_CASE("read_dotenv: comments, export, quotes, last definition wins") {
    TempDir tmp;
    fs::path env = tmp.write(".env",
                             "# a comment\n"
                             "   # an indented comment\n"
                             "\n"
                             "export DATABASE_URL=sqlite:///first.db\n"
                             "OTHER = \"quoted value # not a comment\"\n"
                             "SINGLE='single quoted'\n"
                             "PLAIN=plain value  # trailing comment\n"
                             "DATABASE_URL=\"sqlite:///second.db\"\r\n"
                             "EMPTY=\n");
    int line = 0;
    auto url = read_dotenv(env, "DATABASE_URL", &line);
    REQUIRE(url);
    CHECK(*url == "sqlite:///second.db");
    CHECK(line == 8);
    CHECK(read_dotenv(env, "OTHER") == std::optional<std::string>("quoted value # not a comment"));
    CHECK(read_dotenv(env, "SINGLE") == std::optional<std::string>("single quoted"));
    CHECK(read_dotenv(env, "PLAIN") == std::optional<std::string>("plain value"));
    CHECK(read_dotenv(env, "EMPTY") == std::optional<std::string>(""));
    line = 42;
    CHECK_FALSE(read_dotenv(env, "MISSING", &line).has_value());
    CHECK(line == 42);
    CHECK_FALSE(read_dotenv(env, "DATABASE").has_value());
    CHECK_FALSE(read_dotenv(tmp.path / "no-such.env", "DATABASE_URL").has_value());

    fs::path exported = tmp.write("exported.env", "export DATABASE_URL=postgresql://u@h/db\n");
    CHECK(read_dotenv(exported, "DATABASE_URL") == std::optional<std::string>("postgresql://u@h/db"));
  }

  TEST_CASE("read_dotenv: malformed lines") {
    TempDir tmp;
    SUBCASE("no '='") {
      fs::path env = tmp.write(".env", "A=1\n  this is not valid\n");
      auto e = error_of([&] { read_dotenv(env, "A"); });
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(std::string(e->what()) ==
            env.string() +
                ":2:3: expected KEY=VALUE (the line is not shown: it may hold a secret)\n      ***\n      ^");
      CHECK(e->location()->line == 2);
    }
    SUBCASE("a mistyped URL without '://' never echoes its password") {
      auto e = url_error("postgresql:/app:topsecret@db/app");
      REQUIRE(e);
      CHECK_FALSE(contains(e->what(), "topsecret"));
    }
    SUBCASE("no '=' on the first line: the position and a caret, not the text") {
      fs::path env = tmp.write(".env", "  sk_live_topsecret\nA=1\n");
      auto e = error_of([&] { read_dotenv(env, "A"); });
      REQUIRE(e);
      CHECK(std::string(e->what()) ==
            env.string() +
                ":1:3: expected KEY=VALUE (the line is not shown: it may hold a secret)\n      ***\n      ^");
      CHECK(contains(e->hint(), ".env"));
    }
    SUBCASE("unterminated quote") {
      fs::path env = tmp.write(".env", "# x\nDATABASE_URL=\"sqlite:///app.db\n");
      auto e = error_of([&] { read_dotenv(env, "DATABASE_URL"); });
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(std::string(e->what()) == env.string() +
                                          ":2:14: unterminated quoted value of DATABASE_URL (the value is not shown)\n "
                                          "   DATABASE_URL=\"***\n                 ^");
      CHECK(e->hint() == "close the value with \"");
    }
  }

  TEST_CASE("resolve_database_url: --database-url > DATABASE_URL > .env") {
    EnvGuard guard;
    TempDir tmp;
    tmp.write(".env", "# project settings\nDATABASE_URL=sqlite:///from_dotenv.db\n");

    SUBCASE("the command line wins over everything") {
      ::setenv("DATABASE_URL", "sqlite:///from_env.db", 1);
      DatabaseUrl u = resolve_database_url(std::string("sqlite:///from_cli.db"), tmp.path);
      CHECK(u.sqlite_path == (tmp.path / "from_cli.db").string());
      CHECK(u.source == "--database-url");
    }
    SUBCASE("the environment wins over .env") {
      ::setenv("DATABASE_URL", "sqlite:///from_env.db", 1);
      DatabaseUrl u = resolve_database_url(std::nullopt, tmp.path);
      CHECK(u.sqlite_path == (tmp.path / "from_env.db").string());
      CHECK(u.source == "environment variable DATABASE_URL");
    }
    SUBCASE("an empty DATABASE_URL counts as unset") {
      ::setenv("DATABASE_URL", "", 1);
      DatabaseUrl u = resolve_database_url(std::nullopt, tmp.path);
      CHECK(u.sqlite_path == (tmp.path / "from_dotenv.db").string());
    }
    SUBCASE(".env at the project root, naming its line") {
      DatabaseUrl u = resolve_database_url(std::nullopt, tmp.path);
      CHECK(u.sqlite_path == (tmp.path / "from_dotenv.db").string());
      CHECK(u.source == (tmp.path / ".env").string() + ":2");
    }
    SUBCASE("a bad URL in .env is reported with its file and line") {
      tmp.write(".env", "\n\nDATABASE_URL=mysql://u:pw@h/db\n");
      auto e = error_of([&] { resolve_database_url(std::nullopt, tmp.path); });
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(std::string(e->what()) == (tmp.path / ".env").string() + ":3: unsupported database URL scheme 'mysql'");
    }
  }

  TEST_CASE("resolve_database_url: none set") {
    EnvGuard guard;
    TempDir tmp;
    auto e = error_of([&] { resolve_database_url(std::nullopt, tmp.path); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::input);
    CHECK(std::string(e->what()) ==
          "no database URL: neither --database-url, DATABASE_URL nor " + (tmp.path / ".env").string() + " sets one");
    CHECK(contains(e->hint(), "DATABASE_URL="));

    // A .env without DATABASE_URL is the same as none.
    tmp.write(".env", "OTHER=1\n");
    auto e2 = error_of([&] { resolve_database_url(std::nullopt, tmp.path); });
    REQUIRE(e2);
    CHECK(starts_with(e2->what(), "no database URL"));
  }

  TEST_CASE("redact_text hides passwords in URLs and conninfo text") {
    CHECK(redact_text("could not connect to postgresql://app:hunter2@db:5432/app: timeout") ==
          "could not connect to postgresql://app:***@db:5432/app: timeout");
    CHECK(redact_text("postgresql+asyncpg://app:p@ss@db/app") == "postgresql+asyncpg://app:***@db/app");
    CHECK(redact_text("a postgresql://u:one@h/a and postgres://v:two@k/b") ==
          "a postgresql://u:***@h/a and postgres://v:***@k/b");
    CHECK(redact_text("connection to server failed: host='h' password='x' user='u'") ==
          "connection to server failed: host='h' password=*** user='u'");
    CHECK(redact_text(R"(password='it\'s' dbname='d')") == "password=*** dbname='d'");
    CHECK(redact_text("password=plain&sslmode=require") == "password=***&sslmode=require");
    CHECK(redact_text("at (postgresql://u:***@h/d?sslpassword=***): refused") ==
          "at (postgresql://u:***@h/d?sslpassword=***): refused");
    CHECK(redact_text("sslpassword=keypass&x=1") == "sslpassword=***&x=1");
    // Nothing to hide: unchanged.
    CHECK(redact_text("postgresql://app@db/app") == "postgresql://app@db/app");
    CHECK(redact_text("sqlite:///app.db") == "sqlite:///app.db");
    CHECK(redact_text("no url here") == "no url here");
  }

}  // TEST_SUITE
