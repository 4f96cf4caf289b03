// project::HeadSnapshot, the no-op shortcut's decisions: when a load records it, every change
// that must make match() refuse it, and when at_head() may answer from the database.
// A snapshot is recorded only when every file is older than migration::kRacyMargin, and a
// file's ctime cannot be set back, so each test case waits that margin out once: a real
// precondition of what is tested, not synchronisation.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fastappkit/db/connection.hpp"
#include "fastappkit/migration/parse_cache.hpp"
#include "fastappkit/project/head_snapshot.hpp"
#include "fastappkit/project/workspace.hpp"
#include "support.hpp"

using namespace fastappkit;
using project::HeadSnapshot;
using project::Workspace;
namespace fs = std::filesystem;

namespace {

const std::string kA = "a0000000000a", kB = "b0000000000b";

std::string revision(const std::string& id, const std::string& down, const std::string& table) {
  return "revision = \"" + id + "\"\n" + (down.empty() ? "" : "down_revision = \"" + down + "\"\n") + "message = \"" +
         table + "\"\n[[upgrade]]\nop = \"create_table\"\ntable = \"" + table +
         "\"\ncolumns = [ { name = \"id\", type = \"integer\", primary_key = true } ]\n[[downgrade]]\nop = "
         "\"drop_table\"\ntable = \"" +
         table + "\"\n";
}

// A project with core only (two revisions) and an empty plugin folder.
struct Project {
  unit::TempDir dir;
  fs::path root = dir.path;
  fs::path versions = root / "core" / "db" / "migrations" / "versions";
  fs::path snapshot = root / ".fastappkit" / "cache" / "core.head";
  Project() {
    dir.write("fastappkit.toml", "[tool.fastappkit]\napps = []\nplugin_paths = [\"plugins\"]\n");
    fs::create_directories(root / "plugins");
    dir.write("core/db/migrations/versions/" + kA + "_one.toml", revision(kA, "", "one"));
    dir.write("core/db/migrations/versions/" + kB + "_two.toml", revision(kB, kA, "two"));
  }
  fs::path file(const std::string& id) const { return versions / (id + (id == kA ? "_one.toml" : "_two.toml")); }
  project::LoadOptions options() const {
    project::LoadOptions o;
    o.directory = root;
    o.database_url = "sqlite:///app.db";
    return o;
  }
  // A full load, as `migrate upgrade` makes it: the one that records the snapshot.
  Workspace load() const { return Workspace::open_project(options()); }
  bool matches() const { return HeadSnapshot::match(options()) != nullptr; }
};

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Past the racy margin of every file written so far.
void settle() { std::this_thread::sleep_for(migration::kRacyMargin + std::chrono::milliseconds(100)); }

// FASTAPPKIT_NO_CACHE as the test sets it, and unset again whatever happens.
struct NoCache {
  NoCache() { ::setenv("FASTAPPKIT_NO_CACHE", "1", 1); }
  ~NoCache() { ::unsetenv("FASTAPPKIT_NO_CACHE"); }
  NoCache(const NoCache&) = delete;
  NoCache& operator=(const NoCache&) = delete;
};

}  // namespace

TEST_SUITE("fastappkit::project") {
  TEST_CASE("HeadSnapshot: recorded once the files are settled; refused while anything it covers differs") {
    ::unsetenv("FASTAPPKIT_NO_CACHE");
    Project p;
    p.load();
    // Just written: racily clean, so the load records nothing and nothing matches.
    CHECK_FALSE(fs::exists(p.snapshot));
    CHECK_FALSE(p.matches());

    // Apply the project to its database (also before the wait: app.db is not in the snapshot).
    {
      Workspace w = p.load();
      auto conn = db::open(w.url(), db::OpenMode::read_write);
      project::Observer quiet;
      w.apply(*conn, w.plan(conn.get(), conn->dialect(), {{&w.core(), migration::Direction::upgrade, "head"}}), quiet);
    }

    settle();
    p.load();
    REQUIRE(fs::is_regular_file(p.snapshot));
    auto snap = HeadSnapshot::match(p.options());
    REQUIRE(snap);
    CHECK(snap->head() == kB);
    CHECK(snap->url().sqlite_path == (p.root / "app.db").string());

    // Each change below makes match() refuse, and undoing it makes it match again: the change
    // is what it refused for. (Blocks, not SUBCASEs: a SUBCASE would run the wait again.)
    {  // FASTAPPKIT_NO_CACHE=1
      {
        NoCache off;
        CHECK_FALSE(p.matches());
      }
      CHECK(p.matches());
    }
    {  // the manifest's bytes changed
      const std::string manifest = read(p.root / "fastappkit.toml");
      p.dir.write("fastappkit.toml", manifest + "# a comment\n");
      CHECK_FALSE(p.matches());
      p.dir.write("fastappkit.toml", manifest);
      CHECK(p.matches());
    }
    {  // core/models.toml created
      p.dir.write("core/models.toml", "");
      CHECK_FALSE(p.matches());
      fs::remove(p.root / "core" / "models.toml");
      CHECK(p.matches());
    }
    {  // a plugin folder with a plugin.toml
      fs::create_directories(p.root / "plugins" / "shop");
      CHECK(p.matches());  // a folder alone loads nothing
      p.dir.write("plugins/shop/plugin.toml", "");
      CHECK_FALSE(p.matches());
      fs::remove(p.root / "plugins" / "shop" / "plugin.toml");
      CHECK(p.matches());
    }
    {  // the snapshot file truncated or garbage
      const std::string text = read(p.snapshot);
      REQUIRE(text.size() > 40);
      for (const std::string& bad : {text.substr(0, text.size() - 5), text.substr(0, text.size() / 2),
                                     std::string("garbage\n"), std::string(text.size(), 'x'), std::string()}) {
        p.dir.write(".fastappkit/cache/core.head", bad);
        CHECK_FALSE(p.matches());
      }
      p.dir.write(".fastappkit/cache/core.head", text);
      CHECK(p.matches());
    }
    {  // at_head: exactly the head in alembic_version, and the history's checksums
      auto conn = db::open(snap->url(), db::OpenMode::read_write);
      CHECK(snap->at_head(*conn));
      auto checksum = [&](const std::string& rev) {
        return *conn->query("SELECT checksum FROM fastappkit_history WHERE revision = ?", {rev}).at(0).at(0);
      };
      const std::string good = checksum(kA);
      // Not the head, or the head and another row.
      conn->execute("UPDATE alembic_version SET version_num = '" + kA + "'");
      CHECK_FALSE(snap->at_head(*conn));
      conn->execute("UPDATE alembic_version SET version_num = '" + kB + "'");
      CHECK(snap->at_head(*conn));
      conn->execute("INSERT INTO alembic_version (version_num) VALUES ('" + kA + "')");
      CHECK_FALSE(snap->at_head(*conn));
      conn->execute("DELETE FROM alembic_version WHERE version_num = '" + kA + "'");
      CHECK(snap->at_head(*conn));
      // A revision's file changed after it was applied (the history's checksum differs).
      conn->execute("UPDATE fastappkit_history SET checksum = 'edited' WHERE revision = '" + kA + "'");
      CHECK_FALSE(snap->at_head(*conn));
      // A later upgrade row of that revision with the file's checksum is the one that counts.
      conn->execute(
          "INSERT INTO fastappkit_history (app, revision, direction, checksum, duration_ms) VALUES "
          "('core', '" +
          kA + "', 'upgrade', '" + good + "', 0)");
      CHECK(snap->at_head(*conn));
      // Without the history table the full way would create it: not a no-op.
      conn->execute("DROP TABLE fastappkit_history");
      CHECK_FALSE(snap->at_head(*conn));
    }
  }

  TEST_CASE("HeadSnapshot: a revision file added, removed or edited in place is never matched") {
    ::unsetenv("FASTAPPKIT_NO_CACHE");
    Project added, removed, edited;
    settle();
    for (const Project* p : {&added, &removed, &edited}) {
      p->load();
      REQUIRE(p->matches());
    }
    added.dir.write("core/db/migrations/versions/c0000000000c_three.toml", revision("c0000000000c", kB, "three"));
    CHECK_FALSE(added.matches());
    fs::remove(removed.file(kB));
    CHECK_FALSE(removed.matches());
    // Same size, modification time put back: only the change time says it was written.
    const auto when = fs::last_write_time(edited.file(kA));
    std::string text = read(edited.file(kA));
    text.replace(text.find("\"one\""), 5, "\"uno\"");
    edited.dir.write("core/db/migrations/versions/" + kA + "_one.toml", text);
    fs::last_write_time(edited.file(kA), when);
    CHECK_FALSE(edited.matches());
  }
}
