// External apps as plugins end to end: the example plugins across both backends, and every
// refusal of a broken plugin, each with the database untouched.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>

#include "harness.hpp"

using namespace e2e;

namespace {

struct PluginProject : ExampleProject {
  using ExampleProject::ExampleProject;
  void apps(const std::string& list) const {
    write_file(root / "fastappkit.toml", "[tool.fastappkit]\napps = [" + list + "]\nplugin_paths = [\"plugins\"]\n");
  }
  void add_test_plugin(const std::string& name) const { copy_tree(test_plugins_dir() / name, root / "plugins" / name); }
};

}  // namespace

TEST_SUITE("fastappkit::e2e") {
  TEST_CASE_TEMPLATE("migrate all: core, internal apps, then each plugin with its own version table", B, Sqlite,
                     Postgresql) {
    PluginProject p{B{}};
    auto list = p.run({"app", "list"});
    REQUIRE_OK(list);
    CHECK(has(list.out, "payments             external  1.0.0     alembic_version_payments"));

    auto all = p.run({"migrate", "all"});
    REQUIRE_OK(all);
    auto core = all.out.find("core: applying 4 migration(s)");
    auto internal = all.out.find("internal apps (blog): skipped, already included in core migrations");
    auto payments = all.out.find("payments: applying 2 migration(s)");
    auto audit = all.out.find("audit: applying 1 migration(s)");
    CHECK_MESSAGE(core < internal, describe(all));
    CHECK_MESSAGE(internal < payments, describe(all));
    CHECK_MESSAGE(payments < audit, describe(all));
    CHECK_MESSAGE(audit != std::string::npos, describe(all));
    CHECK(p.versions("alembic_version") == std::vector<std::string>{"4d5e6f708192"});
    CHECK(p.versions("alembic_version_payments") == std::vector<std::string>{"8b7c6d5e4f3a"});
    CHECK(p.versions("alembic_version_audit") == std::vector<std::string>{"5f4e3d2c1b0a"});
    // The C++ step seeded currencies through the host functions, in the migration's transaction.
    CHECK(p.db->query("SELECT code FROM payments_currencies ORDER BY code") ==
          std::vector<std::vector<std::string>>{{"EUR"}, {"JPY"}, {"USD"}});

    auto status = p.run({"--json", "migrate", "status"});
    REQUIRE_OK(status);
    auto payments_status = json_of(status)["apps"][1];
    CHECK(payments_status["app"] == "payments");
    CHECK(payments_status["kind"] == "external");
    CHECK(payments_status["version"] == "1.0.0");
    CHECK(payments_status["version_table"] == "alembic_version_payments");
    CHECK(payments_status["current"] == nlohmann::json{"8b7c6d5e4f3a"});
    CHECK(payments_status["heads"] == nlohmann::json{"8b7c6d5e4f3a"});
    CHECK(payments_status["pending"].empty());
    auto again = p.run({"migrate", "all"});
    REQUIRE_OK(again);
    CHECK(has(again.out, "payments: nothing to do"));

    // Per-app commands for an external app.
    auto preview = p.run({"migrate", "app", "payments", "preview", "--downgrade", "--revision", "base"});
    REQUIRE_OK(preview);
    CHECK(has(preview.out, "DELETE FROM payments_currencies WHERE code IN ('EUR', 'USD', 'JPY')"));
    CHECK(has(preview.out, "DROP TABLE \"payments_invoices\""));
    REQUIRE_OK(p.run({"migrate", "app", "payments", "downgrade", "--revision", "base"}));
    CHECK(p.versions("alembic_version_payments").empty());
    auto tables = p.db->tables();
    CHECK(std::find(tables.begin(), tables.end(), "payments_invoices") == tables.end());
    CHECK(std::find(tables.begin(), tables.end(), "audit_events") != tables.end());
    CHECK(p.versions("alembic_version") == std::vector<std::string>{"4d5e6f708192"});

    auto whole = p.run({"migrate", "preview", "--all"});
    REQUIRE_OK(whole);
    CHECK(has(whole.out, "-- payments (alembic_version_payments): upgrade to head"));
    CHECK(
        has(whole.out, "-- call C++ step seed_currencies(EUR:Euro:2, USD:US Dollar:2, JPY:Yen:0) of plugin payments"));
    CHECK(p.versions("alembic_version_payments").empty());

    REQUIRE_OK(p.run({"migrate", "app", "payments", "upgrade"}));
    CHECK(p.db->query("SELECT count(*) FROM payments_currencies")[0][0] == "3");
    auto needs = p.run({"migrate", "app", "payments", "downgrade"});
    CHECK(needs.code == 2);
    CHECK(has(needs.err, "needs --revision"));

    auto validate = p.run({"--json", "app", "validate", "payments"});
    REQUIRE_OK(validate);
    CHECK(json_of(validate)["ok"] == true);
  }

  TEST_CASE_TEMPLATE("a failing C++ step rolls its migration back and keeps earlier ones", B, Sqlite, Postgresql) {
    PluginProject p{B{}};
    p.add_test_plugin("stepfail");
    p.apps("\"apps.blog\", \"stepfail\"");
    auto r = p.run({"migrate", "all"});
    CHECK(r.code == 1);
    CHECK(has(r.err, "upgrade of stepfail revision e5e5e5e5e5e5 (\"Fill items, then fail\") failed"));
    CHECK(has(r.err, "C++ step 'fill_then_fail' of plugin stepfail failed: refusing after inserting 3 rows"));
    CHECK(p.versions("alembic_version_stepfail") == std::vector<std::string>{"d4d4d4d4d4d4"});
    CHECK(p.db->query("SELECT count(*) FROM stepfail_items")[0][0] == "0");
    auto tables = p.db->tables();
    CHECK(std::find(tables.begin(), tables.end(), "stepfail_log") == tables.end());
    CHECK(p.versions("alembic_version") == std::vector<std::string>{"4d5e6f708192"});
  }

  TEST_CASE("broken plugins are refused with a clear message, before the database is touched") {
    struct Case {
      std::string plugin;    // test plugin to drop in ("" = none)
      std::string app;       // name listed in apps
      std::string expected;  // in stderr
      void (*tweak)(const fs::path& folder) = nullptr;
    };
    const std::vector<Case> cases = {
        {"broken_symbol_v2", "broken_symbol_v2",
         "libbroken_symbol_v2.so exports fastappkit_plugin_v2, the entry of another ABI major; this fastappkit needs "
         "fastappkit_plugin_v1"},
        {"broken_descriptor_v2", "broken_descriptor_v2",
         "the plugin was built for ABI 2.0; this fastappkit speaks ABI 1.x"},
        {"broken_minor", "broken_minor",
         "the plugin's descriptor says it needs ABI 1.99, newer than this fastappkit's 1.1"},
        {"broken_small", "broken_small", "the plugin's descriptor is 16 bytes, smaller than ABI 1.0's"},
        {"broken_throws", "broken_throws",
         "the plugin's entry failed: cannot read the currency table: connection refused"},
        {"broken_silent", "broken_silent", "the plugin's entry failed: it returned no descriptor and no message"},
        {"broken_no_entry", "broken_no_entry",
         "libbroken_no_entry.so does not export the entry symbol fastappkit_plugin_v1"},
        {"broken_migration", "broken_migration",
         "versions/b2b2b2b2b2b2_bad.toml:5:6: unknown operation 'create_tabel'"},
        {"broken_collision", "broken_collision", "table 'users' collides with a table of core"},
        {"broken_version_table", "broken_version_table", "SQL touches a version table"},
        {"", "nopayments", "external app 'nopayments' is listed in"},
        {"", "paymnets", "did you mean 'payments'?"},
        {"", "payments", "the library says its name is 'audit' but plugin.toml says 'payments'",
         [](const fs::path& plugins) {
           fs::remove_all(plugins / "payments");
           copy_tree(plugins / "audit", plugins / "payments");
           std::string m = read_file(plugins / "payments" / "plugin.toml");
           m.replace(m.find("name = \"audit\""), 14, "name = \"payments\"");
           write_file(plugins / "payments" / "plugin.toml", m);
         }},
        {"", "payments", "the library says its version is 1.0.0 but plugin.toml says 9.9.9",
         [](const fs::path& plugins) {
           std::string m = read_file(plugins / "payments" / "plugin.toml");
           m.replace(m.find("version = \"1.0.0\""), 17, "version = \"9.9.9\"");
           write_file(plugins / "payments" / "plugin.toml", m);
         }},
        {"", "payments", "library libpayments.so named in plugin.toml does not exist",
         [](const fs::path& plugins) { fs::remove(plugins / "payments" / "libpayments.so"); }},
        {"", "payments", "plugin.toml:2:1: unknown key 'nmae' in plugin.toml",
         [](const fs::path& plugins) {
           write_file(plugins / "payments" / "plugin.toml", "# broken\nnmae = \"payments\"\n");
         }},
        {"", "payments", "plugin.toml says abi = \"2.0\"; this fastappkit speaks ABI 1.x",
         [](const fs::path& plugins) {
           std::string m = read_file(plugins / "payments" / "plugin.toml");
           m.replace(m.find("abi = \"1.0\""), 11, "abi = \"2.0\"");
           write_file(plugins / "payments" / "plugin.toml", m);
         }},
        {"", "payments", "the plugin needs ABI 1.7, newer than this fastappkit's 1.1",
         [](const fs::path& plugins) {
           std::string m = read_file(plugins / "payments" / "plugin.toml");
           m.replace(m.find("abi = \"1.0\""), 11, "abi = \"1.7\"");
           write_file(plugins / "payments" / "plugin.toml", m);
         }},
        {"", "payments", "two plugin folders hold app 'payments'",
         [](const fs::path& plugins) { copy_tree(plugins / "payments", plugins / "payments-copy"); }},
    };
    for (const auto& c : cases) {
      CAPTURE(c.expected);
      TempDir dir;
      fs::path root = dir.path / "project";
      copy_tree(source_dir() / "apps-example", root);
      install_plugins(root);
      if (!c.plugin.empty()) copy_tree(test_plugins_dir() / c.plugin, root / "plugins" / c.plugin);
      if (c.tweak) c.tweak(root / "plugins");
      write_file(root / "fastappkit.toml", "[tool.fastappkit]\napps = [\"apps.blog\", \"" + c.app + "\"]\n");
      auto r = fastappkit({"migrate", "all"}, root, {{"DATABASE_URL", "sqlite:///app.db"}});
      CHECK(r.code == 2);
      CHECK_MESSAGE(has(r.err, c.expected), r.err);
      CHECK(has(r.err, "hint: "));
      CHECK_FALSE(fs::exists(root / "app.db"));
      if (!c.plugin.empty()) {
        auto v = fastappkit({"app", "validate", c.app}, root, {{"DATABASE_URL", "sqlite:///app.db"}});
        CHECK(v.code == 2);
        CHECK(has(v.out, "FAILED"));
        auto l = fastappkit({"app", "list"}, root, {{"DATABASE_URL", "sqlite:///app.db"}});
        CHECK_CODE(l, 2);  // every healthy app is listed, the broken one marked
        CHECK_OUT(l, "invalid: ");
        CHECK_OUT(l, "core ");
        CHECK_FALSE(fs::exists(root / "app.db"));
      }
    }
  }

}  // TEST_SUITE
