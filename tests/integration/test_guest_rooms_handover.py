"""A guest name taken by someone else after its hold: its earlier holder leaves every room
(PROTOCOL.md, "Guest names": "the newcomer inherits no room"), announced to the rooms'
members, and to nobody else. The ``left`` of such a leave names the earlier holder, whose
sessions are all gone: told "to the person it names" as a member's own leave is, it went
to the newcomer, who learned the names of the earlier holder's rooms (invite-only ones
too). Real servers on 127.0.0.1 port 0 over each store (memory, SQLite, Redis); every
wait is bounded.
"""

from __future__ import annotations

import time
from dataclasses import replace

from protocol import ErrorReply, Goodbye, Hello, JoinRoom, RoomInfo, RoomNotice, Welcome
from server import ServerThread
from test_rooms_after_delivered import ALL, QUIET, log_in
from test_rooms_after_delivered import config  # noqa: F401  (the store fixture: memory, SQLite, Redis)
from wire import WireClient


def take_name(server, name: str, timeout: float = 10.0) -> WireClient:
    """A newcomer's session of ``name`` (no token), once its earlier holder's is gone."""
    deadline = time.monotonic() + timeout
    while True:
        client = WireClient(server.host, server.port)
        client.send(Hello("h", name, 2, None, False, None, ALL))
        answer = client.expect((Welcome, ErrorReply), skip=QUIET)
        if isinstance(answer, Welcome):
            client.welcome = answer
            return client
        client.close()
        assert time.monotonic() < deadline, answer
        time.sleep(0.05)


def test_the_newcomer_to_a_guest_name_is_not_told_its_earlier_holder_left_their_rooms(config):  # noqa: F811
    with ServerThread(replace(config, guest_hold=0.0)) as server, log_in(server, "Ana") as ana:
        with log_in(server, "Bob") as bob:
            for room, invite_only in (("#segredo", True), ("#turma", False)):
                bob.send(JoinRoom("j" + room, room, False, invite_only))
                bob.expect(RoomInfo, skip=QUIET)
            ana.send(JoinRoom("j", "#turma"))
            ana.expect(RoomInfo, skip=QUIET)
            bob.send(Goodbye(""))
        with take_name(server, "Bob") as newcomer:
            told = ana.drain(until=lambda events: any(isinstance(e, RoomNotice) and e.act == "left" for e in events))
            moves = [(e.room_name, e.act, e.name) for e in told
                     if isinstance(e, RoomNotice) and e.act in ("left", "owner")]
            assert moves == [("#turma", "left", "Bob"), ("#turma", "owner", "Ana")]  # the members are told
            assert [e for e in newcomer.drain(quiet=0.5) if isinstance(e, RoomNotice)] == []
