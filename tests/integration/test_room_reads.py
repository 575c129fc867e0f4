"""Read marks in rooms (issue 13): one mark per member and room, only growing; in small
rooms the members online with receipts on are told the room's marks, anonymously and
coalesced; receipts-off members are neither counted nor told; a room over the limit is
told nothing; a login or a join gets the current list once. Real servers on 127.0.0.1
port 0 over each store (memory, SQLite, Redis); every wait is bounded.
"""

from __future__ import annotations

import time

import const
from protocol import (
    READ, Done, ErrorCode, ErrorReply, JoinRoom, LeaveRoom, RoomDeleted, RoomEdited, RoomInfo, RoomPost, RoomRead, RoomTyping, Settings,
)
from server import ServerConfig, ServerThread

from test_rooms_after_delivered import PASSWORD, QUIET, join, log_in, none_of, post
from test_rooms_after_delivered import config  # noqa: F401  (the store fixture: memory, SQLite, Redis)

SKIP = QUIET + (RoomPost, RoomTyping, RoomEdited, RoomDeleted)


def marks(client, room: str = "#redes") -> tuple[int, ...]:
    """The next list of read marks ``client`` is told for ``room``."""
    while True:
        event = client.expect(RoomRead, skip=SKIP)
        if event.room_name == room:
            return event.marks


def test_marks_only_grow_and_go_to_the_members_online_with_receipts_on(config):  # noqa: F811
    with ServerThread(config) as server, log_in(server, "Ana") as ana, log_in(server, "Bob") as bob, \
            log_in(server, "Cy") as cy, log_in(server, "Old", features=None) as old, log_in(server, "Out") as out:
        cy.send(Settings("s1", False))
        assert cy.expect(Done, skip=SKIP).request_id == "s1"
        for client in (ana, bob, cy, old):
            join(client)
        for client in (ana, bob, cy, old):
            client.drain(quiet=0.3)
        first = post(ana, "a1", "one", bob, cy, old)
        second = post(ana, "a2", "two", bob, cy, old)

        bob.send(RoomRead("#redes", second))
        assert marks(ana) == (second,)  # Bob's mark, anonymous
        assert marks(bob) == ()  # the others': Ana has none, Cy is not counted
        none_of(cy, RoomRead)  # receipts off: not told
        none_of(old, RoomRead)  # no "read" feature: not told
        none_of(out, RoomRead)  # not a member

        # A lower mark changes nothing and tells nobody.
        bob.send(RoomRead("#redes", first))
        none_of(ana, RoomRead, quiet=const.ROOM_READS_INTERVAL + 0.5)

        # Receipts off: their read is refused and never counted.
        cy.send(RoomRead("#redes", second))
        assert cy.expect(ErrorReply, skip=SKIP).code == ErrorCode.FORBIDDEN
        ana.send(RoomRead("#redes", second))
        assert marks(bob) == (second,)  # Ana's; Cy's is not there
        assert marks(ana) == (second,)  # Bob's

        # Errors: not a post of that room, not a member, no such room.
        ana.send(RoomRead("#redes", 10_000))
        assert ana.expect(ErrorReply, skip=SKIP).code == ErrorCode.UNKNOWN_MESSAGE
        out.send(RoomRead("#redes", second))
        assert out.expect(ErrorReply, skip=SKIP).code == ErrorCode.NOT_MEMBER
        out.send(RoomRead("#nowhere", 1))
        assert out.expect(ErrorReply, skip=SKIP).code == ErrorCode.NO_SUCH_ROOM


def test_a_burst_of_reads_is_told_at_most_once_per_interval(config):  # noqa: F811
    with ServerThread(config) as server, log_in(server, "Ana") as ana, log_in(server, "Bob") as bob:
        join(ana)
        join(bob)
        ids = [post(ana, f"a{i}", f"post {i}", bob) for i in range(6)]
        ana.drain(quiet=0.3)
        started = time.monotonic()
        for msg_id in ids:
            bob.send(RoomRead("#redes", msg_id))
        got = [e for e in ana.drain(quiet=const.ROOM_READS_INTERVAL + 0.6) if isinstance(e, RoomRead)]
        elapsed = time.monotonic() - started
        # The first at once, the rest together at the end of the interval: the last mark wins.
        assert 1 <= len(got) <= 1 + int(elapsed / const.ROOM_READS_INTERVAL), (got, elapsed)
        assert got[-1].marks == (ids[-1],)


def test_a_login_and_a_join_get_the_current_list_once(config):  # noqa: F811
    with ServerThread(config) as server:
        with log_in(server, "Ana", password=PASSWORD, register=True) as ana, log_in(server, "Bob") as bob:
            join(ana)
            join(bob)
            last = post(ana, "a1", "hello", bob)
            bob.send(RoomRead("#redes", last))
            assert marks(ana) == (last,)
            with log_in(server, "Dan") as dan:
                dan.send(JoinRoom("j", "#redes"))
                dan.expect(RoomInfo, skip=SKIP)
                assert marks(dan) == (last,)  # after the join's answer
                none_of(dan, RoomRead, quiet=0.5)  # once
        # Everyone gone: the marks are held by the store only (the server keeps none once
        # the sessions' ends are handled). A login loads them again.
        held = lambda: server.call(lambda: server.server.relay.after.room_reads.core.size())  # noqa: E731
        deadline = time.monotonic() + 10
        while server.call(lambda: len(server.server.relay.sessions)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert held() == 0
        with log_in(server, "Ana", password=PASSWORD) as ana:
            assert marks(ana) == (last,)
            none_of(ana, RoomRead, quiet=0.5)
            assert held() == 1  # Bob's mark; Ana's own is none


def test_a_room_over_the_limit_tells_no_marks(config, monkeypatch):  # noqa: F811
    monkeypatch.setattr(const, "ROOM_READS_LIMIT", 2)
    with ServerThread(config) as server, log_in(server, "Ana", password=PASSWORD, register=True) as ana, log_in(server, "Bob") as bob, \
            log_in(server, "Cy") as cy:
        for client in (ana, bob, cy):
            join(client)
        last = post(ana, "a1", "three of us", bob, cy)
        bob.send(RoomRead("#redes", last))
        none_of(ana, RoomRead, quiet=1.0)
        none_of(cy, RoomRead, quiet=0.1)
        # The mark is kept, though: once the room is small again, a login is told it.
        cy.send(LeaveRoom("l", "#redes"))
        cy.expect(Done, skip=SKIP)
        with log_in(server, "Ana", password=PASSWORD) as ana2:
            assert marks(ana2) == (last,)


def test_version_1_and_featureless_sessions_still_get_bad_field_for_a_read_without_with():
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server, log_in(server, "Ana", features=(READ,)) as ana:
        ana.send_raw(b'{"type":"read","msg_id":1}\n')
        assert ana.expect(ErrorReply, skip=SKIP).code == ErrorCode.BAD_FIELD


def own_marks(events) -> list[RoomRead]:
    """The ``read`` frames among ``events`` that tell the receiver's own mark (no ``marks``)."""
    return [e for e in events if isinstance(e, RoomRead) and e.marks is None]


def test_ones_own_mark_goes_to_ones_other_sessions_and_to_nobody_else(config):  # noqa: F811
    """João reads #calculo on one device: his other devices (version 2, feature read) are
    told his own mark, to clear the room's unread count; Ana, another member, is not (her
    list counts him, anonymously, as before); nor a version 1 session of his, nor the
    session that read. A read at or below the mark tells nobody."""
    with ServerThread(config) as server, \
            log_in(server, "João", password=PASSWORD, register=True) as phone, \
            log_in(server, "João", password=PASSWORD) as laptop, \
            log_in(server, "João", password=PASSWORD, version=1, features=(READ,)) as old, \
            log_in(server, "Ana") as ana:
        join(phone, "#calculo")
        join(ana, "#calculo")
        for client in (phone, laptop, old, ana):
            client.drain(quiet=0.3)
        first = post(ana, "a1", "lista 3", phone, laptop, room="#calculo")
        second = post(ana, "a2", "lista 4", phone, laptop, room="#calculo")

        phone.send(RoomRead("#calculo", first))
        got = laptop.expect(RoomRead, skip=SKIP)
        assert got == RoomRead("#calculo", first, sender="João")  # as a direct read's: "from" is the reader
        assert marks(ana, "#calculo") == (first,)  # Ana's list, anonymous, as before
        assert not own_marks(ana.drain(quiet=0.5))  # never another user's own mark
        assert not own_marks(phone.drain(quiet=0.1))  # not the session that read
        assert not [e for e in old.drain(quiet=0.1) if isinstance(e, RoomRead)]  # version 1: none

        # At or below the mark: nothing to tell.
        laptop.send(RoomRead("#calculo", first))
        assert not own_marks(phone.drain(quiet=0.5))
        # From the other device, the other way.
        laptop.send(RoomRead("#calculo", second))
        got = phone.expect(RoomRead, skip=SKIP)
        while got.marks is not None:  # a list of the others' marks may come first
            got = phone.expect(RoomRead, skip=SKIP)
        assert got == RoomRead("#calculo", second, sender="João")
        assert not own_marks(ana.drain(quiet=0.5) + laptop.drain(quiet=0.1))
