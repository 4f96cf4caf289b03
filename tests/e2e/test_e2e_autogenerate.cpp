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
    CHECK_OUT(behind, "add table posts");
    auto gen = p.run({"migrate", "app", "blog", "makemigrations", "-m", "Add post model"});
    REQUIRE_OK(gen);
    CHECK_OUT(gen, "Generated ");
    CHECK_OUT(gen, "add table posts");
    auto files = p.revisions();
    REQUIRE(files.size() == 2);
    std::string text = read_file(files[0].filename().string().rfind("0a1b", 0) == 0 ? files[1] : files[0]);
    CHECK_HAS(text, "app = \"blog\"");
    CHECK_HAS(text, "message = \"Add post model\"");
    CHECK_HAS(text, "down_revision = \"0a1b2c3d4e5f\"");
    CHECK_HAS(text, "# DESTRUCTIVE: drops table posts and all its rows\n[[downgrade]]\nop = \"drop_table\"");
    auto preview = p.run({"migrate", "preview"});
    REQUIRE_OK(preview);
    CHECK_OUT(preview, "CREATE TABLE \"posts\"");
    auto all = p.run({"migrate", "all"});
    REQUIRE_OK(all);
    CHECK_OUT(all, "blog  applied");
    CHECK_OUT(all, "internal apps (auth, blog): skipped, already included in core migrations");
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
    CHECK_OUT(rel, "add column posts.author_id (integer)");
    CHECK_OUT(rel, "add foreign key fk_posts_author_id_users on posts(author_id) -> users(id)");
    REQUIRE_OK(p.run({"migrate", "all"}));
    REQUIRE_OK(p.run({"migrate", "check"}));
    CHECK(p.db->query("SELECT title FROM posts") == std::vector<std::vector<std::string>>{{"first"}});
    auto none = p.run({"migrate", "app", "blog", "makemigrations", "-m", "Nothing"});
    REQUIRE_OK(none);
    CHECK_OUT(none, "No changes detected");
    // On PostgreSQL the relationship is written as two revisions: the key NOT VALID, then validated.
    CHECK(p.revisions().size() == (std::string(B::name) == "postgresql" ? 5U : 4U));

    // One step down: check finds the database behind, upgrade brings it back.
    REQUIRE_OK(p.run({"migrate", "downgrade", "-1"}));
    auto down = p.run({"migrate", "check"});
    CHECK(down.code == 1);
    CHECK_OUT(down, "database is behind");
    auto json = p.run({"--json", "migrate", "check"});
    CHECK(json.code == 1);
    CHECK(json_of(json)["ok"] == false);
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    REQUIRE_OK(p.run({"migrate", "check"}));

    // A change made behind the migrations' back is found.
    p.db->exec("CREATE INDEX ix_sneaky ON posts (content)");
    auto drift = p.run({"migrate", "check"});
    CHECK(drift.code == 1);
    CHECK_OUT(drift, "database differs from its revision: add index ix_sneaky on posts(content)");
  }

  TEST_CASE("autogenerate refusals") {
    TempDir dir;
    fs::path root = dir.path / "project";
    copy_tree(source_dir() / "tests" / "fixtures" / "seed-workflow", root);
    write_file(root / "fastappkit.toml", "[tool.fastappkit]\napps = [\"apps.auth\", \"apps.blog\", \"payments\"]\n");
    auto ext = fastappkit({"migrate", "app", "payments", "makemigrations", "-m", "x"}, root);
    CHECK(ext.code == 2);
    CHECK_ERR(ext, "External apps cannot create migrations from core project");
    CHECK_ERR(ext, "fastappkit plugin revision --autogenerate");
    auto internal = fastappkit({"migrate", "app", "blog", "upgrade"}, root);
    CHECK(internal.code == 2);
    CHECK_ERR(internal, "use the unified commands: fastappkit migrate upgrade");
    auto typo = fastappkit({"migrate", "app", "blgo", "makemigrations", "-m", "x"}, root);
    CHECK(typo.code == 2);
    CHECK_ERR(typo, "did you mean 'blog'?");
    auto nomsg = fastappkit({"migrate", "app", "blog", "makemigrations"}, root);
    CHECK(nomsg.code == 2);
    CHECK_ERR(nomsg, "-m");

    write_file(root / "apps" / "blog" / "models.toml",
               "[[tables]]\nname = \"users\"\ncolumns = [ { name = \"id\", type = \"integer\" } ]\n");
    auto dup = fastappkit({"migrate", "app", "blog", "makemigrations", "-m", "x"}, root);
    CHECK(dup.code == 2);
    CHECK_ERR(dup, "table 'users' is declared by two apps: auth");

    write_file(root / "apps" / "blog" / "models.toml",
               "[[tables]]\nname = \"posts\"\ncolumns = [ { name = \"id\", type = \"integer\", primary_key = true },\n"
               "  { name = \"author_id\", type = \"integer\", foreign_key = \"user.id\" } ]\n");
    auto ref = fastappkit({"migrate", "app", "blog", "makemigrations", "-m", "x"}, root);
    CHECK(ref.code == 2);
    CHECK_ERR(ref, "references unknown table 'user'");
    CHECK_ERR(ref, "did you mean 'users'?");

    write_file(root / "apps" / "blog" / "models.toml",
               "[[tables]]\nname = \"posts\"\ncolumns = [ { name = \"id\", type = \"integer\", primary_key = true },\n"
               "  { name = \"slug\", type = \"string\", unique = true } ]\nunique = [ { name = \"uc_posts_slug\", "
               "columns = [\"slug\"] } ]\n");
    auto dup_unique = fastappkit({"migrate", "app", "blog", "makemigrations", "-m", "x"}, root);
    CHECK(dup_unique.code == 2);
    CHECK_ERR(dup_unique,
              "models.toml:1:1: unique constraints uq_posts_slug and uc_posts_slug of table 'posts' "
              "cover the same columns (slug)");

    write_file(root / "apps" / "blog" / "models.toml",
               "[[tables]]\nname = \"posts\"\ncolumns = [ { name = \"id\", type = \"integr\" } ]\n");
    auto type = fastappkit({"migrate", "app", "blog", "makemigrations", "-m", "x"}, root);
    CHECK(type.code == 2);
    CHECK_ERR(type, "models.toml:3:35: unknown column type 'integr'");
  }

}  // TEST_SUITE
