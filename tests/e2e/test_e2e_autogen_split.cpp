// Autogenerate on PostgreSQL splits a mixed revision into online-safe parts (issue 16): the
// transactional changes with foreign keys NOT VALID, the indexes on existing tables built
// CONCURRENTLY in a transactional = false revision, then the validation; lint finds no error,
// upgrade applies them all, downgrade base reverts them. On SQLite one revision, as before.
#include <doctest/doctest.h>

#include <algorithm>

#include "harness.hpp"

using namespace e2e;

namespace {

const std::string kPosts =
    "[[tables]]\nname = \"orgs\"\ncolumns = [ { name = \"id\", type = \"integer\", primary_key = true } ]\n"
    "[[tables]]\nname = \"posts\"\ncolumns = [ { name = \"id\", type = \"integer\", primary_key = true }, { name = "
    "\"title\", type = \"string\", length = 200 }";

std::vector<fs::path> revision_files(const fs::path& versions) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(versions))
    if (e.path().extension() == ".toml") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_SUITE("fastappkit::e2e::lint") {
  TEST_CASE_TEMPLATE("autogenerate splits a mixed revision into online-safe parts on PostgreSQL only", B, Sqlite,
                     Postgresql) {
    const bool pg = std::string(B::name) == "postgresql";
    TempDir dir;
    REQUIRE_OK(fastappkit({"core", "new", "proj"}, dir.path));
    const fs::path root = dir.path / "proj";
    const fs::path versions = root / "core" / "db" / "migrations" / "versions";
    for (const auto& f : revision_files(versions)) fs::remove(f);
    auto db = make_database<B>(dir.path);
    auto run = [&](const std::vector<std::string>& args) {
      return fastappkit(args, root, {{"DATABASE_URL", db->url()}});
    };
    write_file(root / "core" / "models.toml", kPosts + " ]\n");
    REQUIRE_OK(run({"migrate", "core", "-m", "base"}));
    REQUIRE(revision_files(versions).size() == 1);
    REQUIRE_OK(run({"migrate", "upgrade"}));
    db->exec("INSERT INTO orgs (id) VALUES (1)");
    db->exec("INSERT INTO posts (id, title) VALUES (1, 'a'), (2, 'b')");

    // A new table with its index, a column and a foreign key on posts, an index on posts.
    write_file(
        root / "core" / "models.toml",
        kPosts +
            ", { name = \"org_id\", type = \"integer\", foreign_key = \"orgs.id\" } ]\n"
            "indexes = [ { name = \"ix_posts_title\", columns = [\"title\"] } ]\n"
            "[[tables]]\nname = \"tags\"\ncolumns = [ { name = \"id\", type = \"integer\", primary_key = true }, "
            "{ name = \"name\", type = \"text\" } ]\nindexes = [ { name = \"ix_tags_name\", columns = "
            "[\"name\"] } ]\n");
    auto r = run({"migrate", "core", "-m", "org and tags"});
    REQUIRE_OK(r);
    auto files = revision_files(versions);
    if (!pg) {
      REQUIRE(files.size() == 2);
      CHECK_NO_OUT(r, "split");
    } else {
      REQUIRE(files.size() == 4);
      CHECK_OUT(r, "PostgreSQL: the changes are split into 3 revisions");
      std::string first, concurrent, validate;
      std::vector<std::string> ids;
      for (const auto& f : files) {
        const std::string text = read_file(f);
        if (!has(f.filename().string(), "_base")) CHECK_OUT(r, "Generated " + f.string());
        if (has(text, "revision 1 of 3")) first = text;
        if (has(text, "revision 2 of 3")) concurrent = text;
        if (has(text, "revision 3 of 3")) validate = text;
      }
      CHECK_HAS(first, "# PostgreSQL online-safe split, revision 1 of 3");
      CHECK_HAS(first, "op = \"create_table\"\ntable = \"tags\"");
      CHECK_HAS(first, "name = \"ix_tags_name\"\ntable = \"tags\"\ncolumns = [\"name\"]\n\n");  // a new table: no need
      CHECK_HAS(first, "references_columns = [\"id\"]\nnot_valid = true");
      CHECK_LACKS(first, "transactional = false");
      CHECK_LACKS(first, "ix_posts_title");
      CHECK_HAS(concurrent, "transactional = false\n");
      CHECK_HAS(concurrent, "name = \"ix_posts_title\"\ntable = \"posts\"\ncolumns = [\"title\"]\nconcurrently = true");
      CHECK_HAS(concurrent,
                "[[downgrade]]\nop = \"drop_index\"\nname = \"ix_posts_title\"\ntable = \"posts\"\n"
                "concurrently = true");
      CHECK_HAS(concurrent, "message = \"org and tags (concurrent indexes)\"");
      CHECK_HAS(validate, "op = \"validate_constraint\"\nname = \"fk_posts_org_id_orgs\"\ntable = \"posts\"");
      CHECK_LACKS(validate, "[[downgrade]]");
      // Chained: each part comes after the one before.
      auto id_of = [](const std::string& text) { return text.substr(text.find("revision = \"") + 12, 12); };
      CHECK_HAS(concurrent, "down_revision = \"" + id_of(first) + "\"");
      CHECK_HAS(validate, "down_revision = \"" + id_of(concurrent) + "\"");
      CHECK_NO_OUT(r, "migrate lint on this revision");
    }
    auto lint = run({"migrate", "lint"});
    CHECK_OUT(lint, "0 error(s)");

    auto up = run({"migrate", "upgrade", "-v"});
    REQUIRE_OK(up);
    if (pg) {
      CHECK_OUT(up, "CREATE INDEX CONCURRENTLY \"ix_posts_title\"");
      CHECK_OUT(up, "REFERENCES \"orgs\" (\"id\") NOT VALID");
      CHECK_OUT(up, "VALIDATE CONSTRAINT \"fk_posts_org_id_orgs\"");
      CHECK(db->query("SELECT convalidated::text FROM pg_constraint WHERE conname = 'fk_posts_org_id_orgs'") ==
            std::vector<std::vector<std::string>>{{"true"}});
    }
    CHECK(db->query("SELECT count(*) FROM posts") == std::vector<std::vector<std::string>>{{"2"}});
    auto check = run({"migrate", "check"});
    CHECK_CODE(check, 0);
    REQUIRE_OK(run({"migrate", "downgrade", "base"}));
    CHECK(db->query("SELECT count(*) FROM alembic_version") == std::vector<std::vector<std::string>>{{"0"}});
    auto tables = db->tables();
    CHECK(std::find(tables.begin(), tables.end(), "posts") == tables.end());
    CHECK(std::find(tables.begin(), tables.end(), "tags") == tables.end());
    REQUIRE_OK(run({"migrate", "upgrade"}));
    CHECK_CODE(run({"migrate", "check"}), 0);
  }
}
