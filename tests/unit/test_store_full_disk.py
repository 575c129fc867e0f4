"""A full disk during a migration or while the lookups are derived is reported as what it
is: SQLite has already rolled the transaction back on SQLITE_FULL, and an explicit ROLLBACK
after it raised "cannot rollback - no transaction is active" over the real error (the
upgrade tester's finding 3: the operator never read "disk is full")."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import chatserver
from server import lookups
from server.store import migrate

FULL = "database or disk is full"


class FillsUp:
    """A connection whose statement holding ``failing`` fails as SQLite does on a
    full disk: the whole transaction rolled back, then SQLITE_FULL."""

    def __init__(self, db: sqlite3.Connection, failing: str) -> None:
        self._db, self._failing = db, failing

    def __getattr__(self, name: str):
        return getattr(self._db, name)

    def execute(self, statement: str, *args):
        if self._failing in statement:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            error = sqlite3.OperationalError(FULL)
            error.sqlite_errorcode = 13  # SQLITE_FULL
            raise error
        return self._db.execute(statement, *args)


def test_a_migration_step_on_a_full_disk_raises_the_full_disk_and_leaves_the_schema_before_it() -> None:
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        with pytest.raises(sqlite3.OperationalError, match=FULL):
            migrate(FillsUp(db, "CREATE TABLE guests"))  # migration 2
        assert db.execute("PRAGMA user_version").fetchone() == (1,)
        assert not db.in_transaction
    finally:
        db.close()


@pytest.mark.parametrize("failing", ["INSERT OR REPLACE INTO lookups.by_client_id",
                                     "CREATE TABLE lookups.conversation"])
def test_deriving_the_lookups_on_a_full_disk_raises_the_full_disk(failing: str) -> None:
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        migrate(db)
        db.execute("ATTACH DATABASE ':memory:' AS lookups")
        full = FillsUp(db, failing)
        with pytest.raises(sqlite3.OperationalError, match=FULL):
            if failing.startswith("CREATE"):
                lookups._create(full)
            else:
                lookups._create(db)
                lookups.rebuild(full)
        assert not db.in_transaction
    finally:
        db.close()


def test_catching_the_lookups_up_on_a_full_disk_raises_the_full_disk() -> None:
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        migrate(db)
        db.execute("ATTACH DATABASE ':memory:' AS lookups")
        lookups._create(db)
        db.execute("INSERT INTO messages (msg_id, sender, sender_key, recipient, recipient_key, text, sent_at,"
                   " client_id, state) VALUES (1, 'Ana', 'ana', 'Bia', 'bia', 'oi', 1.0, 'c1', 'queued')")
        with pytest.raises(sqlite3.OperationalError, match=FULL):
            lookups.catch_up(FillsUp(db, "SELECT 1 FROM lookups.by_client_id"))
    finally:
        db.close()


def test_the_line_for_a_full_disk_says_the_disk_is_full(tmp_path: Path) -> None:
    error = sqlite3.OperationalError(FULL)
    error.sqlite_errorcode = 13
    line = chatserver.database_failed(tmp_path / "chat.sqlite3", error)
    assert "the disk holding it is full" in line and "free" in line and "\n" not in line
