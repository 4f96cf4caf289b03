// Fleets and tenants (SPEC §10): one command over SQLite files, PostgreSQL databases and
// tenant schemas at once, failures isolated, tenants isolated, concurrent fleet runs.
#include <doctest/doctest.h>
#include <libpq-fe.h>

#include <cstdlib>
#include <future>
#include <set>

#include "harness.hpp"

using namespace e2e;

namespace {

constexpr const char* kCoreHead = "4d5e6f708192";

// apps-example without a database of its own, and the fleet's databases.
struct Fleet {
  ExampleProject p;
  std::vector<std::unique_ptr<Database>> sqlite, postgresql;
  std::unique_ptr<Database> shared;  // the PostgreSQL database the tenant schemas live in
  std::vector<std::string> schemas;
  std::vector<std::string> urls;  // in file order

  Fleet(int sqlite_files, int pg_databases, std::vector<std::string> tenant_schemas)
      : schemas(std::move(tenant_schemas)) {
    for (int i = 0; i < sqlite_files; ++i) {
      sqlite.push_back(make_sqlite(p.dir.path / ("t" + std::to_string(i))));
      fs::create_directories(p.dir.path / ("t" + std::to_string(i)));
      urls.push_back(sqlite.back()->url());
    }
    for (int i = 0; i < pg_databases; ++i) {
      postgresql.push_back(make_postgresql());
      urls.push_back(postgresql.back()->url());
    }
    if (!schemas.empty()) {
      shared = make_postgresql();
      for (const auto& s : schemas) urls.push_back(shared->url() + "&schema=" + s);
    }
  }
  fs::path write_fleet(const std::string& name = "fleet.txt") const {
    std::string text = "# the fleet of this test\n";
    for (const auto& u : urls) text += u + "\n";
    write_file(p.root / name, text);
    return p.root / name;
  }
  RunResult run(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {}) const {
    return fastappkit(args, p.root, env);
  }
  std::vector<std::string> schema_versions(const std::string& schema, const std::string& table) const {
    std::vector<std::string> out;
    if (shared->query("SELECT 1 FROM pg_tables WHERE schemaname = '" + schema + "' AND tablename = '" + table + "'")
            .empty())
      return out;
    for (auto& r : shared->query("SELECT version_num FROM " + schema + "." + table)) out.push_back(r[0]);
    return out;
  }
  // Every database of the fleet (tenants included) with core at head, except `except`.
  void check_all_at_head(const std::string& except = {}) const {
    for (const auto& d : sqlite)
      if (d->url() != except)
        CHECK_MESSAGE(d->query("SELECT version_num FROM alembic_version")[0][0] == kCoreHead, d->url());
    for (const auto& d : postgresql)
      if (d->url() != except)
        CHECK_MESSAGE(d->query("SELECT version_num FROM alembic_version")[0][0] == kCoreHead, d->url());
    for (const auto& s : schemas) {
      CHECK(schema_versions(s, "alembic_version") == std::vector<std::string>{kCoreHead});
      CHECK(schema_versions(s, "alembic_version_payments").size() == 1);
      CHECK(schema_versions(s, "alembic_version_audit").size() == 1);
    }
  }
};

// Revisions applied more than once in a database's history (none, ever).
std::vector<std::string> applied_twice(Database& db, const std::string& schema = {}) {
  std::vector<std::string> out;
  for (auto& r : db.query("SELECT app || ' ' || revision FROM " + (schema.empty() ? std::string() : schema + ".") +
                          "fastappkit_history WHERE direction = 'upgrade' GROUP BY app, revision HAVING COUNT(*) > 1"))
    out.push_back(r[0]);
  return out;
}

// A session of its own that holds advisory locks as another tool would.
struct LockSession {
  explicit LockSession(const std::string& conninfo) : c(PQconnectdb(conninfo.c_str())) {
    REQUIRE(PQstatus(c) == CONNECTION_OK);
  }
  ~LockSession() { PQfinish(c); }
  std::string scalar(const std::string& sql) {
    PGresult* r = PQexec(c, sql.c_str());
    REQUIRE_MESSAGE(PQresultStatus(r) == PGRES_TUPLES_OK, PQresultErrorMessage(r));
    std::string v = PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    PQclear(r);
    return v;
  }
  PGconn* c;
};

// The tenant key as docs/fleets.md states it: FNV-1a 64 of "fastappkit migration run:" + NAME,
// masked to a positive bigint.
std::string tenant_key(const std::string& schema) {
  unsigned long long h = 14695981039346656037ULL;
  for (unsigned char c : "fastappkit migration run:" + schema) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return std::to_string(h & 0x7fffffffffffffffULL);
}

}  // namespace

TEST_SUITE("fastappkit::e2e") {
  TEST_CASE("a mixed fleet reaches head with one failure isolated, and a rerun changes only that one") {
    // 20 SQLite files, 5 PostgreSQL databases, 3 tenant schemas in one more database.
    Fleet f(20, 5, {"tenant_a", "tenant_b", "tenant_c"});
    // One database made to fail: a table of its own where core creates `users`.
    Database& bad = *f.postgresql[2];
    bad.exec("CREATE TABLE users (legacy_id integer)");
    bad.exec("INSERT INTO users VALUES (42)");
    f.write_fleet();

    auto r = f.run({"migrate", "all", "--databases", "fleet.txt", "--jobs", "4"});
    CHECK_CODE(r, 1);
    // A progress line for each of the 28 databases, then the table and the total.
    for (const auto& u : f.urls) CHECK_OUT(r, u.substr(0, 12));
    CHECK_OUT(r, "[28/28] ");
    CHECK_OUT(r, "28 database(s): 27 done, 1 failed, 0 not started; 189 applied");
    CHECK_OUT(r, "with --jobs 4");
    // The failure names the database (its fleet-file line), the revision and PostgreSQL's message.
    CHECK_ERR(r, "fastappkit: error: " + bad.url() + " (fleet.txt:24)");
    CHECK_ERR(r, "relation \"users\" already exists");
    // Failed databases come last in the table.
    const auto table = r.out.substr(r.out.find("DATABASE"));
    CHECK(table.rfind(bad.url()) > table.rfind(f.sqlite.back()->url()));
    CHECK(table.rfind(bad.url()) > table.rfind("schema=tenant_c"));
    CHECK_MESSAGE(r.err.find("error:") == r.err.rfind("error:"), r.err);  // only that one failed
    f.check_all_at_head(bad.url());
    // The failed database is as a failed single run leaves it: nothing applied, its data intact.
    CHECK(bad.query("SELECT legacy_id FROM users")[0][0] == "42");
    CHECK(bad.query("SELECT COUNT(*) FROM alembic_version")[0][0] == "0");
    // The tenants' tables live in their schemas; the shared database's public schema has none.
    for (const auto& s : f.schemas)
      CHECK(f.shared->query("SELECT COUNT(*) FROM pg_tables WHERE schemaname = '" + s +
                            "' AND tablename = 'users'")[0][0] == "1");
    CHECK(f.shared->tables().empty());

    // Status over the fleet says the same, read-only.
    auto status = f.run({"migrate", "status", "--databases", "fleet.txt", "--json"});
    CHECK_CODE(status, 0);
    auto js = json_of(status);
    CHECK(js["totals"]["databases"] == 28);
    for (const auto& d : js["databases"]) CHECK_MESSAGE((d["detail"] == "up to date") == (d["line"] != 24), d.dump());

    // Fixed and run again: only that database changes.
    bad.exec("DROP TABLE users");
    auto again = f.run({"migrate", "all", "--databases", "fleet.txt", "--json"});
    REQUIRE_OK(again);
    auto j = json_of(again);
    CHECK(j["ok"] == true);
    CHECK(j["jobs"] == 4);
    CHECK(j["totals"]["done"] == 28);
    CHECK(j["totals"]["applied"] == 7);
    for (const auto& d : j["databases"]) {
      if (d["line"] == 24) {
        CHECK(d["applied"]["core"] == 4);
        CHECK(d["applied"]["payments"] == 2);
        CHECK(d["applied"]["audit"] == 1);
        CHECK(d["detail"] == "applied 7");
      } else {
        CHECK_MESSAGE(d["detail"] == "up to date", d.dump());
      }
    }
    f.check_all_at_head();
    auto check = f.run({"migrate", "check", "--databases", "fleet.txt", "--jobs", "8"});
    CHECK_CODE(check, 0);
    CHECK_OUT(check, "28 database(s): 28 done, 0 failed, 0 not started; 0 differences");
  }

  TEST_CASE("two fleet runs at once over the same file never apply a migration twice") {
    Fleet f(6, 2, {"tenant_x", "tenant_y"});
    f.write_fleet();
    auto first = std::async(std::launch::async, [&] {
      return f.run({"migrate", "all", "--databases", "fleet.txt", "--jobs", "3", "--json"});
    });
    auto second = std::async(std::launch::async, [&] {
      return f.run({"migrate", "all", "--databases", "fleet.txt", "--jobs", "2", "--json"});
    });
    auto a = first.get(), b = second.get();
    REQUIRE_OK(a);
    REQUIRE_OK(b);
    // Between them every migration of every database was applied exactly once.
    CHECK(json_of(a)["totals"]["applied"].get<int>() + json_of(b)["totals"]["applied"].get<int>() == 10 * 7);
    f.check_all_at_head();
    for (auto& d : f.sqlite) CHECK(applied_twice(*d).empty());
    for (auto& d : f.postgresql) CHECK(applied_twice(*d).empty());
    for (const auto& s : f.schemas) {
      CHECK(applied_twice(*f.shared, s).empty());
      CHECK(f.shared->query("SELECT COUNT(*) FROM " + s + ".fastappkit_history")[0][0] == "7");
    }
  }

  TEST_CASE("tenant schemas never see each other's tables") {
    auto db = make_postgresql();
    ExampleProject p;
    const std::string a = db->url() + "&schema=a", b = db->url() + "&schema=b";
    auto run = [&](const std::string& url, std::vector<std::string> args) {
      args.insert(args.begin(), {"--database-url", url});
      return fastappkit(args, p.root);
    };
    REQUIRE_OK(run(a, {"migrate", "all"}));
    db->exec("CREATE TABLE a.only_in_a (id integer)");
    // b: nothing applied, nothing of a's seen, and reading it did not create it.
    auto status_b = run(b, {"migrate", "status"});
    REQUIRE_OK(status_b);
    CHECK_OUT(status_b, "schema=b");
    CHECK_OUT(status_b, "current:       base (nothing applied)");
    CHECK_NO_OUT(status_b, "up to date");
    CHECK(db->query("SELECT 1 FROM pg_namespace WHERE nspname = 'b'").empty());
    auto check_b = run(b, {"migrate", "check"});
    CHECK_CODE(check_b, 1);  // behind: nothing applied
    CHECK_NO_OUT(check_b, "only_in_a");
    // a sees its own extra table; b, once migrated, has no difference at all.
    auto check_a = run(a, {"migrate", "check"});
    CHECK_CODE(check_a, 1);
    CHECK_OUT(check_a, "only_in_a");
    REQUIRE_OK(run(b, {"migrate", "all"}));
    auto check_b2 = run(b, {"migrate", "check"});
    CHECK_CODE(check_b2, 0);
    CHECK_NO_OUT(check_b2, "only_in_a");
    // Reverting b leaves a whole; public was never touched.
    REQUIRE_OK(run(b, {"migrate", "downgrade", "base", "--all"}));
    CHECK(db->query("SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'b' AND tablename NOT LIKE 'alembic%' AND "
                    "tablename <> 'fastappkit_history'")[0][0] == "0");
    CHECK(db->query("SELECT version_num FROM a.alembic_version")[0][0] == kCoreHead);
    CHECK(db->query("SELECT COUNT(*) FROM a.users")[0][0] == "0");
    CHECK(db->tables().empty());
    // A bad schema name is refused before anything is opened.
    auto bad = run(db->url() + "&schema=pg_toast", {"migrate", "all"});
    CHECK_CODE(bad, 2);
    CHECK_ERR(bad, "belongs to the PostgreSQL server");
  }

  TEST_CASE("--fail-fast starts no database after the first failure") {
    Fleet f(4, 0, {});
    f.sqlite[1]->exec("CREATE TABLE users (legacy integer)");
    f.write_fleet();
    auto r = f.run({"migrate", "upgrade", "--databases", "fleet.txt", "--jobs", "1", "--fail-fast"});
    CHECK_CODE(r, 1);
    CHECK_OUT(r, "4 database(s): 1 done, 1 failed, 2 not started");
    CHECK_OUT(r, "not started: another database failed (--fail-fast)");
    CHECK(f.sqlite[0]->query("SELECT version_num FROM alembic_version")[0][0] == kCoreHead);
    for (int i : {2, 3}) CHECK(!fs::exists(f.p.dir.path / ("t" + std::to_string(i)) / "test.db"));
  }

  TEST_CASE("current and stamp over a fleet: read-only, then one stamp per database, failures isolated") {
    Fleet f(2, 2, {"tenant_a"});
    f.write_fleet();
    // Nothing created yet: the SQLite files stay absent, the PostgreSQL ones have no version table.
    auto before = f.run({"migrate", "current", "--databases", "fleet.txt", "--json"});
    REQUIRE_OK(before);
    auto jb = json_of(before);
    CHECK(jb["command"] == "migrate current");
    CHECK(jb["totals"]["done"] == 5);
    for (const auto& d : jb["databases"]) {
      CHECK_MESSAGE(d["detail"] == (d["line"] <= 3 ? "database not created" : "no revision applied"), d.dump());
      CHECK(d["revision_list"].empty());
    }
    CHECK(!fs::exists(f.p.dir.path / "t0" / "test.db"));
    CHECK(f.postgresql[0]->tables().empty());

    // One database cannot be stamped: its version table names a revision this project lacks.
    Database& odd = *f.postgresql[1];
    odd.exec("CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY)");
    odd.exec("INSERT INTO alembic_version VALUES ('ffffffffffff')");
    auto stamped = f.run({"migrate", "stamp", "head", "--databases", "fleet.txt"});  // as docs/fleets.md shows
    CHECK_CODE(stamped, 1);
    CHECK_OUT(stamped, "stamped at " + std::string(kCoreHead) + " (head)");
    CHECK_OUT(stamped, "5 database(s): 4 done, 1 failed, 0 not started; 4 stamped");
    CHECK_ERR(stamped, "fastappkit: error: " + odd.url() + " (fleet.txt:5)");
    CHECK_ERR(stamped, "ffffffffffff");
    CHECK(odd.query("SELECT version_num FROM alembic_version") ==
          std::vector<std::vector<std::string>>{{"ffffffffffff"}});
    // The others hold exactly the head, and no migration ran: no table of core's was created.
    for (const auto& d : f.sqlite) {
      CHECK(d->query("SELECT version_num FROM alembic_version") == std::vector<std::vector<std::string>>{{kCoreHead}});
      CHECK(d->query("SELECT COUNT(*) FROM sqlite_master WHERE name = 'users'")[0][0] == "0");
    }
    CHECK(f.postgresql[0]->query("SELECT version_num FROM alembic_version")[0][0] == kCoreHead);
    CHECK(f.schema_versions("tenant_a", "alembic_version") == std::vector<std::string>{kCoreHead});

    // current says the same; the odd database fails as `migrate current` fails on it alone
    // (Alembic's "Can't locate revision").
    auto now = f.run({"migrate", "current", "--databases", "fleet.txt"});
    CHECK_CODE(now, 1);
    CHECK_OUT(now, "at " + std::string(kCoreHead) + " (head)");
    CHECK_OUT(now, "5 database(s): 4 done, 1 failed, 0 not started; 4 revisions");
    CHECK_ERR(now, "fastappkit: error: " + odd.url() +
                       " (fleet.txt:5): Can't locate revision identified by "
                       "'ffffffffffff'");
    auto jn = json_of(f.run({"migrate", "current", "--databases", "fleet.txt", "--json"}));
    for (const auto& d : jn["databases"]) {
      if (d["line"] == 5)
        CHECK_MESSAGE((d["state"] == "failed" && !d.contains("revision_list")), d.dump());
      else
        CHECK_MESSAGE(d["revision_list"] == nlohmann::json::array({kCoreHead}), d.dump());
    }

    // A revision the project does not have is refused before any database is opened.
    auto unknown = f.run({"migrate", "stamp", "0123456789ab", "--databases", "fleet.txt"});
    CHECK_CODE(unknown, 2);
    CHECK(f.sqlite[0]->query("SELECT version_num FROM alembic_version")[0][0] == kCoreHead);

    // --purge to base empties every version table, the odd one's too.
    auto purged = f.run({"migrate", "stamp", "base", "--purge", "--databases", "fleet.txt", "--json"});
    REQUIRE_OK(purged);
    const auto jp = json_of(purged);  // named: a range-for over a temporary's member outlives it
    for (const auto& d : jp["databases"]) {
      CHECK(d["detail"] == "stamped at base (nothing applied)");
      CHECK(d["revision_list"].empty());
    }
    CHECK(odd.query("SELECT COUNT(*) FROM alembic_version")[0][0] == "0");
    CHECK(f.schema_versions("tenant_a", "alembic_version").empty());
    auto alone = f.run({"migrate", "current", "--jobs", "2"}, {{"DATABASE_URL", f.urls[0]}});
    CHECK_CODE(alone, 2);
    CHECK_ERR(alone, "--jobs needs --databases FILE");
  }

  TEST_CASE("preview over a fleet: each database's own script in file order, nothing written, failures on stderr") {
    Fleet f(2, 1, {});
    f.write_fleet();
    REQUIRE_OK(f.run({"migrate", "upgrade"}, {{"DATABASE_URL", f.urls[0]}}));  // t0 at head, t1 not created
    auto r = f.run({"migrate", "preview", "--databases", "fleet.txt"});
    REQUIRE_OK(r);
    // Each section is exactly what `migrate preview` prints for that database alone.
    for (std::size_t i = 0; i < f.urls.size(); ++i) {
      auto alone = f.run({"migrate", "preview"}, {{"DATABASE_URL", f.urls[i]}});
      REQUIRE_OK(alone);
      CHECK_OUT(r, "-- fleet.txt:" + std::to_string(i + 2) + "\n" + alone.out);
    }
    CHECK_OUT(r, "upgrade to head from " + std::string(kCoreHead) + " (head); 0 migration(s)");
    CHECK_OUT(r, "upgrade to head from base (nothing applied); 4 migration(s)");
    CHECK(r.out.find("fleet.txt:2") < r.out.find("fleet.txt:3"));
    CHECK(r.out.find("fleet.txt:3") < r.out.find("fleet.txt:4"));
    CHECK(!fs::exists(f.p.dir.path / "t1" / "test.db"));  // read-only: nothing created
    CHECK(f.postgresql[0]->tables().empty());

    auto js = json_of(f.run({"migrate", "preview", "--databases", "fleet.txt", "--json"}));
    CHECK(js["command"] == "migrate preview");
    CHECK(js["totals"]["pending"] == 8);
    for (const auto& d : js["databases"]) {
      CHECK(d["pending"]["core"] == (d["line"] == 2 ? 0 : 4));
      CHECK(d["script"].get<std::string>().find("-- core (alembic_version)") != std::string::npos);
    }
    auto app = f.run({"migrate", "app", "payments", "preview", "--databases", "fleet.txt"});
    REQUIRE_OK(app);
    CHECK_OUT(app, "-- fleet.txt:4\n-- payments (alembic_version_payments): upgrade to head from base");

    // A database that cannot be read fails alone: the others' scripts are printed, exit 1.
    std::string missing = f.urls[2];
    missing.replace(missing.find("@/") + 2, missing.find('?') - missing.find("@/") - 2, "fak_no_such_database");
    write_file(f.p.root / "some.txt", f.urls[0] + "\n" + missing + "\n");
    auto some = f.run({"migrate", "preview", "--databases", "some.txt"});
    CHECK_CODE(some, 1);
    CHECK_OUT(some, "-- some.txt:1\n-- fastappkit preview on " + f.urls[0]);
    CHECK_ERR(some, "fastappkit: error: " + missing + " (some.txt:2): ");
    CHECK_ERR(some, "fak_no_such_database");
    // With --fail-fast a database not started is named on stderr too: stdout has SQL only.
    write_file(f.p.root / "first.txt", missing + "\n" + f.urls[0] + "\n");
    auto fast = f.run({"migrate", "preview", "--databases", "first.txt", "--jobs", "1", "--fail-fast"});
    CHECK_CODE(fast, 1);
    CHECK(fast.out.empty());
    CHECK_ERR(fast, "fastappkit: error: " + f.urls[0] + " (first.txt:2): not started");

    auto offline = f.run({"migrate", "preview", "--from", "base", "--databases", "fleet.txt"});
    CHECK_CODE(offline, 2);
    CHECK_ERR(offline, "preview --from reads no database; --databases names databases to read");
  }

  TEST_CASE("lint and app list over a fleet: what each database has not applied, each finding once") {
    Fleet f(2, 1, {"tenant_a"});
    f.write_fleet();
    REQUIRE_OK(f.run({"migrate", "all"}, {{"DATABASE_URL", f.urls[0]}}));  // t0 at head, the others at base
    auto r = f.run({"migrate", "lint", "--databases", "fleet.txt", "--json"});
    const auto j = json_of(r);
    CHECK(j["command"] == "migrate lint");
    REQUIRE(j["databases"].size() == 4);
    // Each database's findings are what `migrate lint` finds on it alone, and the exit code is
    // 1 exactly when one of them has an error.
    bool errors = false;
    for (const auto& d : j["databases"]) {
      const std::string url = f.urls.at(d["line"].get<std::size_t>() - 2);
      auto alone = f.run({"migrate", "lint", "--json"}, {{"DATABASE_URL", url}});
      CHECK_MESSAGE((alone.code == 0 || alone.code == 1), alone.err);
      errors = errors || alone.code == 1;
      CHECK_MESSAGE(d["finding_list"] == json_of(alone)["findings"], url);
    }
    CHECK(j["databases"][0]["finding_list"].empty());  // at head: nothing pending
    CHECK(j["databases"][0]["detail"] == "0 error(s), 0 warning(s)");
    CHECK(!j["databases"][2]["finding_list"].empty());  // on PostgreSQL the example's revisions have findings
    CHECK_CODE(r, errors ? 1 : 0);
    CHECK_CODE(f.run({"migrate", "lint", "--databases", "fleet.txt"}), errors ? 1 : 0);  // as docs/fleets.md shows
    CHECK(!fs::exists(f.p.dir.path / "t1" / "test.db"));                                 // read-only
    CHECK(f.postgresql[0]->tables().empty());

    // As text: the table, then each finding once however many databases have it pending.
    auto t = f.run({"migrate", "lint", "--databases", "fleet.txt", "--dialect", "postgresql"});
    CHECK_OUT(t, "DATABASE");
    CHECK_OUT(t, "FINDINGS");
    const auto pg = json_of(
        f.run({"migrate", "lint", "--json", "--dialect", "postgresql"}, {{"DATABASE_URL", f.urls[1]}}))["findings"];
    REQUIRE(!pg.empty());
    const std::string first = pg[0]["file"].get<std::string>() + ":" + std::to_string(pg[0]["line"].get<int>()) + ":" +
                              std::to_string(pg[0]["column"].get<int>()) + ":";
    CHECK_OUT(t, first);
    CHECK_MESSAGE(t.out.find(first) == t.out.rfind(first), t.out);

    auto all = f.run({"migrate", "lint", "--all", "--databases", "fleet.txt"});
    CHECK_CODE(all, 2);
    CHECK_ERR(all, "--all lints every revision, which needs no database");

    // app list: each database's pending migrations per app, as migrate status counts them.
    auto apps = f.run({"app", "list", "--databases", "fleet.txt", "--json"});  // as docs/fleets.md shows
    REQUIRE_OK(apps);
    const auto ja = json_of(apps);
    const auto js = json_of(f.run({"migrate", "status", "--databases", "fleet.txt", "--json"}));
    CHECK(ja["command"] == "app list");
    for (std::size_t i = 0; i < 4; ++i) {
      CHECK(ja["databases"][i]["pending"] == js["databases"][i]["pending"]);
      CHECK(ja["databases"][i]["detail"] == js["databases"][i]["detail"]);
    }
    CHECK(ja["databases"][0]["detail"] == "up to date");
    CHECK(ja["databases"][1]["pending"]["payments"].get<int>() > 0);
  }

  TEST_CASE("a bad fleet file or fleet option is refused with exit 2 and no database touched") {
    Fleet f(2, 1, {});
    auto untouched = [&] {
      CHECK(!fs::exists(f.p.dir.path / "t0" / "test.db"));
      CHECK(f.postgresql[0]->tables().empty());
    };
    write_file(f.p.root / "vars.txt", f.urls[0] + "\n" + f.urls[2] + "\npostgresql://app:${FAK_E2E_UNSET_PW}@db/x\n");
    auto unset = f.run({"migrate", "all", "--databases", "vars.txt"});
    CHECK_CODE(unset, 2);
    CHECK_ERR(unset, "vars.txt:3:18: environment variable FAK_E2E_UNSET_PW is not set");
    CHECK_ERR(unset, "hint: export FAK_E2E_UNSET_PW");
    untouched();
    auto json = f.run({"migrate", "all", "--databases", "vars.txt", "--json"});
    CHECK_CODE(json, 2);
    CHECK(json_of(json)["error"]["line"] == 3);
    CHECK(json_of(json)["error"]["column"] == 18);

    write_file(f.p.root / "pw.txt", f.urls[0] + "\nmysql://app:hunter2@db/x\n");
    auto scheme = f.run({"migrate", "status", "--databases", "pw.txt"});
    CHECK_CODE(scheme, 2);
    CHECK_ERR(scheme, "pw.txt:2:1: unsupported database URL scheme 'mysql'");
    CHECK(!has(scheme.err + scheme.out, "hunter2"));

    write_file(f.p.root / "dup.txt", f.urls[2] + "\n" + f.urls[0] + "\n" + f.urls[2] + "\n");
    auto dup = f.run({"migrate", "all", "--databases", "dup.txt"});
    CHECK_CODE(dup, 2);
    CHECK_ERR(dup, "dup.txt:3:1: the same database as line 1");
    untouched();

    auto missing = f.run({"migrate", "all", "--databases", "nope.txt"});
    CHECK_CODE(missing, 2);
    CHECK_ERR(missing, "cannot read the fleet file nope.txt");

    f.write_fleet();
    for (const char* jobs : {"0", "65", "-3"}) {
      auto r = f.run({"migrate", "all", "--databases", "fleet.txt", "--jobs", jobs});
      CHECK_CODE(r, 2);
      CHECK_ERR(r, "--jobs must be from 1 to 64");
    }
    auto alone = f.run({"migrate", "all", "--jobs", "4"}, {{"DATABASE_URL", f.urls[0]}});
    CHECK_CODE(alone, 2);
    CHECK_ERR(alone, "--jobs needs --databases FILE");
    auto fail_fast = f.run({"migrate", "status", "--fail-fast"}, {{"DATABASE_URL", f.urls[0]}});
    CHECK_CODE(fail_fast, 2);
    CHECK_ERR(fail_fast, "--fail-fast needs --databases FILE");
    auto both = f.run({"migrate", "upgrade", "--databases", "fleet.txt", "--database-url", f.urls[0]});
    CHECK_CODE(both, 2);
    CHECK_ERR(both, "--database-url and --databases both name the database(s)");
    untouched();
  }

  TEST_CASE("a password in a fleet file never appears in any output, also when its database fails") {
    Fleet f(1, 1, {});
    const char* host = std::getenv("FASTAPPKIT_TEST_PGHOST");
    REQUIRE(host);
    // Port 1: nothing listens there, so both connections fail after the password was read.
    write_file(f.p.root / "fleet.txt", f.urls[0] + "\npostgresql://app:Lit3ralPw@/nodb?host=" + host +
                                           "&port=1\npostgresql://app:${FAK_E2E_PW}@/nodb?host=" + host + "&port=1\n" +
                                           f.urls[1] + "&schema=t1\n");
    for (const std::vector<std::string>& cmd :
         {std::vector<std::string>{"migrate", "all"}, {"migrate", "status"}, {"migrate", "check"}}) {
      for (bool json : {false, true}) {
        auto args = cmd;
        args.insert(args.end(), {"--databases", "fleet.txt"});
        if (json) args.emplace_back("--json");
        auto r = f.run(args, {{"FAK_E2E_PW", "EnvSecr3t"}});
        CHECK_CODE(r, 1);
        CHECK_MESSAGE(!has(r.out + r.err, "Lit3ralPw"), describe(r));
        CHECK_MESSAGE(!has(r.out + r.err, "EnvSecr3t"), describe(r));
        if (json) {
          auto j = json_of(r);
          CHECK(j["totals"]["failed"] == 2);
          CHECK(j["databases"][1]["database"].get<std::string>().find("app:***@") != std::string::npos);
          CHECK(j["databases"][1]["error"]["message"].get<std::string>().find("cannot connect") != std::string::npos);
        } else {
          CHECK_ERR(r, "cannot connect to PostgreSQL");
          CHECK_OUT(r, "app:***@");
        }
      }
    }
  }

  TEST_CASE("tenant run locks: tenants side by side, a run without a schema excludes them, one tenant at a time") {
    auto db = make_postgresql();
    ExampleProject p;
    const char* host = std::getenv("FASTAPPKIT_TEST_PGHOST");
    REQUIRE(host);
    const std::string name = db->url().substr(db->url().find("@/") + 2, db->url().find('?') - db->url().find("@/") - 2);
    LockSession tool("host=" + std::string(host) + " user=postgres dbname=" + name);
    const std::string database_key = "9056201690186716081";  // docs/postgresql.md
    auto upgrade = [&](const std::string& schema) {
      return fastappkit(
          {"--lock-timeout", "1", "--database-url", db->url() + "&schema=" + schema, "migrate", "upgrade"}, p.root);
    };
    // The database key held exclusively (a run without ?schema=, or a deploy script): tenants wait.
    CHECK(tool.scalar("SELECT pg_try_advisory_lock(" + database_key + ")") == "t");
    auto waits = upgrade("a");
    CHECK_CODE(waits, 1);
    CHECK_ERR(waits, "another fastappkit run holds the migration lock");
    CHECK(db->query("SELECT 1 FROM pg_namespace WHERE nspname = 'a'").empty());
    CHECK(tool.scalar("SELECT pg_advisory_unlock(" + database_key + ")") == "t");
    // Held shared (as another tenant's run holds it): a tenant goes ahead.
    CHECK(tool.scalar("SELECT pg_try_advisory_lock_shared(" + database_key + ")") == "t");
    REQUIRE_OK(upgrade("a"));
    // Tenant b's own key held: b waits, a does not.
    CHECK(tool.scalar("SELECT pg_try_advisory_lock(" + tenant_key("b") + ")") == "t");
    auto b = upgrade("b");
    CHECK_CODE(b, 1);
    CHECK_ERR(b, "another fastappkit run holds the migration lock");
    CHECK_ERR(b, "schema=b");
    REQUIRE_OK(fastappkit(
        {"--lock-timeout", "1", "--database-url", db->url() + "&schema=a", "migrate", "downgrade", "-1"}, p.root));
    CHECK(tool.scalar("SELECT pg_advisory_unlock(" + tenant_key("b") + ")") == "t");
    REQUIRE_OK(upgrade("b"));
    CHECK(db->query("SELECT version_num FROM b.alembic_version")[0][0] == kCoreHead);
  }

  TEST_CASE(
      "a tenant role without CREATE on the database migrates its existing schema, and is told when it is missing") {
    auto db = make_postgresql();
    ExampleProject p;
    const char* host = std::getenv("FASTAPPKIT_TEST_PGHOST");
    REQUIRE(host);
    const std::string name = db->url().substr(db->url().find("@/") + 2, db->url().find('?') - db->url().find("@/") - 2);
    const std::string role = "fak_tenant_" + name.substr(4);
    LockSession admin("host=" + std::string(host) + " user=postgres dbname=postgres");
    PQclear(PQexec(admin.c, ("CREATE ROLE " + role + " LOGIN").c_str()));
    REQUIRE(admin.scalar("SELECT COUNT(*) FROM pg_roles WHERE rolname = '" + role + "'") == "1");
    struct DropRole {
      LockSession& admin;
      Database& db;
      std::string role;
      ~DropRole() {
        try {
          db.exec("DROP OWNED BY " + role);
          PQclear(PQexec(admin.c, ("DROP ROLE IF EXISTS " + role).c_str()));
        } catch (...) {
        }
      }
    } drop{admin, *db, role};
    db->exec("REVOKE CREATE ON DATABASE " + name + " FROM PUBLIC");
    db->exec("CREATE SCHEMA t AUTHORIZATION " + role);
    const std::string as_role = "postgresql://" + role + "@/" + name + "?host=" + host;
    auto ok = fastappkit({"--database-url", as_role + "&schema=t", "migrate", "all"}, p.root);
    REQUIRE_OK(ok);
    CHECK(db->query("SELECT version_num FROM t.alembic_version")[0][0] == kCoreHead);
    auto missing = fastappkit({"--database-url", as_role + "&schema=u", "migrate", "all"}, p.root);
    CHECK_CODE(missing, 1);
    CHECK_ERR(missing, "permission denied for database");
    CHECK(db->query("SELECT 1 FROM pg_namespace WHERE nspname = 'u'").empty());
  }
}
