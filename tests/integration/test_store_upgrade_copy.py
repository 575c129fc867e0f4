"""The copy of the database kept before a schema upgrade (``chat.sqlite3.schema-N``,
server/store.py's keep_before_upgrade) holds every text the retention purges or a sender
deletes afterwards: the retention's purge deletes it once it is a week old
(UPGRADE_COPY_KEPT), or older than the retention if that is shorter (docs/privacy.md)."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from server import store as store_module
from server.store import UPGRADE_COPY_KEPT, open_database
from server.stores import SQLiteStore

DAY = 24 * 3600.0


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def upgraded(tmp_path, monkeypatch):
    """A database upgraded by one schema version: its path, and the copy kept before."""
    path = tmp_path / "chat.sqlite3"
    open_database(path).close()
    version = store_module.SCHEMA_VERSION
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", version + 1)
    monkeypatch.setitem(store_module.MIGRATIONS, version + 1, "CREATE TABLE one (x)")
    open_database(path).close()
    copy = tmp_path / f"chat.sqlite3.schema-{version}"
    assert copy.is_file()
    return path, copy


def purge(loop, path, retention: float) -> None:
    store = SQLiteStore(path)
    store.open()
    store.start(loop)
    try:
        now = time.time()
        answers: list = []
        store.purge(now - retention, now - 2 * retention, answers.append, answers.append)
        loop.run_until_complete(store.drain(timeout=10))
        assert answers == [0], answers
    finally:
        store.close()


def made_ago(copy, seconds: float) -> None:
    when = time.time() - seconds
    os.utime(copy, (when, when))


def test_the_copy_kept_before_an_upgrade_goes_at_the_first_purge_a_week_after(tmp_path, monkeypatch, loop):
    path, copy = upgraded(tmp_path, monkeypatch)
    purge(loop, path, 90 * DAY)
    assert copy.is_file()  # new: kept, to go back to the server before
    made_ago(copy, UPGRADE_COPY_KEPT - DAY)
    purge(loop, path, 90 * DAY)
    assert copy.is_file()
    made_ago(copy, UPGRADE_COPY_KEPT + 60)
    purge(loop, path, 90 * DAY)
    assert not copy.exists()
    assert path.is_file()


def test_the_copy_never_outlives_a_retention_shorter_than_a_week(tmp_path, monkeypatch, loop):
    path, copy = upgraded(tmp_path, monkeypatch)
    made_ago(copy, 2 * DAY)
    purge(loop, path, 1 * DAY)
    assert not copy.exists()
