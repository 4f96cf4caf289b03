#pragma once
// models.toml (SPEC §4): the schema an app declares, which autogenerate and check compare
// against the migrations and the database.
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fastappkit/error.hpp"
#include "fastappkit/migration/schema.hpp"

namespace fastappkit::migration {

struct ModelSet {
  Schema schema;
  std::map<std::string, std::string> owner;      // table -> app that declares it ("core" or the app)
  std::map<std::string, SourceLocation> origin;  // table -> where it is declared
};

// One models.toml. Constraint and index names that are not written are derived:
// ix_<table>_<cols>, uq_<table>_<cols>, fk_<table>_<cols>_<reftable>. Throws Error(input)
// with file:line:col.
ModelSet parse_models(std::string_view text, const std::string& path, const std::string& app);

// Merges `part` into `into`; a table declared twice is an error naming both places.
void merge_models(ModelSet& into, const ModelSet& part);

// Every foreign key must reference a declared table and column; throws Error(input).
void check_references(const ModelSet& models);

// core/models.toml (if present) then apps/<name>/models.toml for each internal app, in order.
ModelSet load_project_models(const std::filesystem::path& root, const std::vector<std::string>& internal_apps);
// The files load_project_models reads, each with the app it belongs to ("core" or an internal
// app), whether or not they exist; the head snapshot witnesses exactly these.
std::vector<std::pair<std::filesystem::path, std::string>> project_models_files(
    const std::filesystem::path& root, const std::vector<std::string>& internal_apps);

}  // namespace fastappkit::migration
