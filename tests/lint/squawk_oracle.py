#!/usr/bin/env python3
"""squawk as an oracle for `fastappkit migrate lint` (issue 16, SPEC §11).

A corpus of revisions (every SPEC §5 operation in a risky and a safe form, one revision
each) is rendered to PostgreSQL SQL by `fastappkit migrate preview`, one file per revision;
squawk (the PostgreSQL migration linter, from the npm registry) lints those files and
`fastappkit migrate lint --all --json` lints the revisions. For every rule both tools have
(MAPPING), the two must fire on exactly the same revisions, except where ALLOWED says why
they differ on purpose; an allowed difference that no longer occurs fails too, so the list
stays true. Skips (exit 77) only when squawk cannot be installed because npm cannot reach
its registry.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

SQUAWK_VERSION = "2.66.0"
SKIP = 77

# fastappkit rule -> squawk rule
MAPPING = {
    "require-concurrent-index": "require-concurrent-index-creation",
    "require-concurrent-index-deletion": "require-concurrent-index-deletion",
    "foreign-key-not-valid": "adding-foreign-key-constraint",
    "check-constraint-not-valid": "constraint-missing-not-valid",
    "unique-constraint": "disallowed-unique-constraint",
    "changing-column-type": "changing-column-type",
    "set-not-null": "adding-not-nullable-field",
    "volatile-default": "adding-field-with-default",
    "add-required-column": "adding-required-field",
    "rename-table": "renaming-table",
    "rename-column": "renaming-column",
    "drop-table": "ban-drop-table",
    "drop-column": "ban-drop-column",
}

BASE = """
[[upgrade]]
op = "create_table"
table = "users"
columns = [ { name = "id", type = "integer", primary_key = true }, { name = "email", type = "string", length = 100 },
  { name = "name", type = "text" }, { name = "age", type = "integer" }, { name = "org_id", type = "integer" },
  { name = "org2_id", type = "integer" }, { name = "price", type = "numeric", precision = 10, scale = 2 },
  { name = "code", type = "string", length = 20 }, { name = "score", type = "integer" },
  { name = "nick", type = "text" }, { name = "old", type = "text" }, { name = "flag", type = "boolean" },
  { name = "level", type = "integer" }, { name = "note", type = "string", length = 50 } ]
[[upgrade]]
op = "create_table"
table = "orgs"
columns = [ { name = "id", type = "integer", primary_key = true }, { name = "tag", type = "text" } ]
[[upgrade]]
op = "create_table"
table = "gone"
columns = [ { name = "id", type = "integer", primary_key = true } ]
[[upgrade]]
op = "create_table"
table = "moving"
columns = [ { name = "id", type = "integer", primary_key = true } ]
[[upgrade]]
op = "create_index"
name = "ix_users_age"
table = "users"
columns = ["age"]
[[upgrade]]
op = "create_index"
name = "ix_users_score"
table = "users"
columns = ["score"]
[[upgrade]]
op = "create_unique"
name = "uq_orgs_tag"
table = "orgs"
columns = ["tag"]
"""

NEW_TABLE = """[[upgrade]]
op = "create_table"
table = "{t}"
columns = [ {{ name = "id", type = "integer", primary_key = true }}, {{ name = "a", type = "integer" }},
  {{ name = "s", type = "string", length = 10 }} ]
"""


def op(kind, **keys):
    lines = ["[[upgrade]]", 'op = "%s"' % kind]
    for k, v in keys.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, list):
            v = "[" + ", ".join('"%s"' % x for x in v) + "]"
        elif isinstance(v, str) and not v.startswith(("{", "[ {")):
            v = '"%s"' % v.replace('"', '\\"')
        lines.append("%s = %s" % (k, v))
    return "\n".join(lines) + "\n"


# (name, transactional, body). Each is one revision on top of the previous ones.
CORPUS = [
    # create_table (no risky form of its own)
    ("create_table", True, NEW_TABLE.format(t="n1")),
    ("create_table_fk", True, op("create_table", table="n2",
                                 columns='[ { name = "id", type = "integer", primary_key = true }, '
                                         '{ name = "org_id", type = "integer", foreign_key = "orgs.id" } ]')),
    # drop_table
    ("drop_table_risky", True, op("drop_table", table="gone")),
    ("drop_table_safe_new", True, NEW_TABLE.format(t="n3") + op("drop_table", table="n3")),
    # rename_table
    ("rename_table_risky", True, op("rename_table", table="moving", new_name="moved")),
    ("rename_table_safe_new", True, NEW_TABLE.format(t="n4") + op("rename_table", table="n4", new_name="n4b")),
    # add_column
    ("add_column_nullable", True, op("add_column", table="users", column='{ name = "c1", type = "integer" }')),
    ("add_column_constant_default", True,
     op("add_column", table="users", column='{ name = "c2", type = "integer", default = "0" }')),
    ("add_column_stable_default", True,
     op("add_column", table="users", column='{ name = "c3", type = "datetime", default = "CURRENT_TIMESTAMP" }')),
    ("add_column_volatile_default", True,
     op("add_column", table="users", column='{ name = "c4", type = "double", default = "random()" }')),
    ("add_column_volatile_uuid", True,
     op("add_column", table="users", column='{ name = "c5", type = "uuid", default = "gen_random_uuid()" }')),
    ("add_column_required", True,
     op("add_column", table="users", column='{ name = "c6", type = "integer", nullable = false }')),
    ("add_column_required_default", True,
     op("add_column", table="users", column='{ name = "c7", type = "integer", nullable = false, default = "1" }')),
    ("add_column_fk", True,
     op("add_column", table="users", column='{ name = "c8", type = "integer", foreign_key = "orgs.id" }')),
    ("add_column_unique", True,
     op("add_column", table="users", column='{ name = "c9", type = "integer", unique = true }')),
    ("add_column_new_table", True,
     NEW_TABLE.format(t="n5") + op("add_column", table="n5", column='{ name = "b", type = "integer", nullable = false }')),
    # drop_column
    ("drop_column_risky", True, op("drop_column", table="users", column="old")),
    ("drop_column_safe_new", True, NEW_TABLE.format(t="n6") + op("drop_column", table="n6", column="a")),
    # alter_column
    ("alter_type_rewrite", True, op("alter_column", table="users", column="score", type="bigint")),
    ("alter_type_widen_varchar", True, op("alter_column", table="users", column="email", type="string", length=200)),
    ("alter_type_varchar_to_text", True, op("alter_column", table="users", column="code", type="text")),
    ("alter_type_narrow_varchar", True, op("alter_column", table="users", column="note", type="string", length=10)),
    ("alter_type_numeric_wider", True,
     op("alter_column", table="users", column="price", type="numeric", precision=12, scale=2)),
    ("alter_type_text_to_int", True, op("alter_column", table="users", column="nick", type="integer")),
    ("alter_type_new_table", True, NEW_TABLE.format(t="n7") + op("alter_column", table="n7", column="a", type="bigint")),
    ("set_not_null", True, op("alter_column", table="users", column="age", nullable=False)),
    ("drop_not_null", True, op("alter_column", table="users", column="age", nullable=True)),
    ("set_not_null_new_table", True, NEW_TABLE.format(t="n8") + op("alter_column", table="n8", column="a", nullable=False)),
    ("set_default", True, op("alter_column", table="users", column="level", default="5")),
    ("drop_default", True, op("alter_column", table="users", column="level", default="")),
    ("rename_column", True, op("alter_column", table="users", column="flag", new_name="flagged")),
    ("rename_column_new_table", True, NEW_TABLE.format(t="n9") + op("alter_column", table="n9", column="a", new_name="a2")),
    # create_index
    ("create_index_risky", True, op("create_index", name="ix_users_name", table="users", columns=["name"])),
    ("create_index_unique_risky", True,
     op("create_index", name="uq_ix_users_email", table="users", columns=["email"], unique=True)),
    ("create_index_concurrently", False,
     op("create_index", name="ix_users_org", table="users", columns=["org_id"], concurrently=True)),
    ("create_index_new_table", True, NEW_TABLE.format(t="n10") + op("create_index", name="ix_n10_a", table="n10", columns=["a"])),
    # drop_index
    ("drop_index_risky", True, op("drop_index", name="ix_users_age", table="users")),
    ("drop_index_concurrently", False, op("drop_index", name="ix_users_score", table="users", concurrently=True)),
    # create_unique
    ("create_unique_risky", True, op("create_unique", name="uq_users_name", table="users", columns=["name"])),
    ("create_unique_new_table", True, NEW_TABLE.format(t="n11") + op("create_unique", name="uq_n11_a", table="n11", columns=["a"])),
    # create_foreign_key / validate_constraint
    ("create_fk_risky", True,
     op("create_foreign_key", name="fk_users_org", table="users", columns=["org_id"], references_table="orgs",
        references_columns=["id"])),
    ("create_fk_not_valid", True,
     op("create_foreign_key", name="fk_users_org2", table="users", columns=["org2_id"], references_table="orgs",
        references_columns=["id"], not_valid=True)),
    ("validate_constraint_later", True, op("validate_constraint", name="fk_users_org2", table="users")),
    ("validate_same_transaction", True,
     op("create_foreign_key", name="fk_users_level", table="users", columns=["level"], references_table="orgs",
        references_columns=["id"], not_valid=True) +
     op("validate_constraint", name="fk_users_level", table="users")),
    # drop_constraint
    ("drop_constraint", True, op("drop_constraint", name="uq_orgs_tag", table="orgs")),
    # execute (squawk reads raw SQL; fastappkit only warns that it cannot)
    ("execute_raw_index", True, op("execute", postgresql="CREATE INDEX ix_raw ON users (nick)", sqlite="SELECT 1")),
    ("execute_raw_update", True, op("execute", sql="UPDATE users SET level = 1")),
    # create_check_constraint, and the set-not-null recipe of docs/lint.md in four revisions
    ("create_check_risky", True,
     op("create_check_constraint", name="ck_users_level", table="users", condition="level >= 0")),
    ("create_check_not_valid", True,
     op("create_check_constraint", name="ck_users_score", table="users", condition="score >= 0", not_valid=True)),
    ("validate_check_later", True, op("validate_constraint", name="ck_users_score", table="users")),
    ("create_check_new_table", True,
     NEW_TABLE.format(t="n12") + op("create_check_constraint", name="ck_n12_a", table="n12", condition="a > 0")),
    ("not_null_check_not_valid", True,
     op("create_check_constraint", name="ck_users_nick_not_null", table="users", condition="nick IS NOT NULL",
        not_valid=True)),
    ("not_null_check_validate", True, op("validate_constraint", name="ck_users_nick_not_null", table="users")),
    ("not_null_after_check", True, op("alter_column", table="users", column="nick", nullable=False)),
    ("not_null_check_drop", True, op("drop_constraint", name="ck_users_nick_not_null", table="users")),
]

# (case, fastappkit rule): why the two tools differ there on purpose.
ALLOWED = {
    ("alter_type_widen_varchar", "changing-column-type"):
        "VARCHAR(n) -> VARCHAR(m >= n) changes only the catalog (no rewrite, no scan since PostgreSQL 9.2); "
        "squawk flags every TYPE change",
    ("alter_type_varchar_to_text", "changing-column-type"):
        "VARCHAR -> TEXT is binary coercible: no rewrite; squawk flags every TYPE change",
    ("alter_type_numeric_wider", "changing-column-type"):
        "NUMERIC(p, s) -> NUMERIC(p' > p, s) needs no rewrite; squawk flags every TYPE change",
    ("execute_raw_index", "require-concurrent-index"):
        "squawk parses the raw SQL of an execute; fastappkit does not analyse raw SQL and reports "
        "execute-unanalysed (a warning) instead",
    ("drop_column_safe_new", "drop-column"):
        "the column belongs to a table created in the same revision, which nothing reads yet; squawk bans "
        "every DROP COLUMN",
    ("drop_table_safe_new", "drop-table"):
        "the table is created in the same revision; squawk bans every DROP TABLE",
    ("rename_table_safe_new", "rename-table"):
        "the table is created in the same revision; squawk flags every rename",
    ("rename_column_new_table", "rename-column"):
        "the table is created in the same revision; squawk flags every rename",
    ("add_column_new_table", "add-required-column"):
        "the table is created in the same revision and has no rows, so a NOT NULL column without a default cannot "
        "fail; squawk does not track that here",
    ("alter_type_new_table", "changing-column-type"):
        "rewriting a table created in the same revision (no rows, no readers) costs nothing",
    ("set_not_null_new_table", "set-not-null"):
        "scanning a table created in the same revision (no rows, no readers) costs nothing",
    ("create_fk_risky", "check-constraint-not-valid"):
        "squawk's constraint-missing-not-valid fires on every ADD CONSTRAINT without NOT VALID; fastappkit reports "
        "a foreign key as foreign-key-not-valid (squawk's adding-foreign-key-constraint, which fires there too)",
    ("create_unique_risky", "check-constraint-not-valid"):
        "a UNIQUE constraint cannot be NOT VALID in PostgreSQL; fastappkit reports it as unique-constraint "
        "(squawk's disallowed-unique-constraint, which fires there too)",
    ("validate_same_transaction", "check-constraint-not-valid"):
        "squawk reports a VALIDATE in the NOT VALID constraint's own transaction as constraint-missing-not-valid; "
        "fastappkit has its own rule for it, validate-in-same-transaction (a warning)",
    ("not_null_after_check", "set-not-null"):
        "a validated CHECK (nick IS NOT NULL) from an earlier revision lets PostgreSQL 12+ set NOT NULL without "
        "a scan; squawk lints each file alone and cannot see that check",
}


def ensure_squawk(prefix):
    exe = os.path.join(prefix, "node_modules", ".bin", "squawk")
    if os.path.exists(exe):
        return exe
    npm = shutil.which("npm")
    if not npm:
        print("FAIL: npm is not installed; scripts/install-deps.sh installs it (Debian package npm)")
        sys.exit(1)
    os.makedirs(prefix, exist_ok=True)
    r = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", prefix,
                        "squawk-cli@" + SQUAWK_VERSION], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        text = r.stdout + r.stderr
        network = any(s in text for s in ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT", "ECONNRESET",
                                          "network", "proxy"))
        if network:
            print("SKIP: npm cannot reach its registry, so squawk-cli cannot be installed:\n" + text[-2000:])
            sys.exit(SKIP)
        print("FAIL: npm install squawk-cli@%s failed:\n%s" % (SQUAWK_VERSION, text[-4000:]))
        sys.exit(1)
    if not os.path.exists(exe):
        print("FAIL: squawk-cli installed but %s is missing (its Linux binary comes in an optional dependency)" % exe)
        sys.exit(1)
    return exe


def run(cmd, cwd=None, check=True):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    if check and r.returncode not in (0, 1):
        print("FAIL: %s exited %d\n%s\n%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
        sys.exit(1)
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fastappkit", required=True)
    ap.add_argument("--pghost", required=True)
    ap.add_argument("--squawk-prefix", required=True, help="where npm installs squawk-cli")
    ap.add_argument("--keep", help="keep the project and SQL files in this folder")
    args = ap.parse_args()
    args.fastappkit = os.path.abspath(args.fastappkit)
    args.squawk_prefix = os.path.abspath(args.squawk_prefix)
    squawk = ensure_squawk(args.squawk_prefix)
    work = args.keep or tempfile.mkdtemp(prefix="fastappkit-squawk-")
    os.makedirs(work, exist_ok=True)
    proj = os.path.join(work, "proj")
    shutil.rmtree(proj, ignore_errors=True)
    run([args.fastappkit, "core", "new", "proj"], cwd=work)
    versions = os.path.join(proj, "core", "db", "migrations", "versions")
    ids = {}
    prev = None
    ops = 0
    for i, (name, transactional, body) in enumerate([("base", True, BASE)] + CORPUS):
        rev = "%012x" % (i + 1)
        ids[rev] = name
        head = 'revision = "%s"\nmessage = "%s"\n' % (rev, name)
        if prev:
            head += 'down_revision = "%s"\n' % prev
        if not transactional:
            head += "transactional = false\n"
        with open(os.path.join(versions, "%s_%s.toml" % (rev, name)), "w") as f:
            f.write(head + body)
        if name != "base":
            ops += body.count("[[upgrade]]")
        prev = rev
    # Read-only preview against the cluster's own database: nothing is created there.
    url = "postgresql://postgres@/postgres?host=" + args.pghost
    pre = run([args.fastappkit, "migrate", "preview", "--database-url", url], cwd=proj)
    if pre.returncode != 0:
        print("FAIL: preview exited %d\n%s" % (pre.returncode, pre.stderr))
        sys.exit(1)
    sqldir = os.path.join(work, "sql")
    shutil.rmtree(sqldir, ignore_errors=True)
    os.makedirs(sqldir)
    current = None
    sections = {}
    for line in pre.stdout.splitlines():
        if line.startswith("-- Running upgrade "):
            current = line.split("-> ")[1].split(",")[0].strip()
            sections[current] = []
        elif current:
            sections[current].append(line)
    for rev, lines in sections.items():
        with open(os.path.join(sqldir, rev + ".sql"), "w") as f:
            f.write("\n".join(lines) + "\n")
    sq = subprocess.run([squawk, "--reporter", "json", "--pg-version", "15"] +
                        [os.path.join(sqldir, r + ".sql") for r in sorted(sections)],
                        capture_output=True, text=True, timeout=300)
    try:
        squawk_findings = json.loads(sq.stdout or "[]")
    except ValueError:
        print("FAIL: squawk printed no JSON (exit %d):\n%s\n%s" % (sq.returncode, sq.stdout, sq.stderr))
        sys.exit(1)
    lint = run([args.fastappkit, "migrate", "lint", "--all", "--json", "--dialect", "postgresql"], cwd=proj)
    ours = json.loads(lint.stdout)["findings"]

    reverse = {v: k for k, v in MAPPING.items()}
    fired_s = set()  # (case, fastappkit rule)
    for f in squawk_findings:
        rule = reverse.get(f.get("rule_name"))
        if rule:
            fired_s.add((ids[os.path.basename(f["file"])[:-4]], rule))
    fired_f = set()
    for f in ours:
        if f["rule"] in MAPPING:
            fired_f.add((ids[f["revision"]], f["rule"]))
    bad = []
    for key in sorted(fired_s | fired_f):
        differ = (key in fired_s) != (key in fired_f)
        if differ and key not in ALLOWED:
            who = "squawk only" if key in fired_s else "fastappkit only"
            bad.append("%s: %s (%s) fires in %s" % (key[0], key[1], MAPPING[key[1]], who))
    for key, why in ALLOWED.items():
        if (key in fired_s) == (key in fired_f):
            bad.append("allow-listed difference no longer occurs: %s %s (%s)" % (key[0], key[1], why))
    covered = {r for (_, r) in fired_s & fired_f}
    missing = sorted(set(MAPPING) - covered)
    print("corpus: %d revisions, %d operations; squawk %s; %d mapped findings from squawk, %d from fastappkit; "
          "%d agreed, %d allow-listed differences" %
          (len(CORPUS), ops, SQUAWK_VERSION, len(fired_s), len(fired_f), len(fired_s & fired_f), len(ALLOWED)))
    if ops < 40:
        bad.append("the corpus has %d operations; at least 40 are needed" % ops)
    if missing:
        bad.append("rules never fired by both tools in the corpus: " + ", ".join(missing))
    if bad:
        print("FAIL:\n  " + "\n  ".join(bad))
        print("(files in %s)" % work)
        sys.exit(1)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print("OK")


if __name__ == "__main__":
    main()
