#include "fastappkit/migration/graph.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <optional>
#include <queue>
#include <unordered_set>

#include "fastappkit/error.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::migration {

namespace {

// An input error in `m`'s file: file:line:col when the position is known, else the file alone.
Error in_file(const Migration& m, int line, int col, const std::string& message, const std::string& hint) {
  if (line > 0) return Error(ErrorKind::input, SourceLocation{m.path, line, col}, message, hint);
  return Error(ErrorKind::input, m.path + ": " + message, hint);
}

[[noreturn]] void cant_locate(std::string_view ref, std::string hint = {}) {
  throw Error(ErrorKind::usage, "Can't locate revision identified by '" + std::string(ref) + "'",
              hint.empty() ? "run 'fastappkit migrate history' to list revisions" : std::move(hint));
}

}  // namespace

RevisionGraph::RevisionGraph(std::vector<Migration> migrations) : migrations_(std::move(migrations)) {
  index_.reserve(migrations_.size());
  for (std::size_t i = 0; i < migrations_.size(); ++i) {
    const Migration& m = migrations_[i];
    index_.emplace(m.revision, i);
    auto [it, inserted] = by_id_.emplace(m.revision, i);
    if (!inserted) {
      throw Error(
          ErrorKind::input,
          "duplicate revision '" + m.revision + "' in " + m.path + " and " + migrations_[it->second].path,
          "give one of them a new revision id (12 hex characters) and fix the down_revision that should point at it");
    }
  }
  // Branch labels share one name space with revision ids (Alembic refuses the graph too).
  for (const Migration& m : migrations_) {
    for (const auto& label : m.branch_labels) {
      if (label.empty() || label == "head" || label == "heads" || label == "base" ||
          label.find_first_of("@+-:, ") != std::string::npos) {
        throw in_file(m, 0, 0,
                      "branch label '" + label +
                          "' cannot be used: it is empty, a reserved word (head, heads, base) or contains one of @ + - "
                          ": , or a space",
                      "rename the label in branch_labels");
      }
      if (auto it = by_id_.find(label); it != by_id_.end()) {
        throw in_file(m, 0, 0,
                      "branch label '" + label + "' of revision " + m.revision + " is the id of revision " + it->first +
                          " (" + migrations_[it->second].path + ")",
                      "rename the label in branch_labels: labels and revision ids share one name space");
      }
      auto [lt, fresh] = labels_.emplace(label, m.revision);
      if (!fresh) {
        throw in_file(m, 0, 0,
                      "branch label '" + label + "' of revision " + m.revision + " is already used by revision " +
                          lt->second + " (" + get(lt->second).path + ")",
                      "give each branch its own label");
      }
    }
  }
  rank_.resize(migrations_.size());
  std::vector<std::size_t> all;
  all.reserve(migrations_.size());
  for (const auto& [id, i] : by_id_) {
    rank_[i] = all.size();
    all.push_back(i);
  }
  children_of_.resize(migrations_.size());
  dependents_of_.resize(migrations_.size());
  for (std::size_t i = 0; i < migrations_.size(); ++i) {
    Migration& m = migrations_[i];
    for (const auto& d : m.down_revisions) {
      auto parent = index_.find(d);
      if (parent == index_.end()) {
        throw in_file(m, m.down_line, m.down_col, "Can't locate revision identified by '" + d + "'",
                      "down_revision must name a revision in this migration directory");
      }
      children_of_[parent->second].push_back(i);
      dependents_of_[parent->second].push_back(i);
    }
    // depends_on may name a revision or a branch label (Alembic); the graph keeps the revision.
    for (auto& d : m.depends_on) {
      if (!by_id_.count(d)) {
        auto lt = labels_.find(d);
        if (lt == labels_.end()) {
          throw in_file(m, m.depends_line, m.depends_col, "Can't locate revision identified by '" + d + "'",
                        "depends_on must name a revision or a branch label in this migration directory");
        }
        d = lt->second;
      }
      if (d == m.revision) {
        throw in_file(m, m.depends_line, m.depends_col,
                      "depends_on names the file's own revision (through a branch label)",
                      "a revision cannot depend on itself");
      }
    }
    std::sort(m.depends_on.begin(), m.depends_on.end());
    m.depends_on.erase(std::unique(m.depends_on.begin(), m.depends_on.end()), m.depends_on.end());
    for (const auto& d : m.depends_on)
      if (std::find(m.down_revisions.begin(), m.down_revisions.end(), d) == m.down_revisions.end())
        dependents_of_[index_.find(d)->second].push_back(i);
  }
  // In id order, as children() and dependents() list them; dependents once each.
  auto by_rank = [&](std::size_t a, std::size_t b) { return rank_[a] < rank_[b]; };
  for (auto& v : children_of_) std::sort(v.begin(), v.end(), by_rank);
  for (auto& v : dependents_of_) {
    std::sort(v.begin(), v.end(), by_rank);
    v.erase(std::unique(v.begin(), v.end()), v.end());
  }
  order_ = topological(all);
  if (order_.size() != all.size()) {
    std::set<std::string> placed(order_.begin(), order_.end());
    std::vector<std::string> stuck;
    for (const auto& [id, i] : by_id_)
      if (!placed.count(id)) stuck.push_back(id + " (" + migrations_[i].path + ")");
    throw Error(ErrorKind::input, "the revision graph has a cycle among: " + util::join(stuck, ", "),
                "a revision cannot (indirectly) be its own down_revision; fix down_revision/depends_on in these files");
  }
}

std::size_t RevisionGraph::position(std::string_view id) const {
  auto it = index_.find(id);
  if (it == index_.end()) cant_locate(id);
  return it->second;
}

const Migration& RevisionGraph::get(std::string_view id) const { return migrations_[position(id)]; }

std::set<std::string> RevisionGraph::in_id_order(std::vector<std::size_t> positions) const {
  std::sort(positions.begin(), positions.end(), [&](std::size_t a, std::size_t b) { return rank_[a] < rank_[b]; });
  std::set<std::string> out;
  for (auto i : positions) out.emplace_hint(out.end(), migrations_[i].revision);  // sorted: no tree walk
  return out;
}

std::vector<std::string> RevisionGraph::heads() const {
  std::vector<std::string> out;
  for (const auto& [id, i] : by_id_)
    if (children_of_[i].empty()) out.push_back(id);
  return out;
}

std::vector<std::string> RevisionGraph::real_heads() const {
  std::vector<std::string> out;
  for (const auto& [id, i] : by_id_)
    if (dependents_of_[i].empty()) out.push_back(id);
  return out;
}

std::vector<std::string> RevisionGraph::bases() const {
  std::vector<std::string> out;
  for (const auto& m : migrations_)
    if (m.down_revisions.empty()) out.push_back(m.revision);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> RevisionGraph::ids(const std::vector<std::size_t>& positions) const {
  std::vector<std::string> out;
  out.reserve(positions.size());
  for (auto i : positions) out.push_back(migrations_[i].revision);
  return out;
}

std::vector<std::string> RevisionGraph::children(std::string_view id) const {
  auto it = index_.find(id);
  return it == index_.end() ? std::vector<std::string>{} : ids(children_of_[it->second]);
}

std::vector<std::string> RevisionGraph::dependents(std::string_view id) const {
  auto it = index_.find(id);
  return it == index_.end() ? std::vector<std::string>{} : ids(dependents_of_[it->second]);
}

const std::string* RevisionGraph::label_owner(std::string_view label) const {
  auto it = labels_.find(std::string(label));
  return it == labels_.end() ? nullptr : &it->second;
}

std::string RevisionGraph::resolve(std::string_view ref) const {
  if (by_id_.count(std::string(ref))) return std::string(ref);
  if (const std::string* owner = label_owner(ref)) return *owner;
  std::vector<std::string> matches;
  if (!ref.empty()) {
    for (const auto& [id, i] : by_id_)
      if (id.rfind(ref, 0) == 0) matches.push_back(id);
  }
  if (matches.size() == 1) return matches[0];
  if (matches.size() > 1) {
    throw Error(ErrorKind::usage,
                "revision prefix '" + std::string(ref) + "' is ambiguous: it matches " + util::join(matches, ", "),
                "write more characters of the revision id");
  }
  std::vector<std::string> ids;
  for (const auto& [id, i] : by_id_) ids.push_back(id);
  std::string near = util::did_you_mean(ref, ids);
  cant_locate(ref, near.empty() ? std::string() : "did you mean '" + near + "'?");
}

std::set<std::string> RevisionGraph::ancestors(const std::vector<std::string>& ids, bool with_depends_on) const {
  std::vector<char> seen(migrations_.size());
  std::vector<std::size_t> found;
  std::vector<std::size_t> stack;
  for (const auto& id : ids) stack.push_back(position(id));
  while (!stack.empty()) {
    const std::size_t i = stack.back();
    stack.pop_back();
    if (seen[i]) continue;
    seen[i] = 1;
    found.push_back(i);
    const Migration& m = migrations_[i];
    for (const auto& d : m.down_revisions) stack.push_back(index_.find(d)->second);  // the constructor checked them
    if (with_depends_on)
      for (const auto& d : m.depends_on) stack.push_back(index_.find(d)->second);
  }
  return in_id_order(std::move(found));
}

std::set<std::string> RevisionGraph::descendants(std::string_view id) const {
  return descendants({std::string(id)}, true);
}

std::set<std::string> RevisionGraph::descendants(const std::vector<std::string>& ids, bool with_depends_on) const {
  std::vector<char> seen(migrations_.size());
  std::vector<std::size_t> found;
  std::vector<std::size_t> stack;
  for (const auto& id : ids) stack.push_back(position(id));
  const auto& edges = with_depends_on ? dependents_of_ : children_of_;
  while (!stack.empty()) {
    const std::size_t i = stack.back();
    stack.pop_back();
    if (seen[i]) continue;
    seen[i] = 1;
    found.push_back(i);
    stack.insert(stack.end(), edges[i].begin(), edges[i].end());
  }
  return in_id_order(std::move(found));
}

std::vector<std::string> RevisionGraph::normalized_down(std::string_view id) const {
  const Migration& m = get(id);
  std::vector<std::string> out = m.down_revisions;
  if (m.depends_on.empty()) return out;  // nothing to normalise: no walk over the ancestors
  std::set<std::string> deps(m.depends_on.begin(), m.depends_on.end());
  for (const auto& a : ancestors({std::string(id)}, false))
    if (a != id)
      for (const auto& d : get(a).depends_on) deps.erase(d);
  for (const auto& d : deps)
    if (std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
  return out;
}

std::vector<std::string> RevisionGraph::heads_of(const std::set<std::string>& set) const {
  std::vector<std::string> out;
  for (const auto& id : set) {
    bool needed = false;
    if (auto it = index_.find(id); it != index_.end())
      for (auto c : dependents_of_[it->second])
        if (set.count(migrations_[c].revision)) needed = true;
    if (!needed) out.push_back(id);
  }
  return out;
}

std::vector<std::string> RevisionGraph::topological(const std::set<std::string>& set) const {
  std::vector<std::size_t> members;
  members.reserve(set.size());
  for (const auto& id : set) members.push_back(position(id));
  return topological(members);
}

// Kahn's algorithm over positions; of the revisions ready at once, the smallest id goes first.
std::vector<std::string> RevisionGraph::topological(const std::vector<std::size_t>& members) const {
  std::vector<int> pending(migrations_.size(), -1);  // parents in the set not yet placed; -1: not a member
  for (auto i : members) pending[i] = 0;
  std::vector<std::size_t> parents;
  for (auto i : members) {
    const Migration& m = migrations_[i];
    parents.clear();
    for (const auto& d : m.down_revisions) parents.push_back(index_.find(d)->second);
    for (const auto& d : m.depends_on) parents.push_back(index_.find(d)->second);
    std::sort(parents.begin(), parents.end());
    parents.erase(std::unique(parents.begin(), parents.end()), parents.end());
    for (auto p : parents) pending[i] += pending[p] >= 0 ? 1 : 0;
  }
  auto later = [&](std::size_t a, std::size_t b) { return rank_[a] > rank_[b]; };
  std::priority_queue<std::size_t, std::vector<std::size_t>, decltype(later)> ready(later);
  for (auto i : members)
    if (pending[i] == 0) ready.push(i);
  std::vector<std::string> out;
  out.reserve(members.size());
  while (!ready.empty()) {
    const std::size_t i = ready.top();
    ready.pop();
    out.push_back(migrations_[i].revision);
    for (auto c : dependents_of_[i])
      if (pending[c] > 0 && --pending[c] == 0) ready.push(c);
  }
  return out;
}

std::set<std::string> applied_set(const RevisionGraph& graph, const std::vector<std::string>& current,
                                  const std::string& version_table) {
  for (const auto& id : current) {
    if (!graph.contains(id)) {
      throw Error(
          ErrorKind::failed,
          "Can't locate revision identified by '" + id + "' (found in the database's " + version_table + " table)",
          "the database was migrated with a revision file that is not here: restore that file, or "
          "'fastappkit migrate stamp --purge' the database to a known revision");
    }
  }
  return graph.ancestors(current);
}

namespace {

using Ids = std::vector<std::string>;

[[noreturn]] void refuse(const std::string& message, const std::string& hint) {
  throw Error(ErrorKind::usage, message, hint);
}

// A position in Alembic's walk: before every base (`none`, Alembic's None), the symbol "base",
// or a revision.
struct Node {
  enum Kind { none, base, rev } kind = none;
  std::string id;
  static Node of(std::string id) { return {rev, std::move(id)}; }
};

// A target in the relative form "[BRANCH@][SYMBOL](+|-)N", Alembic's _relative_destination.
struct Relative {
  std::string branch, symbol;  // empty when absent
  int steps = 0;
};

std::optional<Relative> parse_relative(std::string_view target) {
  Relative r;
  std::string_view rest = target;
  auto at = rest.find('@');
  if (at != std::string_view::npos) {
    if (at == 0) return std::nullopt;
    r.branch = std::string(rest.substr(0, at));
    rest = rest.substr(at + 1);
  }
  auto sign = rest.find_first_of("+-");
  if (sign == std::string_view::npos || sign + 1 >= rest.size()) return std::nullopt;
  auto word = rest.substr(0, sign);
  for (char c : word)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return std::nullopt;
  auto digits = rest.substr(sign + 1);
  int n = 0;
  auto res = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (res.ec != std::errc() || res.ptr != digits.data() + digits.size()) return std::nullopt;
  r.symbol = std::string(word);
  r.steps = rest[sign] == '-' ? -n : n;
  return r;
}

// Alembic's RevisionMap lookups (script/revision.py), over a RevisionGraph.
class Lookup {
 public:
  explicit Lookup(const RevisionGraph& g) : g_(g) {}

  // _resolve_revision_number: "BRANCH@SYMBOL" or "SYMBOL" into revision ids (none for base).
  std::pair<Ids, std::string> resolve_number(std::string_view text) const {
    std::string branch, id(text);
    if (auto at = id.find('@'); at != std::string::npos) {
      branch = id.substr(0, at);
      id = id.substr(at + 1);
    }
    if (id == "heads")
      return {branch.empty() ? g_.real_heads() : filter_for_lineage(g_.heads(), branch, false), branch};
    if (id == "head") {
      Ids hs = g_.heads();
      if (!branch.empty()) hs = filter_for_lineage(hs, branch, false);
      if (hs.size() > 1) {
        std::string what = branch.empty() ? "head" : branch + "@head";
        refuse("Multiple heads are present: " + util::join(hs, ", "),
               branch.empty() ? "name one revision, use 'heads' to upgrade every branch, or merge them with "
                                "'fastappkit migrate merge'"
                              : "'" + what + "' names more than one revision: name one of them");
      }
      return {hs, branch};
    }
    if (id == "base" || id.empty()) return {{}, branch};
    return {{id}, branch};
  }

  // _revision_for_ident: an id, a label or a unique prefix (of an id or a label), checked
  // against the lineage of `branch` when one is given. nullopt is base.
  std::optional<std::string> ident(const std::string& ref, const std::string& branch = {}) const {
    std::string branch_rev;
    if (!branch.empty()) branch_rev = resolve_branch(branch);
    if (ref.empty()) return std::nullopt;
    std::string found;
    if (g_.contains(ref))
      found = ref;
    else if (const std::string* owner = g_.label_owner(ref))
      found = *owner;
    else {
      Ids keys, revs;
      for (const auto& m : g_.migrations()) {
        if (m.revision.size() > 3 && m.revision.rfind(ref, 0) == 0) {
          keys.push_back(m.revision);
          revs.push_back(m.revision);
        }
        for (const auto& l : m.branch_labels)
          if (l.size() > 3 && l.rfind(ref, 0) == 0) {
            keys.push_back(l);
            revs.push_back(m.revision);
          }
      }
      if (!branch.empty()) {
        Ids k2, r2;
        for (std::size_t i = 0; i < revs.size(); ++i)
          if (shares_lineage(revs[i], lineage_of(branch), false)) {
            k2.push_back(keys[i]);
            r2.push_back(revs[i]);
          }
        keys = k2;
        revs = r2;
      }
      if (revs.empty()) {
        Ids ids;
        for (const auto& m : g_.migrations()) ids.push_back(m.revision);
        std::string near = util::did_you_mean(ref, ids);
        cant_locate(ref, near.empty() ? std::string() : "did you mean '" + near + "'?");
      }
      if (revs.size() > 1) {
        std::sort(keys.begin(), keys.end());
        refuse("revision prefix '" + ref + "' is ambiguous: it matches " + util::join(keys, ", "),
               "write more characters of the revision id");
      }
      found = revs[0];
    }
    if (!branch.empty() && !shares_lineage(found, {branch_rev}, false))
      refuse("Revision " + found + " is not a member of branch '" + branch + "'",
             "name a revision of that branch, or leave out '" + branch + "@'");
    return found;
  }

  // _resolve_branch: a label, a revision id, or a unique prefix.
  std::string resolve_branch(const std::string& branch) const {
    if (g_.contains(branch)) return branch;
    if (const std::string* owner = g_.label_owner(branch)) return *owner;
    try {
      return *ident(branch);
    } catch (const Error&) {
      refuse("No such branch: '" + branch + "'",
             "name a branch label or a revision; 'fastappkit migrate history' lists them");
    }
  }

  // The revisions a lineage check against `text` (as filter_for_lineage) compares with.
  Ids lineage_of(const std::string& text) const {
    auto [ids, branch] = resolve_number(text);
    Ids out;
    if (!branch.empty()) out.push_back(resolve_branch(branch));
    for (const auto& id : ids) out.push_back(*ident(id));
    return out;
  }

  bool shares_lineage(const std::string& target, const Ids& against, bool with_depends_on) const {
    if (against.empty()) return true;
    auto up = g_.ancestors({target}, with_depends_on);
    auto down = g_.descendants({target}, with_depends_on);
    for (const auto& a : against)
      if (up.count(a) || down.count(a)) return true;
    return false;
  }

  Ids filter_for_lineage(const Ids& targets, const std::string& against, bool with_depends_on) const {
    Ids tests = lineage_of(against);
    Ids out;
    for (const auto& t : targets)
      if (shares_lineage(t, tests, with_depends_on)) out.push_back(t);
    return out;
  }

  // get_revisions for one symbolic target (not a negative integer: callers route those).
  Ids revisions(std::string_view text) const {
    auto [ids, branch] = resolve_number(text);
    Ids out;
    for (const auto& id : ids)
      if (auto r = ident(id, branch)) out.push_back(*r);
    return out;
  }

  // get_revision: at most one revision; nullopt is base.
  std::optional<std::string> revision(std::string_view text) const {
    auto [ids, branch] = resolve_number(text);
    if (ids.size() > 1)
      refuse("Multiple heads are present: " + util::join(ids, ", "),
             "'" + std::string(text) + "' names more than one revision: name one of them");
    return ident(ids.empty() ? std::string() : ids[0], branch);
  }

  // _walk: `steps` up (children through down_revision, filtered to `branch`) or down
  // (through down_revision). Returns nullopt when the walk goes past the end.
  std::optional<Node> walk(Node at, int steps, const std::string& branch, std::string_view target) const {
    for (int i = 0; i < std::abs(steps); ++i) {
      Ids next;
      bool to_base = false;
      if (steps > 0) {
        if (at.kind == Node::base) return std::nullopt;
        next = at.kind == Node::none ? g_.bases() : g_.children(at.id);
        if (!branch.empty()) next = filter_for_lineage(next, branch, false);
      } else {
        if (at.kind == Node::base) return std::nullopt;
        next = at.kind == Node::none ? g_.heads() : g_.get(at.id).down_revisions;
        to_base = next.empty();
      }
      if (to_base) {
        at = Node{Node::base, {}};
        continue;
      }
      if (next.empty()) return std::nullopt;
      if (next.size() > 1) {
        refuse("relative target '" + std::string(target) + "' is ambiguous: the walk reaches " +
                   (at.kind == Node::rev ? (steps > 0 ? "the branch point " : "the merge ") + at.id
                                         : std::string("several bases")) +
                   " (" + util::join(next, ", ") + ")",
               "name a revision instead (Alembic refuses this walk too: \"Ambiguous walk\")");
      }
      at = Node::of(next[0]);
    }
    return at;
  }

  // _get_all_current: the rows, everything they imply, reduced to the revisions no other
  // member follows through down_revision.
  Ids all_current(const Ids& rows) const {
    auto all = g_.ancestors(rows);
    Ids out;
    for (const auto& id : all) {
      bool followed = false;
      for (const auto& d : g_.descendants({id}, false))
        if (d != id && all.count(d)) followed = true;
      if (!followed) out.push_back(id);
    }
    return out;
  }

 private:
  const RevisionGraph& g_;
};

void check_rows(const RevisionGraph& graph, const Ids& current, bool overlap) {
  applied_set(graph, current, "version");
  if (!overlap) return;
  // Alembic's upgrade refuses rows of which one is an ancestor of another ("overlaps").
  for (const auto& a : current)
    for (const auto& b : current)
      if (a != b && graph.ancestors({b}).count(a)) {
        throw Error(ErrorKind::failed,
                    "the version table holds both " + a + " and " + b + ", which needs it: the rows overlap",
                    "'fastappkit migrate stamp --purge' the database to the revisions it really is at");
      }
}

[[noreturn]] void didnt_produce(std::string_view target, int steps) {
  refuse(
      "Relative revision " + std::string(target) + " didn't produce " + std::to_string(std::abs(steps)) + " migrations",
      "use a smaller step, or name a revision");
}

}  // namespace

Schema state_at(const RevisionGraph& graph, const std::set<std::string>& applied) {
  Schema s;
  for (const auto& id : graph.topological(applied))
    for (const auto& op : graph.get(id).upgrade) apply(s, op);
  return s;
}

void validate_target(const RevisionGraph& graph, std::string_view target) {
  Lookup look(graph);
  std::string branch, symbol;
  if (auto rel = parse_relative(target)) {
    branch = rel->branch;
    symbol = rel->symbol;
  } else {
    std::string t(target);
    auto at = t.rfind('@');
    if (at != std::string::npos) {
      branch = t.substr(0, at);
      symbol = t.substr(at + 1);
    } else
      symbol = t;
  }
  if (!branch.empty()) look.resolve_branch(branch);
  if (!symbol.empty() && symbol != "head" && symbol != "heads" && symbol != "base") look.ident(symbol, branch);
}

Plan plan_upgrade(const RevisionGraph& graph, const std::vector<std::string>& current, std::string_view target) {
  Plan plan;
  plan.direction = Direction::upgrade;
  if (graph.empty() && (target == "head" || target == "heads")) return plan;  // nothing to apply, as Alembic
  check_rows(graph, current, true);
  Lookup look(graph);
  Ids targets;
  if (auto rel = parse_relative(target)) {
    if (rel->steps > 0 && rel->symbol.empty()) {
      // _parse_upgrade_target: walk up from the one row on the branch (or from base).
      std::vector<Node> starts;
      if (current.empty())
        starts.push_back(Node{});
      else
        for (const auto& r : current) starts.push_back(Node::of(r));
      if (!rel->branch.empty()) {
        starts.clear();
        for (const auto& r : look.filter_for_lineage(current, rel->branch, false)) starts.push_back(Node::of(r));
        if (starts.empty()) {
          Ids active;
          for (const auto& a : graph.ancestors(current)) active.push_back(a);
          active = look.filter_for_lineage(active, rel->branch, false);
          std::set<std::string> tips(active.begin(), active.end());
          for (const auto& a : active)
            for (const auto& d : graph.normalized_down(a)) tips.erase(d);
          for (const auto& t : tips) starts.push_back(Node::of(t));
          if (starts.empty()) starts.push_back(Node{});
        }
      }
      if (starts.size() > 1) {
        refuse("relative target '" + std::string(target) + "' is ambiguous: the database is at several heads (" +
                   util::join(current, ", ") + ")",
               "name a revision instead, or qualify the step with a branch (BRANCH@+N)");
      }
      auto to = look.walk(starts[0], rel->steps, rel->branch, target);
      if (!to) didnt_produce(target, rel->steps);
      if (to->kind == Node::rev) targets = {to->id};
    } else if (rel->steps > 0) {
      auto start = look.revision(rel->symbol);
      auto to = look.walk(start ? Node::of(*start) : Node{}, rel->steps, rel->branch, target);
      if (!to || to->kind != Node::rev) didnt_produce(target, rel->steps);
      targets = {to->id};
    } else {
      if (rel->symbol.empty())
        refuse("'" + std::string(target) + "' is a downgrade target",
               "use 'fastappkit migrate downgrade " + std::string(target) + "'");
      auto start = rel->branch.empty() ? look.revision(rel->symbol) : look.revision(rel->branch + "@" + rel->symbol);
      auto to = look.walk(start ? Node::of(*start) : Node{}, rel->steps, {}, target);
      if (!to || to->kind != Node::rev) didnt_produce(target, rel->steps);
      targets = {to->id};
    }
  } else {
    targets = look.revisions(target);
  }
  std::set<std::string> needed = targets.empty() ? std::set<std::string>{} : graph.ancestors(targets);
  std::set<std::string> applied = graph.ancestors(current);
  std::set<std::string> todo;
  for (const auto& id : needed)
    if (!applied.count(id)) todo.emplace_hint(todo.end(), id);  // in order: no tree walk
  plan.steps = graph.topological(todo);
  return plan;
}

Plan plan_downgrade(const RevisionGraph& graph, const std::vector<std::string>& current, std::string_view target) {
  Plan plan;
  plan.direction = Direction::downgrade;
  check_rows(graph, current, false);
  Lookup look(graph);
  // _parse_downgrade_target
  std::string branch;
  Node to;  // none = base
  if (auto rel = parse_relative(target)) {
    branch = rel->branch;
    if (rel->steps >= 0) {
      if (rel->symbol.empty())
        refuse("'" + std::string(target) + "' is an upgrade target",
               "use 'fastappkit migrate upgrade --revision " + std::string(target) + "'");
      auto start = look.revision(rel->symbol);
      auto r = look.walk(start ? Node::of(*start) : Node{}, rel->steps, branch, target);
      if (!r) refuse("relative target '" + std::string(target) + "' walks past the head", "use a smaller step");
      to = *r;
    } else {
      std::string symbol = rel->symbol;
      if (symbol.empty()) {
        if (!branch.empty()) {
          Ids on_branch = look.filter_for_lineage(current, branch, false);
          if (on_branch.empty()) on_branch = look.filter_for_lineage(look.all_current(current), branch, false);
          if (on_branch.size() != 1)
            refuse("relative target '" + std::string(target) + "' is ambiguous: " + std::to_string(on_branch.size()) +
                       " applied revisions are on branch '" + branch + "'",
                   "name the revision to go down to");
          symbol = on_branch[0];
        } else {
          if (current.empty()) didnt_produce(target, rel->steps);
          if (current.size() > 1)
            refuse("relative target '" + std::string(target) + "' is ambiguous: the database has several heads (" +
                       util::join(current, ", ") + ")",
                   "name the revision to go down to, or qualify the step with a branch (BRANCH@-N)");
          symbol = current[0];
          branch = symbol;
        }
      }
      auto start = branch.empty() ? look.revision(symbol) : look.revision(branch + "@" + symbol);
      auto r = look.walk(start ? Node::of(*start) : Node{}, rel->steps, {}, target);
      if (!r) refuse("relative target '" + std::string(target) + "' goes below base", "use a smaller step or 'base'");
      to = *r;
    }
  } else {
    std::string t(target);
    std::string symbol = t;
    if (auto at = t.rfind('@'); at != std::string::npos) {
      branch = t.substr(0, at);
      symbol = t.substr(at + 1);
    }
    auto r = look.revision(symbol);
    if (r) to = Node::of(*r);
    if (!branch.empty()) {
      // Alembic ignores the branch of BRANCH@REV here and reverts REV's children; a REV off
      // that branch is almost surely a mistake, so we refuse it (docs/migrations.md).
      std::string on = look.resolve_branch(branch);
      if (r && !look.shares_lineage(*r, {on}, false))
        refuse("Revision " + *r + " is not a member of branch '" + branch + "'",
               "name a revision of that branch, or leave out '" + branch + "@'");
    }
  }
  if (to.kind == Node::base) to = Node{};

  // _collect_downgrade_revisions
  Ids roots;
  if (to.kind == Node::none)
    roots = graph.bases();
  else
    roots = graph.children(to.id);
  if (!branch.empty() && roots.size() > 1) {
    auto on_branch = graph.ancestors({look.resolve_branch(branch)}, false);
    Ids kept;
    for (const auto& r : roots)
      if (on_branch.count(r)) kept.push_back(r);
    if (kept.empty())
      refuse("'" + std::string(target) + "' is not a valid downgrade target from the current heads",
             "name a revision of that branch");
    roots = kept;
  }
  auto active = graph.ancestors(current);
  std::set<std::string> remove;
  for (const auto& d : graph.descendants(roots, true))
    if (active.count(d)) remove.insert(d);
  if (to.kind == Node::rev && remove.empty() && std::find(current.begin(), current.end(), to.id) == current.end()) {
    refuse("revision " + to.id +
               (active.count(to.id)
                    ? " is applied only because another revision depends_on it, so it is not a downgrade target"
                    : " is not applied, so it is not a downgrade target"),
           "run 'fastappkit migrate current' to see where the database is; use 'upgrade' to go forward");
  }
  auto order = graph.topological(remove);
  std::reverse(order.begin(), order.end());
  plan.steps = order;
  return plan;
}

std::vector<std::string> stamp_rows(const RevisionGraph& graph, const std::vector<std::string>& current,
                                    std::string_view target, bool purge) {
  Lookup look(graph);
  if (parse_relative(target))
    refuse("stamp needs a revision, not a relative step like '" + std::string(target) + "'",
           "name the revision to stamp");
  Ids rows = purge ? Ids{} : current;
  if (!purge) check_rows(graph, rows, false);
  // _stamp_revs: the rows on the target's lineage (through depends_on too) move to it.
  std::set<std::string> lineage;
  {
    Ids tests = look.lineage_of(std::string(target));
    for (const auto& r : rows)
      if (look.shares_lineage(r, tests, true)) lineage.insert(r);
  }
  Ids filtered;
  for (const auto& r : rows)
    if (lineage.count(r)) filtered.push_back(r);
  Ids dests = look.revisions(target);
  std::set<std::string> heads(rows.begin(), rows.end());
  auto remove = [&](const std::string& r) {
    if (!heads.erase(r))
      refuse("stamp would remove row " + r + ", which the version table does not hold", "stamp with --purge");
  };
  auto insert = [&](const std::string& r) {
    if (!heads.insert(r).second) refuse("stamp would add row " + r + " twice", "stamp with --purge");
  };
  if (dests.empty()) {
    for (const auto& h : filtered) remove(h);
  }
  // Each destination is one Alembic StampStep, applied to the rows as its HeadMaintainer does.
  auto step = [&](const Ids& from, const std::string& to, bool is_upgrade, bool branch_move) {
    bool from_missing = false;
    for (const auto& f : from) from_missing = from_missing || !heads.count(f);
    if (is_upgrade && (branch_move || from_missing) && !heads.count(to)) {
      insert(to);
    } else if (from.size() > 1) {
      for (std::size_t i = 0; i + 1 < from.size(); ++i) remove(from[i]);
      remove(from.back());
      insert(to);
    } else if (from.size() == 1) {
      remove(from[0]);
      insert(to);
    } else {
      refuse("stamp '" + std::string(target) + "' cannot place " + to + " among the rows " + util::join(rows, ", "),
             "stamp with --purge");
    }
  };
  for (const auto& dest : dests) {
    if (lineage.count(dest)) continue;  // already a row
    auto below = graph.descendants({dest}, true);
    auto above = graph.ancestors({dest});
    bool down = false, up = false;
    for (const auto& h : filtered) {
      down = down || below.count(h);
      up = up || above.count(h);
    }
    if (down) {
      if (up)
        refuse("stamp '" + std::string(target) + "': the rows " + util::join(filtered, ", ") +
                   " are both above and below " + dest,
               "stamp with --purge");
      step(filtered, dest, false, false);
    } else if (up) {
      step(filtered, dest, true, false);
    } else {
      step({}, dest, true, true);  // a branch the rows do not touch: a new row
    }
  }
  Ids out(heads.begin(), heads.end());
  return out;
}

std::vector<std::string> rows_after_step(const RevisionGraph& graph, const std::vector<std::string>& rows,
                                         const std::string& revision, Direction direction) {
  std::set<std::string> heads(rows.begin(), rows.end());
  auto fail = [&](const std::string& what) -> Error {
    return Error(
        ErrorKind::failed,
        "cannot record " + std::string(direction == Direction::upgrade ? "upgrade" : "downgrade") + " of " + revision +
            " in the version table (rows: " + util::join(rows, ", ") + "): " + what,
        "the version table does not match the revision graph: check it with 'fastappkit migrate current', then "
        "'fastappkit migrate stamp --purge' it to where the database really is");
  };
  auto remove = [&](const std::string& r) {
    if (!heads.erase(r)) throw fail("row " + r + " is missing");
  };
  auto insert = [&](const std::string& r) {
    if (!heads.insert(r).second) throw fail("row " + r + " is already there");
  };
  // Parents not implied by the rows outside `except` (Alembic's merge/unmerge targets).
  auto not_implied = [&](const Ids& parents, const Ids& except) {
    Ids others;
    for (const auto& h : heads)
      if (std::find(except.begin(), except.end(), h) == except.end()) others.push_back(h);
    std::set<std::string> implied = others.empty() ? std::set<std::string>{} : graph.ancestors(others);
    Ids out;
    for (const auto& p : parents)
      if (!implied.count(p)) out.push_back(p);
    return out;
  };
  const Ids down = graph.normalized_down(revision);
  Ids present;
  for (const auto& d : down)
    if (heads.count(d)) present.push_back(d);
  if (direction == Direction::upgrade) {
    if (down.empty() || present.empty()) {
      insert(revision);  // a new branch
    } else if (down.size() > 1 && present.size() > 1) {
      Ids from = not_implied(down, down);
      for (const auto& f : from) remove(f);  // a merge: the parents' rows become one
      insert(revision);
    } else {
      if (down.size() > 1 && present.size() != 1) throw fail("its parent row is ambiguous");
      remove(down.size() == 1 ? down[0] : present[0]);
      insert(revision);
    }
  } else {
    const bool row = heads.count(revision) != 0;
    Ids to = row ? not_implied(down, {revision}) : Ids{};
    if (row && (down.empty() || to.empty())) {
      remove(revision);  // the branch goes (its parents are implied by other rows)
    } else if (row && down.size() > 1) {
      remove(revision);  // an unmerge: each parent not implied otherwise gets its row back
      for (const auto& t : to) insert(t);
    } else {
      if (down.size() > 1 && present.size() != 1) throw fail("its parent row is ambiguous");
      remove(revision);
      insert(down.size() == 1 ? down[0] : present[0]);
    }
  }
  return Ids(heads.begin(), heads.end());
}

std::vector<std::string> current_heads(const RevisionGraph& graph, const std::vector<std::string>& current,
                                       const std::string& version_table) {
  applied_set(graph, current, version_table);
  Lookup look(graph);
  auto out = look.all_current(current);
  std::sort(out.begin(), out.end());
  return out;
}

std::set<std::string> tables_named(const RevisionGraph& graph) {
  // Each name once through a hash set (a history names the same tables many times), then the
  // few distinct ones sorted into the result.
  std::unordered_set<std::string_view> seen;
  for (const auto& m : graph.migrations())
    for (const auto* ops : {&m.upgrade, &m.downgrade})
      for (const auto& op : *ops) {
        if (!op.table.empty()) seen.insert(op.table);
        if (op.kind == OpKind::rename_table && !op.new_name.empty()) seen.insert(op.new_name);
      }
  std::vector<std::string_view> names(seen.begin(), seen.end());
  std::sort(names.begin(), names.end());
  std::set<std::string> out;
  for (auto n : names) out.emplace_hint(out.end(), n);
  return out;
}

}  // namespace fastappkit::migration
