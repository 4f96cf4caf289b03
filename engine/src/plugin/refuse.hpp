#pragma once
// Private to engine/src/plugin: how a plugin folder is refused.
#include <filesystem>
#include <string>

#include "fastappkit/error.hpp"

namespace fastappkit::plugin {

// Error(input) naming the plugin folder: "plugin folder <folder>: <what>", with what to do.
[[noreturn]] inline void refuse(const std::filesystem::path& folder, const std::string& what, const std::string& hint) {
  throw Error(ErrorKind::input, "plugin folder " + folder.string() + ": " + what, hint);
}

}  // namespace fastappkit::plugin
