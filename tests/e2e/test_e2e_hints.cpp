// Every hint that names a fastappkit command names one the CLI accepts: each refusal below is
// provoked, each `fastappkit ...` in its hint is run as written (placeholders filled in), and
// the run must not fail to parse (unknown command or option, missing or unexpected argument).
#include <doctest/doctest.h>

#include <regex>

#include "harness.hpp"

using namespace e2e;

namespace {

// "fastappkit ..." commands in a hint, up to a separator; placeholders filled with real values.
std::vector<std::string> commands_in(const std::string& hint) {
  std::vector<std::string> out;
  static const std::regex cmd(R"(fastappkit [^,;()]*)");
  for (std::sregex_iterator it(hint.begin(), hint.end(), cmd), end; it != end; ++it) {
    std::string c = it->str();
    while (!c.empty() && (c.back() == ' ' || c.back() == '.' || c.back() == '\'')) c.pop_back();
    if (auto q = c.find('\''); q != std::string::npos) c = c.substr(0, q);  // "... 'fastappkit x' made"
    c = std::regex_replace(c, std::regex("<rev>"), "-1");
    c = std::regex_replace(c, std::regex("<name>"), "blog");
    c = std::regex_replace(c, std::regex(R"(\bMSG\b)"), "\"from a hint\"");
    out.push_back(c);
  }
  return out;
}

std::string hint_of(const RunResult& r) {
  auto at = r.err.find("hint: ");
  return at == std::string::npos ? std::string() : r.err.substr(at + 6, r.err.find('\n', at) - at - 6);
}

}  // namespace

TEST_SUITE("fastappkit::e2e") {
  TEST_CASE("every command a hint names is one the CLI accepts") {
    ExampleProject p;
    auto run = [&](const std::vector<std::string>& args) { return p.run(args); };
    REQUIRE_OK(run({"migrate", "all"}));

    const std::vector<std::vector<std::string>> refusals = {
        {"migrate", "downgrade", "base"},                             // cross-app refusal
        {"migrate", "downgrade"},                                     // no target
        {"migrate", "preview", "--downgrade"},                        // no revision
        {"migrate", "app", "payments", "downgrade"},                  // no revision
        {"migrate", "app", "blog", "upgrade"},                        // internal app
        {"migrate", "app", "payments", "makemigrations", "-m", "x"},  // external app
        {"migrate", "app", "blgo", "makemigrations", "-m", "x"},      // typo
        {"migrate", "core"},                                          // no message
        {"migrate", "stamp"},                                         // no revision
        {"migrate", "upgrade", "--revision", "abcdef999999"},         // unknown revision
        {"migrate", "downgrade", "-1", "--all"},                      // --all needs base
        {"app", "validate", "paymnts"},                               // typo
        {"plugin", "upgrade"},                                        // not a plugin folder
    };
    int hints = 0, commands = 0;
    for (const auto& args : refusals) {
      auto r = run(args);
      CAPTURE(r.command);
      CHECK_CODE(r, 2);
      std::string hint = hint_of(r);
      CHECK_MESSAGE(!hint.empty(), describe(r));
      ++hints;
      for (const auto& c : commands_in(hint)) {
        auto words = shell_words(c);
        auto h = run(std::vector<std::string>(words.begin() + 1, words.end()));
        INFO("hint of '" << r.command << "' names: " << c << "\n" << describe(h));
        for (const char* parse_error :
             {"unknown command", "unrecognised option", "unrecognized option", "unexpected argument",
              "the required argument", "missing command", "needs a target revision", "needs --revision"})
          CHECK_FALSE(has(h.err, parse_error));
        ++commands;
      }
    }
    CHECK(hints == static_cast<int>(refusals.size()));
    CHECK(commands >= 10);
  }

  TEST_CASE("relative revisions are values too, and a typo after an app name is named") {
    ExampleProject p;
    const fs::path& root = p.root;
    const TempDir& dir = p.dir;
    const std::map<std::string, std::string> env{{"DATABASE_URL", "sqlite:///app.db"}};
    auto run = [&](const std::vector<std::string>& args) { return p.run(args); };
    REQUIRE_OK(run({"migrate", "all"}));
    auto preview = run({"migrate", "preview", "--downgrade", "--revision", "-1"});
    REQUIRE_OK(preview);
    CHECK_OUT(preview, "downgrade to -1");
    REQUIRE_OK(run({"migrate", "app", "payments", "downgrade", "--revision", "-1"}));
    REQUIRE_OK(run({"migrate", "app", "payments", "downgrade", "-r", "-1"}));
    REQUIRE_OK(run({"migrate", "app", "payments", "upgrade"}));

    auto typo = run({"migrate", "app", "blog", "makemigration", "-m", "x"});
    CHECK_CODE(typo, 2);
    CHECK_ERR(typo, "unknown command 'migrate app blog' 'makemigration'");
    CHECK_ERR(typo, "did you mean 'makemigrations'?");

    auto nodir = fastappkit({"-C", (dir.path / "nope").string(), "migrate", "status"}, dir.path, env);
    CHECK_CODE(nodir, 2);
    CHECK_ERR(nodir, "no such directory");

    write_file(dir.path / "notes.txt", "not a database\n");
    auto notadb =
        fastappkit({"--database-url", "sqlite:///" + (dir.path / "notes.txt").string(), "migrate", "status"}, root, {});
    CHECK_CODE(notadb, 1);
    CHECK_ERR(notadb, "notes.txt is not an SQLite database");
    CHECK_ERR(notadb, "hint: point DATABASE_URL");

    auto core = run({"app", "new", "core"});
    CHECK_CODE(core, 2);
    CHECK_ERR(core, "'core' is reserved");
    auto inside = run({"app", "new", "shop", "--as-plugin"});
    CHECK_CODE(inside, 2);
    CHECK_ERR(inside, "is a project root");
    CHECK_FALSE(fs::exists(root / "shop"));

    write_file(root / "fastappkit.toml", "[tool.fastappkit]\napps = [\"apps.blog\", \"payments\"]\n");
    auto status = run({"migrate", "status"});
    REQUIRE_OK(status);
    CHECK_ERR(status, "holds app 'audit', which fastappkit.toml does not list");
  }

}  // TEST_SUITE
