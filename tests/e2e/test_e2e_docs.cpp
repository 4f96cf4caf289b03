// Runs every `fastappkit ...` line of docs/getting-started.md, in order, on a fresh copy of
// apps-example, so the guide cannot drift from the binary.
#include <doctest/doctest.h>

#include <sstream>

#include "harness.hpp"

using namespace e2e;

TEST_CASE("docs/getting-started.md commands run as written") {
  TempDir dir;
  fs::path root = dir.path / "apps-example";
  copy_tree(source_dir() / "apps-example", root);
  std::istringstream doc(read_file(source_dir() / "docs" / "getting-started.md"));
  std::string line;
  bool in_sh = false;
  int ran = 0;
  while (std::getline(doc, line)) {
    if (line.rfind("```", 0) == 0) {
      in_sh = !in_sh && line == "```sh";
      continue;
    }
    if (!in_sh || line.rfind("fastappkit ", 0) != 0) continue;
    std::vector<std::string> args;
    std::istringstream words(line.substr(11));
    for (std::string w; words >> w;) args.push_back(w);
    RunResult r = fastappkit(args, root);
    INFO("command: " << line << "\nstdout:\n" << r.out << "\nstderr:\n" << r.err);
    CHECK(r.code == 0);
    ++ran;
  }
  CHECK(ran >= 10);
  CHECK(fs::exists(root / "app.db"));
}
