// The parse cache (migration/parse_cache.hpp): what it keeps, and that it never changes a result.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "fastappkit/migration/graph.hpp"
#include "fastappkit/migration/parse_cache.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
using namespace fastappkit::migration;
using unit::contains;
using unit::error_of;
using unit::TempDir;

namespace {

const std::string kA = "a1b2c3d4e5f6", kB = "b1b2c3d4e5f6";

std::string users(const std::string& column) {
  return "revision = \"" + kA +
         "\"\nmessage = \"users\"\n\n[[upgrade]]\nop = \"create_table\"\ntable = \"users\"\ncolumns = [\n"
         "  { name = \"id\", type = \"integer\", primary_key = true },\n  { name = \"" +
         column + "\", type = \"string\", length = 100 },\n]\n";
}
std::string index_on(const std::string& column) {
  return "revision = \"" + kB + "\"\ndown_revision = \"" + kA +
         "\"\n\n[[upgrade]]\nop = \"create_index\"\nname = \"ix_users\"\ntable = \"users\"\ncolumns = [\"" + column +
         "\"]\n";
}

struct Project {
  TempDir tmp;
  fs::path versions = tmp.path / "versions";
  fs::path cache_file = tmp.path / ".fastappkit" / "cache" / "core.bin";
  Project() {
    tmp.write("versions/" + kA + "_users.toml", users("email"));
    tmp.write("versions/" + kB + "_index.toml", index_on("email"));
  }
  // One command's load: parse through the cache, validate, save.
  std::vector<Migration> load(std::size_t* hits = nullptr, std::size_t* misses = nullptr) {
    ParseCache cache(cache_file);
    auto ms = load_migrations(versions, {}, cache);
    RevisionGraph graph(ms);
    cache.validate(graph);
    cache.save();
    if (hits) *hits = cache.hits();
    if (misses) *misses = cache.misses();
    return ms;
  }
};

}  // namespace

TEST_SUITE("parse cache") {
  TEST_CASE("a second load parses nothing; an edited file is parsed again, whatever its size and time") {
    unsetenv("FASTAPPKIT_NO_CACHE");
    Project p;
    std::size_t hits = 0, misses = 0;
    p.load(&hits, &misses);
    CHECK(hits == 0);
    CHECK(misses == 2);
    REQUIRE(fs::is_regular_file(p.cache_file));
    auto ms = p.load(&hits, &misses);
    CHECK(hits == 2);
    CHECK(misses == 0);
    CHECK(ms[0].upgrade[0].columns[1].name == "email");

    // Same length, and the old modification time put back: the content decides.
    const fs::path a = p.versions / (kA + "_users.toml");
    auto when = fs::last_write_time(a);
    p.tmp.write("versions/" + kA + "_users.toml", users("emial"));
    fs::last_write_time(a, when);
    // The index now names a column that does not exist: validation must run again and refuse.
    auto e = error_of([&] { p.load(); });
    REQUIRE(e);
    CHECK(contains(e->what(), "email"));
    // Refused twice: a failure is never kept.
    CHECK(error_of([&] { p.load(); }));

    p.tmp.write("versions/" + kB + "_index.toml", index_on("emial"));
    ms = p.load(&hits, &misses);
    CHECK(ms[0].upgrade[0].columns[1].name == "emial");
    CHECK(ms[1].upgrade[0].index_columns == std::vector<std::string>{"emial"});
  }

  TEST_CASE("a file that does not parse is reported exactly as without the cache") {
    unsetenv("FASTAPPKIT_NO_CACHE");
    Project p;
    p.load();
    p.tmp.write("versions/" + kB + "_index.toml", index_on("email") + "colums = 1\n");
    auto with = error_of([&] { p.load(); });
    ParseCache none;
    auto without = error_of([&] { load_migrations(p.versions, {}, none); });
    REQUIRE(with);
    REQUIRE(without);
    CHECK(std::string(with->what()) == std::string(without->what()));
    CHECK(with->hint() == without->hint());
  }

  TEST_CASE("a damaged or foreign cache file is an empty cache; FASTAPPKIT_NO_CACHE turns it off") {
    unsetenv("FASTAPPKIT_NO_CACHE");
    Project p;
    p.load();
    for (const std::string& junk : {std::string(), std::string("FAKC"), std::string(100, '\x7f')}) {
      std::ofstream(p.cache_file, std::ios::binary | std::ios::trunc) << junk;
      std::size_t hits = 1, misses = 0;
      auto ms = p.load(&hits, &misses);
      CHECK(hits == 0);
      CHECK(misses == 2);
      CHECK(ms.size() == 2);
    }
    // Cut in the middle of an entry.
    auto size = fs::file_size(p.cache_file);
    fs::resize_file(p.cache_file, size - 5);
    std::size_t hits = 1, misses = 0;
    p.load(&hits, &misses);
    CHECK(hits == 0);

    fs::remove(p.cache_file);
    setenv("FASTAPPKIT_NO_CACHE", "1", 1);
    ParseCache off(p.cache_file);
    CHECK_FALSE(off.enabled());
    p.load();
    CHECK_FALSE(fs::exists(p.cache_file));
    unsetenv("FASTAPPKIT_NO_CACHE");
  }

  TEST_CASE("a cache that cannot be written is not an error") {
    unsetenv("FASTAPPKIT_NO_CACHE");
    Project p;
    p.tmp.write(".fastappkit", "a file where the cache folder would go");
    CHECK(p.load().size() == 2);
    CHECK(p.load().size() == 2);
  }
}

TEST_SUITE("parse cache") {
  TEST_CASE("a file whose stat key is unchanged is not read; a fresh or edited file is") {
    unsetenv("FASTAPPKIT_NO_CACHE");
    Project p;
    const std::string a = (p.versions / (kA + "_users.toml")).string();
    // Just written: racily clean, so no stat key is kept and the file must be read.
    p.load();
    {
      ParseCache cache(p.cache_file);
      CHECK_FALSE(cache.unchanged(a, StatKey::of(a)).has_value());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    p.load();  // now older than the margin: the stat key is kept
    {
      ParseCache cache(p.cache_file);
      auto m = cache.unchanged(a, StatKey::of(a));
      REQUIRE(m.has_value());
      CHECK(m->revision == kA);
      CHECK(cache.hits() == 1);
      // Other options are another entry.
      CHECK_FALSE(cache.unchanged(a, StatKey::of(a), {.allow_call = true}).has_value());
    }
    // Same size, modification time put back: the change time moved, so the file is read again.
    const auto when = fs::last_write_time(a);
    std::string text = users("email");
    text.replace(text.find("\"users\""), 7, "\"userz\"");
    std::ofstream(a, std::ios::trunc) << text;
    fs::last_write_time(a, when);
    {
      ParseCache cache(p.cache_file);
      CHECK_FALSE(cache.unchanged(a, StatKey::of(a)).has_value());
    }
    auto ms = p.load();
    CHECK(ms.front().message == "userz");
    // A file that is gone has no stat key.
    CHECK_FALSE(StatKey::of((p.versions / "gone.toml").string()).known());
    // The key holds what stat(2) says (it is read with statx), by path and by folder + name.
    struct stat st {};
    REQUIRE(::stat(a.c_str(), &st) == 0);
    const StatKey key = StatKey::of(a);
    CHECK(key.v[0] == st.st_size);
    CHECK(key.v[1] == std::int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec);
    CHECK(key.v[2] == std::int64_t(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec);
    CHECK(key.v[3] == static_cast<std::int64_t>(st.st_ino));
    CHECK(key.v[4] == static_cast<std::int64_t>(st.st_dev));
    CHECK(key.v[5] == st.st_mode);
    const int dir = ::open(p.versions.c_str(), O_RDONLY | O_DIRECTORY);
    REQUIRE(dir >= 0);
    CHECK(StatKey::at(dir, fs::path(a).filename().c_str()) == key);
    ::close(dir);
  }
}
