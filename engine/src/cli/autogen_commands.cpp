// Commands that write revision files: migrate core -m / migrate app <name> makemigrations -m /
// migrate merge -m / migrate revision -m, and plugin revision [--autogenerate] -m.
#include <algorithm>

#include "context.hpp"
#include "fastappkit/error.hpp"
#include "fastappkit/migration/autogenerate.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::cli {

using project::Workspace;

namespace {

std::string require_message(const Context& ctx, const std::string& usage) {
  std::string m = ctx.opt("message");
  if (m.empty())
    throw Error(ErrorKind::usage, "a message is required", "pass -m \"what this revision does\" (" + usage + ")");
  return m;
}

void report(Context& ctx, const migration::Migration& m, const std::filesystem::path& file,
            const std::vector<lint::Finding>& findings, const std::string& empty_note) {
  if (ctx.verbosity == 0) return;
  ctx.out << "Generated " << file.string() << "\n";
  if (m.upgrade.empty() && !empty_note.empty()) ctx.out << "  " << empty_note << "\n";
  for (const auto& op : m.upgrade)
    ctx.out << "  - " << migration::describe(op) << (op.comment.empty() ? "" : "   # " + op.comment) << "\n";
  if (findings.empty()) return;
  ctx.out << "migrate lint on this revision:\n";
  print_findings(ctx, findings);
}

void write(Context& ctx, const Workspace& w, const project::Target& t, const migration::Migration& m,
           const std::string& empty_note) {
  auto file = w.write_revision(t, m);
  report(ctx, m, file,
         ctx.verbosity == 0 ? std::vector<lint::Finding>{} : w.lint_new_revision(t, file, lint_dialect(ctx, w, false)),
         empty_note);
}

int autogenerate(Context& ctx, const Workspace& w, const project::Target& t, const std::string& app,
                 const std::string& message) {
  // The dialect lint's findings are printed for: the database URL's, PostgreSQL when none is set.
  const sql::Dialect dialect = lint_dialect(ctx, w, false);
  auto parts = w.autogenerate(t, app, message, dialect);
  if (parts.empty()) {
    if (ctx.verbosity > 0) ctx.out << "No changes detected\n";
    return 0;
  }
  auto files = w.write_revisions(t, parts);
  if (files.size() > 1 && ctx.verbosity > 0)
    ctx.out << "PostgreSQL: the changes are split into " << files.size()
            << " revisions that each take only short locks (docs/lint.md)\n";
  if (ctx.verbosity == 0) return 0;
  auto findings = w.lint_new_revisions(t, files, dialect);
  for (std::size_t i = 0; i < files.size(); ++i) report(ctx, parts[i], files[i], findings[i], "");
  return 0;
}

}  // namespace

int cmd_makemigrations_core(Context& ctx) {
  std::string message = require_message(ctx, "fastappkit migrate core -m MSG");
  Workspace w = Workspace::open_project(ctx.load({.need_url = false}));
  return autogenerate(ctx, w, w.core(), "", message);
}

int cmd_app_makemigrations(Context& ctx) {
  const std::string name = ctx.params.at(0);
  project::require_internal_app(ctx.directory, name);  // before the plugins are loaded
  std::string message = require_message(ctx, "fastappkit migrate app " + name + " makemigrations -m MSG");
  Workspace w = Workspace::open_project(ctx.load({.need_url = false}));
  return autogenerate(ctx, w, w.core(), name, message);
}

int cmd_merge(Context& ctx) {
  std::string message = require_message(ctx, "fastappkit migrate merge -m MSG");
  Workspace w = Workspace::open_project(ctx.load({.need_url = false, .external_apps = false}));
  auto m = w.merge(w.core(), message);
  if (!m) {
    auto heads = w.core().graph->heads();
    if (ctx.verbosity > 0)
      ctx.out << "Nothing to merge: there is " << (heads.empty() ? "no head" : "one head (" + heads[0] + ")") << "\n";
    return 0;
  }
  write(ctx, w, w.core(), *m,
        "(a merge: no operations; it joins the heads " + util::join(m->down_revisions, ", ") + ")");
  return 0;
}

int cmd_revision(Context& ctx) {
  std::string message = require_message(ctx, "fastappkit migrate revision -m MSG [--app NAME]");
  std::string app = ctx.opt("app");
  Workspace w = Workspace::open_project(ctx.load({.need_url = false, .external_apps = false}));
  if (!app.empty()) project::require_internal_app(w.config(), app);
  auto m = w.empty_revision(w.core(), message);
  m.app = app;
  write(ctx, w, w.core(), m, "(no operations: fill in [[upgrade]] and [[downgrade]])");
  return 0;
}

int cmd_plugin_revision(Context& ctx) {
  std::string message = require_message(ctx, "fastappkit plugin revision [--autogenerate] -m MSG");
  Workspace w = Workspace::open_plugin_source(ctx.load({.need_url = false}));
  if (ctx.flag("autogenerate")) return autogenerate(ctx, w, w.core(), "", message);
  write(ctx, w, w.core(), w.empty_revision(w.core(), message),
        "(no operations: fill in [[upgrade]] and [[downgrade]])");
  return 0;
}

}  // namespace fastappkit::cli
