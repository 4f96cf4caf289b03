// The two journeys of docs/workflows.md, on SQLite and PostgreSQL: a project from `core new`
// with an internal app, and an external app from `app new --as-plugin`, developed against its
// own database, built with CMake against the installed SDK, dropped into the project.
#include <doctest/doctest.h>

#include "harness.hpp"

using namespace e2e;

TEST_SUITE("fastappkit::e2e") {
  TEST_CASE_TEMPLATE("journeys: core new, app new, makemigrations, plugin development, drop-in, migrate all", B, Sqlite,
                     Postgresql) {
    TempDir dir;
    auto project_db = make_database<B>(dir.path / "p");
    fs::create_directories(dir.path / "p");
    fs::create_directories(dir.path / "q");
    auto plugin_db = make_database<B>(dir.path / "q");
    const std::map<std::string, std::string> project_env{{"DATABASE_URL", project_db->url()}};
    const std::map<std::string, std::string> plugin_env{{"DATABASE_URL", plugin_db->url()}};
    fs::path shop = dir.path / "shop";

    // Journey 1: a project and an internal app.
    REQUIRE_OK(fastappkit({"core", "new", "shop"}, dir.path));
    for (const char* f :
         {"fastappkit.toml", ".env", "core/models.toml", "core/db/migrations/versions", "apps", "plugins", "README.md"})
      CHECK_MESSAGE(fs::exists(shop / f), f);
    CHECK(has(read_file(shop / ".env"), "DATABASE_URL=sqlite:///app.db"));
    auto again = fastappkit({"core", "new", "shop"}, dir.path);
    CHECK(again.code == 2);
    CHECK(has(again.err, "already exists"));
    CHECK(fastappkit({"core", "new", "Bad-Name"}, dir.path).code == 2);

    REQUIRE_OK(fastappkit({"app", "new", "blog"}, shop));
    std::string config = read_file(shop / "fastappkit.toml");
    CHECK(has(config, "apps = [\"apps.blog\"]"));
    CHECK(has(config, "# fastappkit project."));  // comments kept
    CHECK(has(config, "# order = []"));
    write_file(
        shop / "apps" / "blog" / "models.toml",
        "[[tables]]\nname = \"posts\"\ncolumns = [\n  { name = \"id\", type = \"integer\", primary_key = true },\n"
        "  { name = \"title\", type = \"string\", length = 200, nullable = false },\n]\n");
    REQUIRE_OK(fastappkit({"migrate", "app", "blog", "makemigrations", "-m", "Add posts"}, shop, project_env));
    REQUIRE_OK(fastappkit({"migrate", "all"}, shop, project_env));
    REQUIRE_OK(fastappkit({"migrate", "check"}, shop, project_env));

    // Journey 2: an external app, developed on its own.
    REQUIRE_OK(fastappkit({"app", "new", "payments", "--as-plugin"}, dir.path));
    fs::path payments = dir.path / "payments";
    for (const char* f : {"plugin.toml", "CMakeLists.txt", "models.toml", "migrations/versions", ".env", "steps.cpp"})
      CHECK_MESSAGE(fs::exists(payments / f), f);
    write_file(payments / "models.toml",
               "[[tables]]\nname = \"payments_items\"\ncolumns = [\n  { name = \"id\", type = \"integer\", primary_key "
               "= true },\n"
               "  { name = \"amount\", type = \"numeric\", precision = 10, scale = 2, nullable = false, default = "
               "\"0\" },\n]\n");
    auto gen = fastappkit({"plugin", "revision", "--autogenerate", "-m", "Create items"}, payments, plugin_env);
    REQUIRE_OK(gen);
    CHECK(has(gen.out, "add table payments_items"));
    auto ext = fastappkit({"migrate", "app", "payments", "makemigrations", "-m", "x"}, shop, project_env);
    CHECK(ext.code == 2);  // not listed yet in the project
    REQUIRE_OK(fastappkit({"plugin", "upgrade"}, payments, plugin_env));
    REQUIRE_OK(fastappkit({"plugin", "check"}, payments, plugin_env));
    auto cur = fastappkit({"plugin", "current"}, payments, plugin_env);
    REQUIRE_OK(cur);
    CHECK(has(cur.out, "(head)"));
    CHECK(plugin_db->query("SELECT count(*) FROM alembic_version_payments")[0][0] == "1");
    REQUIRE_OK(fastappkit({"plugin", "downgrade", "base"}, payments, plugin_env));
    CHECK(plugin_db->query("SELECT count(*) FROM alembic_version_payments")[0][0] == "0");
    REQUIRE_OK(fastappkit({"plugin", "upgrade"}, payments, plugin_env));
    REQUIRE_OK(fastappkit({"plugin", "history"}, payments, plugin_env));

    // Build it against the installed SDK, drop it into the project, list it, migrate all.
    std::string log;
    fs::path prefix = dir.path / "prefix";
    REQUIRE_MESSAGE(
        shell("cmake --install '" + build_dir().string() + "' --prefix '" + prefix.string() + "' --component sdk",
              &log) == 0,
        log);
    REQUIRE_MESSAGE(shell("cmake -S '" + payments.string() + "' -B '" + (payments / "build").string() +
                              "' -DCMAKE_PREFIX_PATH='" + prefix.string() + "'",
                          &log) == 0,
                    log);
    REQUIRE_MESSAGE(shell("cmake --build '" + (payments / "build").string() + "'", &log) == 0, log);
    copy_tree(payments / "build" / "plugins" / "payments", shop / "plugins" / "payments");
    config = read_file(shop / "fastappkit.toml");
    config.replace(config.find("apps = [\"apps.blog\"]"), 20, "apps = [\"apps.blog\", \"payments\"]");
    write_file(shop / "fastappkit.toml", config);
    auto all = fastappkit({"migrate", "all"}, shop, project_env);
    REQUIRE_OK(all);
    CHECK(has(all.out, "payments: applying 1 migration(s)"));
    auto status = fastappkit({"--json", "migrate", "status"}, shop, project_env);
    REQUIRE_OK(status);
    auto head = plugin_db->query("SELECT version_num FROM alembic_version_payments")[0][0];
    auto payments_status = json_of(status)["apps"][1];
    CHECK(payments_status["version_table"] == "alembic_version_payments");
    CHECK(payments_status["current"] == nlohmann::json{head});
    CHECK(payments_status["heads"] == nlohmann::json{head});
    CHECK(payments_status["pending"].empty());
    REQUIRE_OK(fastappkit({"migrate", "check"}, shop, project_env));
  }

}  // TEST_SUITE

TEST_SUITE("fastappkit::e2e") {
  TEST_CASE_TEMPLATE("the shipped example plugins are plugin source folders", B, Sqlite, Postgresql) {
    TempDir dir;
    auto db = make_database<B>(dir.path);
    for (const char* name : {"payments", "audit"}) {
      fs::path src = dir.path / name;
      copy_tree(source_dir() / "plugins" / name, src);
      const std::map<std::string, std::string> env{{"DATABASE_URL", db->url()}};
      auto history = fastappkit({"plugin", "history"}, src, env);
      REQUIRE_OK(history);
      CHECK_OUT(history, "<base> -> ");
      auto current = fastappkit({"plugin", "current"}, src, env);
      REQUIRE_OK(current);
      CHECK_OUT(current, "(no revision applied)");
    }
    // The version written in the source plugin.toml is the built plugin's.
    CHECK(has(read_file(source_dir() / "plugins" / "audit" / "plugin.toml"), "version = \"0.3.1\""));
    CHECK(has(read_file(build_dir() / "plugins" / "audit" / "plugin.toml"), "version = \"0.3.1\""));
  }

}  // TEST_SUITE
