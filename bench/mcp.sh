#!/usr/bin/env bash
# MCP beside REST (docs/mcp.md): the latency of a `list_tasks` tool call and of
# `GET /api/tasks` for the same user and tasks, same server, same run.
#
#   bench/mcp.sh            DURATION=10 CONNECTIONS=10 TASKS=20 DATABASE=postgres|sqlite
#
# The release server on a fresh database (PostgreSQL: ADMIN_URL, default
# TEST_DATABASE_URL or local trust; SQLite: a temporary file); one user with
# TASKS tasks; wrk with each request for DURATION seconds at CONNECTIONS.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-10}"
TASKS="${TASKS:-20}"
DATABASE="${DATABASE:-postgres}"
ADMIN_URL="${ADMIN_URL:-${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}}"
SECRET="bench-secret-that-is-at-least-32-bytes-long"
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build --release --locked --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/todo-api"
work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
if [ "$DATABASE" = postgres ]; then
  psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS todo_mcp_bench" -c "CREATE DATABASE todo_mcp_bench" >/dev/null
  DB_URL="${ADMIN_URL%/*}/todo_mcp_bench"
else
  DB_URL="sqlite://$work/bench.db"
fi
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BETTER_AUTH_SECRET="$SECRET" DATABASE_URL="$DB_URL" API_PORT="$port" LOG_LEVEL=warn ENVIRONMENT=production \
  "$BIN" serve >"$work/server.log" 2>&1 &
pid="$!"
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.2; done
TOKEN="$(BETTER_AUTH_SECRET="$SECRET" DATABASE_URL=sqlite::memory: "$BIN" token --user bench-user --ttl 2h)"
for i in $(seq 1 "$TASKS"); do
  curl -fs -o /dev/null "http://127.0.0.1:$port/api/tasks" -H "Authorization: Bearer $TOKEN" \
    -H 'content-type: application/json' -d "{\"title\": \"task $i\", \"tags\": [\"t$((i % 3))\"]}"
done
run() { # label, then wrk arguments
  local label="$1"
  shift
  printf '%s ' "$label"
  wrk -t"$(( CONNECTIONS < 2 ? 1 : 2 ))" -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Authorization: Bearer $TOKEN" "$@" | tail -1
}
echo "# $(nproc) cores, $DATABASE, $TASKS tasks, c=$CONNECTIONS, ${DURATION}s each, $(date -u +%FT%TZ)"
run "rest GET /api/tasks" -s bench/fixed.lua "http://127.0.0.1:$port/api/tasks"
run "mcp  list_tasks    " -s bench/mcp.lua "http://127.0.0.1:$port/mcp"
if [ "$DATABASE" = postgres ]; then
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS todo_mcp_bench" >/dev/null
fi
