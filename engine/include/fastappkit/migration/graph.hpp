#pragma once
// The revision graph (Alembic's model): revisions point at their down_revision(s) and may
// depend_on revisions of other branches. Heads are revisions nothing points at.
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fastappkit/migration/migration_file.hpp"

namespace fastappkit::migration {

class RevisionGraph {
 public:
  // Validates the graph: duplicate revisions, unknown down_revision/depends_on, cycles.
  // Throws Error(input) naming the file (and line) of the problem.
  explicit RevisionGraph(std::vector<Migration> migrations);

  bool empty() const { return by_id_.empty(); }
  bool contains(std::string_view id) const { return index_.find(id) != index_.end(); }
  const Migration& get(std::string_view id) const;
  const std::vector<Migration>& migrations() const { return migrations_; }
  // Every revision in an order where each comes after what it needs, ties by revision id
  // (topological of all of them, computed once by the constructor).
  const std::vector<std::string>& order() const { return order_; }

  // Revisions no down_revision names (Alembic's `heads`; a revision that only other
  // revisions' depends_on name is still a head). Sorted.
  std::vector<std::string> heads() const;
  // Revisions neither a down_revision nor a depends_on names (Alembic's "real" heads: what
  // `heads` upgrades to). Sorted.
  std::vector<std::string> real_heads() const;
  std::vector<std::string> bases() const;                        // no down_revision (they may have depends_on); sorted
  std::vector<std::string> children(std::string_view id) const;  // through down_revision only
  std::vector<std::string> dependents(std::string_view id) const;  // through down_revision or depends_on

  // Resolves a full id, a unique prefix, or a branch label; throws Error(usage) otherwise.
  std::string resolve(std::string_view ref) const;
  // The revision that declares branch label `label`, or nullptr.
  const std::string* label_owner(std::string_view label) const;

  // `ids` and everything they need (down_revision and, unless `with_depends_on` is false,
  // depends_on; transitively).
  std::set<std::string> ancestors(const std::vector<std::string>& ids, bool with_depends_on = true) const;
  // `id` and everything that needs it (through depends_on too, unless `with_depends_on` is false).
  std::set<std::string> descendants(std::string_view id) const;
  std::set<std::string> descendants(const std::vector<std::string>& ids, bool with_depends_on) const;
  // down_revision plus the depends_on entries that no down_revision ancestor already depends on
  // (Alembic's "normalized down revisions").
  std::vector<std::string> normalized_down(std::string_view id) const;
  // Members of `set` that no other member needs: what the version table holds for that set.
  std::vector<std::string> heads_of(const std::set<std::string>& set) const;
  // `set` in an order where every revision comes after what it needs; ties by revision id.
  std::vector<std::string> topological(const std::set<std::string>& set) const;

 private:
  std::vector<Migration> migrations_;
  std::vector<std::string> order_;
  std::map<std::string, std::size_t> by_id_;
  std::map<std::string, std::string> labels_;  // branch label -> revision
  // The graph by position in migrations_, so that the walks above are linear in what they visit
  // (a hash lookup per id, no tree of strings): index_ maps a revision to its position, rank_
  // gives each position its place in id order (ties and results in id order), children_of_ the
  // revisions whose down_revision names it, dependents_of_ those plus the ones that depend_on it
  // (once each); both lists in id order.
  struct IdHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::size_t, IdHash, std::equal_to<>> index_;
  std::vector<std::size_t> rank_;
  std::vector<std::vector<std::size_t>> children_of_;
  std::vector<std::vector<std::size_t>> dependents_of_;

  std::size_t position(std::string_view id) const;  // throws "Can't locate revision" for an unknown id
  std::set<std::string> in_id_order(std::vector<std::size_t> positions) const;
  std::vector<std::string> ids(const std::vector<std::size_t>& positions) const;
  std::vector<std::string> topological(const std::vector<std::size_t>& members) const;
};

enum class Direction { upgrade, downgrade };

struct Plan {
  Direction direction = Direction::upgrade;
  std::vector<std::string> steps;  // in execution order
};

// Targets follow Alembic 1.8.1 (script/revision.py): head, heads, base, an id, a unique prefix,
// a branch label, BRANCH@head, BRANCH@heads, BRANCH@base, BRANCH@REV, +N, -N, REV+N, REV-N,
// BRANCH@+N, BRANCH@-N, BRANCH@REV+N, where BRANCH is a branch label or a revision.
// Where Alembic would act on an arbitrary choice (`-1` with several rows), these refuse;
// docs/migrations.md lists every such difference.

// Upgrade from the revisions in the version table to `target`: everything the target needs
// that the rows do not imply. Throws Error(usage) for an unknown or ambiguous target.
Plan plan_upgrade(const RevisionGraph& graph, const std::vector<std::string>& current, std::string_view target);
// Downgrade to `target`: reverts the applied revisions that descend, through down_revision
// from the target's children (then through depends_on too), newest first. A revision that
// only depends_on the target stays. Refuses a target that is applied only through
// depends_on when nothing would be reverted, as Alembic does.
Plan plan_downgrade(const RevisionGraph& graph, const std::vector<std::string>& current, std::string_view target);

// Alembic's `stamp`: the version table rows after stamping `target` (any target form above
// except relative ones) over `current`. Rows of branches unrelated to the target stay;
// `purge` empties the table first (then unknown rows do not matter). Throws Error(failed)
// for a row this graph does not know (without purge), Error(usage) for a bad target.
std::vector<std::string> stamp_rows(const RevisionGraph& graph, const std::vector<std::string>& current,
                                    std::string_view target, bool purge);

// The version table rows after running `revision` in `direction` from `rows`, as Alembic's
// HeadMaintainer writes them (a new branch inserts, a merge deletes all parents' rows but one, a
// downgrade to a parent that another row implies deletes...). Alembic can leave a row that
// another row implies (reverting a revision whose depends_on target has no other row), and so
// do we, so that either tool reads the other's table. Throws Error(failed) where Alembic's
// version update would fail.
std::vector<std::string> rows_after_step(const RevisionGraph& graph, const std::vector<std::string>& rows,
                                         const std::string& revision, Direction direction);

// Alembic's `current`: the rows plus the revisions they imply that no applied revision
// follows through down_revision (a revision only another's depends_on needs is listed).
// Sorted. Throws Error(failed) for a row this graph does not know.
std::vector<std::string> current_heads(const RevisionGraph& graph, const std::vector<std::string>& current,
                                       const std::string& version_table);

// Every table a graph's migrations name (created, altered, renamed to): what an app owns
// besides its models' tables.
std::set<std::string> tables_named(const RevisionGraph& graph);

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
