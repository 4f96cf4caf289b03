// New revisions: autogenerate, merge, empty revisions, and writing them into a versions folder.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <fstream>
#include <ostream>

#include "fastappkit/db/connection.hpp"
#include "fastappkit/migration/autogenerate.hpp"
#include "fastappkit/migration/parse_cache.hpp"
#include "fastappkit/migration/validate.hpp"
#include "fastappkit/plugin/host.hpp"
#include "fastappkit/project/workspace.hpp"
#include "fastappkit/util/text.hpp"
#include "workspace_internal.hpp"

namespace fastappkit::project {

namespace fs = std::filesystem;
using migration::Direction;

namespace {

std::string utc_now() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::vector<std::string> single_parent(const migration::RevisionGraph& g) {
  auto heads = g.heads();
  if (heads.size() > 1)
    throw Error(ErrorKind::input,
                "Multiple heads are present: " + util::join(heads, ", ") + "; a new revision needs one parent",
                "merge them first: fastappkit migrate merge -m \"merge heads\"");
  return heads;
}

}  // namespace

std::optional<migration::Migration> Workspace::autogenerate(const Target& t, const std::string& app,
                                                            const std::string& message) const {
  auto parents = single_parent(*t.graph);
  migration::Schema head = migration::state_at(*t.graph, t.graph->ancestors(parents));
  migration::Migration m;
  // An external app sees only its own models: core tables it references are not its to create.
  m.upgrade = migration::diff(head, t.models.schema);
  if (m.upgrade.empty()) return std::nullopt;
  m.downgrade = migration::diff(t.models.schema, head);
  m.down_revisions = parents;
  m.message = message;
  m.app = app;
  migration::prefer_online_safe(m);
  return m;
}

std::vector<migration::Migration> Workspace::autogenerate(const Target& t, const std::string& app,
                                                          const std::string& message, sql::Dialect dialect) const {
  auto m = autogenerate(t, app, message);
  if (!m) return {};
  if (dialect != sql::Dialect::postgresql) return {*m};
  return migration::split_online_safe(*m, migration::state_at(*t.graph, t.graph->ancestors(m->down_revisions)));
}

std::optional<migration::Migration> Workspace::merge(const Target& t, const std::string& message) const {
  auto heads = t.graph->heads();
  if (heads.size() < 2) return std::nullopt;
  migration::Migration m;
  m.down_revisions = heads;
  m.message = message;
  return m;
}

migration::Migration Workspace::empty_revision(const Target& t, const std::string& message) const {
  migration::Migration m;
  m.down_revisions = single_parent(*t.graph);
  m.message = message;
  return m;
}

fs::path Workspace::write_revision(const Target& t, migration::Migration m) const {
  if (t.versions_dir.empty())
    throw Error(
        ErrorKind::usage,
        "external app " + t.name + " is installed as a built plugin; its revisions are written in its source folder",
        "cd to its source folder and run 'fastappkit plugin revision -m MSG'");
  // A revision made elsewhere (adopt proves its file before writing it) keeps its id.
  std::string id = m.revision;
  while (id.empty() || t.graph->contains(id)) id = migration::new_revision_id();
  m.revision = id;
  m.create_date = utc_now();
  std::string text = migration::write_migration(m);
  fs::path file = t.versions_dir / (id + "_" + migration::slugify(m.message) + ".toml");
  // What is written must read back. Parsed through the target's parse cache, which keeps what it
  // had, so that the next command finds the new revision there instead of parsing it again (an
  // autogenerate over 1,000 tables writes 0.8 MB of TOML: about 90 ms of toml++).
  migration::ParseCache cache(t.parse_cache);
  cache.keep_all();
  cache.parse(text, file.string(), {.allow_call = !t.is_core()});
  if (fs::exists(file))
    throw Error(ErrorKind::failed, "refusing to overwrite " + file.string(), "run the command again");
  {
    std::ofstream out(file, std::ios::binary);
    out << text;
    if (!out.flush()) throw Error(ErrorKind::failed, "cannot write " + file.string(), "check the folder's permissions");
  }
  cache.save();
  return file;
}

std::vector<fs::path> Workspace::write_revisions(const Target& t, std::vector<migration::Migration> ms) const {
  std::vector<fs::path> out;
  for (auto& m : ms) {
    if (!out.empty()) m.down_revisions = {out.back().filename().string().substr(0, 12)};
    out.push_back(write_revision(t, std::move(m)));
  }
  return out;
}

}  // namespace fastappkit::project
