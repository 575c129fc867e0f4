"""Rooms through the client library (client/library.py over client/core.py): a real server
speaking protocol version 2 on 127.0.0.1 port 0, and a fake server of version 1 that the
client falls back to."""

from __future__ import annotations

import queue
import time

import pytest

from client import ChatClient, MessageUpdate, Reconnected, RequestFailed
from clientkit import WAIT, start
from fakeserver import FakeServer
from faultproxy import Fault, FaultProxy
from protocol import ErrorCode, Event, MemberEntry, RoomEntry, RoomMessage, RoomNotice, RoomPost


def next_of(client: ChatClient, kind: type[Event], where=lambda e: True, timeout: float = WAIT) -> Event:
    """The next event of ``kind`` (matching ``where``) the client received, within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            event = client.events.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no {kind.__name__} within {timeout} s") from None
        if isinstance(event, kind) and where(event):
            return event


def test_rooms_through_the_library_join_post_list_and_moderate(server, clients) -> None:
    olga, mia = start(clients, server.port, "Olga"), start(clients, server.port, "Mia")
    assert (olga.version, olga.rooms_supported) == (2, True)
    info = olga.join("#redes")
    assert (info.room_name, info.count, info.owner, info.created) == ("#redes", 1, "Olga", True)
    assert mia.join("#REDES").room_name == "#redes"
    joined = next_of(olga, RoomNotice)
    assert (joined.room_name, joined.act, joined.name) == ("#redes", "joined", "Mia")

    message = mia.send_to_room("#redes", "olá, turma")
    assert message.wait_done(WAIT) and message.state == "sent"
    for member in (olga, mia):
        post = next_of(member, RoomPost)
        assert (post.msg_id, post.sender, post.room_name, post.text) == (message.msg_id, "Mia", "#redes",
                                                                          "olá, turma")
    lobby = olga.send_to_room("#lobby", "to everyone")  # the default room is a plain say
    assert lobby.wait_done(WAIT) and lobby.room is None
    assert next_of(mia, RoomMessage).text == "to everyone"

    assert RoomEntry("#redes", 2, "") in olga.rooms()
    assert mia.members("#redes") == [MemberEntry("Mia", "member", True), MemberEntry("Olga", "owner", True)]
    olga.set_topic("#redes", "prova na sexta")
    assert next_of(mia, RoomNotice, lambda n: n.act == "topic").topic == "prova na sexta"

    # Only those who may moderate: Mia may not kick the owner.
    with pytest.raises(RequestFailed) as refused:
        mia.kick("#redes", "Olga")
    assert refused.value.code == ErrorCode.FORBIDDEN
    # A muted member is told why the message was refused; unmuted, she may write again.
    olga.mute("#redes", "Mia", seconds=600, reason="flood")
    assert next_of(mia, RoomNotice, lambda n: n.act == "mute").reason == "flood"
    muted = mia.send_to_room("#redes", "still here")
    update = next_of(mia, MessageUpdate)
    assert (update.message, update.state, update.error[0]) == (muted, "failed", ErrorCode.MUTED)
    olga.unmute("#redes", "Mia")
    assert mia.send_to_room("#redes", "back").wait_done(WAIT)
    # Banned: out, and cannot come back.
    olga.ban("#redes", "Mia", "spam")
    assert next_of(mia, RoomNotice, lambda n: n.act == "ban").name == "Mia"
    with pytest.raises(RequestFailed) as banned:
        mia.join("#redes")
    assert banned.value.code == ErrorCode.BANNED
    olga.unban("#redes", "Mia")
    mia.join("#redes")
    olga.appoint("#redes", "Mia", "moderator")
    assert [m.role for m in olga.members("#redes")] == ["moderator", "owner"]
    mia.leave("#redes")
    assert [m.name for m in olga.members("#redes")] == ["Olga"]


def test_against_a_version_1_server_the_client_falls_back_and_has_no_rooms(clients) -> None:
    with FakeServer(max_version=1) as old:
        alice = start(clients, old.port, "Alice")
        assert old.hellos == [2, 1]
        assert (alice.version, alice.rooms_supported) == (1, False)
        with pytest.raises(RequestFailed) as refused:
            alice.join("#redes")
        assert refused.value.code == ErrorCode.UNSUPPORTED_VERSION
        message = alice.send_to_room("#redes", "hi")
        assert (message.state, message.error[0]) == ("failed", ErrorCode.UNSUPPORTED_VERSION)
        assert alice.send_to_room("#lobby", "hi all").wait_done(WAIT)  # the default room still works
        # A reconnection offers the version that worked: no second refusal.
        old.drop("Alice")
        assert next_of(alice, Reconnected).welcome.version == 1
        assert old.hellos == [2, 1, 1]


def test_room_messages_cut_off_before_their_answer_are_resent_and_posted_exactly_once(server, clients) -> None:
    """Through the fault proxy: the server's ``accepted`` for every other room message
    of Mia's is lost with her connection (the message was stored); the library resends
    it with its id after reconnecting, and every member sees each message once, in order."""
    olga = start(clients, server.port, "Olga")
    olga.join("#redes")
    with FaultProxy(server.host, server.port) as proxy:
        proxy.add(Fault("down", frame_type="accepted", nth=1, every=2, times=3, name="Mia"))
        mia = start(clients, proxy.port, "Mia", reconnect_delay=0.05)
        mia.join("#redes")
        sent = [mia.send_to_room("#redes", f"message {n}") for n in range(6)]
        for message in sent:
            assert message.wait_done(3 * WAIT) and message.state == "sent", message
        assert len(proxy.cuts) == 3 and mia.reconnects == 3
    posts = [next_of(olga, RoomPost, lambda p: p.sender == "Mia") for _ in range(6)]
    assert [p.text for p in posts] == [f"message {n}" for n in range(6)]
    assert [p.msg_id for p in posts] == [m.msg_id for m in sent]
    with pytest.raises(AssertionError):  # and nothing more: no message posted twice
        next_of(olga, RoomPost, lambda p: p.sender == "Mia", timeout=1.0)


def test_after_a_new_login_rooms_mine_lists_exactly_the_rooms_one_is_in(server, clients) -> None:
    """Mia joins #redes and logs out; Olga makes a public room and an invite-only one
    (Mia in neither). Logged in again, Mia's ``rooms(mine=True)`` is exactly #redes (not
    the default room, not the others); invited into #lab3 and in it, that too."""
    olga = start(clients, server.port, "Olga")
    olga.join("#algebra")
    olga.join("#lab3", invite_only=True)
    mia = start(clients, server.port, "Mia")
    mia.join("#redes")
    mia.close()
    mia = start(clients, server.port, "Mia")
    assert mia.rooms(mine=True) == [RoomEntry("#redes", 1, "")]
    assert [entry.room_name for entry in mia.rooms()] == ["#algebra", "#lobby", "#redes"]
    olga.invite("#lab3", "Mia")
    mia.join("#lab3")
    assert mia.rooms(mine=True) == [RoomEntry("#lab3", 2, "", True), RoomEntry("#redes", 1, "")]
    assert olga.rooms(mine=True) == [RoomEntry("#algebra", 1, ""), RoomEntry("#lab3", 2, "", True)]


def test_a_room_list_says_which_rooms_are_invite_only_as_they_are_now(server, clients) -> None:
    """A client that learns its rooms from ``rooms`` with ``mine`` (after a login or a
    reconnection) learns their mode too, as it is now: Olga's #lab3 is invite-only, and
    made public while Mia is away, then invite-only again. The plain list says it to those
    who see the room (its members), and still hides the room from an outsider."""
    olga = start(clients, server.port, "Olga")
    olga.join("#lab3", invite_only=True)
    olga.join("#redes")
    assert olga.rooms(mine=True) == [RoomEntry("#lab3", 1, "", True), RoomEntry("#redes", 1, "")]
    assert [(e.room_name, e.invite_only) for e in olga.rooms()] == [("#lab3", True), ("#lobby", False),
                                                                      ("#redes", False)]
    olga.invite("#lab3", "Mia")
    mia = start(clients, server.port, "Mia")
    mia.join("#lab3")
    mia.close()
    olga.set_mode("#lab3", False)
    mia = start(clients, server.port, "Mia")
    assert mia.rooms(mine=True) == [RoomEntry("#lab3", 2, "")]
    olga.set_mode("#lab3", True)
    assert mia.rooms(mine=True) == [RoomEntry("#lab3", 2, "", True)]
    assert RoomEntry("#lab3", 2, "", True) in mia.rooms()
    bia = start(clients, server.port, "Bia")
    assert [e.room_name for e in bia.rooms()] == ["#lobby", "#redes"]


def test_a_server_that_ignores_mine_is_told_apart_by_its_answer(server, clients, monkeypatch) -> None:
    """An older server ignores the unknown key ``mine`` and lists every room one may see,
    without ``mine`` in its answer: the library says so (``unknown_type``) rather than
    take that list for the user's rooms."""
    import dataclasses

    from protocol import RoomsRequest

    handlers = server.server.relay._handlers  # the relay's dispatch: the desk's bound method
    plain = handlers[RoomsRequest]
    monkeypatch.setitem(handlers, RoomsRequest,
                        lambda session, request: plain(session, dataclasses.replace(request, mine=False)))
    mia = start(clients, server.port, "Mia")
    mia.join("#redes")
    with pytest.raises(RequestFailed) as older:
        mia.rooms(mine=True)
    assert older.value.code == ErrorCode.UNKNOWN_TYPE
    assert [entry.room_name for entry in mia.rooms()] == ["#lobby", "#redes"]
