// Fleets and tenants (SPEC §10): ?schema= in URLs, fleet files, the job runner, the render cache.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "fastappkit/config/database_url.hpp"
#include "fastappkit/project/fleet.hpp"
#include "fastappkit/project/render_cache.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
using fastappkit::Error;
using fastappkit::ErrorKind;
using fastappkit::config::Backend;
using fastappkit::config::parse_database_url;
using namespace fastappkit::project;
using unit::contains;
using unit::error_of;
using unit::TempDir;

TEST_SUITE("fastappkit::project") {
  TEST_CASE("?schema= is taken out of a PostgreSQL URL before libpq reads it and kept in redaction") {
    auto u = parse_database_url("postgresql://app:s3cret@db:5432/shop?sslmode=disable&schema=tenant_a", "/p");
    CHECK(u.backend == Backend::postgresql);
    CHECK(u.schema == "tenant_a");
    CHECK(u.database == "shop");
    for (const auto& [k, v] : u.params) CHECK(k != "schema");
    CHECK(!contains(u.libpq_conninfo(), "schema"));
    CHECK(contains(u.libpq_conninfo(), "sslmode='disable'"));
    CHECK(u.redacted() == "postgresql://app:***@db:5432/shop?sslmode=disable&schema=tenant_a");
    // First, alone, percent-encoded.
    CHECK(parse_database_url("postgresql://db/shop?schema=t1", "/p").schema == "t1");
    CHECK(parse_database_url("postgresql://db/shop?schema=T_%41&connect_timeout=3", "/p").schema == "T_A");
    CHECK(parse_database_url("postgres://db/shop", "/p").schema.empty());
    // The redacted URL parses back to the same tenant.
    CHECK(parse_database_url(u.redacted(), "/p").schema == "tenant_a");
  }

  TEST_CASE("a bad ?schema= is refused with what to write") {
    for (const char* bad : {"postgresql://db/x?schema=", "postgresql://db/x?schema=a-b", "postgresql://db/x?schema=1a",
                            "postgresql://db/x?schema=a%22b"}) {
      auto e = error_of([&] { parse_database_url(bad, "/p"); });
      REQUIRE_MESSAGE(e, bad);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(contains(e->message(), "invalid schema"));
      CHECK(contains(e->hint(), "letters, digits and _"));
    }
    auto reserved = error_of([] { parse_database_url("postgresql://db/x?schema=pg_catalog", "/p"); });
    REQUIRE(reserved);
    CHECK(contains(reserved->message(), "belongs to the PostgreSQL server"));
    auto twice = error_of([] { parse_database_url("postgresql://db/x?schema=a&schema=b", "/p"); });
    REQUIRE(twice);
    CHECK(contains(twice->message(), "schema= twice"));
    auto sqlite = error_of([] { parse_database_url("sqlite:///a.db?schema=a", "/p"); });
    REQUIRE(sqlite);
    CHECK(contains(sqlite->message(), "?schema= is for PostgreSQL URLs"));
    CHECK(contains(sqlite->hint(), "its own file"));
    // A long name is not echoed past the limit, and a password never is.
    auto secret = error_of([] { parse_database_url("postgresql://u:hunter2@db/x?schema=a b", "/p"); });
    REQUIRE(secret);
    CHECK(!contains(secret->what(), "hunter2"));
  }

  TEST_CASE("read_fleet: comments, blank lines, ${VAR}, relative SQLite paths") {
    TempDir d;
    ::setenv("FAK_FLEET_PASSWORD", "p%40ss", 1);  // inserted as written: percent-encoded
    ::setenv("FAK_FLEET_DB", "tenant_7", 1);
    auto file = d.write("fleet.txt",
                        "# the fleet\n"
                        "\n"
                        "sqlite:///t/a.db\n"
                        "  sqlite:////abs/b.db   # an absolute one\n"
                        "postgresql://app:${FAK_FLEET_PASSWORD}@db/${FAK_FLEET_DB}?schema=s1\r\n");
    auto fleet = read_fleet(file, "/root");
    REQUIRE(fleet.size() == 3);
    CHECK(fleet[0].line == 3);
    CHECK(fleet[0].url.sqlite_path == "/root/t/a.db");
    CHECK(fleet[1].line == 4);
    CHECK(fleet[1].url.sqlite_path == "/abs/b.db");
    CHECK(fleet[2].line == 5);
    CHECK(fleet[2].url.password == "p@ss");
    CHECK(fleet[2].url.database == "tenant_7");
    CHECK(fleet[2].url.schema == "s1");
    CHECK(fleet[2].url.source == file.string() + ":5");
    CHECK(!contains(fleet[2].url.redacted(), "p@ss"));
  }

  TEST_CASE("read_fleet: every bad line names file:line:col and what to do") {
    TempDir d;
    ::unsetenv("FAK_FLEET_UNSET");
    auto unset = d.write("a.txt", "sqlite:///a.db\n  postgresql://app:${FAK_FLEET_UNSET}@db/x\n");
    auto e = error_of([&] { read_fleet(unset, d.path); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::input);
    REQUIRE(e->location());
    CHECK(e->location()->file == unset.string());
    CHECK(e->location()->line == 2);
    CHECK(e->location()->column == 20);
    CHECK(e->message() == "environment variable FAK_FLEET_UNSET is not set");
    CHECK(contains(e->hint(), "export FAK_FLEET_UNSET"));

    auto open = error_of([&] { read_fleet(d.write("b.txt", "sqlite:///${OPEN\n"), d.path); });
    REQUIRE(open);
    CHECK(contains(open->message(), "unterminated ${"));
    CHECK(open->location()->column == 11);

    auto dup = error_of([&] { read_fleet(d.write("c.txt", "sqlite:///x.db\n# c\nsqlite:///./x.db\n"), d.path); });
    REQUIRE(dup);
    CHECK(dup->location()->line == 3);
    CHECK(contains(dup->message(), "the same database as line 1"));

    auto schemas = read_fleet(d.write("d.txt", "postgresql://db/x?schema=a\npostgresql://db/x?schema=b\n"), d.path);
    CHECK(schemas.size() == 2);  // two tenants of one database are two databases of the fleet

    auto memory = error_of([&] { read_fleet(d.write("e.txt", "sqlite:///:memory:\n"), d.path); });
    REQUIRE(memory);
    CHECK(contains(memory->message(), "in-memory"));

    auto bad = error_of([&] { read_fleet(d.write("f.txt", "\nmysql://u:hunter2@h/x\n"), d.path); });
    REQUIRE(bad);
    CHECK(bad->location()->line == 2);
    CHECK(contains(bad->message(), "unsupported database URL scheme 'mysql'"));
    CHECK(!contains(bad->what(), "hunter2"));  // the quoted line is shown redacted

    auto empty = error_of([&] { read_fleet(d.write("g.txt", "# nothing\n\n"), d.path); });
    REQUIRE(empty);
    CHECK(contains(empty->message(), "lists no database"));

    auto missing = error_of([&] { read_fleet(d.path / "nope.txt", d.path); });
    REQUIRE(missing);
    CHECK(contains(missing->message(), "cannot read the fleet file"));
  }

  TEST_CASE("run_fleet: N at a time, a failure isolated, the summary in file order") {
    std::vector<FleetDatabase> fleet;
    for (int i = 0; i < 12; ++i) {
      FleetDatabase db;
      db.url = parse_database_url("sqlite:///db" + std::to_string(i) + ".db", "/f");
      db.line = i + 1;
      fleet.push_back(db);
    }
    std::atomic<int> running{0}, peak{0};
    std::vector<std::string> finished;
    auto summary = run_fleet(
        fleet, FleetOptions{3, false},
        [&](const FleetDatabase& db, DatabaseOutcome& out) {
          int now = ++running;
          int seen = peak.load();
          while (now > seen && !peak.compare_exchange_weak(seen, now)) {
          }
          // Each job waits (at most 30 s) until 3 have been running at once, so a runner that
          // runs fewer at a time fails the peak check below instead of passing by luck.
          const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
          while (peak.load() < 3 && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
          --running;
          if (db.line == 5) throw Error(ErrorKind::database, "table users already exists", "drop it");
          out.counts = {{"core", 2}, {"payments", 1}};
          out.detail = "applied 3";
        },
        [&](const DatabaseOutcome& d) { finished.push_back(d.database); });
    CHECK(peak.load() == 3);
    CHECK(finished.size() == 12);
    REQUIRE(summary.databases.size() == 12);
    CHECK(summary.databases[4].state == FleetState::failed);
    CHECK(summary.databases[4].error->message() == "table users already exists");
    CHECK(summary.databases[4].detail == "failed");
    CHECK(summary.databases[4].line == 5);
    CHECK(summary.count(FleetState::done) == 11);
    CHECK(summary.count(FleetState::failed) == 1);
    CHECK(summary.total() == 33);
    CHECK(!summary.ok());
    CHECK(summary.jobs == 3);
  }

  TEST_CASE("run_fleet --fail-fast: no database starts after a failure") {
    std::vector<FleetDatabase> fleet(6);
    for (int i = 0; i < 6; ++i) fleet[i].line = i + 1;
    std::atomic<int> started{0};
    auto summary = run_fleet(fleet, FleetOptions{1, true}, [&](const FleetDatabase& db, DatabaseOutcome&) {
      ++started;
      if (db.line == 2) throw std::runtime_error("boom");
    });
    CHECK(started.load() == 2);
    CHECK(summary.databases[0].state == FleetState::done);
    CHECK(summary.databases[1].state == FleetState::failed);
    CHECK(summary.databases[1].error->kind() == ErrorKind::failed);
    for (int i = 2; i < 6; ++i) CHECK(summary.databases[i].state == FleetState::not_started);
    CHECK(summary.count(FleetState::not_started) == 4);
  }

  TEST_CASE("RenderCache renders a plan once per target, dialect and starting rows") {
    RenderCache cache;
    Target core;
    core.name = "core";
    fastappkit::migration::Plan plan;
    plan.steps = {"a", "b"};
    int calls = 0;
    auto render = [&] {
      ++calls;
      return std::vector<fastappkit::run::Step>(2);
    };
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i)
      threads.emplace_back([&] { cache.steps(core, fastappkit::sql::Dialect::sqlite, plan, {}, render); });
    for (auto& t : threads) t.join();
    CHECK(calls == 1);
    CHECK(cache.steps(core, fastappkit::sql::Dialect::sqlite, plan, {}, render).size() == 2);
    cache.steps(core, fastappkit::sql::Dialect::postgresql, plan, {}, render);
    cache.steps(core, fastappkit::sql::Dialect::sqlite, plan, {"a"}, render);
    CHECK(calls == 3);
    CHECK(cache.renders() == 3);
  }
}
