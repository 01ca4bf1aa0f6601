#!/usr/bin/env bash
# Soak: a mixed load (55% list, 20% get, 10% create, 10% toggle, 5% MCP tool
# calls; 20 users) against the release binary for DURATION seconds, with the
# long-lived side beside it (scripts/soak_streams.py: per user, event
# streams opened with tickets and MCP sessions with their GET streams, in a
# loop), sampling the server's RSS every 10 s. Flat RSS and zero errors mean
# no leak and no failure.
#
#   scripts/soak.sh [duration-seconds=600] [connections=50] [sqlite|postgres]
#
# PostgreSQL uses TEST_DATABASE_URL's server (a fresh database). Needs wrk
# (installed from Debian when missing). The result goes to stdout; the RSS
# series to soak-rss.csv in the working directory.
set -euo pipefail
DURATION="${1:-600}"
CONNECTIONS="${2:-50}"
BACKEND="${3:-sqlite}"
BIN="${BIN:-${CARGO_TARGET_DIR:-target}/release/todo-api}"
SECRET="soak-secret-that-is-at-least-32-bytes-long"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -x "$BIN" ] || cargo build --release --locked

work="$(mktemp -d)"
db=""
cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  [ -n "${sampler:-}" ] && kill "$sampler" 2>/dev/null || true
  [ -n "$db" ] && psql "$TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db" || true
  rm -rf "$work"
}
trap cleanup EXIT

case "$BACKEND" in
  sqlite) url="sqlite://$work/soak.db" ;;
  postgres)
    db="todo_soak_$$"
    psql "$TEST_DATABASE_URL" -qc "CREATE DATABASE $db"
    url="$(python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p._replace(path="/"+sys.argv[2]).geturl())' "$TEST_DATABASE_URL" "$db")"
    ;;
  *) echo "backend: sqlite or postgres" >&2; exit 2 ;;
esac
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BETTER_AUTH_SECRET="$SECRET" DATABASE_URL="$url" API_PORT="$port" LOG_LEVEL=warn LOG_FORMAT=json \
  "$BIN" serve >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done

# 20 users with 20 tasks each; their tokens and task ids go into the Lua script.
lua_users=""
tokens=()
for u in $(seq 1 20); do
  token="$(BETTER_AUTH_SECRET="$SECRET" DATABASE_URL=sqlite::memory: "$BIN" token --user "soak-$u" --ttl 2h)"
  ids=""
  for t in $(seq 1 20); do
    id="$(curl -fs -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -d "{\"title\": \"seed $t\", \"priority\": \"high\"}" "http://127.0.0.1:$port/api/tasks" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
    ids="$ids$id,"
  done
  lua_users="$lua_users{token=\"$token\", ids={$ids}},"
  tokens+=("$token")
done
cat >"$work/mixed.lua" <<LUA
local users = {$lua_users}
math.randomseed(42)
request = function()
  local u = users[math.random(#users)]
  local h = { ["Authorization"] = "Bearer " .. u.token, ["Content-Type"] = "application/json" }
  local r = math.random(100)
  if r <= 5 then
    local m = { ["Authorization"] = h["Authorization"], ["Content-Type"] = "application/json",
      ["Accept"] = "application/json, text/event-stream", ["MCP-Protocol-Version"] = "2026-07-28",
      ["Mcp-Method"] = "tools/call", ["Mcp-Name"] = "list_tasks" }
    return wrk.format("POST", "/mcp", m, '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": '
      .. '{"name": "list_tasks", "arguments": {"limit": 20}, "_meta": {'
      .. '"io.modelcontextprotocol/protocolVersion": "2026-07-28", '
      .. '"io.modelcontextprotocol/clientInfo": {"name": "soak", "version": "1"}, '
      .. '"io.modelcontextprotocol/clientCapabilities": {}}}}')
  elseif r <= 60 then
    return wrk.format("GET", "/api/tasks?limit=20", h)
  elseif r <= 80 then
    return wrk.format("GET", "/api/tasks/" .. u.ids[math.random(#u.ids)], h)
  elseif r <= 90 then
    return wrk.format("POST", "/api/tasks", h, '{"title": "soak", "category": "work"}')
  else
    return wrk.format("PATCH", "/api/tasks/" .. u.ids[math.random(#u.ids)] .. "/complete", h)
  end
end
LUA

echo "seconds,rss_kb" > soak-rss.csv
( start=$(date +%s)
  while kill -0 "$server" 2>/dev/null; do
    echo "$(( $(date +%s) - start )),$(awk '/VmRSS/ {print $2}' /proc/$server/status)" >> soak-rss.csv
    sleep 10
  done ) &
sampler=$!

echo "== soak: $BACKEND, ${DURATION}s, $CONNECTIONS connections, $(nproc) cores, $(date -u +%FT%TZ)"
python3 "$(dirname "$0")/soak_streams.py" "http://127.0.0.1:$port" "$DURATION" "${tokens[@]}" >"$work/streams.txt" &
streams=$!
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$work/mixed.lua" "http://127.0.0.1:$port" | tee "$work/wrk.txt"
wait "$streams" || true
kill "$sampler" 2>/dev/null || true
cat "$work/streams.txt"
echo "== RSS (kB) over time: first, min, max, last"
tail -n +2 soak-rss.csv | awk -F, 'NR==1{f=$2; mn=$2; mx=$2} {if($2<mn)mn=$2; if($2>mx)mx=$2; l=$2} END{print f, mn, mx, l}'
echo "== server ERROR lines: $(grep -c '"level":"ERROR"' "$work/server.log" || true)"
# Their messages (the log never holds a token or a ticket), at most five.
grep '"level":"ERROR"' "$work/server.log" | head -n 5 || true
non2xx="$(grep -oE 'Non-2xx or 3xx responses: [0-9]+' "$work/wrk.txt" | grep -oE '[0-9]+$' || echo 0)"
echo "== non-2xx responses: $non2xx"
