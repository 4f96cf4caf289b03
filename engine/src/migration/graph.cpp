#include "fastappkit/migration/graph.hpp"

#include <algorithm>
#include <charconv>
#include <queue>

#include "fastappkit/error.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::migration {

namespace {

SourceLocation where(const Migration& m, int line, int col) { return {m.path, line, col}; }

[[noreturn]] void cant_locate(std::string_view ref, std::string hint = {}) {
  throw Error(ErrorKind::usage, "Can't locate revision identified by '" + std::string(ref) + "'",
              hint.empty() ? "run 'fastappkit migrate history' to list revisions" : std::move(hint));
}

}  // namespace

RevisionGraph::RevisionGraph(std::vector<Migration> migrations) : migrations_(std::move(migrations)) {
  for (std::size_t i = 0; i < migrations_.size(); ++i) {
    const Migration& m = migrations_[i];
    auto [it, inserted] = by_id_.emplace(m.revision, i);
    if (!inserted) {
      throw Error(ErrorKind::input,
                  "duplicate revision '" + m.revision + "' in " + m.path + " and " + migrations_[it->second].path,
                  "give one of them a new revision id (12 hex characters) and fix the down_revision that should point at it");
    }
  }
  for (const Migration& m : migrations_) {
    for (const auto& d : m.down_revisions) {
      if (!by_id_.count(d)) {
        throw Error(ErrorKind::input, where(m, m.down_line, m.down_col), "Can't locate revision identified by '" + d + "'",
                    "down_revision must name a revision in this migration directory");
      }
      children_[d].push_back(m.revision);
      dependents_[d].push_back(m.revision);
    }
    for (const auto& d : m.depends_on) {
      if (!by_id_.count(d)) {
        throw Error(ErrorKind::input, where(m, m.depends_line, m.depends_col), "Can't locate revision identified by '" + d + "'",
                    "depends_on must name a revision in this migration directory");
      }
      dependents_[d].push_back(m.revision);
    }
  }
  for (auto& [k, v] : children_) std::sort(v.begin(), v.end());
  for (auto& [k, v] : dependents_) std::sort(v.begin(), v.end());

  std::set<std::string> all;
  for (const auto& [id, i] : by_id_) all.insert(id);
  auto order = topological(all);
  if (order.size() != all.size()) {
    std::set<std::string> placed(order.begin(), order.end());
    std::vector<std::string> stuck;
    for (const auto& id : all)
      if (!placed.count(id)) stuck.push_back(id + " (" + get(id).path + ")");
    throw Error(ErrorKind::input, "the revision graph has a cycle among: " + util::join(stuck, ", "),
                "a revision cannot (indirectly) be its own down_revision; fix down_revision/depends_on in these files");
  }
}

const Migration& RevisionGraph::get(std::string_view id) const {
  auto it = by_id_.find(std::string(id));
  if (it == by_id_.end()) cant_locate(id);
  return migrations_[it->second];
}

std::vector<std::string> RevisionGraph::heads() const {
  std::vector<std::string> out;
  for (const auto& [id, i] : by_id_)
    if (!children_.count(id)) out.push_back(id);
  return out;
}

std::vector<std::string> RevisionGraph::bases() const {
  std::vector<std::string> out;
  for (const auto& m : migrations_)
    if (m.down_revisions.empty()) out.push_back(m.revision);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> RevisionGraph::children(std::string_view id) const {
  auto it = children_.find(std::string(id));
  return it == children_.end() ? std::vector<std::string>{} : it->second;
}

std::string RevisionGraph::resolve(std::string_view ref) const {
  if (by_id_.count(std::string(ref))) return std::string(ref);
  for (const auto& m : migrations_) {
    if (std::find(m.branch_labels.begin(), m.branch_labels.end(), ref) != m.branch_labels.end()) return m.revision;
  }
  std::vector<std::string> matches;
  if (!ref.empty()) {
    for (const auto& [id, i] : by_id_)
      if (id.rfind(ref, 0) == 0) matches.push_back(id);
  }
  if (matches.size() == 1) return matches[0];
  if (matches.size() > 1) {
    throw Error(ErrorKind::usage, "revision prefix '" + std::string(ref) + "' is ambiguous: it matches " + util::join(matches, ", "),
                "write more characters of the revision id");
  }
  std::vector<std::string> ids;
  for (const auto& [id, i] : by_id_) ids.push_back(id);
  std::string near = util::did_you_mean(ref, ids);
  cant_locate(ref, near.empty() ? std::string() : "did you mean '" + near + "'?");
}

std::set<std::string> RevisionGraph::ancestors(const std::vector<std::string>& ids) const {
  std::set<std::string> out;
  std::vector<std::string> stack(ids.begin(), ids.end());
  while (!stack.empty()) {
    std::string id = stack.back();
    stack.pop_back();
    if (!out.insert(id).second) continue;
    const Migration& m = get(id);
    for (const auto& d : m.down_revisions) stack.push_back(d);
    for (const auto& d : m.depends_on) stack.push_back(d);
  }
  return out;
}

std::set<std::string> RevisionGraph::descendants(std::string_view id) const {
  std::set<std::string> out;
  std::vector<std::string> stack{std::string(id)};
  while (!stack.empty()) {
    std::string cur = stack.back();
    stack.pop_back();
    if (!out.insert(cur).second) continue;
    if (auto it = dependents_.find(cur); it != dependents_.end())
      for (const auto& c : it->second) stack.push_back(c);
  }
  return out;
}

std::vector<std::string> RevisionGraph::heads_of(const std::set<std::string>& set) const {
  std::vector<std::string> out;
  for (const auto& id : set) {
    bool needed = false;
    if (auto it = dependents_.find(id); it != dependents_.end())
      for (const auto& c : it->second)
        if (set.count(c)) needed = true;
    if (!needed) out.push_back(id);
  }
  return out;
}

std::vector<std::string> RevisionGraph::topological(const std::set<std::string>& set) const {
  std::map<std::string, int> pending;
  for (const auto& id : set) {
    int n = 0;
    const Migration& m = migrations_[by_id_.at(id)];
    for (const auto& d : m.down_revisions) n += set.count(d) ? 1 : 0;
    for (const auto& d : m.depends_on) n += set.count(d) ? 1 : 0;
    pending[id] = n;
  }
  std::priority_queue<std::string, std::vector<std::string>, std::greater<>> ready;
  for (const auto& [id, n] : pending)
    if (n == 0) ready.push(id);
  std::vector<std::string> out;
  while (!ready.empty()) {
    std::string id = ready.top();
    ready.pop();
    out.push_back(id);
    if (auto it = dependents_.find(id); it != dependents_.end()) {
      for (const auto& c : it->second) {
        auto p = pending.find(c);
        if (p != pending.end() && --p->second == 0) ready.push(c);
      }
    }
  }
  return out;
}

std::set<std::string> applied_set(const RevisionGraph& graph, const std::vector<std::string>& current,
                                  const std::string& version_table) {
  for (const auto& id : current) {
    if (!graph.contains(id)) {
      throw Error(ErrorKind::failed,
                  "Can't locate revision identified by '" + id + "' (found in the database's " + version_table + " table)",
                  "the database was migrated with a revision file that is not here: restore that file, or "
                  "'fastappkit migrate stamp' the database to a known revision");
    }
  }
  return graph.ancestors(current);
}

namespace {

// Splits "abc+2", "head-1", "+1" into base and signed offset; offset 0 when there is none.
std::pair<std::string, int> split_relative(std::string_view target) {
  auto pos = target.find_last_of("+-");
  if (pos == std::string_view::npos || pos + 1 >= target.size()) return {std::string(target), 0};
  int n = 0;
  auto digits = target.substr(pos + 1);
  auto res = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (res.ec != std::errc() || res.ptr != digits.data() + digits.size()) return {std::string(target), 0};
  return {std::string(target.substr(0, pos)), target[pos] == '-' ? -n : n};
}

std::string single_head(const RevisionGraph& graph) {
  auto heads = graph.heads();
  if (heads.size() > 1) {
    throw Error(ErrorKind::usage, "Multiple heads are present: " + util::join(heads, ", "),
                "name one revision, use 'heads' to upgrade every branch, or merge them with 'fastappkit migrate merge'");
  }
  if (heads.empty()) throw Error(ErrorKind::usage, "there are no revisions", "create one with 'fastappkit migrate core -m MSG'");
  return heads[0];
}

std::string single_current(const RevisionGraph& graph, const std::vector<std::string>& current, std::string_view what) {
  if (current.size() > 1) {
    throw Error(ErrorKind::usage, "relative target '" + std::string(what) + "' is ambiguous: the database is at several heads (" +
                                      util::join(current, ", ") + ")",
                "name a revision instead");
  }
  (void)graph;
  return current.empty() ? std::string() : current[0];
}

// Walks `n` steps from `from` ("" = base) forward through children or back through parents.
std::string walk(const RevisionGraph& graph, std::string from, int n, std::string_view target) {
  for (; n > 0; --n) {
    std::vector<std::string> next = from.empty() ? graph.bases() : graph.children(from);
    if (next.empty()) throw Error(ErrorKind::usage, "relative target '" + std::string(target) + "' goes past the head", "use a smaller step");
    if (next.size() > 1)
      throw Error(ErrorKind::usage, "relative target '" + std::string(target) + "' is ambiguous at the branch point " +
                                        (from.empty() ? std::string("base") : from) + " (" + util::join(next, ", ") + ")",
                  "name a revision instead");
    from = next[0];
  }
  for (; n < 0; ++n) {
    if (from.empty()) throw Error(ErrorKind::usage, "relative target '" + std::string(target) + "' goes below base", "use a smaller step or 'base'");
    const auto& downs = graph.get(from).down_revisions;
    if (downs.size() > 1)
      throw Error(ErrorKind::usage, "relative target '" + std::string(target) + "' is ambiguous at the merge " + from, "name a revision instead");
    from = downs.empty() ? std::string() : downs[0];
  }
  return from;
}

}  // namespace

Schema state_at(const RevisionGraph& graph, const std::set<std::string>& applied) {
  Schema s;
  for (const auto& id : graph.topological(applied))
    for (const auto& op : graph.get(id).upgrade) apply(s, op);
  return s;
}

void validate_target(const RevisionGraph& graph, std::string_view target) {
  auto [base, offset] = split_relative(target);
  (void)offset;
  if (base.empty() || base == "head" || base == "heads" || base == "base" || target == "heads") return;
  if (base.size() > 5 && base.compare(base.size() - 5, 5, "@head") == 0) base = base.substr(0, base.size() - 5);
  graph.resolve(base);
}

Plan plan_upgrade(const RevisionGraph& graph, const std::vector<std::string>& current, std::string_view target) {
  Plan plan;
  plan.direction = Direction::upgrade;
  if (graph.empty() && (target == "head" || target == "heads")) return plan;  // nothing to apply, as Alembic
  std::set<std::string> applied = applied_set(graph, current, "version");
  std::vector<std::string> wanted;
  auto [base, offset] = split_relative(target);
  if (target == "heads") {
    wanted = graph.heads();
  } else if (base.empty() && offset != 0) {
    if (offset < 0) throw Error(ErrorKind::usage, "'" + std::string(target) + "' is a downgrade target", "use 'fastappkit migrate downgrade " + std::string(target) + "'");
    std::string to = walk(graph, single_current(graph, current, target), offset, target);
    wanted = {to};
  } else {
    std::string id;
    if (base == "head") id = single_head(graph);
    else if (base == "base") id = "";
    else if (base.size() > 5 && base.compare(base.size() - 5, 5, "@head") == 0) {
      std::string start = graph.resolve(base.substr(0, base.size() - 5));
      std::vector<std::string> hs;
      for (const auto& h : graph.heads())
        if (graph.ancestors({h}).count(start)) hs.push_back(h);
      if (hs.size() != 1) throw Error(ErrorKind::usage, "branch '" + base + "' has " + std::to_string(hs.size()) + " heads", "name a revision instead");
      id = hs[0];
    } else id = graph.resolve(base);
    if (offset != 0) id = walk(graph, id, offset, target);
    if (!id.empty()) wanted = {id};
  }
  std::set<std::string> needed = wanted.empty() ? std::set<std::string>{} : graph.ancestors(wanted);
  std::set<std::string> todo;
  for (const auto& id : needed)
    if (!applied.count(id)) todo.insert(id);
  plan.steps = graph.topological(todo);
  return plan;
}

Plan plan_downgrade(const RevisionGraph& graph, const std::vector<std::string>& current, std::string_view target) {
  Plan plan;
  plan.direction = Direction::downgrade;
  std::set<std::string> applied = applied_set(graph, current, "version");
  std::set<std::string> remove;
  auto [base, offset] = split_relative(target);
  if (target == "base") {
    remove = applied;
  } else if (base.empty() && offset < 0) {
    // -N: peel the newest revision off a single-headed database N times.
    std::set<std::string> left = applied;
    for (int i = 0; i < -offset; ++i) {
      auto heads = graph.heads_of(left);
      if (heads.empty()) throw Error(ErrorKind::usage, "relative target '" + std::string(target) + "' goes below base", "use a smaller step or 'base'");
      if (heads.size() > 1)
        throw Error(ErrorKind::usage, "relative target '" + std::string(target) + "' is ambiguous: the database has several heads (" + util::join(heads, ", ") + ")",
                    "name the revision to go down to");
      left.erase(heads[0]);
      remove.insert(heads[0]);
    }
  } else if (base.empty() && offset > 0) {
    throw Error(ErrorKind::usage, "'" + std::string(target) + "' is an upgrade target", "use 'fastappkit migrate upgrade --revision " + std::string(target) + "'");
  } else {
    std::string id = base == "head" ? single_head(graph) : graph.resolve(base);
    if (offset > 0) throw Error(ErrorKind::usage, "'" + std::string(target) + "' points above its revision", "a downgrade target is a revision or REV-N");
    id = walk(graph, id, offset, target);
    if (!id.empty() && !applied.count(id)) {
      throw Error(ErrorKind::usage, "revision " + id + " is not applied, so it is not a downgrade target",
                  "run 'fastappkit migrate current' to see where the database is; use 'upgrade' to go forward");
    }
    if (id.empty()) {
      remove = applied;
    } else {
      for (const auto& d : graph.descendants(id))
        if (d != id && applied.count(d)) remove.insert(d);
    }
  }
  auto order = graph.topological(remove);
  std::reverse(order.begin(), order.end());
  plan.steps = order;
  return plan;
}

}  // namespace fastappkit::migration
