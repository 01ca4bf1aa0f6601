#!/usr/bin/env bash
# A chat turn's own cost (docs/chat.md, docs/benchmarks.md#chat): the release
# server against bench/fake_model.py, which answers at once, so what is
# measured is the server's work per turn (checks, history, the model
# request and its answer read, the tools, the turn's transaction), not a model.
#
#   bench/chat.sh            DURATION=10 CONNECTIONS="1 10" USERS=200 DATABASE=postgres|sqlite
#
# Two workloads: a turn with no tool call (one model request) and a turn with
# one `list_tasks` call (two model requests and a REST list in process). Each
# request starts a conversation as the next of USERS users. Besides wrk's
# latency, /metrics gives the server's own time per turn: chat_turn_seconds
# less chat_model_call_seconds (the fake's answer time and the HTTP to it).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-1 10}"
USERS="${USERS:-200}"
DATABASE="${DATABASE:-postgres}"
ADMIN_URL="${ADMIN_URL:-${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}}"
SECRET="bench-secret-that-is-at-least-32-bytes-long"
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build --release --locked --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/todo-api"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
for i in $(seq 1 "$USERS"); do
  BETTER_AUTH_SECRET="$SECRET" DATABASE_URL=sqlite::memory: "$BIN" token --user "chat-bench-$i" --ttl 2h
done >"$work/tokens"
echo "# $(nproc) cores, $DATABASE, $USERS users, ${DURATION}s each, $(date -u +%FT%TZ)"
for tool in 0 1; do
  model_port="$(free_port)"
  python3 bench/fake_model.py "$model_port" "$tool" &
  pids+=("$!")
  if [ "$DATABASE" = postgres ]; then
    psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS todo_chat_bench" -c "CREATE DATABASE todo_chat_bench" >/dev/null
    DB_URL="${ADMIN_URL%/*}/todo_chat_bench"
  else
    DB_URL="sqlite://$work/bench-$tool.db"
  fi
  port="$(free_port)"
  BETTER_AUTH_SECRET="$SECRET" DATABASE_URL="$DB_URL" API_PORT="$port" ENVIRONMENT=production \
    OPENAI_BASE_URL="http://127.0.0.1:$model_port/v1" OPENAI_API_KEY=bench OPENAI_MODEL=bench \
    CHAT_TURNS_PER_MINUTE=0 CHAT_DAILY_TOKEN_BUDGET=0 CHAT_MAX_CONVERSATIONS_PER_USER=1000000 \
    "$BIN" serve >"$work/server.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.2; done
  for c in $CONNECTIONS; do
    before="$(curl -fs "http://127.0.0.1:$port/metrics")"
    printf 'tool_calls=%s c=%s ' "$tool" "$c"
    TOKENS_FILE="$work/tokens" wrk -t"$(( c < 2 ? 1 : 2 ))" -c"$c" -d"${DURATION}s" --latency \
      -s bench/chat.lua "http://127.0.0.1:$port/api/chat" | tail -1 | tr -d '\n'
    after="$(curl -fs "http://127.0.0.1:$port/metrics")"
    python3 - "$before" "$after" <<'PY'
import sys
def sums(text):
    out = {}
    for line in text.splitlines():
        for name in ("chat_turn_seconds_sum", "chat_turn_seconds_count", "chat_model_call_seconds_sum"):
            if line.startswith(name):
                out[name] = out.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return out
b, a = sums(sys.argv[1]), sums(sys.argv[2])
d = {k: a.get(k, 0.0) - b.get(k, 0.0) for k in a}
turns = d.get("chat_turn_seconds_count", 0) or 1
own = (d.get("chat_turn_seconds_sum", 0) - d.get("chat_model_call_seconds_sum", 0)) / turns
print(f' server_own_ms_per_turn={own * 1000:.3f}')
PY
  done
  kill "${pids[-1]}" "${pids[-2]}" 2>/dev/null || true
  wait "${pids[-1]}" "${pids[-2]}" 2>/dev/null || true
  if [ "$DATABASE" = postgres ]; then
    psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS todo_chat_bench" >/dev/null
  fi
done
