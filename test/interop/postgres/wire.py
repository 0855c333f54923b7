"""A PostgreSQL client that is not sluice: it speaks docs/wire-protocol.md (PostgreSQL) with psycopg2.

Usage: wire.py <dsn> <statements> <operations>
  statements: JSON {name: sql}, the document's statements for the schema under test
  operations: JSON list of {"op": ..., ...}, run in order; prints the JSON list of their results

The SQL is the document's, read from it by the test: this file only binds the parameters.
"""
import json
import re
import select
import sys
import time

import psycopg2

dsn, statements, operations = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
connection = psycopg2.connect(dsn)
connection.autocommit = True  # each statement commits (and notifies) on its own


def run(name, *params):
    """Runs the document's statement `name`, its $1, $2, ... bound to `params`."""
    text = re.sub(r"\$(\d+)", r"%(p\1)s", statements[name].replace("%", "%%"))
    cursor = connection.cursor()
    cursor.execute(text, {f"p{i + 1}": value for i, value in enumerate(params)})
    return cursor


def claim(queue, limit, lease):
    rows = run("claim", queue, limit, lease).fetchall()
    return [
        {"id": str(id), "attempt": attempt, "body": body, "reason": reason, "lease_expired": expired}
        for id, attempt, body, reason, expired in rows
    ]


def consume(queue, count, lease, settle, timeout):
    """Claims until `count` rows came, waiting on the notification channel between claims."""
    run("listen")
    deadline = time.monotonic() + timeout / 1000
    rows = []
    while len(rows) < count:
        claimed = claim(queue, count - len(rows), lease)
        for row in claimed:
            if settle == "ack":
                run("ack", row["id"], row["attempt"])
        rows += claimed
        left = deadline - time.monotonic()
        if len(rows) >= count or left <= 0:
            break
        if not claimed:  # a notification, or a delayed row's time, whichever comes first
            select.select([connection], [], [], min(left, 0.1))
            connection.poll()
            connection.notifies.clear()
    return rows


def perform(operation):
    op = operation["op"]
    if op == "ddl":
        connection.autocommit = False
        connection.cursor().execute(statements["ddl"])
        connection.commit()
        connection.autocommit = True
        return None
    if op == "send":
        cursor = run(
            "send",
            operation["queue"],
            operation["body"],
            operation.get("priority", 0),
            operation.get("delay", 0),
            operation.get("key"),
        )
        row = cursor.fetchone()
        return None if row is None else str(row[0])
    if op == "claim":
        return claim(operation["queue"], operation["limit"], operation["lease"])
    if op == "consume":
        return consume(
            operation["queue"],
            operation["count"],
            operation.get("lease", 30000),
            operation.get("settle", "ack"),
            operation.get("timeout", 10000),
        )
    if op == "ack":
        return run("ack", operation["id"], operation["attempt"]).rowcount
    if op == "nack":
        return run("nack", operation["id"], operation["attempt"], operation.get("delay", 0)).rowcount
    if op == "dead-letter":
        args = (operation["id"], operation["attempt"], operation["queue"], operation["reason"])
        return run("dead-letter", *args).rowcount
    if op == "sleep":
        time.sleep(operation["ms"] / 1000)
        return None
    if op == "now":
        return time.time() * 1000
    raise ValueError(f"unknown operation {op}")


print(json.dumps([perform(operation) for operation in operations]))
