#!/usr/bin/env bash
# Scale (docs/benchmarks.md): does a request's cost grow with the data?
# User `whale` owns 10% of the tasks: 100 among 10,000 (small) and 100,000
# among 1,000,000 (large). For each, one client (wrk -c1) times the first page
# of the list (limit 50) in every sort, a single get and the stats, on
# PostgreSQL and SQLite; then PostgreSQL's plans for the large database.
#
#   bench/scale.sh
#
# Settings: BACKENDS="postgres sqlite", SECONDS_EACH=3, ADMIN_URL (as in
# bench/run.sh), OUT=bench/results/scale-<date-time>. Takes about 5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

BACKENDS="${BACKENDS:-postgres sqlite}"
SECONDS_EACH="${SECONDS_EACH:-3}"
ADMIN_URL="${ADMIN_URL:-${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}}"
OUT="${OUT:-bench/results/scale-$(date -u +%Y%m%d-%H%M%S)}"
SECRET="bench-secret-that-is-at-least-32-bytes-long"

say() { printf '==> %s\n' "$*" >&2; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --locked --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/todo-api"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
work="$(mktemp -d)"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  for size in small large; do
    psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS todo_scale_$size" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

TOKEN="$(BETTER_AUTH_SECRET="$SECRET" DATABASE_URL=sqlite::memory: "$BIN" token --user whale --ttl 2h)"
# The requests timed, by name.
declare -A PATHS=(
  ["list created_at desc"]="/api/tasks?limit=50"
  ["list created_at asc"]="/api/tasks?limit=50&sort=created_at&order=asc"
  ["list updated_at desc"]="/api/tasks?limit=50&sort=updated_at&order=desc"
  ["list due_date asc"]="/api/tasks?limit=50&sort=due_date&order=asc"
  ["list priority desc"]="/api/tasks?limit=50&sort=priority&order=desc"
  ["list title asc"]="/api/tasks?limit=50&sort=title&order=asc"
  ["list pending"]="/api/tasks?limit=50&status=pending"
  ["get"]="/api/tasks/ID"
  ["stats"]="/api/stats"
)
NAMES=("list created_at desc" "list created_at asc" "list updated_at desc" "list due_date asc"
       "list priority desc" "list title asc" "list pending" "get" "stats")

database() { # backend size -> url (created, migrated, seeded)
  local backend="$1" size="$2" whale others
  if [ "$size" = small ]; then whale=100 others=99; else whale=100000 others=9000; fi
  if [ "$backend" = postgres ]; then
    psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS todo_scale_$size" -qc "CREATE DATABASE todo_scale_$size" >/dev/null
    local url
    url="$(python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p._replace(path="/"+sys.argv[2]).geturl())' "$ADMIN_URL" "todo_scale_$size")"
    DATABASE_URL="$url" LOG_LEVEL=warn "$BIN" migrate up >/dev/null
    psql "$url" -q -v whale="$whale" -v others="$others" -v each=100 -f bench/seed_scale.sql
    echo "$url"
  else
    local url="sqlite://$work/scale-$size.db"
    DATABASE_URL="$url" LOG_LEVEL=warn "$BIN" migrate up >/dev/null
    (cd bench && python3 seed_scale_sqlite.py "$work/scale-$size.db" "$whale" "$others" 100)
    echo "$url"
  fi
}

results="$OUT/scale.jsonl"
: >"$results"
for backend in $BACKENDS; do
  for size in small large; do
    say "seeding $backend ($size)"
    url="$(database "$backend" "$size")"
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    DATABASE_URL="$url" API_PORT="$port" BETTER_AUTH_SECRET="$SECRET" LOG_LEVEL=warn \
      "$BIN" serve >>"$OUT/server.log" 2>&1 &
    server=$!
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done
    # One of the whale's tasks, from the middle of its list.
    id="$(curl -fs -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/api/tasks?limit=1&offset=50" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')"
    for name in "${NAMES[@]}"; do
      path="${PATHS[$name]/ID/$id}"
      say "$backend $size: $name"
      wrk -t1 -c1 -d"${SECONDS_EACH}s" -H "Authorization: Bearer $TOKEN" -s bench/fixed.lua \
        "http://127.0.0.1:$port$path" >/dev/null # warm up
      r="$(wrk -t1 -c1 -d"${SECONDS_EACH}s" -H "Authorization: Bearer $TOKEN" -s bench/fixed.lua \
        "http://127.0.0.1:$port$path" | tail -n 1)"
      python3 -c 'import json,sys; r=json.loads(sys.argv[4]); r.update(backend=sys.argv[1], size=sys.argv[2], request=sys.argv[3]); print(json.dumps(r))' \
        "$backend" "$size" "$name" "$r" >>"$results"
    done
    kill "$server" && wait "$server" 2>/dev/null || true
    server=""
    if [ "$backend" = postgres ] && [ "$size" = large ]; then
      say "PostgreSQL plans (large)"
      bash bench/scale_plans.sh "$url" >"$OUT/plans-postgres.md"
    fi
  done
done

python3 - "$results" "$OUT/scale.md" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {(r["backend"], r["size"], r["request"]): r for r in rows}
out = ["| backend | request | small: p50 ms | large: p50 ms | large / small | errors |",
       "|---|---|---:|---:|---:|---:|"]
for (backend, size, request), r in by.items():
    if size != "small":
        continue
    big = by.get((backend, "large", request))
    if big:
        out.append(f"| {backend} | {request} | {r['p50_ms']:.2f} | {big['p50_ms']:.2f} "
                   f"| {big['p50_ms'] / r['p50_ms']:.2f} | {r['errors'] + big['errors']} |")
text = "\n".join(out) + "\n"
print(text)
open(sys.argv[2], "w").write(text)
PY
say "results in $OUT"
