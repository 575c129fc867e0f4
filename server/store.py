"""Durable storage: SQLite with group commit, and only the fsync off the event loop.

The relay hands the store *operations* and callbacks; it never waits for the disk::

    store.submit(lambda db: mailbox.history(db, ...), on_page)          # one operation
    store.submit_many(mailbox.store_messages, new_message, on_stored)    # batched with others

At the end of the event-loop turn the store runs everything submitted in one transaction,
on the loop thread (statements on SQLite's page cache take microseconds; operations
submitted with :meth:`submit_many` and the same function are merged, so a thousand
messages are one ``executemany``). Only the COMMIT, where the fsync happens, runs on a
worker thread, which SQLite lets run without the GIL. When it returns, the callbacks run
on the loop, in submission order: a callback that says "accepted" runs only after the
message is on disk. Whatever is submitted during a commit waits for it and goes in the
next transaction, so the busier the server, the more each fsync carries.

A first design ran everything on a store thread; its Python code fought the event loop
for the GIL, and throughput fell to a quarter. Keeping the CPU work on the loop and only
the waiting on the thread is what makes durability cheap.

``path=None`` keeps the database in memory: the same code, nothing durable (tests, and
the benchmark's measure of what durability costs).

The schema is versioned with ``PRAGMA user_version``; ``MIGRATIONS[n]`` takes a database
from version n-1 to n, and every pending migration runs at start.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

log = logging.getLogger("chat.store")

MIGRATIONS: dict[int, str] = {
    1: """
        CREATE TABLE accounts (
            name_key   TEXT PRIMARY KEY,       -- canonical (lower-case) name
            name       TEXT NOT NULL,
            pw_hash    BLOB NOT NULL,          -- scrypt(password, salt)
            salt       BLOB NOT NULL,
            kdf        TEXT NOT NULL,          -- "scrypt:n=16384,r=8,p=1"
            created_at REAL NOT NULL
        );
        -- Everyone who ever logged in: direct messages to them wait while they are away.
        CREATE TABLE users (
            name_key   TEXT PRIMARY KEY,
            name       TEXT NOT NULL,
            last_seen  REAL NOT NULL
        );
        CREATE TABLE messages (
            msg_id          INTEGER PRIMARY KEY,
            sender          TEXT NOT NULL,
            sender_key      TEXT NOT NULL,
            recipient       TEXT,              -- NULL for a room message
            recipient_key   TEXT,
            text            TEXT NOT NULL,
            sent_at         REAL NOT NULL,
            client_id       TEXT NOT NULL,     -- the sender's request id: resends are matched on it
            state           TEXT NOT NULL,     -- sent, queued, delivered, expired, blocked, room
            sender_notified INTEGER NOT NULL DEFAULT 0,  -- sender told of the final state
            expires_at      REAL
        );
        CREATE UNIQUE INDEX messages_by_client_id ON messages (sender_key, client_id);
        CREATE INDEX messages_conversation ON messages (sender_key, recipient_key, msg_id);
        -- Partial indexes hold only the rows that still need something, so delivering a
        -- message (the common case) removes one entry instead of rewriting several.
        CREATE INDEX messages_inbox ON messages (recipient_key, msg_id) WHERE state IN ('sent', 'queued');
        CREATE INDEX messages_untold ON messages (sender_key, msg_id)
            WHERE sender_notified = 0 AND state IN ('delivered', 'expired');
        CREATE INDEX messages_expiry ON messages (expires_at) WHERE state IN ('sent', 'queued');
        CREATE TABLE blocks (
            owner_key   TEXT NOT NULL,
            blocked_key TEXT NOT NULL,
            PRIMARY KEY (owner_key, blocked_key)
        );
    """,
    2: """
        -- The holder of each guest name (see server/guests.py): only they may resume it.
        CREATE TABLE guests (
            name_key   TEXT PRIMARY KEY,
            name       TEXT NOT NULL,
            token_hash BLOB NOT NULL,          -- sha256 of the resume token given to the holder
            epoch      INTEGER NOT NULL,       -- msg_ids up to this belong to earlier holders
            left_at    REAL                    -- when the holder's last session left (NULL while online)
        );
    """,
}
SCHEMA_VERSION = max(MIGRATIONS)

Operation = Callable[[sqlite3.Connection], Any]
BatchOperation = Callable[[sqlite3.Connection, list], list]
Callback = Callable[[Any], None]


def _one_by_one(db: sqlite3.Connection, operations: list[Operation]) -> list:
    return [operation(db) for operation in operations]


def open_database(path: Path | None) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the database; ``None`` means in memory."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(":memory:" if path is None else str(path), isolation_level=None,
                         check_same_thread=False)
    if path is not None:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # a commit is on disk when it returns
    try:
        migrate(db)
    except BaseException:
        db.close()  # an open connection would keep the file locked
        raise
    return db


def migrate(db: sqlite3.Connection) -> None:
    """Run every migration newer than the database's ``user_version``, each atomically."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(f"the database is at schema version {version}, newer than this "
                                    f"server's {SCHEMA_VERSION}: upgrade the server")
    for target in range(version + 1, SCHEMA_VERSION + 1):
        db.execute("BEGIN")
        try:
            for statement in MIGRATIONS[target].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {target}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")  # all of this migration or nothing
            raise
        log.info("database migrated to schema version %d", target)


class Store:
    """The database, its transactions and its commits.

    Call :meth:`open`, load caches with :meth:`read`, then :meth:`start` on the event loop;
    from then on use :meth:`submit` and :meth:`submit_many` from the loop only.
    :meth:`close` commits what is pending.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.db: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # (batch operation, item, callback) in submission order, for the next transaction.
        self._pending: list[tuple[BatchOperation, Any, Callback | None]] = []
        self._scheduled = False
        self._committing = False
        self._committer: ThreadPoolExecutor | None = None

    def open(self) -> None:
        """Open and migrate the database; :meth:`read` may load caches from it now."""
        self.db = open_database(self.path)

    def read(self, operation: Operation) -> Any:
        """Run ``operation`` at once, outside any batch: for loading caches at start-up."""
        return operation(self.db)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        if self.path is not None:
            self._committer = ThreadPoolExecutor(1, thread_name_prefix="chat-commit")

    def submit(self, operation: Operation, callback: Callback | None = None) -> None:
        """Run ``operation(db)`` in the next transaction; once it is committed, call
        ``callback(result)`` on the loop. If the operation raises, the error is logged, its
        changes are rolled back and the callback is not called."""
        self.submit_many(_one_by_one, operation, callback)

    def submit_many(self, batch: BatchOperation, item: Any, callback: Callback | None = None) -> None:
        """Like :meth:`submit`, for an operation that handles many items at once:
        ``batch(db, items)`` returns one result per item, in order. Consecutive
        submissions with the same ``batch`` are merged into one call."""
        self._pending.append((batch, item, callback))
        if not self._scheduled and not self._committing:
            self._scheduled = True
            self._loop.call_soon(self._run)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until everything submitted so far is committed (at most ``timeout`` s)."""
        deadline = self._loop.time() + timeout
        while (self._pending or self._committing) and self._loop.time() < deadline:
            await asyncio.sleep(0.005)

    def close(self) -> None:
        """Commit what is pending (synchronously) and close the database."""
        if self.db is None:
            return
        if self._pending and not self._committing:
            done = self._execute(self._take())
            self.db.execute("COMMIT")
            _run_callbacks(done)
        if self._committer is not None:
            self._committer.shutdown(wait=True)
        self.db.close()
        self.db = None

    def _take(self) -> list:
        pending, self._pending = self._pending, []
        self._scheduled = False
        return pending

    def _run(self) -> None:
        if self._committing or self.db is None:
            return
        done = self._execute(self._take())
        if self._committer is None:  # in memory: nothing to wait for
            self.db.execute("COMMIT")
            _run_callbacks(done)
            return
        self._committing = True
        future = self._loop.run_in_executor(self._committer, self.db.execute, "COMMIT")
        future.add_done_callback(lambda f: self._committed(f, done))

    def _committed(self, future: asyncio.Future, done: list) -> None:
        self._committing = False
        if future.exception() is not None:  # the disk failed: nothing in it may be acknowledged
            log.error("commit failed: %s", future.exception())
            try:  # leave no transaction open, or every later BEGIN would fail too
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        else:
            _run_callbacks(done)
        if self._pending and not self._scheduled and self.db is not None:
            self._scheduled = True
            self._loop.call_soon(self._run)

    def _execute(self, pending: list) -> list[tuple[Callback, Any]]:
        """Run ``pending`` in a new transaction (left open); returns (callback, result) pairs
        in submission order.

        Items are grouped by their batch operation, groups in the order of their first
        item, so each operation runs once per transaction however the submissions
        interleave (a thousand inserts and a thousand receipts are two executemany calls,
        not two thousand). Within a group, order is kept; a group runs after every group
        that started before it, so it sees their writes.

        A plain operation (:meth:`submit`) is not merged: it runs alone, after every group
        started before it, and the batch items submitted after it start new groups. So it
        sees exactly the writes submitted before it (a receipt checked by a plain operation
        never runs before an earlier receipt still waiting in its batch), and if it
        raises, only its own changes are rolled back.
        """
        db = self.db
        results: list[Any] = [_FAILED] * len(pending)
        db.execute("BEGIN")
        for batch, indexes in _in_order(pending):
            try:
                db.execute("SAVEPOINT batch")
                for index, result in zip(indexes, batch(db, [pending[i][1] for i in indexes])):
                    results[index] = result
                db.execute("RELEASE batch")
            except Exception:  # one bad operation must not lose the rest of the transaction
                db.execute("ROLLBACK TO batch")
                db.execute("RELEASE batch")
                for index in indexes:
                    results[index] = _FAILED
                operation = pending[indexes[0]][1] if batch is _one_by_one else batch
                log.exception("store operation %s failed", getattr(operation, "__qualname__", operation))
        return [(callback, result) for (_, _, callback), result in zip(pending, results)
                if callback is not None and result is not _FAILED]


_FAILED = object()


def _in_order(pending: list) -> list[tuple[BatchOperation, list[int]]]:
    """(batch operation, indexes of its items) in the order they must run (see _execute)."""
    order: list[tuple[BatchOperation, list[int]]] = []
    groups: dict[BatchOperation, list[int]] = {}  # the mergeable groups since the last plain operation
    for index, (batch, _, _) in enumerate(pending):
        if batch is _one_by_one:
            order.append((batch, [index]))
            groups = {}
        elif batch in groups:
            groups[batch].append(index)
        else:
            groups[batch] = [index]
            order.append((batch, groups[batch]))
    return order


def _run_callbacks(done: list[tuple[Callback, Any]]) -> None:
    for callback, result in done:
        try:
            callback(result)
        except Exception:
            log.exception("store callback failed")
