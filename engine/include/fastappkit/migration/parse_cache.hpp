#pragma once
// A cache of parsed revision files and of validated revision sets, kept in one file per set
// of revisions (a project's core, an external app), like ninja's .ninja_deps.
//
// Entries are keyed by content: a revision is looked up by its path, its length and the FNV-1a
// checksum of its bytes (the checksum fastappkit_history records), so a file edited in any way
// misses and is parsed again. An entry also keeps the stat key of the file it was read from
// (size, mtime, ctime, inode, device, mode), unless the file was racily clean; a file whose stat
// key is the same again is not read at all (load_migrations): a write changes the ctime. A
// validated set is keyed by every (path, checksum) of the set plus the validation options.
// The cache file also records the engine that wrote it (version, and the size and mtime of
// the executable): any other build starts from an empty cache. A missing, unreadable,
// truncated or foreign cache file is an empty cache; a cache that cannot be written is not
// an error. Only successes are cached: a file that fails to parse or a set that fails
// validation is checked again on every run, so errors are reported exactly as without it.
// FASTAPPKIT_NO_CACHE=1 turns it off (nothing read or written).
#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "fastappkit/migration/graph.hpp"
#include "fastappkit/migration/migration_file.hpp"
#include "fastappkit/migration/validate.hpp"

namespace fastappkit::migration {

// A stat key (and the head snapshot) is kept only for files whose times are at least this much
// older than the start of the command that read them: git's "racily clean" rule (a file written
// in the same clock tick as the read could change again without its times changing).
inline constexpr std::chrono::seconds kRacyMargin{2};

// FASTAPPKIT_NO_CACHE set and not "0": no parse cache and no head snapshot, nothing read or written.
bool caches_disabled();

// Nanoseconds since the epoch of a timespec or a statx_timestamp: file times, and the wall
// clock they are compared with (wall_clock_ns, CLOCK_REALTIME, the clock file times come from).
template <class Time>
constexpr std::int64_t nanoseconds(const Time& t) {
  return std::int64_t(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}
std::int64_t wall_clock_ns();

// What stat(2) says of a file (following links): size, mtime and ctime in nanoseconds, inode,
// device, mode. All zero when unknown.
struct StatKey {
  std::int64_t v[6] = {};
  static StatKey of(const std::string& path);
  // The key of `name` in the folder open as `dirfd` (fstatat, links followed); zeros on failure.
  static StatKey at(int dirfd, const char* name);
  bool known() const { return v[2] != 0; }
  bool operator==(const StatKey&) const = default;
};

class ParseCache {
 public:
  ParseCache() = default;  // disabled: parses and validates every time, keeps nothing
  // Reads `file` if it exists. `file` empty, or FASTAPPKIT_NO_CACHE set: disabled.
  explicit ParseCache(std::filesystem::path file);
  ParseCache(const ParseCache&) = delete;  // entries point into the cache's own buffers
  ParseCache& operator=(const ParseCache&) = delete;

  // parse_migration(text, path, options), from the cache when the same bytes were parsed
  // under the same path and options before.
  // `stat` is the file's stat key taken before `text` was read: kept with the entry unless the
  // file's times are within two seconds of this cache's start (racily clean, as git calls it).
  Migration parse(std::string_view text, const std::string& path, const ParseOptions& options = {},
                  const StatKey& stat = {});
  // The entry of `path` whose kept stat key equals `stat`, without reading the file: any write
  // to a file changes its ctime, which no program sets back. nullopt: read and parse().
  std::optional<Migration> unchanged(const std::string& path, const StatKey& stat, const ParseOptions& options = {});
  // validate_operations(graph, options) unless this exact set of revision files passed it before.
  void validate(const RevisionGraph& graph, const ValidateOptions& options = {});
  // Keeps every entry and validated set it read, as if this run had used them: for a command
  // that adds an entry without loading the folder (a revision just written).
  void keep_all();
  // Writes the entries this run used (so deleted files drop out), atomically (temporary
  // file + rename), when anything changed. Failures are ignored.
  void save();

  bool enabled() const { return !file_.empty(); }
  std::size_t hits() const { return hits_; }
  std::size_t misses() const { return misses_; }

 private:
  using Key = std::tuple<std::string, std::uint64_t, std::size_t, bool>;  // path, checksum, length, allow_call
  std::filesystem::path file_;
  struct Entry {
    std::string_view bytes;  // serialised Migration, in data_ or in made_
    bool used = false;       // parsed or hit by this run: what save() writes
    StatKey stat{};          // of the file these bytes came from, when not racily clean
  };
  std::int64_t began_ = 0;        // when this cache was opened, ns since the epoch
  std::string data_;              // the cache file as read
  std::deque<std::string> made_;  // entries this run parsed (a deque never moves them)
  std::map<Key, Entry> entries_;
  std::set<std::uint64_t> validated_, validated_now_;
  bool dirty_ = false;
  std::size_t hits_ = 0, misses_ = 0;
};

// One entry of a folder as it was listed: its name and stat key (zeros when stat failed).
struct ListedEntry {
  std::string name;
  StatKey stat;
};

// Every *.toml file in `dir` as load_migrations does, each parsed through `cache`. With
// `listing`, the folder itself as "." (stat'ed before it is listed), then every entry of `dir`
// (not only revision files) in the order the folder listed them, each stat'ed once (the head
// snapshot records this listing instead of listing again).
std::vector<Migration> load_migrations(const std::filesystem::path& dir, const ParseOptions& options, ParseCache& cache,
                                       std::vector<ListedEntry>* listing = nullptr);

// What identifies the build that writes a cache (version, cache format, size and mtime of the
// executable): any other build ignores the cache.
std::string engine_identity();

// The byte form the cache keeps (exposed for its tests). decode throws std::runtime_error on
// malformed input.
std::string encode_migration(const Migration& m);
Migration decode_migration(std::string_view bytes);

}  // namespace fastappkit::migration
