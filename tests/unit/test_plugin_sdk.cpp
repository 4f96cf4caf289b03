// The SDK's C++ layer (plugin-sdk/include/fastappkit/plugin.hpp) against a host table written
// here: what crosses the C ABI in each direction.
#include <doctest/doctest.h>

#include <cstdint>
#include <fastappkit/plugin.hpp>
#include <stdexcept>
#include <string>

namespace {

int rows_delivered = 0;
int32_t row_answer = -1;

// A host's query as the real one is: noexcept, so an exception thrown by the plugin's row
// callback through it ends the process (std::terminate) instead of reaching the plugin.
// The first row claims a value of 2^64 - 1 bytes: building its std::string throws
// std::length_error inside the callback before anything is allocated or read (the case
// was std::bad_alloc; any exception takes the same way, and this one is the same under
// AddressSanitizer, whose allocator aborts on a request it cannot serve). The second row is an
// ordinary one.
int32_t query_with_a_value_too_long(fak_host*, fak_string, const fak_string*, uint64_t, fak_row_fn on_row,
                                    void* user) noexcept {
  static const char byte = 'x';
  const fak_string huge{&byte, UINT64_MAX};
  const uint8_t not_null = 0;
  row_answer = on_row(user, &huge, &not_null, 1);
  ++rows_delivered;
  if (row_answer != 0) return 0;  // the plugin asked to stop: the host ends the query normally
  const fak_string small{&byte, 1};
  on_row(user, &small, &not_null, 1);
  ++rows_delivered;
  return 0;
}

int32_t query_two_rows(fak_host*, fak_string, const fak_string*, uint64_t, fak_row_fn on_row, void* user) noexcept {
  const fak_string values[2] = {{"a", 1}, {nullptr, 0}};
  const uint8_t nulls[2] = {0, 1};
  on_row(user, values, nulls, 2);
  on_row(user, values, nulls, 2);
  return 0;
}

fak_host_api api_with(decltype(fak_host_api::query) query) {
  fak_host_api api{};
  api.struct_size = sizeof(fak_host_api);
  api.abi_major = 1;
  api.abi_minor = 1;
  api.query = query;
  return api;
}

}  // namespace

TEST_SUITE("fastappkit::plugin SDK") {
  TEST_CASE("Host::query: rows come back as values, SQL NULL as nullopt") {
    const fak_host_api api = api_with(query_two_rows);
    fastappkit::plugin::Host host(&api, nullptr);
    const auto rows = host.query("SELECT a, b FROM t");
    REQUIRE(rows.size() == 2);
    CHECK(rows[0][0] == std::optional<std::string>("a"));
    CHECK_FALSE(rows[0][1].has_value());
  }

  TEST_CASE("Host::query: an exception in the row callback never crosses the host; it is thrown after") {
    rows_delivered = 0;
    row_answer = -1;
    const fak_host_api api = api_with(query_with_a_value_too_long);
    fastappkit::plugin::Host host(&api, nullptr);
    CHECK_THROWS_AS(host.query("SELECT v FROM t"), std::length_error);
    CHECK(row_answer == 1);  // the callback caught it and told the host to stop
    CHECK(rows_delivered == 1);
  }
}
