#include "fastappkit/cli/cli.hpp"

#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "context.hpp"
#include "fastappkit/config/database_url.hpp"
#include "fastappkit/error.hpp"
#include "fastappkit/util/interrupt.hpp"
#include "fastappkit/util/text.hpp"
#include "fastappkit/version.hpp"

namespace fastappkit::cli {

namespace po = boost::program_options;

std::string Context::opt(const std::string& name, const std::string& fallback) const {
  return vm.count(name) ? vm[name].as<std::string>() : fallback;
}

bool Context::flag(const std::string& name) const { return vm.count(name) && vm[name].as<bool>(); }

project::LoadOptions Context::load(Needs needs) const {
  project::LoadOptions o;
  o.directory = directory;
  o.database_url = database_url;
  o.need_url = needs.need_url && !vm.count("databases");  // a fleet names its own databases
  o.external_apps = needs.external_apps;
  o.keep_broken = needs.keep_broken;
  return o;
}

void Context::print_json(const nlohmann::ordered_json& doc) const { out << doc.dump() << "\n"; }

nlohmann::ordered_json error_json(const Error& e) {
  using json = nlohmann::ordered_json;
  const auto& at = e.location();
  return {{"message", config::redact_text(e.message())},
          {"hint", config::redact_text(e.hint())},
          {"file", at ? json(at->file) : json()},
          {"line", at ? json(at->line) : json()},
          {"column", at ? json(at->column) : json()}};
}

void print_error(const Context& ctx, const Error& e, const std::string& prefix) {
  // Last line of defence: a URL's password never reaches the terminal, whatever echoed it.
  ctx.err << "fastappkit: " << ctx.paint("error:", Tone::bad, true) << " " << config::redact_text(prefix + e.what())
          << "\n";
  if (!e.hint().empty())
    ctx.err << "  " << ctx.paint("hint:", Tone::hint, true) << " " << config::redact_text(e.hint()) << "\n";
}

void Context::warn(const std::string& message) const {
  if (verbosity > 0) err << "fastappkit: " << paint("warning:", Tone::warn, true) << " " << message << "\n";
}

std::string Context::paint(std::string_view text, Tone tone, bool to_err) const {
  if (!(to_err ? color_err : color_out)) return std::string(text);
  const char* sgr = "";
  switch (tone) {
    case Tone::good:
      sgr = "32";
      break;
    case Tone::warn:
      sgr = "33";
      break;
    case Tone::bad:
      sgr = "1;31";
      break;
    case Tone::hint:
      sgr = "36";
      break;
    case Tone::dim:
      sgr = "2";
      break;
  }
  return std::string("\x1b[") + sgr + "m" + std::string(text) + "\x1b[0m";
}

namespace {

// Whether a command's path begins with `words`; "<name>" in the path matches any word.
bool starts_with(const std::vector<std::string>& path, const std::vector<std::string>& words) {
  if (path.size() < words.size()) return false;
  for (std::size_t i = 0; i < words.size(); ++i)
    if (path[i] != "<name>" && path[i] != words[i]) return false;
  return true;
}

struct Command {
  std::vector<std::string> path;  // "<name>" matches any word
  std::string args;               // usage of positionals, e.g. "<revision>"
  std::string summary;
  std::function<void(po::options_description&, po::positional_options_description&)> options;
  int (*handler)(Context&);
};

// A target is --revision R or the first word after the command (SPEC §8): `migrate upgrade head`,
// `migrate app blog downgrade base`.
void revision_option(po::options_description& d, po::positional_options_description& p, const char* help) {
  d.add_options()("revision,r", po::value<std::string>(), help);
  p.add("revision", 1);
}

void from_option(po::options_description& d) {
  d.add_options()("from", po::value<std::string>(),
                  "offline: start from this revision (base, head, an id...) as if the database were stamped "
                  "there; no database is opened");
}

void message_option(po::options_description& d) {
  d.add_options()("message,m", po::value<std::string>(), "the revision's message");
}

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {{"migrate", "upgrade"},
       "[--revision R]",
       "apply core and internal-app migrations up to R (default: head)",
       [](auto& d, auto& p) {
         revision_option(d, p, "target revision: id, unique prefix, head, heads, +N, REV+N (default head)");
         fleet_options(d);
       },
       cmd_upgrade},
      {{"migrate", "downgrade"},
       "<revision>",
       "revert core and internal-app migrations down to a revision",
       [](auto& d, auto& p) {
         revision_option(d, p, "target revision: id, prefix, base, -N, REV-N");
         d.add_options()("all", po::bool_switch(),
                         "with base: revert the whole project, external apps first (reverse order), then core");
         fleet_options(d);
       },
       cmd_downgrade},
      {{"migrate", "preview"},
       "[--revision R] [--from R]",
       "print the SQL that upgrade (or --downgrade) would run; applies nothing",
       [](auto& d, auto& p) {
         revision_option(d, p, "target revision (default head)");
         d.add_options()("downgrade", po::bool_switch(), "preview a downgrade to --revision instead of an upgrade");
         d.add_options()("all", po::bool_switch(), "preview every app: core, then each external app, as one script");
         from_option(d);
         fleet_options(d);
       },
       cmd_preview},
      {{"migrate", "lint"},
       "[--all] [--dialect D]",
       "online-safety and destructive-change rules over pending (or --all) revisions; exit 1 on an error",
       [](auto& d, auto&) {
         d.add_options()("all", po::bool_switch(), "every revision, not only those the database has not applied");
         d.add_options()("dialect", po::value<std::string>(),
                         "postgresql or sqlite (default: the database URL's; PostgreSQL when there is none)");
         fleet_options(d);
       },
       cmd_lint},
      {{"migrate", "current"},
       "",
       "show the revision(s) the database is at",
       [](auto& d, auto&) { fleet_options(d); },
       cmd_current},
      {{"migrate", "heads"}, "", "show the head revision(s) of the migration graph", nullptr, cmd_heads},
      {{"migrate", "history"}, "", "list revisions, newest first", nullptr, cmd_history},
      {{"migrate", "status"},
       "",
       "version table, current revision, heads and pending migrations",
       [](auto& d, auto&) { fleet_options(d); },
       cmd_status},
      {{"migrate", "stamp"},
       "<revision>",
       "set the version table to a revision without running migrations",
       [](auto& d, auto& p) {
         revision_option(d, p, "revision to record: id, prefix, label, head, heads, base, BRANCH@head");
         d.add_options()("purge", po::bool_switch(), "empty the version table first (rows of other branches go too)");
         fleet_options(d);
       },
       cmd_stamp},
      {{"migrate", "adopt"},
       "-m MSG [--dry-run]",
       "take a database no tool manages under management: models, a base revision proved by replay, a stamp",
       [](auto& d, auto&) {
         message_option(d);
         d.add_options()("dry-run", po::bool_switch(), "prove and print what would be written; write nothing");
         d.add_options()("scratch-url", po::value<std::string>(),
                         "PostgreSQL: an empty database to replay the base revision on (default: a temporary "
                         "schema in the adopted database, dropped afterwards)");
         d.add_options()("databases", po::value<std::string>(),
                         "a fleet file: adopt its first database, stamp each other one with the same schema");
       },
       cmd_adopt},
      {{"migrate", "core"},
       "-m MSG",
       "autogenerate a core revision from core/models.toml and the internal apps' models",
       [](auto& d, auto&) { message_option(d); },
       cmd_makemigrations_core},
      {{"migrate", "app", "<name>", "makemigrations"},
       "-m MSG",
       "autogenerate a revision for an internal app (sees core and all internal apps)",
       [](auto& d, auto&) { message_option(d); },
       cmd_app_makemigrations},
      {{"migrate", "app", "<name>", "upgrade"},
       "[--revision R]",
       "apply an external app's migrations",
       [](auto& d, auto& p) {
         revision_option(d, p, "target revision (default head)");
         fleet_options(d);
       },
       cmd_app_migrate},
      {{"migrate", "app", "<name>", "downgrade"},
       "--revision R",
       "revert an external app's migrations",
       [](auto& d, auto& p) {
         revision_option(d, p, "target revision: id, prefix, base, -N");
         fleet_options(d);
       },
       cmd_app_migrate},
      {{"migrate", "app", "<name>", "preview"},
       "[--revision R] [--from R]",
       "print the SQL of an external app's upgrade (or --downgrade); applies nothing",
       [](auto& d, auto& p) {
         revision_option(d, p, "target revision (default head)");
         d.add_options()("downgrade", po::bool_switch(), "preview a downgrade to --revision");
         from_option(d);
         fleet_options(d);
       },
       cmd_app_migrate},
      {{"plugin", "revision"},
       "[--autogenerate] -m MSG",
       "in a plugin's source folder: a new revision (from its models with --autogenerate)",
       [](auto& d, auto&) {
         message_option(d);
         d.add_options()("autogenerate", po::bool_switch(),
                         "fill it from the difference between models.toml and the migrations");
       },
       cmd_plugin_revision},
      {{"plugin", "upgrade"},
       "[<revision>]",
       "in a plugin's source folder: apply its migrations to its own .env database",
       [](auto& d, auto& p) { revision_option(d, p, "target revision (default head)"); },
       cmd_plugin_upgrade},
      {{"plugin", "downgrade"},
       "<revision>",
       "in a plugin's source folder: revert down to a revision",
       [](auto& d, auto& p) { revision_option(d, p, "target revision: id, prefix, base, -N"); },
       cmd_plugin_downgrade},
      {{"plugin", "current"}, "", "in a plugin's source folder: where its database is", nullptr, cmd_plugin_current},
      {{"plugin", "history"},
       "",
       "in a plugin's source folder: its revisions, newest first",
       nullptr,
       cmd_plugin_history},
      {{"plugin", "check"},
       "",
       "in a plugin's source folder: models vs migrations vs its database; exit 1 on a difference",
       nullptr,
       cmd_plugin_check},
      {{"core", "new"},
       "<name>",
       "scaffold a project in ./<name> (SQLite .env by default)",
       [](auto& d, auto& p) {
         d.add_options()("name", po::value<std::string>(), "project folder name");
         p.add("name", 1);
       },
       cmd_core_new},
      {{"app", "new"},
       "<name> [--as-plugin]",
       "scaffold an internal app (and add it to apps), or an external app's plugin source folder",
       [](auto& d, auto& p) {
         d.add_options()("name", po::value<std::string>(), "app name")("as-plugin", po::bool_switch(),
                                                                       "make a plugin source folder in ./<name>");
         p.add("name", 1);
       },
       cmd_app_new},
      {{"app", "list"},
       "",
       "apps in migration order: kind, version, version table, state",
       [](auto& d, auto&) { fleet_options(d); },
       cmd_app_list},
      {{"app", "validate", "<name>"},
       "",
       "run every check for one app; exit 2 if one fails",
       nullptr,
       cmd_app_validate},
      {{"migrate", "merge"},
       "-m MSG",
       "write a revision that merges the current heads",
       [](auto& d, auto&) { message_option(d); },
       cmd_merge},
      {{"migrate", "revision"},
       "-m MSG [--app NAME]",
       "write an empty core revision on the head, for execute or data steps",
       [](auto& d, auto&) {
         message_option(d);
         d.add_options()("app", po::value<std::string>(), "the internal app it is made for");
       },
       cmd_revision},
      {{"migrate", "all"},
       "",
       "migrate everything: core (with internal apps) first, then each external app in order",
       [](auto& d, auto&) { fleet_options(d); },
       cmd_all},
      {{"migrate", "check"},
       "",
       "compare models, migrations and the database; exit 1 on any difference",
       [](auto& d, auto&) { fleet_options(d); },
       cmd_check},
      {{"migrate", "graph"},
       "[--format dot|svg]",
       "the revision graphs of core and every external app, with cross-app foreign keys",
       [](auto& d, auto&) {
         d.add_options()("format", po::value<std::string>(), "dot (default) or svg (needs Graphviz's dot)");
       },
       cmd_graph},
      {{"manpage"},
       "",
       "print the manual page, fastappkit(1), as roff (the Debian package installs it; made from this table)",
       nullptr,
       cmd_manpage},
      {{"completion", "bash"},
       "",
       "print a bash completion script (source it, or install it as bash-completion/completions/fastappkit)",
       nullptr,
       cmd_completion},
  };
  return table;
}

// `--help` lists commands by task, in this order; a command of the table that no group names is
// listed last under "Other commands" (a test checks that none is).
struct Group {
  const char* title;
  std::vector<std::vector<std::string>> paths;
};

const std::vector<Group>& groups() {
  static const std::vector<Group> list = {
      {"Start a project or an app", {{"core", "new"}, {"app", "new"}, {"app", "list"}, {"app", "validate", "<name>"}}},
      {"Migrate the database",
       {{"migrate", "all"},
        {"migrate", "upgrade"},
        {"migrate", "downgrade"},
        {"migrate", "app", "<name>", "upgrade"},
        {"migrate", "app", "<name>", "downgrade"},
        {"migrate", "stamp"},
        {"migrate", "adopt"}}},
      {"See where things stand, and what would run",
       {{"migrate", "status"},
        {"migrate", "check"},
        {"migrate", "lint"},
        {"migrate", "preview"},
        {"migrate", "app", "<name>", "preview"},
        {"migrate", "current"},
        {"migrate", "heads"},
        {"migrate", "history"},
        {"migrate", "graph"}}},
      {"Write revisions",
       {{"migrate", "core"},
        {"migrate", "app", "<name>", "makemigrations"},
        {"migrate", "revision"},
        {"migrate", "merge"}}},
      {"In a plugin's source folder",
       {{"plugin", "revision"},
        {"plugin", "upgrade"},
        {"plugin", "downgrade"},
        {"plugin", "current"},
        {"plugin", "history"},
        {"plugin", "check"}}},
      {"Shell", {{"completion", "bash"}, {"manpage"}}},
  };
  return list;
}

std::string usage_of(const Command& c) {
  return "fastappkit " + util::join(c.path, " ") + (c.args.empty() ? "" : " " + c.args);
}

// The commands under `prefix`, by group, usage and summary in aligned columns; a usage too long
// for the column puts its summary on the next line, at the column.
std::string group_help(const std::vector<std::string>& prefix) {
  std::vector<std::pair<std::string, std::vector<const Command*>>> sections;
  std::vector<const Command*> placed;
  for (const auto& g : groups()) {
    std::vector<const Command*> members;
    for (const auto& path : g.paths)
      for (const auto& c : commands())
        if (c.path == path && starts_with(c.path, prefix)) members.push_back(&c);
    placed.insert(placed.end(), members.begin(), members.end());
    if (!members.empty()) sections.emplace_back(g.title, members);
  }
  std::vector<const Command*> other;
  for (const auto& c : commands())
    if (starts_with(c.path, prefix) && std::find(placed.begin(), placed.end(), &c) == placed.end()) other.push_back(&c);
  if (!other.empty()) sections.emplace_back("Other commands", other);

  constexpr std::size_t kMaxColumn = 50;
  std::size_t column = 0;
  for (const auto& [title, members] : sections)
    for (const Command* c : members) column = std::max(column, std::min(usage_of(*c).size() + 4, kMaxColumn));
  std::string out;
  for (const auto& [title, members] : sections) {
    out += std::string(title) + ":\n";
    for (const Command* c : members) {
      std::string line = "  " + usage_of(*c);
      if (line.size() + 2 > column) line += '\n';  // too long: the summary goes on the next line
      line.append(line.back() == '\n' ? column : column - line.size(), ' ');
      out += line + c->summary + "\n";
    }
    out += "\n";
  }
  return out;
}

// A bash completion script made from the command table: command words, then each command's
// options and the global ones; an app's name where a command takes one (from 'app list --json').
std::string bash_completion(const po::options_description& globals) {
  auto long_names = [](const po::options_description& d) {
    std::vector<std::string> names;
    for (const auto& o : d.options()) names.push_back("--" + o->long_name());
    return util::join(names, " ");
  };
  // Options that take a value (global or a command's): the word after them is not a command word.
  std::vector<std::string> with_value;
  auto note_values = [&](const po::options_description& d) {
    for (const auto& o : d.options()) {
      if (o->semantic()->max_tokens() == 0 || o->long_name() == "directory") continue;
      for (std::string name :
           {"--" + o->long_name(), o->canonical_display_name(po::command_line_style::allow_dash_for_short)})
        if (name.size() > 1 && name[0] == '-' &&
            std::find(with_value.begin(), with_value.end(), name) == with_value.end())
          with_value.push_back(name);
    }
  };
  note_values(globals);
  for (const auto& c : commands()) {
    po::options_description own;
    po::positional_options_description pos;
    if (c.options) c.options(own, pos);
    note_values(own);
  }
  // A case label: the words quoted, an app's name slot as an unquoted '*'.
  auto pattern = [](const std::vector<std::string>& words) {
    std::string p = "\"";
    for (std::size_t i = 0; i < words.size(); ++i)
      p += (i ? " " : "") + (words[i] == "<name>" ? std::string("\"*\"") : words[i]);
    return p + "\"";
  };
  // Next words for every prefix of a command path, in table order.
  std::vector<std::pair<std::string, std::vector<std::string>>> next;
  std::string options_cases;
  for (const auto& c : commands()) {
    for (std::size_t i = 0; i < c.path.size(); ++i) {
      std::string key = pattern({c.path.begin(), c.path.begin() + static_cast<long>(i)});
      auto it = std::find_if(next.begin(), next.end(), [&](const auto& e) { return e.first == key; });
      if (it == next.end()) it = next.insert(next.end(), {key, {}});
      if (std::find(it->second.begin(), it->second.end(), c.path[i]) == it->second.end())
        it->second.push_back(c.path[i]);
    }
    po::options_description own;
    po::positional_options_description pos;
    if (c.options) c.options(own, pos);
    // The command's words, maybe followed by its arguments.
    const std::string label = pattern(c.path);
    options_cases +=
        "    " + label + "|" + label.substr(0, label.size() - 1) + " \"*) opts=\"" + long_names(own) + "\" ;;\n";
  }
  std::string word_cases;
  for (const auto& [key, words] : next) {
    const bool name_slot = words.size() == 1 && words[0] == "<name>";
    word_cases += "    " + key + ") " +
                  (name_slot ? std::string("words=$(_fastappkit_apps)") : "words=\"" + util::join(words, " ") + "\"") +
                  " ;;\n";
  }
  std::string script =
      "# bash completion for fastappkit, generated by 'fastappkit completion bash' from its command table.\n"
      "_fastappkit_apps() {\n"
      "  fastappkit \"${_fastappkit_dir[@]}\" app list --json 2>/dev/null |\n"
      "    grep -o '\"app\":\"[^\"]*\"' | grep -v '\"core\"' | sed 's/\"app\":\"\\(.*\\)\"/\\1/'\n"
      "}\n"
      "_fastappkit() {\n"
      "  local cur=${COMP_WORDS[COMP_CWORD]} path='' words='' opts='' i w\n"
      "  _fastappkit_dir=()\n"
      "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      "    w=${COMP_WORDS[i]}\n"
      "    case \"$w\" in\n"
      "      -C|--directory) _fastappkit_dir=(-C \"${COMP_WORDS[i+1]}\"); ((i++)); continue ;;\n"
      "      " +
      util::join(with_value, "|") +
      ") ((i++)); continue ;;\n"
      "      -*) continue ;;\n"
      "    esac\n"
      "    path=\"${path:+$path }$w\"\n"
      "  done\n"
      "  case \"$path\" in\n" +
      options_cases +
      "  esac\n"
      "  if [[ $cur == -* ]]; then\n"
      "    COMPREPLY=($(compgen -W \"$opts " +
      long_names(globals) +
      "\" -- \"$cur\"))\n"
      "    return\n"
      "  fi\n"
      "  case \"$path\" in\n" +
      word_cases +
      "  esac\n"
      "  COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
      "}\n"
      "complete -o default -F _fastappkit fastappkit\n";
  return script;
}

po::options_description global_options(Context& ctx) {
  po::options_description d("Global options");
  d.add_options()("help,h", "show help for the command")("version", "print the version")(
      "directory,C", po::value<std::string>(&ctx.directory), "run as if started in DIR (the project root)")(
      "database-url", po::value<std::string>(), "database URL (overrides DATABASE_URL and .env)")(
      "verbose,v", "print more, including the SQL each migration runs")("quiet,q", "print only errors")(
      "json", "print listings, and errors, as JSON on stdout")("lock-timeout", po::value<double>(),
                                                               "seconds to wait for another run's lock (default 60)")(
      "color", po::value<std::string>(),
      "auto (default: colour on a terminal unless NO_COLOR is set), always or never")(
      "ddl-lock-timeout", po::value<double>(),
      "PostgreSQL: seconds a migration's statement waits for a lock (default 5)")(
      "ddl-retries", po::value<int>(),
      "PostgreSQL: times a migration that hit --ddl-lock-timeout is retried (default 3)");
  return d;
}

// Colour by default only on a terminal, and never when NO_COLOR is set (https://no-color.org).
bool colour_by_default(int fd) {
  const char* no_color = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  if (no_color && *no_color) return false;
  if (term && std::string_view(term) == "dumb") return false;
  return isatty(fd) != 0;
}

bool is_relative_number(const std::string& s) {
  return s.size() > 1 && s[0] == '-' &&
         std::all_of(s.begin() + 1, s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The option parser's message without the option's value: a value may be a database URL
// with its password (e.g. a URL given to the wrong option).
std::string option_error(po::error& e) {
  if (auto* named = dynamic_cast<po::error_with_option_name*>(&e)) {
    named->set_substitute("value", "(value not shown)");
    std::string option = named->get_option_name();
    if (auto eq = option.find('='); eq != std::string::npos)
      named->set_substitute("canonical_option", option.substr(0, eq));
    if (auto eq = option.find('='); eq != std::string::npos)
      named->set_substitute("original_token", option.substr(0, eq));
  }
  return config::redact_text(e.what());
}

// "-1" is a revision target, not an option: hide it from the option parser.
constexpr char kNumberMark = '\x01';

}  // namespace

// roff text: a backslash doubled, a leading dot or quote kept from being read as a request.
std::string roff(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '\\' ? std::string("\\e") : c == '-' ? std::string("\\-") : std::string(1, c);
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out = "\\&" + out;
  return out;
}

// fastappkit(1) from the command table and the global options, so it says what --help says.
int cmd_manpage(Context& ctx) {
  auto& o = ctx.out;
  o << ".TH FASTAPPKIT 1 \"\" \"fastappkit " << kVersion << "\" \"User Commands\"\n"
    << ".SH NAME\nfastappkit \\- database migrations for projects with loadable external-app plugins\n"
    << ".SH SYNOPSIS\n.B fastappkit\n[\\fIglobal options\\fR] \\fIcommand\\fR [\\fIoptions\\fR]\n.br\n"
    << ".B fastappkit help\n\\fIcommand\\fR\n"
    << ".SH DESCRIPTION\nfastappkit migrates a project's SQLite or PostgreSQL database: core models and migrations, "
       "internal apps, and external apps shipped as plugins, each with its own version table "
       "(Alembic-compatible). Run it in the project's root folder (where fastappkit.toml is) or pass \\fB\\-C\\fR.\n";
  o << ".SH COMMANDS\n";
  for (const auto& g : groups()) {
    o << ".SS " << roff(g.title) << "\n";
    for (const auto& path : g.paths)
      for (const auto& c : commands())
        if (c.path == path) o << ".TP\n.B " << roff(usage_of(c)) << "\n" << roff(c.summary) << "\n";
  }
  std::ostringstream globals;
  globals << global_options(ctx);
  o << ".SH GLOBAL OPTIONS\n.nf\n";
  std::istringstream lines(globals.str());
  for (std::string line; std::getline(lines, line);) o << roff(line) << "\n";
  o << ".fi\n"
    << ".SH EXIT STATUS\n0: done. 1: the database refused or failed, a check found a difference. "
       "2: bad usage or input (nothing was written). 130 / 143: stopped by SIGINT / SIGTERM (what was rolled back "
       "is said).\n"
    << ".SH ENVIRONMENT\n.TP\n.B DATABASE_URL\nthe database (also \\fB\\-\\-database\\-url\\fR, or "
       "DATABASE_URL in the project's .env).\n.TP\n.B NO_COLOR\nno colour on a terminal.\n"
    << ".SH FILES\n.TP\n.I fastappkit.toml\nthe project's configuration.\n.TP\n"
       ".I /usr/share/doc/fastappkit/\nthe guides: getting-started.md, models.md, migrations.md, cli.md, "
       "plugins.md, adopt.md and the others.\n"
    << ".SH SEE ALSO\n.BR alembic (1)\n";
  return 0;
}

int cmd_completion(Context& ctx) {
  ctx.out << bash_completion(global_options(ctx));
  return 0;
}

int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  Context ctx(out, err);
  ctx.color_out = &out == &std::cout && colour_by_default(STDOUT_FILENO);
  ctx.color_err = &err == &std::cerr && colour_by_default(STDERR_FILENO);
  auto fail = [&](const Error& e) {
    // Stopped by SIGINT or SIGTERM (util/interrupt.hpp): the error says what was rolled back; the
    // exit code is the shell's for that signal.
    const int signal = util::interrupted_signal();
    print_error(ctx, e, signal ? std::string("interrupted by ") + util::signal_name(signal) + ": " : std::string());
    if (ctx.json) ctx.print_json({{"error", error_json(e)}});
    return signal ? 128 + signal : exit_code_for(e.kind());
  };
  // Known before the options parse, so that an option error is JSON too.
  for (int i = 1; i < argc; ++i) ctx.json = ctx.json || std::string_view(argv[i]) == "--json";
  try {
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      args.push_back(is_relative_number(a) ? std::string(1, kNumberMark) + a : a);
    }
    po::options_description globals = global_options(ctx);
    po::variables_map gvm;
    po::parsed_options parsed = po::command_line_parser(args).options(globals).allow_unregistered().run();
    po::store(parsed, gvm);
    po::notify(gvm);
    std::vector<std::string> rest = po::collect_unrecognized(parsed.options, po::include_positional);
    if (gvm.count("version")) {
      out << "fastappkit " << kVersion << "\n";
      return 0;
    }
    if (gvm.count("database-url")) ctx.database_url = gvm["database-url"].as<std::string>();
    if (gvm.count("verbose")) ctx.verbosity = 2;
    if (gvm.count("quiet")) ctx.verbosity = 0;
    ctx.json = gvm.count("json") != 0;
    if (gvm.count("color")) {
      const std::string color = gvm["color"].as<std::string>();
      if (color != "auto" && color != "always" && color != "never")
        throw Error(ErrorKind::usage, "unknown --color '" + color + "'",
                    "use --color auto, --color always or --color never");
      if (color != "auto") ctx.color_out = ctx.color_err = color == "always";
    }
    if (gvm.count("lock-timeout")) {
      double s = gvm["lock-timeout"].as<double>();
      if (s < 0) throw Error(ErrorKind::usage, "--lock-timeout must not be negative");
      ctx.lock_timeout = std::chrono::milliseconds(static_cast<long long>(s * 1000));
    }
    if (gvm.count("ddl-lock-timeout")) {
      double s = gvm["ddl-lock-timeout"].as<double>();
      if (s <= 0) throw Error(ErrorKind::usage, "--ddl-lock-timeout must be more than 0 seconds");
      ctx.ddl.lock_timeout = std::chrono::milliseconds(std::max(1LL, static_cast<long long>(s * 1000)));
    }
    if (gvm.count("ddl-retries")) {
      ctx.ddl.retries = gvm["ddl-retries"].as<int>();
      if (ctx.ddl.retries < 0) throw Error(ErrorKind::usage, "--ddl-retries must not be negative");
    }
    // `fastappkit help [COMMAND...]` is `fastappkit [COMMAND...] --help`.
    bool help = gvm.count("help") != 0;
    if (!rest.empty() && rest.front() == "help") {
      rest.erase(rest.begin());
      help = true;
    }
    if (gvm.count("directory") && !std::filesystem::is_directory(ctx.directory))
      throw Error(ErrorKind::usage, "-C " + ctx.directory + ": no such directory",
                  "pass the folder that holds fastappkit.toml (or a plugin's source folder)");

    // The leading words name the command.
    std::vector<std::string> words;
    for (const auto& a : rest) {
      if (a.empty() || a[0] == '-' || a[0] == kNumberMark) break;
      words.push_back(a);
    }
    const Command* cmd = nullptr;
    for (const auto& c : commands()) {
      if (words.size() < c.path.size()) continue;
      bool match = true;
      std::vector<std::string> params;
      for (std::size_t i = 0; i < c.path.size() && match; ++i) {
        if (c.path[i] == "<name>")
          params.push_back(words[i]);
        else
          match = c.path[i] == words[i];
        if (match && i > 0 && c.path[i - 1] == "<name>") params.push_back(words[i]);
      }
      if (match && (!cmd || c.path.size() > cmd->path.size())) {
        cmd = &c;
        ctx.params = params;
      }
    }
    if (!cmd) {
      // Longest prefix of words that some command starts with: that group's help or a did-you-mean.
      std::vector<std::string> prefix;
      for (const auto& w : words) {
        std::vector<std::string> next = prefix;
        next.push_back(w);
        bool any = std::any_of(commands().begin(), commands().end(),
                               [&](const Command& c) { return starts_with(c.path, next); });
        if (!any) break;
        prefix = next;
      }
      if (prefix.size() == words.size() && (help || words.size() <= 1)) {
        (help ? out : err) << "usage: fastappkit [global options] <command> [options]\n"
                           << "       fastappkit help <command>   (its options)\n\n"
                           << group_help(prefix) << globals;
        return help ? 0 : 2;
      }
      std::vector<std::string> choices;
      for (const auto& c : commands()) {
        if (c.path.size() > prefix.size() && starts_with(c.path, prefix)) {
          if (std::find(choices.begin(), choices.end(), c.path[prefix.size()]) == choices.end())
            choices.push_back(c.path[prefix.size()]);
        }
      }
      std::string word = prefix.size() < words.size() ? words[prefix.size()] : std::string();
      std::string near = util::did_you_mean(word, choices);
      std::string where = prefix.empty() ? "" : " '" + util::join(prefix, " ") + "'";
      throw Error(ErrorKind::usage,
                  word.empty() ? "missing command after" + where : "unknown command" + where + " '" + word + "'",
                  near.empty() ? "commands: " + util::join(choices, ", ") + " (fastappkit --help)"
                               : "did you mean '" + near + "'?");
    }

    std::vector<std::string> tail(rest.begin() + static_cast<long>(cmd->path.size()), rest.end());
    for (auto& t : tail)
      if (!t.empty() && t[0] == kNumberMark) t = t.substr(1);
    po::options_description own("Options");
    po::positional_options_description pos;
    if (cmd->options) cmd->options(own, pos);
    const std::string usage = "fastappkit " + util::join(cmd->path, " ") + (cmd->args.empty() ? "" : " " + cmd->args);
    if (help) {
      out << "usage: " << usage << "\n\n" << cmd->summary << "\n\n";
      if (!own.options().empty()) out << own << "\n";
      out << globals;
      return 0;
    }
    // Numbers like -1 must reach the positional slot even though they start with '-'.
    auto style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    try {
      std::vector<std::string> opts, positionals;
      for (std::size_t i = 0; i < tail.size(); ++i) {
        // "--revision -1" is the same as "--revision=-1": a relative number right after an
        // option that takes a value is that option's value.
        if (i + 1 < tail.size() && is_relative_number(tail[i + 1]) && tail[i].size() > 1 && tail[i][0] == '-' &&
            tail[i].find('=') == std::string::npos) {
          const bool long_name = tail[i].rfind("--", 0) == 0;
          const po::option_description* o = nullptr;
          for (const auto& d : own.options())
            if (long_name ? d->long_name() == tail[i].substr(2)
                          : d->canonical_display_name(po::command_line_style::allow_dash_for_short) == tail[i])
              o = d.get();
          if (o && o->semantic()->max_tokens() > 0) {
            opts.push_back("--" + o->long_name() + "=" + tail[++i]);
            continue;
          }
        }
        if (is_relative_number(tail[i]))
          positionals.push_back(tail[i]);
        else
          opts.push_back(tail[i]);
      }
      po::parsed_options p = po::command_line_parser(opts).options(own).positional(pos).style(style).run();
      po::store(p, ctx.vm);
      if (!positionals.empty()) {
        if (pos.max_total_count() == 0 && !own.find_nothrow("revision", false))
          throw Error(ErrorKind::usage, "unexpected argument '" + positionals[0] + "'", "usage: " + usage);
        if (ctx.vm.count("revision")) throw Error(ErrorKind::usage, "the revision is given twice", "usage: " + usage);
        ctx.vm.emplace("revision", po::variable_value(positionals[0], false));
        if (positionals.size() > 1)
          throw Error(ErrorKind::usage, "unexpected argument '" + positionals[1] + "'", "usage: " + usage);
      }
      po::notify(ctx.vm);
      if (ctx.vm.count("revision") && ctx.vm["revision"].as<std::string>().empty())
        throw Error(ErrorKind::usage, "the target revision is empty",
                    "give a revision: an id or a unique prefix of one, head, heads, base, +N or -N");
    } catch (po::error& e) {
      throw Error(ErrorKind::usage, option_error(e) + " (in '" + util::join(cmd->path, " ") + "')", "usage: " + usage);
    }
    return cmd->handler(ctx);
  } catch (po::error& e) {
    return fail(Error(ErrorKind::usage, option_error(e), "run 'fastappkit --help' for usage"));
  } catch (const Error& e) {
    return fail(e);
  } catch (const std::exception& e) {
    // Not anticipated (a system call the engine did not expect to fail): printed the same way,
    // redacted, as text or JSON.
    return fail(
        Error(ErrorKind::failed, e.what(), "not expected here: run again with -v, and report it if it persists"));
  }
}

void print_unexpected(std::ostream& err, const std::exception& e) {
  err << "fastappkit: error: " << config::redact_text(e.what()) << "\n";
}

}  // namespace fastappkit::cli
