#!/usr/bin/env bash
# The benchmark (docs/benchmarks.md): the release server against the pgbench
# ceiling, on PostgreSQL and SQLite, with HS256 and EdDSA (JWKS) tokens.
#
#   bench/run.sh
#
# Settings (environment):
#   DURATION=15                      seconds per workload
#   PROFILE="get create"             workloads to profile with `perf record -a`
#                                    (half the run; reports beside the results)
#   PGBENCH_MODE=prepared            the ceiling's query protocol (pgbench -M): prepared,
#                                    as the API sends its statements; simple or
#                                    extended (pgbench's default and its other one)
#                                    parse and plan every query: about 0.4 of it here
#   BESIDE=1                         PostgreSQL: also run the pgbench ceiling of each
#                                    workload right before the API's run of it, and
#                                    take the API's ratio against that one (this
#                                    machine's speed drifts by 10-30% over a run;
#                                    0: ratios against the ceilings measured first)
#   CONNECTIONS="50 1000"            wrk connections
#   BACKENDS="postgres sqlite"
#   TOKEN_KINDS="hs256 eddsa"
#   WORKLOADS="list get create toggle mixed"
#   USERS=1000 TASKS=20              seeded users and tasks per user
#   ADMIN_URL                        a PostgreSQL URL allowed to create databases
#                                    (default TEST_DATABASE_URL, else local trust)
#   CITUS_URL, CITUS_WORKERS         for BACKENDS=citus: the coordinator's admin
#                                    URL (default postgres://postgres@127.0.0.1:5440/test)
#                                    and its workers (default 127.0.0.1:5441,127.0.0.1:5442),
#                                    as scripts/citus.sh starts them
#   OUT=bench/results/<date-time>    results.jsonl, table.md, chart.svg, logs
#
# Needs wrk and pgbench (installed from Debian when missing) and Python 3 with
# `cryptography` (pip-installed when missing). Takes about 25 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-15}"
PROFILE="${PROFILE:-}"
BESIDE="${BESIDE:-1}"
PGBENCH_MODE="${PGBENCH_MODE:-prepared}"
CONNECTIONS="${CONNECTIONS:-50 1000}"
BACKENDS="${BACKENDS:-postgres sqlite}"
TOKEN_KINDS="${TOKEN_KINDS:-hs256 eddsa}"
WORKLOADS="${WORKLOADS:-list get create toggle mixed}"
USERS="${USERS:-1000}"
TASKS="${TASKS:-20}"
ADMIN_URL="${ADMIN_URL:-${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}}"
OUT="${OUT:-bench/results/$(date -u +%Y%m%d-%H%M%S)}"
CITUS_URL="${CITUS_URL:-postgres://postgres@127.0.0.1:5440/test}"
CITUS_WORKERS="${CITUS_WORKERS:-127.0.0.1:5441,127.0.0.1:5442}"
SECRET="bench-secret-that-is-at-least-32-bytes-long"
SEEDED=$((USERS * TASKS))

say() { printf '==> %s\n' "$*" >&2; }

# Tools.
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v pgbench >/dev/null || need_apt+=(postgresql-contrib)
if [ "${#need_apt[@]}" -gt 0 ]; then
  say "installing ${need_apt[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
python3 -c 'import cryptography' 2>/dev/null || pip install -q cryptography
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

say "building the release server"
cargo build --release --locked --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/todo-api"

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"
work="$(mktemp -d)"
server=""
jwks_server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  [ -n "$jwks_server" ] && kill "$jwks_server" 2>/dev/null || true
  psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS todo_bench" >/dev/null 2>&1 || true
  case " $BACKENDS " in *" citus "*) citus_db drop ;; esac
  rm -rf "$work"
}
trap cleanup EXIT

# The database todo_bench as a Citus cluster of its own (create), or gone (drop).
citus_db() { # create|drop
  local w host port
  psql "$CITUS_URL" -qc "DROP DATABASE IF EXISTS todo_bench" >/dev/null 2>&1 || true
  for w in ${CITUS_WORKERS//,/ }; do
    psql "postgres://postgres@$w/postgres" -qc "DROP DATABASE IF EXISTS todo_bench" >/dev/null 2>&1 || true
  done
  [ "$1" = create ] || return 0
  for w in ${CITUS_WORKERS//,/ }; do
    psql "postgres://postgres@$w/postgres" -qc "CREATE DATABASE todo_bench" >/dev/null
    psql "postgres://postgres@$w/todo_bench" -qc "CREATE EXTENSION citus" >/dev/null
  done
  psql "$CITUS_URL" -qc "CREATE DATABASE todo_bench" >/dev/null
  local url
  url="$(python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p._replace(path="/todo_bench").geturl())' "$CITUS_URL")"
  host="$(python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p.hostname, p.port or 5432)' "$CITUS_URL")"
  psql "$url" -qc "CREATE EXTENSION citus" -qc "SELECT citus_set_coordinator_host('${host% *}', ${host#* })" >/dev/null
  for w in ${CITUS_WORKERS//,/ }; do
    psql "$url" -qc "SELECT citus_add_node('${w%:*}', ${w#*:})" >/dev/null
  done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The JWKS, served like Better Auth's, and one token of each kind per user.
jport="$(free_port)"
ISSUER="http://127.0.0.1:$jport"
python3 bench/tokens.py "$work" "$USERS" "$ISSUER" "$SECRET"
python3 -m http.server --bind 127.0.0.1 --directory "$work" "$jport" >/dev/null 2>&1 &
jwks_server=$!

record() { # backend tokens connections workload json-from-wrk-or-pgbench [extra json]
  python3 - "$@" >>"$RESULTS" <<'PY'
import json, sys
backend, tokens, conns, workload, result = sys.argv[1:6]
row = {"backend": backend, "tokens": tokens, "connections": int(conns), "workload": workload}
row.update(json.loads(result))
for extra in sys.argv[6:]:
    row.update(json.loads(extra))
print(json.dumps(row))
PY
}

seed() { # backend url
  say "seeding $USERS users x $TASKS tasks ($1)"
  DATABASE_URL="$2" LOG_LEVEL=warn "$BIN" migrate up >/dev/null
  if [ "$1" != sqlite ]; then
    psql "$2" -q -v users="$USERS" -v tasks="$TASKS" -f bench/seed.sql
  else
    python3 bench/seed_sqlite.py "${2#sqlite://}" "$USERS" "$TASKS"
  fi
}

# Forget the tasks a workload created, so every list stays a user's 20 tasks,
# and count the users' tasks again (deleted here, not through the API).
reset() { # backend url
  if [ "$1" != sqlite ]; then
    psql "$2" -q -c "DELETE FROM tasks WHERE id > $SEEDED" -f bench/counts.sql \
      -c "VACUUM ANALYZE" >/dev/null
  else
    python3 - "${2#sqlite://}" "$SEEDED" bench/counts_sqlite.sql <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30)
db.execute("DELETE FROM tasks WHERE id > ?", (int(sys.argv[2]),))
with open(sys.argv[3]) as f:
    db.executescript(f.read())
db.commit()
PY
  fi
}

ceiling() { # url workload
  local scripts
  case "$2" in
    mixed) scripts=(-f bench/pgbench/list.sql@40 -f bench/pgbench/get.sql@40
                    -f bench/pgbench/create.sql@10 -f bench/pgbench/toggle.sql@10) ;;
    *) scripts=(-f "bench/pgbench/$2.sql") ;;
  esac
  pgbench -n -M "$PGBENCH_MODE" -c 50 -j 2 -T "$DURATION" -D users="$USERS" -D tasks="$TASKS" \
    "${scripts[@]}" "$1" 2>&1 | python3 -c '
import json, re, sys
text = sys.stdin.read()
tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", text)
lat = re.search(r"latency average = ([0-9.]+) ms", text)
failed = re.search(r"number of failed transactions: ([0-9]+)", text)
if not tps:
    sys.exit("pgbench failed:\n" + text)
print(json.dumps({"rps": float(tps.group(1)), "avg_ms": float(lat.group(1)),
                  "errors": int(failed.group(1)) if failed else 0, "mode": sys.argv[1]}))' "$PGBENCH_MODE"
}

start_server() { # url
  local port
  port="$(free_port)"
  DATABASE_URL="$1" API_PORT="$port" ENVIRONMENT=production LOG_FORMAT=json \
    BETTER_AUTH_SECRET="$SECRET" BETTER_AUTH_URL="$ISSUER" JWKS_URL="$ISSUER/jwks.json" \
    "$BIN" serve >>"$OUT/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  BASE="http://127.0.0.1:$port"
}

stop_server() {
  kill "$server" && wait "$server" 2>/dev/null || true
  server=""
}

rss() { # field of /proc/<server>/status, in MB
  awk -v f="$1:" '$1 == f { printf "%.1f", $2 / 1024 }' "/proc/$server/status"
}

load() { # tokens connections workload seconds
  WORKLOAD="$3" TOKENS="$work/$1.txt" TASKS="$TASKS" \
    wrk -t2 -c"$2" -d"$4s" --timeout 5s -s bench/wrk.lua "$BASE" | tail -n 1
}

# SQLite's group commit: its commits and the changes they held, so far.
batched() {
  { curl -fs "$BASE/metrics" || true; } | awk '
    /^sqlite_write_batches_total\{outcome="committed"\}/ { c = $2 }
    /^sqlite_batched_changes_total/ { n = $2 }
    END { print c + 0, n + 0 }'
}

for backend in $BACKENDS; do
  case "$backend" in
    postgres)
      psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS todo_bench" -qc "CREATE DATABASE todo_bench" >/dev/null
      url="$(python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p._replace(path="/todo_bench").geturl())' "$ADMIN_URL")"
      ;;
    citus)
      citus_db create
      url="$(python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p._replace(path="/todo_bench").geturl())' "$CITUS_URL")"
      ;;
    sqlite) url="sqlite://$work/bench.db" ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
  esac
  seed "$backend" "$url"

  if [ "$backend" = postgres ]; then
    for w in $WORKLOADS; do
      say "pgbench ceiling: $w"
      record postgres pgbench 50 "$w" "$(ceiling "$url" "$w")"
      reset "$backend" "$url"
    done
  fi

  for kind in $TOKEN_KINDS; do
    for c in $CONNECTIONS; do
      start_server "$url"
      load "$kind" "$c" list 3 >/dev/null # warm up: pools, caches, every token verified once
      for w in $WORKLOADS; do
        if [ "$backend" = postgres ] && [ "$BESIDE" = 1 ]; then
          say "pgbench ceiling: $w (beside $kind c=$c)"
          record postgres pgbench 50 "$w" "$(ceiling "$url" "$w")" "{\"beside\": \"$kind/$c\"}"
          reset "$backend" "$url"
        fi
        say "$backend $kind c=$c $w"
        profiling=""
        if [[ " $PROFILE " == *" $w "* ]]; then
          # The whole machine for the middle of the run: which process
          # (server, PostgreSQL, wrk) spends the cores, and on what.
          perf record -a -g -F 499 -o "$OUT/perf-$backend-$kind-$c-$w.data" -- \
            sleep "$((DURATION / 2))" >/dev/null 2>&1 &
          profiling=$!
        fi
        if [ "$backend" = sqlite ]; then batched_before="$(batched)"; fi
        result="$(load "$kind" "$c" "$w" "$DURATION")"
        if [ "$backend" = sqlite ]; then
          say "  SQLite's writer: $(python3 -c 'import sys; c0,n0=map(float,sys.argv[1].split()); c1,n1=map(float,sys.argv[2].split()); print(f"{n1-n0:.0f} changes in {c1-c0:.0f} commits")' "$batched_before" "$(batched)")"
        fi
        if [ -n "$profiling" ]; then
          wait "$profiling" || true
          data="$OUT/perf-$backend-$kind-$c-$w.data"
          perf report -i "$data" --no-children --sort comm --stdio -g none 2>/dev/null |
            grep -v '^$' | head -n 30 >"${data%.data}-by-process.txt" || true
          perf report -i "$data" --no-children --comm tokio-runtime-w --sort dso,symbol --stdio \
            -g none 2>/dev/null | grep -v "^$" | sed -E "s/ {2,}/  /g" | head -n 80 >"${data%.data}-server.txt" || true
          perf report -i "$data" --no-children --comm postgres --sort symbol --stdio \
            -g none 2>/dev/null | grep -v "^$" | sed -E "s/ {2,}/  /g" | head -n 50 >"${data%.data}-postgres.txt" || true
        fi
        record "$backend" "$kind" "$c" "$w" "$result" \
          "{\"peak_rss_mb\": $(rss VmHWM), \"rss_mb\": $(rss VmRSS)}"
        reset "$backend" "$url"
      done
      stop_server
    done
  done
done

python3 bench/report.py "$RESULTS" "$OUT"
say "results in $OUT"
