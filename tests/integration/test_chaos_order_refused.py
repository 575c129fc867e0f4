"""A conversation's order when the store refuses one of two pipelined messages: the
minimal form of the cluster chaos run's order violation (tests/integration/test_chaos.py).

A client writes its messages without waiting for each answer (client/core.py). In the
chaos run, a node's Redis connection was down for the first of a sender's messages
(answered ``unavailable``, nothing done) and up again for the next one, already written:
stored, accepted, delivered. The first one's resend was then stored after it, and its
recipient shown them in the wrong order. Here the store refuses exactly one operation, as
a Redis that comes back between two commands does, deterministically. The rule that
keeps the order (server/sendorder.py) is tried here for direct messages, the default
room, a rate limit's refusal, and the shipped client's resends."""

from __future__ import annotations

import pytest

from protocol import Accepted, DirectMessage, ErrorCode, ErrorReply, Receipt, RoomMessage, SendDirect, SendRoom
from server import ServerThread
from server.store import StoreUnavailable
from test_durability import NOTICES, config
from test_storage_failures import server  # noqa: F401  (a fixture)
from logins import library_login, login
from waits import wait_until


def refuse_the_next_store(server, method: str = "store_fields") -> None:  # noqa: F811
    """The server's next call of the store's ``method`` (store_fields: a direct message;
    store_message: a room's) fails as a command never written to Redis does."""
    store = server.server.store
    original = getattr(store, method)

    def once(fields, callback=None, on_error=None):
        setattr(store, method, original)
        on_error(StoreUnavailable("connection refused (for the test)"))

    server.call(lambda: setattr(store, method, once))


def refuse_the_next_request(server, name: str, wait: float) -> None:  # noqa: F811
    """The rate limit of ``name``'s session refuses its next request (``wait`` s), then
    lets everything pass: as a bucket that refills between two frames does."""
    relay = server.server.relay

    class Once:  # a TokenBucket's two methods the relay calls
        refused = False

        def take_one(self, now: float) -> float:
            if self.refused:
                return 0.0
            self.refused = True
            return wait

        def wait(self, now: float) -> float:
            return 0.0 if self.refused else wait

    def install() -> None:
        (session,) = [s for s in relay.sessions if s.name == name]
        session.bucket = Once()

    server.call(install)


def test_a_message_after_a_refused_one_is_not_shown_before_it(server):  # noqa: F811
    with login(server, "Alice") as alice, login(server, "Bob") as bob:
        refuse_the_next_store(server)
        alice.send(SendDirect("one", "Bob", "first"))
        alice.send(SendDirect("two", "Bob", "second"))  # written before the answer to "one" came
        answers = [alice.expect((Accepted, ErrorReply), skip=NOTICES) for _ in range(2)]
        assert (answers[0].request_id, answers[0].code) == ("one", ErrorCode.UNAVAILABLE)
        # The client's resends, in its order, with the same ids (only the refused ones).
        for answer in answers:
            if isinstance(answer, ErrorReply):
                alice.send(SendDirect(answer.request_id, "Bob", "first" if answer.request_id == "one" else "second"))
        shown = [bob.expect(DirectMessage, skip=NOTICES).text for _ in range(2)]
        assert shown == ["first", "second"], f"answers {answers}"


def test_a_room_post_after_a_refused_one_is_not_shown_before_it(server):  # noqa: F811
    with login(server, "Alice") as alice, login(server, "Bob") as bob:
        refuse_the_next_store(server, "store_message")
        alice.send(SendRoom("one", "first"))
        alice.send(SendRoom("two", "second"))
        answers = [alice.expect((Accepted, ErrorReply), skip=NOTICES + (RoomMessage,)) for _ in range(2)]
        assert [(a.request_id, getattr(a, "code", None)) for a in answers] == \
            [("one", ErrorCode.UNAVAILABLE), ("two", ErrorCode.UNAVAILABLE)]
        assert "'one'" in answers[1].message and answers[1].retry_after > 0  # says which must come first
        alice.send(SendRoom("one", "first"))
        alice.send(SendRoom("two", "second"))
        shown = [bob.expect(RoomMessage, skip=NOTICES).text for _ in range(2)]
        assert shown == ["first", "second"]


def test_a_message_after_a_rate_limited_one_waits_for_it(server):  # noqa: F811
    with login(server, "Alice") as alice, login(server, "Bob") as bob:
        refuse_the_next_request(server, "Alice", 0.2)
        alice.send(SendDirect("one", "Bob", "first"))
        alice.send(SendDirect("two", "Bob", "second"))  # the bucket would take this one
        answers = [alice.expect((Accepted, ErrorReply), skip=NOTICES) for _ in range(2)]
        assert [(a.request_id, getattr(a, "code", None)) for a in answers] == \
            [("one", ErrorCode.RATE_LIMITED), ("two", ErrorCode.RATE_LIMITED)]
        alice.send(SendDirect("three", "Carol", "elsewhere"))  # another conversation is not held
        assert alice.expect(ErrorReply, skip=NOTICES).code == ErrorCode.UNKNOWN_RECIPIENT
        for request_id, text in (("one", "first"), ("two", "second")):
            alice.send(SendDirect(request_id, "Bob", text))
        shown = [bob.expect(DirectMessage, skip=NOTICES).text for _ in range(2)]
        assert shown == ["first", "second"]


def test_the_shipped_client_resends_the_refused_one_first_and_both_are_delivered(tmp_path):
    clients = []
    with ServerThread(config(tmp_path / "data", unavailable_retry_after=0.2)) as srv:
        try:
            with login(srv, "Bob") as bob:
                alice = library_login(clients, srv.port, "Alice")
                refuse_the_next_store(srv)
                messages = [alice.send_direct("Bob", text) for text in ("first", "second", "third")]
                shown = [bob.expect(DirectMessage, skip=NOTICES) for _ in range(3)]
                assert [m.text for m in shown] == ["first", "second", "third"]
                for message in shown:
                    bob.send(Receipt(message.msg_id))
                wait_until(lambda: all(m.state == "delivered" for m in messages), 20,
                           f"every message delivered, its sender told: {[m.state for m in messages]}")
        finally:
            for client in clients:
                client.close()
