// The revision graph (SPEC §5): heads, bases, resolution, validation and upgrade/downgrade plans.
#include <doctest/doctest.h>

#include "support.hpp"

#include <optional>
#include <string>
#include <vector>

#include "fastappkit/error.hpp"
#include "fastappkit/migration/graph.hpp"

using fastappkit::Error;
using fastappkit::ErrorKind;
using namespace fastappkit::migration;
using Ids = std::vector<std::string>;

namespace {

using unit::contains;
using unit::error_of;
using unit::starts_with;
using unit::TempDir;


Migration mk(const std::string& rev, Ids down = {}, Ids depends = {}, Ids labels = {}) {
  Migration m;
  m.revision = rev;
  m.down_revisions = std::move(down);
  m.depends_on = std::move(depends);
  m.branch_labels = std::move(labels);
  m.path = "versions/" + rev + "_x.toml";
  if (!m.down_revisions.empty()) {
    m.down_line = 2;
    m.down_col = 17;
  }
  if (!m.depends_on.empty()) {
    m.depends_line = 3;
    m.depends_col = 14;
  }
  return m;
}

// Linear: A <- B <- C. The ids share prefixes so that resolution by prefix can be tested.
const std::string A = "1a2b3c4d5e01", B = "1a2b3c4d5e02", C = "2c3d4e5f6a03";
RevisionGraph linear() { return RevisionGraph({mk(A), mk(B, {A}, {}, {"feature"}), mk(C, {B})}); }

// Branched: A <- B1, A <- C1 (two heads). Merged adds M with down_revision [B1, C1].
const std::string B1 = "b00000000001", C1 = "c00000000001", M = "d00000000001";
RevisionGraph branched() { return RevisionGraph({mk(A), mk(B1, {A}), mk(C1, {A})}); }
RevisionGraph merged() { return RevisionGraph({mk(A), mk(B1, {A}), mk(C1, {A}), mk(M, {B1, C1})}); }

Ids up(const RevisionGraph& g, const Ids& current, const std::string& target) {
  Plan p = plan_upgrade(g, current, target);
  CHECK(p.direction == Direction::upgrade);
  return p.steps;
}
Ids down(const RevisionGraph& g, const Ids& current, const std::string& target) {
  Plan p = plan_downgrade(g, current, target);
  CHECK(p.direction == Direction::downgrade);
  return p.steps;
}

}  // namespace

TEST_SUITE("fastappkit::migration") {

TEST_CASE("RevisionGraph: heads and bases") {
  SUBCASE("linear") {
    RevisionGraph g = linear();
    CHECK_FALSE(g.empty());
    CHECK(g.contains(B));
    CHECK_FALSE(g.contains("1a2b"));
    CHECK(g.heads() == Ids{C});
    CHECK(g.bases() == Ids{A});
    CHECK(g.children(A) == Ids{B});
    CHECK(g.children(C).empty());
    CHECK(g.get(B).branch_labels == Ids{"feature"});
  }
  SUBCASE("branched") {
    RevisionGraph g = branched();
    CHECK(g.heads() == Ids{B1, C1});
    CHECK(g.bases() == Ids{A});
    CHECK(g.children(A) == Ids{B1, C1});
  }
  SUBCASE("merged") {
    RevisionGraph g = merged();
    CHECK(g.heads() == Ids{M});
    CHECK(g.bases() == Ids{A});
    CHECK(g.children(B1) == Ids{M});
    CHECK(g.children(C1) == Ids{M});
  }
  SUBCASE("two bases") {
    RevisionGraph g({mk("f00000000001"), mk("e00000000001")});
    CHECK(g.bases() == Ids{"e00000000001", "f00000000001"});
    CHECK(g.heads() == Ids{"e00000000001", "f00000000001"});
  }
  SUBCASE("depends_on does not make a revision a child") {
    RevisionGraph g({mk(A), mk(B1, {A}), mk(C1, {}, {B1})});
    CHECK(g.heads() == Ids{B1, C1});
    CHECK(g.bases() == Ids{A, C1});
    CHECK(g.children(B1).empty());
  }
  SUBCASE("empty") {
    RevisionGraph g({});
    CHECK(g.empty());
    CHECK(g.heads().empty());
    CHECK(g.bases().empty());
  }
}

TEST_CASE("RevisionGraph::resolve") {
  RevisionGraph g = linear();
  CHECK(g.resolve(A) == A);
  CHECK(g.resolve("2c") == C);
  CHECK(g.resolve("1a2b3c4d5e02") == B);
  CHECK(g.resolve("feature") == B);

  auto ambiguous = error_of([&] { g.resolve("1a2b"); });
  REQUIRE(ambiguous);
  CHECK(ambiguous->kind() == ErrorKind::usage);
  CHECK(std::string(ambiguous->what()) == "revision prefix '1a2b' is ambiguous: it matches " + A + ", " + B);

  auto unknown = error_of([&] { g.resolve("ffff"); });
  REQUIRE(unknown);
  CHECK(unknown->kind() == ErrorKind::usage);
  CHECK(std::string(unknown->what()) == "Can't locate revision identified by 'ffff'");

  auto near = error_of([&] { g.resolve("2c3d4e5f6a04"); });
  REQUIRE(near);
  CHECK(std::string(near->what()) == "Can't locate revision identified by '2c3d4e5f6a04'");
  CHECK(near->hint() == "did you mean '" + C + "'?");

  auto empty = error_of([&] { g.resolve(""); });
  REQUIRE(empty);
  CHECK(std::string(empty->what()) == "Can't locate revision identified by ''");

  auto get = error_of([&] { g.get("1a2b"); });
  REQUIRE(get);
  CHECK(std::string(get->what()) == "Can't locate revision identified by '1a2b'");
}

TEST_CASE("RevisionGraph constructor validates the graph") {
  SUBCASE("duplicate revision") {
    Migration a1 = mk(A), a2 = mk(A);
    a2.path = "versions/" + A + "_copy.toml";
    auto e = error_of([&] { RevisionGraph g({a1, a2}); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::input);
    CHECK(std::string(e->what()) == "duplicate revision '" + A + "' in versions/" + A + "_copy.toml and versions/" + A + "_x.toml");
  }
  SUBCASE("unknown down_revision") {
    auto e = error_of([&] { RevisionGraph g({mk(A), mk(B, {"0badbadbad00"})}); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::input);
    CHECK(std::string(e->what()) == "versions/" + B + "_x.toml:2:17: Can't locate revision identified by '0badbadbad00'");
    CHECK(contains(e->hint(), "down_revision"));
  }
  SUBCASE("unknown depends_on") {
    auto e = error_of([&] { RevisionGraph g({mk(A), mk(B, {A}, {"0badbadbad00"})}); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::input);
    CHECK(std::string(e->what()) == "versions/" + B + "_x.toml:3:14: Can't locate revision identified by '0badbadbad00'");
    CHECK(contains(e->hint(), "depends_on"));
  }
  SUBCASE("without a position the path alone is named") {
    Migration b = mk(B, {"0badbadbad00"});
    b.down_line = 0;
    auto e = error_of([&] { RevisionGraph g({mk(A), b}); });
    REQUIRE(e);
    CHECK(std::string(e->what()) == "versions/" + B + "_x.toml: Can't locate revision identified by '0badbadbad00'");
  }
  SUBCASE("cycle through down_revision") {
    auto e = error_of([&] { RevisionGraph g({mk(A), mk(B, {C}), mk(C, {B})}); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::input);
    CHECK(starts_with(e->what(), "the revision graph has a cycle among: "));
    CHECK(contains(e->what(), B + " (versions/" + B + "_x.toml)"));
    CHECK(contains(e->what(), C + " (versions/" + C + "_x.toml)"));
    CHECK_FALSE(contains(e->what(), A + " ("));
  }
  SUBCASE("cycle through depends_on") {
    auto e = error_of([&] { RevisionGraph g({mk(A, {}, {B}), mk(B, {A})}); });
    REQUIRE(e);
    CHECK(starts_with(e->what(), "the revision graph has a cycle among: "));
  }
}

TEST_CASE("RevisionGraph: ancestors, descendants, heads_of, topological") {
  RevisionGraph g = merged();
  CHECK(g.ancestors({B1}) == std::set<std::string>{A, B1});
  CHECK(g.ancestors({M}) == std::set<std::string>{A, B1, C1, M});
  CHECK(g.descendants(B1) == std::set<std::string>{B1, M});
  CHECK(g.descendants(A) == std::set<std::string>{A, B1, C1, M});
  CHECK(g.heads_of({A, B1, C1}) == Ids{B1, C1});
  CHECK(g.heads_of({A, B1, C1, M}) == Ids{M});
  CHECK(g.topological({M, C1, A, B1}) == Ids{A, B1, C1, M});

  // Parents come first even when their ids sort later; ties are broken by id.
  const std::string late = "ffffffffff01", early = "000000000001", mid = "800000000001";
  RevisionGraph h({mk(late), mk(early, {late}), mk(mid, {}, {early})});
  CHECK(h.topological({late, early, mid}) == Ids{late, early, mid});
  RevisionGraph i({mk(late), mk(early), mk(mid, {late})});
  CHECK(i.topological({late, early, mid}) == Ids{early, late, mid});
}

TEST_CASE("plan_upgrade") {
  SUBCASE("linear: head, a revision, relative steps") {
    RevisionGraph g = linear();
    CHECK(up(g, {}, "head") == Ids{A, B, C});
    CHECK(up(g, {A}, "head") == Ids{B, C});
    CHECK(up(g, {C}, "head").empty());
    CHECK(up(g, {}, "heads") == Ids{A, B, C});
    CHECK(up(g, {}, B) == Ids{A, B});
    CHECK(up(g, {}, "1a2b3c4d5e02") == Ids{A, B});
    CHECK(up(g, {}, "feature") == Ids{A, B});
    CHECK(up(g, {A}, "+1") == Ids{B});
    CHECK(up(g, {A}, "+2") == Ids{B, C});
    CHECK(up(g, {}, "+1") == Ids{A});
    CHECK(up(g, {}, A + "+1") == Ids{A, B});
    CHECK(up(g, {A}, "2c") == Ids{B, C});
    CHECK(up(g, {B}, "base").empty());

    auto past = error_of([&] { up(g, {A}, "+3"); });
    REQUIRE(past);
    CHECK(past->kind() == ErrorKind::usage);
    CHECK(std::string(past->what()) == "relative target '+3' goes past the head");

    auto minus = error_of([&] { up(g, {C}, "-1"); });
    REQUIRE(minus);
    CHECK(minus->kind() == ErrorKind::usage);
    CHECK(std::string(minus->what()) == "'-1' is a downgrade target");

    auto unknown = error_of([&] { up(g, {}, "abcdef"); });
    REQUIRE(unknown);
    CHECK(unknown->kind() == ErrorKind::usage);
    CHECK(std::string(unknown->what()) == "Can't locate revision identified by 'abcdef'");
  }
  SUBCASE("branched: head is ambiguous, heads applies both branches") {
    RevisionGraph g = branched();
    auto e = error_of([&] { up(g, {}, "head"); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::usage);
    CHECK(std::string(e->what()) == "Multiple heads are present: " + B1 + ", " + C1);
    CHECK(contains(e->hint(), "heads"));

    CHECK(up(g, {}, "heads") == Ids{A, B1, C1});
    CHECK(up(g, {B1}, "heads") == Ids{C1});
    CHECK(up(g, {B1, C1}, "heads").empty());
    CHECK(up(g, {}, C1) == Ids{A, C1});

    auto rel = error_of([&] { up(g, {A}, "+1"); });
    REQUIRE(rel);
    CHECK(contains(rel->what(), "is ambiguous at the branch point " + A));
    auto several = error_of([&] { up(g, {B1, C1}, "+1"); });
    REQUIRE(several);
    CHECK(contains(several->what(), "the database is at several heads"));
  }
  SUBCASE("merged") {
    RevisionGraph g = merged();
    CHECK(up(g, {}, "head") == Ids{A, B1, C1, M});
    CHECK(up(g, {B1}, "head") == Ids{C1, M});
    auto several = error_of([&] { up(g, {B1, C1}, "+1"); });
    REQUIRE(several);
    CHECK(several->kind() == ErrorKind::usage);
  }
  SUBCASE("label@head follows one branch to its head") {
    const std::string B2 = "b00000000002";
    RevisionGraph g({mk(A), mk(B1, {A}, {}, {"left"}), mk(B2, {B1}), mk(C1, {A})});
    CHECK(up(g, {}, "left@head") == Ids{A, B1, B2});
    CHECK(up(g, {}, "left") == Ids{A, B1});
    CHECK(up(g, {}, "left+1") == Ids{A, B1, B2});
    auto two = error_of([&] { up(g, {}, A + "@head"); });
    REQUIRE(two);
    CHECK(std::string(two->what()) == "branch '" + A + "@head' has 2 heads");
  }
  SUBCASE("depends_on pulls in the other branch") {
    RevisionGraph g({mk(A), mk(B1, {A}), mk(C1, {}, {B1})});
    CHECK(up(g, {}, C1) == Ids{A, B1, C1});
  }
  SUBCASE("an unknown row in the version table") {
    RevisionGraph g = linear();
    auto e = error_of([&] { up(g, {"0badbadbad00"}, "head"); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::failed);
    CHECK(starts_with(e->what(), "Can't locate revision identified by '0badbadbad00'"));
  }
}

TEST_CASE("plan_downgrade") {
  SUBCASE("linear") {
    RevisionGraph g = linear();
    CHECK(down(g, {C}, "base") == Ids{C, B, A});
    CHECK(down(g, {C}, "-1") == Ids{C});
    CHECK(down(g, {C}, "-2") == Ids{C, B});
    CHECK(down(g, {C}, "-3") == Ids{C, B, A});
    CHECK(down(g, {C}, B) == Ids{C});
    CHECK(down(g, {C}, "1a2b3c4d5e01") == Ids{C, B});
    CHECK(down(g, {C}, "feature") == Ids{C});
    CHECK(down(g, {C}, C + "-1") == Ids{C});
    CHECK(down(g, {C}, C + "-2") == Ids{C, B});
    CHECK(down(g, {C}, A + "-1") == Ids{C, B, A});
    auto not_applied = error_of([&] { down(g, {B}, C); });
    REQUIRE(not_applied);
    CHECK(not_applied->kind() == ErrorKind::usage);
    CHECK(std::string(not_applied->what()) == "revision " + C + " is not applied, so it is not a downgrade target");
    CHECK(down(g, {}, "base").empty());

    auto below = error_of([&] { down(g, {C}, "-4"); });
    REQUIRE(below);
    CHECK(below->kind() == ErrorKind::usage);
    CHECK(std::string(below->what()) == "relative target '-4' goes below base");

    auto plus = error_of([&] { down(g, {A}, "+1"); });
    REQUIRE(plus);
    CHECK(plus->kind() == ErrorKind::usage);
    CHECK(std::string(plus->what()) == "'+1' is an upgrade target");
  }
  SUBCASE("merged: -1 leaves both parents applied") {
    RevisionGraph g = merged();
    CHECK(down(g, {M}, "-1") == Ids{M});
    CHECK(down(g, {M}, "base") == Ids{M, C1, B1, A});
    CHECK(down(g, {M}, B1) == Ids{M});
    CHECK(down(g, {M}, A) == Ids{M, C1, B1});
    auto two = error_of([&] { down(g, {M}, "-2"); });
    REQUIRE(two);
    CHECK(two->kind() == ErrorKind::usage);
    CHECK(contains(two->what(), "the database has several heads (" + B1 + ", " + C1 + ")"));
    auto at_merge = error_of([&] { down(g, {M}, M + "-1"); });
    REQUIRE(at_merge);
    CHECK(contains(at_merge->what(), "is ambiguous at the merge " + M));
  }
  SUBCASE("branched: only the branch that needs the target goes") {
    RevisionGraph g = branched();
    CHECK(down(g, {B1, C1}, A) == Ids{C1, B1});
    CHECK(down(g, {B1, C1}, "base") == Ids{C1, B1, A});
    auto ambiguous = error_of([&] { down(g, {B1, C1}, "-1"); });
    REQUIRE(ambiguous);
    CHECK(contains(ambiguous->what(), "several heads"));
  }
}

TEST_CASE("applied_set") {
  RevisionGraph g = merged();
  CHECK(applied_set(g, {}, "alembic_version").empty());
  CHECK(applied_set(g, {B1}, "alembic_version") == std::set<std::string>{A, B1});
  CHECK(applied_set(g, {B1, C1}, "alembic_version") == std::set<std::string>{A, B1, C1});
  CHECK(applied_set(g, {M}, "alembic_version") == std::set<std::string>{A, B1, C1, M});

  auto e = error_of([&] { applied_set(g, {B1, "0badbadbad00"}, "alembic_version_payments"); });
  REQUIRE(e);
  CHECK(e->kind() == ErrorKind::failed);
  CHECK(std::string(e->what()) ==
        "Can't locate revision identified by '0badbadbad00' (found in the database's alembic_version_payments table)");
  CHECK(contains(e->hint(), "stamp"));
}

TEST_CASE("an empty graph: upgrading to head or heads is a no-op, as in Alembic") {
  RevisionGraph g({});
  CHECK(plan_upgrade(g, {}, "head").steps.empty());
  CHECK(plan_upgrade(g, {}, "heads").steps.empty());
}

}  // TEST_SUITE
