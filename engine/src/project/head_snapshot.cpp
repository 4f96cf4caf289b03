#include "fastappkit/project/head_snapshot.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string_view>
#include <unordered_map>

#include "../util/test_hooks.hpp"
#include "fastappkit/migration/models.hpp"
#include "fastappkit/migration/parse_cache.hpp"
#include "fastappkit/project/load_options.hpp"
#include "fastappkit/run/migrator.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::project {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kMagic = "fastappkit head snapshot 4\n";

fs::path snapshot_path(const config::ProjectConfig& c) { return c.root / ".fastappkit" / "cache" / "core.head"; }

// What must be on disk as it was, handed to `sink` piece by piece: the engine, the manifest's
// bytes (their checksum), and the versions folder as load_migrations listed it: the folder itself
// as ".", then every entry in the order the folder listed them, each as its name, a NUL and its
// stat key (size, mtime and ctime in nanoseconds, inode, device, mode; following links; zeros
// when stat fails: migration::StatKey), then a lone NUL (no name is empty). `newest` gets the
// latest mtime or ctime of any entry (the largest value when an entry cannot be stat'ed).
template <class Sink>
void manifest(const config::ProjectConfig& c, Sink&& sink) {
  sink("engine " + migration::engine_identity() + "\nconfig " + c.config_path.string() + " " +
       std::to_string(util::fnv1a64(util::read_file(c.config_path.string()))) + "\ndir " + c.versions_dir().string() +
       "\n");
}

// The models files the full way reads (core's and each internal app's models.toml: a load with
// external apps parses them, and a broken one stops `migrate upgrade` and `migrate all`), each as
// "models <path>", a NUL and its stat key (zeros while it does not exist, so creating it differs).
// `newest` as for entries.
template <class Sink>
void models(const config::ProjectConfig& c, Sink&& sink, std::int64_t& newest) {
  for (const auto& [file, app] : migration::project_models_files(c.root, c.internal_apps())) {
    const migration::StatKey key = migration::StatKey::of(file.string());
    if (key.known()) newest = std::max({newest, key.v[1], key.v[2]});
    sink("models " + file.string());
    sink(std::string_view("\0", 1));
    sink(std::string_view(reinterpret_cast<const char*>(key.v), sizeof key.v));
  }
}

template <class Sink>
void entry(std::string_view name_with_nul, const migration::StatKey& key, Sink&& sink, std::int64_t& newest) {
  newest = key.known() ? std::max({newest, key.v[1], key.v[2]}) : INT64_MAX;
  sink(name_with_nul);
  sink(std::string_view(reinterpret_cast<const char*>(key.v), sizeof key.v));
}

// The recorded entries from `at` up to `end` (name, NUL, stat key; records found valid by
// folder_unchanged): whether each one's stat key is the recorded one.
bool entries_unchanged(int fd, const char* at, const char* end) {
  while (at < end) {
    const std::size_t len = std::strlen(at);
    migration::StatKey recorded;
    std::memcpy(recorded.v, at + len + 1, sizeof recorded.v);
    if (!recorded.known() || !(migration::StatKey::at(fd, at) == recorded)) return false;
    at += len + 1 + sizeof recorded.v;
  }
  return true;
}

// Whether the versions folder is as `entries` (the snapshot's list, from its first name to the
// lone NUL, which it takes off) records it. The folder is not listed again: its own key comes
// first, and adding, removing or renaming an entry changes the folder's ctime, which no program
// sets back; so when that key holds, the names are the recorded ones, and each is stat'ed by
// name (its ctime witnesses any write to it). Allocates nothing per entry.
bool folder_unchanged(const config::ProjectConfig& c, std::string_view& entries) {
  // The records first (no system call): each "name NUL key", the folder's own "." first, then
  // a lone NUL.
  const char* const begin = entries.data();
  std::size_t count = 0;
  bool valid = false;
  for (std::string_view rest = entries; !rest.empty();) {
    const auto nul = rest.find('\0');
    if (nul == std::string_view::npos) break;
    if (nul == 0) {  // the lone NUL: the end of the list
      valid = count > 0;
      entries = rest.substr(1);
      break;
    }
    if (rest.size() < nul + 1 + sizeof(migration::StatKey::v) || (count == 0 && rest.substr(0, nul) != ".")) break;
    ++count;
    rest.remove_prefix(nul + 1 + sizeof(migration::StatKey::v));
  }
  if (!valid) return false;
  const char* const end = entries.data() - 1;  // the lone NUL
  const int fd = ::open(c.versions_dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool same = entries_unchanged(fd, begin, end);
  ::close(fd);
  return same;
}

// No external app is listed, and every entry of every plugin folder is a readable folder without
// a plugin.toml or not a folder at all: then the full way's plugin discovery
// (plugin::discover_folders) loads nothing and notes nothing. Anything it would load or warn
// about (a plugin.toml, an entry that cannot be read: a symlink loop, no permission) takes the
// full way. Checked every time, not recorded.
bool eligible(const config::ProjectConfig& c) {
  if (!c.external_apps().empty()) return false;
  for (const auto& p : c.plugin_paths) {
    std::error_code ec;
    const fs::path dir = c.root / p;
    if (!fs::is_directory(dir, ec)) continue;
    fs::directory_iterator it(dir, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      std::error_code entry_ec;
      const bool folder = it->is_directory(entry_ec);
      if (entry_ec) return false;
      if (folder && (fs::exists(it->path() / "plugin.toml", entry_ec) || entry_ec)) return false;
    }
    if (ec) return false;
  }
  return true;
}

// Takes the first "r <revision>\t<checksum>\n" line off `lines`; false when it is not one.
bool next_revision(std::string_view& lines, std::string_view& rev, std::string_view& sum) {
  const auto nl = lines.find('\n');
  if (lines.rfind("r ", 0) != 0 || nl == std::string_view::npos) return false;
  const std::string_view line = lines.substr(2, nl - 2);
  lines.remove_prefix(nl + 1);
  const auto tab = line.find('\t');
  if (tab == 0 || tab == std::string_view::npos) return false;
  rev = line.substr(0, tab);
  sum = line.substr(tab + 1);
  return true;
}

}  // namespace

void HeadSnapshot::record(const config::ProjectConfig& c, const migration::RevisionGraph& core,
                          const std::vector<migration::ListedEntry>& listing, std::int64_t began) {
  if (migration::caches_disabled() || !eligible(c)) return;
  try {
    auto heads = core.heads();
    if (heads.size() != 1) return;
    std::string text(kMagic);
    auto append = [&](std::string_view piece) { text.append(piece); };
    manifest(c, append);
    std::int64_t newest = 0;
    models(c, append, newest);
    for (const auto& e : listing) entry(std::string_view(e.name.c_str(), e.name.size() + 1), e.stat, append, newest);
    text.push_back('\0');
    // Racily clean entries are not recorded: see the header.
    if (newest >= began - std::chrono::nanoseconds(migration::kRacyMargin).count()) return;
    text += "head " + heads.front() + "\n";
    // In the graph's order, which is the order a run from base applies them and so the order of
    // their rows in fastappkit_history: at_head walks both side by side.
    for (const auto& id : core.order()) text += "r " + id + "\t" + core.get(id).checksum + "\n";
    const fs::path path = snapshot_path(c);
    std::error_code ec;
    if (fs::is_regular_file(path, ec) && util::read_file(path.string()) == text) return;
    fs::create_directories(path.parent_path(), ec);
    const fs::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << text;
      if (!out.flush()) {
        fs::remove(tmp, ec);
        return;
      }
    }
    fs::rename(tmp, path, ec);
    if (ec) fs::remove(tmp, ec);
  } catch (...) {  // a snapshot that cannot be written is no snapshot
  }
}

std::unique_ptr<HeadSnapshot> HeadSnapshot::match(const LoadOptions& o) {
  if (migration::caches_disabled()) return nullptr;
  auto snap = std::make_unique<HeadSnapshot>();
  HeadSnapshot& s = *snap;
  s.config_ = config::load_project(o.directory);
  const auto& c = s.config_;
  if (!eligible(c)) return nullptr;
  for (const auto& app : c.apps)
    if (app.internal && !fs::is_directory(c.root / "apps" / app.name)) return nullptr;
  std::error_code ec;
  const fs::path file = snapshot_path(c);
  if (!fs::is_regular_file(file, ec)) return nullptr;
  try {
    s.text_ = util::read_file(file.string());  // a copy: a file truncated meanwhile only fails to match
  } catch (const Error&) {
    return nullptr;
  }
  const std::string_view text = s.text_;
  if (text.substr(0, kMagic.size()) != kMagic) return nullptr;
  std::size_t at = kMagic.size();
  bool same = true;
  auto compare = [&](std::string_view piece) {
    if (same && text.substr(at, piece.size()) == piece)
      at += piece.size();
    else
      same = false;
  };
  manifest(c, compare);
  std::int64_t newest = 0;
  models(c, compare, newest);
  if (!same) return nullptr;
  std::string_view rest = text.substr(at);
  if (!folder_unchanged(c, rest)) return nullptr;
  // "head <id>\n", then "r <id>\t<checksum>\n" per revision; the head must be one of them.
  const auto nl = rest.find('\n');
  if (rest.rfind("head ", 0) != 0 || nl == std::string_view::npos || nl == 5) return nullptr;
  s.head_ = std::string(rest.substr(5, nl - 5));
  s.revisions_ = rest.substr(nl + 1);
  bool head_listed = false;
  for (std::string_view lines = s.revisions_; !lines.empty();) {
    std::string_view rev, sum;
    if (!next_revision(lines, rev, sum)) return nullptr;
    head_listed = head_listed || rev == s.head_;
  }
  if (!head_listed) return nullptr;
  s.url_ = config::resolve_database_url(o.database_url, c.root);
  return snap;
}

bool HeadSnapshot::at_head(db::Connection& conn) const {
  // Without fastappkit_history the full way creates it (Migrator::ensure_tables): not a no-op.
  if (!conn.tables_exist({"alembic_version", std::string(run::kHistoryTable)})) return false;
  const auto version = conn.query("SELECT version_num FROM alembic_version");
  if (version.size() != 1 || !version[0][0] || *version[0][0] != head_) return false;
  // The latest upgrade row of each revision, as Migrator::modified_since_applied reads them.
  const std::string history = "SELECT id, revision, checksum FROM " + std::string(run::kHistoryTable) +
                              " WHERE app = 'core' AND direction IN ('upgrade', 'adopt')";
  // The usual history, applied from base in one go or run by run: one upgrade row per revision,
  // in the order of the snapshot's lines. Then each row is compared with the line beside it as
  // the database hands it over, and nothing is copied or built. Anything else (a revision
  // upgraded again, rows in another order, a row whose checksum differs and that a later row
  // may supersede, a revision the snapshot does not list) takes the exact way below.
  {
    std::string_view lines = revisions_;
    long long previous = -1;
    bool in_step = true;
    conn.scan(history, [&](db::RowView row) {
      long long id = 0;
      std::string_view rev, sum;
      in_step = row.size() == 3 && row[0] && row[1] && row[2] &&
                std::from_chars(row[0]->data(), row[0]->data() + row[0]->size(), id).ec == std::errc() &&
                id > previous && next_revision(lines, rev, sum) && *row[1] == rev && *row[2] == sum;
      previous = id;
      return in_step;
    });
    if (in_step) {
      util::test_mark("head-snapshot-used");
      return true;
    }
  }
  std::unordered_map<std::string_view, std::string_view> checksums;  // revision -> checksum of its file
  for (std::string_view lines = revisions_; !lines.empty();) {
    std::string_view rev, sum;
    if (!next_revision(lines, rev, sum)) return false;
    checksums.emplace(rev, sum);
  }
  const auto rows = conn.query(history);
  std::unordered_map<std::string_view, std::pair<long long, std::string_view>> last;  // the latest row wins
  for (const auto& row : rows) {
    long long id = 0;
    if (row.size() != 3 || !row[0] || !row[1] || !row[2] || row[1]->empty() ||
        std::from_chars(row[0]->data(), row[0]->data() + row[0]->size(), id).ec != std::errc())
      return false;
    auto [it, fresh] = last.try_emplace(*row[1], id, *row[2]);
    if (!fresh && it->second.first < id) it->second = {id, *row[2]};
  }
  for (const auto& [rev, row] : last) {
    auto it = checksums.find(rev);
    if (it != checksums.end() && it->second != row.second) return false;
  }
  util::test_mark("head-snapshot-history-by-revision");
  util::test_mark("head-snapshot-used");
  return true;
}

}  // namespace fastappkit::project
