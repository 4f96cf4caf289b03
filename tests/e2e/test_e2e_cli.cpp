// The command line itself: help grouped by task, colour only where it is wanted, and the bash
// completion script the binary generates from its command table.
#include <doctest/doctest.h>

#include <regex>
#include <set>

#include "harness.hpp"

using namespace e2e;

namespace {

const std::string kEsc = "\x1b[";

// The command lines of `--help`: "  fastappkit <words>...", with the column its summary starts at.
struct HelpLine {
  std::string usage;
  std::size_t summary_column;
};

std::vector<HelpLine> help_commands(const std::string& help) {
  std::vector<HelpLine> lines;
  std::istringstream in(help);
  std::string line, pending;
  while (std::getline(in, line)) {
    if (line.rfind("  fastappkit ", 0) == 0) {
      // "  usage   summary" or "  usage" with the summary on the next line, indented.
      auto gap = line.find("   ", 2);
      if (gap == std::string::npos) {
        pending = line.substr(2);
        continue;
      }
      lines.push_back({line.substr(2, gap - 2), line.find_first_not_of(' ', gap)});
    } else if (!pending.empty()) {
      lines.push_back({pending, line.find_first_not_of(' ')});
      pending.clear();
    }
  }
  return lines;
}

// Runs the completion function the binary generated for the words typed so far (`words` split at
// spaces; the word being completed is the text after the last space, maybe empty) and returns what
// it offers.
std::string complete(const fs::path& script, const fs::path& project, const std::string& words) {
  const fs::path driver = script.parent_path() / "complete.sh";
  write_file(driver, "export PATH=\"" + fs::path(FASTAPPKIT_BIN).parent_path().string() +
                         ":$PATH\"\n"
                         "source \"$1\"; shift\n"
                         "COMP_WORDS=(fastappkit \"$@\"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _fastappkit\n"
                         "echo \"${COMPREPLY[*]}\"\n");
  std::string cmd = "bash '" + driver.string() + "' '" + script.string() + "' -C '" + project.string() + "'";
  std::string word;
  for (char c : words + " ") {
    if (c != ' ') {
      word += c;
      continue;
    }
    cmd += " '" + word + "'";
    word.clear();
  }
  std::string out;
  REQUIRE_MESSAGE(shell(cmd, &out) == 0, cmd << "\n" << out);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

TEST_SUITE("fastappkit::e2e") {
  TEST_CASE("--help lists every command once, under a task heading, in aligned columns") {
    TempDir dir;
    auto r = fastappkit({"--help"}, dir.path);
    REQUIRE_OK(r);
    for (const char* heading :
         {"Start a project or an app:", "Migrate the database:", "See where things stand, and what would run:",
          "Write revisions:", "In a plugin's source folder:", "Shell:"})
      CHECK_OUT(r, heading);
    CHECK_NO_OUT(r, "Other commands");  // every command of the table has its group
    auto lines = help_commands(r.out);
    CHECK(lines.size() >= 25);
    std::set<std::string> seen;
    std::set<std::size_t> columns;
    for (const auto& l : lines) {
      CHECK_MESSAGE(seen.insert(l.usage).second, "listed twice: " << l.usage);
      columns.insert(l.summary_column);
    }
    CHECK_MESSAGE(columns.size() == 1, "summaries start at " << columns.size() << " columns\n" << r.out);
    // Tasks come in the order a user meets them: migrating before inspecting before writing.
    CHECK(r.out.find("fastappkit migrate all") < r.out.find("fastappkit migrate check"));
    CHECK(r.out.find("fastappkit migrate check") < r.out.find("fastappkit migrate merge"));
    // A group's help shows only that group's commands.
    auto plugin = fastappkit({"plugin", "--help"}, dir.path);
    REQUIRE_OK(plugin);
    CHECK_OUT(plugin, "fastappkit plugin check");
    CHECK_NO_OUT(plugin, "fastappkit migrate all");
  }

  TEST_CASE("colour: off when piped or with NO_COLOR, on with --color always or on a terminal") {
    TempDir dir;
    // Piped (as here): no escape codes, in errors or listings.
    auto piped = fastappkit({"migrate", "status"}, dir.path);
    CHECK_CODE(piped, 2);
    CHECK_MESSAGE(!has(piped.err, kEsc), describe(piped));
    auto forced = fastappkit({"--color", "always", "migrate", "status"}, dir.path);
    CHECK_CODE(forced, 2);
    CHECK_ERR(forced, "\x1b[1;31merror:\x1b[0m");
    CHECK_ERR(forced, "\x1b[36mhint:\x1b[0m");
    auto never = fastappkit({"--color=never", "migrate", "status"}, dir.path, {{"NO_COLOR", ""}});
    CHECK_MESSAGE(!has(never.err, kEsc), describe(never));
    auto bad = fastappkit({"--color", "sometimes", "migrate", "status"}, dir.path);
    CHECK_CODE(bad, 2);
    CHECK_ERR(bad, "unknown --color 'sometimes'");

    // On a terminal (util-linux `script` gives the command a pseudo-terminal): colour by
    // default, none with NO_COLOR set.
    std::string tty, tty_no_color;
    const std::string bin = FASTAPPKIT_BIN;
    const std::string script = "script -qec '" + bin + " migrate status' /dev/null";
    shell("cd " + dir.path.string() + " && env -u NO_COLOR TERM=xterm " + script, &tty);
    shell("cd " + dir.path.string() + " && env NO_COLOR=1 TERM=xterm " + script, &tty_no_color);
    CHECK_MESSAGE(has(tty, "\x1b[1;31merror:"), tty);
    CHECK_MESSAGE(has(tty_no_color, "error:"), tty_no_color);
    CHECK_MESSAGE(!has(tty_no_color, kEsc), tty_no_color);
  }

  TEST_CASE("colour marks status words in listings, and JSON never has any") {
    ExampleProject p;
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    auto list = p.run({"--color", "always", "app", "list"});
    REQUIRE_OK(list);
    CHECK_OUT(list, "\x1b[32mup to date\x1b[0m");  // core
    CHECK_OUT(list, "\x1b[33m1 pending\x1b[0m");   // an external app not yet migrated
    auto json = p.run({"--color", "always", "--json", "app", "list"});
    REQUIRE_OK(json);
    CHECK_NO_OUT(json, kEsc);
    auto all = p.run({"--color", "always", "migrate", "all"});
    REQUIRE_OK(all);
    CHECK_OUT(all, "\x1b[32mapplied\x1b[0m");
  }

  TEST_CASE("bash completion is generated from the command table and completes commands, options and apps") {
    ExampleProject p;
    TempDir dir;
    auto r = fastappkit({"completion", "bash"}, dir.path);
    REQUIRE_OK(r);
    CHECK_OUT(r, "complete -o default -F _fastappkit fastappkit");
    const fs::path script = dir.path / "fastappkit.bash";
    write_file(script, r.out);
    // The build writes the same script for the package to install.
    CHECK(read_file(build_dir() / "engine" / "completion" / "fastappkit") == r.out);

    CHECK(complete(script, p.root, "") == "migrate plugin core app manpage completion");
    CHECK(complete(script, p.root, "migrate up") == "upgrade");
    CHECK(complete(script, p.root, "mi") == "migrate");
    CHECK(complete(script, p.root, "migrate downgrade base --a") == "--all");
    CHECK(complete(script, p.root, "migrate preview --down") == "--downgrade");
    CHECK(complete(script, p.root, "--js") == "--json");
    // An app's name where a command takes one: the project's apps (not core).
    CHECK(complete(script, p.root, "migrate app ") == "blog payments audit");
    CHECK(complete(script, p.root, "migrate app payments ") == "makemigrations upgrade downgrade preview");
    // Every command of --help completes word by word.
    auto help = fastappkit({"--help"}, dir.path);
    for (const auto& l : help_commands(help.out)) {
      std::istringstream words(l.usage);
      std::string w, typed;
      words >> w;  // "fastappkit"
      while (words >> w && w[0] != '[' && w[0] != '-' && (w[0] != '<' || w == "<name>")) {
        if (w == "<name>") {  // an app's name: offered from the project (checked above)
          typed += "payments ";
          continue;
        }
        std::string offered = complete(script, p.root, typed);
        CHECK_MESSAGE(has(" " + offered + " ", " " + w + " "),
                      "'" << typed << "' offers '" << offered << "', not " << w);
        typed += w + " ";
      }
    }
  }
}

TEST_SUITE("fastappkit::e2e::cli") {
  TEST_CASE("targets: positional or --revision on every run command; an empty one is refused (issue 33, 3 and 12)") {
    ExampleProject p(Sqlite{});
    // apps-example: core with internal apps, and the external apps payments and audit.
    auto up = p.run({"migrate", "upgrade", "head"});
    REQUIRE_OK(up);
    CHECK_OUT(up, "(head)");
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"migrate", "app", "payments", "upgrade", "head"},
          std::vector<std::string>{"migrate", "app", "payments", "downgrade", "base"},
          std::vector<std::string>{"migrate", "app", "payments", "upgrade", "--revision", "head"},
          std::vector<std::string>{"migrate", "preview", "head"}})
      REQUIRE_OK(p.run(args));
    CHECK(p.versions("alembic_version_payments").size() == 1);
    auto twice = p.run({"migrate", "upgrade", "head", "--revision", "head"});
    CHECK_CODE(twice, 2);
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"migrate", "upgrade", "--revision", ""},
          std::vector<std::string>{"migrate", "downgrade", ""}, std::vector<std::string>{"migrate", "stamp", ""}}) {
      auto empty = p.run(args);
      CHECK_CODE(empty, 2);
      CHECK_ERR(empty, "the target revision is empty");
    }
  }

  TEST_CASE("downgrade warns about a revision edited after it was applied, as status does (issue 33, 11)") {
    TempDir dir;
    REQUIRE_OK(fastappkit({"core", "new", "proj"}, dir.path));
    const fs::path root = dir.path / "proj";
    const fs::path file = root / "core" / "db" / "migrations" / "versions" / "aaaaaaaaaaa1_t.toml";
    write_file(file,
               "revision = \"aaaaaaaaaaa1\"\nmessage = \"t\"\n[[upgrade]]\nop = \"create_table\"\ntable = \"t\"\n"
               "columns = [ { name = \"id\", type = \"integer\", primary_key = true } ]\n[[downgrade]]\n"
               "op = \"drop_table\"\ntable = \"t\"\n");
    REQUIRE_OK(fastappkit({"migrate", "upgrade"}, root));
    write_file(file, read_file(file) + "# edited after it was applied\n");
    auto down = fastappkit({"migrate", "downgrade", "base"}, root);
    REQUIRE_OK(down);
    CHECK_ERR(down, "aaaaaaaaaaa1");
    CHECK_ERR(down, "changed after it was applied");
  }
}

TEST_SUITE("fastappkit::e2e::cli") {
  TEST_CASE("newcomer papercuts (issue 33, 7 and 10): help, subfolders, URLs, folders, empty revisions") {
    TempDir dir;
    REQUIRE_OK(fastappkit({"core", "new", "proj"}, dir.path));
    const fs::path root = dir.path / "proj";

    // `fastappkit help [COMMAND]` is `--help`.
    auto help = fastappkit({"help", "migrate", "upgrade"}, root);
    REQUIRE_OK(help);
    CHECK_OUT(help, "usage: fastappkit migrate upgrade");
    CHECK_OUT(fastappkit({"help"}, root), "fastappkit help <command>");

    // From a subfolder: the seed's message, and the project above named in the hint.
    fs::create_directories(root / "apps" / "deep");
    auto below = fastappkit({"migrate", "status"}, root / "apps" / "deep");
    CHECK_CODE(below, 2);
    CHECK_ERR(below, "Configuration file not found");
    CHECK_ERR(below, "inside the project at " + root.string());

    // A mistyped URL parameter gets a did-you-mean; an SQLite file in a missing folder is an error.
    auto typo = fastappkit({"migrate", "status", "--database-url", "postgresql://u@localhost/db?sslmod=disable"}, root);
    CHECK_CODE(typo, 2);
    CHECK_ERR(typo, "did you mean 'sslmode'?");
    auto nofolder = fastappkit({"migrate", "status", "--database-url", "sqlite:///missing/app.db"}, root);
    CHECK_CODE(nofolder, 1);
    CHECK_ERR(nofolder, "folder " + (root / "missing").string() + " does not exist");

    // An empty revision shows how to write a step, commented out, and runs as it is.
    REQUIRE_OK(fastappkit({"migrate", "revision", "-m", "data fix"}, root));
    fs::path file;
    for (const auto& e : fs::directory_iterator(root / "core" / "db" / "migrations" / "versions"))
      if (e.path().extension() == ".toml") file = e.path();
    const std::string text = read_file(file);
    CHECK_HAS(text, "# op = \"execute\"");
    CHECK_HAS(text, "# [[downgrade]]");
    REQUIRE_OK(fastappkit({"migrate", "upgrade"}, root));
  }

  TEST_CASE("PostgreSQL: a database that does not exist gets a createdb hint (issue 33, 10)") {
    TempDir dir;
    REQUIRE_OK(fastappkit({"core", "new", "proj"}, dir.path));
    auto db = make_postgresql();
    std::string url = db->url();
    const auto slash = url.find("@/") + 2;
    url.replace(slash, url.find('?') - slash, "fastappkit_no_such_db");
    auto r = fastappkit({"migrate", "status"}, dir.path / "proj", {{"DATABASE_URL", url}});
    CHECK_CODE(r, 1);
    CHECK_ERR(r, "createdb");
    CHECK_ERR(r, "fastappkit_no_such_db");
  }
}
