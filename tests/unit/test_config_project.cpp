// fastappkit.toml parsing (SPEC §2).
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "fastappkit/config/project.hpp"
#include "fastappkit/error.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
using fastappkit::Error;
using fastappkit::ErrorKind;
using fastappkit::config::load_project;
using fastappkit::config::parse_project;
using fastappkit::config::ProjectConfig;

namespace {

using unit::contains;
using unit::error_of;
using unit::starts_with;
using unit::TempDir;

const std::string kPath = "/proj/fastappkit.toml";

std::optional<Error> project_error(const std::string& text) {
  return error_of([&] { parse_project(text, kPath, "/proj"); });
}

}  // namespace

TEST_SUITE("fastappkit::config") {
  TEST_CASE("parse_project reads apps, plugin_paths and migration.order") {
    const std::string text =
        "[tool.fastappkit]\n"
        "apps = [\"apps.auth\", \"apps.blog\", \"payments\", \"audit\"]\n"
        "plugin_paths = [\"plugins\", \"vendor/plugins\"]\n"
        "\n"
        "[tool.fastappkit.migration]\n"
        "order = [\"audit\", \"apps.blog\"]\n";
    ProjectConfig cfg = parse_project(text, kPath, "/proj");

    CHECK(cfg.root == fs::path("/proj"));
    CHECK(cfg.config_path == fs::path(kPath));
    REQUIRE(cfg.apps.size() == 4);
    CHECK(cfg.apps[0].name == "auth");
    CHECK(cfg.apps[0].internal);
    CHECK(cfg.apps[1].name == "blog");
    CHECK(cfg.apps[1].internal);
    CHECK(cfg.apps[2].name == "payments");
    CHECK_FALSE(cfg.apps[2].internal);
    CHECK(cfg.apps[3].name == "audit");
    CHECK_FALSE(cfg.apps[3].internal);
    // Where each entry is written, for later messages.
    CHECK(cfg.apps[0].line == 2);
    CHECK(cfg.apps[0].col == 9);
    CHECK(cfg.apps[1].line == 2);
    CHECK(cfg.apps[1].col == 22);

    CHECK(cfg.plugin_paths == std::vector<std::string>{"plugins", "vendor/plugins"});
    // "apps.blog" in order is the app "blog".
    CHECK(cfg.order == std::vector<std::string>{"audit", "blog"});

    std::vector<std::string> ordered;
    for (const auto& a : cfg.ordered_apps()) ordered.push_back(a.name);
    CHECK(ordered == std::vector<std::string>{"audit", "blog", "auth", "payments"});
    CHECK(cfg.internal_apps() == std::vector<std::string>{"blog", "auth"});
    CHECK(cfg.external_apps() == std::vector<std::string>{"audit", "payments"});

    CHECK(cfg.migrations_dir() == fs::path("/proj/core/db/migrations"));
    CHECK(cfg.versions_dir() == fs::path("/proj/core/db/migrations/versions"));
  }

  TEST_CASE("parse_project defaults: plugins folder, apps order, no apps") {
    ProjectConfig cfg =
        parse_project("[tool.fastappkit]\napps = [\"payments\", \"apps.blog\", \"audit\"]\n", kPath, "/proj");
    CHECK(cfg.plugin_paths == std::vector<std::string>{"plugins"});
    CHECK(cfg.order.empty());
    std::vector<std::string> ordered;
    for (const auto& a : cfg.ordered_apps()) ordered.push_back(a.name);
    CHECK(ordered == std::vector<std::string>{"payments", "blog", "audit"});
    CHECK(cfg.internal_apps() == std::vector<std::string>{"blog"});
    CHECK(cfg.external_apps() == std::vector<std::string>{"payments", "audit"});

    ProjectConfig empty = parse_project("[tool.fastappkit]\n", kPath, "/proj");
    CHECK(empty.apps.empty());
    CHECK(empty.ordered_apps().empty());
  }

  TEST_CASE("parse_project accepts an app name of exactly 48 characters") {
    const std::string name48 = "a" + std::string(47, 'b');
    REQUIRE(name48.size() == 48);
    ProjectConfig cfg = parse_project("[tool.fastappkit]\napps = [\"" + name48 + "\", \"x_1\"]\n", kPath, "/proj");
    REQUIRE(cfg.apps.size() == 2);
    CHECK(cfg.apps[0].name == name48);
    CHECK(cfg.apps[1].name == "x_1");
  }

  TEST_CASE("parse_project: invalid TOML names path:line:col and shows a caret") {
    auto e = project_error("[tool.fastappkit]\napps = [\"a\" \"b\"]\n");
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::input);
    const std::string msg = e->what();
    CHECK(starts_with(msg, kPath + ":2:"));
    CHECK(contains(msg, "invalid TOML"));
    CHECK(contains(msg, "\n    apps = [\"a\" \"b\"]\n    "));
    CHECK(msg.back() == '^');
    CHECK_FALSE(e->hint().empty());
  }

  TEST_CASE("parse_project: missing [tool.fastappkit]") {
    auto e = project_error("[tool.other]\nx = 1\n");
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::input);
    CHECK(std::string(e->what()) == kPath + ": missing [tool.fastappkit] table");
    CHECK(contains(e->hint(), "[tool.fastappkit]"));

    auto empty = project_error("");
    REQUIRE(empty);
    CHECK(contains(empty->what(), "missing [tool.fastappkit]"));
  }

  TEST_CASE("parse_project: unknown keys are refused with a did-you-mean hint") {
    SUBCASE("in [tool.fastappkit]") {
      auto e = project_error("[tool.fastappkit]\napps = []\nplugin_path = [\"x\"]\n");
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(starts_with(e->what(), kPath + ":3:1: unknown key 'plugin_path' in [tool.fastappkit]"));
      CHECK(contains(e->what(), "\n    plugin_path = [\"x\"]\n    ^"));
      CHECK(e->hint() == "did you mean 'plugin_paths'?");
    }
    SUBCASE("in [tool.fastappkit.migration]") {
      auto e = project_error("[tool.fastappkit]\napps = [\"blog\"]\n[tool.fastappkit.migration]\nordr = [\"blog\"]\n");
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(starts_with(e->what(), kPath + ":4:1: unknown key 'ordr' in [tool.fastappkit.migration]"));
      CHECK(e->hint() == "did you mean 'order'?");
    }
    SUBCASE("far from any known key: the hint lists the allowed keys") {
      auto e = project_error("[tool.fastappkit]\nzzzzzzzzzz = 1\n");
      REQUIRE(e);
      CHECK(starts_with(e->what(), kPath + ":2:1: unknown key 'zzzzzzzzzz'"));
      CHECK(e->hint() == "allowed keys: apps, plugin_paths, migration, plugins");
    }
    SUBCASE("at the top level") {
      auto e = project_error("name = \"x\"\n[tool.fastappkit]\napps = []\n");
      REQUIRE(e);
      CHECK(starts_with(e->what(), kPath + ":1:1: unknown top-level key 'name'"));
    }
  }

  TEST_CASE("parse_project: invalid app names") {
    SUBCASE("upper case") {
      auto e = project_error("[tool.fastappkit]\napps = [\"apps.Blog\"]\n");
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(starts_with(e->what(), kPath + ":2:9: invalid app name 'Blog'"));
      CHECK(contains(e->hint(), "[a-z][a-z0-9_]*"));
    }
    SUBCASE("starts with a digit") {
      auto e = project_error("[tool.fastappkit]\napps = [\"ok\", \"1app\"]\n");
      REQUIRE(e);
      CHECK(starts_with(e->what(), kPath + ":2:15: invalid app name '1app'"));
    }
    SUBCASE("a dash") {
      auto e = project_error("[tool.fastappkit]\napps = [\"my-app\"]\n");
      REQUIRE(e);
      CHECK(contains(e->what(), "invalid app name 'my-app'"));
    }
    SUBCASE("empty internal name") {
      auto e = project_error("[tool.fastappkit]\napps = [\"apps.\"]\n");
      REQUIRE(e);
      CHECK(contains(e->what(), "invalid app name ''"));
    }
    SUBCASE("longer than 48 characters") {
      const std::string name49 = std::string(49, 'a');
      auto e = project_error("[tool.fastappkit]\napps = [\"" + name49 + "\"]\n");
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(starts_with(e->what(), kPath + ":2:9: invalid app name '" + name49 + "'"));
      CHECK(contains(e->hint(), "48"));
    }
    SUBCASE("not a string") {
      auto e = project_error("[tool.fastappkit]\napps = [1]\n");
      REQUIRE(e);
      CHECK(starts_with(e->what(), kPath + ":2:9: apps item must be a string"));
    }
    SUBCASE("apps not an array") {
      auto e = project_error("[tool.fastappkit]\napps = \"blog\"\n");
      REQUIRE(e);
      CHECK(starts_with(e->what(), kPath + ":2:8: apps must be an array of strings"));
    }
  }

  TEST_CASE("parse_project: duplicate app, internal and external spelling alike") {
    auto e = project_error("[tool.fastappkit]\napps = [\"apps.blog\", \"payments\",\n  \"blog\"]\n");
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::input);
    CHECK(starts_with(e->what(), kPath + ":3:3: duplicate app 'blog'"));
    CHECK(contains(e->what(), "\n      \"blog\"]\n      ^"));
  }

  TEST_CASE("parse_project: migration.order errors") {
    SUBCASE("unknown app, with a did-you-mean hint") {
      auto e = project_error(
          "[tool.fastappkit]\napps = [\"apps.blog\", \"audit\"]\n[tool.fastappkit.migration]\norder = [\"audit\", "
          "\"blogg\"]\n");
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(starts_with(e->what(), kPath + ":4:19: migration.order names unknown app 'blogg'"));
      CHECK(e->hint() == "did you mean 'blog'?");
    }
    SUBCASE("unknown app far from any name") {
      auto e =
          project_error("[tool.fastappkit]\napps = [\"blog\"]\n[tool.fastappkit.migration]\norder = [\"zzzzzzzz\"]\n");
      REQUIRE(e);
      CHECK(starts_with(e->what(), kPath + ":4:10: migration.order names unknown app 'zzzzzzzz'"));
      CHECK(contains(e->hint(), "listed in apps"));
    }
    SUBCASE("the same app twice, in either spelling") {
      auto e = project_error(
          "[tool.fastappkit]\napps = [\"apps.blog\", \"audit\"]\n[tool.fastappkit.migration]\norder = [\"blog\", "
          "\"apps.blog\"]\n");
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(starts_with(e->what(), kPath + ":4:18: app 'blog' appears twice in migration.order"));
    }
    SUBCASE("order is not an array") {
      auto e = project_error("[tool.fastappkit]\napps = [\"blog\"]\n[tool.fastappkit.migration]\norder = \"blog\"\n");
      REQUIRE(e);
      CHECK(starts_with(e->what(), kPath + ":4:9: migration.order must be an array of app names"));
    }
  }

  TEST_CASE("load_project: a missing fastappkit.toml") {
    TempDir tmp;
    auto e = error_of([&] { load_project(tmp.path); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::input);
    CHECK(std::string(e->what()) == "Configuration file not found: " + (tmp.path / "fastappkit.toml").string());
    CHECK(contains(e->hint(), "-C"));
    CHECK(contains(e->hint(), "project root"));

    // A folder that does not exist at all.
    auto missing = error_of([&] { load_project(tmp.path / "nope"); });
    REQUIRE(missing);
    CHECK(std::string(missing->what()) ==
          "Configuration file not found: " + (tmp.path / "nope" / "fastappkit.toml").string());
  }

  TEST_CASE("load_project reads <dir>/fastappkit.toml and names it in errors") {
    TempDir tmp;
    const fs::path file = tmp.path / "fastappkit.toml";
    {
      std::ofstream out(file);
      out << "[tool.fastappkit]\napps = [\"apps.blog\"]\n";
    }
    ProjectConfig cfg = load_project(tmp.path);
    CHECK(cfg.root == tmp.path);
    CHECK(cfg.config_path == file);
    REQUIRE(cfg.apps.size() == 1);
    CHECK(cfg.apps[0].name == "blog");

    {
      std::ofstream out(file);
      out << "[tool.fastappkit]\napps = [\"apps.blog\"]\nextensions = []\n";
    }
    auto e = error_of([&] { load_project(tmp.path); });
    REQUIRE(e);
    CHECK(starts_with(e->what(), file.string() + ":3:1: unknown key 'extensions'"));
  }

  TEST_CASE("parse_project: plugin pins and plugin_paths inside the project") {
    const std::string pin(64, 'a');
    SUBCASE("a pin per external app, lowercased, with its position") {
      ProjectConfig cfg = parse_project(
          "[tool.fastappkit]\napps = [\"apps.blog\", \"payments\"]\n[tool.fastappkit.plugins.payments]\nsha256 = \"" +
              std::string(64, 'A') + "\"\n",
          kPath, "/proj");
      REQUIRE(cfg.plugin_pins.count("payments") == 1);
      CHECK(cfg.plugin_pins.at("payments").sha256 == pin);
      CHECK(cfg.plugin_pins.at("payments").line == 4);
      CHECK(cfg.plugin_pins.at("payments").col == 10);
    }
    struct Bad {
      std::string text, expected, hint;
    };
    for (const auto& b : std::vector<Bad>{
             {"apps = [\"payments\"]\n[tool.fastappkit.plugins.payments]\nsha256 = \"xyz\"\n",
              ":4:10: sha256 of plugin 'payments' is not 64 hexadecimal digits",
              "copy the value that 'fastappkit app validate payments' prints"},
             {"apps = [\"payments\"]\n[tool.fastappkit.plugins.paymnets]\nsha256 = \"" + pin + "\"\n",
              ":3:26: [tool.fastappkit.plugins.paymnets] names no external app of this project",
              "did you mean 'payments'?"},
             {"apps = [\"apps.blog\"]\n[tool.fastappkit.plugins.blog]\nsha256 = \"" + pin + "\"\n",
              "names no external app of this project", "pins are for external apps listed in apps"},
             {"apps = [\"payments\"]\n[tool.fastappkit.plugins.payments]\n",
              "[tool.fastappkit.plugins.payments] needs 'sha256'", "fastappkit app validate payments prints it"},
             {"apps = [\"payments\"]\n[tool.fastappkit.plugins.payments]\nsha256 = \"" + pin + "\"\nsha512 = \"\"\n",
              ":5:1: unknown key 'sha512'", ""},
             {"apps = []\nplugin_paths = [\"/opt/plugins\"]\n",
              ":3:17: plugin_paths entry '/opt/plugins' is outside the project root", ""},
             {"apps = []\nplugin_paths = [\"plugins\", \"../shared/plugins\"]\n",
              ":3:28: plugin_paths entry '../shared/plugins' is outside the project root", ""},
             {"apps = []\nplugin_paths = [\"a/../../b\"]\n",
              "plugin_paths entry 'a/../../b' is outside the project root", ""},
             {"apps = []\nplugin_paths = [\"\"]\n", "plugin_paths entry '' is outside the project root", ""},
         }) {
      CAPTURE(b.text);
      auto e = project_error("[tool.fastappkit]\n" + b.text);
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK_MESSAGE(contains(e->what(), b.expected), e->what());
      if (!b.hint.empty()) CHECK(e->hint() == b.hint);
    }
    ProjectConfig ok = parse_project(
        "[tool.fastappkit]\napps = []\nplugin_paths = [\"plugins\", \"vendor/../more\", \"./x\"]\n", kPath, "/proj");
    CHECK(ok.plugin_paths.size() == 3);
  }

}  // TEST_SUITE
