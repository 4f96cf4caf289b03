// migrate adopt: options in, the library's adoption (project/adopt.hpp) out as text or JSON.
#include <nlohmann/json.hpp>

#include "context.hpp"
#include "fastappkit/error.hpp"
#include "fastappkit/project/adopt.hpp"
#include "fastappkit/sql/dialect.hpp"

namespace fastappkit::cli {

namespace {

using json = nlohmann::ordered_json;

json adoption_json(const project::Adoption& a, bool dry_run) {
  json carried = json::array();
  for (const auto& o : a.carried) carried.push_back({{"kind", o.kind}, {"name", o.name}});
  return {{"database", a.database},
          {"dialect", std::string(sql::dialect_name(a.dialect))},
          {"dry_run", dry_run},
          {"written", a.written},
          {"revision", a.revision},
          {"tables", a.tables},
          {"carried", carried},
          {"models_path", a.models_path.string()},
          {"revision_path", a.revision_path.string()},
          {"models", a.models_text},
          {"revision_file", a.revision_text}};
}

void print_adoption(Context& ctx, const project::Adoption& a, bool dry_run) {
  auto& o = ctx.out;
  o << "adopt " << a.database << " (" << sql::dialect_name(a.dialect) << ")\n";
  o << "  " << a.tables << " table(s) as models in " << a.models_path.string() << "\n";
  if (a.carried.empty()) {
    o << "  nothing carried as execute steps\n";
  } else {
    o << "  carried as execute steps of the base revision (" << a.carried.size() << "):\n";
    for (const auto& c : a.carried) o << "    " << c.kind << " " << c.name << "\n";
  }
  o << "  " << ctx.paint("proved", Tone::good)
    << ": the base revision replayed on a scratch database gives the same catalog, object by object\n";
  if (dry_run) {
    o << "dry run: nothing was written. " << a.models_path.string() << " would be:\n"
      << a.models_text << "\n"
      << a.revision_path.string() << " would be:\n"
      << a.revision_text;
    return;
  }
  o << "  wrote " << a.models_path.string() << "\n  wrote " << a.revision_path.string() << "\n  stamped " << a.database
    << " at " << a.revision << " (alembic_version; fastappkit_history records the adoption)\n";
}

}  // namespace

int cmd_adopt(Context& ctx) {
  if (!ctx.has("message"))
    throw Error(ErrorKind::usage, "migrate adopt needs a message for the base revision",
                "e.g. fastappkit migrate adopt -m \"adopt the existing schema\"");
  project::AdoptRequest request{.message = ctx.opt("message"), .dry_run = ctx.flag("dry-run")};
  if (ctx.has("scratch-url")) request.scratch_url = ctx.opt("scratch-url");
  if (!ctx.has("databases")) {
    auto a = project::adopt(ctx.load(), request, ctx.settings());
    if (ctx.json)
      ctx.print_json(adoption_json(a, request.dry_run));
    else if (ctx.verbosity > 0)
      print_adoption(ctx, a, request.dry_run);
    return 0;
  }
  if (ctx.database_url)
    throw Error(ErrorKind::usage, "--database-url and --databases cannot be used together",
                "the fleet file names every database; the first is the one adopted");
  auto fleet = project::read_fleet(ctx.opt("databases"), ctx.directory);
  auto result = project::adopt_fleet(ctx.load({.need_url = false}), request, fleet, ctx.settings());
  bool ok = true;
  json others = json::array();
  for (const auto& d : result.others) {
    ok = ok && d.state == project::FleetState::done && d.differences.empty();
    json j = {{"database", d.database},
              {"line", d.line},
              {"state", std::string(project::to_string(d.state))},
              {"detail", d.detail},
              {"differences", d.differences}};
    j["error"] = d.error ? error_json(*d.error) : json(nullptr);
    others.push_back(std::move(j));
  }
  if (ctx.json) {
    json doc = adoption_json(result.first, request.dry_run);
    doc["fleet"] = others;
    ctx.print_json(doc);
  } else {
    if (ctx.verbosity > 0) print_adoption(ctx, result.first, request.dry_run);
    for (const auto& d : result.others) {
      if (d.error) {
        print_error(ctx, *d.error, d.database + " (" + ctx.opt("databases") + ":" + std::to_string(d.line) + "): ");
        continue;
      }
      ctx.out << d.database << " (" << ctx.opt("databases") << ":" << d.line << "): " << d.detail << "\n";
      for (const auto& diff : d.differences) ctx.out << "    " << diff << "\n";
    }
  }
  return ok ? 0 : 1;
}

}  // namespace fastappkit::cli
