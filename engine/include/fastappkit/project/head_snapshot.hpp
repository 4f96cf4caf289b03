#pragma once
// The no-op shortcut (docs/performance.md, "No-op at head"): `migrate upgrade` and `migrate all`
// at head without reading, parsing or placing a single revision in a graph.
//
// After core's revisions were loaded and validated, Workspace::open_project records a head
// snapshot beside the parse cache (.fastappkit/cache/core.head): the bytes of fastappkit.toml
// (their checksum), the stat keys of core's and each internal app's models.toml (which the full
// way parses: a broken one stops it; zeros while one does not exist), the versions folder's own
// stat key and every entry of it with its stat key
// (size, mtime and ctime in nanoseconds, inode, device, following links), and what the load
// found: the heads and each revision's checksum. A later command that finds the manifest and
// the folder exactly so (the folder and every recorded entry stat'ed; nothing is listed or
// read) knows that loading would give the same graph, so it only has to read the version table
// and the history.
//
// A stale snapshot can never change a result:
// - any write to a file changes its ctime, which no program can set back (touch -d sets mtime);
//   adding, removing or renaming an entry changes the folder's ctime (and mtime), so while the
//   folder's key holds, its entries are the recorded ones; that key is taken before the load
//   lists the folder, so a change during the load makes it differ;
// - racily clean entries, as git calls them, are never recorded: when any entry's mtime or ctime
//   is less than migration::kRacyMargin before the load began, the snapshot is not written (a file written
//   in the same clock tick as the load could change later without its times changing);
// - it is written only by a load that succeeded and read the models too (as `migrate upgrade`
//   and `migrate all` load), by this very build of the engine, and it is
//   used only when the project has no external app and no plugin folder (their libraries and
//   trust checks are loaded every time);
// - the database decides the rest: the shortcut answers only when the version table holds
//   exactly the single head and no applied revision's file changed since it was applied (the
//   checksums in fastappkit_history); anything else goes the full way.
// FASTAPPKIT_NO_CACHE=1 turns it off, as for the parse cache.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fastappkit/config/database_url.hpp"
#include "fastappkit/config/project.hpp"
#include "fastappkit/db/connection.hpp"
#include "fastappkit/migration/graph.hpp"
#include "fastappkit/migration/parse_cache.hpp"
#include "fastappkit/project/load_options.hpp"

namespace fastappkit::project {

class HeadSnapshot {
 public:
  HeadSnapshot() = default;
  HeadSnapshot(const HeadSnapshot&) = delete;  // revisions_ points into text_
  HeadSnapshot& operator=(const HeadSnapshot&) = delete;

  // The snapshot of a project whose manifest and versions folder are as recorded; nullptr
  // when there is none, it does not match, or the project has external apps or plugin folders.
  static std::unique_ptr<HeadSnapshot> match(const LoadOptions& options);
  // Records core's load (Workspace::open_project calls it after validation): `listing` is the
  // versions folder as that load listed and stat'ed it (load_migrations), `began` is when the
  // load started, before any file was read (migration::wall_clock_ns). Writes only when the
  // content changes; failures are ignored.
  static void record(const config::ProjectConfig& config, const migration::RevisionGraph& core,
                     const std::vector<migration::ListedEntry>& listing, std::int64_t began);

  const config::ProjectConfig& config() const { return config_; }
  const config::DatabaseUrl& url() const { return url_; }
  const std::string& head() const { return head_; }
  // True when `conn` holds exactly the head in alembic_version and every revision's latest
  // upgrade row in fastappkit_history has the checksum its file has now.
  bool at_head(db::Connection& conn) const;

 private:
  config::ProjectConfig config_;
  config::DatabaseUrl url_;
  std::string head_;
  std::string text_;  // the snapshot file as read; revisions_ points into it
  // "r <revision>\t<checksum of its file>\n" per revision, in the graph's order
  // (RevisionGraph::order: what an upgrade from base applies, in that order).
  std::string_view revisions_;
};

}  // namespace fastappkit::project
