#!/usr/bin/env python3
"""The SQLite twin of seed_scale.sql: seed_scale_sqlite.py DB WHALE OTHERS EACH."""
import os
import sqlite3
import sys
from datetime import datetime, timedelta, timezone

from seed_sqlite import stamp


def main() -> None:
    path, whale, others, each = sys.argv[1], *map(int, sys.argv[2:5])
    now = datetime.now(timezone.utc)
    db = sqlite3.connect(path, timeout=30)
    users = [("whale",)] + [(f"user-{u}",) for u in range(1, others + 1)]
    db.executemany("INSERT INTO users (id, first_seen_at, last_seen_at) VALUES (?, ?, ?)",
                   ((u, stamp(now), stamp(now)) for (u,) in users))
    categories = ["work", "personal", "home", "other"]

    def rows():
        owners = [("whale", i) for i in range(1, whale + 1)]
        owners += [(f"user-{i % others + 1}", i) for i in range(1, others * each + 1)]
        # Ids given, as seed_sqlite.py does (the table's key is (user_id, id)
        # since the Citus change, so SQLite no longer picks them).
        for n, (owner, i) in enumerate(owners, start=1):
            created = stamp(now - timedelta(seconds=i))
            due = None if i % 5 == 0 else stamp(now + timedelta(days=(i % 90) - 45))
            yield (n, owner, f"Task {i}", f"task {i}", f"Details of task {i}",
                   f"details of task {i}", int(i % 3 == 0), i % 3, categories[i % 4], due,
                   created, created)

    db.executemany(
        "INSERT INTO tasks (id, user_id, title, title_search, description, description_search, "
        "completed, priority, category, due_date, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows())
    # The per-user counts and task totals (migrations 0008, 0009) of the tasks inserted above.
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "counts_sqlite.sql")) as f:
        db.executescript(f.read())
    db.commit()
    db.execute("ANALYZE")
    db.close()


if __name__ == "__main__":
    main()
