// The no-op shortcut (project/head_snapshot.hpp, docs/performance.md): `migrate upgrade` and
// `migrate all` at head answer from the head snapshot, print exactly what the full way prints,
// and take the full way whenever a file, the listing, the database or the history says otherwise.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "harness.hpp"

using namespace e2e;

namespace {

std::string revision(int i) {
  char id[13];
  std::snprintf(id, sizeof id, "%012llx", 0xb00000000000ULL + i);
  std::string text = "revision = \"" + std::string(id) + "\"\n";
  if (i > 1) {
    char down[13];
    std::snprintf(down, sizeof down, "%012llx", 0xb00000000000ULL + i - 1);
    text += "down_revision = \"" + std::string(down) + "\"\n";
  }
  text += "message = \"step " + std::to_string(i) + "\"\n\n[[upgrade]]\nop = \"create_table\"\ntable = \"t" +
          std::to_string(i) + "\"\ncolumns = [ { name = \"id\", type = \"integer\", primary_key = true } ]\n\n" +
          "[[downgrade]]\nop = \"drop_table\"\ntable = \"t" + std::to_string(i) + "\"\n";
  return text;
}

struct Project {
  TempDir dir;
  fs::path root = dir.path / "proj";
  fs::path marks = dir.path / "marks";
  std::unique_ptr<Database> db;
  template <class B>
  explicit Project(B) {
    REQUIRE_OK(fastappkit({"core", "new", "proj"}, dir.path));
    fs::create_directories(marks);
    db = make_database<B>(dir.path);
    for (int i = 1; i <= 3; ++i) add(i);
  }
  fs::path file(int i) const {
    return root / "core" / "db" / "migrations" / "versions" / ("b0000000000" + std::to_string(i) + "_step.toml");
  }
  void add(int i) const { write_file(file(i), revision(i)); }
  // Runs with the test hook that reports the shortcut; `used` tells whether it answered.
  // `by_revision`: whether it had to read the history revision by revision (a revision upgraded
  // twice, say) rather than side by side with the snapshot.
  RunResult run(const std::vector<std::string>& args, bool* used = nullptr, bool* by_revision = nullptr) const {
    fs::remove(marks / "head-snapshot-used");
    fs::remove(marks / "head-snapshot-history-by-revision");
    auto r = fastappkit(args, root, {{"DATABASE_URL", db->url()}, {"FASTAPPKIT_TEST_MARK_DIR", marks.string()}});
    if (used) *used = fs::exists(marks / "head-snapshot-used");
    if (by_revision) *by_revision = fs::exists(marks / "head-snapshot-history-by-revision");
    return r;
  }
  RunResult full(const std::vector<std::string>& args) const {
    return fastappkit(args, root, {{"DATABASE_URL", db->url()}, {"FASTAPPKIT_NO_CACHE", "1"}});
  }
  // Past the racy margin (kRacyMargin, 2 s): the next full load records the snapshot.
  static void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(2100)); }
};

void same(const RunResult& a, const RunResult& b) {
  CHECK_MESSAGE(a.code == b.code, (e2e::describe(a) + "\n" + e2e::describe(b)));
  CHECK_MESSAGE(a.out == b.out, (e2e::describe(a) + "\n" + e2e::describe(b)));
  CHECK_MESSAGE(a.err == b.err, (e2e::describe(a) + "\n" + e2e::describe(b)));
}

}  // namespace

TEST_SUITE("fastappkit::e2e") {
  TEST_CASE_TEMPLATE("no-op shortcut: same answer as the full way, and never when something changed", B, Sqlite,
                     Postgresql) {
    Project p{B{}};
    bool used = false;
    REQUIRE_OK(p.run({"migrate", "upgrade"}, &used));
    CHECK_FALSE(used);
    // Files written less than the racy margin before a load are not recorded.
    CHECK_FALSE(fs::exists(p.root / ".fastappkit" / "cache" / "core.head"));
    Project::settle();
    auto first = p.run({"migrate", "upgrade"}, &used);  // the full way, which records the snapshot
    REQUIRE_OK(first);
    CHECK_FALSE(used);
    CHECK(fs::is_regular_file(p.root / ".fastappkit" / "cache" / "core.head"));

    bool by_revision = true;
    auto fast = p.run({"migrate", "upgrade"}, &used, &by_revision);
    CHECK(used);
    CHECK_FALSE(by_revision);  // one upgrade row per revision, in the snapshot's order
    CHECK_OUT(fast, "core: nothing to do; alembic_version is at b00000000003 (head)");
    same(fast, first);
    same(fast, p.full({"migrate", "upgrade"}));
    auto all = p.run({"migrate", "all"}, &used);
    CHECK(used);
    same(all, p.full({"migrate", "all"}));
    // An explicit revision, or a fleet, takes the full way.
    REQUIRE_OK(p.run({"migrate", "upgrade", "--revision", "b00000000003"}, &used));
    CHECK_FALSE(used);

    // An applied file edited in place, same size, its modification time put back: ctime moved.
    const auto when = fs::last_write_time(p.file(2));
    std::string text = read_file(p.file(2));
    text.replace(text.find("step 2"), 6, "step Z");
    write_file(p.file(2), text);
    fs::last_write_time(p.file(2), when);
    auto edited = p.run({"migrate", "upgrade"}, &used);
    CHECK_FALSE(used);
    CHECK_ERR(edited, "revision b00000000002");
    CHECK_ERR(edited, "changed after it was applied");
    same(edited, p.full({"migrate", "upgrade"}));
    text.replace(text.find("step Z"), 6, "step 2");
    write_file(p.file(2), text);

    // The folder is not listed again while its own key holds: a file created and removed again
    // (an editor's swap file) leaves the same entries but changes the folder's times, so the
    // next command takes the full way, and once settled the snapshot is recorded anew.
    Project::settle();
    REQUIRE_OK(p.run({"migrate", "upgrade"}, &used));
    REQUIRE_OK(p.run({"migrate", "upgrade"}, &used));
    CHECK(used);
    write_file(p.file(2).parent_path() / ".b00000000002_step.toml.swp", "x");
    fs::remove(p.file(2).parent_path() / ".b00000000002_step.toml.swp");
    auto swapped = p.run({"migrate", "upgrade"}, &used);
    CHECK_FALSE(used);
    same(swapped, p.full({"migrate", "upgrade"}));
    Project::settle();
    REQUIRE_OK(p.run({"migrate", "upgrade"}, &used));
    CHECK_FALSE(used);
    REQUIRE_OK(p.run({"migrate", "upgrade"}, &used));
    CHECK(used);
    // A revision file renamed within the folder (same inode, same times): the full way.
    fs::rename(p.file(3), p.file(3).parent_path() / "b00000000003_renamed.toml");
    auto renamed = p.run({"migrate", "upgrade"}, &used);
    CHECK_FALSE(used);
    same(renamed, p.full({"migrate", "upgrade"}));
    fs::rename(p.file(3).parent_path() / "b00000000003_renamed.toml", p.file(3));

    // A new revision is applied, not reported as nothing to do.
    p.add(4);
    Project::settle();
    auto added = p.run({"migrate", "upgrade"}, &used);
    REQUIRE_OK(added);
    CHECK_FALSE(used);
    CHECK_OUT(added, "applied b00000000004");
    CHECK(p.db->query("SELECT version_num FROM alembic_version") ==
          std::vector<std::vector<std::string>>{{"b00000000004"}});
    REQUIRE_OK(p.run({"migrate", "upgrade"}, &used));
    CHECK(used);

    // The database moved: another run went down one revision; this one goes up again.
    REQUIRE_OK(p.run({"migrate", "downgrade", "-1"}));
    auto again = p.run({"migrate", "upgrade"}, &used);
    CHECK_FALSE(used);
    CHECK_OUT(again, "applied b00000000004");
    // b00000000004 now has two upgrade rows: the history is read revision by revision, and the
    // latest row of each decides. An older row with another checksum does not count.
    auto answers_by_revision = [&] {
      auto r = p.run({"migrate", "upgrade"}, &used, &by_revision);
      CHECK(used);
      CHECK(by_revision);
      same(r, p.full({"migrate", "upgrade"}));
    };
    answers_by_revision();
    p.db->exec(
        "UPDATE fastappkit_history SET checksum = 'an-older-file' WHERE id = (SELECT min(id) FROM "
        "fastappkit_history WHERE revision = 'b00000000004')");
    answers_by_revision();
    p.db->exec(
        "UPDATE fastappkit_history SET checksum = 'the-latest-file' WHERE id = (SELECT max(id) FROM "
        "fastappkit_history WHERE revision = 'b00000000004' AND direction = 'upgrade')");
    auto latest = p.run({"migrate", "upgrade"}, &used);
    CHECK_FALSE(used);
    CHECK_ERR(latest, "revision b00000000004");
    same(latest, p.full({"migrate", "upgrade"}));
    // No upgrade row at all for b00000000004 (as after a stamp): the others are read side by side.
    p.db->exec("DELETE FROM fastappkit_history WHERE checksum IN ('an-older-file', 'the-latest-file')");
    auto unrecorded = p.run({"migrate", "upgrade"}, &used, &by_revision);
    CHECK(used);
    CHECK_FALSE(by_revision);
    same(unrecorded, p.full({"migrate", "upgrade"}));

    // The history says the file applied was another one: the full way warns.
    p.db->exec("UPDATE fastappkit_history SET checksum = 'not-this-one' WHERE revision = 'b00000000001'");
    auto warned = p.run({"migrate", "upgrade"}, &used);
    CHECK_FALSE(used);
    CHECK_ERR(warned, "revision b00000000001");
    same(warned, p.full({"migrate", "upgrade"}));

    // Without fastappkit_history in the connection's schema the full way creates it: not a no-op.
    // Both bookkeeping tables are looked up in one catalog query (Connection::tables_exist).
    p.db->exec("DELETE FROM fastappkit_history WHERE revision = 'b00000000001'");  // the warned-of rows
    Project::settle();
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    REQUIRE_OK(p.run({"migrate", "upgrade"}, &used));
    CHECK(used);
    const auto history_rows = p.db->query("SELECT count(*) FROM fastappkit_history");
    if (p.db->backend() == "postgresql") {
      // In another schema it is not this connection's table (current_schema()).
      p.db->exec("CREATE SCHEMA elsewhere");
      p.db->exec("ALTER TABLE fastappkit_history SET SCHEMA elsewhere");
      auto moved = p.run({"migrate", "upgrade"}, &used);
      CHECK_FALSE(used);
      REQUIRE_OK(moved);
      CHECK(p.db->query("SELECT count(*) FROM fastappkit_history") == std::vector<std::vector<std::string>>{{"0"}});
      p.db->exec("DROP TABLE fastappkit_history");
      p.db->exec("ALTER TABLE elsewhere.fastappkit_history SET SCHEMA public");
      REQUIRE_OK(p.run({"migrate", "upgrade"}, &used));
      CHECK(used);
    }
    p.db->exec("DROP TABLE fastappkit_history");
    auto dropped = p.run({"migrate", "upgrade"}, &used);
    CHECK_FALSE(used);
    REQUIRE_OK(dropped);
    CHECK(p.db->query("SELECT count(*) FROM fastappkit_history") == std::vector<std::vector<std::string>>{{"0"}});
    CHECK(history_rows != std::vector<std::vector<std::string>>{{"0"}});

    // A damaged snapshot is no snapshot.
    write_file(p.root / ".fastappkit" / "cache" / "core.head", "fastappkit head snapshot 2\nnonsense");
    auto damaged = p.run({"migrate", "upgrade"}, &used);
    CHECK_FALSE(used);
    same(damaged, p.full({"migrate", "upgrade"}));
  }

  TEST_CASE("no-op shortcut: a models file edited, broken or created takes the full way") {
    Project p{Sqlite{}};
    REQUIRE_OK(p.run({"app", "new", "blog"}));
    fs::remove(p.root / "apps" / "blog" / "models.toml");  // an internal app without models
    const fs::path snapshot = p.root / ".fastappkit" / "cache" / "core.head";
    Project::settle();
    // A load that does not read the models (migrate history, current) records nothing: the
    // full way of upgrade parses them.
    REQUIRE_OK(p.run({"migrate", "history"}));
    REQUIRE_OK(p.run({"migrate", "current"}));
    CHECK_FALSE(fs::exists(snapshot));
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    REQUIRE(fs::exists(snapshot));
    bool used = false;
    REQUIRE_OK(p.run({"migrate", "upgrade"}, &used));
    CHECK(used);
    // Core's models broken: the full way stops with the TOML error, and so does the command.
    const std::string models = read_file(p.root / "core" / "models.toml");
    write_file(p.root / "core" / "models.toml", models + "\n[[[broken\n");
    auto broken = p.run({"migrate", "upgrade"}, &used);
    CHECK_FALSE(used);
    CHECK_CODE(broken, 2);
    CHECK_ERR(broken, "models.toml");
    same(broken, p.full({"migrate", "upgrade"}));
    auto all = p.run({"migrate", "all"}, &used);
    CHECK_FALSE(used);
    CHECK_CODE(all, 2);
    write_file(p.root / "core" / "models.toml", models);
    Project::settle();
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    REQUIRE_OK(p.run({"migrate", "upgrade"}, &used));
    CHECK(used);
    // The internal app's models.toml did not exist when the snapshot was written; now it does.
    write_file(p.root / "apps" / "blog" / "models.toml", "[[[broken\n");
    auto created = p.run({"migrate", "upgrade"}, &used);
    CHECK_FALSE(used);
    CHECK_CODE(created, 2);
    same(created, p.full({"migrate", "upgrade"}));
  }

  TEST_CASE("no-op shortcut: in a long history an edit in place near either end of the listing is seen") {
    // Every recorded entry is stat'ed (HeadSnapshot::match): an edit in place anywhere takes the full way.
    Project p{Sqlite{}};
    const fs::path versions = p.root / "core" / "db" / "migrations" / "versions";
    auto file = [&](int i) {
      char id[13];
      std::snprintf(id, sizeof id, "%012llx", 0xb00000000000ULL + i);
      return versions / (std::string(id) + "_step.toml");
    };
    for (int i = 1; i <= 3; ++i) fs::remove(p.file(i));
    const int n = 600;
    for (int i = 1; i <= n; ++i) write_file(file(i), revision(i));
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    bool used = false;
    // The snapshot records the entries in the order the folder lists them (readdir's, which
    // directory_iterator reads too): an entry near the start and one near the end.
    std::vector<fs::path> listed;
    for (const auto& e : fs::directory_iterator(versions))
      if (e.path().filename().string().find("_step.toml") != std::string::npos) listed.push_back(e.path());
    REQUIRE(listed.size() == static_cast<std::size_t>(n));
    for (const fs::path& edit : {listed[5], listed[n - 5]}) {
      Project::settle();
      REQUIRE_OK(p.run({"migrate", "upgrade"}));  // records the snapshot
      auto fast = p.run({"migrate", "upgrade"}, &used);
      CHECK(used);
      same(fast, p.full({"migrate", "upgrade"}));
      const auto when = fs::last_write_time(edit);
      const std::string was = read_file(edit);
      std::string text = was;
      text.replace(text.find("step "), 5, "stepZ");
      write_file(edit, text);
      fs::last_write_time(edit, when);
      auto edited = p.run({"migrate", "upgrade"}, &used);
      CHECK_FALSE(used);
      CHECK_ERR(edited, "changed after it was applied");
      same(edited, p.full({"migrate", "upgrade"}));
      write_file(edit, was);
    }
  }

  TEST_CASE("no-op shortcut: not taken with a plugin folder, and not written with FASTAPPKIT_NO_CACHE") {
    Project p{Sqlite{}};
    Project::settle();
    REQUIRE_OK(p.full({"migrate", "upgrade"}));
    CHECK_FALSE(fs::exists(p.root / ".fastappkit" / "cache" / "core.head"));
    REQUIRE_OK(p.run({"migrate", "upgrade"}));
    CHECK(fs::exists(p.root / ".fastappkit" / "cache" / "core.head"));
    bool used = false;
    REQUIRE_OK(p.run({"migrate", "upgrade"}, &used));
    CHECK(used);
    // A plugin folder the manifest does not list: the full way reads it (and notes it when its
    // manifest is valid), so the shortcut stands aside.
    fs::create_directories(p.root / "plugins" / "blog");
    write_file(p.root / "plugins" / "blog" / "plugin.toml", "name = \"blog\"\n");
    auto noted = p.run({"migrate", "upgrade"}, &used);
    CHECK_FALSE(used);
    same(noted, p.full({"migrate", "upgrade"}));
  }

  TEST_CASE("a symlink loop in plugins/: a warning, and the same answer with and without the shortcut") {
    // Outside review found the full way failing with a raw filesystem error (exit 1) while the
    // shortcut answered "nothing to do" (exit 0). Now the entry is reported as a warning, and the
    // shortcut stands aside for anything the full way would warn about.
    Project p{Sqlite{}};
    Project::settle();
    REQUIRE_OK(p.full({"migrate", "upgrade"}));
    REQUIRE_OK(p.run({"migrate", "upgrade"}));  // records the snapshot
    bool used = false;
    REQUIRE_OK(p.run({"migrate", "upgrade"}, &used));
    REQUIRE(used);
    fs::create_directories(p.root / "plugins" / "a");
    fs::create_directories(p.root / "plugins" / "z");
    fs::create_symlink("loop", p.root / "plugins" / "loop");
    auto fast = p.run({"migrate", "upgrade"}, &used);
    CHECK_FALSE(used);
    same(fast, p.full({"migrate", "upgrade"}));
    CHECK(fast.code == 0);
    CHECK(has(fast.err, "plugin folder " + (p.root / "plugins" / "loop").string() +
                            " cannot be read: Too many levels of symbolic links"));
    CHECK_FALSE(has(fast.err, "filesystem error"));
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"migrate", "status"}, std::vector<std::string>{"migrate", "all"},
          std::vector<std::string>{"app", "list"}}) {
      auto r = p.full(args);
      CHECK_MESSAGE(r.code == 0, describe(r));
      CHECK(has(r.err, "cannot be read: Too many levels of symbolic links"));
    }
  }
}
