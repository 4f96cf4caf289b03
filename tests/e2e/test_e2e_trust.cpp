// Trust (SPEC §7): an unsafe plugin is refused before its library is ever opened, and the
// ABI grows without breaking built plugins. The `marker` test plugin appends to the file named
// by FASTAPPKIT_TEST_MARKER when its library is loaded, so each refusal proves it never ran.
#include <doctest/doctest.h>
#include <libpq-fe.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <regex>
#include <thread>

#include "harness.hpp"

using namespace e2e;

namespace {

const char* kNobody = "nobody";

struct TrustProject {
  TempDir dir;
  fs::path root = dir.path / "project";
  fs::path plugins = root / "plugins";
  fs::path outside = dir.path / "outside";
  fs::path marker = dir.path / "marker.log";
  std::string db_url = "sqlite:///app.db";

  TrustProject() {
    copy_tree(source_dir() / "apps-example", root);
    install_plugins(root);
    copy_tree(test_plugins_dir() / "marker", plugins / "marker");
    fs::create_directories(outside);
    apps("\"apps.blog\", \"marker\"");
  }
  void apps(const std::string& list, const std::string& extra = "") const {
    write_file(root / "fastappkit.toml", "[tool.fastappkit]\napps = [" + list + "]\n" + extra);
  }
  fs::path lib() const { return plugins / "marker" / "libmarker.so"; }
  RunResult run(const std::vector<std::string>& args) const {
    return fastappkit(args, root, {{"DATABASE_URL", db_url}, {"FASTAPPKIT_TEST_MARKER", marker.string()}});
  }
  bool opened() const { return fs::exists(marker); }
};

void chmod_to(const fs::path& p, mode_t mode) { REQUIRE(::chmod(p.c_str(), mode) == 0); }

bool chown_nobody(const fs::path& p) {
  std::string out;
  return shell("chown -h " + std::string(kNobody) + " '" + p.string() + "'", &out) == 0;
}

std::string sha256sum(const fs::path& p) {
  std::string out;
  REQUIRE(shell("sha256sum '" + p.string() + "'", &out) == 0);
  return out.substr(0, 64);
}

struct UnsafeCase {
  std::string name;
  std::vector<std::string> expected;  // each in stderr; "{lib}", "{folder}", "{plugins}", "{outside}" are replaced
  std::function<void(TrustProject&)> setup;
  bool needs_root = false;
};

std::string expand(std::string s, const TrustProject& p) {
  auto rep = [&](const std::string& key, const std::string& value) {
    for (auto at = s.find(key); at != std::string::npos; at = s.find(key, at + value.size()))
      s.replace(at, key.size(), value);
  };
  rep("{lib}", p.lib().string());
  rep("{folder}", (p.plugins / "marker").string());
  rep("{plugins}", p.plugins.string());
  rep("{outside}", fs::canonical(p.outside).string());
  return s;
}

std::vector<UnsafeCase> unsafe_cases() {
  return {
      {"world-writable plugin folder (0777)",
       {"refusing to load: the plugin folder {folder} is writable by its group and by others (mode 0777)",
        "hint: chmod go-w {folder}"},
       [](TrustProject& p) { chmod_to(p.plugins / "marker", 0777); }},
      {"world-writable plugin folder with the sticky bit (1777)",
       {"the plugin folder {folder} is writable by its group and by others (mode 1777)", "hint: chmod go-w {folder}"},
       [](TrustProject& p) { chmod_to(p.plugins / "marker", 01777); }},
      {"world-writable library (0666)",
       {"refusing to load: the library {lib} is writable by its group and by others (mode 0666)",
        "hint: chmod go-w {lib}"},
       [](TrustProject& p) { chmod_to(p.lib(), 0666); }},
      {"world-writable library (0777)",
       {"the library {lib} is writable by its group and by others (mode 0777)"},
       [](TrustProject& p) { chmod_to(p.lib(), 0777); }},
      {"group-writable library (0775)",
       {"the library {lib} is writable by its group (mode 0775)", "hint: chmod go-w {lib}"},
       [](TrustProject& p) { chmod_to(p.lib(), 0775); }},
      {"world-writable plugin.toml",
       {"the manifest {folder}/plugin.toml is writable by its group and by others (mode 0666)",
        "chmod go-w {folder}/plugin.toml"},
       [](TrustProject& p) { chmod_to(p.plugins / "marker" / "plugin.toml", 0666); }},
      {"world-writable plugins/ folder",
       {"the plugin_paths folder {plugins} is writable by its group and by others (mode 0777)", "chmod go-w {plugins}"},
       [](TrustProject& p) { chmod_to(p.plugins, 0777); }},
      {"library owned by nobody",
       {"the library {lib} is owned by nobody", "neither root nor the user running fastappkit", "chown -R"},
       [](TrustProject& p) { REQUIRE(chown_nobody(p.lib())); },
       true},
      {"plugin folder owned by nobody",
       {"the plugin folder {folder} is owned by nobody"},
       [](TrustProject& p) { REQUIRE(chown_nobody(p.plugins / "marker")); },
       true},
      {"plugin.toml owned by nobody",
       {"the manifest {folder}/plugin.toml is owned by nobody"},
       [](TrustProject& p) { REQUIRE(chown_nobody(p.plugins / "marker" / "plugin.toml")); },
       true},
      {"plugins/ folder owned by nobody",
       {"the plugin_paths folder {plugins} is owned by nobody"},
       [](TrustProject& p) { REQUIRE(chown_nobody(p.plugins)); },
       true},
      {"library symlinked outside the project (absolute)",
       {"library {lib} resolves to {outside}/libmarker.so, outside the plugin_paths folder",
        "hint: move the library itself inside the plugin folder"},
       [](TrustProject& p) {
         fs::rename(p.lib(), p.outside / "libmarker.so");
         fs::create_symlink(p.outside / "libmarker.so", p.lib());
       }},
      {"library symlinked outside the project (../../..)",
       {"library {lib} resolves to {outside}/libmarker.so, outside the plugin_paths folder"},
       [](TrustProject& p) {
         fs::rename(p.lib(), p.outside / "libmarker.so");
         fs::create_symlink("../../../outside/libmarker.so", p.lib());
       }},
      {"library symlinked to a world-writable file",
       {"the library", "real.so is writable by its group and by others (mode 0666)"},
       [](TrustProject& p) {
         fs::rename(p.lib(), p.plugins / "marker" / "real.so");
         chmod_to(p.plugins / "marker" / "real.so", 0666);
         fs::create_symlink("real.so", p.lib());
       }},
      {"plugin folder symlinked outside the project",
       {"refusing to load: the plugin folder resolves to {outside}/marker, outside its plugin_paths folder",
        "hint: move the plugin folder itself inside"},
       [](TrustProject& p) {
         fs::rename(p.plugins / "marker", p.outside / "marker");
         fs::create_symlink(p.outside / "marker", p.plugins / "marker");
       }},
      {"plugins/ folder symlinked outside the project",
       {"plugin_paths folder {plugins} resolves to {outside}/plugins, outside the project root"},
       [](TrustProject& p) {
         fs::rename(p.plugins, p.outside / "plugins");
         fs::create_symlink(p.outside / "plugins", p.plugins);
       }},
      {"plugin_paths outside the project (absolute)",
       {"plugin_paths entry '{outside}/plugins' is outside the project root", "fastappkit.toml:3:"},
       [](TrustProject& p) {
         fs::rename(p.plugins, p.outside / "plugins");
         p.apps("\"apps.blog\", \"marker\"",
                "plugin_paths = [\"" + fs::canonical(p.outside).string() + "/plugins\"]\n");
       }},
      {"plugin_paths outside the project (../outside)",
       {"plugin_paths entry '../outside/plugins' is outside the project root"},
       [](TrustProject& p) {
         fs::rename(p.plugins, p.outside / "plugins");
         p.apps("\"apps.blog\", \"marker\"", "plugin_paths = [\"../outside/plugins\"]\n");
       }},
      {"manifest library outside the plugin folder",
       {"library must be a file name in the plugin folder"},
       [](TrustProject& p) {
         std::string m = read_file(p.plugins / "marker" / "plugin.toml");
         m.replace(m.find("libmarker.so"), 12, "../audit/libaudit.so");
         write_file(p.plugins / "marker" / "plugin.toml", m);
       }},
      {"library differs from its sha256 pin",
       {"refusing to load: library {lib} has SHA-256", "fastappkit.toml:4:10 pins 0000", "update the pin"},
       [](TrustProject& p) {
         p.apps("\"apps.blog\", \"marker\"",
                "[tool.fastappkit.plugins.marker]\nsha256 = \"" + std::string(64, '0') + "\"\n");
       }},
  };
}

// Holds a PostgreSQL session open (the harness's helpers close theirs after each statement).
struct PgSession {
  explicit PgSession(const std::string& conninfo) : c(PQconnectdb(conninfo.c_str())) {
    REQUIRE(PQstatus(c) == CONNECTION_OK);
  }
  ~PgSession() { PQfinish(c); }
  std::string scalar(const std::string& sql) {
    PGresult* r = PQexec(c, sql.c_str());
    REQUIRE_MESSAGE(PQresultStatus(r) == PGRES_TUPLES_OK, PQresultErrorMessage(r));
    std::string v = PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    PQclear(r);
    return v;
  }
  PGconn* c;
};

}  // namespace

TEST_SUITE("fastappkit::e2e") {
  TEST_CASE("the marker plugin loads when it is safe, so its marker proves a library was opened") {
    TrustProject p;
    auto r = p.run({"migrate", "all"});
    REQUIRE_OK(r);
    CHECK(p.opened());
    CHECK(has(r.out, "marker: applying 1 migration(s)"));
  }

  TEST_CASE("every unsafe plugin set-up is refused before the library is opened, the database untouched") {
    const bool root = ::geteuid() == 0;
    int refused = 0;
    for (const auto& c : unsafe_cases()) {
      CAPTURE(c.name);
      if (c.needs_root && !root) {
        MESSAGE("not run without root (cannot chown to nobody): " << c.name);
        continue;
      }
      TrustProject p;
      c.setup(p);
      for (const auto& args :
           std::vector<std::vector<std::string>>{{"migrate", "all"}, {"migrate", "app", "marker", "upgrade"}}) {
        auto r = p.run(args);
        CHECK(r.code == 2);
        for (const auto& e : c.expected)
          CHECK_MESSAGE(has(r.err, expand(e, p)), "expected: " << expand(e, p) << "\nstderr:\n" << r.err);
        CHECK(has(r.err, "hint: "));
      }
      auto v = p.run({"app", "validate", "marker"});
      CHECK(v.code == 2);
      auto l = p.run({"app", "list"});
      if (l.code == 0) CHECK(has(l.out, "invalid: "));
      CHECK_FALSE(p.opened());
      CHECK_FALSE(fs::exists(p.root / "app.db"));
      ++refused;
    }
    MESSAGE("unsafe set-ups refused: " << refused);
    CHECK(refused == (root ? 20 : 16));
  }

  TEST_CASE_TEMPLATE(
      "a sha256 pin: app validate prints the hash, a match loads, a mismatch is refused and writes nothing", B, Sqlite,
      Postgresql) {
    TrustProject p;
    auto db = make_database<B>(p.dir.path);
    p.db_url = db->url();
    const std::string actual = sha256sum(p.lib());

    auto v = p.run({"app", "validate", "marker"});
    CHECK(has(v.out, "library SHA-256: sha256 " + actual +
                         " (not pinned; to pin it, add [tool.fastappkit.plugins.marker] sha256 = \"" + actual + "\""));
    // validate opens the safe library (it checks the descriptor); start the proof afresh.
    fs::remove(p.marker);

    p.apps("\"apps.blog\", \"marker\"",
           "[tool.fastappkit.plugins.marker]\nsha256 = \"" + std::string(63, '0') + "1\"\n");
    auto bad = p.run({"migrate", "all"});
    CHECK(bad.code == 2);
    CHECK(has(bad.err, "refusing to load: library " + p.lib().string() + " has SHA-256 " + actual));
    CHECK(has(bad.err,
              "hint: if this build is the one you mean to trust, update the pin: [tool.fastappkit.plugins.marker] "
              "sha256 = \"" +
                  actual + "\""));
    CHECK_FALSE(p.opened());
    CHECK(db->tables().empty());

    std::string upper = actual;
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    p.apps("\"apps.blog\", \"marker\"", "[tool.fastappkit.plugins.marker]\nsha256 = \"" + upper + "\"\n");
    auto matched = p.run({"app", "validate", "marker"});
    CHECK(has(matched.out, "library SHA-256: sha256 " + actual + " (matches the pin at"));
    auto ok = p.run({"migrate", "all"});
    REQUIRE_OK(ok);
    CHECK(p.opened());
    auto tables = db->tables();
    CHECK(std::find(tables.begin(), tables.end(), "marker_items") != tables.end());
  }

  TEST_CASE_TEMPLATE("an unsafe plugin leaves the database untouched", B, Sqlite, Postgresql) {
    TrustProject p;
    auto db = make_database<B>(p.dir.path);
    p.db_url = db->url();
    chmod_to(p.plugins / "marker", 0777);
    auto r = p.run({"migrate", "all"});
    CHECK(r.code == 2);
    CHECK(has(r.err, "is writable by its group and by others (mode 0777)"));
    CHECK_FALSE(p.opened());
    CHECK(db->tables().empty());
  }

  TEST_CASE("fastappkit.toml: a pin must be 64 hex digits for an external app of the project") {
    TrustProject p;
    struct Bad {
      std::string extra, expected;
    };
    for (const auto& b : std::vector<Bad>{
             {"[tool.fastappkit.plugins.marker]\nsha256 = \"abc\"\n",
              "fastappkit.toml:4:10: sha256 of plugin 'marker' is not 64 hexadecimal digits"},
             {"[tool.fastappkit.plugins.markr]\nsha256 = \"" + std::string(64, 'a') + "\"\n",
              "names no external app of this project"},
             {"[tool.fastappkit.plugins.blog]\nsha256 = \"" + std::string(64, 'a') + "\"\n",
              "[tool.fastappkit.plugins.blog] names no external app"},
             {"[tool.fastappkit.plugins.marker]\nsha265 = \"" + std::string(64, 'a') + "\"\n", "unknown key 'sha265'"},
         }) {
      CAPTURE(b.expected);
      p.apps("\"apps.blog\", \"marker\"", b.extra);
      auto r = p.run({"migrate", "all"});
      CHECK(r.code == 2);
      CHECK_MESSAGE(has(r.err, b.expected), r.err);
      CHECK_FALSE(p.opened());
      CHECK_FALSE(fs::exists(p.root / "app.db"));
    }
  }

  TEST_CASE_TEMPLATE(
      "ABI: two plugins built with default visibility, one with its own C++ runtime, keep their own descriptors "
      "and steps",
      B, Sqlite, Postgresql) {
    TrustProject p;
    auto db = make_database<B>(p.dir.path);
    p.db_url = db->url();
    // Built with default visibility, yet the SDK's statics must not be STB_GNU_UNIQUE (shared by
    // every library in the process); libstdc++'s own constant tables may be.
    for (const char* t : {"twin_a", "twin_b"}) {
      std::string out, unique;
      const std::string lib = (test_plugins_dir() / t / ("lib" + std::string(t) + ".so")).string();
      shell("readelf -sW --dyn-syms '" + lib + "'", &out);
      CHECK(has(out, "fastappkit_plugin_v1"));
      shell("readelf -sW --dyn-syms '" + lib + "' | c++filt | grep UNIQUE | grep fastappkit || true", &unique);
      CHECK_MESSAGE(unique.empty(), unique);
      // twin_a carries its own C++ runtime (FastappkitPlugin.cmake), twin_b asked for the shared one.
      std::string needed;
      shell("readelf -dW '" + lib + "'", &needed);
      const bool own_runtime = FASTAPPKIT_PLUGIN_STATIC_RUNTIME && std::string(t) == "twin_a";
      CHECK_MESSAGE(has(needed, "libstdc++.so") == !own_runtime, needed);
      copy_tree(test_plugins_dir() / t, p.plugins / t);
    }
    p.apps("\"apps.blog\", \"twin_a\", \"twin_b\"");
    auto r = p.run({"migrate", "all"});
    REQUIRE_OK(r);
    CHECK(db->query("SELECT who FROM twin_a_items") == std::vector<std::vector<std::string>>{{"twin_a"}});
    CHECK(db->query("SELECT who FROM twin_b_items") == std::vector<std::vector<std::string>>{{"twin_b"}});
  }

  TEST_CASE_TEMPLATE("ABI: a plugin needing an older minor loads; one needing a newer minor is refused", B, Sqlite,
                     Postgresql) {
    TrustProject p;
    auto db = make_database<B>(p.dir.path);
    p.db_url = db->url();
    copy_tree(test_plugins_dir() / "abi_older", p.plugins / "abi_older");
    CHECK(has(read_file(p.plugins / "abi_older" / "plugin.toml"), "abi = \"1.0\""));
    p.apps("\"apps.blog\", \"abi_older\"");
    REQUIRE_OK(p.run({"migrate", "all"}));
    auto version = db->query("SELECT note FROM abi_older_notes WHERE kind = 'server_version'");
    REQUIRE(version.size() == 1);
    CHECK_FALSE(version[0][0].empty());
    // The SDK checks struct_size before it calls a slot: a 1.0 host table has no server_version.
    auto refused = db->query("SELECT kind, note FROM abi_older_notes WHERE kind IN ('refused', 'called')");
    REQUIRE(refused.size() == 1);
    CHECK(refused[0][0] == "refused");
    CHECK(has(refused[0][1], "the host's fastappkit has no server_version() (it needs ABI 1.1)"));

    // Placeholders through the host: bound on both backends; on PostgreSQL not rewritten in
    // comments, literals or dollar quotes, nor without parameters (JSONB's ?).
    auto note = [&](const std::string& kind) {
      auto rows = db->query("SELECT note FROM abi_older_notes WHERE kind = '" + kind + "'");
      return rows.empty() ? std::string("(none)") : rows[0][0];
    };
    CHECK(note("bound") == "a?b");
    // PostgreSQL: the host counts the placeholders. SQLite binds `?` itself and leaves one
    // without a value NULL (docs/plugins.md).
    CHECK(note("mismatch") == (std::is_same_v<B, Postgresql> ? "refused" : "accepted"));
    if constexpr (std::is_same_v<B, Postgresql>) {
      CHECK(note("jsonb") == "1");
      CHECK(note("jsonb_param") == "1");
      CHECK(note("dollar") == "?x");
    }

    // Needing a newer minor: refused from the manifest before the library is opened...
    TrustProject q;
    copy_tree(test_plugins_dir() / "abi_newer", q.plugins / "abi_newer");
    q.apps("\"apps.blog\", \"abi_newer\"");
    std::string m = read_file(q.plugins / "abi_newer" / "plugin.toml");
    write_file(q.plugins / "abi_newer" / "plugin.toml",
               std::regex_replace(m, std::regex("abi = \"1\\.0\""), "abi = \"1.2\""));
    auto r = q.run({"migrate", "all"});
    CHECK(r.code == 2);
    CHECK(has(r.err, "the plugin needs ABI 1.2, newer than this fastappkit's 1.1"));
    CHECK(has(r.err, "hint: upgrade fastappkit, or use a build of the plugin that needs at most ABI 1.1"));
    CHECK_FALSE(q.opened());
    // ...and from the descriptor when the manifest does not say so.
    write_file(q.plugins / "abi_newer" / "plugin.toml", m);
    auto d = q.run({"migrate", "all"});
    CHECK(d.code == 2);
    CHECK(has(d.err, "the plugin's descriptor says it needs ABI 1.2, newer than this fastappkit's 1.1"));
    CHECK_FALSE(fs::exists(q.root / "app.db"));
  }

  TEST_CASE("SDK: names, versions and file names are escaped in generated code; a version that is not one is refused") {
    TempDir dir;
    fs::path src = dir.path / "quoted";
    // An apostrophe in a file name and a '+' in the version: both reach the library as bytes.
    write_file(src / "migrations" / "versions" / "e1e1e1e1e1e1_say_it's.toml",
               "revision = \"e1e1e1e1e1e1\"\nmessage = \"say hi\"\n\n[[upgrade]]\nop = \"create_table\"\ntable = "
               "\"quoted_items\"\n"
               "columns = [ { name = \"id\", type = \"integer\", primary_key = true } ]\n\n[[downgrade]]\nop = "
               "\"drop_table\"\ntable = \"quoted_items\"\n");
    auto cmakelists = [&](const std::string& version) {
      write_file(src / "CMakeLists.txt",
                 "cmake_minimum_required(VERSION 3.25)\nproject(quoted CXX)\n"
                 "add_library(fastappkit::plugin_sdk INTERFACE IMPORTED)\n"
                 "set_target_properties(fastappkit::plugin_sdk PROPERTIES INTERFACE_INCLUDE_DIRECTORIES \"" +
                     (source_dir() / "plugin-sdk" / "include").string() + "\")\n" + "include(\"" +
                     (source_dir() / "plugin-sdk" / "cmake" / "FastappkitPlugin.cmake").string() + "\")\n" +
                     "fastappkit_add_plugin(NAME quoted VERSION [==[" + version +
                     "]==] MIGRATIONS migrations/versions)\n");
    };
    std::string log;
    cmakelists("1.0\") int evil() //");
    CHECK(shell("cmake -S '" + src.string() + "' -B '" + (src / "bad").string() + "'", &log) != 0);
    CHECK_MESSAGE(has(log, "version such as 1.2.0"), log);

    cmakelists("2.0.0-rc.1+b5");
    REQUIRE_MESSAGE(shell("cmake -S '" + src.string() + "' -B '" + (src / "build").string() + "' -G Ninja", &log) == 0,
                    log);
    REQUIRE_MESSAGE(shell("cmake --build '" + (src / "build").string() + "'", &log) == 0, log);
    TrustProject p;
    copy_tree(src / "build" / "plugins" / "quoted", p.plugins / "quoted");
    p.apps("\"apps.blog\", \"quoted\"");
    auto r = p.run({"migrate", "all"});
    REQUIRE_OK(r);
    CHECK(has(r.out, "quoted: applying 1 migration(s)"));
    auto list = p.run({"app", "list"});
    CHECK(has(list.out, "2.0.0-rc.1+b5"));
  }

  TEST_CASE("PostgreSQL: the run-lock key in docs/postgresql.md is the one fastappkit takes") {
    std::smatch found;
    const std::string docs = read_file(source_dir() / "docs" / "postgresql.md");
    REQUIRE(std::regex_search(docs, found, std::regex("run-lock key is `([0-9]+)`")));
    const std::string key = found[1];
    REQUIRE(std::regex_search(docs, found, std::regex("`classid = ([0-9]+)` and\\s+`objid = ([0-9]+)`")));
    const std::string classid = found[1], objid = found[2];
    auto db = make_postgresql();
    TempDir dir;
    fs::path root = dir.path / "project";
    copy_tree(source_dir() / "apps-example", root);
    write_file(root / "fastappkit.toml", "[tool.fastappkit]\napps = [\"apps.blog\"]\n");

    // A tool following the docs holds the documented key; pg_locks shows it as that bigint.
    const char* host = std::getenv("FASTAPPKIT_TEST_PGHOST");
    REQUIRE(host);
    PgSession tool("host=" + std::string(host) + " user=postgres dbname=" +
                   db->url().substr(db->url().find("@/") + 2, db->url().find('?') - db->url().find("@/") - 2));
    CHECK(tool.scalar("SELECT pg_try_advisory_lock(" + key + ")") == "t");
    CHECK(tool.scalar("SELECT ((classid::bigint << 32) | objid::bigint)::text FROM pg_locks WHERE locktype = "
                      "'advisory' AND pid = pg_backend_pid()") == key);
    CHECK(tool.scalar("SELECT classid::text || ' ' || objid::text || ' ' || objsubid::text FROM pg_locks WHERE "
                      "locktype = 'advisory' AND pid = pg_backend_pid()") == classid + " " + objid + " 1");
    // fastappkit must wait for it: the same key.
    auto r = fastappkit({"--lock-timeout", "1", "migrate", "upgrade"}, root, {{"DATABASE_URL", db->url()}});
    CHECK(r.code == 1);
    CHECK(has(r.err, "another fastappkit run holds the migration lock"));
    CHECK(db->tables().empty());
    CHECK(tool.scalar("SELECT pg_advisory_unlock(" + key + ")") == "t");
    REQUIRE_OK(fastappkit({"--lock-timeout", "5", "migrate", "upgrade"}, root, {{"DATABASE_URL", db->url()}}));
  }

  TEST_CASE("SQLite: a tool holding the run lock as docs/postgresql.md shows keeps fastappkit out") {
    // The Python example of docs/postgresql.md, run as written, with its "..." holding the lock
    // until this test lets it go.
    std::smatch found;
    const std::string docs = read_file(source_dir() / "docs" / "postgresql.md");
    REQUIRE(std::regex_search(docs, found, std::regex("```python\n([^`]*)```")));
    std::string script = found[1];
    TempDir dir;
    fs::path root = dir.path / "project";
    copy_tree(source_dir() / "apps-example", root);
    write_file(root / "fastappkit.toml", "[tool.fastappkit]\napps = [\"apps.blog\"]\n");
    const fs::path db = dir.path / "app.db", ready = dir.path / "ready";
    write_file(db, "");  // an empty file is an empty SQLite database
    REQUIRE(std::regex_search(script, found, std::regex(R"(\n( *)\.\.\.[^\n]*\n)")));
    const std::string indent = found[1];
    script = std::regex_replace(script, std::regex(R"(\n *\.\.\.[^\n]*\n)"),
                                "\n" + indent + "import os, time\n" + indent + "open(\"" + ready.string() +
                                    "\", \"w\").close()\n" + indent + "while os.path.exists(\"" + ready.string() +
                                    "\"): time.sleep(0.01)\n");
    REQUIRE(has(script, "\"app.db\""));
    script = std::regex_replace(script, std::regex(R"("app\.db")"), "\"" + db.string() + "\"");
    write_file(dir.path / "hold.py", script);
    int held = -1;
    std::thread tool([&] { held = shell("/usr/bin/python3 '" + (dir.path / "hold.py").string() + "'"); });
    const bool tool_holds = wait_until([&] { return fs::exists(ready); }, std::chrono::seconds(30));
    const std::map<std::string, std::string> env{{"DATABASE_URL", "sqlite:///" + db.string()}};
    auto r = fastappkit({"--lock-timeout", "1", "migrate", "upgrade"}, root, env);
    fs::remove(ready);
    tool.join();
    REQUIRE_MESSAGE(tool_holds, "the example never took the lock:\n" << script);
    CHECK(held == 0);
    CHECK(r.code == 1);
    CHECK(has(r.err, "another fastappkit run holds the migration lock on"));
    CHECK(has(r.err, "raise --lock-timeout"));
    CHECK(fs::file_size(db) == 0);  // nothing written
    REQUIRE_OK(fastappkit({"--lock-timeout", "5", "migrate", "upgrade"}, root, env));
    CHECK(fs::file_size(db) > 0);
  }

}  // TEST_SUITE
