// The parse cache (docs/performance.md) seen from the CLI: it is written beside the project, it
// never changes what a command reports, and it can be in the way without breaking anything.
#include <doctest/doctest.h>

#include "harness.hpp"

using namespace e2e;

namespace {

const char* const kPosts = "core/db/migrations/versions/3c4d5e6f7081_add_post_model.toml";

// Replaces the first `from` in the file by `to` (the same length: the size does not change).
void edit(const fs::path& file, const std::string& from, const std::string& to) {
  REQUIRE(from.size() == to.size());
  std::string text = read_file(file);
  auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  write_file(file, text.replace(at, from.size(), to));
}

}  // namespace

TEST_SUITE("fastappkit::e2e") {
  TEST_CASE_TEMPLATE("parse cache: edits are seen, errors are the same, a blocked cache is not an error", B, Sqlite,
                     Postgresql) {
    ExampleProject p{B{}};
    auto uncached = [&](const std::vector<std::string>& args) {
      return fastappkit(args, p.root, {{"DATABASE_URL", p.db->url()}, {"FASTAPPKIT_NO_CACHE", "1"}});
    };
    REQUIRE_OK(p.run({"migrate", "all"}));
    const fs::path cache = p.root / ".fastappkit" / "cache" / "core.bin";
    CHECK(fs::is_regular_file(cache));
    CHECK(fs::is_regular_file(p.root / ".fastappkit" / "cache" / "app-payments.bin"));
    REQUIRE_OK(p.run({"migrate", "check"}));

    // An applied revision edited in place, same size: check reports it, as without the cache.
    edit(p.root / kPosts, "Add post model", "Add post modle");
    auto cached = p.run({"migrate", "check"});
    CHECK_CODE(cached, 1);
    CHECK_OUT(cached, "revision 3c4d5e6f7081 (");
    CHECK_OUT(cached, "was edited after it was applied");
    auto plain = uncached({"migrate", "check"});
    CHECK(plain.code == cached.code);
    CHECK(plain.out == cached.out);
    CHECK(plain.err == cached.err);

    // A broken edit: the same refusal at file:line:col with and without the cache, nothing run.
    edit(p.root / kPosts, "op = \"create_table\"", "op = \"create_tabel\"");
    auto refused = p.run({"migrate", "upgrade"});
    CHECK_CODE(refused, 2);
    CHECK_ERR(refused, "3c4d5e6f7081_add_post_model.toml:8:6: unknown operation 'create_tabel'");
    auto refused_plain = uncached({"migrate", "upgrade"});
    CHECK(refused_plain.code == 2);
    CHECK(refused_plain.err == refused.err);
    edit(p.root / kPosts, "op = \"create_tabel\"", "op = \"create_table\"");
    edit(p.root / kPosts, "Add post modle", "Add post model");
    REQUIRE_OK(p.run({"migrate", "check"}));

    // A file where the cache folder would go: commands work, and nothing is cached.
    fs::remove_all(p.root / ".fastappkit");
    write_file(p.root / ".fastappkit", "not a folder");
    auto status = p.run({"migrate", "status"});
    CHECK_CODE(status, 0);
    CHECK_NO_ERR(status, "cache");
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    CHECK(fs::is_regular_file(p.root / ".fastappkit"));
  }
}

TEST_SUITE("fastappkit::e2e") {
  TEST_CASE("parse cache: a generated revision is kept, so the next load parses no file") {
    TempDir dir;
    REQUIRE_OK(fastappkit({"core", "new", "proj"}, dir.path));
    const fs::path root = dir.path / "proj";
    const fs::path marks = dir.path / "marks";
    fs::create_directories(marks);
    // Runs with the test hook that reports a parse (a revision the cache did not have).
    auto run = [&](const std::vector<std::string>& args, bool& parsed) {
      fs::remove(marks / "parse-cache-miss");
      auto r = fastappkit(args, root,
                          {{"DATABASE_URL", "sqlite:///" + (dir.path / "app.db").string()},
                           {"FASTAPPKIT_TEST_MARK_DIR", marks.string()}});
      parsed = fs::exists(marks / "parse-cache-miss");
      return r;
    };
    auto table = [](const std::string& name) {
      return "[[tables]]\nname = \"" + name +
             "\"\ncolumns = [\n  { name = \"id\", type = \"integer\", primary_key = true },\n"
             "  { name = \"title\", type = \"string\", length = 80 },\n]\n\n";
    };
    bool parsed = false;
    write_file(root / "core" / "models.toml", table("posts"));
    REQUIRE_OK(run({"migrate", "core", "-m", "add posts"}, parsed));
    CHECK(parsed);  // written, then read back: the one parse
    auto history = run({"migrate", "history"}, parsed);
    REQUIRE_OK(history);
    CHECK_OUT(history, "add posts");
    CHECK_FALSE(parsed);

    // A second revision keeps the first one's entry.
    write_file(root / "core" / "models.toml", table("posts") + table("tags"));
    REQUIRE_OK(run({"migrate", "core", "-m", "add tags"}, parsed));
    history = run({"migrate", "history"}, parsed);
    REQUIRE_OK(history);
    CHECK_OUT(history, "add tags");
    CHECK_FALSE(parsed);
    // And the load's answer is the one without any cache.
    auto uncached =
        fastappkit({"migrate", "history"}, root,
                   {{"DATABASE_URL", "sqlite:///" + (dir.path / "app.db").string()}, {"FASTAPPKIT_NO_CACHE", "1"}});
    REQUIRE_OK(uncached);
    CHECK(uncached.out == history.out);
  }
}
