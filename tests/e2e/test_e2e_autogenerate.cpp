// The seed's "Migration Workflow Examples", word for word apart from models.toml, on SQLite
// and PostgreSQL: edit models, makemigrations, preview, migrate all, check.
#include <doctest/doctest.h>

#include <algorithm>

#include "harness.hpp"

using namespace e2e;

namespace {

struct SeedProject {
  TempDir dir;
  fs::path root = dir.path / "project";
  std::unique_ptr<Database> db;
  template <class B>
  explicit SeedProject(B) {
    copy_tree(source_dir() / "tests" / "fixtures" / "seed-workflow", root);
    db = make_database<B>(dir.path);
  }
  RunResult run(const std::vector<std::string>& args) const {
    return fastappkit(args, root, {{"DATABASE_URL", db->url()}});
  }
  void models(const std::string& text) const { write_file(root / "apps" / "blog" / "models.toml", text); }
  std::vector<fs::path> revisions() const {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(root / "core" / "db" / "migrations" / "versions"))
      out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
  }
};

}  // namespace

TEST_SUITE("fastappkit::e2e") {
  TEST_CASE_TEMPLATE("the seed's workflow: add a model, add a field, add a relationship", B, Sqlite, Postgresql) {
    SeedProject p{B{}};
    REQUIRE_OK(p.run({"migrate", "all"}));
    auto clean = p.run({"migrate", "check"});
    REQUIRE_OK(clean);

    // 1. Adding a new model.
    p.models(R"TOML([[tables]]
name = "posts"
columns = [
  { name = "id", type = "integer", primary_key = true },
  { name = "title", type = "string" },
]
)TOML");
    auto behind = p.run({"migrate", "check"});
    CHECK(behind.code == 1);
    CHECK(behind.out.find("add table posts") != std::string::npos);
    auto gen = p.run({"migrate", "app", "blog", "makemigrations", "-m", "Add post model"});
    REQUIRE_OK(gen);
    CHECK(gen.out.find("Generated ") != std::string::npos);
    CHECK(gen.out.find("add table posts") != std::string::npos);
    auto files = p.revisions();
    REQUIRE(files.size() == 2);
    std::string text = read_file(files[0].filename().string().rfind("0a1b", 0) == 0 ? files[1] : files[0]);
    CHECK(text.find("app = \"blog\"") != std::string::npos);
    CHECK(text.find("message = \"Add post model\"") != std::string::npos);
    CHECK(text.find("down_revision = \"0a1b2c3d4e5f\"") != std::string::npos);
    CHECK(text.find("# DESTRUCTIVE: drops table posts and all its rows\n[[downgrade]]\nop = \"drop_table\"") !=
          std::string::npos);
    auto preview = p.run({"migrate", "preview"});
    REQUIRE_OK(preview);
    CHECK(preview.out.find("CREATE TABLE \"posts\"") != std::string::npos);
    auto all = p.run({"migrate", "all"});
    REQUIRE_OK(all);
    CHECK(all.out.find("blog  applied") != std::string::npos);
    CHECK(all.out.find("internal apps (auth, blog): skipped, already included in core migrations") !=
          std::string::npos);
    REQUIRE_OK(p.run({"migrate", "check"}));
    p.db->exec("INSERT INTO posts (title) VALUES ('first')");

    // 2. Modifying an existing model.
    p.models(R"TOML([[tables]]
name = "posts"
columns = [
  { name = "id", type = "integer", primary_key = true },
  { name = "title", type = "string" },
  { name = "content", type = "string" },
]
)TOML");
    REQUIRE_OK(p.run({"migrate", "app", "blog", "makemigrations", "-m", "Add content to post"}));
    REQUIRE_OK(p.run({"migrate", "all"}));
    REQUIRE_OK(p.run({"migrate", "check"}));

    // 3. Adding a relationship.
    p.models(R"TOML([[tables]]
name = "posts"
columns = [
  { name = "id", type = "integer", primary_key = true },
  { name = "title", type = "string" },
  { name = "content", type = "string" },
  { name = "author_id", type = "integer", foreign_key = "users.id" },
]
)TOML");
    auto rel = p.run({"migrate", "app", "blog", "makemigrations", "-m", "Add author relationship"});
    REQUIRE_OK(rel);
    CHECK(rel.out.find("add column posts.author_id (integer)") != std::string::npos);
    CHECK(rel.out.find("add foreign key fk_posts_author_id_users on posts(author_id) -> users(id)") !=
          std::string::npos);
    REQUIRE_OK(p.run({"migrate", "all"}));
    REQUIRE_OK(p.run({"migrate", "check"}));
    CHECK(p.db->query("SELECT title FROM posts") == std::vector<std::vector<std::string>>{{"first"}});
    auto none = p.run({"migrate", "app", "blog", "makemigrations", "-m", "Nothing"});
    REQUIRE_OK(none);
    CHECK(none.out.find("No changes detected") != std::string::npos);
    CHECK(p.revisions().size() == 4);

    // One step down: check finds the database behind, upgrade brings it back.
    REQUIRE_OK(p.run({"migrate", "downgrade", "-1"}));
    auto down = p.run({"migrate", "check"});
    CHECK(down.code == 1);
    CHECK(down.out.find("database is behind") != std::string::npos);
    auto json = p.run({"--json", "migrate", "check"});
    CHECK(json.code == 1);
    CHECK(json_of(json)["ok"] == false);
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    REQUIRE_OK(p.run({"migrate", "check"}));

    // A change made behind the migrations' back is found.
    p.db->exec("CREATE INDEX ix_sneaky ON posts (content)");
    auto drift = p.run({"migrate", "check"});
    CHECK(drift.code == 1);
    CHECK(drift.out.find("database differs from its revision: add index ix_sneaky on posts(content)") !=
          std::string::npos);
  }

  TEST_CASE("autogenerate refusals") {
    TempDir dir;
    fs::path root = dir.path / "project";
    copy_tree(source_dir() / "tests" / "fixtures" / "seed-workflow", root);
    write_file(root / "fastappkit.toml", "[tool.fastappkit]\napps = [\"apps.auth\", \"apps.blog\", \"payments\"]\n");
    auto ext = fastappkit({"migrate", "app", "payments", "makemigrations", "-m", "x"}, root);
    CHECK(ext.code == 2);
    CHECK(ext.err.find("External apps cannot create migrations from core project") != std::string::npos);
    CHECK(ext.err.find("fastappkit plugin revision --autogenerate") != std::string::npos);
    auto internal = fastappkit({"migrate", "app", "blog", "upgrade"}, root);
    CHECK(internal.code == 2);
    CHECK(internal.err.find("use the unified commands: fastappkit migrate upgrade") != std::string::npos);
    auto typo = fastappkit({"migrate", "app", "blgo", "makemigrations", "-m", "x"}, root);
    CHECK(typo.code == 2);
    CHECK(typo.err.find("did you mean 'blog'?") != std::string::npos);
    auto nomsg = fastappkit({"migrate", "app", "blog", "makemigrations"}, root);
    CHECK(nomsg.code == 2);
    CHECK(nomsg.err.find("-m") != std::string::npos);

    write_file(root / "apps" / "blog" / "models.toml",
               "[[tables]]\nname = \"users\"\ncolumns = [ { name = \"id\", type = \"integer\" } ]\n");
    auto dup = fastappkit({"migrate", "app", "blog", "makemigrations", "-m", "x"}, root);
    CHECK(dup.code == 2);
    CHECK(dup.err.find("table 'users' is declared by two apps: auth") != std::string::npos);

    write_file(root / "apps" / "blog" / "models.toml",
               "[[tables]]\nname = \"posts\"\ncolumns = [ { name = \"id\", type = \"integer\", primary_key = true },\n"
               "  { name = \"author_id\", type = \"integer\", foreign_key = \"user.id\" } ]\n");
    auto ref = fastappkit({"migrate", "app", "blog", "makemigrations", "-m", "x"}, root);
    CHECK(ref.code == 2);
    CHECK(ref.err.find("references unknown table 'user'") != std::string::npos);
    CHECK(ref.err.find("did you mean 'users'?") != std::string::npos);

    write_file(root / "apps" / "blog" / "models.toml",
               "[[tables]]\nname = \"posts\"\ncolumns = [ { name = \"id\", type = \"integer\", primary_key = true },\n"
               "  { name = \"slug\", type = \"string\", unique = true } ]\nunique = [ { name = \"uc_posts_slug\", "
               "columns = [\"slug\"] } ]\n");
    auto dup_unique = fastappkit({"migrate", "app", "blog", "makemigrations", "-m", "x"}, root);
    CHECK(dup_unique.code == 2);
    CHECK(dup_unique.err.find("models.toml:1:1: unique constraints uq_posts_slug and uc_posts_slug of table 'posts' "
                              "cover the same columns (slug)") != std::string::npos);

    write_file(root / "apps" / "blog" / "models.toml",
               "[[tables]]\nname = \"posts\"\ncolumns = [ { name = \"id\", type = \"integr\" } ]\n");
    auto type = fastappkit({"migrate", "app", "blog", "makemigrations", "-m", "x"}, root);
    CHECK(type.code == 2);
    CHECK(type.err.find("models.toml:3:35: unknown column type 'integr'") != std::string::npos);
  }

}  // TEST_SUITE
