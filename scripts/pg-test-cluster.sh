#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL 15 cluster for the tests: Unix socket only (no TCP
# port to collide with), data and socket in DIR. As root, the server runs as an unprivileged
# user (postgres if it exists, else nobody), because PostgreSQL refuses to run as root.
# usage: pg-test-cluster.sh start|stop DIR
set -euo pipefail
action=${1:?start|stop}
dir=${2:?directory}
bindir=$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null || true)
[ -n "$bindir" ] || { echo "pg-test-cluster: PostgreSQL 15 server binaries not found in /usr/lib/postgresql/15/bin (apt-get install postgresql-15)" >&2; exit 1; }

as_user() {
  if [ "$(id -u)" -eq 0 ]; then
    local user=postgres
    id -u postgres >/dev/null 2>&1 || user=nobody
    runuser -u "$user" -- "$@"
  else
    "$@"
  fi
}

case "$action" in
  start)
    if [ -f "$dir/data/postmaster.pid" ]; then as_user "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; fi
    rm -rf "$dir"
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then
      user=postgres; id -u postgres >/dev/null 2>&1 || user=nobody
      chown "$user" "$dir"
    fi
    as_user "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    as_user "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-k $dir -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
      start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "pg-test-cluster: started, socket in $dir"
    ;;
  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_user "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || as_user "$bindir/pg_ctl" -D "$dir/data" -m immediate stop || true
    fi
    rm -rf "$dir"
    echo "pg-test-cluster: stopped"
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
