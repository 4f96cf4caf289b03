#!/usr/bin/env python3
"""Differential test: Alembic (Debian python3-alembic) against fastappkit on the same graphs.

For every graph shape below, the generator writes one Alembic project (versions/*.py) and one
fastappkit project (core/db/migrations/versions/*.toml) with the same revision ids,
down_revision, depends_on and branch_labels; each revision creates a marker table m_<rev>.
Command sequences (upgrade, downgrade, stamp, stamp --purge, current; absolute, relative and
branch-qualified targets) run with both tools on two fresh SQLite databases; after every step
the test compares success vs failure, the alembic_version rows, the marker tables and, for
`current`, the revisions listed.

A difference fails the test unless it is an entry of ALLOWED below: each entry is a case where
fastappkit refuses (exit != 0, database untouched) and Alembic acts. fastappkit running or
reverting a migration Alembic would not is never allowed. After an allowed refusal the
fastappkit database is replaced by a copy of Alembic's, so the sequence goes on from the same
state (which is a hand-over from Alembic to fastappkit as well).

Hand-over sequences run on SQLite and PostgreSQL: one lane only Alembic, one lane switching tools
every step, compared after every step.

usage: differential.py --fastappkit BIN [--workdir DIR] [--pghost SOCKETDIR] [--only SHAPE] [--jobs N]
"""
import argparse
import contextlib
import hashlib
import io
import multiprocessing
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import warnings

warnings.simplefilter("ignore")

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402

# ----------------------------------------------------------------------------------------------
# Graph shapes: (name, [down_revision...], [depends_on...], [branch_labels...]). depends_on may
# name a label.
R = lambda name, down=(), deps=(), labels=(): (name, list(down), list(deps), list(labels))  # noqa: E731

SHAPES = {
    "linear1": [R("a")],
    "linear3": [R("a"), R("b", ["a"]), R("c", ["b"])],
    "linear5": [R("a"), R("b", ["a"]), R("c", ["b"]), R("d", ["c"]), R("e", ["d"])],
    "branch2": [R("a"), R("b1", ["a"]), R("b2", ["a"])],
    "branch3": [R("a"), R("b1", ["a"]), R("b2", ["a"]), R("b3", ["a"])],
    "two_bases": [R("a"), R("b")],
    "two_base_chains": [R("a"), R("a2", ["a"]), R("b"), R("b2", ["b"])],
    "merge2": [R("a"), R("b1", ["a"]), R("b2", ["a"]), R("m", ["b1", "b2"])],
    "merge3": [R("a"), R("b1", ["a"]), R("b2", ["a"]), R("b3", ["a"]), R("m", ["b1", "b2", "b3"])],
    "merge_of_bases": [R("a"), R("b"), R("m", ["a", "b"])],
    "diamond_then_linear": [R("a"), R("b1", ["a"]), R("b2", ["a"]), R("m", ["b1", "b2"]), R("n", ["m"])],
    "merge_then_branch": [R("a"), R("b1", ["a"]), R("b2", ["a"]), R("m", ["b1", "b2"]), R("c1", ["m"]), R("c2", ["m"])],
    "depends_base": [R("x"), R("y", ["x"]), R("z", [], ["x"])],
    "depends_sibling": [R("a"), R("b1", ["a"]), R("b2", ["a"], ["b1"])],
    "depends_across_bases": [R("a"), R("a2", ["a"]), R("b", [], ["a2"]), R("b2", ["b"])],
    "depends_on_label": [R("a", [], [], ["lib1"]), R("a2", ["a"]), R("b", [], ["lib1"], ["lib2"]), R("b2", ["b"])],
    "labelled_branches": [R("a"), R("b1", ["a"], [], ["lib1"]), R("b2", ["a"], [], ["lib2"]), R("c1", ["b1"]), R("c2", ["b2"])],
    "labelled_bases": [R("l1", [], [], ["lib1"]), R("l1b", ["l1"]), R("l2", [], [], ["lib2"]), R("l2b", ["l2"])],
    "label_depended_on": [R("a", [], [], ["lib1"]), R("a2", ["a"]), R("b", [], ["a2"], ["lib2"])],
    "feature_branch": [R("a"), R("b", ["a"]), R("f1", ["b"], [], ["feat"]), R("f2", ["f1"]), R("c", ["b"])],
    "long_branches": [R("a"), R("b", ["a"]), R("c", ["b"]), R("d1", ["c"]), R("d2", ["d1"]), R("e1", ["c"]), R("e2", ["e1"])],
    "merge_with_depends": [R("a"), R("b1", ["a"]), R("b2", ["a"]), R("m", ["b1", "b2"]), R("z", [], ["b1"])],
    "three_bases_merged": [R("a"), R("b"), R("c"), R("m", ["a", "b", "c"])],
    "nested_merges": [R("a"), R("b1", ["a"]), R("b2", ["a"]), R("m1", ["b1", "b2"]), R("c1", ["m1"]), R("c2", ["m1"]),
                      R("m2", ["c1", "c2"])],
    "depends_on_merge": [R("a"), R("b1", ["a"]), R("b2", ["a"]), R("m", ["b1", "b2"]), R("x"), R("y", ["x"], ["m"])],
    "depends_chain": [R("a"), R("b", [], ["a"]), R("c", [], ["b"])],
    "branch_with_depends_sibling": [R("a"), R("b", ["a"]), R("c", ["a"], ["b"])],
    "merge_then_labelled_branches": [R("a"), R("b1", ["a"]), R("b2", ["a"]), R("m", ["b1", "b2"]),
                                     R("c1", ["m"], [], ["left"]), R("c2", ["m"], [], ["right"])],
    "base_depends_two": [R("a"), R("b"), R("c", [], ["a", "b"])],
    "depends_diamond": [R("a"), R("b", ["a"]), R("c", ["a"]), R("d", ["b"], ["c"])],
    "uneven_merge": [R("a"), R("b", ["a"]), R("c", ["b"]), R("d", ["a"]), R("m", ["c", "d"])],
    "two_diamonds": [R("a"), R("b1", ["a"]), R("b2", ["a"]), R("m", ["b1", "b2"]),
                     R("x"), R("y1", ["x"]), R("y2", ["x"]), R("n", ["y1", "y2"])],
    "label_on_merge": [R("a"), R("b1", ["a"]), R("b2", ["a"]), R("m", ["b1", "b2"], [], ["top"]), R("t", ["m"])],
    "app_depends_on_core": [R("c1", [], [], ["core"]), R("c2", ["c1"]), R("p1", [], ["core"], ["app"]), R("p2", ["p1"])],
    "labelled_chain_branchpoint": [R("a", [], [], ["trunk"]), R("b", ["a"]), R("c1", ["b"]), R("c2", ["b"], [], ["side"])],
    "depends_on_branch_label_head": [R("a"), R("b1", ["a"], [], ["lib1"]), R("b1b", ["b1"]), R("b2", ["a"], ["lib1"])],
}

# ----------------------------------------------------------------------------------------------
# Allowed differences: fastappkit refuses where Alembic acts. Each entry: (id, description,
# predicate(cmd, target, rows_before, alembic_error or None when Alembic succeeded,
# fastappkit_error)); an entry applies only when fastappkit failed and left its database as it was. Documented in docs/migrations.md
# ("Differences from Alembic").
ALLOWED = [
    ("stamp-purge-bad-target",
     "stamp --purge with a target that cannot be stamped (unknown, relative, ambiguous): both fail, but Alembic "
     "has already emptied the version table; fastappkit checks the target first and writes nothing",
     lambda cmd, target, rows, err, ferr: cmd == "stamp-purge" and err is not None),
    ("stamp-relative",
     "stamp with a relative target (-N, REV+N) on an empty version table or with --purge: Alembic walks from the "
     "graph's heads (or REV) and stamps there; fastappkit refuses relative stamp targets",
     lambda cmd, target, rows, err, ferr: cmd.startswith("stamp") and re.search(r"[+-]\d+$", target) is not None and err is None),
    ("downgrade-branch-rev-off-branch",
     "downgrade BRANCH@REV where REV is not on BRANCH: Alembic ignores BRANCH and reverts REV's children; "
     "fastappkit refuses (Revision REV is not a member of branch BRANCH)",
     lambda cmd, target, rows, err, ferr: cmd == "downgrade" and "@" in target and err is None
     and "is not a member of branch" in ferr),
    ("downgrade-relative-several-rows",
     "downgrade -N without a branch while the version table has several rows: Alembic 1.8.1 warns "
     "and walks down from whichever row the database returned first; fastappkit refuses",
     lambda cmd, target, rows, err, ferr: cmd == "downgrade" and re.fullmatch(r"-\d+", target) is not None and len(rows) > 1
     and err is None),
]


def rev_id(shape, name):
    return hashlib.md5(("%s/%s" % (shape, name)).encode()).hexdigest()[:12]


class Project:
    """One graph written as an Alembic project and as a fastappkit project."""

    def __init__(self, root, shape, revs):
        self.shape = shape
        self.root = root
        self.ids = {name: rev_id(shape, name) for name, *_ in revs}
        self.labels = {}
        self.revs = revs
        ident = lambda x: self.ids.get(x, x)  # noqa: E731 (labels stay labels)
        self.alembic_dir = os.path.join(root, "alembic")
        self.fak_dir = os.path.join(root, "fastappkit")
        os.makedirs(os.path.join(self.alembic_dir, "versions"))
        os.makedirs(os.path.join(self.fak_dir, "core", "db", "migrations", "versions"))
        with open(os.path.join(self.alembic_dir, "env.py"), "w") as f:
            f.write(ENV_PY)
        with open(os.path.join(self.fak_dir, "fastappkit.toml"), "w") as f:
            f.write("[tool.fastappkit]\napps = []\n")
        for name, down, deps, labels in revs:
            rid = self.ids[name]
            for l in labels:
                self.labels[l] = rid
            d = [ident(x) for x in down]
            dp = [ident(x) for x in deps]
            with open(os.path.join(self.alembic_dir, "versions", "%s_%s.py" % (rid, name)), "w") as f:
                f.write(PY_REV.format(rid=rid, name=name, down=pyval(d), deps=pyval(dp), labels=pyval(labels)))
            toml = ['revision = "%s"' % rid]
            if d:
                toml.append("down_revision = %s" % (tomlval(d[0]) if len(d) == 1 else tomlval(d)))
            if dp:
                toml.append("depends_on = %s" % tomlval(dp))
            if labels:
                toml.append("branch_labels = %s" % tomlval(labels))
            toml.append('message = "%s"' % name)
            toml.append('\n[[upgrade]]\nop = "execute"\nsql = "CREATE TABLE m_%s (x INTEGER)"' % rid)
            toml.append('\n[[downgrade]]\nop = "execute"\nsql = "DROP TABLE m_%s"\n' % rid)
            with open(os.path.join(self.fak_dir, "core", "db", "migrations", "versions", "%s_%s.toml" % (rid, name)), "w") as f:
                f.write("\n".join(toml))

    def vocabulary(self):
        """Targets worth trying on this graph, in Alembic's syntax."""
        ids = sorted(self.ids.values())
        out = ["head", "heads", "base", "+1", "+2", "-1", "-2", "-3"]
        out += ids
        out += [i[:5] for i in ids[:3]]
        out += [i + "+1" for i in ids] + [i + "-1" for i in ids]
        out += [i + "@base" for i in ids[:3]] + [i + "@head" for i in ids[:3]]
        for label, rid in sorted(self.labels.items()):
            out += [label, label + "@head", label + "@base", label + "@+1", label + "@-1", label + "@heads"]
            out += [label + "@" + i for i in ids[:3]]
        return out


def pyval(v):
    if not v:
        return "None"
    return repr(v[0]) if len(v) == 1 else repr(tuple(v))


def tomlval(v):
    if isinstance(v, str):
        return '"%s"' % v
    return "[" + ", ".join('"%s"' % x for x in v) + "]"


ENV_PY = '''
from alembic import context
from sqlalchemy import create_engine, pool

url = context.config.get_main_option("sqlalchemy.url")
engine = create_engine(url, poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
'''

PY_REV = '''from alembic import op

revision = {rid!r}
down_revision = {down}
branch_labels = {labels}
depends_on = {deps}


def upgrade():
    op.execute("CREATE TABLE m_{rid} (x INTEGER)")


def downgrade():
    op.execute("DROP TABLE m_{rid}")
'''

# ----------------------------------------------------------------------------------------------
# Databases


class SqliteDb:
    def __init__(self, path):
        self.path = path

    def alembic_url(self):
        return "sqlite:///" + self.path

    def fak_url(self):
        return "sqlite:///" + self.path

    def state(self):
        if not os.path.exists(self.path):
            return (), ()
        con = sqlite3.connect(self.path)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            rows = ()
            if "alembic_version" in tables:
                rows = tuple(sorted(r[0] for r in con.execute("SELECT version_num FROM alembic_version")))
            return rows, tuple(sorted(t for t in tables if t.startswith("m_")))
        finally:
            con.close()

    def copy_from(self, other):
        if os.path.exists(other.path):
            shutil.copyfile(other.path, self.path)
        elif os.path.exists(self.path):
            os.remove(self.path)


class PgDb:
    def __init__(self, host, name):
        import psycopg2
        self.host, self.name, self.pg = host, name, psycopg2
        con = psycopg2.connect(dbname="postgres", user="postgres", host=host)
        con.autocommit = True
        with con.cursor() as c:
            c.execute('DROP DATABASE IF EXISTS "%s"' % name)
            c.execute('CREATE DATABASE "%s"' % name)
        con.close()

    def alembic_url(self):
        return "postgresql+psycopg2://postgres@/%s?host=%s" % (self.name, self.host)

    def fak_url(self):
        return "postgresql://postgres@/%s?host=%s" % (self.name, self.host)

    def state(self):
        con = self.pg.connect(dbname=self.name, user="postgres", host=self.host)
        try:
            with con.cursor() as c:
                c.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
                tables = {r[0] for r in c.fetchall()}
                rows = ()
                if "alembic_version" in tables:
                    c.execute("SELECT version_num FROM alembic_version")
                    rows = tuple(sorted(r[0] for r in c.fetchall()))
            return rows, tuple(sorted(t for t in tables if t.startswith("m_")))
        finally:
            con.close()


# ----------------------------------------------------------------------------------------------
# The two tools


def run_alembic(project, db, cmd, target):
    """Runs one command in-process; returns (ok, error text, listed revisions for current)."""
    out = io.StringIO()
    cfg = Config(stdout=out)
    cfg.set_main_option("script_location", project.alembic_dir)
    cfg.set_main_option("sqlalchemy.url", db.alembic_url())
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            if cmd == "upgrade":
                command.upgrade(cfg, target)
            elif cmd == "downgrade":
                command.downgrade(cfg, target)
            elif cmd == "stamp":
                command.stamp(cfg, target)
            elif cmd == "stamp-purge":
                command.stamp(cfg, target, purge=True)
            elif cmd == "current":
                command.current(cfg)
    except BaseException as e:  # any exception (CommandError, AssertionError, KeyError...) is a failure
        if isinstance(e, KeyboardInterrupt):
            raise
        return False, "%s: %s" % (type(e).__name__, e), None
    listed = None
    if cmd == "current":
        listed = tuple(sorted(line.split()[0] for line in out.getvalue().splitlines() if line.strip()))
    return True, "", listed


def run_fastappkit(binary, project, db, cmd, target):
    args = [binary, "--database-url", db.fak_url(), "-q", "migrate"]
    if cmd == "current":
        args += ["current"]
    elif cmd == "stamp-purge":
        args += ["stamp", "--purge", "--revision=" + target]
    else:
        args += [cmd, "--revision=" + target]
    p = subprocess.run(args, cwd=project.fak_dir, capture_output=True, text=True)
    listed = None
    if cmd == "current" and p.returncode == 0:
        listed = tuple(sorted(line.split()[0] for line in p.stdout.splitlines() if line.strip() and not line.startswith("(")))
    if p.returncode not in (0, 1, 2):
        return False, "CRASH exit %d: %s" % (p.returncode, p.stderr.strip()), None
    return p.returncode == 0, p.stderr.strip(), listed


# ----------------------------------------------------------------------------------------------


class Stats:
    def __init__(self):
        self.shapes = self.sequences = self.steps = 0
        self.agree_ok = self.agree_fail = 0
        self.allowed = {}
        self.failures = []
        self.handover_steps = 0

    def merge(self, o):
        for k in ("shapes", "sequences", "steps", "agree_ok", "agree_fail", "handover_steps"):
            setattr(self, k, getattr(self, k) + getattr(o, k))
        for k, v in o.allowed.items():
            self.allowed[k] = self.allowed.get(k, 0) + v
        self.failures += o.failures


def differential(binary, project, seq_name, steps, work, stats, failures_limit=40):
    """Runs `steps` with both tools on fresh SQLite databases, comparing after every step."""
    base = os.path.join(work, seq_name)
    os.makedirs(base, exist_ok=True)
    a_db = SqliteDb(os.path.join(base, "alembic.db"))
    f_db = SqliteDb(os.path.join(base, "fastappkit.db"))
    stats.sequences += 1
    history = []
    for cmd, target in steps:
        if cmd == "inject-row":  # a row naming a revision neither project has, in both databases
            for db in (a_db, f_db):
                con = sqlite3.connect(db.path)
                con.execute("INSERT INTO alembic_version (version_num) VALUES ('%s')" % target)
                con.commit()
                con.close()
            history.append("(row %s inserted)" % target)
            continue
        rows_before = a_db.state()[0]
        f_before = f_db.state()
        a_ok, a_err, a_list = run_alembic(project, a_db, cmd, target)
        f_ok, f_err, f_list = run_fastappkit(binary, project, f_db, cmd, target)
        a_state, f_state = a_db.state(), f_db.state()
        stats.steps += 1
        history.append("%s %s" % (cmd, target))
        where = "%s / %s: %s" % (project.shape, seq_name, " ; ".join(history))
        if f_err.startswith("CRASH"):
            stats.failures.append("%s\n    fastappkit crashed: %s" % (where, f_err))
            return
        if a_ok == f_ok and a_state == f_state and a_list == f_list:
            if a_ok:
                stats.agree_ok += 1
            else:
                stats.agree_fail += 1
            continue
        allowed = None
        if not f_ok and f_state == f_before:  # fastappkit refused, and wrote nothing
            for aid, _, pred in ALLOWED:
                if pred(cmd, target, rows_before, None if a_ok else a_err, f_err):
                    allowed = aid
        if allowed:
            stats.allowed[allowed] = stats.allowed.get(allowed, 0) + 1
            f_db.copy_from(a_db)  # hand over Alembic's database and go on from the same state
            continue
        stats.failures.append(
            "%s\n    alembic:    %s rows=%s tables=%s%s %s\n    fastappkit: %s rows=%s tables=%s%s %s" % (
                where, "ok" if a_ok else "FAILED", list(a_state[0]), len(a_state[1]),
                "" if a_list is None else " listed=%s" % list(a_list), a_err[:300],
                "ok" if f_ok else "FAILED", list(f_state[0]), len(f_state[1]),
                "" if f_list is None else " listed=%s" % list(f_list), f_err[:300]))
        return  # the states differ: the rest of the sequence would only repeat it


def handover(binary, project, make_db, steps, stats, label):
    """Lane A: Alembic only. Lane B: tools alternate every step. Compared after every step."""
    a_db, b_db = make_db("a"), make_db("b")
    history = []
    for i, (cmd, target) in enumerate(steps):
        a_ok, a_err, _ = run_alembic(project, a_db, cmd, target)
        if i % 2 == 0:
            b_ok, b_err, _ = run_fastappkit(binary, project, b_db, cmd, target)
            tool = "fastappkit"
        else:
            b_ok, b_err, _ = run_alembic(project, b_db, cmd, target)
            tool = "alembic"
        history.append("%s:%s %s" % (tool, cmd, target))
        stats.handover_steps += 1
        a_state, b_state = a_db.state(), b_db.state()
        if a_ok != b_ok or a_state != b_state:
            stats.failures.append("hand-over %s %s: %s\n    alembic only: %s %s %s\n    mixed:        %s %s %s" % (
                label, project.shape, " ; ".join(history), a_ok, a_state, a_err[:200], b_ok, b_state, b_err[:200]))
            return


# The exact sequences of issue 12 (names are revision names of the shape, resolved to ids).
ISSUE_SEQUENCES = {
    "branch2": {"issue1_stamp_keeps_other_branch": [("upgrade", "heads"), ("stamp", "b1"), ("current", ""), ("upgrade", "heads"),
                                                    ("stamp-purge", "b1"), ("current", "")]},
    "depends_base": {"issue2_downgrade_keeps_depends_on": [("upgrade", "heads"), ("downgrade", "x"), ("current", ""),
                                                         ("downgrade", "base"), ("upgrade", "z"), ("downgrade", "x"),
                                                         ("current", ""), ("downgrade", "-1")]},
    "merge2": {"issue3_relative_through_merge": [("upgrade", "head"), ("downgrade", "-1"), ("downgrade", "m-1"),
                                                 ("downgrade", "b1"), ("downgrade", "-1")]},
    "labelled_bases": {"issue4_branch_qualified": [("upgrade", "heads"), ("downgrade", "lib1@base"), ("downgrade", "lib2@-1"),
                                                   ("upgrade", "lib1@l1"), ("stamp", "lib1@head"), ("upgrade", "lib1@+1"),
                                                   ("downgrade", "l2@base"), ("upgrade", "lib2@head"), ("current", "")]},
    "feature_branch": {"issue4_feature": [("upgrade", "b"), ("upgrade", "feat@+1"), ("upgrade", "feat@+1"), ("upgrade", "feat@head"),
                                          ("downgrade", "feat@-1"), ("downgrade", "f1@base")]},
    "label_depended_on": {"issue4_label_head_with_depends": [("upgrade", "lib1@head"), ("upgrade", "lib2@head"), ("current", ""),
                                                           ("downgrade", "lib1@base")]},
    "depends_on_label": {"issue5_depends_on_label": [("upgrade", "lib2@head"), ("current", ""), ("upgrade", "heads"),
                                                   ("downgrade", "lib1@base"), ("current", "")]},
}


HANDOVER_SHAPES = ["merge_then_branch", "depends_base", "labelled_branches", "depends_on_label", "two_diamonds"]


def call(fn, *args):
    return fn(*args)


def run_handover(binary, project, backend, first, pghost):
    stats = Stats()
    ids = sorted(project.ids.values())
    steps = [("upgrade", ids[0]), ("upgrade", "heads"), ("downgrade", ids[0]), ("upgrade", "heads"), ("stamp", ids[-1]),
             ("upgrade", "heads"), ("downgrade", "base"), ("upgrade", "heads"), ("downgrade", "base")]
    if first == "alembic":
        steps = [("current", "")] + steps
    if backend == "sqlite":
        d = os.path.join(project.root, "handover-sqlite-" + first)
        os.makedirs(d, exist_ok=True)
        make_db = lambda lane: SqliteDb(os.path.join(d, lane + ".db"))  # noqa: E731
    else:
        dbname = "diff_%s_%s" % (hashlib.md5(project.shape.encode()).hexdigest()[:8], first)
        make_db = lambda lane: PgDb(pghost, dbname + "_" + lane)  # noqa: E731
    handover(binary, project, make_db, steps, stats, "%s, %s first" % (backend, first))
    return stats


def run_shape(binary, project):
    stats = Stats()
    stats.shapes = 1
    rng = random.Random(project.shape)
    for seq_name, steps in sequences_for(project, rng).items():
        differential(binary, project, seq_name, steps, project.root, stats)
    return stats


def sequences_for(project, rng):
    ids = sorted(project.ids.values())
    vocab = project.vocabulary()
    seqs = {
        "up_down": [("upgrade", "heads"), ("current", ""), ("downgrade", "base"), ("current", "")],
        "each_rev": [],
        "stamp": [("upgrade", "heads"), ("stamp", rng.choice(ids)), ("current", ""), ("upgrade", "heads"),
                  ("stamp-purge", rng.choice(ids)), ("current", ""), ("stamp", "base"), ("stamp", "heads"), ("downgrade", "base")],
    }
    order = ids[:]
    rng.shuffle(order)
    for r in order:
        seqs["each_rev"] += [("upgrade", r), ("downgrade", r)]
    seqs["each_rev"].append(("downgrade", "base"))
    cmds = ["upgrade"] * 4 + ["downgrade"] * 4 + ["stamp", "stamp-purge", "current"]
    name_to_id = lambda t: re.sub(r"^[a-z0-9]+(?=$|@|[+-])",  # noqa: E731
                                  lambda m: project.ids.get(m.group(0), m.group(0)), t)
    seqs["unknown_row"] = [("upgrade", ids[0]), ("inject-row", "0badbadbad00"), ("current", ""), ("upgrade", "heads"),
                           ("downgrade", "base"), ("downgrade", "-1"), ("stamp", ids[-1]), ("stamp", "base"),
                           ("stamp-purge", ids[0]), ("current", ""), ("upgrade", "heads"), ("downgrade", "base")]
    for seq_name, steps in ISSUE_SEQUENCES.get(project.shape, {}).items():
        seqs[seq_name] = [(c, name_to_id(t)) for c, t in steps]
    for n in range(3):
        seq = [("upgrade", rng.choice(["heads", rng.choice(ids)]))]
        for _ in range(6):
            seq.append((rng.choice(cmds), rng.choice(vocab)))
        seq.append(("current", ""))
        seqs["random%d" % n] = seq
    return seqs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fastappkit", required=True)
    ap.add_argument("--workdir", help="default: a new folder in /dev/shm (no fsync cost), removed after a pass")
    ap.add_argument("--pghost")
    ap.add_argument("--shapes", type=int, default=0, help="only the first N shapes (debugging)")
    ap.add_argument("--only", help="only this shape")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    t0 = time.time()
    if args.workdir:
        workdir = args.workdir
        if os.path.exists(workdir):
            shutil.rmtree(workdir)
        os.makedirs(workdir)
    else:
        workdir = tempfile.mkdtemp(prefix="fastappkit-alembic-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    stats = Stats()
    names = list(SHAPES)
    if args.shapes:
        names = names[:args.shapes]
    if args.only:
        names = [args.only]
    projects = {name: Project(os.path.join(workdir, name), name, SHAPES[name]) for name in names}
    tasks = [(run_shape, args.fastappkit, projects[n]) for n in names]
    # Hand-overs in both directions (lanes alternate fastappkit, Alembic, ...; the "alembic
    # first" list starts with a no-op current run by fastappkit, so Alembic writes first).
    for name in [n for n in HANDOVER_SHAPES if n in projects]:
        for first in ("fastappkit", "alembic"):
            tasks.append((run_handover, args.fastappkit, projects[name], "sqlite", first, None))
            if args.pghost:
                tasks.append((run_handover, args.fastappkit, projects[name], "postgresql", first, args.pghost))
    # Two worker processes (CI has two cores); each task returns its own Stats.
    with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
        for part in pool.starmap(call, tasks):
            stats.merge(part)

    elapsed = time.time() - t0
    print("alembic differential: %d shapes, %d sequences, %d steps compared (%d both ok, %d both refused), "
          "%d hand-over steps%s, %.1f s" % (stats.shapes, stats.sequences, stats.steps, stats.agree_ok, stats.agree_fail,
                                           stats.handover_steps, " (SQLite + PostgreSQL)" if args.pghost else " (SQLite only)", elapsed))
    for aid, desc, _ in ALLOWED:
        print("  allowed difference %-34s %4d time(s): %s" % (aid, stats.allowed.get(aid, 0), desc))
    if stats.failures:
        print("\n%d difference(s) not in the allow-list (projects and databases kept in %s):" % (len(stats.failures), workdir))
        for f in stats.failures[:60]:
            print("- " + f)
        return 1
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
