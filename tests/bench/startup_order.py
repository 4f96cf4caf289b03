#!/usr/bin/env python3
"""Writes engine/startup-order.txt: the functions of the fastappkit executable that start-up
runs (`fastappkit -q --version`, then `fastappkit --help`), in the order callgrind first meets
them, for lld's --symbol-ordering-file (engine/CMakeLists.txt, docs/perf-start.md).

Run it on a Release build after changing what start-up runs, and commit the list:

    /usr/bin/python3 tests/bench/startup_order.py build-release/engine/fastappkit

A stale list costs only speed: lld skips a name it does not find.
"""
import os
import re
import subprocess
import sys
import tempfile

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


def functions_run(exe, args, workdir):
    out = os.path.join(workdir, "callgrind.out")
    subprocess.run(["valgrind", "--tool=callgrind", "--demangle=no", "--callgrind-out-file=" + out, exe] + args,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir)
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
    exe = sys.argv[1]
    ours = defined_functions(exe)
    seen, order = set(), []
    with tempfile.TemporaryDirectory() as work:
        for args in COMMANDS:
            for name in functions_run(exe, args, work):
                if name in ours and name not in seen:
                    seen.add(name)
                    order.append(name)
    target = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "engine", "startup-order.txt")
    with open(target, "w") as f:
        f.write("".join(name + "\n" for name in order))
    print("startup_order: %d functions written to %s" % (len(order), os.path.normpath(target)))


if __name__ == "__main__":
    main()
