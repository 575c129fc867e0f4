"""The client's session rules, driven without sockets or threads: bytes and a fake clock in,
events, bytes and deadlines out (client/core.py).

Each test plays the server with the protocol's own sans-I/O ``Connection`` (server role),
joined to a :class:`ClientCore` by an in-memory link; a reconnection is a new link with a new
server connection, exactly what the threaded shell does with a new socket.
"""

from __future__ import annotations

import itertools

import pytest

import const
from client.core import (
    PACE_WINDOW,
    UNAVAILABLE_ATTEMPTS,
    ClientCore,
    LoginAttempt,
    backoff,
    failover,
    first_login_verdict,
    reconnection_failed,
    retry_verdict,
)
from client.display import explain_error
from client.events import ServerUnavailable
from client.errors import CertificateError, LoginInterrupted, LoginRefused, ServerUnreachable
from client.servers import parse_server, positionals, server_list, spread_start
from client.outgoing import DELIVERED, FAILED, QUEUED, SENDING, SENT, MessageUpdate, OutgoingMessage
from protocol import BATCH_ACKS, SINCE_FEATURE, OutcomeAcks, Receipts
from protocol import CATCH_UP, CatchUp  # a cluster node back from a break
from protocol import Delete, Deleted, Done, Edit, EditReceipt, Edited, RoomDeleted, RoomEdited  # feature edits
from protocol.codec import MAX_IDS_PER_FRAME
from protocol import (
    Accepted,
    Connection,
    Delivered,
    DirectMessage,
    ErrorCode,
    ErrorReply,
    FrameRejected,
    Event,
    Goodbye,
    Hello,
    HistoryEntry,
    HistoryPage,
    HistoryRequest,
    OutcomeAck,
    Ping,
    Pong,
    Presence,
    Queued,
    Receipt,
    Register,
    JoinRoom,
    Role,
    RoomInfo,
    RoomNotice,
    RoomPost,
    SendDirect,
    SendToRoom,
    Settings,
    UserList,
    Watch,
    Watching,
    Welcome,
    WhoRequest,
)


class Link:
    """One ClientCore, and the server end of its current connection (in memory)."""

    def __init__(self, **options: object) -> None:
        self.core = ClientCore(**options)  # type: ignore[arg-type]
        self.now = 100.0
        self.server: Connection | None = None
        self.handed: list[Event] = []

    def log_in(self, *, reconnected: bool = False, heartbeat: float = 10.0, version: int = 1,
               features: tuple[str, ...] | None = None, read_receipts: bool | None = None,
               server_now: int | None = None) -> int:
        """A new connection and a login on it; returns how many messages were resent.
        The frames the client wrote right after the Welcome wait in ``to_server()``."""
        attempt = LoginAttempt(self.core.hello("Alice", None, False, None))
        self.server = Connection(Role.SERVER)
        self.server.receive_data(attempt.data_to_send())
        hello = next(self.server.events())
        assert isinstance(hello, Hello)
        attempt.receive_data(self.server.send(Welcome(hello.request_id, "Alice", version, "test", heartbeat,
                                                      features=features, read_receipts=read_receipts,
                                                      now=server_now)))
        welcome = attempt.step("test")
        assert welcome is not None
        return self.core.open(attempt.conn, welcome, self.now, reconnected)

    def lose(self) -> None:
        """The connection breaks (a reset): whatever was unread is gone."""
        self.core.set_reason("reset by a test")
        self.core.connection_lost()
        self.server = None

    def to_server(self) -> list[Event]:
        """What the client wrote, as the server decodes it."""
        assert self.server is not None
        data = self.core.data_to_send()
        if data:  # b"" would tell the server the stream ended
            self.server.receive_data(data)
        return list(self.server.events())

    def from_server(self, *events: Event) -> list[Event]:
        """The server sends ``events``; returns what the client hands to the application
        (and does what the shell does after handing each on)."""
        assert self.server is not None
        self.core.receive_data(b"".join(self.server.send(event) for event in events), self.now)
        handed: list[Event] = []
        while (items := self.core.next_events()) is not None:
            handed += items
            self.core.handed_on()
        self.handed += handed
        return handed

    def send(self, to: str | None, text: str) -> OutgoingMessage:
        message = OutgoingMessage(self.core.new_request_id(), to, text)
        self.core.submit(message)
        return message


def direct(msg_id: int, text: str = "hi") -> DirectMessage:
    return DirectMessage(msg_id, "Bob", "Alice", text, 1.0)


# --- Resending with the same ids, and what waits while disconnected --------------------


def test_unacknowledged_messages_are_resent_in_order_with_the_same_ids_after_a_reconnect() -> None:
    link = Link()
    link.log_in()
    first, second = link.send("Bob", "one"), link.send("Bob", "two")
    assert [e.request_id for e in link.to_server()] == [first.request_id, second.request_id]
    link.lose()  # before any answer
    assert link.core.may_reconnect()
    assert link.log_in(reconnected=True) == 2
    resent = link.to_server()
    assert resent == [SendDirect(first.request_id, "Bob", "one"), SendDirect(second.request_id, "Bob", "two")]


def test_messages_typed_while_disconnected_wait_in_order_and_are_bounded() -> None:
    link = Link(max_waiting=2)
    link.log_in()
    link.lose()
    waiting = [link.send("Bob", "a"), link.send(None, "b")]
    assert all(m.state == SENDING and m.waiting for m in waiting)
    refused = link.send("Bob", "c")
    assert refused.state == FAILED and refused.error[0] == "queue_full"
    assert link.log_in(reconnected=True) == 2
    assert [e.request_id for e in link.to_server()] == [m.request_id for m in waiting]
    assert not any(m.waiting for m in waiting)


def test_a_message_the_server_acknowledged_is_never_sent_again() -> None:
    link = Link()
    link.log_in()
    message = link.send("Bob", "stored")
    link.to_server()
    assert link.from_server(Accepted(message.request_id, 7)) == [MessageUpdate(message, SENT, None)]
    link.lose()
    assert link.log_in(reconnected=True) == 0
    assert not [e for e in link.to_server() if isinstance(e, SendDirect)]
    assert message.state == SENT  # still open, for delivered or expired


def test_without_reconnection_a_send_fails_at_once_and_the_end_fails_what_is_open() -> None:
    link = Link(reconnect=False)
    link.log_in()
    open_one = link.send("Bob", "x")
    link.lose()
    assert not link.core.may_reconnect()
    late = link.send("Bob", "y")
    assert late.state == FAILED and late.error[0] == "not_connected" and not late.submitted
    updates, _ = link.core.end()
    assert updates == [MessageUpdate(open_one, FAILED, open_one.error)]
    assert open_one.error[0] == "connection_lost"


def test_the_end_says_truly_of_each_open_message_whether_the_server_has_it() -> None:
    link = Link(reconnect=False)
    link.log_in()
    stored, unanswered = link.send("Bob", "guardada"), link.send("Bob", "sem resposta")
    link.to_server()
    link.from_server(Accepted(stored.request_id, 7))
    link.lose()
    updates, _ = link.core.end()
    assert updates == [MessageUpdate(stored, FAILED, stored.error), MessageUpdate(unanswered, FAILED, unanswered.error)]
    assert "the server has it as message 7 and will still deliver it" in stored.error[1]
    assert "before the server acknowledged the message" in unanswered.error[1]


# --- Reconciling after a reconnection -------------------------------------------------


def _reconnected_with_two_queued(first_id: int, second_id: int) -> tuple[Link, OutgoingMessage, OutgoingMessage,
                                                                         HistoryRequest]:
    """Two messages to Bob, queued as ``first_id`` and ``second_id``; the connection is
    lost with their outcomes, and a new one logs in: the history it asks to settle them."""
    link = Link()
    link.log_in()
    first, second = link.send("Bob", "one"), link.send("Bob", "two")
    link.to_server()
    link.from_server(Queued(first.request_id, first_id), Queued(second.request_id, second_id))
    link.lose()
    link.log_in(reconnected=True)
    (asked,) = link.to_server()
    assert type(asked) is HistoryRequest and asked.peer == "Bob"
    return link, first, second, asked


def test_after_a_reconnect_the_history_settles_messages_whose_outcome_was_lost() -> None:
    link, delivered, expired, asked = _reconnected_with_two_queued(11, 12)  # the Delivered and the expiry lost
    page = HistoryPage(asked.request_id, "Bob", (
        HistoryEntry(11, "Alice", "Bob", "one", 1.0, "delivered"),
        HistoryEntry(12, "Alice", "Bob", "two", 1.0, "expired")))
    assert link.from_server(page) == [MessageUpdate(delivered, DELIVERED, None),
                                      MessageUpdate(expired, FAILED, expired.error)]
    assert expired.error[0] == ErrorCode.EXPIRED
    assert link.core.outgoing == {}


def test_the_history_that_settles_lost_outcomes_pages_back_to_the_oldest_open_message_and_stops() -> None:
    link, old, new, asked = _reconnected_with_two_queued(11, 90)
    newest = HistoryPage(asked.request_id, "Bob", (HistoryEntry(90, "Alice", "Bob", "two", 1.0, "delivered"),),
                         before=90)
    assert link.from_server(newest) == [MessageUpdate(new, DELIVERED, None)]
    (again,) = link.to_server()  # message 11 is older than this page: the page before it
    assert (type(again), again.peer, again.before) == (HistoryRequest, "Bob", 90)
    older = HistoryPage(again.request_id, "Bob", (HistoryEntry(11, "Alice", "Bob", "one", 1.0, "delivered"),),
                        before=11)
    assert link.from_server(older) == [MessageUpdate(old, DELIVERED, None)]
    assert link.to_server() == []  # the oldest open message is in it: nothing more to ask
    assert link.core.outgoing == {}


def test_a_catch_up_asks_the_history_of_each_conversation_a_message_still_waits_in() -> None:
    """The server, a cluster node, was cut off and is back: the outcome of a message we
    sent may have been told to our other device, which acknowledged it, so nothing tells it
    here again (the chaos run with 20 clients, seed 418). The connection never dropped:
    the catch_up frame makes us ask, as a reconnection does, and is handed on (a shell
    catches up what another device got meanwhile)."""
    link = Link()
    assert CATCH_UP in link.core.hello("Alice", None, False, None).features  # asked in every hello
    link.log_in(features=(CATCH_UP,))
    waiting, done = link.send("Bob", "one"), link.send("Carla", "two")
    link.to_server()
    assert link.from_server(Queued(waiting.request_id, 11)) == [MessageUpdate(waiting, QUEUED, None)]
    link.from_server(Accepted(done.request_id, 12), Delivered(done.request_id, 12))
    link.to_server()  # the ack of message 12
    assert link.from_server(CatchUp()) == [CatchUp()]
    asked = link.to_server()
    assert [(type(e), e.peer) for e in asked] == [(HistoryRequest, "Bob")]  # not Carla: nothing waits there
    page = HistoryPage(asked[0].request_id, "Bob", (HistoryEntry(11, "Alice", "Bob", "one", 1.0, "delivered"),))
    assert link.from_server(page) == [MessageUpdate(waiting, DELIVERED, None)]
    assert link.core.outgoing == {}


def test_a_history_that_settles_lost_outcomes_refused_for_now_is_asked_again_after_the_wait() -> None:
    """The history that settles a lost outcome was refused (unavailable: a cluster node cut
    off from Redis, a full disk). Another session of ours had acknowledged the outcome, so
    no login tells it again, and no live frame will come: the tracker stayed ``sent`` for
    good (a chaos run's second device, seed 365). The history is asked again once the
    server's wait is over, as long as the session lasts."""
    link = Link()
    link.log_in()
    message = link.send("Bob", "one")
    link.to_server()
    link.from_server(Accepted(message.request_id, 11))
    link.lose()  # the Delivered went to our other session, which acknowledged it
    link.log_in(reconnected=True)
    asked = link.to_server()
    assert [type(e) for e in asked] == [HistoryRequest]
    link.from_server(ErrorReply(ErrorCode.UNAVAILABLE, "the server cannot read anything right now",
                                asked[0].request_id, retry_after=3.0))
    assert link.to_server() == []  # not at once
    deadline = link.core.next_deadline()
    assert deadline is not None and deadline <= link.now + 3.0 + 1e-9
    link.now += 3.0
    link.core.handle_timeout(link.now)
    again = link.to_server()
    assert [type(e) for e in again] == [HistoryRequest] and again[0].peer == "Bob"
    # Refused again, with a shorter wait: the refusals in a row double ours (1 s, 2 s...).
    link.from_server(ErrorReply(ErrorCode.RATE_LIMITED, "slow down", again[0].request_id, retry_after=0.5))
    assert link.core.next_deadline() == pytest.approx(link.now + 2.0)
    link.now += 2.0
    link.core.handle_timeout(link.now)
    third = link.to_server()
    assert [type(e) for e in third] == [HistoryRequest]
    page = HistoryPage(third[0].request_id, "Bob", (HistoryEntry(11, "Alice", "Bob", "one", 1.0, "delivered"),))
    assert link.from_server(page) == [MessageUpdate(message, DELIVERED, None)]
    assert link.core.outgoing == {}


def test_a_history_refused_for_good_is_not_asked_again() -> None:
    link = Link()
    link.log_in(heartbeat=60.0)
    message = link.send("Bob", "one")
    link.to_server()
    link.from_server(Accepted(message.request_id, 11))
    link.lose()
    link.log_in(reconnected=True, heartbeat=60.0)
    asked = link.to_server()
    link.from_server(ErrorReply(ErrorCode.BAD_FIELD, "no", asked[0].request_id))
    link.now += 40.0
    link.core.handle_timeout(link.now)
    assert not [e for e in link.to_server() if isinstance(e, HistoryRequest)]
    assert link.core.outgoing  # the live frames will have to do


# --- Receiving: duplicates, receipts, outcome acks ------------------------------------


def test_a_direct_message_sent_again_is_confirmed_again_but_handed_on_once() -> None:
    link = Link()
    link.log_in()
    assert link.from_server(direct(5)) == [direct(5)]
    assert link.to_server() == [Receipt(5)]
    assert link.from_server(direct(5)) == []
    assert link.to_server() == [Receipt(5)]  # the server waits for it


def test_the_receipt_is_written_only_after_the_application_has_the_message() -> None:
    link = Link()
    link.log_in()
    link.core.receive_data(link.server.send(direct(9)), link.now)
    assert link.core.next_events() == [direct(9)]
    assert link.core.data_to_send() == b""  # not confirmed while the application lacks it
    link.core.handed_on()
    assert link.to_server() == [Receipt(9)]


def test_outcomes_are_acknowledged_once_handed_on_and_repeats_are_not_shown_twice() -> None:
    link = Link()
    link.log_in()
    message = link.send("Bob", "x")
    link.to_server()
    assert link.from_server(Accepted(message.request_id, 3), Delivered(message.request_id, 3)) == [
        MessageUpdate(message, SENT, None), MessageUpdate(message, DELIVERED, None)]
    assert link.to_server() == [OutcomeAck(3)]
    # Told again (our ack was lost): acknowledged again, not handed on.
    assert link.from_server(Delivered(message.request_id, 3)) == []
    assert link.to_server() == [OutcomeAck(3)]
    # The outcome of a message an earlier run sent: handed on as it is, once, and acked.
    assert link.from_server(Delivered("earlier-1", 40)) == [Delivered("earlier-1", 40)]
    assert link.to_server() == [OutcomeAck(40)]
    assert link.from_server(Delivered("earlier-1", 40)) == []
    assert link.to_server() == [OutcomeAck(40)]


def test_a_change_older_than_the_one_handed_on_is_confirmed_but_not_handed_on() -> None:
    """A cluster may tell an edit late, after a newer one (a node's route tried again once
    Redis answers): the reader keeps reading the newer text. Before, the late edit was
    handed on last and the window showed the older text."""
    link = Link()
    link.log_in(version=2)
    link.from_server(DirectMessage(7, "Bob", "Alice", "teh text", 1.0))
    link.to_server()
    newer, older = Edited(7, "Bob", "Alice", "the text!", 200.0), Edited(7, "Bob", "Alice", "the text", 150.0)
    assert link.from_server(newer) == [newer]
    assert link.to_server() == [EditReceipt(7, 200.0)]  # the change it names: not one newer
    assert link.from_server(older) == []
    assert link.to_server() == [EditReceipt(7, 150.0)]  # the server may stop telling it either way
    assert link.from_server(newer) == [newer]  # told again (at login): as before, the clients see it is no news
    link.to_server()
    # A delete is the last word: a late edit after it is not handed on; a repeat of it is.
    deleted = Deleted(7, "Bob", "Alice", 250.0)
    assert link.from_server(deleted, Edited(7, "Bob", "Alice", "late", 260.0), deleted) == [deleted, deleted]
    # Also of a message deleted before it came, and of a room's post.
    assert link.from_server(DirectMessage(8, "Bob", "Alice", "", 1.0, deleted=True),
                            Edited(8, "Bob", "Alice", "late", 300.0))[-1].msg_id == 8
    assert link.handed[-1] == DirectMessage(8, "Bob", "Alice", "", 1.0, deleted=True)
    post, late = RoomEdited(9, "Bob", "#redes", "oi!", 50.0), RoomEdited(9, "Bob", "#redes", "oi", 40.0)
    assert link.from_server(post, late, RoomDeleted(9, "Bob", "#redes", 39.0)) == [post]
    # The tie: the same time is the same change told again.
    assert link.from_server(RoomEdited(9, "Bob", "#redes", "oi!", 50.0)) == [post]


def test_the_ok_of_our_own_edit_or_delete_counts_as_the_change_a_late_one_is_held_to() -> None:
    """Our other device's older edit, told late (a cluster), after this session's newer edit
    was answered ok: the ok says when ours was stamped, so the older one is not handed on
    (the window keeps our text); a newer one from the other device is."""
    link = Link()
    link.log_in(version=2)
    edit = link.core.request(Edit("r1", 7, "mine, newer"), Done)
    assert link.to_server() == [Edit("r1", 7, "mine, newer")]
    assert link.from_server(Done("r1", 300.0)) == [] and edit.answer == Done("r1", 300.0)
    assert link.from_server(Edited(7, "Alice", "Bob", "from the phone, older", 250.0)) == []
    newer = Edited(7, "Alice", "Bob", "from the phone, newer", 320.0)
    assert link.from_server(newer) == [newer]
    # A newer one from the phone that came before our ok: the ok does not take its place.
    link.core.request(Edit("r4", 7, "mine, slower"), Done)
    link.to_server()
    newest = Edited(7, "Alice", "Bob", "from the phone, newest", 340.0)
    assert link.from_server(newest, Done("r4", 330.0)) == [newest]
    assert link.from_server(Edited(7, "Alice", "Bob", "late", 335.0)) == []
    delete = link.core.request(Delete("r2", 8), Done)
    link.to_server()
    link.from_server(Done("r2", 400.0))
    assert link.from_server(Edited(8, "Alice", "Bob", "late", 390.0), Edited(8, "Alice", "Bob", "later", 410.0)) == []
    assert delete.answered
    # An ok without a time (an older server's) changes nothing.
    link.core.request(Edit("r3", 9, "x"), Done)
    link.to_server()
    link.from_server(Done("r3"))
    assert link.from_server(Edited(9, "Alice", "Bob", "y", 1.0)) == [Edited(9, "Alice", "Bob", "y", 1.0)]


def test_close_acknowledges_what_is_due_before_its_goodbye() -> None:
    link = Link()
    link.log_in()
    link.core.receive_data(link.server.send(Delivered("earlier-2", 41)), link.now)
    assert link.core.next_events() == [Delivered("earlier-2", 41)]
    link.core.handed_on()  # the ack is due, not yet written
    assert link.core.close("bye")
    assert link.to_server() == [OutcomeAck(41), Goodbye("bye")]
    assert not link.core.close("again")


# --- Requests ---------------------------------------------------------------------------


def test_an_answer_goes_to_its_request_and_a_late_one_is_recognised_not_handed_on() -> None:
    link = Link()
    link.log_in()
    woken: list[str] = []
    pending = link.core.request(WhoRequest(link.core.new_request_id()), UserList)
    pending.wake = lambda: woken.append("woken")
    answer = UserList(pending.request_id, (Presence("Bob", 1.0),))
    assert link.from_server(answer) == []
    assert pending.answered and pending.answer == answer and woken == ["woken"]
    gave_up = link.core.request(WhoRequest(link.core.new_request_id()), UserList)
    link.core.stop_waiting(gave_up)
    # The caller was told it timed out: the answer that comes after is no news to hand on.
    assert link.from_server(UserList(gave_up.request_id, ())) == []
    assert not gave_up.answered


@pytest.mark.parametrize("answer", ["ok", "error"])
def test_a_late_answer_to_a_change_goes_to_what_the_shell_said_to_do_with_it(answer: str) -> None:
    # A register (or password change) whose caller timed out: its late ok says it was
    # done after all, and the shell notes it (the name is registered); a late error, not.
    link = Link()
    link.log_in()
    request = Register(link.core.new_request_id(), "correct horse battery")
    told: list[Event] = []
    gave_up = link.core.request(request, Done)
    link.core.stop_waiting(gave_up, late=lambda event: told.append(event) or [])
    late = Done(request.request_id) if answer == "ok" else ErrorReply(ErrorCode.UNAVAILABLE, "disk", request.request_id)
    assert link.from_server(late) == []
    assert told == [late]
    assert link.from_server(late) == [late]  # a second one is no answer to it: unmatched


def test_a_request_given_up_on_a_lost_connection_is_forgotten_with_it() -> None:
    link = Link()
    link.log_in()
    gave_up = link.core.request(WhoRequest(link.core.new_request_id()), UserList)
    link.core.stop_waiting(gave_up)
    link.lose()
    link.log_in(reconnected=True)
    stray = UserList(gave_up.request_id, ())  # not an answer on this connection: unmatched
    assert link.from_server(stray) == [stray]


def test_a_lost_connection_ends_the_waiting_requests_with_a_reason() -> None:
    link = Link()
    link.log_in()
    pending = link.core.request(WhoRequest(link.core.new_request_id()), UserList)
    link.lose()
    assert pending.answered and pending.answer is None and "reset by a test" in pending.error


def test_watched_names_are_watched_again_on_every_new_session() -> None:
    link = Link()
    link.log_in()
    link.lose()
    link.core.watch_soon(["Bob", "Carol"])  # kept while disconnected
    link.log_in(reconnected=True)
    asked = link.to_server()
    assert [type(e) for e in asked] == [Watch] and asked[0].names == ("Bob", "Carol")
    answer = Watching(asked[0].request_id, (Presence("Bob", 2.0),), ("Carol",))
    assert link.from_server(answer) == [answer]
    refused_next_time = link.core.watch_soon(["Dan"])
    assert refused_next_time is None
    again = link.to_server()
    link.from_server(ErrorReply(ErrorCode.TOO_MANY_WATCHED, "too many", again[0].request_id))
    assert "dan" not in link.core.watched and "bob" in link.core.watched


# --- Time: throttling and heartbeats ----------------------------------------------------


def test_a_throttled_message_is_written_again_with_its_id_once_the_wait_is_over() -> None:
    link = Link()
    link.log_in(heartbeat=30)
    message = link.send("Bob", "slow down")
    link.to_server()
    assert link.from_server(ErrorReply(ErrorCode.RATE_LIMITED, "later", message.request_id, 2.0)) == []
    assert message.state == SENDING
    assert link.core.next_deadline() == pytest.approx(link.now + 2.0)
    link.core.handle_timeout(link.now + 1.9)
    assert link.to_server() == []
    link.core.handle_timeout(link.now + 2.0)
    assert link.to_server() == [SendDirect(message.request_id, "Bob", "slow down")]
    assert link.core.next_deadline() == pytest.approx(link.now + 30)  # the next ping


def after_the_hold(link: Link) -> list[Event]:
    """Step the fake clock from deadline to deadline until the client writes something
    but a ping (a throttled message, once its hold is over); returns what it wrote."""
    for _ in range(20):
        link.now = link.core.next_deadline()
        link.core.handle_timeout(link.now)
        written = [e for e in link.to_server() if not isinstance(e, Ping)]
        if written:
            return written
    raise AssertionError("nothing written again")


def _unavailable(message: OutgoingMessage, uncertain: bool | None) -> ErrorReply:
    words = "it may have been: send it again with the same id" if uncertain else "nothing was done"
    return ErrorReply(ErrorCode.UNAVAILABLE, words, message.request_id, 5.0, uncertain=uncertain)


def test_a_message_refused_unavailable_stays_sending_and_goes_again_with_its_id() -> None:
    """The server could not tell whether it stored the message (uncertain): the resend,
    under the same id, settles it; the original msg_id comes back if it had been."""
    link = Link()
    link.log_in(heartbeat=30)
    message = link.send("Bob", "during the outage")
    link.to_server()
    # No update (still "…"); the status learns of the outage, and of the wait.
    assert link.from_server(_unavailable(message, True)) == [ServerUnavailable(5.0)]
    assert message.state == SENDING and message.refused == "unconfirmed"
    assert link.core.next_deadline() == pytest.approx(link.now + 5.0)
    link.core.handle_timeout(link.now + 4.9)
    assert link.to_server() == []
    link.core.handle_timeout(link.now + 5.0)
    assert link.to_server() == [SendDirect(message.request_id, "Bob", "during the outage")]
    assert link.from_server(Accepted(message.request_id, 41)) == [ServerUnavailable(None, back=True),
                                                                  MessageUpdate(message, SENT, None)]
    assert message.msg_id == 41 and message.refused is None


def test_an_unavailable_refusal_is_resent_after_a_reconnection_and_counts_across_it() -> None:
    link = Link()
    link.log_in(heartbeat=30)
    message = link.send("Bob", "x")
    link.to_server()
    link.from_server(_unavailable(message, None))
    assert message.refused == "unavailable"
    link.lose()  # before the wait is over: the reconnection resends it at once
    assert link.log_in(reconnected=True) == 1
    assert link.to_server() == [SendDirect(message.request_id, "Bob", "x")]
    for _ in range(UNAVAILABLE_ATTEMPTS - 2):
        link.from_server(_unavailable(message, None))
        assert after_the_hold(link) == [SendDirect(message.request_id, "Bob", "x")]
    assert message.state == SENDING
    # The last answer allowed: nothing was ever done, and it says so; nothing is left to
    # write again, so the status no longer says the client tries.
    updates = link.from_server(_unavailable(message, None))
    assert updates == [ServerUnavailable(None), MessageUpdate(message, FAILED, message.error)]
    assert message.error == (ErrorCode.UNAVAILABLE, "nothing was done")
    link.core.handle_timeout(link.now + 60)
    assert link.to_server() == []  # given up: not written again
    assert link.core.outgoing == {}


def test_giving_up_after_an_uncertain_refusal_says_not_confirmed_never_nothing_was_done() -> None:
    link = Link()
    link.log_in(heartbeat=300)
    message = link.send(None, "in the room")
    link.to_server()
    link.from_server(_unavailable(message, True))  # perhaps stored...
    for attempt in range(UNAVAILABLE_ATTEMPTS - 1):
        assert [e.request_id for e in after_the_hold(link)] == [message.request_id]
        # ... then refused for sure: which says nothing of the first attempt.
        updates = link.from_server(_unavailable(message, None))
    assert message.state == FAILED and updates == [ServerUnavailable(None), MessageUpdate(message, FAILED,
                                                                                          message.error)]
    assert message.error[0] == "unconfirmed" and "nothing was done" not in explain_error(*message.error)
    assert "may or may not" in explain_error(*message.error)


def _given_up_after_an_outage(first_uncertain: bool | None) -> OutgoingMessage:
    """A message to Bob the server answered ``unavailable`` at every try (the first with
    ``uncertain`` = ``first_uncertain``) until the client gave it up: held 5, 10, 20, 30 and
    30 s (the backoff without jitter)."""
    link = Link(heartbeat_interval=300, heartbeat_timeout=600, uniform=lambda low, high: 1.0)
    link.log_in()
    message = link.send("Bob", "during the outage")
    link.to_server()
    link.from_server(_unavailable(message, first_uncertain))
    for _ in range(UNAVAILABLE_ATTEMPTS - 1):
        assert after_the_hold(link) == [SendDirect(message.request_id, "Bob", "during the outage")]
        link.from_server(_unavailable(message, None))
    assert message.state == FAILED
    return message


def _said_in_portuguese(error: tuple[str, str]) -> str:
    import i18n
    from client.display import explain_refusal
    i18n.use("pt_BR")
    try:
        return explain_refusal(error, "Bob")
    finally:
        i18n.use("en")


def test_a_message_given_up_after_unavailable_answers_says_how_long_and_how_often_it_was_tried() -> None:
    """It said only the server's last wait ("...; try again in 5.0 s"), as if the client were
    still trying: now how many times, over how long, and that it was not sent."""
    from client.display import explain_refusal
    message = _given_up_after_an_outage(None)
    said = explain_refusal(message.error, "Bob")
    assert said == ("the server could not store it (its disk is full or failing, or it cannot reach its Redis): "
                    "tried 6 times in 95 s, and it was not sent; send it again later"), said
    said = _said_in_portuguese(message.error)
    assert "6 vezes em 95 s" in said and "não foi enviada" in said, said


def test_a_message_given_up_unconfirmed_says_how_long_and_how_often_it_was_tried() -> None:
    """The "unconfirmed" give-up said only that the server could not tell (and, in English,
    the server's words "(after 6 attempts; ...)" where they were shown raw): now, in the
    language in use, how many times over how long, in the terminal's and the window's words."""
    from client.display import explain_refusal
    from client.gui.model import state_label
    message = _given_up_after_an_outage(True)
    assert message.error[0] == "unconfirmed"
    said = explain_refusal(message.error, "Bob")
    assert said == ("the server's storage did not answer in time: tried 6 times in 95 s, and the server cannot "
                    "tell whether it was stored: it may or may not have been"), said
    assert state_label(FAILED, message.error, "Bob").endswith(said)
    said = _said_in_portuguese(message.error)
    assert "6 vezes em 95 s" in said and "pode ou não ter sido" in said and "attempts" not in said, said


def _rate_limited(request_id: str, wait: float) -> ErrorReply:
    return ErrorReply(ErrorCode.RATE_LIMITED, "later", request_id, wait)


def test_after_rate_limited_every_send_is_held_until_the_wait_then_paced_in_order_with_its_id() -> None:
    link = Link(heartbeat_interval=300, heartbeat_timeout=600)
    link.log_in()
    first = [link.send("Bob", f"m{i}") for i in range(5)]
    assert len(link.to_server()) == 5
    link.from_server(*(_rate_limited(m.request_id, 0.5) for m in first))
    typed = link.send("Bob", "typed during the hold")  # held too: behind the refused ones
    assert typed.state == SENDING and not typed.submitted and not typed.waiting  # connected: not "waiting"
    link.core.handle_timeout(link.now + 0.49)
    assert link.to_server() == []
    link.now += 0.5
    link.core.handle_timeout(link.now)
    written = link.to_server()
    assert written == [SendDirect(first[0].request_id, "Bob", "m0")]  # one, not the six at once
    order = [m.request_id for m in first] + [typed.request_id]
    seen = [e.request_id for e in written]
    while len(seen) < len(order):  # each message taken lets one more go: 1, then 2, 3...
        answered = link.from_server(*(Accepted(e.request_id, 10 + len(seen)) for e in written))
        assert len(answered) == len(written)
        written = link.to_server()
        assert 0 < len(written) <= len(answered) + 1
        seen += [e.request_id for e in written]
    assert seen == order and typed.submitted
    link.from_server(*(Accepted(e.request_id, 30 + i) for i, e in enumerate(written)))
    assert link.send("Bob", "after").submitted and len(link.to_server()) == 1  # no hold: written at once


def test_a_storm_of_rate_limited_answers_gets_a_frame_per_hold_and_the_hold_backs_off_to_its_cap() -> None:
    """The server refuses every frame at once, asking for 0.01 s (what a server told of
    its request rate alone): 150 queued messages must not come back 150 at a time."""
    link = Link(heartbeat_interval=1000, heartbeat_timeout=2000, uniform=lambda low, high: high)
    link.log_in()
    messages = [link.send("Bob", f"big {i}") for i in range(150)]
    ids = {m.request_id for m in messages}
    link.from_server(*(_rate_limited(e.request_id, 0.01) for e in link.to_server()))
    start, writes = link.now, []
    while link.now < start + 300:
        link.now = link.core.next_deadline()
        link.core.handle_timeout(link.now)
        written = [e for e in link.to_server() if not isinstance(e, Ping)]
        writes.append((link.now, len(written)))
        assert {e.request_id for e in written} <= ids  # under the same ids, nothing new
        link.from_server(*(_rate_limited(e.request_id, 0.01) for e in written))
    assert all(count == 1 for _, count in writes)
    holds = [later - earlier for (earlier, _), (later, _) in zip([(start, 0)] + writes, writes)]
    # 0.1 s at least (not 0.01), then doubled times the jitter's top (1.2), up to 30 s.
    assert holds[0] == pytest.approx(0.1) and holds[1] == pytest.approx(0.24)
    assert all(b >= a for a, b in zip(holds, holds[1:])) and max(holds) == pytest.approx(30.0)
    assert sum(1 for when, _ in writes if when < start + 10) <= 8  # was 150 every 0.01 s: 150,000
    assert all(m.state == SENDING for m in messages)  # rate limits are retried while the session lasts


def test_the_backoff_starts_again_once_a_message_is_taken_and_never_waits_less_than_asked() -> None:
    link = Link(heartbeat_interval=1000, heartbeat_timeout=2000, uniform=lambda low, high: low)
    link.log_in()
    message, other = link.send("Bob", "a"), link.send("Bob", "b")
    link.to_server()
    link.from_server(_rate_limited(message.request_id, 2.0), _rate_limited(other.request_id, 3.0))
    assert link.core.next_deadline() == pytest.approx(link.now + 3.0)  # the same burst: the longer wait
    [again] = after_the_hold(link)
    held_at = link.now
    link.from_server(_rate_limited(again.request_id, 2.0))
    assert link.core.next_deadline() == pytest.approx(held_at + 2.0 * 2 * 0.8)  # the second hold in a row
    [again] = after_the_hold(link)
    link.from_server(_rate_limited(again.request_id, 5.0))
    assert link.core.next_deadline() == pytest.approx(link.now + 16.0)  # 5 * 2 ** 2 * 0.8
    [again] = after_the_hold(link)
    link.from_server(_rate_limited(again.request_id, 50.0))
    assert link.core.next_deadline() == pytest.approx(link.now + 50.0)  # above the cap, but what was asked
    [again] = after_the_hold(link)
    link.from_server(Accepted(again.request_id, 1))  # taken: the next refusal waits what it says
    [last] = link.to_server()
    link.from_server(_rate_limited(last.request_id, 2.0))
    assert link.core.next_deadline() == pytest.approx(link.now + 2.0)


def test_held_messages_wait_for_the_connection_once_it_is_lost_and_go_at_once_after_it() -> None:
    link = Link(heartbeat_interval=300, heartbeat_timeout=600)
    link.log_in()
    message = link.send("Bob", "refused")
    link.to_server()
    link.from_server(_rate_limited(message.request_id, 10.0))
    typed = link.send("Bob", "held")
    assert not typed.waiting
    link.lose()
    assert typed.waiting and link.core.next_deadline() is None
    assert link.log_in(reconnected=True) == 2
    assert [e.request_id for e in link.to_server()] == [message.request_id, typed.request_id]
    after = link.send("Bob", "typed on the new connection")  # the old hold is not this one's
    assert after.submitted and [e.request_id for e in link.to_server()] == [after.request_id]


def test_a_message_whose_write_failed_is_withdrawn_as_never_sent() -> None:
    link = Link(reconnect=False)
    link.log_in()
    message = link.send("Bob", "x")
    assert message.submitted
    link.core.set_reason("broken pipe")
    link.core.withdraw(message)
    assert message.state == FAILED and not message.submitted and message.error[0] == "connection_lost"
    assert message.request_id not in link.core.outgoing


def test_at_each_deadline_it_names_the_core_does_what_was_due() -> None:
    # "now - last >= interval" was false to the last bit at some deadlines that
    # "last + interval" named: a shell calling at the deadline got it again, in a loop.
    link = Link(heartbeat_timeout=1e9)
    link.now = 109.80951821403927
    link.log_in(heartbeat=10)
    for _ in range(20):
        due = link.core.next_deadline()
        link.core.handle_timeout(due)
        assert [type(e) for e in link.to_server()] == [Ping] and link.core.next_deadline() > due


@pytest.mark.parametrize("heartbeat, pings_after", [(1, 1), (86399, 86399), (0, const.HEARTBEAT_INTERVAL),
                                                    (86400, const.HEARTBEAT_INTERVAL)])
def test_the_servers_heartbeat_is_taken_from_a_second_to_a_day_else_our_own(heartbeat: int, pings_after: float) -> None:
    link = Link()
    link.log_in(heartbeat=heartbeat)
    assert link.core.ping_after == pings_after


def test_a_silent_server_is_pinged_then_declared_lost() -> None:
    link = Link(heartbeat_timeout=25.0)
    link.log_in(heartbeat=10)
    start = link.now
    assert link.core.next_deadline() == pytest.approx(start + 10)
    link.core.handle_timeout(start + 10)
    assert [type(e) for e in link.to_server()] == [Ping]
    assert link.core.next_deadline() == pytest.approx(start + 20)  # ping again, or give up
    link.now = start + 12
    link.from_server(UserList("x", ()))  # any bytes prove the server is there
    assert link.core.next_deadline() == pytest.approx(start + 22)
    link.core.handle_timeout(start + 36.9)
    assert not link.core.broken
    link.core.handle_timeout(start + 37)
    assert link.core.broken and link.core.close_reason == "no data from the server for 25 s"
    assert link.core.next_events() is None and link.core.may_reconnect()
    # Nothing more is written to the dead connection nor timed on it: what is typed now
    # waits for the next one.
    link.core.data_to_send()  # (the pings written before it)
    later = link.send("Bob", "are you there?")
    assert link.core.data_to_send() == b"" and not later.submitted and later.state == SENDING
    assert link.core.next_deadline() is None
    link.core.handle_timeout(start + 100)  # a shell's late timer: no ping, no second verdict
    assert link.core.data_to_send() == b"" and link.core.close_reason == "no data from the server for 25 s"


def test_after_our_goodbye_no_ping_is_due_only_the_wait_for_the_servers_close() -> None:
    link = Link(heartbeat_timeout=25.0)
    link.log_in(heartbeat=10)
    link.core.close("até logo")
    assert link.core.next_deadline() == pytest.approx(link.now + 25)


# --- Goodbye, and when to reconnect ------------------------------------------------------


@pytest.mark.parametrize("interactive", [False, True])
def test_the_servers_goodbye_ends_the_session_unless_it_is_interactive(interactive: bool) -> None:
    link = Link(reconnect_on_goodbye=interactive)
    link.log_in()
    assert link.from_server(Goodbye("server shutting down")) == [Goodbye("server shutting down")]
    assert link.core.close_reason == "server shutting down"
    link.core.receive_data(b"", link.now)
    assert link.core.next_events() is None
    link.core.connection_lost()
    assert link.core.may_reconnect() is interactive


def test_the_backoff_doubles_up_to_its_cap_and_goes_over_the_servers_in_rounds() -> None:
    exact = backoff(0.5, 4.0, uniform=lambda low, high: 1.0)
    assert list(itertools.islice(exact, 6)) == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    plans = failover([("a", 1), ("b", 2), ("c", 3)], 1, backoff(1.0, 8.0, uniform=lambda low, high: 1.0))
    assert list(itertools.islice(plans, 7)) == [(1, 1.0), (2, 1.0), (0, 1.0), (1, 2.0), (2, 2.0), (0, 2.0),
                                                (1, 4.0)]
    for low in itertools.islice(backoff(jitter=(0.8, 1.2)), 50):
        assert 0.4 <= low <= 30.0


def test_after_sessions_that_end_soon_after_their_login_the_backoff_goes_on_from_further() -> None:
    """A server (or a path to it) that accepts a login and fails soon after: each
    reconnection began its backoff again at the first wait, and every client logged in
    twice a second for as long as it failed. After two or more sessions in a row shorter
    than STABLE_SESSION, each backoff starts one step further on than the last; a session
    that lasted resets it."""
    from client.core import STABLE_SESSION
    link = Link()
    assert link.core.backoff_start(100.0) == 0  # no session yet: a first login's failures
    starts = []
    for _ in range(4):  # each session ends 1 s after its login
        link.log_in(reconnected=True)
        link.now += 1.0
        link.lose()
        starts.append(link.core.backoff_start(link.now))
        link.now += 2.0
    assert starts == [0, 1, 2, 3]  # one short session alone (a blip) changes nothing
    link.log_in(reconnected=True)
    link.now += STABLE_SESSION
    link.lose()
    assert link.core.backoff_start(link.now) == 0  # it lasted: from the first wait again
    exact = backoff(0.5, 30.0, uniform=lambda low, high: 1.0, start=3)
    assert list(itertools.islice(exact, 4)) == [4.0, 8.0, 16.0, 30.0]


def test_a_server_that_said_goodbye_is_tried_after_the_others_which_come_at_once() -> None:
    delays = backoff(1.0, 8.0, uniform=lambda low, high: 1.0)
    plans = failover([("a", 1), ("b", 2), ("c", 3)], 1, delays, leaving=True)
    assert list(itertools.islice(plans, 5)) == [(2, 0.0), (0, 0.0), (1, 1.0), (2, 1.0), (0, 1.0)]
    alone = failover([("a", 1)], 0, backoff(1.0, 8.0, uniform=lambda low, high: 1.0), leaving=True)
    assert list(itertools.islice(alone, 2)) == [(0, 1.0), (0, 2.0)]  # its restart is waited for


def test_each_user_goes_round_the_other_servers_from_a_place_of_its_own() -> None:
    """The users of a lost server do not all go to the same next one (issue 10): ``spread``
    turns the others' order; the lost server still comes first after a drop, and last
    after its goodbye, and each server is tried once a round."""
    servers = [("a", 1), ("b", 2), ("c", 3), ("d", 4)]
    firsts = set()
    for spread in range(6):
        dropped = list(itertools.islice(failover(servers, 1, iter([1.0, 2.0]), spread=spread), 8))
        assert dropped[0] == (1, 1.0) and dropped[4] == (1, 2.0)
        assert sorted(i for i, _ in dropped[:4]) == [0, 1, 2, 3]
        assert [i for i, _ in dropped[1:4]] == [i for i, _ in dropped[5:8]]  # the same order every round
        left = list(itertools.islice(failover(servers, 1, iter([1.0]), leaving=True, spread=spread), 4))
        assert [i for i, _ in left[:3]] == [i for i, _ in dropped[1:4]] and left[3] == (1, 1.0)
        firsts.add(left[0][0])
    assert firsts == {0, 2, 3}  # every other server is someone's first
    assert list(itertools.islice(failover([("a", 1)], 0, iter([1.0, 2.0]), spread=5), 2)) == [(0, 1.0), (0, 2.0)]


def test_a_users_place_in_the_list_is_stable_and_names_spread_over_it() -> None:
    assert spread_start("Alice") == spread_start("ALICE") == spread_start("alice")  # one user
    assert spread_start("João") == spread_start("JOÃO")
    halves = [spread_start(f"user{i}") % 2 for i in range(1000)]
    assert 400 < sum(halves) < 600  # of 1,000 names, a third server gets about half


@pytest.mark.parametrize(("error", "again", "floor"), [
    (ServerUnreachable("refused"), True, 0.0),
    (LoginInterrupted("reset"), True, 0.0),
    (LoginRefused(ErrorCode.NAME_TAKEN, "taken"), True, 0.0),
    (LoginRefused(ErrorCode.RATE_LIMITED, "slow", 3.0), True, 3.0),
    # A node whose Redis is down (or a server whose disk fails) serves again by itself: a
    # client reconnecting meanwhile gave up for good.
    (LoginRefused(ErrorCode.UNAVAILABLE, "cannot save", 5.0), True, 5.0),
    (LoginRefused(ErrorCode.BAD_PASSWORD, "no"), False, 0.0),
    (LoginRefused(ErrorCode.INVALID_NAME, "no"), False, 0.0),
    (CertificateError("cannot verify"), False, 0.0),
])
def test_which_failures_are_worth_another_attempt(error: Exception, again: bool, floor: float) -> None:
    assert retry_verdict(error) == (again, floor)


def test_a_failed_reconnection_says_the_next_attempts_reason_or_why_the_session_ends() -> None:
    """The threaded and the asyncio client say a failed reconnection by one rule: a refusal
    worth another attempt in the user's words (naming the server where the list holds two
    alike), an unreachable server in its own, a final refusal with its code."""
    servers = [("chat.example", 5000), ("chat.example", 5001)]
    again, floor, said = reconnection_failed(LoginRefused(ErrorCode.NAME_TAKEN, "the name 'Alice' is in use", 2.0),
                                             "Alice", servers, 1)
    assert (again, floor) == (True, 2.0), (again, floor)
    assert said.startswith("login refused by chat.example:5001: the name Alice is yours, but a session of yours "), said
    assert said.endswith("; the client tries again by itself"), said
    assert reconnection_failed(LoginRefused(ErrorCode.RATE_LIMITED, "slow", 3.0), "Alice", [("a", 1)], 0) == \
        (True, 3.0, "login refused: too many attempts; the client tries again by itself")
    assert reconnection_failed(ServerUnreachable("connection refused"), "Alice", servers, 0) == \
        (True, 0.0, "connection refused")
    assert reconnection_failed(LoginRefused(ErrorCode.BAD_PASSWORD, "wrong password"), "Alice", servers, 0) == \
        (False, 0.0, "could not log in again: wrong password (bad_password)")


# --- The server list (client/servers.py) -------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("chat.example:5001", ("chat.example", 5001)),
    ("chat.example", ("chat.example", 5000)),
    ("[::1]:6000", ("::1", 6000)),
    ("::1", ("::1", 5000)),
])
def test_a_server_is_host_colon_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_server(text, default_port=5000) == expected


@pytest.mark.parametrize("text", [":5000", "host:0", "host:99999", "host:x", "[::1]x"])
def test_a_bad_server_address_is_refused_with_the_reason(text: str) -> None:
    with pytest.raises(ValueError, match="not a server address"):
        parse_server(text)


def test_hosts_and_ports_pair_up_into_the_server_list() -> None:
    assert server_list([], [], ["a:1", "b:2"]) == [("a", 1), ("b", 2)]
    assert server_list(["a"], [1, 2]) == [("a", 1), ("a", 2)]
    assert server_list(["a", "b"], [3]) == [("a", 3), ("b", 3)]
    assert server_list(["a", "b"], [1, 2]) == [("a", 1), ("b", 2)]
    assert server_list([], []) == list(const.SERVERS)
    with pytest.raises(ValueError, match="do not pair up"):
        server_list(["a", "b"], [1, 2, 3])
    with pytest.raises(ValueError, match="not both"):
        server_list(["a"], [], ["b:2"])


@pytest.mark.parametrize(("words", "expected"), [
    (["127.0.0.1", "5001"], [("127.0.0.1", 5001)]),
    (["localhost", "5001", "b:2"], [("localhost", 5001), ("b", 2)]),
    (["::1", "6000"], [("::1", 6000)]),
    (["a:1", "b", "2"], [("a", 1), ("b", 2)]),
])
def test_a_host_and_its_port_may_be_two_words_as_in_the_original_assignments(
        words: list[str], expected: list[tuple[str, int]]) -> None:
    # "chatclient.py Alice 127.0.0.1 5001" took 5001 for a second server's host name.
    assert server_list([], [], words) == expected


@pytest.mark.parametrize("words", [["5001"], ["a:1", "5001"], ["a", "5001", "5002"]])
def test_a_port_alone_asks_whether_host_colon_port_was_meant(words: list[str]) -> None:
    with pytest.raises(ValueError, match=rf"a port alone; did you mean {const.SERVER_HOST}:500\d\?"):
        server_list([], [], words)


@pytest.mark.parametrize(("name", "words", "expected"), [
    ("Alice", ["127.0.0.1", "5001"], ("Alice", ["127.0.0.1", "5001"])),  # NAME HOST PORT
    ("127.0.0.1", ["5001", "Alice"], ("Alice", ["127.0.0.1", "5001"])),  # HOST PORT NAME
    ("chat.example", ["5001", "joao.silva"], ("joao.silva", ["chat.example", "5001"])),
    ("127.0.0.1", ["5001"], ("", ["127.0.0.1", "5001"])),  # HOST PORT: the name is asked
    ("localhost", ["5001"], ("", ["localhost", "5001"])),
    ("Alice", ["5001"], ("Alice", ["5001"])),  # a name and a port alone: a mistake, said so
    ("Alice", ["a:1", "b:2"], ("Alice", ["a:1", "b:2"])),
    ("Alice", [], ("Alice", [])),
])
def test_the_name_is_found_in_the_orders_of_the_original_assignments(
        name: str, words: list[str], expected: tuple[str, list[str]]) -> None:
    assert positionals(name, words) == expected


# --- The one table of login refusals -----------------------------------------------------


def test_every_front_end_reads_a_login_refusal_from_one_table() -> None:
    from client.auth import AUTH_CODES
    from client.core import RETRY_LOGIN, login_outcome

    assert RETRY_LOGIN == {"name_taken", "server_full", "too_many_connections", "rate_limited", "unavailable"}
    assert AUTH_CODES == {"auth_required", "bad_password", "rate_limited", "accounts_required", "weak_password",
                          "account_exists"}
    fields = {code: login_outcome(code).field for code in ("bad_password", "auth_required", "weak_password",
                                                            "name_taken", "invalid_name", "confusable_name",
                                                            "account_exists", "server_full", "no_such_code")}
    assert fields == {"bad_password": "password", "auth_required": "password", "weak_password": "password",
                      "name_taken": "name", "invalid_name": "name", "confusable_name": "name",
                      "account_exists": "name", "server_full": None, "no_such_code": None}


def test_the_same_events_come_out_whatever_the_reads_are_cut_into() -> None:
    frames = [direct(1, "über"), Delivered("earlier-3", 50), direct(2, "🌍")]
    whole = Link()
    whole.log_in()
    expected = whole.from_server(*frames)
    assert expected == frames
    for size in (1, 2, 3, 7):
        link = Link()
        link.log_in()
        data = b"".join(link.server.send(frame) for frame in frames)
        handed: list[Event] = []
        for start in range(0, len(data), size):
            link.core.receive_data(data[start:start + size], link.now)
            while (items := link.core.next_events()) is not None:
                handed += items
                link.core.handed_on()
        assert handed == expected, size
        # Acks go out in one batch once a read is used up, so only the set is fixed.
        assert sorted(map(repr, link.to_server())) == sorted(map(repr, [Receipt(1), Receipt(2), OutcomeAck(50)]))


@pytest.mark.parametrize(("error", "untried", "verdict"), [
    (LoginInterrupted("cut during the login"), 0, "retry"),
    (ServerUnreachable("connection refused"), 1, "next"),
    (ServerUnreachable("connection refused"), 0, "fail"),
    (CertificateError("cannot verify"), 1, "fail"),
    (LoginRefused(ErrorCode.NAME_TAKEN, "taken"), 1, "fail"),
])
def test_what_a_first_login_does_after_a_failure(error: Exception, untried: int, verdict: str) -> None:
    assert first_login_verdict(error, untried) == verdict


# --- Rooms (protocol version 2) and falling back to version 1 ---------------------------


def test_the_hello_offers_version_2_and_falls_back_once_per_version_on_unsupported_version() -> None:
    core = ClientCore()
    assert core.hello("Alice", None, False, None).version == const.PROTOCOL_VERSION == 2
    assert not core.fall_back(ErrorCode.NAME_TAKEN)  # other refusals stand
    assert core.hello("Alice", None, False, None).version == 2
    assert core.fall_back(ErrorCode.UNSUPPORTED_VERSION)
    assert core.hello("Alice", None, False, None).version == 1
    assert not core.fall_back(ErrorCode.UNSUPPORTED_VERSION)  # nothing older to offer


def test_a_room_message_is_resent_with_its_id_and_is_final_once_accepted() -> None:
    link = Link()
    link.log_in(version=2)
    assert link.core.rooms
    message = OutgoingMessage(link.core.new_request_id(), None, "olá, turma", room="#redes")
    link.core.submit(message)
    assert link.to_server() == [SendToRoom(message.request_id, "#redes", "olá, turma")]
    link.lose()
    assert link.log_in(reconnected=True, version=2) == 1
    assert link.to_server() == [SendToRoom(message.request_id, "#redes", "olá, turma")]
    assert link.from_server(Accepted(message.request_id, 90)) == [MessageUpdate(message, SENT)]
    assert (message.state, message.msg_id, message.done) == (SENT, 90, True)
    assert link.from_server(Accepted(message.request_id, 90)) == []  # the answer to a late resend: quiet


def test_a_room_post_sent_again_is_handed_on_once() -> None:
    link = Link()
    link.log_in(version=2)
    post = RoomPost(90, "Bob", "#redes", "olá", 1.0)
    notice = RoomNotice("#redes", "joined", "Mia", 2.0)
    assert link.from_server(post, notice, post) == [post, notice]
    assert link.from_server(RoomPost(91, "Bob", "#redes", "again", 3.0))[0].msg_id == 91


def test_room_requests_are_matched_to_their_callers() -> None:
    link = Link()
    link.log_in(version=2)
    pending = link.core.request(JoinRoom(link.core.new_request_id(), "#redes"), RoomInfo)
    assert link.to_server() == [JoinRoom(pending.request_id, "#redes")]
    info = RoomInfo(pending.request_id, "#redes", 3, topic="prova", owner="Olga")
    assert link.from_server(info, RoomInfo("other", "#x", 1)) == [RoomInfo("other", "#x", 1)]
    assert (pending.answered, pending.answer) == (True, info)


def test_a_session_at_version_1_has_no_rooms_and_a_room_message_fails_locally() -> None:
    link = Link()
    link.log_in(version=1)
    assert not link.core.rooms and "version 1" in (link.core.rooms_problem() or "")
    message = OutgoingMessage(link.core.new_request_id(), None, "olá", room="#redes")
    link.core.submit(message)
    assert (message.state, message.submitted, message.error[0]) == (FAILED, False, ErrorCode.UNSUPPORTED_VERSION)
    assert link.to_server() == []


def test_a_waiting_room_message_fails_with_an_update_when_the_new_session_has_no_rooms() -> None:
    link = Link()
    link.log_in(version=2)
    link.lose()
    message = OutgoingMessage(link.core.new_request_id(), None, "olá", room="#redes")
    link.core.submit(message)
    assert message.waiting
    assert link.log_in(reconnected=True, version=1) == 0
    assert link.to_server() == []
    assert link.core.next_events() == [MessageUpdate(message, FAILED, message.error)]
    assert message.error[0] == ErrorCode.UNSUPPORTED_VERSION


# --- Feature batch_acks: one receipt and one ack per read -------------------------------


def test_with_batch_acks_a_reads_receipts_and_acks_go_as_one_frame_each_at_its_end() -> None:
    link = Link()
    assert BATCH_ACKS in link.core.hello("Alice", None, False, None).features
    link.log_in(features=(BATCH_ACKS,))
    message = link.send("Bob", "x")
    link.to_server()
    # One read: three direct messages and an outcome. Nothing is written while the
    # application is handed them; at the end of the read, the receipts then the ack.
    link.core.receive_data(b"".join(link.server.send(event) for event in (
        direct(5), Accepted(message.request_id, 3), direct(6), Delivered(message.request_id, 3), direct(7))),
        link.now)
    for _ in range(5):
        assert link.core.next_events() is not None
        link.core.handed_on()
        assert link.core.data_to_send() == b""  # not one frame per event
    assert link.core.next_events() is None  # the end of the read
    assert link.to_server() == [Receipts((5, 6, 7)), OutcomeAck(3)]
    # A read with one of each: the single forms (the shorter frames).
    assert link.from_server(direct(8)) == [direct(8)]
    assert link.to_server() == [Receipt(8)]
    # A message shown before is confirmed again, in the batch, and not handed on twice.
    assert link.from_server(direct(8), direct(9), Delivered("earlier-1", 40), Delivered("earlier-1", 41)) == [
        direct(9), Delivered("earlier-1", 40), Delivered("earlier-1", 41)]
    assert link.to_server() == [Receipts((8, 9)), OutcomeAcks((40, 41))]


def test_without_batch_acks_in_the_welcome_each_receipt_and_ack_goes_alone() -> None:
    link = Link()
    link.log_in()  # an older server: the welcome does not name the feature
    assert link.from_server(direct(5), direct(6), Delivered("earlier-1", 40), Delivered("earlier-1", 41)) == [
        direct(5), direct(6), Delivered("earlier-1", 40), Delivered("earlier-1", 41)]
    assert link.to_server() == [Receipt(5), Receipt(6), OutcomeAck(40), OutcomeAck(41)]


def test_batched_receipts_keep_to_the_limit_per_frame_and_to_their_connection() -> None:
    link = Link()
    link.log_in(features=(BATCH_ACKS,))
    ids = range(1, MAX_IDS_PER_FRAME + 3)
    link.from_server(*(direct(msg_id) for msg_id in ids))
    assert link.to_server() == [Receipts(tuple(ids)[:MAX_IDS_PER_FRAME]), Receipts(tuple(ids)[MAX_IDS_PER_FRAME:])]
    # Handed on, not yet written, and the connection is lost: not written on the next one
    # (that server sends the message again, and it is confirmed then).
    link.core.receive_data(link.server.send(direct(5000)), link.now)
    assert link.core.next_events() == [direct(5000)]
    link.core.handed_on()
    link.lose()
    link.log_in(reconnected=True, features=(BATCH_ACKS,))
    assert Receipt(5000) not in link.to_server()
    assert link.from_server(direct(5000)) == []  # shown already
    assert link.to_server() == [Receipt(5000)]


def test_close_sends_the_batched_receipts_and_acks_before_its_goodbye() -> None:
    link = Link()
    link.log_in(features=(BATCH_ACKS,))
    link.core.receive_data(b"".join(link.server.send(event) for event in (
        direct(5), direct(6), Delivered("earlier-2", 41))), link.now)
    for _ in range(3):
        link.core.next_events()
        link.core.handed_on()
    assert link.core.close("bye")
    assert link.to_server() == [Receipts((5, 6)), OutcomeAck(41), Goodbye("bye")]


def test_the_hello_tells_the_highest_named_room_post_handed_on() -> None:
    # A reconnection asks the server for the room posts after the last one shown
    # (PROTOCOL.md, "Room messages cut mid-stream"); nothing shown yet: the field is left out.
    link = Link()
    assert link.core.hello("Alice", None, False, None).room_seen is None
    link.log_in(version=2)
    link.from_server(RoomPost(90, "Bob", "#redes", "olá", 1.0), RoomPost(95, "Bob", "#lab", "oi", 2.0),
                     RoomPost(90, "Bob", "#redes", "olá", 1.0))
    link.lose()
    assert link.core.hello("Alice", None, False, None).room_seen == 95
    # A server of version 1 has no rooms: the field is not offered to it.
    assert link.core.fall_back(ErrorCode.UNSUPPORTED_VERSION)
    assert link.core.hello("Alice", None, False, None).room_seen is None


def test_the_hello_tells_until_when_the_last_session_was_heard_on_the_servers_clock() -> None:
    # A device away while another session of its user stayed online missed the edits and
    # deletes of the posts it had: its next hello says until when it heard its last session
    # (PROTOCOL.md, "Changes a device missed"), on the server's clock: the welcome's now,
    # moved on by the shell's clock to the last bytes read. Our wall clock plays no part.
    link = Link()
    link.log_in(version=2, server_now=1_795_000_000_000)
    link.now += 42.5
    link.from_server(RoomPost(90, "Bob", "#redes", "olá", 1.0))
    link.now += 600.0  # silent, then the connection breaks: the last bytes came at +42.5 s
    link.lose()
    hello = link.core.hello("Alice", None, False, None)
    assert (hello.room_seen, hello.last_heard) == (90, 1_795_000_042_500)
    # The next session's welcome sets the clock again; an older server's, which says no
    # time, leaves nothing to say (the server then tells what it told before).
    link.log_in(version=2)
    link.lose()
    assert link.core.hello("Alice", None, False, None).last_heard is None
    # Never past the wire's integers, whatever a server said its clock was.
    link.log_in(version=2, server_now=2 ** 53 - 1)
    link.now += 10.0
    link.from_server(RoomPost(91, "Bob", "#redes", "oi", 2.0))
    link.lose()
    assert link.core.hello("Alice", None, False, None).last_heard == 2 ** 53 - 1


def test_the_hello_says_until_when_it_heard_also_without_a_room_post_seen() -> None:
    # The changes of the user's direct messages count too (PROTOCOL.md, "Changes a device
    # missed"), at any version; the first hello of a client has nothing to say.
    link = Link()
    assert link.core.hello("Alice", None, False, None).last_heard is None
    link.log_in(version=1, server_now=1_795_000_000_000)
    link.now += 3.0
    link.from_server(direct(5))
    link.lose()
    hello = link.core.hello("Alice", None, False, None)
    assert (hello.room_seen, hello.last_heard) == (None, 1_795_000_003_000)


def test_a_room_post_not_handed_on_is_not_counted_as_seen() -> None:
    # The shell hands each read's events on and then calls handed_on(); a connection cut
    # before that leaves the post unseen, so the next hello asks for it again.
    link = Link()
    link.log_in(version=2)
    link.from_server(RoomPost(90, "Bob", "#redes", "one", 1.0))
    assert link.server is not None
    link.core.receive_data(link.server.send(RoomPost(91, "Bob", "#redes", "two", 2.0)), link.now)
    assert [e.msg_id for e in link.core.next_events() or ()] == [91]  # read, not yet handed on
    link.lose()
    assert link.core.hello("Alice", None, False, None).room_seen == 90


def test_a_connection_closed_before_any_frame_without_tls_suggests_tls() -> None:
    # A TLS server closes a plain-text connection without a word: the client's error
    # says it may be one, true whatever the server is; never with TLS, or once it spoke.
    def closed(tls: bool, first: bytes = b"") -> str:
        attempt = LoginAttempt(Hello("h", "Alice", const.PROTOCOL_VERSION), tls)
        if first:
            attempt.receive_data(first)
            assert attempt.step("127.0.0.1:21020") is None
        attempt.receive_data(b"")
        with pytest.raises(ServerUnreachable) as raised:
            attempt.step("127.0.0.1:21020")
        return str(raised.value)

    assert closed(tls=False) == ("127.0.0.1:21020 closed the connection during the login, before answering "
                                 "(if it is a TLS server, connect with --tls)")
    assert closed(tls=True) == "127.0.0.1:21020 closed the connection during the login"
    ping = Connection(Role.SERVER).send(Ping())
    assert closed(tls=False, first=ping) == "127.0.0.1:21020 closed the connection during the login"


# --- The read receipts switch, changed by another session of the user ---------------------


def test_the_switch_follows_the_servers_settings_frame_and_a_forbidden_without_id_quietly() -> None:
    """Another device turned receipts off: the server says so with a settings frame, or a
    read sent before that came is refused forbidden without id. Either way the switch is
    off, the application is told once in the client's words (a Settings), never the
    server's English; a settings that changes nothing says nothing."""
    link = Link()
    link.log_in(read_receipts=True)
    assert link.core.read_receipts is True
    refused = ErrorReply(ErrorCode.FORBIDDEN, "your read receipts are off, so 'read' is too: turn them on with settings")
    assert link.from_server(refused) == [Settings(None, False)]
    assert link.core.read_receipts is False
    assert link.from_server(Settings(None, False), refused) == []  # the news that came after: nothing new
    assert link.from_server(Settings(None, True)) == [Settings(None, True)]
    assert link.core.read_receipts is True
    # A refusal of a request (with its id) is its request's, not the switch's.
    assert link.from_server(ErrorReply(ErrorCode.FORBIDDEN, "not yours", "r9")) == \
        [ErrorReply(ErrorCode.FORBIDDEN, "not yours", "r9")]
    assert link.core.read_receipts is True
    # A new session starts from its welcome.
    link.lose()
    link.log_in(reconnected=True, read_receipts=False)
    assert link.core.read_receipts is False


def test_a_session_without_read_receipts_hands_on_what_it_gets() -> None:
    link = Link()
    link.log_in()  # no read feature: the welcome has no read_receipts
    refused = ErrorReply(ErrorCode.FORBIDDEN, "x")
    assert link.from_server(refused) == [refused] and link.core.read_receipts is None


def _sends(link: Link) -> list[Event]:
    """The messages the client wrote (not its history requests, watches or pings)."""
    return [e for e in link.to_server() if isinstance(e, (SendDirect, SendToRoom))]


def test_a_reconnection_resends_a_few_at_once_and_the_rest_paced_by_the_rule_of_a_hold() -> None:
    """150 messages queued during a full disk's episode: the reconnection writes the first
    few at once (as it does the usual one to three), the rest one more for each taken, and
    a rate_limited answer holds the rest as it does any time, not 150 frames at once."""
    link = Link(heartbeat_interval=300, heartbeat_timeout=600)
    link.log_in()
    link.lose()
    few = [link.send("Bob", f"few {i}") for i in range(3)]
    assert link.log_in(reconnected=True) == 3
    assert [e.request_id for e in _sends(link)] == [m.request_id for m in few]  # at once
    link.from_server(*(Delivered(m.request_id, 1 + i) for i, m in enumerate(few)))
    link.lose()
    many = [link.send("Bob", f"queued {i}") for i in range(150)]
    assert link.log_in(reconnected=True) == 150
    written = _sends(link)
    assert [e.request_id for e in written] == [m.request_id for m in many[:4]]  # not 150
    link.from_server(Accepted(written[0].request_id, 100))
    more = _sends(link)
    assert [e.request_id for e in more] == [m.request_id for m in many[4:6]]  # the window grew by one
    link.from_server(*(_rate_limited(e.request_id, 1.0) for e in written[1:] + more))
    assert _sends(link) == []  # held, as after any rate_limited
    order = [e.request_id for e in written[:1]]
    written = after_the_hold(link)
    assert [e.request_id for e in written] == [many[1].request_id]  # one after a hold, under its id
    while written:
        assert len(written) <= PACE_WINDOW
        order += [e.request_id for e in written]
        link.from_server(*(Accepted(e.request_id, 200 + len(order) + i) for i, e in enumerate(written)))
        written = _sends(link)
    assert order == [m.request_id for m in many] and all(m.state == SENT for m in many)


def test_the_status_learns_of_an_unavailable_server_from_its_answers_and_when_it_answers_again() -> None:
    """A cluster whose Redis is down answers every message unavailable: the core tells the
    front ends (their status: "unavailable, trying again in N s") once per hold, with the
    wait, and that it is over once a message is taken; rate limits alone tell nothing."""
    link = Link(heartbeat_interval=300, heartbeat_timeout=600, uniform=lambda low, high: 1.0)
    link.log_in()
    first, second = link.send("Bob", "one"), link.send("Bob", "two")
    link.to_server()
    assert link.from_server(_unavailable(first, None)) == [ServerUnavailable(5.0)]
    assert link.from_server(_unavailable(second, None)) == []  # the same hold: said already
    assert [e.request_id for e in after_the_hold(link)] == [first.request_id]
    assert link.from_server(_unavailable(first, None)) == [ServerUnavailable(10.0)]  # the next hold, backed off
    assert [e.request_id for e in after_the_hold(link)] == [first.request_id]
    assert link.from_server(Accepted(first.request_id, 7)) == [ServerUnavailable(None, back=True),
                                                              MessageUpdate(first, SENT, None)]
    link.from_server(Accepted(link.to_server()[0].request_id, 8))
    third = link.send("Bob", "three")
    link.to_server()
    assert link.from_server(_rate_limited(third.request_id, 1.0)) == []  # not an outage


@pytest.mark.parametrize("code", [ErrorCode.PASSWORD_RESET, ErrorCode.PASSWORD_CHANGED])
def test_a_session_signed_out_for_its_password_is_not_restored_with_the_old_one(code: str) -> None:
    """The operator's /password NAME (or a change on another device) ends the session with
    an error of its own, then bye: an interactive client, which logs in again after a bye,
    logged in with the old password and gave up with "wrong password"."""
    link = Link(reconnect_on_goodbye=True)
    link.log_in()
    reason = const.PASSWORD_RESET_REASON if code == ErrorCode.PASSWORD_RESET else const.PASSWORD_CHANGED_REASON
    handed = link.from_server(ErrorReply(code, "log in again with the new one"), Goodbye(reason))
    assert [type(e) for e in handed] == [ErrorReply, Goodbye] and handed[0].code == code
    assert link.core.signed_out == code and not link.core.may_reconnect()
    assert "log in again with the new password" in link.core.close_reason
    link.lose()
    link.log_in()  # the user's new login: a new session, not signed out
    assert link.core.signed_out is None and link.core.may_reconnect()


def test_a_session_whose_account_was_deleted_ends_without_logging_in_again_and_keeps_no_credential() -> None:
    link = Link(reconnect_on_goodbye=True)
    link.log_in()
    link.core.credential._secret = "a resume credential"  # (as an account's welcome leaves it)
    handed = link.from_server(ErrorReply(ErrorCode.ACCOUNT_DELETED, "this account was deleted"),
                              Goodbye(const.ACCOUNT_DELETED_REASON))
    assert [type(e) for e in handed] == [ErrorReply, Goodbye]
    assert not link.core.may_reconnect() and link.core.credential.secret is None
    assert link.core.signed_out is None  # deleted, not signed out for a password


def test_only_a_delivered_or_an_expired_tells_an_outcome_to_acknowledge() -> None:
    from client.core import outcome_of
    assert outcome_of(Delivered("r1", 7)) == 7
    assert outcome_of(ErrorReply(ErrorCode.EXPIRED, "expired", "r2", msg_id=8)) == 8
    assert outcome_of(ErrorReply(ErrorCode.UNKNOWN_MESSAGE, "no such message", "r3", msg_id=9)) is None
    assert outcome_of(None) is None


# --- Feature blocks: a block or unblock made on another device --------------------------


def test_the_core_asks_for_blocks_and_hands_on_a_block_made_on_another_device() -> None:
    from protocol import BLOCKS_FEATURE, Blocked, Unblocked
    link = Link()
    assert BLOCKS_FEATURE in link.core.hello("Alice", None, False, None).features
    link.log_in(features=(BLOCKS_FEATURE,))
    link.to_server()
    assert link.from_server(Blocked("Mallory"), Unblocked("zed")) == [Blocked("Mallory"), Unblocked("zed")]
    assert link.to_server() == []  # needs no answer


# --- The server's clock (PROTOCOL.md, "welcome": now) ----------------------------------------


def test_the_core_takes_the_servers_time_from_the_welcome_and_every_pong() -> None:
    """client/serverclock.py: the welcome's ``now`` and each pong's, as they come."""
    from client.serverclock import SERVER_CLOCK
    link = Link()
    link.log_in(server_now=1_795_000_000_000)
    assert abs(SERVER_CLOCK.now() - 1_795_000_000.0) < 1.0
    assert link.from_server(Pong("c1", now=1_795_000_120_000)) in ([], [Pong("c1", now=1_795_000_120_000)])
    assert abs(SERVER_CLOCK.now() - 1_795_000_120.0) < 1.0


def test_a_text_of_the_limit_goes_and_one_character_more_fails_here_saying_why() -> None:
    link = Link()
    link.log_in()
    longest = link.send("Bob", "a" * const.MAX_TEXT_CHARS)
    assert longest.submitted and [type(e) for e in link.to_server()] == [SendDirect]
    over = link.send("Bob", "a" * (const.MAX_TEXT_CHARS + 1))
    assert over.state == FAILED and not over.submitted and over.error[0] == ErrorCode.MESSAGE_TOO_LARGE
    assert link.to_server() == []  # refused here: no round trip


def test_the_feature_since_is_used_only_with_a_server_that_offers_it() -> None:
    link = Link()
    link.log_in(features=(SINCE_FEATURE,))
    assert link.core.since
    link.lose()
    link.log_in(reconnected=True)  # a server of the version before (or another node) offers none
    assert not link.core.since


def test_a_malformed_frame_from_the_server_is_handed_on_but_not_after_our_goodbye() -> None:
    link = Link()
    link.log_in()
    link.core.receive_data(b'{"type":"dm","msg_id":"one"}\n', link.now)
    assert [type(e) for e in link.core.next_events() or ()] == [FrameRejected]
    link.core.handed_on()
    link.core.close("até logo")
    link.core.receive_data(b'{"type":"dm","msg_id":"two"}\n', link.now)
    assert link.core.next_events() == []  # a frame in flight when we said goodbye: not news


def test_a_login_refused_for_a_string_too_long_is_said_in_the_users_words() -> None:
    """A server's refusal of a hello's password (or name) too long carries its field and
    limit; the LoginRefused dropped them, and every client said the server's English
    ("login refused: 'password' is 1025 characters long; the limit is 1024 (bad_field)")."""
    from client.display import login_refused_words
    from i18n import use
    attempt = LoginAttempt(Hello("h", "Alice", const.PROTOCOL_VERSION))
    attempt.receive_data(Connection(Role.SERVER).send(ErrorReply(
        ErrorCode.BAD_FIELD, "'password' is 1025 characters long; the limit is 1024", "h", field="password",
        max_chars=1024)))
    with pytest.raises(LoginRefused) as refused:
        attempt.step("127.0.0.1:21020")
    try:
        use("pt_BR")
        assert login_refused_words(refused.value) == \
            "login recusado: a senha é longa demais: no máximo 1024 caracteres"
    finally:
        use("en")


def test_a_login_refused_as_a_look_alike_of_a_reserved_word_says_it_is_reserved() -> None:
    """The LoginRefused keeps the error's ``reserved``: the terminal said "if 'all' is yours,
    type it exactly so" of a word nobody holds."""
    from client.display import login_refused_words
    attempt = LoginAttempt(Hello("h", "ALI", const.PROTOCOL_VERSION))
    attempt.receive_data(Connection(Role.SERVER).send(ErrorReply(
        ErrorCode.CONFUSABLE_NAME, "server words", "h", like="all", reserved=True)))
    with pytest.raises(LoginRefused) as refused:
        attempt.step("127.0.0.1:21020")
    assert refused.value.reserved is True
    assert login_refused_words(refused.value, "ALI") == \
        "login refused: the name ALI looks too much like all, a word reserved for the server: choose another name"


def test_a_password_too_long_is_refused_before_the_hello_in_the_users_words() -> None:
    core = ClientCore()
    with pytest.raises(LoginRefused) as refused:
        core.hello("Alice", "p" * (const.MAX_PASSWORD_CHARS + 1), False, None)
    assert refused.value.local and refused.value.message == "the password is too long: at most 1024 characters"
    assert core.hello("Alice", "p" * const.MAX_PASSWORD_CHARS, False, None).password == "p" * const.MAX_PASSWORD_CHARS


def test_a_login_refused_for_a_name_of_too_many_bytes_says_so() -> None:
    """32 characters of decomposed Hangul are over 256 bytes of UTF-8: the server refuses the
    name with "max_bytes", which the LoginRefused dropped, and every client said the sentence
    about letters, digits and symbols, none of which was wrong with the name."""
    from client.display import login_refused_words
    from i18n import use
    attempt = LoginAttempt(Hello("h", "Alice", const.PROTOCOL_VERSION))
    attempt.receive_data(Connection(Role.SERVER).send(ErrorReply(
        ErrorCode.INVALID_NAME, "the name is longer than 256 bytes", "h", field="name", max_bytes=256)))
    with pytest.raises(LoginRefused) as refused:
        attempt.step("127.0.0.1:21020")
    assert login_refused_words(refused.value) == (
        "login refused: the name is too long: at most 256 bytes of UTF-8 (a letter takes 1 to 4, one made of "
        "several parts more); choose a shorter one")
    try:
        use("pt_BR")
        assert login_refused_words(refused.value) == (
            "login recusado: o nome é longo demais: no máximo 256 bytes em UTF-8 (uma letra ocupa de 1 a 4, e uma "
            "feita de várias partes, mais); escolha um mais curto")
    finally:
        use("en")


def test_a_leave_answered_late_as_unconfirmed_is_handed_on_so_the_room_is_not_left_being_left() -> None:
    """A /leave timed out, then the server's late answer: ``unavailable`` with ``uncertain``
    (it cannot tell whether the leave was done). Nothing was handed on, so the terminal and
    the window kept the room "being left" (no read marks nor typing notices for it, another
    device's later leave taken for ours) until a "left" or a reconnection."""
    from client.events import AnsweredLate
    from client.library import _said_late
    from protocol import LeaveRoom
    link = Link()
    link.log_in(version=2)
    request = LeaveRoom(link.core.new_request_id(), "#redes")
    gave_up = link.core.request(request, Done)
    link.core.stop_waiting(gave_up, late=_said_late(request))
    late = ErrorReply(ErrorCode.UNAVAILABLE, "redis", request.request_id, uncertain=True)
    assert link.from_server(late) == [AnsweredLate("leave", False, ErrorCode.UNAVAILABLE, "redis", request,
                                                   uncertain=True)]


def test_a_port_that_answers_something_else_is_said_without_the_codecs_english() -> None:
    """python3 chatclient.py Bob 127.0.0.1:8080 (the page's port, not the chat's), in pt_BR,
    said "127.0.0.1:8080 não fala este protocolo de chat (bad_json: frame is not valid JSON:
    Expecting value: line 1 column 1 (char 0))": a codec's English, and no hint of what was
    wrong. It says which ports it may be instead."""
    from i18n import use
    attempt = LoginAttempt(Hello("h", "Bob", const.PROTOCOL_VERSION))
    attempt.receive_data(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    try:
        use("pt_BR")
        with pytest.raises(ServerUnreachable) as unreachable:
            attempt.step("127.0.0.1:8080")
    finally:
        use("en")
    assert str(unreachable.value) == (
        "127.0.0.1:8080 não fala este protocolo de chat: o que ele respondeu não é do chat (é a porta do cliente "
        f"web, ou de outro programa? o chat usa a porta {const.SERVER_PORT}, a menos que o servidor diga outra)")
