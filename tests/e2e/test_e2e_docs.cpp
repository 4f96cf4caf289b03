// Runs every `fastappkit ...` line in the ```sh blocks of the user guides, in order, on one
// fresh copy of apps-example, so the docs cannot drift from the binary.
#include <doctest/doctest.h>

#include <sstream>

#include "harness.hpp"

using namespace e2e;

TEST_CASE("the commands in docs/getting-started.md and docs/models.md run as written") {
  TempDir dir;
  fs::path root = dir.path / "apps-example";
  copy_tree(source_dir() / "apps-example", root);
  install_plugins(root);  // what scripts/demo.sh does, as the guide says
  int ran = 0;
  for (const char* doc_name : {"getting-started.md", "models.md"}) {
    std::istringstream doc(read_file(source_dir() / "docs" / doc_name));
    std::string line;
    bool in_sh = false;
    while (std::getline(doc, line)) {
      if (line.rfind("```", 0) == 0) {
        in_sh = !in_sh && line == "```sh";
        continue;
      }
      if (!in_sh || line.rfind("fastappkit ", 0) != 0) continue;
      auto words = shell_words(line);
      std::vector<std::string> args(words.begin() + 1, words.end());
      RunResult r = fastappkit(args, root);
      INFO(doc_name << ": " << line << "\nstdout:\n" << r.out << "\nstderr:\n" << r.err);
      CHECK(r.code == 0);
      ++ran;
    }
  }
  CHECK(ran >= 14);
  CHECK(fs::exists(root / "app.db"));
}
