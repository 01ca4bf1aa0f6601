#!/usr/bin/env bash
# The official MCP TypeScript SDK against the built binary (check.mjs).
#
#   clients/mcp/run.sh [path/to/todo-api]
set -euo pipefail
BIN="$(realpath "${1:-target/debug/todo-api}")"
HERE="$(cd "$(dirname "$0")" && pwd)"
SECRET="mcp-check-secret-that-is-at-least-32-bytes"
work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BETTER_AUTH_SECRET="$SECRET" DATABASE_URL="sqlite://$work/mcp.db" API_PORT="$port" LOG_LEVEL=warn \
  "$BIN" serve >"$work/server.log" 2>&1 &
pid="$!"
for _ in $(seq 1 50); do
  curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.2
done
token() { BETTER_AUTH_SECRET="$SECRET" DATABASE_URL=sqlite::memory: "$BIN" token --user "$1"; }
MCP_URL="http://127.0.0.1:$port/mcp" TOKEN_A="$(token mcp-ann)" TOKEN_B="$(token mcp-bob)" \
  node "$HERE/check.mjs" || { cat "$work/server.log"; exit 1; }
