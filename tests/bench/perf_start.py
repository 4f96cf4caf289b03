#!/usr/bin/env python3
"""Process start and `app list` over many plugin folders, timed as issue 13 asks
(docs/perf-start.md): each command started with posix_spawn and waited for, N times, the
commands of one table interleaved so that the machine's load falls on all of them alike.
Prints the median wall time, and the mean minor page faults and CPU time from
getrusage(RUSAGE_CHILDREN).

    /usr/bin/python3 tests/bench/perf_start.py --fastappkit build-release/engine/fastappkit \\
        [--plugins-dir build-release/bench-plugins] [--runs 200] [--baseline OTHER_FASTAPPKIT]

--baseline times a second build (for instance one of the commit before) in the same run; with
--plugins-dir, each binary gets its own copy of the project (the parse cache is per build) and
--baseline-plugins-dir gives the baseline's plugin folders (built by its own SDK).
"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def spawn(argv, cwd, env, devnull):
    old = os.getcwd()
    os.chdir(cwd or old)  # posix_spawn has no cwd argument
    try:
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, env, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1),
                                                               (os.POSIX_SPAWN_DUP2, devnull, 2)])
        _, status = os.waitpid(pid, 0)
        wall = time.perf_counter() - t
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        os.chdir(old)
    if status != 0:
        sys.exit("perf_start: %s exited with status %d" % (" ".join(argv), status))
    return wall, r1.ru_minflt - r0.ru_minflt, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def table(rows, runs):
    """rows: [(label, argv, cwd, env)]; prints one line per row."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for _, argv, cwd, env in rows:  # warm: page cache, parse cache
        for _ in range(5):
            spawn(argv, cwd, env, devnull)
    got = {label: ([], 0, 0.0) for label, *_ in rows}
    for _ in range(runs):
        for label, argv, cwd, env in rows:
            w, f, c = spawn(argv, cwd, env, devnull)
            walls, faults, cpu = got[label]
            walls.append(w)
            got[label] = (walls, faults + f, cpu + c)
    for label, *_ in rows:
        walls, faults, cpu = got[label]
        print("| %s | %.2f ms | %.1f | %.2f ms |" % (label, statistics.median(walls) * 1e3, faults / runs,
                                                    cpu / runs * 1e3))


def plugins_project(fastappkit, plugins_dir, work):
    """The project of tests/bench/history.py plugins_figure: every plugin folder listed, at head."""
    names = sorted(d for d in os.listdir(plugins_dir) if os.path.isfile(os.path.join(plugins_dir, d, "plugin.toml")))
    project = os.path.join(work, "project")
    os.makedirs(os.path.join(project, "core", "db", "migrations", "versions"))
    for n in names:
        shutil.copytree(os.path.join(plugins_dir, n), os.path.join(project, "plugins", n))
    with open(os.path.join(project, "fastappkit.toml"), "w") as f:
        f.write("[tool.fastappkit]\napps = [%s]\nplugin_paths = [\"plugins\"]\n" % ", ".join('"%s"' % n for n in names))
    env = dict(os.environ, DATABASE_URL="sqlite:///" + os.path.join(work, "plugins.sqlite"))
    subprocess.run([fastappkit, "-q", "migrate", "all"], cwd=project, env=env, check=True, stdout=subprocess.DEVNULL)
    return project, env, len(names)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fastappkit", required=True)
    ap.add_argument("--baseline")
    ap.add_argument("--plugins-dir")
    ap.add_argument("--baseline-plugins-dir")
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    bins = [("fastappkit", os.path.abspath(args.fastappkit), args.plugins_dir)]
    if args.baseline:
        bins.insert(0, ("baseline", os.path.abspath(args.baseline), args.baseline_plugins_dir or args.plugins_dir))
    env = dict(os.environ)
    print("| command | median wall | minor faults | CPU (user + sys) |\n|---|---:|---:|---:|")
    table([("/bin/true", ["/bin/true"], None, env)] +
          [("%s -q --version" % label, [exe, "-q", "--version"], None, env) for label, exe, _ in bins], args.runs)
    if not args.plugins_dir:
        return
    work = tempfile.mkdtemp(prefix="fastappkit-perf-start-")
    try:
        rows = []
        for label, exe, plugins in bins:
            project, penv, n = plugins_project(exe, plugins, os.path.join(work, label))
            rows.append(("%s app list, %d plugin folders" % (label, n), [exe, "app", "list"], project, penv))
        table(rows, max(50, args.runs // 4))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
