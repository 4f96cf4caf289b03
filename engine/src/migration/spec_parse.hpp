#pragma once
// Private: parsing of the pieces revision files and models.toml share (column specs,
// foreign keys, unique constraints), with file:line:col errors.
#include "../util/toml_support.hpp"
#include "fastappkit/migration/schema.hpp"

namespace fastappkit::migration::detail {

using util::TomlSource;

std::optional<std::string> referential_action(const TomlSource& src, const toml::table& t, std::string_view key);
ColumnType column_type(const TomlSource& src, const toml::node& n);
ColumnSpec column_spec(const TomlSource& src, const toml::node& node, const std::string& what);
std::vector<std::string> name_list(const TomlSource& src, const toml::table& t, std::string_view key,
                                   const std::string& what, const toml::source_region& where);
ForeignKey foreign_key_entry(const TomlSource& src, const toml::node& node, bool name_required);
UniqueConstraint unique_entry(const TomlSource& src, const toml::node& node, bool name_required);

}  // namespace fastappkit::migration::detail
