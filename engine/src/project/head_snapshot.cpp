#include "fastappkit/project/head_snapshot.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string_view>
#include <unordered_map>

#include "../util/test_hooks.hpp"
#include "fastappkit/migration/parse_cache.hpp"
#include "fastappkit/project/workspace.hpp"
#include "fastappkit/run/migrator.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::project {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kMagic = "fastappkit head snapshot 3\n";

fs::path snapshot_path(const config::ProjectConfig& c) { return c.root / ".fastappkit" / "cache" / "core.head"; }

// What must be on disk as it was, handed to `sink` piece by piece: the engine, the manifest's
// bytes (their checksum), and every entry of the versions folder in the order the folder lists
// them (an order that changes only declines), each as its name, a NUL and its stat key (size,
// mtime and ctime in nanoseconds, inode, device, mode; following links; zeros when stat fails:
// migration::StatKey), then a lone NUL (no name is empty). `newest` gets the latest mtime or
// ctime of any entry (the largest value when an entry cannot be stat'ed).
// Streamed, not built: a no-op compares it with the mapped snapshot and allocates nothing per entry.
template <class Sink>
void manifest(const config::ProjectConfig& c, Sink&& sink) {
  sink("engine " + migration::engine_identity() + "\nconfig " + c.config_path.string() + " " +
       std::to_string(util::fnv1a64(util::read_file(c.config_path.string()))) + "\ndir " + c.versions_dir().string() +
       "\n");
}

template <class Sink>
void entry(std::string_view name_with_nul, const migration::StatKey& key, Sink&& sink, std::int64_t& newest) {
  newest = key.known() ? std::max({newest, key.v[1], key.v[2]}) : INT64_MAX;
  sink(name_with_nul);
  sink(std::string_view(reinterpret_cast<const char*>(key.v), sizeof key.v));
}

// The folder listed now. False when it cannot be listed.
template <class Sink>
bool inputs(const config::ProjectConfig& c, Sink&& sink) {
  manifest(c, sink);
  DIR* d = ::opendir(c.versions_dir().c_str());
  if (!d) return false;
  const int fd = ::dirfd(d);
  std::int64_t newest = 0;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    entry(std::string_view(name.data(), name.size() + 1), migration::StatKey::at(fd, e->d_name), sink, newest);
  }
  ::closedir(d);
  sink(std::string_view("\0", 1));
  return true;
}

// No external app is listed and no plugin folder holds a plugin.toml: then the full way's plugin
// discovery (plugin::discover_folders) loads nothing and notes nothing. Checked every time, not recorded.
bool eligible(const config::ProjectConfig& c) {
  if (!c.external_apps().empty()) return false;
  for (const auto& p : c.plugin_paths) {
    std::error_code ec;
    const fs::path dir = c.root / p;
    if (!fs::is_directory(dir, ec)) continue;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.is_directory(ec) && fs::exists(e.path() / "plugin.toml", ec)) return false;
    if (ec) return false;
  }
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
    for (const auto& e : listing) entry(std::string_view(e.name.c_str(), e.name.size() + 1), e.stat, append, newest);
    text.push_back('\0');
    // Racily clean entries are not recorded: see the header.
    if (newest >= began - std::chrono::nanoseconds(migration::kRacyMargin).count()) return;
    text += "head " + heads.front() + "\n";
    for (const auto& m : core.migrations()) text += "r " + m.revision + "\t" + m.checksum + "\n";
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
  if (!s.map(snapshot_path(c))) return nullptr;
  const std::string_view text = s.text();
  if (text.substr(0, kMagic.size()) != kMagic) return nullptr;
  std::size_t at = kMagic.size();
  bool same = true;
  auto compare = [&](std::string_view piece) {
    if (same && text.substr(at, piece.size()) == piece)
      at += piece.size();
    else
      same = false;
  };
  if (!inputs(c, compare) || !same) return nullptr;
  std::string_view rest = text.substr(at);
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    if (nl == std::string_view::npos) return nullptr;
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
    if (line.rfind("head ", 0) == 0) {
      s.head_ = std::string(line.substr(5));
    } else if (line.rfind("r ", 0) == 0) {
      auto tab = line.find('\t');
      if (tab == std::string_view::npos) return nullptr;
      s.checksums_.emplace(line.substr(2, tab - 2), line.substr(tab + 1));
    } else {
      return nullptr;
    }
  }
  if (s.head_.empty() || !s.checksums_.count(s.head_)) return nullptr;
  s.url_ = config::resolve_database_url(o.database_url, c.root);
  return snap;
}

HeadSnapshot::~HeadSnapshot() {
  if (data_) ::munmap(const_cast<char*>(data_), size_);
}

// Mapped, not read: the page cache's pages come in sixteen at a time where a read copies them
// into fresh heap pages, each a page fault (about 35 µs on the reference VM).
bool HeadSnapshot::map(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size <= 0) {
    ::close(fd);
    return false;
  }
  void* p = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return false;
  data_ = static_cast<const char*>(p);
  size_ = static_cast<std::size_t>(st.st_size);
  return true;
}

bool HeadSnapshot::at_head(db::Connection& conn) const {
  if (!conn.table_exists("alembic_version")) return false;
  auto rows = conn.query("SELECT version_num FROM alembic_version");
  if (rows.size() != 1 || !rows[0][0] || *rows[0][0] != head_) return false;
  // Without fastappkit_history the full way creates it (Migrator::ensure_tables): not a no-op.
  if (!conn.table_exists(run::kHistoryTable)) return false;
  {
    // The latest upgrade row of each revision, as Migrator::modified_since_applied reads them.
    // One row, not one per revision: three lists joined by ',', aggregated over the same rows in
    // the same order. Revision ids are 12 hex digits (is_revision_id), checksums hex and ids
    // integers, so ',' cannot occur in an item.
    const bool pg = conn.dialect() == sql::Dialect::postgresql;
    auto agg = [&](const std::string& col) {
      return pg ? "string_agg(" + col + ", ',')" : "group_concat(" + col + ", ',')";
    };
    auto rows = conn.query("SELECT " + agg(pg ? "id::text" : "id") + ", " + agg("revision") + ", " + agg("checksum") +
                           " FROM " + run::kHistoryTable + " WHERE app = 'core' AND direction = 'upgrade'");
    std::string_view ids, revs, sums;
    if (!rows.empty() && rows[0].size() == 3 && rows[0][0] && rows[0][1] && rows[0][2]) {
      ids = *rows[0][0];
      revs = *rows[0][1];
      sums = *rows[0][2];
    }
    auto next = [](std::string_view& list) {
      auto comma = list.find(',');
      std::string_view one = list.substr(0, comma);
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      return one;
    };
    std::unordered_map<std::string_view, std::pair<long long, std::string_view>> last;  // the latest row wins
    while (!ids.empty()) {
      std::string_view id_text = next(ids), rev = next(revs), sum = next(sums);
      long long id = 0;
      if (std::from_chars(id_text.data(), id_text.data() + id_text.size(), id).ec != std::errc() || rev.empty())
        return false;
      auto [it, fresh] = last.try_emplace(rev, id, sum);
      if (!fresh && it->second.first < id) it->second = {id, sum};
    }
    if (!revs.empty() || !sums.empty()) return false;
    for (const auto& [rev, row] : last) {
      auto it = checksums_.find(rev);
      if (it != checksums_.end() && it->second != row.second) return false;
    }
  }
  util::test_mark("head-snapshot-used");
  return true;
}

}  // namespace fastappkit::project
