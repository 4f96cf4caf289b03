// Declares that it needs ABI 1.0 (older than the host's), uses the 1.1 host function when the
// host has it, and checks that the SDK refuses a slot beyond the host table's struct_size
// instead of calling it. Registered by hand to see the host's raw table.
#include <cstddef>
#include <fastappkit/plugin.hpp>
#include <stdexcept>

namespace {
int32_t probe(const fak_host_api* api, fak_host* h, const fak_string*, uint64_t) noexcept {
  try {
    fastappkit::plugin::Host host(api, h);
    if (host.has_server_version())
      host.execute("INSERT INTO abi_older_notes (kind, note) VALUES (?, ?)", {"server_version", host.server_version()});
    // The table an ABI 1.0 host hands over ends before server_version.
    fak_host_api old = *api;
    old.struct_size = static_cast<uint32_t>(offsetof(fak_host_api, server_version));
    fastappkit::plugin::Host older(&old, h);
    try {
      older.server_version();
      host.execute("INSERT INTO abi_older_notes (kind, note) VALUES (?, ?)",
                   {"called", "server_version beyond struct_size"});
    } catch (const std::runtime_error& e) {
      host.execute("INSERT INTO abi_older_notes (kind, note) VALUES (?, ?)", {"refused", e.what()});
    }
    return 0;
  } catch (...) {
    return 1;
  }
}
const fastappkit::plugin::detail::Registrar probe_registrar{"probe", &probe};

// The placeholder convention through the real host: `?` bound on both backends, and on
// PostgreSQL no rewriting inside comments, literals and dollar quotes, nor without parameters.
FASTAPPKIT_STEP(placeholders) {
  auto note = [&](const std::string& kind, const std::string& value) {
    host.execute("INSERT INTO abi_older_notes (kind, note) VALUES (?, ? -- the note's text, isn't it?\n)",
                 {kind, value});
  };
  note("bound", host.query("SELECT ? || '?' || ?", {"a", "b"}).at(0).at(0).value_or("NULL"));
  if (host.dialect() == "postgresql") {
    note("jsonb", host.query("SELECT count(*) FROM (SELECT '{\"k\": 1}'::jsonb AS d) t WHERE d ? 'k'")
                      .at(0)
                      .at(0)
                      .value_or("NULL"));
    note("jsonb_param",
         host.query("SELECT count(*) FROM (SELECT '{\"k\": 1}'::jsonb AS d) t WHERE d ?? ? AND d ?| array['k']", {"k"})
             .at(0)
             .at(0)
             .value_or("NULL"));
    host.execute("DO $$ BEGIN PERFORM '?'; END $$");
    note("dollar", host.query("SELECT $q$?$q$ || ?", {"x"}).at(0).at(0).value_or("NULL"));
  }
  try {
    host.query("SELECT ?, ?", {"only one"});
    note("mismatch", "accepted");
  } catch (const std::exception&) {
    note("mismatch", "refused");
  }
}
}  // namespace
