#!/usr/bin/env python3
"""The engine's layering, checked from its #include lines (docs/ARCHITECTURE.md, "Folders").

1. Modules: a file of a module includes only its own module and modules listed before it in
   LAYERS (engine/include/fastappkit/<module>/ and engine/src/<module>/).
2. Files: no include cycle between units, a unit being a header and the source file of the same
   name in the same module (workspace.hpp + workspace.cpp), as `a.cpp includes b.hpp, b.hpp
   includes a.hpp` is a cycle between a and b.

Usage: check_layers.py ENGINE_DIR   (exit 1 and every violation printed, else exit 0)
"""
import os
import re
import sys

LAYERS = ["util", "config", "migration", "sql", "db", "run", "plugin", "lint", "project", "cli"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def units(engine):
    """Every engine file as (module, unit name, path, the files it includes as (module, unit))."""
    roots = [os.path.join(engine, "include", "fastappkit"), os.path.join(engine, "src")]
    out = []
    for root in roots:
        for folder, _, files in os.walk(root):
            for f in sorted(files):
                if not f.endswith((".hpp", ".cpp", ".h")):
                    continue
                path = os.path.join(folder, f)
                rel = os.path.relpath(path, root)
                module = rel.split(os.sep)[0] if os.sep in rel else "top"
                unit = (module, os.path.splitext(os.path.basename(rel))[0])
                includes = []
                with open(path, encoding="utf-8") as fh:
                    for inc in INCLUDE.findall(fh.read()):
                        if inc.startswith("fastappkit/"):
                            target = inc[len("fastappkit/"):]
                        else:
                            target = os.path.normpath(os.path.join(os.path.dirname(rel), inc))
                        parts = target.split("/")
                        tmod = parts[0] if len(parts) > 1 else "top"
                        includes.append((tmod, os.path.splitext(parts[-1])[0]))
                out.append((module, unit, path, includes))
    return out


def main():
    engine = sys.argv[1]
    problems = []
    graph = {}
    for module, unit, path, includes in units(engine):
        graph.setdefault(unit, set())
        for tmod, tunit in includes:
            if module in LAYERS and tmod in LAYERS and LAYERS.index(tmod) > LAYERS.index(module):
                problems.append("%s: module %s includes %s/%s.hpp, a later layer (order: %s)" %
                                (os.path.relpath(path, engine), module, tmod, tunit, ", ".join(LAYERS)))
            if (tmod, tunit) != unit:
                graph[unit].add((tmod, tunit))
    # Cycles between units: a depth-first search that reports each back edge's cycle once.
    state, stack, seen = {}, [], set()

    def visit(u):
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                cycle = stack[stack.index(v):] + [v]
                key = frozenset(cycle)
                if key not in seen:
                    seen.add(key)
                    problems.append("include cycle: " + " -> ".join("%s/%s" % c for c in cycle))
            elif state.get(v) is None:
                visit(v)
        stack.pop()
        state[u] = 2

    for u in sorted(graph):
        if state.get(u) is None:
            visit(u)
    for p in problems:
        print(p)
    if problems:
        print("check_layers: %d problem(s); see docs/ARCHITECTURE.md, \"Folders\"" % len(problems))
        return 1
    print("check_layers: %d units, layers %s, no cycle" % (len(graph), " < ".join(LAYERS)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
