#pragma once
// The revision graph (Alembic's model): revisions point at their down_revision(s) and may
// depend_on revisions of other branches. Heads are revisions nothing points at.
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fastappkit/migration/migration_file.hpp"

namespace fastappkit::migration {

class RevisionGraph {
 public:
  // Validates the graph: duplicate revisions, unknown down_revision/depends_on, cycles.
  // Throws Error(input) naming the file (and line) of the problem.
  explicit RevisionGraph(std::vector<Migration> migrations);

  bool empty() const { return by_id_.empty(); }
  bool contains(std::string_view id) const { return by_id_.count(std::string(id)) != 0; }
  const Migration& get(std::string_view id) const;
  const std::vector<Migration>& migrations() const { return migrations_; }

  std::vector<std::string> heads() const;  // sorted
  std::vector<std::string> bases() const;
  std::vector<std::string> children(std::string_view id) const;  // through down_revision only

  // Resolves a full id, a unique prefix, or a branch label; throws Error(usage) otherwise.
  std::string resolve(std::string_view ref) const;

  // `ids` and everything they need (down_revision and depends_on, transitively).
  std::set<std::string> ancestors(const std::vector<std::string>& ids) const;
  // `id` and everything that needs it.
  std::set<std::string> descendants(std::string_view id) const;
  // Members of `set` that no other member needs: what the version table holds for that set.
  std::vector<std::string> heads_of(const std::set<std::string>& set) const;
  // `set` in an order where every revision comes after what it needs; ties by revision id.
  std::vector<std::string> topological(const std::set<std::string>& set) const;

 private:
  std::vector<Migration> migrations_;
  std::map<std::string, std::size_t> by_id_;
  std::map<std::string, std::vector<std::string>> children_;
  std::map<std::string, std::vector<std::string>> dependents_;  // children + depends_on edges
};

enum class Direction { upgrade, downgrade };

struct Plan {
  Direction direction = Direction::upgrade;
  std::vector<std::string> steps;  // in execution order
};

// Upgrade from the revisions in the version table to `target` (head, heads, id, prefix,
// label, label@head, +N, REV+N). Throws Error(usage) for an unknown or ambiguous target.
Plan plan_upgrade(const RevisionGraph& graph, const std::vector<std::string>& current, std::string_view target);
// Downgrade to `target` (base, id, prefix, -N, REV-N): unapplies every applied revision
// that needs the target, newest first.
Plan plan_downgrade(const RevisionGraph& graph, const std::vector<std::string>& current, std::string_view target);

// The schema the upgrade operations of `applied` give, replayed in dependency order.
Schema state_at(const RevisionGraph& graph, const std::set<std::string>& applied);

// Checks that every revision a target names exists, without a database: lets a command
// refuse a bad target before it opens (or creates) one.
void validate_target(const RevisionGraph& graph, std::string_view target);

// Every revision the version table's rows imply are applied; throws Error(failed) naming a
// row that this graph does not know.
std::set<std::string> applied_set(const RevisionGraph& graph, const std::vector<std::string>& current,
                                  const std::string& version_table);

}  // namespace fastappkit::migration
