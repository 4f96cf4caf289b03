#pragma once
// `migrate adopt` (SPEC §12): a database no migration tool manages taken under management. Its
// catalog is read (db/catalog.hpp) into core/models.toml and one base revision; the revision is
// replayed on a scratch database of the same dialect and both catalogs are compared object by
// object; only when they are equal are the files written and the database stamped at the base
// revision (the version table and a fastappkit_history row are all it gets). docs/adopt.md.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "fastappkit/db/catalog.hpp"
#include "fastappkit/project/fleet.hpp"
#include "fastappkit/project/load_options.hpp"
#include "fastappkit/project/run.hpp"

namespace fastappkit::project {

struct AdoptRequest {
  std::string message;
  bool dry_run = false;  // prove, then write nothing anywhere
  // PostgreSQL: an empty database to replay on, instead of a temporary schema in the live one.
  std::optional<std::string> scratch_url{};
};

struct Adoption {
  std::string database;  // redacted
  sql::Dialect dialect = sql::Dialect::sqlite;
  std::string revision;  // the base revision's id
  std::filesystem::path models_path, revision_path;
  std::string models_text, revision_text;
  std::size_t tables = 0;
  std::vector<db::CarriedObject> carried;  // what the base revision carries as execute steps
  bool written = false;                    // files written and the database stamped
};

// Refuses (Error usage or input: exit 2, nothing written) a project with revisions, models or
// external apps, a database that is managed already or empty, a column type models.toml cannot
// name, a base revision that does not replay, and any difference the proof finds (each listed).
Adoption adopt(const LoadOptions& load, const AdoptRequest& request, const RunSettings& settings);

// A fleet (--databases): the first database is adopted as above; every other one is compared
// with the first's catalog and stamped at the base revision only when equal. Each outcome's
// message lists the differences of one that was left alone (its state "differs"). With
// dry_run nothing is stamped or written.
struct FleetAdoption {
  Adoption first;
  std::vector<DatabaseOutcome> others;
};
FleetAdoption adopt_fleet(const LoadOptions& load, const AdoptRequest& request, const std::vector<FleetDatabase>& fleet,
                          const RunSettings& settings);

}  // namespace fastappkit::project
