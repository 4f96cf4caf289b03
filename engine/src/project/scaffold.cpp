// Scaffolding: a project, an internal app, or an external app's plugin source folder.
// Nothing existing is ever overwritten.
#include "fastappkit/project/scaffold.hpp"

#include <fstream>

#include "../util/toml_support.hpp"
#include "fastappkit/config/project.hpp"
#include "fastappkit/error.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::project {

namespace fs = std::filesystem;

namespace {

void write_new(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  if (fs::exists(file)) throw Error(ErrorKind::failed, "refusing to overwrite " + file.string());
  std::ofstream out(file, std::ios::binary);
  out << text;
  if (!out) throw Error(ErrorKind::failed, "cannot write " + file.string(), "check the folder's permissions");
}

void require_valid_name(const std::string& name) {
  if (!util::is_valid_app_name(name))
    throw Error(ErrorKind::usage, "invalid name '" + name + "'",
                "names match [a-z][a-z0-9_]* and have at most 48 characters");
  if (name == "core")
    throw Error(ErrorKind::usage, "'core' is reserved: it names the project's own models and migrations",
                "choose another name");
}

fs::path fresh_folder(const fs::path& parent, const std::string& name) {
  require_valid_name(name);
  fs::path dir = fs::absolute(parent / name).lexically_normal();
  if (fs::exists(dir))
    throw Error(ErrorKind::usage, dir.string() + " already exists", "choose another name, or remove that folder first");
  return dir;
}

const char* kModelsHelp =
    "# Models: one [[tables]] entry per table (see models.md in /usr/share/doc/fastappkit/ once the\n"
    "# package is installed, or docs/models.md in the source). Example:\n"
    "#\n"
    "# [[tables]]\n"
    "# name = \"posts\"\n"
    "# columns = [\n"
    "#   { name = \"id\", type = \"integer\", primary_key = true },\n"
    "#   { name = \"title\", type = \"string\", length = 200, nullable = false },\n"
    "# ]\n";

// Adds "apps.<name>" to the apps array of fastappkit.toml by editing its text, so every other
// line, comments included, stays as the user wrote it.
std::string add_internal_app(const std::string& text, const std::string& path, const std::string& name) {
  util::TomlSource src{path, text};
  toml::table doc = src.parse();
  auto tool = doc["tool"]["fastappkit"].as_table();
  if (!tool) throw Error(ErrorKind::input, path + ": missing [tool.fastappkit] table", "add one with apps = []");
  std::vector<std::size_t> line_start{0};
  for (std::size_t i = 0; i < text.size(); ++i)
    if (text[i] == '\n') line_start.push_back(i + 1);
  auto offset = [&](const toml::source_position& p) { return line_start.at(p.line - 1) + p.column - 1; };
  const std::string entry = "\"apps." + name + "\"";
  if (auto apps = tool->get("apps")) {
    auto arr = apps->as_array();
    if (!arr) src.fail(apps->source(), "apps must be an array");
    for (const auto& e : *arr)
      if (auto s = e.value<std::string>(); s && (*s == "apps." + name || *s == name))
        src.fail(e.source(), "app '" + name + "' is already listed", "choose another name");
    // The region ends just past the closing bracket.
    std::size_t close = text.rfind(']', offset(apps->source().end) - 1);
    std::size_t before = text.find_last_not_of(" \t\r\n", close - 1);
    bool empty = text[before] == '[';
    bool trailing_comma = text[before] == ',';
    std::string insert = empty || trailing_comma ? entry : ", " + entry;
    return text.substr(0, before + 1) + (trailing_comma ? " " : "") + insert + text.substr(before + 1);
  }
  // No apps key yet: add one right under the [tool.fastappkit] header.
  std::size_t header = text.find("[tool.fastappkit]");
  if (header == std::string::npos)
    throw Error(ErrorKind::input, path + ": cannot find the [tool.fastappkit] header",
                "add apps = [\"apps." + name + "\"] by hand");
  std::size_t eol = text.find('\n', header);
  if (eol == std::string::npos) return text + "\napps = [" + entry + "]\n";
  return text.substr(0, eol + 1) + "apps = [" + entry + "]\n" + text.substr(eol + 1);
}

}  // namespace

fs::path new_project(const fs::path& parent, const std::string& name) {
  fs::path dir = fresh_folder(parent, name);
  write_new(dir / "fastappkit.toml",
            "# fastappkit project. Internal apps are written \"apps.<name>\", external apps (plugins) \"<name>\".\n"
            "[tool.fastappkit]\napps = []\nplugin_paths = [\"plugins\"]\n\n"
            "# [tool.fastappkit.migration]\n# order = []   # optional: the order external apps migrate in\n");
  write_new(dir / ".env",
            "# The database: SQLite next to this file by default; PostgreSQL: "
            "postgresql://user:pass@host:5432/db\nDATABASE_URL=sqlite:///app.db\n");
  write_new(dir / "core" / "models.toml", std::string("# Core models.\n") + kModelsHelp);
  write_new(dir / "core" / "db" / "migrations" / "versions" / ".gitkeep", "");
  write_new(dir / "apps" / ".gitkeep", "");
  write_new(dir / "plugins" / ".gitkeep", "");
  write_new(dir / ".gitignore", "*.db\n*.db-journal\n.fastappkit/\n");
  write_new(
      dir / "README.md",
      "# " + name +
          "\n\nA fastappkit project.\n\n"
          "- `core/models.toml`: core models; `apps/<name>/models.toml`: internal apps (`fastappkit app new <name>`).\n"
          "- `core/db/migrations/versions/`: revisions of core and internal apps (version table `alembic_version`).\n"
          "- `plugins/`: drop external apps' plugin folders here and list them in `fastappkit.toml`.\n\n"
          "```sh\nfastappkit migrate core -m \"Initial\"                    # after editing core/models.toml\n"
          "fastappkit migrate app <name> makemigrations -m \"...\"   # after editing an app's models\n"
          "fastappkit migrate all                                   # apply everything\n"
          "fastappkit migrate status\n```\n");
  return dir;
}

fs::path new_plugin_source(const fs::path& parent, const std::string& name) {
  // A plugin is developed on its own and dropped into projects once built: its source folder
  // inside a project root would be neither.
  if (fs::exists(parent / "fastappkit.toml"))
    throw Error(ErrorKind::usage,
                fs::absolute(parent).lexically_normal().string() +
                    " is a project root; a plugin's source folder is made outside projects",
                "run it elsewhere, e.g. fastappkit -C .. app new " + name + " --as-plugin");
  fs::path dir = fresh_folder(parent, name);
  write_new(dir / "plugin.toml",
            "# The app's name and version (the one place the version is written: fastappkit_add_plugin\n"
            "# reads it); fastappkit_add_plugin writes the built folder's plugin.toml from it.\n"
            "name = \"" +
                name + "\"\nversion = \"0.1.0\"\nlibrary = \"lib" + name + ".so\"\nabi = \"1.0\"\n");
  write_new(dir / "CMakeLists.txt",
            "# Builds the drop-in plugin folder build/plugins/" + name +
                "/ against the installed fastappkit SDK:\n"
                "#   cmake -S . -B build -DCMAKE_PREFIX_PATH=<fastappkit prefix> && cmake --build build\n"
                "cmake_minimum_required(VERSION 3.25)\nproject(" +
                name +
                "_plugin LANGUAGES CXX)\n"
                "find_package(fastappkit 0.1 REQUIRED)\n"
                "fastappkit_add_plugin(\n  NAME " +
                name +
                "  # the version is plugin.toml's\n  MODELS models.toml\n  MIGRATIONS migrations/versions\n  SOURCES "
                "steps.cpp)\n");
  write_new(dir / "models.toml",
            "# Models of the " + name + " app only (its tables may reference core tables).\n" + kModelsHelp);
  write_new(dir / "migrations" / "versions" / ".gitkeep", "");
  write_new(dir / ".env",
            "# This app's own development database (the project's URL is used once it is "
            "integrated).\nDATABASE_URL=sqlite:///dev.db\n");
  write_new(dir / ".gitignore", "build/\n*.db\n.fastappkit/\n");
  write_new(dir / "steps.cpp",
            "// C++ data-migration steps of " + name +
                ". A revision runs one with:\n"
                "//   [[upgrade]]\n//   op = \"call\"\n//   function = \"example_step\"\n//   args = [\"hello\"]\n"
                "#include <fastappkit/plugin.hpp>\n\n"
                "FASTAPPKIT_STEP(example_step) {\n"
                "  // host.execute(\"INSERT INTO " +
                name +
                "_items (name) VALUES (?)\", {args.at(0)});\n"
                "  // auto rows = host.query(\"SELECT count(*) FROM " +
                name +
                "_items\");\n"
                "  (void)host;\n  (void)args;\n}\n");
  write_new(dir / "README.md",
            "# " + name +
                " (fastappkit external app)\n\n```sh\n"
                "fastappkit plugin revision --autogenerate -m \"...\"   # after editing models.toml\n"
                "fastappkit plugin upgrade                            # against .env's DATABASE_URL\n"
                "cmake -S . -B build -DCMAKE_PREFIX_PATH=<fastappkit prefix> && cmake --build build\n"
                "# then drop build/plugins/" +
                name + "/ into a project's plugins/ and add \"" + name + "\" to its apps\n```\n");
  return dir;
}

NewInternalApp new_internal_app(const fs::path& project_dir, const std::string& name) {
  require_valid_name(name);
  auto config = config::load_project(project_dir);
  fs::path dir = config.root / "apps" / name;
  if (fs::exists(dir)) throw Error(ErrorKind::usage, dir.string() + " already exists", "choose another name");
  std::string text = util::read_file(config.config_path.string());
  std::string updated = add_internal_app(text, config.config_path.string(), name);
  config::parse_project(updated, config.config_path.string(), config.root);  // the edit must still be a valid config
  write_new(dir / "models.toml", "# Models of the " + name +
                                     " internal app (it may reference core and other internal apps' tables).\n" +
                                     kModelsHelp);
  std::ofstream(config.config_path, std::ios::binary) << updated;
  return {dir, config.config_path};
}

}  // namespace fastappkit::project
