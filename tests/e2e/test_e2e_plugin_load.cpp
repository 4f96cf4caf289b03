// What the start-up and many-apps changes of docs/perf-start.md must keep working: the entry
// symbol is looked up in the library's dynamic symbol table, so a stripped library loads;
// `app list` and `migrate status` read every app's version rows after one table listing,
// whether its version table exists or not; SQL math functions reach libm, which the
// executable opens on first use.
#include <doctest/doctest.h>

#include <cstdlib>

#include "harness.hpp"

using namespace e2e;

namespace {

// Replaces the library with a stripped copy (no .symtab), written as a new file so that the
// build's own library, which the copy may share an inode with, is left alone.
void strip_library(const fs::path& lib) {
  const fs::path original = lib.string() + ".orig";
  fs::rename(lib, original);
  const std::string cmd = "strip --strip-all -o '" + lib.string() + "' '" + original.string() + "'";
  REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, cmd);
  fs::remove(original);
  REQUIRE_MESSAGE(!has(read_file(lib), ".symtab"), "strip left a .symtab in " << lib);
}

}  // namespace

TEST_SUITE("fastappkit::e2e") {
  TEST_CASE_TEMPLATE("a stripped plugin library is checked, loaded and runs its C++ step", B, Sqlite, Postgresql) {
    ExampleProject p{B{}};
    strip_library(p.root / "plugins" / "payments" / "libpayments.so");
    auto list = p.run({"app", "list"});
    REQUIRE_OK(list);
    CHECK_OUT(list, "payments             external  1.0.0     alembic_version_payments");
    CHECK_NO_OUT(list, "invalid");
    REQUIRE_OK(p.run({"migrate", "all"}));
    CHECK(p.versions("alembic_version_payments") == std::vector<std::string>{"8b7c6d5e4f3a"});
    // The C++ step ran through the stripped library.
    CHECK(p.db->query("SELECT code FROM payments_currencies ORDER BY code") ==
          std::vector<std::vector<std::string>>{{"EUR"}, {"JPY"}, {"USD"}});
  }

  TEST_CASE_TEMPLATE("app list and status read the version rows of every app, present or not", B, Sqlite, Postgresql) {
    ExampleProject p{B{}};
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    REQUIRE_OK(p.run({"migrate", "app", "payments", "upgrade"}));
    // audit's version table does not exist yet.
    CHECK_FALSE(p.has_table("alembic_version_audit"));
    auto list = p.run({"app", "list"});
    REQUIRE_OK(list);
    CHECK_OUT(list, "core                 core      -         alembic_version                up to date");
    CHECK_OUT(list, "payments             external  1.0.0     alembic_version_payments       up to date");
    CHECK_OUT(list, "audit                external  0.3.1     alembic_version_audit          1 pending");
    auto status = p.run({"--json", "migrate", "status"});
    REQUIRE_OK(status);
    auto apps = json_of(status)["apps"];
    REQUIRE(apps.size() == 3);
    CHECK(apps[0]["current"] == nlohmann::json::array({"4d5e6f708192"}));
    CHECK(apps[1]["app"] == "payments");
    CHECK(apps[1]["current"] == nlohmann::json::array({"8b7c6d5e4f3a"}));
    CHECK(apps[2]["app"] == "audit");
    CHECK(apps[2]["current"] == nlohmann::json::array());
    CHECK(apps[2]["pending"].size() == 1);
  }

  TEST_CASE_TEMPLATE("migrate status still reports a revision edited after it was applied, with plugins loaded", B,
                     Sqlite, Postgresql) {
    ExampleProject p{B{}};
    REQUIRE_OK(p.run({"migrate", "all"}));
    auto f = p.root / "core" / "db" / "migrations" / "versions" / "1a2b3c4d5e6f_create_users.toml";
    REQUIRE(fs::exists(f));
    write_file(f, read_file(f) + "\n# edited\n");
    auto st = p.run({"migrate", "status"});
    REQUIRE_OK(st);
    CHECK_OUT(st, "changed after it was applied");
    // app list does not print edited revisions (it never did); its states are unchanged.
    auto list = p.run({"app", "list"});
    REQUIRE_OK(list);
    CHECK_OUT(list, "core                 core      -         alembic_version                up to date");
  }

  TEST_CASE_TEMPLATE("SQL math functions in an execute step give libm's results", B, Sqlite, Postgresql) {
    ExampleProject p{B{}};
    write_file(p.root / "core" / "db" / "migrations" / "versions" / "9e9e9e9e9e9e_math.toml",
               "revision = \"9e9e9e9e9e9e\"\ndown_revision = \"4d5e6f708192\"\nmessage = \"math\"\n\n"
               "[[upgrade]]\nop = \"execute\"\nsql = \"CREATE TABLE math_check AS SELECT cos(0) AS c, sqrt(16) AS s, "
               "ln(1) AS l, exp(0) AS e, power(2, 10) AS p, trunc(2.7) AS t, atan2(0, 1) AS a, sin(0) AS n, "
               "mod(7.5, 2) AS m\"\n\n[[downgrade]]\nop = \"execute\"\nsql = \"DROP TABLE math_check\"\n");
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    CHECK(p.db->query("SELECT CASE WHEN c = 1 AND s = 4 AND l = 0 AND e = 1 AND p = 1024 AND t = 2 AND a = 0 AND "
                      "n = 0 AND m = 1.5 THEN 'ok' ELSE 'wrong' END FROM math_check") ==
          std::vector<std::vector<std::string>>{{"ok"}});
  }
}
