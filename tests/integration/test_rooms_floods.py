"""One address cannot flood the log nor use up the server's rooms: rooms and accounts
created from it are logged one by one up to const.CREATED_LOG_LINES per log interval, then
counted in one line; rooms created from it are bounded per window (rule 9 of
server/rooms.py), whatever guest names it cycles. A real server on 127.0.0.1 port 0; every
wait is bounded.
"""

from __future__ import annotations

import logging

import const
from protocol import (
    Done, ErrorCode, ErrorReply, Goodbye, Hello, Invite, JoinRoom, MemberList, MembersRequest, RoomInfo, RoomList,
    RoomPost, RoomsRequest, Welcome,
)
from server import ServerConfig, ServerThread
from test_rooms_after_delivered import PASSWORD, QUIET, join, log_in
from test_rooms_after_delivered import config  # noqa: F401  (a fixture: memory, SQLite, Redis)
from wire import WireClient


def test_rooms_created_by_one_connection_cycling_names_are_logged_then_counted_and_bounded(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="chat.rooms")
    monkeypatch.setattr(const, "CREATED_LOG_LINES", 3)
    monkeypatch.setattr(const, "ROOMS_CREATED_PER_ADDRESS", 12)
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server:
        made = 0
        for name in ("cyc1", "cyc2", "cyc3"):
            with log_in(server, name) as guest:
                for n in range(5):
                    guest.send(JoinRoom(f"j{n}", f"#{name}r{n}"))
                    answer = guest.next()
                    while isinstance(answer, QUIET):
                        answer = guest.next()
                    if isinstance(answer, RoomInfo):
                        made += 1
                    else:
                        assert answer.code == ErrorCode.TOO_MANY_ROOMS, answer
                        assert "created from your address" in answer.message
                        assert answer.retry_after is not None and 0 < answer.retry_after <= 3600, answer
        assert made == 12
        with log_in(server, "Mia") as mia:  # joining one is not creating one
            mia.send(JoinRoom("j", "#cyc1r0"))
            mia.expect(RoomInfo, skip=QUIET)
    lines = [r.getMessage() for r in caplog.records if r.name == "chat.rooms"]
    created = [line for line in lines if " created the room " in line]
    assert created == ["cyc1 created the room #cyc1r0", "cyc1 created the room #cyc1r1",
                       "cyc1 created the room #cyc1r2"], lines
    # The rest counted in one line (at the server's stop, here), and the refusals summarised.
    assert [line for line in lines if line.startswith("9 more rooms created from 127.0.0.1 in the last")], lines


def test_accounts_created_from_one_address_are_logged_then_counted(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="chat.server")
    monkeypatch.setattr(const, "CREATED_LOG_LINES", 2)
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server:
        for n in range(5):
            with WireClient(server.host, server.port) as client:
                client.send(Hello("h", f"acct{n}", 2, PASSWORD, True))
                client.expect(Welcome, skip=QUIET)
    lines = [r.getMessage() for r in caplog.records if r.name == "chat.server"]
    assert [line for line in lines if line.startswith("account created")] == [
        "account created: acct0", "account created: acct1"], lines
    assert [line for line in lines if line.startswith("3 more accounts created from 127.0.0.1 in the last")], lines


# --- Rooms of guests who are gone ---------------------------------------------------------------


def _take_name(server, name: str, deadline: float) -> WireClient:
    """Log in as ``name`` without its token (a stranger), once its holder's session is gone
    (the hold is 0 s here): ``name_taken`` until then."""
    import time
    while True:
        client = WireClient(server.host, server.port)
        client.send(Hello("h", name, 2))
        answer = client.next()
        while isinstance(answer, QUIET):
            answer = client.next()
        if isinstance(answer, Welcome):
            return client
        client.close()
        assert answer.code == ErrorCode.NAME_TAKEN and time.monotonic() < deadline, answer
        time.sleep(0.05)


def test_a_guest_names_new_holder_inherits_none_of_its_rooms_and_a_room_left_empty_ends(config):  # noqa: F811
    """Rooms of guests who are gone: when the guest name changes hands, its earlier holder
    leaves every room (server/rooms.py Rooms.forget), so a room only they were in ends and
    the newcomer gets no membership, ownership or invitation-only room of theirs."""
    import dataclasses
    import time
    config = dataclasses.replace(config, guest_hold=0.0)
    with ServerThread(config) as server, log_in(server, "Mia") as mia:
        with log_in(server, "gone") as gone:
            gone.send(JoinRoom("m", "#secret", invite_only=True))
            gone.expect(RoomInfo, skip=QUIET)
            join(gone, "#shared")
            join(mia, "#shared")
            mia.send(JoinRoom("c", "#club", invite_only=True))
            mia.expect(RoomInfo, skip=QUIET)
            mia.send(Invite("i", "#club", "gone"))  # an invitation the newcomer must not use
            assert mia.expect(Done, skip=QUIET + (RoomPost,)).request_id == "i"
            gone.send(Goodbye(""))
        stranger = _take_name(server, "gone", time.monotonic() + 10)
        with stranger:
            stranger.send(RoomsRequest("r", mine=True))
            assert stranger.expect(RoomList, skip=QUIET).rooms == ()
            stranger.send(JoinRoom("j", "#secret", create=True))  # it ended: anyone may make it anew
            info = stranger.expect(RoomInfo, skip=QUIET)
            assert info.created and info.count == 1
            stranger.send(JoinRoom("jc", "#club"))
            stranger.expect_error(ErrorCode.INVITE_ONLY, skip=QUIET)
            mia.send(MembersRequest("ms", "#shared"))
            members = mia.expect(MemberList, skip=QUIET + (RoomPost,)).members
            assert [(m.name, m.role) for m in members] == [("Mia", "owner")]
