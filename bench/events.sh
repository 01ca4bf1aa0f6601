#!/usr/bin/env bash
# Live updates (docs/live-updates.md): STREAMS concurrent event streams (USERS users,
# STREAMS / USERS each) on one instance, then on two instances on one
# PostgreSQL (streams spread over both, writes on the first): the servers'
# RSS per stream, and the time from a write's response to its event on
# each of its user's streams, at the 50th/99th percentile, at RATES writes
# per second for SECONDS each. bench/events.mjs is the client.
#
#   bench/events.sh       STREAMS=10000 USERS=1000 RATES=1,100 SECONDS=20 INSTANCES="1 2"
set -euo pipefail
cd "$(dirname "$0")/.."
STREAMS="${STREAMS:-10000}"
USERS="${USERS:-1000}"
RATES="${RATES:-1,100}"
SECONDS_PER_RATE="${SECONDS:-20}"
INSTANCES="${INSTANCES:-1 2}"
ADMIN_URL="${ADMIN_URL:-${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}}"
SECRET="bench-secret-that-is-at-least-32-bytes-long"
# Every stream is a connection (and the client's too): raise the file limit
# to the hard limit, which must exceed STREAMS (the client holds them all).
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -le $((STREAMS + 100)) ]; then
  echo "the open-file limit $(ulimit -n) is too low for $STREAMS streams" >&2
  exit 1
fi
cargo build --release --locked --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/todo-api"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $(node --version); $("$BIN" --version 2>/dev/null || echo todo-api)"
for n in $INSTANCES; do
  psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS todo_events_bench" -c "CREATE DATABASE todo_events_bench" >/dev/null
  DB_URL="${ADMIN_URL%/*}/todo_events_bench"
  bases=()
  run_pids=()
  for i in $(seq 1 "$n"); do
    port="$(free_port)"
    BETTER_AUTH_SECRET="$SECRET" DATABASE_URL="$DB_URL" API_PORT="$port" LOG_LEVEL=warn ENVIRONMENT=production \
      EVENTS_MAX_STREAMS=$((STREAMS * 2)) MAX_CONNECTIONS=$((STREAMS * 2 + 1000)) RATE_LIMIT_IP_PER_SECOND=0 \
      "$BIN" serve >"$work/server-$n-$i.log" 2>&1 &
    pids+=("$!")
    run_pids+=("$!")
    for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.2; done
    bases+=("http://127.0.0.1:$port")
  done
  echo "== $n instance(s), $STREAMS streams of $USERS users, writes at $RATES/s for ${SECONDS_PER_RATE}s each"
  BASES="$(IFS=,; echo "${bases[*]}")" PIDS="$(IFS=,; echo "${run_pids[*]}")" SECRET="$SECRET" \
    USERS="$USERS" PER_USER=$((STREAMS / USERS)) RATES="$RATES" SECONDS="$SECONDS_PER_RATE" \
    node --max-old-space-size=4096 bench/events.mjs
  for p in "${run_pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pids=()
done
psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS todo_events_bench" >/dev/null
