"""Rooms kept by the stores (server/stores: save_room, rooms), on both, and across a restart."""

from __future__ import annotations

import asyncio

import pytest

from server.rooms import Person, Rooms
from server.stores import MemoryStore, SQLiteStore
from test_store import STORE_KINDS, open_store, settle

T0 = 1_700_000_000.0
OLGA = Person("Olga", True, "10.0.0.2")
TROLL = Person("troll", False, "192.0.2.66")


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def save_changes(rooms: Rooms, store, answers: list) -> None:
    for key, record in rooms.changes():
        store.save_room(key, record, answers.append, answers.append)


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_room_saved_is_loaded_and_one_that_ended_is_gone(loop, kind):
    store = open_store(loop, kind=kind)
    rooms = Rooms(admins=[])
    rooms.join(OLGA, "#redes", T0)
    rooms.join(TROLL, "#redes", T0)
    rooms.ban(OLGA, "#redes", TROLL, T0, reason="spam")
    rooms.join(OLGA, "#solo", T0)
    answers: list = []
    save_changes(rooms, store, answers)
    rooms.leave(OLGA, "#solo", T0)
    save_changes(rooms, store, answers)
    settle(loop, store)
    assert answers == [None] * 4  # #lobby, #redes and #solo saved, then #solo forgotten: all done
    stored = store.rooms()
    assert set(stored) == {"#lobby", "#redes"}
    again = Rooms(admins=[])
    assert again.restore(stored.values()) == []
    assert again.join(Person("troll2", False, TROLL.address), "#redes", T0)[0].code == "banned"
    store.close()


def test_rooms_survive_a_restart_of_the_sqlite_store(loop, tmp_path):
    path = tmp_path / "chat.sqlite3"
    store = open_store(loop, path)
    rooms = Rooms(admins=[])
    rooms.join(OLGA, "#Redes", T0, invite_only=True)
    rooms.set_topic(OLGA, "#redes", "prova na sexta 🌍", T0)
    save_changes(rooms, store, [])
    settle(loop, store)
    store.close()
    store = SQLiteStore(path)
    store.open()
    again = Rooms(admins=[])
    again.restore(store.rooms().values())
    store.close()
    [summary] = [s for s in again.list_rooms(OLGA) if s.room == "#Redes"]
    assert (summary.count, summary.topic) == (1, "prova na sexta 🌍")
    assert again.join(Person("Mia", True), "#redes", T0)[0].code == "invite_only"


def test_the_memory_store_starts_with_no_rooms():
    assert MemoryStore().rooms() == {}
