// Loading a plugin with Boost.DLL, and the host functions of the C ABI its steps call.
#include "fastappkit/plugin/host.hpp"

#include <dlfcn.h>
#include <fastappkit/plugin_abi.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
// Boost.DLL on std::filesystem: Boost.Filesystem would run a static initialiser (uname and
// sscanf of the kernel version) in every process, plugin or not (docs/perf-start.md).
#define BOOST_DLL_USE_STD_FS
#include <boost/dll/shared_library.hpp>
#include <cctype>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <stdexcept>
#include <type_traits>

#include "../util/toml_support.hpp"
#include "fastappkit/migration/validate.hpp"
#include "refuse.hpp"

namespace fastappkit::plugin {

namespace fs = std::filesystem;

// RTLD_NODELETE: a plugin stays mapped until the process ends, so closing it at the end of a
// command unmaps nothing (100 plugins: 102 munmaps less), and what its own C++ runtime allocated
// when it was loaded (libstdc++'s emergency exception pool, FastappkitPlugin.cmake) stays
// reachable from its globals instead of becoming a leak. Boost.DLL hands the mode to dlopen.
constexpr auto kLoadMode = static_cast<boost::dll::load_mode::type>(RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);

class Library {
 public:
  explicit Library(const fs::path& path) : lib(boost::dll::fs::path(path.string()), kLoadMode) {}
  boost::dll::shared_library lib;
  std::map<std::string, fak_step_fn> steps;
};

}  // namespace fastappkit::plugin

// The host's state behind the opaque fak_host handle of the C ABI.
struct fak_host {
  fastappkit::db::Connection* conn = nullptr;
  std::string error;
  std::string scratch;  // a string handed to the plugin, valid until the next call
};

namespace fastappkit::plugin {

namespace {

std::string text(fak_string s) { return s.data ? std::string(s.data, s.size) : std::string(); }

// Host functions: no exception may cross into the plugin.
int32_t host_query(fak_host* host, fak_string sql, const fak_string* params, uint64_t count, fak_row_fn on_row,
                   void* user) noexcept {
  try {
    if (!host->conn) {
      host->error = "no database during the plugin's entry";
      return 1;
    }
    std::vector<std::string> p;
    for (uint64_t i = 0; i < count; ++i) p.push_back(text(params[i]));
    std::string statement = text(sql);
    if (sql::traits(host->conn->dialect()).numbered_placeholders) statement = number_placeholders(statement, p.size());
    auto rows = host->conn->query(statement, p);
    if (!on_row) return 0;
    for (const auto& row : rows) {
      std::vector<fak_string> values;
      std::vector<uint8_t> nulls;
      for (const auto& v : row) {
        values.push_back(v ? fak_string{v->data(), v->size()} : fak_string{nullptr, 0});
        nulls.push_back(v ? 0 : 1);
      }
      if (on_row(user, values.data(), nulls.data(), values.size()) != 0) break;
    }
    return 0;
  } catch (const db::DbError& e) {
    host->error = std::string(e.what()) + (e.statement().empty() ? "" : " (statement: " + e.statement() + ")");
  } catch (const std::exception& e) {
    host->error = e.what();
  } catch (...) {
    host->error = "unknown error in the host";
  }
  return 1;
}

int32_t host_execute(fak_host* host, fak_string sql, const fak_string* params, uint64_t count) noexcept {
  return host_query(host, sql, params, count, nullptr, nullptr);
}

void host_report_error(fak_host* host, fak_string message) noexcept {
  try {
    host->error = text(message);
    if (host->error.empty()) host->error = "(the plugin reported an error with no message)";
  } catch (...) {
  }
}

fak_string host_dialect(fak_host* host) noexcept {
  const auto name = sql::traits(host->conn ? host->conn->dialect() : sql::Dialect::sqlite).name;  // static storage
  return {name.data(), name.size()};
}

fak_string host_server_version(fak_host* host) noexcept {
  try {
    host->scratch.clear();
    if (host->conn) {
      auto rows = host->conn->query(std::string(sql::traits(host->conn->dialect()).version_query));
      if (!rows.empty() && !rows[0].empty() && rows[0][0]) host->scratch = *rows[0][0];
    }
  } catch (...) {
    host->scratch.clear();
  }
  return {host->scratch.data(), host->scratch.size()};
}

const fak_host_api kHostApi = {sizeof(fak_host_api), FAK_ABI_MAJOR,     FAK_ABI_MINOR, host_execute,
                               host_query,           host_report_error, host_dialect,  host_server_version};

bool is_bookkeeping(const std::string& t) { return t.rfind("alembic_version", 0) == 0 || t == "fastappkit_history"; }

}  // namespace

std::set<std::string> Plugin::tables() const {
  std::set<std::string> out = migration::tables_named(*graph);
  for (const auto& [t, tab] : models.schema.tables) out.insert(t);
  return out;
}

void Plugin::call(const migration::Operation& op, db::Connection& conn) const {
  auto it = library->steps.find(op.extra().function);
  if (it == library->steps.end())
    throw db::DbError(db::Failure::other, "plugin " + manifest.name + " has no C++ step '" + op.extra().function + "'");
  fak_host host;
  host.conn = &conn;
  std::vector<fak_string> args;
  for (const auto& a : op.extra().args) args.push_back({a.data(), a.size()});
  int32_t rc = it->second(&kHostApi, &host, args.data(), args.size());
  if (rc != 0) {
    throw db::DbError(db::Failure::other,
                      "C++ step '" + op.extra().function + "' of plugin " + manifest.name + " failed: " +
                          (host.error.empty() ? std::string("(it returned an error with no message)") : host.error),
                      "call " + op.extra().function, {}, "see the plugin's documentation for what the step needs");
  }
}

Plugin load(const Manifest& m, migration::ParseCache* cache) {
  migration::ParseCache none;
  if (!cache) cache = &none;
  check_library(m);
  Plugin p;
  p.manifest = m;
  try {
    // The path check_trust() resolved, so no link is followed anew between check and load.
    p.library = std::make_shared<Library>(fs::canonical(m.folder / m.library));
  } catch (const std::exception& e) {
    refuse(m.folder, "cannot load " + m.library + ": " + e.what(),
           "check the library's dependencies (ldd) and rebuild the plugin");
  }
  auto entry = p.library->lib.get<const fak_plugin_descriptor*(const fak_host_api*, fak_host*)>(FAK_ENTRY_SYMBOL);
  fak_host host;
  const fak_plugin_descriptor* d = entry(&kHostApi, &host);
  if (!d)
    refuse(m.folder,
           "the plugin's entry failed: " +
               (host.error.empty() ? std::string("it returned no descriptor and no message") : host.error),
           "fix the plugin's initialisation and rebuild it");
  if (d->magic != FAK_PLUGIN_MAGIC)
    refuse(m.folder, "the entry returned a descriptor with a wrong magic number", "rebuild the plugin with the SDK");
  if (d->abi_major != FAK_ABI_MAJOR)
    refuse(m.folder,
           "the plugin was built for ABI " + std::to_string(d->abi_major) + "." + std::to_string(d->abi_minor) +
               "; this fastappkit speaks ABI " + std::to_string(FAK_ABI_MAJOR) + ".x",
           "rebuild the plugin against this fastappkit's SDK");
  // No field beyond the header is read before the plugin's struct_size says it is there.
  constexpr std::size_t v1_0_size = offsetof(fak_plugin_descriptor, step_count) + sizeof(uint64_t);
  if (d->struct_size < v1_0_size)
    refuse(m.folder,
           "the plugin's descriptor is " + std::to_string(d->struct_size) + " bytes, smaller than ABI 1.0's " +
               std::to_string(v1_0_size),
           "rebuild the plugin with the SDK");
  if (d->abi_minor > FAK_ABI_MINOR)
    refuse(
        m.folder,
        "the plugin's descriptor says it needs ABI 1." + std::to_string(d->abi_minor) +
            ", newer than this fastappkit's 1." + std::to_string(FAK_ABI_MINOR),
        "upgrade fastappkit, or use a build of the plugin that needs at most ABI 1." + std::to_string(FAK_ABI_MINOR));
  if (text(d->name) != m.name)
    refuse(m.folder, "the library says its name is '" + text(d->name) + "' but plugin.toml says '" + m.name + "'",
           "the manifest and the library must come from the same build: rebuild the plugin");
  if (text(d->version) != m.version)
    refuse(m.folder, "the library says its version is " + text(d->version) + " but plugin.toml says " + m.version,
           "the manifest and the library must come from the same build: rebuild the plugin");

  // Copy everything out of the plugin's memory, then check it like a project's own files.
  for (uint64_t i = 0; i < d->step_count; ++i) {
    p.step_names.push_back(text(d->steps[i].name));
    p.library->steps[p.step_names.back()] = d->steps[i].run;
  }
  const std::string where = (m.folder / m.library).string() + ":";
  p.models_text = text(d->models);
  try {
    p.models = migration::parse_models(p.models_text, where + "models.toml", m.name);
    std::vector<migration::Migration> migrations;
    std::vector<std::string> errors;
    for (uint64_t i = 0; i < d->migration_count; ++i) {
      try {
        migrations.push_back(
            cache->parse(text(d->migrations[i].text), where + text(d->migrations[i].name), {.allow_call = true}));
      } catch (const Error& e) {
        errors.push_back(std::string(e.what()) + (e.hint().empty() ? "" : "\n  hint: " + e.hint()));
      }
    }
    if (!errors.empty())
      throw Error(ErrorKind::input, util::join(errors, "\n"), "fix the plugin's revision files and rebuild it");
    p.graph = std::make_unique<migration::RevisionGraph>(std::move(migrations));
    cache->validate(*p.graph, {.foreign_tables_allowed = true});
  } catch (const Error& e) {
    refuse(m.folder, std::string("invalid embedded files:\n") + e.what(), e.hint());
  }
  for (const auto& mig : p.graph->migrations())
    for (const auto* ops : {&mig.upgrade, &mig.downgrade})
      for (const auto& op : *ops) {
        if (op.kind == migration::OpKind::call && !p.library->steps.count(op.extra().function))
          refuse(m.folder,
                 mig.path + ":" + std::to_string(op.line) + ": call names C++ step '" + op.extra().function +
                     "', which the plugin does not register",
                 p.step_names.empty() ? "the plugin registers no steps (FASTAPPKIT_STEP)"
                                      : "its steps: " + util::join(p.step_names, ", "));
        if (op.kind == migration::OpKind::execute)
          for (const auto& [dialect, sql] : op.extra().sql) {
            std::string lower = sql;
            std::transform(lower.begin(), lower.end(), lower.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            if (lower.find("alembic_version") != std::string::npos ||
                lower.find("fastappkit_history") != std::string::npos)
              refuse(m.folder, mig.path + ":" + std::to_string(op.line) + ": SQL touches a version table",
                     "a plugin's version table (" + p.version_table() + ") is managed by fastappkit; remove that SQL");
          }
      }
  for (const auto& t : migration::tables_named(*p.graph))
    if (is_bookkeeping(t))
      refuse(m.folder, "its migrations use table '" + t + "', which belongs to fastappkit's bookkeeping",
             "a plugin's version table (" + p.version_table() + ") is managed by fastappkit; rename the table");
  return p;
}

}  // namespace fastappkit::plugin
