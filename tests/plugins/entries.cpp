// Entries of deliberately broken plugins, written by hand with the C ABI (built with
// fastappkit_add_plugin(... NO_ENTRY) so the embedded files are still there).
#include <fastappkit/plugin.hpp>
#include <stdexcept>

extern const fak_string fak_embedded_models;
extern const fak_file* const fak_embedded_files;
extern const uint64_t fak_embedded_file_count;

namespace {
fak_plugin_descriptor make(const char* name, uint16_t major, uint16_t minor) {
  fak_plugin_descriptor d{};
  d.magic = FAK_PLUGIN_MAGIC;
  d.abi_major = major;
  d.abi_minor = minor;
  d.struct_size = sizeof(fak_plugin_descriptor);
  d.name = {name, std::char_traits<char>::length(name)};
  d.version = {"1.0.0", 5};
  d.models = fak_embedded_models;
  d.migrations = fak_embedded_files;
  d.migration_count = fak_embedded_file_count;
  return d;
}
}  // namespace

#if defined(BROKEN_SYMBOL_V2)
// Exports only the entry of ABI major 2.
extern "C" FAK_EXPORT const fak_plugin_descriptor* fastappkit_plugin_v2(const fak_host_api*, fak_host*) {
  static fak_plugin_descriptor d = make("broken_symbol_v2", 2, 0);
  return &d;
}
#elif defined(BROKEN_DESCRIPTOR_V2)
extern "C" FAK_EXPORT const fak_plugin_descriptor* FAK_ENTRY_NAME(const fak_host_api*, fak_host*) {
  static fak_plugin_descriptor d = make("broken_descriptor_v2", 2, 0);
  return &d;
}
#elif defined(BROKEN_MINOR)
extern "C" FAK_EXPORT const fak_plugin_descriptor* FAK_ENTRY_NAME(const fak_host_api*, fak_host*) {
  static fak_plugin_descriptor d = make("broken_minor", FAK_ABI_MAJOR, 99);
  return &d;
}
#elif defined(BROKEN_SMALL)
extern "C" FAK_EXPORT const fak_plugin_descriptor* FAK_ENTRY_NAME(const fak_host_api*, fak_host*) {
  static fak_plugin_descriptor d = make("broken_small", FAK_ABI_MAJOR, 0);
  d.struct_size = 16;
  return &d;
}
#elif defined(BROKEN_THROWS)
namespace {
const fak_plugin_descriptor* init() { throw std::runtime_error("cannot read the currency table: connection refused"); }
}  // namespace
extern "C" FAK_EXPORT const fak_plugin_descriptor* FAK_ENTRY_NAME(const fak_host_api* api, fak_host* host) {
  try {
    return init();
  } catch (const std::exception& e) {
    ::fastappkit::plugin::detail::report(api, host, e.what());
  }
  return nullptr;
}
#elif defined(BROKEN_SILENT)
// Fails without a message.
extern "C" FAK_EXPORT const fak_plugin_descriptor* FAK_ENTRY_NAME(const fak_host_api*, fak_host*) { return nullptr; }
#elif defined(ABI_NEWER)
// Built as if by a newer SDK: it needs one minor more than this host has.
extern "C" FAK_EXPORT const fak_plugin_descriptor* FAK_ENTRY_NAME(const fak_host_api*, fak_host*) {
  static fak_plugin_descriptor d = make("abi_newer", FAK_ABI_MAJOR, FAK_ABI_MINOR + 1);
  return &d;
}
#elif defined(BROKEN_NO_ENTRY)
// No entry at all: only an unrelated export.
extern "C" FAK_EXPORT int not_a_fastappkit_plugin(void) { return 42; }
#endif
