#!/usr/bin/env bash
# Run each client sample against the binary, with the settings its style
# needs (README.md here). Fails if any sample fails.
#
#   clients/samples/run.sh [path/to/todo-api]
set -euo pipefail
BIN="$(realpath "${1:-target/debug/todo-api}")"
HERE="$(cd "$(dirname "$0")" && pwd)"
SECRET="samples-secret-that-is-at-least-32-bytes"
work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

sample() { # file [VAR=value ...]
  local file="$1" port user="sample-$1"
  shift
  port="$(free_port)"
  env "$@" BETTER_AUTH_SECRET="$SECRET" DATABASE_URL="sqlite://$work/$file.db" API_PORT="$port" \
    LOG_LEVEL=warn "$BIN" serve >"$work/$file.log" 2>&1 &
  pid="$!"
  for _ in $(seq 1 50); do
    curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.2
  done
  API_URL="http://127.0.0.1:$port" API_USER="$user" \
    API_TOKEN="$(BETTER_AUTH_SECRET="$SECRET" DATABASE_URL=sqlite::memory: "$BIN" token --user "$user")" \
    node "$HERE/$file" || { cat "$work/$file.log"; exit 1; }
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}

sample seed.mjs
sample named.mjs RESPONSE_ENVELOPE=named
sample camel-data.mjs JSON_CASE=camel RESPONSE_ENVELOPE=data
sample kanban.mjs PUT_SEMANTICS=merge RESPONSE_IS_COMPLETED=true DELETE_RESPONSE=json
echo "client samples: all passed"
