// migrate lint: the online-safety and destructive-change rules (SPEC §11) over revision files.
#include <nlohmann/json.hpp>

#include "context.hpp"
#include "fastappkit/error.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::cli {

nlohmann::ordered_json finding_json(const lint::Finding& f) {
  return {{"rule", f.rule},      {"level", std::string(lint::level_name(f.level))},
          {"app", f.app},        {"revision", f.revision},
          {"file", f.file},      {"line", f.line},
          {"column", f.column},  {"operation", f.operation},
          {"what", f.what},      {"fix", f.fix},
          {"ignored", f.ignored}};
}

namespace {

// --dialect, if given.
std::optional<sql::Dialect> dialect_option(const Context& ctx) {
  if (!ctx.has("dialect")) return std::nullopt;
  const std::string d = ctx.opt("dialect");
  if (d == "postgresql") return sql::Dialect::postgresql;
  if (d == "sqlite") return sql::Dialect::sqlite;
  throw Error(ErrorKind::usage, "--dialect '" + d + "' is not a dialect", "use --dialect postgresql or sqlite");
}

}  // namespace

sql::Dialect lint_dialect(const Context& ctx, const project::Workspace& w, bool url_resolved) {
  if (auto d = dialect_option(ctx)) return *d;
  if (url_resolved) return w.url().backend;
  try {
    // Only the dialect is wanted: libpq is not loaded for it.
    return config::resolve_database_url(ctx.database_url, w.config().root, config::UrlUse::dialect).backend;
  } catch (const Error&) {
    return sql::Dialect::postgresql;  // no database configured: the strictest rules
  }
}

void print_findings(const Context& ctx, const std::vector<lint::Finding>& findings) {
  for (const auto& f : findings) ctx.out << lint::format(f) << "\n";
}

int cmd_lint(Context& ctx) {
  const bool all = ctx.flag("all");
  if (fleet_requested(ctx)) {
    if (all)
      throw Error(ErrorKind::usage, "--all lints every revision, which needs no database: --databases adds nothing",
                  "lint every revision once: fastappkit migrate lint --all; or what each database has not applied: "
                  "fastappkit migrate lint --databases FILE");
    return fleet_lint(ctx, dialect_option(ctx));
  }
  // Pending revisions need the database's version tables; --all needs no database.
  project::Workspace w = project::Workspace::open_project(ctx.load({.need_url = !all}));
  const sql::Dialect dialect = lint_dialect(ctx, w, !all);
  auto findings = project::read_lint(w, dialect, all, ctx.lock_timeout);
  std::size_t errors = 0, warnings = 0, silenced = 0;
  for (const auto& f : findings) {
    if (f.ignored)
      ++silenced;
    else if (f.level == lint::Level::error)
      ++errors;
    else
      ++warnings;
  }
  if (ctx.json) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& f : findings) list.push_back(finding_json(f));
    ctx.print_json({{"dialect", std::string(sql::dialect_name(dialect))},
                    {"scope", all ? "all" : "pending"},
                    {"errors", errors},
                    {"warnings", warnings},
                    {"silenced", silenced},
                    {"findings", list}});
  } else {
    print_findings(ctx, findings);
    if (ctx.verbosity > 0)
      ctx.out << "lint (" << sql::dialect_name(dialect) << ", " << (all ? "every revision" : "pending revisions")
              << "): " << errors << " error(s), " << warnings << " warning(s), " << silenced
              << " silenced by lint_ignore\n";
  }
  return errors > 0 ? 1 : 0;
}

}  // namespace fastappkit::cli
