// A database URL is a credential (SPEC §3): no output, error, diagnostic or option-parser
// message ever contains its password or another secret option, from any source of the URL,
// whether the connection succeeds or fails, and whatever is wrong with the URL.
#include <doctest/doctest.h>

#include <cstdlib>

#include "harness.hpp"

using namespace e2e;

namespace {

const std::string kPassword = "S3cretPW-xyzzy";
const std::string kSslPassword = "K3ypass-plugh";

enum class Source { cli, env, dotenv };

struct SecretsProject {
  TempDir dir;
  fs::path root = dir.path / "project";
  SecretsProject() {
    copy_tree(source_dir() / "apps-example", root);
    install_plugins(root);
  }
  RunResult run(Source source, const std::string& url, std::vector<std::string> args) const {
    std::error_code ec;
    fs::remove(root / ".env", ec);
    std::map<std::string, std::string> env;
    if (source == Source::cli)
      args.insert(args.begin(), {"--database-url", url});
    else if (source == Source::env)
      env["DATABASE_URL"] = url;
    else
      write_file(root / ".env", "# settings\nDATABASE_URL=\"" + url + "\"\n");
    return fastappkit(args, root, env);
  }
};

const char* name_of(Source s) {
  return s == Source::cli ? "--database-url" : s == Source::env ? "DATABASE_URL" : ".env";
}

// Fails the test on any trace of a secret in a command's output.
void check_clean(const RunResult& r, const std::string& what) {
  for (const auto& secret : {kPassword, kSslPassword}) {
    CHECK_MESSAGE(!has(r.out, secret), what << ": the secret is in stdout:\n" << r.out);
    CHECK_MESSAGE(!has(r.err, secret), what << ": the secret is in stderr:\n" << r.err);
  }
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

const std::vector<std::vector<std::string>> kCommands = {
    {"migrate", "status"},
    {"--json", "migrate", "status"},
    {"-v", "migrate", "upgrade"},
    {"migrate", "current"},
    {"migrate", "heads"},
    {"migrate", "history"},
    {"migrate", "check"},
    {"-v", "migrate", "preview"},
    {"migrate", "preview", "--all"},
    {"-v", "migrate", "all"},
    {"-v", "migrate", "downgrade", "base"},
    {"migrate", "stamp", "head"},
    {"-v", "migrate", "app", "payments", "upgrade"},
    {"migrate", "app", "payments", "preview"},
    {"-v", "app", "list"},
    {"--json", "app", "list"},
    {"app", "validate", "blog"},
    {"--json", "app", "validate", "payments"},
    {"migrate", "core", "-m", "nothing new"},
};

}  // namespace

TEST_SUITE("fastappkit::e2e") {
  TEST_CASE(
      "no command prints a password or secret option, from any URL source, on succeeding and failing connections") {
    const char* pghost = std::getenv("FASTAPPKIT_TEST_PGHOST");
    REQUIRE_MESSAGE(pghost,
                    "FASTAPPKIT_TEST_PGHOST is not set: run with ctest, which starts the test PostgreSQL cluster");
    SecretsProject p;
    auto db = make_postgresql();
    const std::string db_name =
        db->url().substr(db->url().find("@/") + 2, db->url().find('?') - db->url().find("@/") - 2);
    struct Url {
      std::string label, url;
      bool connects;
    };
    const std::vector<Url> urls = {
        // The test cluster trusts local connections, so the password is sent and ignored.
        {"succeeding",
         "postgresql://postgres:" + kPassword + "@/" + db_name + "?host=" + pghost + "&sslpassword=" + kSslPassword,
         true},
        {"succeeding (+asyncpg, password in the query)",
         "postgresql+asyncpg://postgres@/" + db_name + "?host=" + pghost + "&password=" + kPassword, true},
        {"failing: role does not exist",
         "postgresql://nosuchrole:" + kPassword + "@/" + db_name + "?host=" + pghost + "&sslpassword=" + kSslPassword,
         false},
        {"failing: nothing listens",
         "postgresql://app:" + kPassword + "@127.0.0.1:1/app?connect_timeout=2&sslpassword=" + kSslPassword, false},
    };
    int runs = 0;
    for (Source source : {Source::cli, Source::env, Source::dotenv}) {
      for (const auto& u : urls) {
        for (const auto& args : kCommands) {
          std::string what = std::string(name_of(source)) + ", " + u.label + ": fastappkit " + join(args);
          auto r = p.run(source, u.url, args);
          CAPTURE(what);
          check_clean(r, what);
          if (!u.connects && (args[1] == "upgrade" || args[1] == "all" || args[1] == "current")) {
            CHECK(r.code == 1);
            CHECK(has(r.err, "cannot connect to PostgreSQL"));
            CHECK((has(r.err, "***@") || has(r.err, "password=***") || has(r.err, ":***")));
          }
          ++runs;
        }
      }
    }
    // The connecting URL really worked (the commands above are not all failures).
    CHECK(db->query("SELECT count(*) FROM alembic_version")[0][0] == "1");
    MESSAGE("secrets runs (commands x URL sources x connections): " << runs);
    CHECK(runs == 3 * 4 * static_cast<int>(kCommands.size()));
  }

  TEST_CASE("malformed URLs: exit 2, a clear message, and never the password") {
    SecretsProject p;
    struct Bad {
      std::string url, expected;
    };
    const std::string pw = kPassword;
    const std::vector<Bad> bad = {
        {"postgresql://app:" + pw + "/app",
         "invalid port in the database URL (not shown: it may be part of a password)"},
        {"postgresql://app:" + pw + "/x@db/app", "an unencoded '@', '/' or '#' in the user or password"},
        {"postgresql://app:12/" + pw + "@db/app", "an unencoded '@', '/' or '#' in the user or password"},
        {"postgresql://app:p@" + pw + "@db/app", "an unencoded '@', '/' or '#' in the user or password"},
        {"postgresql://app:" + pw + "#x@db/app", "an unencoded '@', '/' or '#' in the user or password"},
        {"postgresql://app:" + pw + "@db:99999/app", "invalid port in the database URL"},
        {"postgresql://app:" + pw + "@db:abc/app", "invalid port in the database URL"},
        {"postgresql://app:" + pw + "@db:5432,db2:x/app", "invalid port in the database URL"},
        {"postgresql://app:" + pw + "@[::1/app", "unclosed '[' in the host"},
        {"postgresql://app:" + pw + "%zz@db/app", "invalid percent-encoding"},
        {"postgresql://app:" + pw + "@db/app?" + pw, "a query parameter is not written key=value"},
        {"postgresql://app:" + pw + "@db/app?nosuch=" + pw, "unknown connection parameter 'nosuch' in the query"},
        {"mysql://app:" + pw + "@db/app", "unsupported database URL scheme 'mysql'"},
        {"app:" + pw + "@db://x", "unsupported database URL scheme"},
        {"postgresql:/app:" + pw + "@db/app", "invalid database URL: no scheme"},
        {"postgresql+pg9://app:" + pw + "@db/app", "unknown PostgreSQL driver suffix '+pg9'"},
        {"sqlite://app:" + pw + "@db/app.db", "invalid SQLite URL: a host is not allowed"},
    };
    int runs = 0;
    for (Source source : {Source::cli, Source::env, Source::dotenv}) {
      for (const auto& b : bad) {
        for (const auto& args :
             std::vector<std::vector<std::string>>{{"migrate", "upgrade"}, {"-v", "migrate", "status"}}) {
          std::string what = std::string(name_of(source)) + ": " + b.expected + ": fastappkit " + join(args);
          CAPTURE(what);
          auto r = p.run(source, b.url, args);
          CHECK(r.code == 2);
          CHECK_MESSAGE(has(r.err, b.expected), r.err);
          check_clean(r, what);
          ++runs;
        }
      }
    }
    MESSAGE("malformed-URL runs: " << runs);
  }

  TEST_CASE(".env diagnostics show the key and the position, never the value") {
    SecretsProject p;
    struct Bad {
      std::string text, expected;
    };
    for (const auto& b : std::vector<Bad>{
             {"# s\nDATABASE_URL=\"postgresql://app:" + kPassword + "@db/app\n",
              ".env:2:14: unterminated quoted value of DATABASE_URL (the value is not shown)"},
             {"A=1\nSTRIPE_KEY " + kPassword + "\n",
              ".env:2:1: expected KEY=VALUE (the line is not shown: it may hold a secret)"},
             {"  " + kPassword + "\n", ".env:1:3: expected KEY=VALUE"},
             {"TOKEN='" + kPassword + "\nDATABASE_URL=sqlite:///app.db\n",
              ".env:1:7: unterminated quoted value of TOKEN"},
         }) {
      CAPTURE(b.expected);
      write_file(p.root / ".env", b.text);
      auto r = fastappkit({"migrate", "upgrade"}, p.root);
      CHECK(r.code == 2);
      CHECK_MESSAGE(has(r.err, b.expected), r.err);
      CHECK(has(r.err, "***"));
      check_clean(r, b.expected);
      CHECK_FALSE(fs::exists(p.root / "app.db"));
    }
  }

  TEST_CASE("the option parser never echoes a value that may hold a secret") {
    SecretsProject p;
    const std::string url = "postgresql://app:" + kPassword + "@db/app";
    struct Case {
      std::vector<std::string> args;
      std::string expected;
    };
    for (const auto& c : std::vector<Case>{
             {{"--lock-timeout", url, "migrate", "upgrade"}, "for option '--lock-timeout' is invalid"},
             {{"--lock-timeout=" + url, "migrate", "upgrade"}, "for option '--lock-timeout' is invalid"},
             {{"migrate", "upgrade", "--database-urll=" + url}, "unrecognised option '--database-urll'"},
             {{"migrate", "upgrade", "--revision", "head", "--revision", url},
              "option '--revision' cannot be specified more than once"},
             {{url, "migrate", "upgrade"}, "unknown command"},
             {{"migrate", "status", url}, "status"},
         }) {
      CAPTURE(join(c.args));
      auto r = fastappkit(c.args, p.root);
      CHECK(r.code == 2);
      CHECK_MESSAGE(has(r.err, c.expected), r.err);
      check_clean(r, join(c.args));
    }
  }

}  // TEST_SUITE
