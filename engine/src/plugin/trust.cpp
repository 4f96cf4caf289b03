// Discovery and trust (SPEC §7): plugin folders found, their manifests read, and every path the
// engine is about to load checked (owners, modes, where symbolic links lead, the sha256 pin)
// before anything opens a library.
#include <dlfcn.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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
#include "fastappkit/plugin/host.hpp"
#include "refuse.hpp"

namespace fastappkit::plugin {

namespace fs = std::filesystem;

namespace {

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

// OpenSSL's libcrypto (the system's libcrypto.so.3; the package depends on libssl3) is opened
// when a sha256 pin is checked, not at process start: linked, it costs every command about
// 2.5 ms before main (measured on the reference machine: docs/perf-start.md).
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
    // Every entry is looked at with error codes: a symlink loop or a folder that cannot be read
    // is reported as that entry's error (an app that needs it fails with it; otherwise it is a
    // warning), never as a raw filesystem error that would stop every command.
    std::vector<fs::path> folders;
    std::vector<Found> unreadable;
    auto cannot_read = [&](const fs::path& what, const std::error_code& why) {
      unreadable.push_back(
          {what, std::nullopt,
           Error(ErrorKind::input, "plugin folder " + what.string() + " cannot be read: " + why.message(),
                 "fix it (a broken symbolic link, a loop, or permissions) or remove it from " + dir.string())});
    };
    fs::directory_iterator it(dir, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      std::error_code entry_ec;
      const bool folder = it->is_directory(entry_ec);
      if (entry_ec) {
        cannot_read(it->path(), entry_ec);
        continue;
      }
      if (!folder) continue;
      const bool manifest = fs::exists(it->path() / "plugin.toml", entry_ec);
      if (entry_ec)
        cannot_read(it->path(), entry_ec);
      else if (manifest)
        folders.push_back(it->path());
    }
    if (ec) cannot_read(dir, ec);  // the listing itself failed (at its start or part way)
    std::sort(folders.begin(), folders.end());
    for (auto& u : unreadable) out.push_back(std::move(u));
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
}  // namespace fastappkit::plugin
