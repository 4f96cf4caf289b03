// A versions folder loaded: every revision file listed, stat'ed and parsed, through a parse cache
// when one is given (parse_cache.hpp), all errors collected.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fastappkit/error.hpp"
#include "fastappkit/migration/migration_file.hpp"
#include "fastappkit/migration/parse_cache.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::migration {

namespace fs = std::filesystem;

std::vector<Migration> load_migrations(const fs::path& dir, const ParseOptions& options) {
  ParseCache none;
  return load_migrations(dir, options, none);
}

std::vector<Migration> load_migrations(const fs::path& dir, const ParseOptions& options, ParseCache& cache,
                                       std::vector<ListedEntry>* listing) {
  DIR* folder = ::opendir(dir.c_str());
  if (folder == nullptr) {
    throw Error(
        ErrorKind::input, "Core migrations directory not found: " + dir.string(),
        "check the project structure: core/db/migrations/versions/ must exist (fastappkit core new creates it)");
  }
  const std::unique_ptr<DIR, int (*)(DIR*)> close(folder, ::closedir);
  const int fd = ::dirfd(folder);
  // The folder's own key first, before it is read: adding, removing or renaming an entry changes
  // its times, so the head snapshot need not list the folder again while this key holds.
  if (listing) listing->push_back({".", StatKey::at(fd, ".")});
  struct File {
    std::string path;
    StatKey stat;  // taken before the file is read (ParseCache::unchanged)
  };
  std::vector<File> files;
  while (const dirent* e = ::readdir(folder)) {
    const std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    // What fs::path::extension() calls ".toml" (a name that is only ".toml" has none).
    const bool toml = name.size() > 5 && name.substr(name.size() - 5) == ".toml";
    const bool by_type = e->d_type != DT_UNKNOWN && e->d_type != DT_LNK;  // else stat says (links followed)
    const bool stated = listing || (toml && (cache.enabled() || !by_type));
    const StatKey key = stated ? StatKey::at(fd, e->d_name) : StatKey{};
    if (listing) listing->push_back({std::string(name), key});
    if (!toml) continue;
    const bool regular = stated ? key.known() && S_ISREG(static_cast<mode_t>(key.v[5])) : e->d_type == DT_REG;
    if (regular) files.push_back({(dir / e->d_name).string(), cache.enabled() ? key : StatKey{}});
  }
  // Sorted as strings (one folder: the same order): fs::path compares element by element, and
  // that sort was a tenth of a no-op's instructions at N = 1,000.
  std::sort(files.begin(), files.end(), [](const File& a, const File& b) { return a.path < b.path; });
  std::vector<Migration> out;
  std::vector<std::string> errors;
  for (const auto& [f, stat] : files) {
    try {
      if (auto m = cache.unchanged(f, stat, options)) {
        out.push_back(std::move(*m));
        continue;
      }
      std::string text = util::read_file(f);
      out.push_back(cache.parse(text, f, options, stat));
    } catch (const Error& e) {
      errors.push_back(std::string(e.what()) + (e.hint().empty() ? "" : "\n  hint: " + e.hint()));
    }
  }
  if (!errors.empty()) {
    throw Error(
        ErrorKind::input, util::join(errors, "\n"),
        std::to_string(errors.size()) + " migration file(s) are invalid; nothing was run. Fix them and run again");
  }
  return out;
}

}  // namespace fastappkit::migration
