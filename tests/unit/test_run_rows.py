"""``mailbox._run_rows``: a batch's rows run as a few multi-row statements (64 rows, then
powers of two, then one by one below the fewest), and its answer is SQLite's count of
rows changed, which store_messages compares with the batch's size to skip looking for
resends. Every size from 1 to past two full statements, on an in-memory table, with
conflicts that INSERT OR IGNORE passes over."""

from __future__ import annotations

import sqlite3

from server.mailbox import _MOST_ROWS, _by_size, _run_rows

STATEMENTS = _by_size(lambda rows: "INSERT OR IGNORE INTO t (k) VALUES " + ", ".join(["(?)"] * rows), 8)


def test_every_size_of_batch_inserts_every_row_in_order_and_counts_them():
    for size in range(1, 2 * _MOST_ROWS + 12):
        db = sqlite3.connect(":memory:")
        db.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, k INTEGER UNIQUE)")
        assert _run_rows(db, STATEMENTS, [(k,) for k in range(size)]) == size, size
        assert [k for (k,) in db.execute("SELECT k FROM t ORDER BY n")] == list(range(size))
        db.close()


def test_the_count_leaves_out_the_rows_a_conflict_skipped():
    for size in (1, 3, 7, 9, 70, 135):
        db = sqlite3.connect(":memory:")
        db.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, k INTEGER UNIQUE)")
        db.execute("INSERT INTO t (k) VALUES (0)")
        assert _run_rows(db, STATEMENTS, [(k,) for k in range(size)]) == size - 1, size
        db.close()
