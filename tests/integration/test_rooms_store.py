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


# --- Edits and deletes of room posts (issue 13): the per-room change log ----------------------


def _post(store, results: list, sender: str, room: str, text: str, at: float) -> None:
    from server import mailbox
    message = mailbox.StoredMessage(0, sender, sender.lower(), room, room, text, at, f"{sender}-{text}", "room")
    store.store_message(message, results.append, results.append)


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_room_changes_tell_a_member_the_changes_since_they_left_to_posts_they_had_and_no_more(loop, kind):
    """A member's cursor and LEFT_AT mark (one row per membership, written when they go):
    at their next login, the posts they had that changed after they left, latest state
    each, and only within the room's newest ``limit`` changes (a bounded log)."""
    from server import mailbox
    store = open_store(loop, kind=kind)
    posted: list = []
    for n in range(6):
        _post(store, posted, "Ana", "#redes", f"post {n}", T0 + n)
    _post(store, posted, "Ana", "#outra", "elsewhere", T0 + 6)
    settle(loop, store)
    ids = [message.msg_id for message, _status in posted]
    answers: list = []
    # Changed before Mia left: she saw it live; not told again.
    store.change_message(ids[0], "ana", "post 0, fixed", T0 + 10, 1e9, frozenset(), answers.append)
    store.set_room_cursors("mia", {"#redes": ids[4], "#outra": ids[6], mailbox.LEFT_AT: int((T0 + 20) * 1000)})
    store.change_message(ids[1], "ana", "post 1, fixed", T0 + 30, 1e9, frozenset(), answers.append)
    store.change_message(ids[2], "ana", None, T0 + 31, 1e9, frozenset(), answers.append)
    store.change_message(ids[4], "ana", "post 4, fixed", T0 + 31.5, 1e9, frozenset(), answers.append)  # her last
    store.change_message(ids[5], "ana", None, T0 + 32, 1e9, frozenset(), answers.append)  # after her cursor
    store.change_message(ids[6], None, None, T0 + 33, 1e9, frozenset(), answers.append)  # a moderator's delete
    got: list = []
    store.room_changes("mia", ["#redes", "#outra"], 100, got.append, got.append)
    store.room_changes("mia", ["#redes"], 1, got.append, got.append)  # the newest change of #redes only
    store.room_changes("otto", ["#redes"], 100, got.append, got.append)  # no mark: nothing
    settle(loop, store)
    assert [status for status, _m in answers] == [mailbox.CHANGED] * 6
    everything, newest, none = got
    assert [(m.msg_id, m.text, m.deleted) for m in everything] == [
        (ids[1], "post 1, fixed", False), (ids[2], "", True), (ids[4], "post 4, fixed", False), (ids[6], "", True)]
    assert newest == []  # #redes's newest change is to a post after her cursor: that comes with the posts
    assert none == []
    # A deleted post's text is gone, and history marks each.
    pages: list = []
    store.room_history("#redes", None, 10, pages.append, pages.append)
    settle(loop, store)
    entries = {e.msg_id: e for e in pages[0][0]}
    assert (entries[ids[0]].text, entries[ids[0]].edited, entries[ids[0]].deleted) == ("post 0, fixed", True, False)
    assert (entries[ids[2]].text, entries[ids[2]].edited, entries[ids[2]].deleted) == ("", False, True)
    assert not entries[ids[3]].edited and not entries[ids[3]].deleted
    store.close()


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_cursors_written_without_a_left_at_mark_keep_the_stored_one(loop, kind):
    """The room desk writes a member's cursors without LEFT_AT while the changes since
    the stored mark have not been told (their read failed): the next login tells them."""
    from server import mailbox
    store = open_store(loop, kind=kind)
    posted: list = []
    for n in range(3):
        _post(store, posted, "Ana", "#redes", f"post {n}", T0 + n)
    settle(loop, store)
    ids = [message.msg_id for message, _status in posted]
    store.set_room_cursors("mia", {"#redes": ids[1], mailbox.LEFT_AT: int((T0 + 20) * 1000)})
    store.change_message(ids[0], "ana", "post 0, fixed", T0 + 30, 1e9, frozenset(), lambda _answer: None)
    store.set_room_cursors("mia", {"#redes": ids[2]})  # she had post 2 too; the mark stays
    store.set_room_cursors("otto", {"#redes": ids[2]})  # no mark before: none after
    got: list = []
    store.room_changes("mia", ["#redes"], 100, got.append, got.append)
    store.room_changes("otto", ["#redes"], 100, got.append, got.append)
    store.room_backlog("mia", ["#redes"], 100, got.append, got.append)
    settle(loop, store)
    mia, otto, (missed, cursors) = got
    assert [(m.msg_id, m.text) for m in mia] == [(ids[0], "post 0, fixed")]
    assert otto == [] and missed == [] and cursors == {"#redes": ids[2]}
    store.close()


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_room_changes_for_one_client_follow_its_own_mark_not_the_members(loop, kind):
    """A client's hello says what it has (room_seen) and until when it heard
    (last_heard): mailbox.SeenMark. Its changes are those of posts up to that msg_id,
    in every room asked, made after that time: whatever the member's cursors and LEFT_AT
    mark say (another of their devices stayed online later, or never left)."""
    from server import mailbox
    store = open_store(loop, kind=kind)
    posted: list = []
    for n in range(4):
        _post(store, posted, "Ana", "#redes", f"post {n}", T0 + n)
    _post(store, posted, "Ana", "#outra", "elsewhere", T0 + 4)
    settle(loop, store)
    ids = [message.msg_id for message, _status in posted]
    # The member's own mark is later than the phone's, and her cursors behind its room_seen.
    store.set_room_cursors("mia", {"#redes": ids[0], mailbox.LEFT_AT: int((T0 + 40) * 1000)})
    for n, at in ((0, T0 + 10), (1, T0 + 30), (3, T0 + 31)):  # 0 before the phone left
        store.change_message(ids[n], "ana", f"post {n}, fixed", at, 1e9, frozenset(), lambda _answer: None)
    store.change_message(ids[4], None, None, T0 + 32, 1e9, frozenset(), lambda _answer: None)
    got: list = []
    phone = mailbox.SeenMark(ids[4], int((T0 + 20) * 1000))
    store.room_changes("mia", ["#redes", "#outra"], 100, got.append, got.append, seen=phone)
    store.room_changes("mia", ["#redes"], 100, got.append, got.append, seen=mailbox.SeenMark(ids[1], phone.since_ms))
    store.room_changes("mia", ["#redes"], 1, got.append, got.append, seen=phone)  # #redes's newest change only
    store.room_changes("otto", ["#redes"], 100, got.append, got.append, seen=phone)  # no cursors of his: the same
    store.room_changes("mia", ["#redes", "#outra"], 100, got.append, got.append)  # the member's: since T0 + 40
    settle(loop, store)
    everything, below, newest, otto, members = got
    assert [(m.msg_id, m.text, m.deleted) for m in everything] == [
        (ids[1], "post 1, fixed", False), (ids[3], "post 3, fixed", False), (ids[4], "", True)]
    assert [m.msg_id for m in below] == [ids[1]]  # the last it had; post 3 is above: it comes as a post
    assert [m.msg_id for m in newest] == [ids[3]]
    assert [m.msg_id for m in otto] == [m.msg_id for m in everything[:2]]
    assert members == []
    store.close()


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_another_users_post_is_refused_with_it_and_anyones_delete_ignores_the_window(loop, kind):
    from server import mailbox
    store = open_store(loop, kind=kind)
    posted: list = []
    _post(store, posted, "Ana", "#redes", "old post", T0)
    settle(loop, store)
    msg_id = posted[0][0].msg_id
    answers: list = []
    store.change_message(msg_id, "mia", None, T0 + 1, 60.0, frozenset(), answers.append)  # not hers
    store.change_message(msg_id, "ana", None, T0 + 3600, 60.0, frozenset(), answers.append)  # too late for Ana
    store.change_message(msg_id, None, None, T0 + 3600, 60.0, frozenset(), answers.append)  # a moderator's
    store.change_message(msg_id, None, None, T0 + 3601, 60.0, frozenset(), answers.append)  # again: a resend
    settle(loop, store)
    (forbidden, whose), (late, _), (changed, message), (again, _) = answers
    assert (forbidden, whose.sender_key, whose.recipient_key, whose.state) == (mailbox.FORBIDDEN, "ana", "#redes", "room")
    assert (late, changed, again) == (mailbox.TOO_LATE, mailbox.CHANGED, mailbox.UNCHANGED)
    assert message.deleted and message.text == ""
    store.close()


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_mute_read_back_at_a_start_lasts_no_longer_than_its_length_from_then(loop, kind):
    """The server stopped and its clock was set back a day (a VM restored from a snapshot):
    the stored end of a ten minutes' mute was a day away. The relay that starts on the
    store puts it at ten minutes from now, and stores that."""
    import time

    from server.relay import Relay
    from server.config import ServerConfig

    store = open_store(loop, kind=kind)
    rooms = Rooms(admins=[])
    vic = Person("Vic", True, "10.0.0.6")
    rooms.join(OLGA, "#redes", T0)
    rooms.join(vic, "#redes", T0)
    now = time.time()
    rooms.mute(OLGA, "#redes", vic, now + 86400.0, seconds=600.0)  # muted "tomorrow", by the clock before
    save_changes(rooms, store, [])
    settle(loop, store)
    relay = Relay(ServerConfig(), store)
    settle(loop, store)
    refusal = relay.room_desk.rooms.may_post(vic, "#redes", time.time())
    assert refusal is not None and 590.0 < refusal.retry_after <= 600.0, refusal
    again = Rooms(admins=[])
    again.restore(store.rooms().values())
    assert 590.0 < again.may_post(vic, "#redes", time.time()).retry_after <= 600.0  # stored so
    store.close()
