#!/usr/bin/env python3
"""The SQLite twin of seed.sql: seed_sqlite.py DB_PATH USERS TASKS."""
import os
import sqlite3
import sys
from datetime import datetime, timedelta, timezone


def stamp(t: datetime) -> str:
    # The form sqlx writes (RFC 3339, UTC as +00:00), which sorts in time order.
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def main() -> None:
    path, users, tasks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    now = datetime.now(timezone.utc)
    db = sqlite3.connect(path, timeout=30)
    db.executemany(
        "INSERT INTO users (id, email, name, first_seen_at, last_seen_at) VALUES (?, ?, ?, ?, ?)",
        ((f"bench-{u}", f"bench-{u}@example.com", f"Bench {u}", stamp(now), stamp(now))
         for u in range(1, users + 1)))
    categories = ["work", "personal", "home", "other"]

    def rows():
        for u in range(1, users + 1):
            for k in range(1, tasks + 1):
                created = stamp(now - timedelta(minutes=k))
                due = stamp(now + timedelta(days=k - 10)) if k % 2 == 0 else None
                yield ((u - 1) * tasks + k, f"bench-{u}", f"Task {k}", f"task {k}",
                       f"Details of task {k}", f"details of task {k}", int(k % 3 == 0),
                       k % 3, categories[k % 4], due, created, created)

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
