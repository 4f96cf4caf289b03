// Plugin discovery, checks and loading with Boost.DLL, and the host functions of the C ABI.
#include "fastappkit/plugin/host.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <fastappkit/plugin_abi.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pwd.h>
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

[[noreturn]] void refuse(const fs::path& folder, const std::string& what, const std::string& hint) {
  throw Error(ErrorKind::input, "plugin folder " + folder.string() + ": " + what, hint);
}

bool ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}

}  // namespace

// The placeholder convention of the C ABI (plugin_abi.h): `?` on both backends. PostgreSQL
// wants $1, $2, ...: each `?` outside string literals ('...', E'...'), quoted identifiers,
// comments (--, nested /* */) and dollar-quoted bodies ($$...$$, $tag$...$tag$) is numbered.
// `?|` and `?&` are JSONB operators and stay; `??` is the JSONB operator `?`. Without
// parameters nothing is rewritten.
std::string number_placeholders(std::string_view sql, std::size_t param_count) {
  if (param_count == 0) return std::string(sql);
  std::string out;
  std::size_t n = 0, i = 0;
  const std::size_t size = sql.size();
  auto copy_to = [&](std::size_t end) {
    end = std::min(end, size);
    out.append(sql.substr(i, end - i));
    i = end;
  };
  while (i < size) {
    const char c = sql[i];
    const char next = i + 1 < size ? sql[i + 1] : '\0';
    if (c == '-' && next == '-') {
      std::size_t e = sql.find('\n', i);
      copy_to(e == std::string_view::npos ? size : e);
    } else if (c == '/' && next == '*') {
      std::size_t j = i + 2;
      int depth = 1;
      while (j < size && depth > 0) {
        if (sql[j] == '/' && j + 1 < size && sql[j + 1] == '*')
          depth++, j += 2;
        else if (sql[j] == '*' && j + 1 < size && sql[j + 1] == '/')
          depth--, j += 2;
        else
          ++j;
      }
      copy_to(j);
    } else if (c == '\'' || c == '"') {
      // E'...' takes backslash escapes; elsewhere a doubled quote is the quote itself.
      const bool backslash =
          c == '\'' && i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') && (i < 2 || !ident_char(sql[i - 2]));
      std::size_t j = i + 1;
      while (j < size) {
        if (backslash && sql[j] == '\\') {
          j += 2;
        } else if (sql[j] == c) {
          if (j + 1 < size && sql[j + 1] == c)
            j += 2;
          else {
            ++j;
            break;
          }
        } else {
          ++j;
        }
      }
      copy_to(j);
    } else if (c == '$' && !(i > 0 && ident_char(sql[i - 1])) && !std::isdigit(static_cast<unsigned char>(next))) {
      std::size_t j = i + 1;
      while (j < size && ident_char(sql[j])) ++j;
      if (j < size && sql[j] == '$') {
        std::string_view tag = sql.substr(i, j - i + 1);
        std::size_t close = sql.find(tag, j + 1);
        copy_to(close == std::string_view::npos ? size : close + tag.size());
      } else {
        copy_to(i + 1);
      }
    } else if (c == '?' && (next == '|' || next == '&')) {
      copy_to(i + 2);
    } else if (c == '?' && next == '?') {
      out += '?';
      i += 2;
    } else if (c == '?') {
      out += "$" + std::to_string(++n);
      ++i;
    } else {
      copy_to(i + 1);
    }
  }
  if (n != param_count)
    throw std::invalid_argument("the statement has " + std::to_string(n) + " ? placeholder(s) but " +
                                std::to_string(param_count) +
                                " parameter(s) were given (write ?? for PostgreSQL's JSONB ? operator)");
  return out;
}

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

std::string user_name(uid_t uid) {
  struct passwd pw {};
  struct passwd* found = nullptr;
  char buf[1024];
  if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found)
    return std::string(found->pw_name) + " (uid " + std::to_string(uid) + ")";
  return "uid " + std::to_string(uid);
}

std::string octal_mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

bool within(const fs::path& inner, const fs::path& outer) {
  auto [o, i] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
  return o == outer.end();
}

// One path the engine is about to trust: a folder or file that only its owner can write, and
// whose owner is root or the user running fastappkit (anyone else could swap the code).
void check_owner_and_mode(const fs::path& folder, const fs::path& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    refuse(folder, "cannot read the permissions of " + what + " " + path.string(),
           "check that it exists and that fastappkit may read it");
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    std::string who = (st.st_mode & S_IWGRP) && (st.st_mode & S_IWOTH) ? "its group and by others"
                      : (st.st_mode & S_IWGRP)                         ? "its group"
                                                                       : "others";
    refuse(folder,
           "refusing to load: " + what + " " + path.string() + " is writable by " + who + " (mode " +
               octal_mode(st.st_mode) + "), so someone else could replace the code fastappkit would run",
           "chmod go-w " + path.string());
  }
  const uid_t me = ::geteuid();
  if (st.st_uid != 0 && st.st_uid != me)
    refuse(folder,
           "refusing to load: " + what + " " + path.string() + " is owned by " + user_name(st.st_uid) +
               ", neither root nor the user running fastappkit (" + user_name(me) + ")",
           "if you trust it, take it over: chown -R " + std::to_string(me) + " " + path.string() +
               "; otherwise remove it");
}

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

namespace {

// OpenSSL's libcrypto is opened when a sha256 pin is checked, not at process start: the other
// commands do not pay for loading and relocating it (docs/performance.md).
struct Libcrypto {
  decltype(&::EVP_MD_CTX_new) EVP_MD_CTX_new = nullptr;
  decltype(&::EVP_MD_CTX_free) EVP_MD_CTX_free = nullptr;
  decltype(&::EVP_sha256) EVP_sha256 = nullptr;
  decltype(&::EVP_DigestInit_ex) EVP_DigestInit_ex = nullptr;
  decltype(&::EVP_DigestUpdate) EVP_DigestUpdate = nullptr;
  decltype(&::EVP_DigestFinal_ex) EVP_DigestFinal_ex = nullptr;
};

const Libcrypto& libcrypto() {
  static const Libcrypto lib = [] {
    Libcrypto l;
    void* handle = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!handle) {
      const char* why = dlerror();
      throw Error(
          ErrorKind::failed,
          std::string("cannot load OpenSSL's libcrypto.so.3 to check a sha256 pin: ") + (why ? why : "unknown error"),
          "install it (apt-get install libssl3), then run the command again");
    }
    auto load = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(handle, name));
      if (!fn)
        throw Error(ErrorKind::failed, std::string("libcrypto.so.3 has no function ") + name,
                    "install OpenSSL 3's libssl3, then run the command again");
    };
    load(l.EVP_MD_CTX_new, "EVP_MD_CTX_new");
    load(l.EVP_MD_CTX_free, "EVP_MD_CTX_free");
    load(l.EVP_sha256, "EVP_sha256");
    load(l.EVP_DigestInit_ex, "EVP_DigestInit_ex");
    load(l.EVP_DigestUpdate, "EVP_DigestUpdate");
    load(l.EVP_DigestFinal_ex, "EVP_DigestFinal_ex");
    return l;  // the library stays open for the life of the process
  }();
  return lib;
}

}  // namespace

std::string sha256_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in)
    throw Error(ErrorKind::input, "cannot read " + file.string() + " to compute its SHA-256",
                "check that it exists and is readable");
  const Libcrypto& c = libcrypto();
  std::unique_ptr<EVP_MD_CTX, decltype(c.EVP_MD_CTX_free)> ctx(c.EVP_MD_CTX_new(), c.EVP_MD_CTX_free);
  if (!ctx || c.EVP_DigestInit_ex(ctx.get(), c.EVP_sha256(), nullptr) != 1)
    throw Error(ErrorKind::failed, "OpenSSL cannot compute a SHA-256");
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0 && c.EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(in.gcount())) != 1)
      throw Error(ErrorKind::failed, "OpenSSL cannot compute a SHA-256");
  }
  if (in.bad()) throw Error(ErrorKind::input, "error while reading " + file.string());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (c.EVP_DigestFinal_ex(ctx.get(), digest, &len) != 1)
    throw Error(ErrorKind::failed, "OpenSSL cannot compute a SHA-256");
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    char b[3];
    std::snprintf(b, sizeof b, "%02x", digest[i]);
    hex += b;
  }
  return hex;
}

void check_trust(const Manifest& m) {
  std::error_code ec;
  const fs::path container_written = m.container.empty() ? m.folder.parent_path() : m.container;
  const fs::path container = fs::canonical(container_written, ec);
  if (ec)
    refuse(m.folder, "cannot resolve its plugin_paths folder " + container_written.string() + ": " + ec.message(),
           "check that the folder exists");
  check_owner_and_mode(m.folder, container, "the plugin_paths folder");

  const fs::path folder = fs::canonical(m.folder, ec);
  if (ec) refuse(m.folder, "cannot resolve the plugin folder: " + ec.message(), "check that the folder exists");
  if (folder == container || !within(folder, container))
    refuse(m.folder,
           "refusing to load: the plugin folder resolves to " + folder.string() + ", outside its plugin_paths folder " +
               container.string() + " (through a symlink or ..)",
           "move the plugin folder itself inside " + container.string() + " (copy it there instead of linking to it)");
  check_owner_and_mode(m.folder, folder, "the plugin folder");
  check_owner_and_mode(m.folder, folder / "plugin.toml", "the manifest");

  const fs::path lib = m.folder / m.library;
  if (!fs::exists(lib, ec))
    refuse(m.folder, "library " + m.library + " named in plugin.toml does not exist",
           "rebuild the plugin, or fix library in plugin.toml");
  const fs::path real_lib = fs::canonical(lib, ec);
  if (ec)
    refuse(m.folder, "cannot resolve library " + lib.string() + ": " + ec.message(),
           "check the library and the links to it");
  if (!within(real_lib, container))
    refuse(m.folder,
           "refusing to load: library " + lib.string() + " resolves to " + real_lib.string() +
               ", outside the plugin_paths folder " + container.string() + " (through a symlink or ..)",
           "move the library itself inside the plugin folder " + m.folder.string() +
               " (copy it instead of linking to it)");
  if (!fs::is_regular_file(real_lib, ec))
    refuse(m.folder, "library " + m.library + " named in plugin.toml is not a regular file",
           "rebuild the plugin, or fix library in plugin.toml");
  check_owner_and_mode(m.folder, real_lib, "the library");
  if (real_lib.parent_path() != folder) check_owner_and_mode(m.folder, real_lib.parent_path(), "the library's folder");

  if (m.pin) {
    std::string actual = sha256_file(real_lib);
    if (actual != m.pin->sha256) {
      std::string where = m.config_path.string() + ":" + std::to_string(m.pin->line) + ":" + std::to_string(m.pin->col);
      refuse(m.folder,
             "refusing to load: library " + lib.string() + " has SHA-256 " + actual + ", but " + where + " pins " +
                 m.pin->sha256,
             "if this build is the one you mean to trust, update the pin: [tool.fastappkit.plugins." + m.name +
                 "] sha256 = \"" + actual + "\"; otherwise put back the pinned build");
    }
  }
}

std::string pin_status(const Manifest& m) {
  std::string actual = sha256_file(m.folder / m.library);
  std::string out = "sha256 " + actual;
  if (!m.pin)
    return out + " (not pinned; to pin it, add [tool.fastappkit.plugins." + m.name + "] sha256 = \"" + actual +
           "\" to fastappkit.toml)";
  std::string where = m.config_path.string() + ":" + std::to_string(m.pin->line) + ":" + std::to_string(m.pin->col);
  if (actual == m.pin->sha256) return out + " (matches the pin at " + where + ")";
  throw Error(
      ErrorKind::input,
      "library " + (m.folder / m.library).string() + " has " + out + ", but " + where + " pins " + m.pin->sha256,
      "if this build is the one you mean to trust, update the pin to " + actual);
}

Manifest read_manifest(const fs::path& folder) {
  fs::path file = folder / "plugin.toml";
  std::string content = util::read_file(file.string());
  util::TomlSource src{file.string(), content};
  toml::table doc = src.parse();
  src.check_keys(doc, {"name", "version", "library", "abi"}, "plugin.toml");
  toml::source_region top;
  top.begin = {1, 1};
  Manifest m;
  m.folder = folder;
  m.name = src.req_str(doc, "name", "plugin.toml", top);
  if (!util::is_valid_app_name(m.name))
    src.fail(doc.get("name")->source(), "plugin name '" + m.name + "' is not a valid app name",
             "names match [a-z][a-z0-9_]*, at most 48 characters");
  m.version = src.req_str(doc, "version", "plugin.toml", top);
  m.library = src.req_str(doc, "library", "plugin.toml", top);
  if (m.library.empty() || m.library.find('/') != std::string::npos)
    src.fail(doc.get("library")->source(), "library must be a file name in the plugin folder",
             "e.g. library = \"libpayments.so\"");
  std::string abi = src.req_str(doc, "abi", "plugin.toml", top);
  auto dot = abi.find('.');
  try {
    if (dot == std::string::npos) throw std::invalid_argument(abi);
    std::size_t used = 0;
    m.abi_major = std::stoi(abi.substr(0, dot), &used);
    m.abi_minor = std::stoi(abi.substr(dot + 1));
  } catch (const std::exception&) {
    src.fail(doc.get("abi")->source(), "abi '" + abi + "' is not MAJOR.MINOR", "e.g. abi = \"1.0\"");
  }
  return m;
}

std::vector<Found> discover_folders(const config::ProjectConfig& config) {
  std::vector<Found> out;
  std::error_code ec;
  const fs::path root = fs::canonical(config.root, ec);
  for (const auto& p : config.plugin_paths) {
    fs::path dir = config.root / p;
    if (!fs::is_directory(dir, ec)) continue;
    fs::path real = fs::canonical(dir, ec);
    if (ec || root.empty() || !within(real, root))
      throw Error(ErrorKind::input,
                  "plugin_paths folder " + dir.string() + " resolves to " + real.string() +
                      ", outside the project root " + config.root.string() + "; no plugin is loaded from it",
                  "plugin paths are folders inside the project: replace the link with the folder itself (move the "
                  "plugins into " +
                      dir.string() + ")");
    check_owner_and_mode(dir, real, "the plugin_paths folder");
    std::vector<fs::path> folders;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.is_directory() && fs::exists(e.path() / "plugin.toml")) folders.push_back(e.path());
    std::sort(folders.begin(), folders.end());
    for (const auto& f : folders) {
      try {
        Manifest m = read_manifest(f);
        m.container = dir;
        m.config_path = config.config_path;
        if (auto pin = config.plugin_pins.find(m.name); pin != config.plugin_pins.end()) m.pin = pin->second;
        out.push_back({f, std::move(m), std::nullopt});
      } catch (const Error& e) {
        out.push_back({f, std::nullopt, e});
      }
    }
  }
  return out;
}

std::vector<Manifest> discover(const config::ProjectConfig& config) {
  std::vector<Manifest> out;
  for (auto& f : discover_folders(config)) {
    if (f.error) throw *f.error;
    out.push_back(std::move(*f.manifest));
  }
  return out;
}

namespace {

#if defined(__x86_64__)
constexpr std::uint16_t kHostMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr std::uint16_t kHostMachine = EM_AARCH64;
#else
constexpr std::uint16_t kHostMachine = EM_NONE;  // not checked here; dlopen refuses a foreign one
#endif

// A library file read with pread at checked offsets: a truncated or hostile file is an error,
// never a read past its end.
class ElfFile {
 public:
  explicit ElfFile(const fs::path& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    struct stat st {};
    if (fd_ < 0 || ::fstat(fd_, &st) != 0)
      throw std::runtime_error(std::string("cannot read it: ") + std::strerror(errno));
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  ~ElfFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;
  std::uint64_t size() const { return size_; }
  void read(void* out, std::uint64_t length, std::uint64_t offset) const {
    if (offset > size_ || length > size_ - offset) throw std::runtime_error("truncated ELF file");
    auto* p = static_cast<char*>(out);
    while (length > 0) {
      ssize_t n = ::pread(fd_, p, length, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        throw std::runtime_error(std::string("cannot read it: ") + (n < 0 ? std::strerror(errno) : "end of file"));
      p += n;
      offset += static_cast<std::uint64_t>(n);
      length -= static_cast<std::uint64_t>(n);
    }
  }

 private:
  int fd_;
  std::uint64_t size_ = 0;
};

}  // namespace

std::vector<std::string> exported_symbols(const fs::path& library) {
  ElfFile f(library);
  Elf64_Ehdr eh{};
  if (f.size() < sizeof eh) throw std::runtime_error("not an ELF file");
  f.read(&eh, sizeof eh, 0);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) throw std::runtime_error("not an ELF file");
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
    throw std::runtime_error("not a 64-bit little-endian ELF file");
  if (eh.e_type != ET_DYN) throw std::runtime_error("not an ELF shared object");
  if (kHostMachine != EM_NONE && eh.e_machine != kHostMachine)
    throw std::runtime_error("built for another machine (ELF machine " + std::to_string(eh.e_machine) + ")");
  if (eh.e_shnum == 0) return {};
  if (eh.e_shentsize != sizeof(Elf64_Shdr)) throw std::runtime_error("unexpected ELF section header size");
  std::vector<Elf64_Shdr> sections(eh.e_shnum);
  f.read(sections.data(), sizeof(Elf64_Shdr) * sections.size(), eh.e_shoff);
  // The dynamic symbol table is what dlsym searches; `strip` keeps it (the full .symtab goes).
  auto dynsym =
      std::find_if(sections.begin(), sections.end(), [](const Elf64_Shdr& x) { return x.sh_type == SHT_DYNSYM; });
  if (dynsym == sections.end()) return {};
  if (dynsym->sh_entsize != sizeof(Elf64_Sym) || dynsym->sh_link >= sections.size() ||
      sections[dynsym->sh_link].sh_type != SHT_STRTAB)
    throw std::runtime_error("malformed ELF dynamic symbol table");
  const Elf64_Shdr& strtab = sections[dynsym->sh_link];
  if (strtab.sh_size > f.size() || dynsym->sh_size > f.size()) throw std::runtime_error("truncated ELF file");
  std::string names(strtab.sh_size, '\0');
  f.read(names.data(), names.size(), strtab.sh_offset);
  std::vector<Elf64_Sym> symbols(dynsym->sh_size / sizeof(Elf64_Sym));
  f.read(symbols.data(), sizeof(Elf64_Sym) * symbols.size(), dynsym->sh_offset);
  std::vector<std::string> out;
  for (const auto& sym : symbols) {
    const unsigned bind = ELF64_ST_BIND(sym.st_info), visibility = ELF64_ST_VISIBILITY(sym.st_other);
    if (sym.st_shndx == SHN_UNDEF || bind == STB_LOCAL || (visibility != STV_DEFAULT && visibility != STV_PROTECTED))
      continue;
    if (sym.st_name >= names.size()) throw std::runtime_error("malformed ELF symbol name");
    const std::size_t end = names.find('\0', sym.st_name);
    if (end == std::string::npos) throw std::runtime_error("malformed ELF symbol name");
    if (end > sym.st_name) out.push_back(names.substr(sym.st_name, end - sym.st_name));
  }
  return out;
}

void check_library(const Manifest& m) {
  check_trust(m);
  fs::path lib = m.folder / m.library;
  if (m.abi_major != FAK_ABI_MAJOR)
    refuse(m.folder,
           "plugin.toml says abi = \"" + std::to_string(m.abi_major) + "." + std::to_string(m.abi_minor) +
               "\"; this fastappkit speaks ABI " + std::to_string(FAK_ABI_MAJOR) + ".x",
           m.abi_major > FAK_ABI_MAJOR
               ? "upgrade fastappkit, or use a build of the plugin for ABI " + std::to_string(FAK_ABI_MAJOR)
               : "rebuild the plugin against this fastappkit's SDK");
  if (m.abi_minor > FAK_ABI_MINOR)
    refuse(
        m.folder,
        "the plugin needs ABI 1." + std::to_string(m.abi_minor) + ", newer than this fastappkit's 1." +
            std::to_string(FAK_ABI_MINOR),
        "upgrade fastappkit, or use a build of the plugin that needs at most ABI 1." + std::to_string(FAK_ABI_MINOR));
  std::vector<std::string> symbols;
  try {
    symbols = exported_symbols(lib);
  } catch (const std::exception& e) {
    refuse(m.folder, m.library + " is not a shared library this system can load (" + std::string(e.what()) + ")",
           "rebuild the plugin for this platform");
  }
  if (std::find(symbols.begin(), symbols.end(), FAK_ENTRY_SYMBOL) != symbols.end()) return;
  for (const auto& s : symbols) {
    if (s.rfind("fastappkit_plugin_v", 0) == 0)
      refuse(
          m.folder,
          m.library + " exports " + s + ", the entry of another ABI major; this fastappkit needs " + FAK_ENTRY_SYMBOL,
          "rebuild the plugin against this fastappkit's SDK");
  }
  refuse(m.folder, m.library + " does not export the entry symbol " + std::string(FAK_ENTRY_SYMBOL),
         "build the plugin with fastappkit_add_plugin() from the SDK (it generates the entry)");
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
