#pragma once
// Revision files: versions/<revision>_<slug>.toml (SPEC §5).
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "fastappkit/migration/schema.hpp"

namespace fastappkit::migration {

struct Migration {
  std::string revision;
  std::vector<std::string> down_revisions;  // empty for a base; several for a merge
  std::vector<std::string> depends_on;
  std::vector<std::string> branch_labels;
  std::string message;
  std::string create_date;
  std::string app;  // optional: the app it was made for
  bool transactional = true;
  std::vector<Operation> upgrade, downgrade;

  std::string path;                                                    // file it came from
  std::string checksum;                                                // of the file's bytes, hex
  int down_line = 0, down_col = 0, depends_line = 0, depends_col = 0;  // for graph errors
};

struct ParseOptions {
  bool allow_call = false;  // `call` steps exist only in plugins
};

// Throws Error(input) whose message is "path:line:col: ..." with the line and a caret.
Migration parse_migration(std::string_view text, const std::string& path, const ParseOptions& options = {});

// Every *.toml file in `dir`, sorted by name. All files are parsed before anything is reported,
// so one run lists every broken file; throws Error(input) when any is invalid.
std::vector<Migration> load_migrations(const std::filesystem::path& dir, const ParseOptions& options = {});

bool is_revision_id(std::string_view s);

}  // namespace fastappkit::migration
