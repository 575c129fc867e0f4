"""An honest client's burst of requests whose answers are lists that grow with the users
(server/intake.py): ``who``, ``members`` or ``blocks`` pages, asked 40 at once in one
write, each of a few KB, with a small hard mark set through the config so that a few dozen
users make the pages large against it. Before the gate, the 40 answers were queued in the one turn that read them,
past the hard mark: the client was dropped as a slow consumer."""

from __future__ import annotations

import contextlib
import socket
import time

from collections.abc import Callable

import pytest

from protocol import (Block, BlockList, Blocking, Done, ErrorCode, ErrorReply, JoinRoom, LookupRequest, LookupResult,
                      MemberList, MembersRequest, Ping, RoomInfo, RoomNotice, RoomSkipped, UserJoined, UserLeft, UserList,
                      WhoRequest)
from server import ServerThread
from servers import FAST, server_config
from wire import WireClient

LIMIT = 20.0
USERS = 60  # each page lists them all: about 3 KB
REQUESTS = 40  # 120 KB of answers asked in one write
HARD_MARK = 24 * 1024  # the config's max_outgoing_bytes: a tenth of that burst


def _queued(server: ServerThread, name: str) -> int:
    """The bytes the server holds for ``name``'s session: this turn's and its transport's."""
    def measure() -> int:
        session = next(s for s in server.server.relay.sessions if s.name == name)
        return session._unsent_bytes + session.transport.get_write_buffer_size()
    return server.call(measure)


# Not answers: presence, the heartbeat, and the count of room notices a reader this slow
# is told it missed (past the others' mark, 1/64 of the hard mark: server/session.py).
SKIP = (Ping, UserJoined, UserLeft, RoomNotice, RoomSkipped)


def _who(reader: WireClient, users: list[WireClient]) -> tuple[type, Callable[[str], object], int]:
    return UserList, WhoRequest, USERS + 1


def _members(reader: WireClient, users: list[WireClient]) -> tuple[type, Callable[[str], object], int]:
    for i, user in enumerate([reader, *users]):
        user.send(JoinRoom(f"j{i}", "#crowd"))
        user.expect(RoomInfo, LIMIT, skip=SKIP)
    return MemberList, lambda request_id: MembersRequest(request_id, "#crowd"), USERS + 1


def _blocks(reader: WireClient, users: list[WireClient]) -> tuple[type, Callable[[str], object], int]:
    blocked = 3 * USERS  # names nobody uses: each listed as spelled
    for i in range(blocked):
        reader.send(Block(f"b{i}", f"nobody{i:03d}"))
    done = 0
    while done < blocked:
        done += isinstance(reader.expect(Done, LIMIT, skip=SKIP), Done)
    return Blocking, BlockList, blocked


@pytest.mark.parametrize("ask", [_who, _members, _blocks], ids=["who", "members", "blocks"])
def test_a_burst_of_list_requests_is_all_answered_to_a_client_that_reads_slowly(ask):
    config = server_config(max_outgoing_bytes=HARD_MARK, socket_send_buffer=8192, **FAST)
    with ServerThread(config) as server, contextlib.ExitStack() as stack:
        users = [stack.enter_context(WireClient.login(server.host, server.port, f"user{i:03d}"))
                 for i in range(USERS)]
        with WireClient.login(server.host, server.port, "Reader") as reader:
            answer, request, listed = ask(reader, users)
            reader.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            reader.send_raw(b"".join(reader.conn.send(request(f"r{i}")) for i in range(REQUESTS)))
            pages: list = []
            peak = 0
            deadline = time.monotonic() + LIMIT
            while len(pages) < REQUESTS:
                event = reader.next(max(0.001, deadline - time.monotonic()))
                if isinstance(event, SKIP):
                    continue
                assert isinstance(event, answer), f"after {len(pages)} pages: {event!r}"
                pages.append(event)
                peak = max(peak, _queued(server, "Reader"))  # between reads: as slow as it gets
            assert [p.request_id for p in pages] == [f"r{i}" for i in range(REQUESTS)]
            assert all(len(_items(p)) == listed and p.next is None for p in pages)  # whole pages
            assert peak < HARD_MARK
            reader.send(LookupRequest("l", "user000"))  # still connected, and answered
            assert reader.expect(LookupResult, LIMIT, skip=SKIP).request_id == "l"


def _items(page: UserList | MemberList | Blocking) -> tuple:
    return page.users if type(page) is UserList else page.members if type(page) is MemberList else page.blocked


WHOIS_REQUESTS = 600  # each answer (an online user's address, port, since) ~130 bytes: 3x the hard mark


def test_a_burst_of_whois_is_paced_by_the_gate_and_another_user_is_answered_meanwhile():
    # whois's answer is one user, but larger than its request: one write of many of them
    # queued their answers in the turn that read them, past the hard mark, and dropped an
    # honest client that reads slowly as a slow consumer. Through the gate, they are
    # answered as the client reads, and nobody else waits for them.
    config = server_config(max_outgoing_bytes=HARD_MARK, socket_send_buffer=8192, **FAST)
    with ServerThread(config) as server, \
            WireClient.login(server.host, server.port, "Other") as other, \
            WireClient.login(server.host, server.port, "Reader") as reader:
        reader.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        reader.send_raw(b"".join(reader.conn.send(LookupRequest(f"r{i}", "Other")) for i in range(WHOIS_REQUESTS)))
        asked = time.monotonic()
        other.send(LookupRequest("o", "Reader"))  # while Reader's burst waits for Reader to read
        assert other.expect(LookupResult, LIMIT, skip=SKIP).status == "online"
        assert time.monotonic() - asked < 2.0
        answers: list = []
        peak = 0
        deadline = time.monotonic() + LIMIT
        while len(answers) < WHOIS_REQUESTS:
            event = reader.next(max(0.001, deadline - time.monotonic()))
            if isinstance(event, SKIP):
                continue
            assert isinstance(event, LookupResult), f"after {len(answers)} answers: {event!r}"
            answers.append(event)
            peak = max(peak, _queued(server, "Reader"))
        assert [a.request_id for a in answers] == [f"r{i}" for i in range(WHOIS_REQUESTS)]
        assert all(a.status == "online" and a.name == "Other" for a in answers)
        assert peak < HARD_MARK
        reader.send(WhoRequest("w"))  # still connected, and answered
        assert reader.expect(UserList, LIMIT, skip=SKIP).request_id == "w"


def test_with_the_default_rate_limits_a_burst_of_whois_beyond_its_budget_is_refused_with_retry_after():
    # The rate limit comes first (relay.handle): the connection's burst is answered, the
    # rest refused with the wait, and another user is answered meanwhile as ever.
    with ServerThread(server_config()) as server, \
            WireClient.login(server.host, server.port, "Other") as other, \
            WireClient.login(server.host, server.port, "Asker") as asker:
        asker.send_raw(b"".join(asker.conn.send(LookupRequest(f"r{i}", "Other")) for i in range(WHOIS_REQUESTS)))
        asked = time.monotonic()
        other.send(LookupRequest("o", "Asker"))
        assert other.expect(LookupResult, LIMIT, skip=SKIP).status == "online"
        assert time.monotonic() - asked < 2.0
        answers: list = []
        deadline = time.monotonic() + LIMIT
        while len(answers) < WHOIS_REQUESTS:
            event = asker.next(max(0.001, deadline - time.monotonic()))
            if not isinstance(event, SKIP):
                answers.append(event)
        assert [a.request_id for a in answers] == [f"r{i}" for i in range(WHOIS_REQUESTS)]
        answered = [a for a in answers if isinstance(a, LookupResult)]
        refused = [a for a in answers if isinstance(a, ErrorReply)]
        assert len(answered) + len(refused) == WHOIS_REQUESTS
        assert 0 < len(answered) < WHOIS_REQUESTS / 2  # the burst, and what refilled meanwhile
        assert all(e.code == ErrorCode.RATE_LIMITED and e.retry_after and e.retry_after > 0 for e in refused)
