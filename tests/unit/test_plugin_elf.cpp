// exported_symbols(): the dynamic symbol table of a shared library, read from the file with
// bounds checks (plugin/host.cpp), on a real library and on damaged copies of it.
#include <doctest/doctest.h>
#include <elf.h>
#include <link.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastappkit/plugin/host.hpp"

namespace fs = std::filesystem;
using fastappkit::plugin::exported_symbols;

namespace {

// The C library this test runs with: a real, stripped shared object that every system has.
fs::path libc_path() {
  std::string found;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        std::string name = info->dlpi_name ? info->dlpi_name : "";
        if (name.find("/libc.so") != std::string::npos) *static_cast<std::string*>(out) = name;
        return 0;
      },
      &found);
  REQUIRE_MESSAGE(!found.empty(), "libc.so is not loaded in this process");
  return found;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct TempFile {
  fs::path path = fs::temp_directory_path() / ("fastappkit-elf-" + std::to_string(std::random_device{}()));
  explicit TempFile(const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }
  ~TempFile() {
    std::error_code ec;
    fs::remove(path, ec);
  }
};

std::string reason(const std::string& bytes) {
  TempFile f(bytes);
  try {
    exported_symbols(f.path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

TEST_SUITE("fastappkit::plugin") {
  TEST_CASE("exported_symbols: the defined, visible names of .dynsym, which strip keeps") {
    const auto names = exported_symbols(libc_path());
    CHECK(contains(names, "malloc"));
    CHECK(contains(names, "printf"));
    CHECK(contains(names, "dlopen"));
    CHECK_FALSE(contains(names, ""));
    // Undefined references are not exports: libc imports these from the dynamic loader.
    CHECK_FALSE(contains(names, "__tls_get_addr"));
    CHECK_FALSE(contains(names, "__libc_stack_end"));
  }

  TEST_CASE("exported_symbols: a file that is not a 64-bit ELF shared object of this machine is refused, saying why") {
    const std::string lib = read_bytes(libc_path());
    REQUIRE(lib.size() > sizeof(Elf64_Ehdr));
    CHECK(reason("") == "not an ELF file");
    CHECK(reason("#!/bin/sh\necho this is not a library, but it is long enough to hold an ELF header\n") ==
          "not an ELF file");
    std::string elf32 = lib;
    elf32[EI_CLASS] = ELFCLASS32;
    CHECK(reason(elf32) == "not a 64-bit little-endian ELF file");
    std::string exec = lib;
    Elf64_Ehdr eh;
    std::memcpy(&eh, exec.data(), sizeof eh);
    eh.e_type = ET_EXEC;
    std::memcpy(exec.data(), &eh, sizeof eh);
    CHECK(reason(exec) == "not an ELF shared object");
    std::memcpy(&eh, lib.data(), sizeof eh);
    std::string foreign = lib;
    eh.e_machine = EM_RISCV == EM_X86_64 ? EM_ARM : EM_RISCV;
    std::memcpy(foreign.data(), &eh, sizeof eh);
    CHECK(reason(foreign).rfind("built for another machine", 0) == 0);
    // The section headers are at the end of the file: a truncated copy cannot hold them.
    CHECK(reason(lib.substr(0, lib.size() / 2)) == "truncated ELF file");
    std::string far = lib;
    std::memcpy(&eh, lib.data(), sizeof eh);
    eh.e_shoff = ~0ULL - 8;
    std::memcpy(far.data(), &eh, sizeof eh);
    CHECK(reason(far) == "truncated ELF file");
  }

  TEST_CASE("exported_symbols: damaged section headers and symbols never read past the file") {
    const std::string lib = read_bytes(libc_path());
    Elf64_Ehdr eh;
    std::memcpy(&eh, lib.data(), sizeof eh);
    REQUIRE(eh.e_shoff + std::uint64_t{eh.e_shnum} * sizeof(Elf64_Shdr) <= lib.size());
    std::mt19937_64 rng(13);
    // Flip bytes inside the section header table (offsets, sizes, links, types): each copy is
    // read or refused with a reason, never a crash (run under the sanitizers in CI).
    for (int i = 0; i < 200; ++i) {
      std::string damaged = lib;
      const std::uint64_t table = eh.e_shoff, size = std::uint64_t{eh.e_shnum} * sizeof(Elf64_Shdr);
      for (int k = 0; k < 4; ++k) damaged[table + rng() % size] = static_cast<char>(rng());
      TempFile f(damaged);
      try {
        exported_symbols(f.path);
      } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()).size() > 0);
      }
    }
  }
}
