"""Fills a SQLite database's refresh_tokens up to TOTAL rows with rotated tokens spread over
its sessions (as years of refreshes leave them): the table a busy server carries.

    python3 bench/filler.py DB_FILE TOTAL
"""
import os
import sqlite3
import sys
import time

db, total = sys.argv[1], int(sys.argv[2])
conn = sqlite3.connect(db, timeout=30)
sessions = [row[0] for row in conn.execute("SELECT id FROM sessions")]
have = conn.execute("SELECT count(*) FROM refresh_tokens").fetchone()[0]
now = int(time.time())
rows = (
    (os.urandom(16).hex(), sessions[n % len(sessions)], os.urandom(32).hex(), now - 3600, now + 86400, now - 1800, None)
    for n in range(max(0, total - have))
)
with conn:
    conn.executemany("INSERT INTO refresh_tokens VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
print(conn.execute("SELECT count(*) FROM refresh_tokens").fetchone()[0])
