// The revision graph (SPEC §5): heads, bases, resolution, validation and upgrade/downgrade plans.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "fastappkit/error.hpp"
#include "fastappkit/migration/graph.hpp"
#include "support.hpp"

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
      CHECK(std::string(e->what()) ==
            "duplicate revision '" + A + "' in versions/" + A + "_copy.toml and versions/" + A + "_x.toml");
    }
    SUBCASE("unknown down_revision") {
      auto e = error_of([&] { RevisionGraph g({mk(A), mk(B, {"0badbadbad00"})}); });
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(std::string(e->what()) ==
            "versions/" + B + "_x.toml:2:17: Can't locate revision identified by '0badbadbad00'");
      CHECK(contains(e->hint(), "down_revision"));
    }
    SUBCASE("unknown depends_on") {
      auto e = error_of([&] { RevisionGraph g({mk(A), mk(B, {A}, {"0badbadbad00"})}); });
      REQUIRE(e);
      CHECK(e->kind() == ErrorKind::input);
      CHECK(std::string(e->what()) ==
            "versions/" + B + "_x.toml:3:14: Can't locate revision identified by '0badbadbad00'");
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
    // A parent outside the set does not hold its children back.
    CHECK(g.topological({M, C1}) == Ids{C1, M});
    CHECK(g.topological({C1, B1}) == Ids{B1, C1});
    CHECK(g.heads() == Ids{M});
    CHECK(g.descendants({B1, C1}, false) == std::set<std::string>{B1, C1, M});
    auto unknown = error_of([&] { (void)g.ancestors({A, "0000000000ff"}); });
    REQUIRE(unknown);
    CHECK(contains(unknown->what(), "Can't locate revision identified by '0000000000ff'"));

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
      CHECK(std::string(past->what()) == "Relative revision +3 didn't produce 3 migrations");

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
      CHECK(contains(rel->what(), "the walk reaches the branch point " + A));
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
      CHECK(std::string(two->what()) == "Multiple heads are present: " + B2 + ", " + C1);
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
    SUBCASE("merged: relative steps through a merge are refused, as Alembic's \"Ambiguous walk\"") {
      RevisionGraph g = merged();
      auto one = error_of([&] { down(g, {M}, "-1"); });
      REQUIRE(one);
      CHECK(one->kind() == ErrorKind::usage);
      CHECK(contains(one->what(), "the walk reaches the merge " + M));
      CHECK(down(g, {M}, "base") == Ids{M, C1, B1, A});
      CHECK(down(g, {M}, B1) == Ids{M});
      CHECK(down(g, {M}, A) == Ids{M, C1, B1});
      auto two = error_of([&] { down(g, {M}, "-2"); });
      REQUIRE(two);
      CHECK(two->kind() == ErrorKind::usage);
      CHECK(contains(two->what(), "the walk reaches the merge " + M));
      auto at_merge = error_of([&] { down(g, {M}, M + "-1"); });
      REQUIRE(at_merge);
      CHECK(contains(at_merge->what(), "the walk reaches the merge " + M));
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
    CHECK(
        std::string(e->what()) ==
        "Can't locate revision identified by '0badbadbad00' (found in the database's alembic_version_payments table)");
    CHECK(contains(e->hint(), "stamp"));
  }

  TEST_CASE("an empty graph: upgrading to head or heads is a no-op, as in Alembic") {
    RevisionGraph g({});
    CHECK(plan_upgrade(g, {}, "head").steps.empty());
    CHECK(plan_upgrade(g, {}, "heads").steps.empty());
  }

  // Issue 12: Alembic 1.8.1 parity. Each case below was run with Alembic itself (see
  // tests/alembic/differential.py, which compares the two on many more graphs).
  const std::string X = "e00000000001", Y = "e00000000002", Z = "e00000000003";
  // x; y(x); z a base that depends_on x.
  RevisionGraph depends_base() { return RevisionGraph({mk(X), mk(Y, {X}), mk(Z, {}, {X})}); }
  // lib1: L1 <- L1B; lib2: L2 <- L2B, and L2 depends_on lib1 (by label).
  const std::string L1 = "f00000000001", L1B = "f00000000002", L2 = "f00000000003", L2B = "f00000000004";
  RevisionGraph libs() {
    return RevisionGraph({mk(L1, {}, {}, {"lib1"}), mk(L1B, {L1}), mk(L2, {}, {"lib1"}, {"lib2"}), mk(L2B, {L2})});
  }

  TEST_CASE("downgrade: a revision that only depends_on the target stays") {
    RevisionGraph g = depends_base();
    CHECK(up(g, {}, "heads") == Ids{X, Y, Z});
    CHECK(g.heads_of(g.ancestors({Y, Z})) == Ids{Y, Z});
    CHECK(down(g, {Y, Z}, X) == Ids{Y});
    // Rows {z}: x is applied only through z's depends_on; Alembic refuses ("not a valid
    // downgrade target"), and so do we, instead of reverting z.
    auto e = error_of([&] { down(g, {Z}, X); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::usage);
    CHECK(contains(e->what(), "is applied only because another revision depends_on it"));
    CHECK(down(g, {Z}, "base") == Ids{Z, X});
    CHECK(down(g, {Z}, "-1") == Ids{Z});
  }

  TEST_CASE("branch-qualified targets") {
    RevisionGraph g = libs();
    // lib2@head is L2B alone: labels do not spread through depends_on.
    CHECK(up(g, {}, "lib2@head") == Ids{L1, L2, L2B});
    CHECK(up(g, {}, "lib1@head") == Ids{L1, L1B});
    CHECK(up(g, {}, "lib1@" + L1) == Ids{L1});
    CHECK(up(g, {L1B}, "lib2@+1") == Ids{L2});
    CHECK(error_of([&] { up(g, {L1B}, "lib1@+1"); }));  // lib1 has nothing above L1B
    CHECK(down(g, {L1B, L2B}, "lib2@base") == Ids{L2B, L2});
    CHECK(down(g, {L1B, L2B}, "lib2@-1") == Ids{L2B});
    CHECK(down(g, {L1B, L2B}, L2 + "@base") == Ids{L2B, L2});
    // lib1@base also takes lib2, which depends on lib1 (as Alembic).
    CHECK(down(g, {L1B, L2B}, "lib1@base") == Ids{L2B, L2, L1B, L1});
    auto not_member = error_of([&] { up(g, {}, "lib1@" + L2B); });
    REQUIRE(not_member);
    CHECK(std::string(not_member->what()) == "Revision " + L2B + " is not a member of branch 'lib1'");
    auto no_head = error_of([&] { up(g, {}, "nope@head"); });
    REQUIRE(no_head);
    CHECK(std::string(no_head->what()) == "Can't locate revision identified by 'nope'");
    auto no_branch = error_of([&] { down(g, {L1B, L2B}, "nope@base"); });
    REQUIRE(no_branch);
    CHECK(no_branch->kind() == ErrorKind::usage);
    CHECK(std::string(no_branch->what()) == "No such branch: 'nope'");
    validate_target(g, "lib1@base");
    validate_target(g, "lib2@-1");
    validate_target(g, L1 + "@head");
    CHECK(error_of([&] { validate_target(g, "nope@-1"); }));
    CHECK(error_of([&] { validate_target(g, "lib1@ffffffffffff"); }));
  }

  TEST_CASE("graph validation: depends_on may name a label; labels and ids share one name space") {
    RevisionGraph g = libs();
    CHECK(g.get(L2).depends_on == Ids{L1});
    CHECK(g.label_owner("lib2") != nullptr);
    CHECK(*g.label_owner("lib2") == L2);
    CHECK(g.heads() == Ids{L1B, L2B});
    CHECK(g.real_heads() == Ids{L1B, L2B});

    auto clash = error_of([&] { RevisionGraph h({mk(A), mk(B, {A}, {}, {A})}); });
    REQUIRE(clash);
    CHECK(clash->kind() == ErrorKind::input);
    CHECK(contains(clash->what(), "branch label '" + A + "' of revision " + B + " is the id of revision " + A));
    auto twice = error_of([&] { RevisionGraph h({mk(A, {}, {}, {"x1"}), mk(B, {A}, {}, {"x1"})}); });
    REQUIRE(twice);
    CHECK(contains(twice->what(), "is already used by revision " + A));
    auto reserved = error_of([&] { RevisionGraph h({mk(A, {}, {}, {"a@b"})}); });
    REQUIRE(reserved);
    CHECK(contains(reserved->what(), "branch label 'a@b' cannot be used"));
    auto unknown = error_of([&] { RevisionGraph h({mk(A), mk(B, {}, {"nolabel"})}); });
    REQUIRE(unknown);
    CHECK(contains(unknown->what(), "Can't locate revision identified by 'nolabel'"));
  }

  TEST_CASE("stamp_rows: Alembic's stamp") {
    RevisionGraph g = branched();  // A; B1(A); C1(A)
    CHECK(stamp_rows(g, {}, B1, false) == Ids{B1});
    // Rows of another branch stay (Alembic keeps {b1, b2}); --purge drops them.
    CHECK(stamp_rows(g, {B1, C1}, B1, false) == Ids{B1, C1});
    CHECK(stamp_rows(g, {B1, C1}, B1, true) == Ids{B1});
    CHECK(stamp_rows(g, {C1}, B1, false) == Ids{B1, C1});
    CHECK(stamp_rows(g, {B1, C1}, A, false) == Ids{A});
    CHECK(stamp_rows(g, {A}, "heads", false) == Ids{B1, C1});
    CHECK(stamp_rows(g, {B1, C1}, "base", false).empty());
    RevisionGraph m = merged();
    CHECK(stamp_rows(m, {B1, C1}, M, false) == Ids{M});
    CHECK(stamp_rows(m, {M}, B1, false) == Ids{B1});
    RevisionGraph l = libs();
    CHECK(stamp_rows(l, {L1B, L2}, "lib2@head", false) == Ids{L1B, L2B});
    CHECK(stamp_rows(l, {L1B}, "lib2@head", false) == Ids{L1B, L2B});

    auto unknown = error_of([&] { stamp_rows(g, {"0badbadbad00"}, A, false); });
    REQUIRE(unknown);
    CHECK(unknown->kind() == ErrorKind::failed);
    CHECK(starts_with(unknown->what(), "Can't locate revision identified by '0badbadbad00'"));
    CHECK(contains(unknown->hint(), "--purge"));
    CHECK(stamp_rows(g, {"0badbadbad00"}, A, true) == Ids{A});
    auto relative = error_of([&] { stamp_rows(g, {A}, "+1", false); });
    REQUIRE(relative);
    CHECK(relative->kind() == ErrorKind::usage);
    auto bad = error_of([&] { stamp_rows(g, {A}, "ffffff", false); });
    REQUIRE(bad);
    CHECK(bad->kind() == ErrorKind::usage);
  }

  TEST_CASE("current_heads: rows and the revisions they imply") {
    RevisionGraph g = depends_base();
    CHECK(current_heads(g, {}, "alembic_version").empty());
    CHECK(current_heads(g, {Z}, "alembic_version") == Ids{X, Z});
    CHECK(current_heads(g, {Y, Z}, "alembic_version") == Ids{Y, Z});
    CHECK(current_heads(merged(), {M}, "alembic_version") == Ids{M});
    auto e = error_of([&] { current_heads(g, {"0badbadbad00"}, "alembic_version"); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::failed);
  }

  TEST_CASE("rows that overlap: upgrade refuses them, downgrade and stamp take them, as Alembic") {
    RevisionGraph g = linear();
    auto e = error_of([&] { up(g, {A, B}, "head"); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::failed);
    CHECK(contains(e->what(), "the rows overlap"));
    CHECK(down(g, {A, B}, "base") == Ids{B, A});
    CHECK(stamp_rows(g, {A, B}, C, false) == Ids{C});
    CHECK(stamp_rows(g, {A, B}, C, true) == Ids{C});
  }

  TEST_CASE("rows_after_step: Alembic's version-table updates") {
    RevisionGraph m = merged();  // A; B1(A); C1(A); M(B1, C1)
    CHECK(rows_after_step(m, {}, A, Direction::upgrade) == Ids{A});
    CHECK(rows_after_step(m, {A}, B1, Direction::upgrade) == Ids{B1});
    CHECK(rows_after_step(m, {B1}, C1, Direction::upgrade) == Ids{B1, C1});
    CHECK(rows_after_step(m, {B1, C1}, M, Direction::upgrade) == Ids{M});
    CHECK(rows_after_step(m, {M}, M, Direction::downgrade) == Ids{B1, C1});
    CHECK(rows_after_step(m, {B1, C1}, C1, Direction::downgrade) == Ids{B1});
    CHECK(rows_after_step(m, {B1}, B1, Direction::downgrade) == Ids{A});
    CHECK(rows_after_step(m, {A}, A, Direction::downgrade).empty());
    // depends_on: z (base, depends_on x) updates x's row; reverting z gives x its row back
    // unless y implies x.
    RevisionGraph d = depends_base();
    CHECK(rows_after_step(d, {X}, Z, Direction::upgrade) == Ids{Z});
    CHECK(rows_after_step(d, {Z}, Z, Direction::downgrade) == Ids{X});
    CHECK(rows_after_step(d, {Y, Z}, Z, Direction::downgrade) == Ids{Y});
    // c(a, depends_on b) where b(a): reverting c leaves rows {a, b}, b implying a (Alembic's
    // unmerge); the next upgrade of c merges them again.
    const std::string P = "a10000000001", Q = "a10000000002", S = "a10000000003";
    RevisionGraph sib({mk(P), mk(Q, {P}), mk(S, {P}, {Q})});
    CHECK(rows_after_step(sib, {S}, S, Direction::downgrade) == Ids{P, Q});
    CHECK(rows_after_step(sib, {P, Q}, S, Direction::upgrade) == Ids{S});
    auto missing = error_of([&] { rows_after_step(m, {B1}, C1, Direction::downgrade); });
    REQUIRE(missing);
    CHECK(missing->kind() == ErrorKind::failed);
  }

}  // TEST_SUITE
