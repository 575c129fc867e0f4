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


def v2_session(bench, port: int):
    """A fake session that speaks protocol version 2 (it may be sent room frames)."""
    from types import SimpleNamespace

    from protocol.connection import State
    from test_store import FakeSession
    session = FakeSession(port)
    session.conn = SimpleNamespace(state=State.OPEN, may_send=lambda kind: True)
    return session


def room_texts(session) -> list[str]:
    import json
    return [json.loads(frame)["text"] for frame in session.sent
            if isinstance(frame, bytes) and json.loads(frame).get("room") == "#redes"]


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_message_stored_just_before_the_login_comes_once_among_the_missed_ones(loop, kind):
    """Issue 13: a room message submitted in the loop turn of a member's login is fanned
    out after the member is registered but before their missed messages are answered: it
    is one of those, and must not come a second time live."""
    from protocol import Hello, JoinRoom, SendToRoom
    from test_store import RelayBench
    bench = RelayBench(loop, kind)
    relay = bench.relay
    olga = v2_session(bench, 1)
    relay.connected(olga)
    relay.handle(olga, Hello("h", "Olga", 2))
    mia = v2_session(bench, 2)
    relay.connected(mia)
    relay.handle(mia, Hello("h", "Mia", 2, "correct horse", True))
    bench.settle()
    relay.handle(olga, JoinRoom("j1", "#redes"))
    bench.settle()
    relay.handle(mia, JoinRoom("j2", "#redes"))
    bench.settle()
    relay.disconnected(mia, None)
    relay.handle(olga, SendToRoom("m1", "#redes", "while away"))
    bench.settle()

    again = v2_session(bench, 3)
    relay.connected(again)
    relay.handle(olga, SendToRoom("m2", "#redes", "just before the login"))
    relay.handle(again, Hello("h", "Mia", 2, "correct horse"))
    bench.settle()
    relay.handle(olga, SendToRoom("m3", "#redes", "after"))
    bench.settle()
    assert room_texts(again) == ["while away", "just before the login", "after"]
    bench.store.close()
