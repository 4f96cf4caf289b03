// Mutation fuzzing of every parser a person or a plugin feeds: seeded random byte edits of
// valid inputs must either parse or be refused with fastappkit::Error: never crash, hang or
// throw anything else. (Run under FASTAPPKIT_SANITIZE=address;undefined for memory errors.)
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "fastappkit/config/database_url.hpp"
#include "fastappkit/config/project.hpp"
#include "fastappkit/error.hpp"
#include "fastappkit/migration/graph.hpp"
#include "fastappkit/migration/migration_file.hpp"
#include "fastappkit/migration/models.hpp"
#include "support.hpp"

namespace {

const char* kMigration = R"TOML(revision = "3f2a9c1b7d4e"
down_revision = ["a1b2c3d4e5f6", "b1b2c3d4e5f6"]
depends_on = []
message = "Add post model"
app = "blog"

[[upgrade]]
op = "create_table"
table = "posts"
columns = [
  { name = "id", type = "integer", primary_key = true },
  { name = "title", type = "string", length = 200, nullable = false, default = "'x'" },
  { name = "author_id", type = "integer", foreign_key = "users.id", on_delete = "cascade" },
  { name = "price", type = "numeric", precision = 10, scale = 2 },
]
unique = [ { name = "uq_posts_title", columns = ["title"] } ]

[[upgrade]]
op = "alter_column"
table = "posts"
column = "title"
type = "string"
length = 300
nullable = true
default = ""

[[upgrade]]
op = "execute"
sqlite = "SELECT 1"
postgresql = "SELECT 2"

[[downgrade]]
op = "create_foreign_key"
name = "fk"
table = "posts"
columns = ["author_id"]
references_table = "users"
references_columns = ["id"]
)TOML";

const char* kModels = R"TOML([[tables]]
name = "posts"
columns = [
  { name = "id", type = "integer", primary_key = true },
  { name = "title", type = "string", length = 200, nullable = false },
]
indexes = [ { name = "ix_posts_title", columns = ["title"], unique = true } ]
foreign_keys = [ { columns = ["id"], references_table = "posts", references_columns = ["id"] } ]
)TOML";

const char* kProject = R"TOML([tool.fastappkit]
apps = ["apps.blog", "payments"]
plugin_paths = ["plugins"]
[tool.fastappkit.migration]
order = ["payments", "blog"]
)TOML";

std::string mutate(std::string s, std::mt19937& rng) {
  static const std::string alphabet = "[]{}=\",'.\n #abc019_-\\\x01\xff";
  int edits = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < edits && !s.empty(); ++i) {
    std::size_t at = rng() % s.size();
    switch (rng() % 4) {
      case 0:
        s[at] = alphabet[rng() % alphabet.size()];
        break;
      case 1:
        s.erase(at, 1 + rng() % 8);
        break;
      case 2:
        s.insert(at, 1, alphabet[rng() % alphabet.size()]);
        break;
      default:
        s.insert(at, s.substr(rng() % s.size(), rng() % 16));
        break;
    }
  }
  return s;
}

// Runs `parse` on many mutations of `seed`; counts how many parsed and how many were refused.
template <class F>
void fuzz(const std::string& seed, unsigned seed_value, int rounds, F&& parse) {
  std::mt19937 rng(seed_value);
  int parsed = 0, refused = 0;
  for (int i = 0; i < rounds; ++i) {
    std::string input = mutate(seed, rng);
    if (const char* dump = std::getenv("FASTAPPKIT_FUZZ_DUMP"))
      std::ofstream(dump, std::ios::binary) << input;  // the input a crash died on
    try {
      parse(input);
      ++parsed;
    } catch (const fastappkit::Error& e) {
      ++refused;
      CHECK_FALSE(std::string(e.what()).empty());
    } catch (const std::exception& e) {
      FAIL_CHECK("round " << i << " threw a non-fastappkit exception: " << e.what() << "\ninput:\n" << input);
    }
  }
  // Both paths are exercised: some mutations still parse (so a parser that refuses everything
  // fails here), and some are refused with a message.
  CHECK_MESSAGE(parsed > 0, "no mutation of the seed parsed (" << refused << " refused)");
  CHECK_MESSAGE(refused > 0, "every mutation parsed");
}

}  // namespace

TEST_SUITE("fastappkit::fuzz") {
  TEST_CASE("revision files") {
    fuzz(kMigration, 1, 4000, [](const std::string& text) {
      auto m = fastappkit::migration::parse_migration(text, "3f2a9c1b7d4e_x.toml", {.allow_call = true});
      // What parses must also replay without throwing anything but Error.
      fastappkit::migration::Schema s;
      for (const auto& op : m.upgrade) fastappkit::migration::apply(s, op);
    });
  }

  TEST_CASE("models.toml") {
    fuzz(kModels, 2, 4000,
         [](const std::string& text) { fastappkit::migration::parse_models(text, "models.toml", "blog"); });
  }

  TEST_CASE("fastappkit.toml") {
    fuzz(kProject, 3, 4000,
         [](const std::string& text) { fastappkit::config::parse_project(text, "fastappkit.toml", "/proj"); });
  }

  TEST_CASE("database URLs") {
    for (const char* url :
         {"postgresql+asyncpg://app:p%40ss@[::1]:5432/db?sslmode=require&host=/tmp", "sqlite:////var/lib/app.db"}) {
      fuzz(url, 4, 4000, [](const std::string& text) {
        auto u = fastappkit::config::parse_database_url(text, "/proj");
        (void)u.redacted();
        (void)u.libpq_conninfo();
      });
    }
  }

  TEST_CASE(".env files") {
    unit::TempDir dir;
    fuzz("# c\nexport A='1'\nDATABASE_URL=\"sqlite:///app.db\" # x\nB=2\n", 5, 2000, [&](const std::string& text) {
      auto f = dir.write(".env", text);
      fastappkit::config::read_dotenv(f, "DATABASE_URL");
    });
  }

}  // TEST_SUITE

TEST_CASE("regression: a brace inside an array (toml++ 3.3.0 asserted here) is invalid TOML, not a crash") {
  auto e = unit::error_of([] {
    fastappkit::config::parse_project("[tool.fastappkit]\napps = [\n  \"a\",\n } \"b\"]\n", "fastappkit.toml", "/p");
  });
  REQUIRE(e);
  CHECK(e->kind() == fastappkit::ErrorKind::input);
  CHECK(unit::starts_with(e->what(), "fastappkit.toml:4:2: invalid TOML: "));
}
