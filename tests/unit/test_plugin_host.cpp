// The plugin host's placeholder convention for PostgreSQL (plugin_abi.h): `?` numbered as
// $1, $2, ... only where PostgreSQL would read a parameter.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "fastappkit/plugin/host.hpp"

using fastappkit::plugin::number_placeholders;

TEST_SUITE("fastappkit::plugin") {
  TEST_CASE("number_placeholders: `?` outside literals, identifiers, comments and dollar quotes") {
    CHECK(number_placeholders("INSERT INTO t (a, b) VALUES (?, ?)", 2) == "INSERT INTO t (a, b) VALUES ($1, $2)");
    CHECK(number_placeholders("SELECT '?', \"?\", ? FROM t", 1) == "SELECT '?', \"?\", $1 FROM t");
    CHECK(number_placeholders("SELECT 'it''s ?', ?", 1) == "SELECT 'it''s ?', $1");
    CHECK(number_placeholders(R"(SELECT E'\'?', ?)", 1) == R"(SELECT E'\'?', $1)");
    // A comment holding a quote does not open a literal.
    CHECK(number_placeholders("SELECT ? -- what's this?\n, ?", 2) == "SELECT $1 -- what's this?\n, $2");
    CHECK(number_placeholders("SELECT /* a /* nested ? */ '? */ ?", 1) == "SELECT /* a /* nested ? */ '? */ $1");
    // Dollar-quoted bodies, with and without a tag, are left alone; $1 is not a tag.
    CHECK(number_placeholders("DO $$ BEGIN PERFORM '?'; END $$; SELECT ?", 1) ==
          "DO $$ BEGIN PERFORM '?'; END $$; SELECT $1");
    CHECK(number_placeholders("SELECT $fn$ ? $$ ? $fn$, ?", 1) == "SELECT $fn$ ? $$ ? $fn$, $1");
    // JSONB operators: ?| and ?& stay; ?? is the ? operator.
    CHECK(number_placeholders("SELECT doc ?| array['a'], doc ?& array['b'], doc ?? 'c' FROM t WHERE id = ?", 1) ==
          "SELECT doc ?| array['a'], doc ?& array['b'], doc ? 'c' FROM t WHERE id = $1");
  }

  TEST_CASE("number_placeholders: nothing is rewritten without parameters") {
    const std::string jsonb = "SELECT count(*) FROM t WHERE doc ? 'key'";
    CHECK(number_placeholders(jsonb, 0) == jsonb);
    CHECK(number_placeholders("SELECT '?' -- ?", 0) == "SELECT '?' -- ?");
  }

  TEST_CASE("number_placeholders: the count of placeholders must match the parameters") {
    CHECK_THROWS_WITH_AS(number_placeholders("SELECT ?, ?", 1),
                         "the statement has 2 ? placeholder(s) but 1 parameter(s) were given (write ?? for "
                         "PostgreSQL's JSONB ? operator)",
                         std::invalid_argument);
    CHECK_THROWS_AS(number_placeholders("SELECT doc ? 'k' FROM t WHERE id = ?", 1), std::invalid_argument);
    CHECK_THROWS_AS(number_placeholders("SELECT 1", 1), std::invalid_argument);
  }

}  // TEST_SUITE
