// One project, one plan (SPEC §8, §9): guarantees that hold across apps, each on SQLite and
// PostgreSQL, each refusal asserting the database is unchanged.
#include <doctest/doctest.h>

#include <algorithm>

#include "harness.hpp"

using namespace e2e;

namespace {

struct CrossApp : ExampleProject {
  using ExampleProject::ExampleProject;
  // Everything a refusal must leave as it was.
  std::string snapshot() const {
    std::string s = db->schema_dump();
    for (const auto& t : {"alembic_version", "alembic_version_payments", "alembic_version_audit"})
      for (const auto& v : versions(t)) s += std::string(t) + "=" + v + "\n";
    if (has_table("payments_invoices"))
      for (auto& r : db->query("SELECT id, user_id, amount FROM payments_invoices ORDER BY id"))
        s += "invoice " + r[0] + " " + r[1] + " " + r[2] + "\n";
    return s;
  }
  void migrate_with_data() const {
    auto all = run({"migrate", "all"});
    REQUIRE_OK(all);
    db->exec("INSERT INTO users (id, email) VALUES (1, 'ada@example.com')");
    db->exec("INSERT INTO payments_invoices (id, user_id, currency, amount) VALUES (10, 1, 'EUR', 12.50)");
  }
};

}  // namespace

TEST_SUITE("fastappkit::e2e") {
  TEST_CASE_TEMPLATE("a core downgrade never reaches into an external app's rows", B, Sqlite, Postgresql) {
    CrossApp p{B{}};
    p.migrate_with_data();
    const std::string before = p.snapshot();

    auto down = p.run({"migrate", "downgrade", "base"});
    CHECK_CODE(down, 2);
    CHECK_ERR(down, "refusing to downgrade core to 'base'");
    CHECK_ERR(down, "drops table 'users'");
    CHECK_ERR(down, "external app payments: payments_invoices (user_id) -> users (id)");
    CHECK_ERR(down, "external app audit: audit_events (user_id) -> users (id)");
    // The commands that revert them first, in reverse manifest order, and the one that does it all.
    CHECK_ERR(down,
              "fastappkit migrate app audit downgrade --revision base, then fastappkit migrate app payments downgrade "
              "--revision base");
    CHECK_ERR(down, "fastappkit migrate downgrade base --all");
    CHECK(p.snapshot() == before);

    // The preview of that downgrade is refused the same way.
    auto preview = p.run({"migrate", "preview", "--downgrade", "--revision=base"});
    CHECK_CODE(preview, 2);
    CHECK(p.snapshot() == before);

    // Reverting only what nobody references is fine: the blog revisions.
    REQUIRE_OK(p.run({"migrate", "downgrade", "2b3c4d5e6f70"}));
    CHECK(p.versions("alembic_version") == std::vector<std::string>{"2b3c4d5e6f70"});
    CHECK(p.db->query("SELECT count(*) FROM payments_invoices")[0][0] == "1");
    REQUIRE_OK(p.run({"migrate", "upgrade"}));

    // Once the referencing apps are reverted, core may go.
    REQUIRE_OK(p.run({"migrate", "app", "audit", "downgrade", "--revision", "base"}));
    auto still = p.run({"migrate", "downgrade", "base"});
    CHECK_CODE(still, 2);
    CHECK_ERR(still, "external app payments");
    CHECK(!has(still.err, "external app audit"));
    p.db->exec("DELETE FROM payments_invoices");  // its seed revision deletes the currencies the invoice uses
    REQUIRE_OK(p.run({"migrate", "app", "payments", "downgrade", "--revision", "base"}));
    REQUIRE_OK(p.run({"migrate", "downgrade", "base"}));
    CHECK(p.versions("alembic_version").empty());
  }

  TEST_CASE_TEMPLATE("migrate downgrade base --all reverts external apps first, then core", B, Sqlite, Postgresql) {
    CrossApp p{B{}};
    p.migrate_with_data();
    p.db->exec("DELETE FROM payments_invoices");
    auto down = p.run({"migrate", "downgrade", "base", "--all"});
    REQUIRE_OK(down);
    auto audit = down.out.find("audit: reverting 1 migration(s)");
    auto payments = down.out.find("payments: reverting 2 migration(s)");
    auto core = down.out.find("core: reverting 4 migration(s)");
    CHECK_MESSAGE(audit < payments, describe(down));
    CHECK_MESSAGE(payments < core, describe(down));
    CHECK_MESSAGE(core != std::string::npos, describe(down));
    for (const auto& t : {"alembic_version", "alembic_version_payments", "alembic_version_audit"})
      CHECK(p.versions(t).empty());
    for (const auto& t : {"users", "payments_invoices", "audit_events"}) CHECK_FALSE(p.has_table(t));

    auto only_base = p.run({"migrate", "downgrade", "-1", "--all"});
    CHECK_CODE(only_base, 2);
    CHECK_ERR(only_base, "reverts every app to base");
  }

  TEST_CASE_TEMPLATE("migrate check covers every external app", B, Sqlite, Postgresql) {
    CrossApp p{B{}};
    REQUIRE_OK(p.run({"migrate", "all"}));
    REQUIRE_OK(p.run({"migrate", "check"}));

    p.db->exec("ALTER TABLE payments_invoices ADD COLUMN sneaky text");
    auto drift = p.run({"migrate", "check"});
    CHECK_CODE(drift, 1);
    CHECK_OUT(drift, "external app payments: database");
    CHECK_OUT(drift, "add column payments_invoices.sneaky (text)");
    auto j = json_of(p.run({"--json", "migrate", "check"}));
    CHECK(j["ok"] == false);
    CHECK(j["apps"][0]["app"] == "core");
    CHECK(j["apps"][0]["ok"] == true);
    CHECK(j["apps"][1]["app"] == "payments");
    CHECK(j["apps"][1]["ok"] == false);
    p.db->exec("ALTER TABLE payments_invoices DROP COLUMN sneaky");
    REQUIRE_OK(p.run({"migrate", "check"}));

    REQUIRE_OK(p.run({"migrate", "app", "audit", "downgrade", "--revision", "base"}));
    auto behind = p.run({"migrate", "check"});
    CHECK_CODE(behind, 1);
    CHECK_OUT(behind, "external app audit: database");
    CHECK_OUT(behind, "database is behind: at base, 1 migration(s) pending (5f4e3d2c1b0a)");
    REQUIRE_OK(p.run({"migrate", "all"}));

    // A revision edited after it was applied is a difference too.
    fs::path rev = p.root / "core" / "db" / "migrations" / "versions" / "2b3c4d5e6f70_create_sessions.toml";
    write_file(rev, read_file(rev) + "\n# edited after it was applied\n");
    auto edited = p.run({"migrate", "check"});
    CHECK_CODE(edited, 1);
    CHECK_OUT(edited, "revision 2b3c4d5e6f70");
    CHECK_OUT(edited, "was edited after it was applied");
    auto quiet = p.run({"-q", "migrate", "upgrade"});
    REQUIRE_OK(quiet);
    CHECK(quiet.err.empty());
  }

  TEST_CASE_TEMPLATE("a broken plugin is marked while every healthy app is shown", B, Sqlite, Postgresql) {
    CrossApp p{B{}};
    REQUIRE_OK(p.run({"migrate", "all"}));
    write_file(p.root / "plugins" / "audit" / "plugin.toml",
               "name = \"audit\"\nversion = \"0.3.1\"\nlibrary = \"libaudit.so\"\nabi = 1\n");
    const std::string before = p.snapshot();

    auto status = p.run({"migrate", "status"});
    CHECK_CODE(status, 2);
    CHECK_OUT(status, "core + internal apps: blog");
    CHECK_OUT(status, "payments (external app, plugin 1.0.0)");
    CHECK_OUT(status, "audit (external app)\n  INVALID: ");
    CHECK_OUT(status, "plugin.toml:4:7");
    auto js = json_of(p.run({"--json", "migrate", "status"}));
    CHECK(js["apps"][1]["current"] == nlohmann::json{"8b7c6d5e4f3a"});
    CHECK(js["apps"][2]["app"] == "audit");
    CHECK(js["apps"][2]["error"]["line"] == 4);

    auto check = p.run({"migrate", "check"});
    CHECK_CODE(check, 2);
    CHECK_OUT(check, "external app audit: INVALID");
    CHECK_NO_OUT(check, "external app payments: INVALID");

    auto list = p.run({"app", "list"});
    CHECK_CODE(list, 2);
    CHECK_OUT(list, "up to date");
    CHECK_OUT(list, "invalid: ");

    // Commands that would run the broken app refuse it; core-only commands still work.
    auto all = p.run({"migrate", "all"});
    CHECK_CODE(all, 2);
    CHECK_ERR(all, "plugin.toml:4:7");
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    CHECK(p.snapshot() == before);
  }

  TEST_CASE_TEMPLATE("autogenerate refuses a table that an external app owns", B, Sqlite, Postgresql) {
    CrossApp p{B{}};
    const fs::path models = p.root / "apps" / "blog" / "models.toml";
    write_file(models, read_file(models) +
                           "\n[[tables]]\nname = \"audit_events\"\ncolumns = [ { name = \"id\", type = \"integer\", "
                           "primary_key = true } ]\n");
    auto files_before = std::distance(fs::directory_iterator(p.root / "core" / "db" / "migrations" / "versions"),
                                      fs::directory_iterator{});
    auto r = p.run({"migrate", "app", "blog", "makemigrations", "-m", "take audit's table"});
    CHECK_CODE(r, 2);
    CHECK_ERR(r, "table 'audit_events' is declared by internal app 'blog' but belongs to external app 'audit'");
    CHECK_ERR(r, "models.toml:");
    auto files_after = std::distance(fs::directory_iterator(p.root / "core" / "db" / "migrations" / "versions"),
                                     fs::directory_iterator{});
    CHECK(files_before == files_after);
    auto core = p.run({"migrate", "core", "-m", "take audit's table"});
    CHECK_CODE(core, 2);
    CHECK(p.db->tables().empty());
  }

  TEST_CASE_TEMPLATE("--json errors are JSON on stdout", B, Sqlite, Postgresql) {
    CrossApp p{B{}};
    auto unknown = p.run({"--json", "migrate", "upgrade", "--revision", "abcdef999999"});
    CHECK_CODE(unknown, 2);
    auto j = json_of(unknown);
    CHECK(j["error"]["message"] == "Can't locate revision identified by 'abcdef999999'");
    CHECK(j["error"]["hint"].is_string());
    CHECK(j["error"]["file"].is_null());

    write_file(p.root / "fastappkit.toml", "[tool.fastappkit]\napps = [\"apps.blog\", \"payments\", \"audit\"\n");
    auto bad = p.run({"--json", "migrate", "status"});
    CHECK_CODE(bad, 2);
    auto e = json_of(bad)["error"];
    CHECK(e["file"] == (p.root / "fastappkit.toml").string());
    CHECK(e["line"].is_number());
    CHECK(e["column"].is_number());
    CHECK(has(e["message"].get<std::string>(), "invalid TOML"));
    CHECK(p.db->tables().empty());

    auto usage = p.run({"--json", "migrate", "upgrade", "--no-such-option"});
    CHECK_CODE(usage, 2);
    CHECK(json_of(usage)["error"]["message"].is_string());
  }

  TEST_CASE("migrate all renders every app before its first write") {
    // pgonly's revision has an execute with PostgreSQL SQL only: on SQLite it cannot render, and
    // core (first in the run) must not be applied either.
    TempDir dir;
    fs::path root = dir.path / "project";
    copy_tree(source_dir() / "apps-example", root);
    install_plugins(root);
    copy_tree(test_plugins_dir() / "pgonly", root / "plugins" / "pgonly");
    write_file(root / "fastappkit.toml", "[tool.fastappkit]\napps = [\"apps.blog\", \"payments\", \"pgonly\"]\n");
    auto r = fastappkit({"migrate", "all"}, root, {{"DATABASE_URL", "sqlite:///app.db"}});
    CHECK_CODE(r, 2);
    CHECK_ERR(r, "a7a7a7a7a7a7_pg_only.toml");
    CHECK_ERR(r, "has no SQL for sqlite");
    CHECK_FALSE(fs::exists(root / "app.db"));
    // With a database that exists, nothing is written either.
    auto db = make_sqlite(dir.path);
    db->exec("CREATE TABLE keep (id integer)");
    const std::string before = db->schema_dump();
    auto again = fastappkit({"migrate", "all"}, root, {{"DATABASE_URL", db->url()}});
    CHECK_CODE(again, 2);
    CHECK(db->schema_dump() == before);
  }

  TEST_CASE_TEMPLATE("a call step missing from a stale library is refused before the first write", B, Sqlite,
                     Postgresql) {
    TempDir dir;
    fs::path src = dir.path / "stepfail";
    auto db = make_database<B>(dir.path);
    write_file(src / "plugin.toml",
               "name = \"stepfail\"\nversion = \"1.0.0\"\nlibrary = \"libstepfail.so\"\nabi = \"1.0\"\n");
    copy_tree(source_dir() / "tests" / "plugins" / "step_fails", src / "migrations" / "versions");
    fs::remove(src / "migrations" / "versions" / "e5e5e5e5e5e5_fill.toml");
    write_file(src / "migrations" / "versions" / "f1f1f1f1f1f1_seed.toml",
               "revision = \"f1f1f1f1f1f1\"\ndown_revision = \"d4d4d4d4d4d4\"\nmessage = \"Seed items\"\n\n"
               "[[upgrade]]\nop = \"call\"\nfunction = \"seed_items\"\n\n[[downgrade]]\nop = \"execute\"\nsql = "
               "\"DELETE FROM stepfail_items\"\n");
    // The library built from an older checkout: it registers fill_then_fail, not seed_items.
    copy_tree(test_plugins_dir() / "stepfail", src / "build" / "plugins" / "stepfail");
    auto r = fastappkit({"plugin", "upgrade"}, src, {{"DATABASE_URL", db->url()}});
    CHECK_CODE(r, 2);
    CHECK_ERR(r, "f1f1f1f1f1f1_seed.toml:");
    CHECK_ERR(
        r, "calls C++ step 'seed_items', which the library of stepfail does not register (its steps: fill_then_fail)");
    CHECK_ERR(r, "hint: build the plugin");
    CHECK(db->tables().empty());
  }

}  // TEST_SUITE

TEST_SUITE("fastappkit::e2e") {
  TEST_CASE("migrate graph draws every app's revisions and the foreign keys between apps") {
    ExampleProject p;
    const fs::path& root = p.root;
    const TempDir& dir = p.dir;
    auto dot = fastappkit({"migrate", "graph"}, root);
    REQUIRE_OK(dot);
    CHECK_OUT(dot, "subgraph \"cluster_core\"");
    CHECK_OUT(dot, "label=\"core + blog (alembic_version)\"");
    CHECK_OUT(dot, "\"core:2b3c4d5e6f70\" -> \"core:1a2b3c4d5e6f\";");
    CHECK_OUT(dot, "subgraph \"cluster_payments\"");
    CHECK_OUT(dot, "\"payments:9a8b7c6d5e4f\" -> \"core:1a2b3c4d5e6f\" [style=dotted");
    CHECK_OUT(dot, "label=\"payments_invoices.user_id -> users.id\"");
    CHECK_OUT(dot, "\"audit:5f4e3d2c1b0a\" -> \"core:1a2b3c4d5e6f\"");

    // SVG through Graphviz (installed by scripts/install-deps.sh), and a clear error without it.
    auto svg = fastappkit({"migrate", "graph", "--format", "svg"}, root);
    REQUIRE_OK(svg);
    CHECK_OUT(svg, "<svg");
    auto missing = fastappkit({"migrate", "graph", "--format", "svg"}, root, {{"PATH", (dir.path / "empty").string()}});
    CHECK_CODE(missing, 1);
    CHECK_ERR(missing, "dot was not found on PATH");
    CHECK_ERR(missing, "fastappkit migrate graph --format dot");
    auto bad = fastappkit({"migrate", "graph", "--format", "png"}, root);
    CHECK_CODE(bad, 2);
  }

}  // TEST_SUITE
