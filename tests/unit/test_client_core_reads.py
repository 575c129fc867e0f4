"""Read marks through the client core (client/core.py, "Read marks"): coalesced per
conversation, and a rate_limited refusal of one neither shown nor lost.

Driven as test_client_core.py drives the core: bytes and a fake clock in, frames out. The
"application" here marks each direct message read as it is handed on, as the terminal
does when it prints one (client/terminal.py _mark_read).
"""

from __future__ import annotations

from client.core import READ_INTERVAL
from protocol import (READ, TYPING, DirectMessage, Done, ErrorCode, ErrorReply, Event, Read, RoomPost, RoomRead,
                      RoomTyping, Typing)

from test_client_core import Link


class Reader(Link):
    """A Link whose application marks every direct message (and room post) read as it is
    handed on, and which can be fed one wire event per read."""

    def from_server(self, *events: Event) -> list[Event]:
        assert self.server is not None
        self.core.receive_data(b"".join(self.server.send(event) for event in events), self.now)
        handed: list[Event] = []
        while (items := self.core.next_events()) is not None:
            handed += items
            for item in items:
                if isinstance(item, DirectMessage):
                    self.core.mark_read(Read(item.sender, item.msg_id), self.now)
                elif isinstance(item, RoomPost):
                    self.core.mark_read(RoomRead(item.room_name, item.msg_id), self.now)
            self.core.handed_on()
        self.handed += handed
        return handed

    def tick(self, until: float) -> None:
        """Time passes up to ``until``, the core called at each deadline it names."""
        while (deadline := self.core.next_deadline()) is not None and deadline <= until:
            self.now = max(self.now, deadline)
            self.core.handle_timeout(self.now)
        self.now = until
        self.core.handle_timeout(self.now)

    def reads(self) -> list[Event]:
        return [event for event in self.to_server() if isinstance(event, (Read, RoomRead))]


def dm(msg_id: int, sender: str) -> DirectMessage:
    return DirectMessage(msg_id, sender, "Tiago", f"recado {msg_id}", 1.0)


def backlog(count: int = 80) -> list[DirectMessage]:
    """Two senders' queued messages, interleaved as two scripts queue them."""
    return [dm(100 + i, "Ze" if i % 2 == 0 else "Lu") for i in range(count)]


def logged_in() -> Reader:
    link = Reader()
    link.log_in(features=(READ,), read_receipts=True)
    link.to_server()
    return link


def test_a_backlog_read_in_one_go_costs_one_read_per_conversation_with_the_newest_id() -> None:
    link = logged_in()
    assert len(link.from_server(*backlog())) == 80
    assert link.reads() == [Read("Ze", 178), Read("Lu", 179)]
    link.tick(link.now + 5 * READ_INTERVAL)
    assert link.reads() == []  # nothing more to say


def test_a_backlog_read_one_message_at_a_time_costs_a_few_reads_and_ends_on_the_newest() -> None:
    """The server's 80 frames, each in its own read 10 ms apart (a slow link): at most one
    read per conversation per interval, the last one with the newest id."""
    link = logged_in()
    written: list[Event] = []
    for message in backlog():
        link.from_server(message)
        written += link.reads()
        link.tick(link.now + 0.01)
        written += link.reads()
    link.tick(link.now + READ_INTERVAL)
    written += link.reads()
    assert len(written) <= 4, written
    assert [r for r in written if r.peer == "Ze"][-1] == Read("Ze", 178)  # type: ignore[union-attr]
    assert [r for r in written if r.peer == "Lu"][-1] == Read("Lu", 179)  # type: ignore[union-attr]


def test_a_later_message_still_gets_its_own_mark_within_the_interval() -> None:
    link = logged_in()
    link.from_server(*backlog(4))
    assert link.reads() == [Read("Ze", 102), Read("Lu", 103)]
    start = link.now
    link.now += 0.3
    link.from_server(dm(200, "Ze"))
    assert link.reads() == []  # too soon after the last one: it waits
    deadline = link.core.next_deadline()
    assert deadline is not None and deadline <= start + READ_INTERVAL
    link.tick(start + READ_INTERVAL)
    assert link.reads() == [Read("Ze", 200)]
    # Long after: at once, at the end of its read.
    link.now += 10.0
    link.from_server(dm(201, "Lu"))
    assert link.reads() == [Read("Lu", 201)]


def test_a_mark_asked_outside_a_read_goes_at_once_and_an_older_one_never() -> None:
    link = logged_in()
    link.core.mark_read(Read("Ze", 50), link.now)
    assert link.reads() == [Read("Ze", 50)]
    link.core.mark_read(Read("Ze", 40), link.now)
    assert link.reads() == []
    # One within the interval waits for it, and the shell is told when (reads_deadline).
    link.core.mark_read(Read("Ze", 60), link.now + 0.1)
    assert link.reads() == []
    due = link.core.reads_deadline()
    assert due == link.now + READ_INTERVAL
    link.core.write_reads(due)
    assert link.reads() == [Read("Ze", 60)]


def test_rooms_marks_are_coalesced_per_room_too() -> None:
    link = Reader()
    link.log_in(version=2, features=(READ,), read_receipts=True)
    link.to_server()
    posts = [RoomPost(300 + i, "Ana", "#redes" if i % 2 else "#calculo", f"p{i}", 1.0) for i in range(40)]
    link.from_server(*posts)
    assert link.reads() == [RoomRead("#calculo", 338), RoomRead("#redes", 339)]


def test_a_rate_limited_read_is_not_shown_and_its_mark_goes_again_after_the_wait() -> None:
    """The server refused a read (no request id: a read has none): the user asked for
    nothing, so nothing is shown; the mark is written again once the wait is over, so the
    sender still learns it."""
    link = logged_in()
    link.from_server(dm(10, "Ze"), dm(11, "Lu"))
    assert link.reads() == [Read("Ze", 10), Read("Lu", 11)]
    refusal = ErrorReply(ErrorCode.RATE_LIMITED, "too many requests; try again in 0.5 s", None, 0.5)
    assert link.from_server(refusal) == []
    assert link.reads() == []  # not before the wait
    link.tick(link.now + 0.4)
    assert link.reads() == []
    link.tick(link.now + READ_INTERVAL)
    assert sorted(link.reads(), key=lambda r: r.msg_id) == [Read("Ze", 10), Read("Lu", 11)]  # type: ignore[union-attr]
    link.tick(link.now + 5 * READ_INTERVAL)
    assert link.reads() == []  # once


def test_a_refused_mark_superseded_by_a_newer_one_goes_only_as_the_newer() -> None:
    link = logged_in()
    link.from_server(dm(10, "Ze"))
    assert link.reads() == [Read("Ze", 10)]
    link.now += 0.1
    assert link.from_server(ErrorReply(ErrorCode.RATE_LIMITED, "too many requests", None, 0.2),
                            dm(12, "Ze")) == [dm(12, "Ze")]
    link.tick(link.now + 2 * READ_INTERVAL)
    assert link.reads() == [Read("Ze", 12)]


def test_a_refused_typing_is_not_shown_either() -> None:
    link = logged_in()
    link.core.tell(Typing("Ze"))
    assert link.to_server() == [Typing("Ze")]
    assert link.from_server(ErrorReply(ErrorCode.RATE_LIMITED, "too many requests", None, 0.1)) == []
    link.tick(link.now + 5)
    assert link.reads() == []  # no mark was written lately: nothing to write again


def test_a_rate_limited_answer_to_a_request_keeps_its_handling() -> None:
    """Only a refusal without id is taken as a read's: one with an id nobody waits for
    any more is handed on as before (the terminal says it)."""
    link = logged_in()
    late = ErrorReply(ErrorCode.RATE_LIMITED, "too many requests", "r-gone", 0.5)
    assert link.from_server(late) == [late]


def test_a_mark_not_written_before_the_connection_ended_goes_on_the_next_one() -> None:
    link = logged_in()
    link.from_server(dm(10, "Ze"))
    assert link.reads() == [Read("Ze", 10)]
    link.now += 0.2
    link.from_server(dm(11, "Ze"))
    assert link.reads() == []  # waiting for the interval
    link.lose()
    link.log_in(reconnected=True, features=(READ,), read_receipts=True)
    assert [e for e in link.to_server() if isinstance(e, Read)] == [Read("Ze", 11)]


def test_no_mark_is_written_while_read_receipts_are_off() -> None:
    link = Reader()
    link.log_in(features=(READ,), read_receipts=False)
    link.to_server()
    link.from_server(dm(10, "Ze"))
    link.tick(link.now + 5)
    assert link.reads() == []


def test_an_older_mark_or_one_without_an_id_is_never_written_not_even_later() -> None:
    link = logged_in()
    link.core.mark_read(Read("Ze", 50), link.now)
    assert link.reads() == [Read("Ze", 50)]
    link.core.mark_read(Read("Ze", 40), link.now)
    link.core.mark_read(Read("Lu", None), link.now)
    assert link.core.data_to_send() == b""  # (a read without msg_id would be the server's bad_field)
    link.tick(link.now + READ_INTERVAL + 1)
    assert link.reads() == []
    link.core.mark_read(Read("Ze", 70), link.now)
    link.core.mark_read(Read("Ze", 60), link.now + 0.1)  # within the interval: 70 waits; 60 is older
    link.tick(link.now + READ_INTERVAL + 1)
    assert link.reads() == [Read("Ze", 70)]


def test_a_refusal_writes_again_only_the_marks_of_the_last_seconds_after_exactly_its_wait() -> None:
    from client.core import READ_RETRY_WINDOW
    link = logged_in()
    link.from_server(dm(10, "Ze"))  # long ago: the server took it (it would have refused it then)
    link.now += READ_RETRY_WINDOW + 5
    link.from_server(dm(11, "Lu"))
    assert link.reads() == [Read("Ze", 10), Read("Lu", 11)]
    assert link.from_server(ErrorReply(ErrorCode.RATE_LIMITED, "too many requests", None, 3.0)) == []
    assert link.core.reads_deadline() == link.now + 3.0
    link.core.write_reads(link.now + 2.9)
    assert link.reads() == []
    link.core.write_reads(link.now + 3.0)
    assert link.reads() == [Read("Lu", 11)]
    link.tick(link.now + 5 * READ_RETRY_WINDOW)
    assert link.reads() == []


def test_a_rooms_mark_left_for_a_session_of_version_1_is_dropped_and_the_peers_goes() -> None:
    """Failed over to a server of version 1 (an older node, mid-upgrade) while a room's
    mark waited for its interval: that session has no rooms, so the mark is dropped, not
    written (the protocol core raised, out of open(), and the threaded client's receiver
    ended the session as an internal error); a direct conversation's mark still goes."""
    link = Reader()
    link.log_in(version=2, features=(READ,), read_receipts=True)
    link.to_server()
    link.from_server(RoomPost(300, "Ana", "#redes", "p0", 1.0), dm(10, "Ze"))
    assert link.reads() == [RoomRead("#redes", 300), Read("Ze", 10)]
    link.now += 0.2
    link.from_server(RoomPost(301, "Ana", "#redes", "p1", 1.0), dm(11, "Ze"))
    assert link.reads() == []  # both wait for the interval
    link.lose()
    link.log_in(reconnected=True, version=1, features=(READ,), read_receipts=True)
    assert link.reads() == [Read("Ze", 11)]
    link.tick(link.now + 2 * READ_INTERVAL)
    assert link.reads() == [] and link.core.next_deadline() is not None


def test_a_frame_the_sessions_version_lacks_is_not_told() -> None:
    """Typing in a room, in a session of version 1 (the window still shows the room after a
    failover to an older server): nothing is written, and the caller is told so by False,
    as for no connection, instead of an exception from the protocol core."""
    link = Reader()
    link.log_in(version=1, features=(READ, TYPING), read_receipts=True)
    link.to_server()
    assert link.core.tell(RoomTyping("#redes")) is False
    assert link.core.tell(Typing("Ze")) is True
    assert link.to_server() == [Typing("Ze")]


def test_a_rooms_mark_waiting_when_the_room_is_left_is_not_written_after_the_leave() -> None:
    """A room's mark waited for its interval when the user left the room: it was written
    after the leave, the server refused it (not_member, no request id) and the window said
    "The server reported an error: you are not in #redes: join it first". A leave drops
    the room's waiting mark; other conversations' stay."""
    from protocol import LeaveRoom

    link = Reader()
    link.log_in(version=2, features=(READ,), read_receipts=True)
    link.to_server()
    link.from_server(RoomPost(300, "Ana", "#redes", "p0", 1.0), RoomPost(301, "Ana", "#calculo", "p1", 1.0))
    assert link.reads() == [RoomRead("#redes", 300), RoomRead("#calculo", 301)]
    link.now += 0.2
    link.from_server(RoomPost(302, "Ana", "#redes", "p2", 1.0), RoomPost(303, "Ana", "#calculo", "p3", 1.0))
    assert link.reads() == []  # within the interval: they wait
    link.core.request(LeaveRoom("l1", "#Redes"), Done)
    assert [type(event).__name__ for event in link.to_server()] == ["LeaveRoom"]
    link.tick(link.now + 5 * READ_INTERVAL)
    assert link.reads() == [RoomRead("#calculo", 303)]


def test_a_rooms_mark_waiting_when_we_are_put_out_of_the_room_is_not_written() -> None:
    """Olga posted twice in #redes and put Alice out: the mark of the second post waited
    for its interval and was written after the kick; the server refused it (not_member, no
    request id) and the window said "The server reported an error". A kick or ban of us,
    or our leave from another device, drops the room's waiting mark; others' acts do not."""
    from protocol import RoomNotice

    for act in ("kick", "ban", "left"):
        link = Reader()
        link.log_in(version=2, features=(READ,), read_receipts=True)
        link.to_server()
        link.from_server(RoomPost(300, "Olga", "#redes", "p0", 1.0))
        assert link.reads() == [RoomRead("#redes", 300)]
        link.now += 0.2
        link.from_server(RoomPost(301, "Olga", "#redes", "p1", 1.0), RoomNotice("#redes", "kick", "Vic", 1.0))
        link.from_server(RoomPost(302, "Olga", "#calculo", "p2", 1.0), RoomNotice("#Redes", act, "ALICE", 1.0))
        link.tick(link.now + 5 * READ_INTERVAL)
        assert link.reads() == [RoomRead("#calculo", 302)], act
