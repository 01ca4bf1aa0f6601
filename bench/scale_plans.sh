#!/usr/bin/env bash
# PostgreSQL's plans, with timings, for the whale's requests (bench/scale.sh).
#   bench/scale_plans.sh DATABASE_URL > plans.md
set -euo pipefail
url="$1"
cols="id, user_id, title, description, completed, priority, category, due_date, version, created_at, updated_at"
where="FROM tasks WHERE user_id = 'whale'"
id="$(psql "$url" -AtXc "SELECT id $where ORDER BY id LIMIT 1 OFFSET 50000")"
explain() {
  printf '### %s\n\n```\n' "$1"
  psql "$url" -AtXc "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) $2"
  printf '```\n\n'
}
for s in "created_at DESC, id DESC" "due_date ASC NULLS LAST, id ASC" "priority DESC, id DESC" "title ASC, id ASC"; do
  explain "First page sorted by $s" "SELECT $cols $where ORDER BY $s LIMIT 50 OFFSET 0"
done
explain "X-Total-Count of a full first page" "SELECT COUNT(*) $where"
explain "Get one task" "SELECT $cols $where AND id = $id"
explain "Stats" "SELECT priority, category, completed, (due_date IS NOT NULL AND due_date < now()) AS past_due, COUNT(*) AS n $where GROUP BY priority, category, completed, past_due"
