#!/usr/bin/env python3
"""Writes engine/startup-order.txt: the functions of the fastappkit executable that start-up
runs (`fastappkit -q --version`, then `fastappkit --help`), then those a no-op
`migrate upgrade` at head runs (the shortcut of a deploy with nothing to do, on SQLite), in the
order callgrind first meets them, for lld's --symbol-ordering-file (engine/CMakeLists.txt,
docs/perf-start.md).

Run it on a Release build after changing what start-up runs, and commit the list:

    /usr/bin/python3 tests/bench/startup_order.py build-release/engine/fastappkit

A stale list costs only speed: lld skips a name it does not find.
"""
import os
import re
import subprocess
import sys
import tempfile
import time

COMMANDS = [["-q", "--version"], ["--help"]]


def defined_functions(exe):
    """Names of functions defined exactly once: a name several translation units define locally
    (a clone of an inline function, say) would make lld move each of those units' whole .text
    to the front, hundreds of KB of code start-up never runs."""
    out = subprocess.run(["nm", "--defined-only", exe], check=True, capture_output=True, text=True).stdout
    count = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwWiI":
            count[parts[2]] = count.get(parts[2], 0) + 1
    return {name for name, n in count.items() if n == 1}


REVISION = """revision = "a00000000001"
message = "one table"

[[upgrade]]
op = "create_table"
table = "t1"
columns = [ { name = "id", type = "integer", primary_key = true } ]

[[downgrade]]
op = "drop_table"
table = "t1"
"""


def noop_project(exe, workdir):
    """A project at head whose head snapshot is recorded: the next `migrate upgrade` is the no-op
    shortcut. Returns (its folder, the environment naming its database)."""
    env = dict(os.environ, DATABASE_URL="sqlite:///" + os.path.join(workdir, "noop.db"))
    subprocess.run([exe, "-q", "core", "new", "proj"], check=True, cwd=workdir, env=env)
    project = os.path.join(workdir, "proj")
    with open(os.path.join(project, "core", "db", "migrations", "versions", "a00000000001_one.toml"), "w") as f:
        f.write(REVISION)
    subprocess.run([exe, "-q", "migrate", "upgrade"], check=True, cwd=project, env=env)
    time.sleep(2.2)  # past the racy margin: the next load records the snapshot
    subprocess.run([exe, "-q", "migrate", "upgrade"], check=True, cwd=project, env=env)
    return project, env


def functions_run(exe, args, workdir, cwd=None, env=None):
    out = os.path.join(workdir, "callgrind.out")
    subprocess.run(["valgrind", "--tool=callgrind", "--demangle=no", "--callgrind-out-file=" + out, exe] + args,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd or workdir, env=env)
    order = []
    with open(out) as f:
        for line in f:
            m = re.match(r"^c?fn=\(\d+\) (.+)$", line.rstrip("\n"))
            if m:
                order.append(m.group(1))
    return order


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    exe = os.path.abspath(sys.argv[1])
    ours = defined_functions(exe)
    seen, order = set(), []
    with tempfile.TemporaryDirectory() as work:
        project, env = noop_project(exe, work)
        runs = [(args, None, None) for args in COMMANDS] + [(["-q", "migrate", "upgrade"], project, env)]
        for args, cwd, run_env in runs:
            for name in functions_run(exe, args, work, cwd, run_env):
                if name in ours and name not in seen:
                    seen.add(name)
                    order.append(name)
    target = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "engine", "startup-order.txt")
    with open(target, "w") as f:
        f.write("".join(name + "\n" for name in order))
    print("startup_order: %d functions written to %s" % (len(order), os.path.normpath(target)))


if __name__ == "__main__":
    main()
