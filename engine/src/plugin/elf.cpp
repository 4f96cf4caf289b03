// The library checked before it is opened: an ELF shared object for this machine that exports
// the entry symbol, read with pread at checked offsets (never mapped, never run).
#include <elf.h>
#include <fastappkit/plugin_abi.h>
#include <fcntl.h>
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

#include "fastappkit/plugin/host.hpp"
#include "refuse.hpp"

namespace fastappkit::plugin {

namespace fs = std::filesystem;

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

}  // namespace fastappkit::plugin
