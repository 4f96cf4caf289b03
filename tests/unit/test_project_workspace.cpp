// project::Workspace without the CLI: loading a project with its plugins, planning across
// apps, the cross-app refusal, check and status, on a real SQLite file.
#include <algorithm>
#include <fstream>

#include "fastappkit/config/database_url.hpp"
#include "fastappkit/project/workspace.hpp"
#include "support.hpp"

using namespace fastappkit;
using migration::Direction;
using project::Workspace;
namespace fs = std::filesystem;

namespace {

struct Example {
  unit::TempDir dir;
  fs::path root = dir.path / "project";
  Example() {
    fs::copy(fs::path(FASTAPPKIT_SOURCE_DIR) / "apps-example", root, fs::copy_options::recursive);
    std::error_code ec;
    fs::remove(root / "app.db", ec);
    for (const auto& e : fs::directory_iterator(FASTAPPKIT_PLUGINS_DIR)) {
      fs::create_directories(root / "plugins" / e.path().filename());
      fs::copy(e.path(), root / "plugins" / e.path().filename(), fs::copy_options::recursive);
    }
  }
  project::LoadOptions options(bool keep_broken = false) const {
    project::LoadOptions o;
    o.directory = root;
    o.database_url = "sqlite:///app.db";
    o.keep_broken = keep_broken;
    return o;
  }
  std::unique_ptr<db::Connection> open(const Workspace& w) const { return db::open(w.url(), db::OpenMode::read_write); }
};

std::vector<project::Request> upgrade_all(const Workspace& w) {
  std::vector<project::Request> r;
  for (const auto& t : w.targets()) r.emplace_back(&t, Direction::upgrade, "head");
  return r;
}

project::Observer& quiet() {
  static project::Observer o;
  return o;
}

}  // namespace

TEST_SUITE("fastappkit::project") {
  TEST_CASE("a project loads core and every plugin, and knows who owns each table") {
    Example ex;
    Workspace w = Workspace::open_project(ex.options());
    REQUIRE(w.targets().size() == 3);
    CHECK(w.targets()[0].name == "core");
    CHECK(w.targets()[0].internal_apps == std::vector<std::string>{"blog"});
    CHECK(w.targets()[1].name == "payments");
    CHECK(w.targets()[1].version_table == "alembic_version_payments");
    CHECK(w.targets()[2].name == "audit");
    CHECK(w.owner_of("users") == project::Owner::core());
    CHECK(w.owner_of("posts") == project::Owner::internal_app("blog"));
    CHECK(w.owner_of("payments_invoices") == project::Owner::external_app("payments"));
    CHECK(w.owner_of("payments_invoices")->describe() == "external app payments");
    CHECK_FALSE(w.owner_of("nosuch").has_value());
    CHECK(w.broken().empty());
    auto e = unit::error_of([&] { w.external("blog"); });
    REQUIRE(e);
    CHECK(unit::contains(e->hint(), "use the unified commands"));
    e = unit::error_of([&] { w.external("paymnets"); });
    REQUIRE(e);
    CHECK(e->hint() == "did you mean 'payments'?");
  }

  TEST_CASE("one plan for every app, rendered before anything is written") {
    Example ex;
    Workspace w = Workspace::open_project(ex.options());
    auto plan = w.plan(nullptr, sql::Dialect::sqlite, upgrade_all(w));
    REQUIRE(plan.parts.size() == 3);
    CHECK(plan.parts[0].steps.size() == 4);
    CHECK(plan.parts[1].steps.size() == 2);
    CHECK(plan.parts[2].steps.size() == 1);
    CHECK(plan.step_count() == 7);
    CHECK_FALSE(fs::exists(ex.root / "app.db"));  // planning without a database writes nothing

    auto conn = ex.open(w);
    w.apply(*conn, w.plan(conn.get(), conn->dialect(), upgrade_all(w)), quiet());
    CHECK(w.current(conn.get(), w.targets()[1]) == std::vector<std::string>{"8b7c6d5e4f3a"});
    CHECK(w.plan(conn.get(), conn->dialect(), upgrade_all(w)).step_count() == 0);
  }

  TEST_CASE("a core change that reaches into an applied external app's tables is refused") {
    Example ex;
    Workspace w = Workspace::open_project(ex.options());
    auto conn = ex.open(w);
    w.apply(*conn, w.plan(conn.get(), conn->dialect(), upgrade_all(w)), quiet());

    auto e = unit::error_of([&] { w.plan(conn.get(), conn->dialect(), {{&w.core(), Direction::downgrade, "base"}}); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::input);
    CHECK(unit::contains(e->message(), "revision 1a2b3c4d5e6f drops table 'users'"));
    CHECK(unit::contains(e->message(), "external app payments: payments_invoices (user_id) -> users (id)"));
    CHECK(unit::contains(
        e->hint(), "fastappkit migrate app audit downgrade --revision base, then fastappkit migrate app payments"));
    // Nothing ran.
    CHECK(w.current(conn.get(), w.core()) == std::vector<std::string>{"4d5e6f708192"});

    // Reverting only the blog revisions touches nothing the plugins reference.
    CHECK(w.plan(conn.get(), conn->dialect(), {{&w.core(), Direction::downgrade, "2b3c4d5e6f70"}}).step_count() == 2);

    // The whole project in order: plugins first (reverse order), then core.
    auto all = w.plan(conn.get(), conn->dialect(), w.revert_all());
    REQUIRE(all.parts.size() == 3);
    CHECK(all.parts[0].target->name == "audit");
    CHECK(all.parts[1].target->name == "payments");
    CHECK(all.parts[2].target->name == "core");
    w.apply(*conn, all, quiet());
    for (const auto& t : w.targets()) CHECK(w.current(conn.get(), t).empty());
  }

  TEST_CASE("check covers core and every external app") {
    Example ex;
    Workspace w = Workspace::open_project(ex.options());
    auto conn = ex.open(w);
    w.apply(*conn, w.plan(conn.get(), conn->dialect(), upgrade_all(w)), quiet());
    auto clean = w.check(conn.get());
    CHECK(clean.ok());
    REQUIRE(clean.apps.size() == 3);

    conn->execute("ALTER TABLE payments_invoices ADD COLUMN sneaky text");
    w.apply(*conn, w.plan(conn.get(), conn->dialect(), {{&w.targets()[2], Direction::downgrade, "base"}}), quiet());
    auto r = w.check(conn.get());
    CHECK_FALSE(r.ok());
    CHECK(r.apps[0].ok());
    REQUIRE(r.apps[1].database_vs_migrations.size() == 1);
    CHECK(r.apps[1].database_vs_migrations[0] ==
          "database differs from its revision: add column payments_invoices.sneaky (text)");
    REQUIRE_FALSE(r.apps[2].database_vs_migrations.empty());
    CHECK(unit::starts_with(r.apps[2].database_vs_migrations[0], "database is behind: at base"));
  }

  TEST_CASE("a plugin's library stays mapped after its workspace is gone (RTLD_NODELETE)") {
    Example ex;
    const std::string lib = fs::canonical(ex.root / "plugins" / "audit" / "libaudit.so").string();
    auto mapped = [&] {
      std::ifstream maps("/proc/self/maps");
      std::string line;
      while (std::getline(maps, line))
        if (line.find(lib) != std::string::npos) return true;
      return false;
    };
    CHECK_FALSE(mapped());
    { Workspace w = Workspace::open_project(ex.options()); }
    // Closing unmapped nothing: what the plugin's own C++ runtime allocated when it was loaded
    // stays reachable from its globals, and 100 plugins cost 100 munmaps less at exit.
    CHECK(mapped());
  }

  TEST_CASE("a broken plugin is recorded and the healthy apps are still answered") {
    Example ex;
    { std::ofstream(ex.root / "plugins" / "audit" / "plugin.toml") << "name = \"audit\"\nversion = 3\n"; }
    auto strict = unit::error_of([&] { Workspace::open_project(ex.options()); });
    REQUIRE(strict);
    REQUIRE(strict->location());
    CHECK(strict->location()->line == 2);

    Workspace w = Workspace::open_project(ex.options(true));
    REQUIRE(w.broken().size() == 1);
    CHECK(w.broken()[0].name == "audit");
    CHECK(w.targets().size() == 2);
    auto conn = ex.open(w);
    auto s = w.status(conn.get());
    REQUIRE(s.apps.size() == 3);
    CHECK(s.apps[0].pending.size() == 4);
    CHECK(s.apps[1].pending.size() == 2);
    CHECK(s.apps[2].error.has_value());
    CHECK_FALSE(s.healthy());
    auto c = w.check(conn.get());
    CHECK(c.broken());
    CHECK(c.apps[2].error.has_value());
    CHECK_THROWS_AS(w.require_healthy(), Error);
  }

  TEST_CASE("autogenerate sees the project's models; a model taking a plugin's table is refused at the model") {
    Example ex;
    Workspace w = Workspace::open_project(ex.options());
    CHECK_FALSE(w.autogenerate(w.core(), "", "nothing").has_value());
    {
      std::ofstream(ex.root / "apps" / "blog" / "models.toml", std::ios::app)
          << "\n[[tables]]\nname = \"audit_events\"\ncolumns = [ { name = \"id\", type = \"integer\", primary_key = "
             "true } ]\n";
    }
    auto e = unit::error_of([&] { Workspace::open_project(ex.options()); });
    REQUIRE(e);
    CHECK(e->message() ==
          "table 'audit_events' is declared by internal app 'blog' but belongs to external app 'audit'");
    REQUIRE(e->location());
    CHECK(unit::contains(e->location()->file, "apps/blog/models.toml"));
    CHECK(e->location()->line > 0);
  }

}  // TEST_SUITE
