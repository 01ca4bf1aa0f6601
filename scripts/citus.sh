#!/usr/bin/env bash
# A local Citus cluster: a coordinator on 127.0.0.1:5440 and two workers on
# 5441 and 5442, three PostgreSQL 15 clusters of this machine with the Citus
# extension (built and installed by ../shared/citus/install.sh, cached in
# /var/tmp). `wal_level = logical` on every node, so shards can move while
# writes go on (citus_rebalance_start). Test clusters: fsync off.
#
#   scripts/citus.sh start|stop|add-worker
# Then: TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5440/test \
#       TEST_CITUS_WORKERS=127.0.0.1:5441,127.0.0.1:5442 cargo test --test api
# (the harness creates each test's database on every node and registers the
# workers in it; the API distributes its tables on start-up).
# `start` also starts a spare node on 5443 in no cluster (the rebalancing
# test adds it: TEST_CITUS_EXTRA_WORKER=127.0.0.1:5443); `add-worker` adds
# it to the database `test`.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
INSTALL="$HERE/../../shared/citus/install.sh"
PG="$(ls /usr/lib/postgresql | sort -n | tail -1)"
# CITUS_PORT (default 5440): the coordinator's port; the workers and the
# spare node take the next three.
COORD="${CITUS_PORT:-5440}"
WORKERS=($((COORD + 1)) $((COORD + 2)))
EXTRA=$((COORD + 3))

psql_at() { psql -qAtX -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U postgres -d "${3:-postgres}" -c "$2"; }

node_up() { # name port
  local name="$1" port="$2"
  if ! pg_lsclusters -h | awk '{print $2}' | grep -qx "$name"; then
    pg_createcluster "$PG" "$name" --port "$port" -- --auth=trust >/dev/null
  fi
  local conf="/etc/postgresql/$PG/$name/conf.d/citus.conf"
  mkdir -p "/etc/postgresql/$PG/$name/conf.d"
  cat > "$conf" <<CONF
shared_preload_libraries = 'citus'
listen_addresses = '127.0.0.1'
wal_level = logical
# Every change is a transaction now (docs/live-updates.md), which holds its worker
# connection until it commits: the suite's many servers at once need more.
max_connections = 600
# Citus runs a maintenance daemon (a background worker) per database, and
# the tests make a database per test; the rebalancer's jobs need theirs.
max_worker_processes = 400
max_wal_senders = 20
max_replication_slots = 20
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
  pg_ctlcluster --skip-systemctl-redirect "$PG" "$name" start 2>/dev/null ||
    pg_ctlcluster --skip-systemctl-redirect "$PG" "$name" restart
  for _ in $(seq 1 50); do psql_at "$port" "SELECT 1" >/dev/null 2>&1 && break; sleep 0.2; done
  psql_at "$port" "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 ||
    psql_at "$port" "CREATE DATABASE test"
  psql_at "$port" "CREATE EXTENSION IF NOT EXISTS citus" test
}

start() {
  bash "$INSTALL"
  node_up "citus-c$COORD" "$COORD"
  for p in "${WORKERS[@]}"; do node_up "citus-w$p" "$p"; done
  psql_at "$COORD" "SELECT citus_set_coordinator_host('127.0.0.1', $COORD)" test >/dev/null
  for p in "${WORKERS[@]}"; do
    psql_at "$COORD" "SELECT citus_add_node('127.0.0.1', $p)" test >/dev/null
  done
  # A spare node, in no cluster yet: the rebalancing test adds it.
  node_up "citus-w$EXTRA" "$EXTRA"
  echo "citus: coordinator 127.0.0.1:$COORD, workers ${WORKERS[*]}: $(psql_at "$COORD" "SELECT count(*) FROM citus_get_active_worker_nodes()" test) active; spare node $EXTRA"
}

add_worker() {
  node_up "citus-w$EXTRA" "$EXTRA"
  psql_at "$COORD" "SELECT citus_add_node('127.0.0.1', $EXTRA)" test >/dev/null
  echo "citus: worker $EXTRA added"
}

stop() {
  for name in "citus-c$COORD" "citus-w${WORKERS[0]}" "citus-w${WORKERS[1]}" "citus-w$EXTRA"; do
    if pg_lsclusters -h | awk '{print $2}' | grep -qx "$name"; then
      pg_dropcluster --stop "$PG" "$name" || true
    fi
  done
  echo "citus: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  add-worker) add_worker ;;
  *) echo "usage: $0 start|stop|add-worker" >&2; exit 2 ;;
esac
