#!/usr/bin/env bash
# Fuzz the API against its own OpenAPI document with schemathesis (PyPI),
# every check on: no 5xx, every response as documented, every request the
# document allows accepted and every one it forbids refused
# (scripts/schemathesis.toml says which statuses count as acceptance). Bounded by
# --max-examples per operation. Runs the given binary on SQLite and, when
# TEST_DATABASE_URL is set, on a fresh PostgreSQL database.
#
#   scripts/fuzz.sh [path/to/todo-api] [max-examples]
set -euo pipefail
BIN="${1:-target/debug/todo-api}"
EXAMPLES="${2:-25}"
SCHEMATHESIS_VERSION=4.32.5
SECRET="fuzz-secret-that-is-at-least-32-bytes-long"
HERE="$(cd "$(dirname "$0")" && pwd)"

if ! st --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m pip install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
work="$(mktemp -d)"
pids=()
db=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "$db" ]; then psql "$TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The event stream (GET /api/events) answers 200 and then streams until the
# token expires, which a fuzzer reads as a hung request: it is fuzzed in a
# run of its own with a 2 s read timeout (its heartbeat is 15 s), so each
# accepted request is cut off after its head while every status and header
# is still checked (tests/api/changes.rs covers what it sends).
fuzz() { # name database-url [VAR=value ...: settings of the run]
  local port token name="$1" url="$2"
  shift 2
  port="$(free_port)"
  env "$@" BETTER_AUTH_SECRET="$SECRET" DATABASE_URL="$url" API_PORT="$port" LOG_LEVEL=warn LOG_FORMAT=json \
    "$BIN" serve >"$work/$name.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 50); do
    curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.2
  done
  token="$(BETTER_AUTH_SECRET="$SECRET" DATABASE_URL=sqlite::memory: "$BIN" token --user fuzz-user)"
  echo "== schemathesis on $name ${*:-} (port $port, $EXAMPLES examples per operation)"
  schemathesis_run "$port" "$token" \
    --exclude-operation-id stream_events --exclude-operation-id stream_events_scoped
  echo "== schemathesis on $name: the event stream (2 s read timeout)"
  schemathesis_run "$port" "$token" \
    --include-operation-id stream_events --include-operation-id stream_events_scoped \
    --request-timeout 2
}

schemathesis_run() { # port token [options: which operations, timeouts]
  local port="$1" token="$2"
  shift 2
  st --config-file "$HERE/schemathesis.toml" run "http://127.0.0.1:$port/openapi.json" \
    --header "Authorization: Bearer $token" \
    --max-examples "$EXAMPLES" \
    --seed "${FUZZ_SEED:-20261123}" \
    --checks all \
    "$@" \
    --no-color
}

fuzz sqlite "sqlite://$work/fuzz.db"
# The frontend conventions (docs/frontends.md) change every body and the document
# with them: both must still agree. The first run takes the byte-level path
# (envelope spliced, keys renamed), the second the parsed one (a key added).
fuzz sqlite-camel-named "sqlite://$work/fuzz-named.db" \
  JSON_CASE=camel RESPONSE_ENVELOPE=named PUT_SEMANTICS=merge DELETE_RESPONSE=json
fuzz sqlite-data "sqlite://$work/fuzz-data.db" RESPONSE_ENVELOPE=data RESPONSE_IS_COMPLETED=true JSON_CASE=camel
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  db="todo_test_fuzz_$$"
  psql "$TEST_DATABASE_URL" -qc "CREATE DATABASE $db"
  fuzz postgres "$(python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p._replace(path="/"+sys.argv[2]).geturl())' "$TEST_DATABASE_URL" "$db")"
fi
echo "fuzz: every check passed (no 5xx, responses as documented, the document's data accepted, its invalid data refused)"
