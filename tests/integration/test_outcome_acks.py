"""Acknowledgements that cannot lie (issue 8, items 1 and 2).

1. A request id names one request: the same request again is a resend (answered with the
   message's state, nothing stored), another request under a used id is ``id_reused``
   (nothing stored). Clients draw 128-bit ids, so they never reuse one by chance.
2. An outcome (``delivered``, the ``expired`` error) is told to every session of the
   sender, and again at each login, until the sender's client acknowledges it (``ack``).

The relay is driven with fake sessions over an in-memory store (``RelayBench``); the
server's behaviour on a dying link is shown on a real server with the fault proxy; the
client library is watched from the fake server. Loopback only; every wait is bounded.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from client import ChatClient, MessageUpdate
from client.oneshot import send_once
from fakeserver import FakeServer
from faultproxy import DOWN, Fault, FaultProxy
from protocol import (
    Accepted, Delivered, DirectMessage, ErrorCode, ErrorReply, Event, Goodbye, OutcomeAck, Queued,
    Receipt, SendDirect, SendRoom, UserJoined, UserLeft,
)
from server import ServerThread
from server.relay import Relay
from servers import in_thread
from test_store import FakeSession, RelayBench, loop, store_kind, stored_messages  # noqa: F401  (fixtures)
from wire import WireClient

WAIT = 10.0
NOTICES = (UserJoined, UserLeft)


def wait_until(condition: Callable[[], object], timeout: float = WAIT, what: str = "the condition") -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        threading.Event().wait(0.01)




def log_in_again(bench: RelayBench, name: str) -> FakeSession:
    """A new session of ``name``, with what the server sent after the welcome."""
    return bench.login(name)


def leave(bench: RelayBench, session: FakeSession) -> None:
    bench.relay.disconnected(session, None)


# --- 1. A request id names one request ---------------------------------------------------


def test_another_request_under_a_used_id_is_refused_and_the_same_one_is_a_resend(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    alice, bob, carol = bench.login("Alice"), bench.login("Bob"), bench.login("Carol")
    bench.announce_logins()
    bench.relay.handle(alice, SendDirect("m1", "Bob", "lunch at noon?"))
    bench.settle()
    [first] = alice.take(Accepted)
    assert [dm.text for dm in bob.take(DirectMessage)] == ["lunch at noon?"]
    # Another text, another recipient, another kind, all under "m1": refused, nothing stored.
    for request in (SendDirect("m1", "Bob", "the bank code is 1234"), SendDirect("m1", "Carol", "lunch at noon?"),
                    SendRoom("m1", "lunch at noon?")):
        bench.relay.handle(alice, request)
        bench.settle()
        [error] = alice.take(ErrorReply)
        assert (error.code, error.request_id) == (ErrorCode.ID_REUSED, "m1"), request
        assert not alice.sent, alice.sent  # no accepted, no delivered: nothing is promised
    assert [(m[0], m[1]) for m in stored_messages(bench.store)] == [(first.msg_id, "lunch at noon?")]
    assert not bob.take(DirectMessage) and not carol.take(DirectMessage)
    assert not [frame for frame in bob.sent + carol.sent if isinstance(frame, bytes)]  # no room message
    # The same request again is a resend: the same message, shown to nobody twice.
    bench.relay.handle(alice, SendDirect("m1", "Bob", "lunch at noon?"))
    bench.settle()
    assert alice.take(Accepted) == [first] and not alice.take(ErrorReply)
    assert not bob.take(DirectMessage)
    bench.store.close()


def test_a_new_message_is_counted_once_as_it_is_answered_and_a_resend_not_again(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    alice = bench.login("Alice")
    bench.login("Bob")  # online
    bench.relay.disconnected(bench.login("Carol"), None)  # known, and offline
    metrics = bench.relay.metrics
    restated = _restates(bench)
    for _ in range(2):  # the second time: resends
        bench.relay.handle(alice, SendDirect("m1", "Bob", "olá"))
        bench.relay.handle(alice, SendDirect("m2", "Carol", "olá"))
        bench.settle()
        assert [type(answer) for answer in alice.take(Accepted) + alice.take(Queued)] == [Accepted, Queued]
        assert (metrics.direct_accepted, metrics.direct_queued) == (1, 1)
    assert restated == []  # each was answered as it was stored: no write more
    bench.store.close()


def _restates(bench: RelayBench) -> list[tuple]:
    """The store's restate calls from now on (each still made)."""
    calls: list[tuple] = []
    real = bench.store.restate

    def restate(*args, **options):
        calls.append(args)
        real(*args, **options)
    bench.store.restate = restate
    return calls


def test_a_message_whose_recipient_left_before_it_was_stored_is_answered_and_kept_queued(loop, store_kind):
    # Stored as "sent" (the registry's view as the request came), answered with the view
    # when the store answers: what the sender is told is what history says.
    bench = RelayBench(loop, store_kind)
    alice, bob = bench.login("Alice"), bench.login("Bob")
    restated = _restates(bench)
    bench.relay.handle(alice, SendDirect("m1", "Bob", "olá"))
    bench.relay.disconnected(bob, None)  # before the store's answer
    bench.settle()
    [queued] = alice.take(Queued)
    assert restated == [(queued.msg_id, "queued")]
    assert not alice.take(Accepted) and bench.relay.metrics.direct_queued == 1
    assert [(m[0], m[2]) for m in stored_messages(bench.store)] == [(queued.msg_id, "queued")]
    bench.store.close()


def test_a_send_under_the_id_of_a_say_is_answered_and_logs_no_traceback(loop, caplog, store_kind):
    bench = RelayBench(loop, store_kind)
    alice, bob = bench.login("Alice"), bench.login("Bob")
    bench.relay.handle(alice, SendRoom("r1", "hello everyone"))
    bench.settle()
    assert len(alice.take(Accepted)) == 1
    with caplog.at_level(logging.INFO):
        bench.relay.handle(alice, SendDirect("r1", "Bob", "hello everyone"))
        bench.settle()
        bench.relay.handle(alice, SendRoom("d1", "x"))  # and the other way round
        bench.relay.handle(alice, SendDirect("d1", "Bob", "x"))
        bench.settle()
    errors = alice.take(ErrorReply)
    assert [(e.code, e.request_id) for e in errors] == [(ErrorCode.ID_REUSED, "r1"), (ErrorCode.ID_REUSED, "d1")]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], caplog.text
    said = [r.getMessage() for r in caplog.records if "id_reused" in r.getMessage()]
    assert len(said) == 2 and "'r1'" in said[0] and "'d1'" in said[1], said  # once each
    assert not bob.take(DirectMessage)
    bench.store.close()


def test_the_client_library_draws_128_random_bits_per_object_for_its_request_ids():
    first, second = ChatClient("Alice"), ChatClient("Alice")
    ids = [first.send_direct("Bob", "x").request_id, first.send_direct("Bob", "y").request_id,
           second.send_direct("Bob", "z").request_id]
    prefixes = [re.fullmatch(r"([0-9a-f]{32})-(\d+)", request_id) for request_id in ids]
    assert all(prefixes), ids
    assert prefixes[0][1] == prefixes[1][1] != prefixes[2][1]
    assert prefixes[0][2] != prefixes[1][2]
    assert all(len(request_id) <= 64 for request_id in ids)  # the protocol's limit


# --- 2. Outcomes are told until acknowledged: the relay -------------------------------------


def deliver_while_alice_is_away(bench: RelayBench, count: int) -> list[Queued]:
    """Alice sends ``count`` messages to an offline Bob and leaves; Bob logs in and
    confirms them all. Returns Alice's Queued answers."""
    leave(bench, bench.login("Bob"))
    alice = bench.login("Alice")
    for i in range(count):
        bench.relay.handle(alice, SendDirect(f"q{i}", "Bob", f"message {i}"))
    bench.settle()
    queued = alice.take(Queued)
    leave(bench, alice)
    bob = bench.login("Bob")
    while True:
        messages = bob.take(DirectMessage)
        if not messages:
            break
        for message in messages:
            bench.relay.handle(bob, Receipt(message.msg_id))
        bench.settle()
    assert sum(1 for m in stored_messages(bench.store) if m[2] == "delivered") == count
    leave(bench, bob)
    return queued


def test_an_outcome_is_told_at_every_login_until_acknowledged(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    [queued] = deliver_while_alice_is_away(bench, 1)
    told = Delivered(queued.request_id, queued.msg_id, "Bob")  # a login's: it names the recipient
    for _ in range(2):  # not acknowledged: told again
        alice = log_in_again(bench, "Alice")
        assert alice.take(Delivered) == [told]
        leave(bench, alice)
    alice = log_in_again(bench, "Alice")
    assert alice.take(Delivered) == [told]
    bench.relay.handle(alice, OutcomeAck(queued.msg_id))
    bench.relay.handle(alice, OutcomeAck(queued.msg_id))  # twice is harmless
    bench.settle()
    assert not alice.take(ErrorReply)
    leave(bench, alice)
    alice = log_in_again(bench, "Alice")
    assert not alice.take(Delivered)
    bench.store.close()


def test_a_live_outcome_goes_to_every_session_and_to_each_later_one_until_acknowledged(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    alice1 = bench.login("Alice", "correct horse", register=True)
    alice2 = bench.login("Alice", "correct horse")
    bob = bench.login("Bob")
    bench.relay.handle(alice1, SendDirect("m", "Bob", "hi"))
    bench.settle()
    [accepted] = alice1.take(Accepted)
    bench.relay.handle(bob, Receipt(accepted.msg_id))
    bench.settle()
    told = Delivered("m", accepted.msg_id)
    assert alice1.take(Delivered) == alice2.take(Delivered) == [told]
    # Neither session acknowledged (both links may be dying): a third login hears it.
    alice3 = bench.login("Alice", "correct horse")
    assert alice3.take(Delivered) == [Delivered("m", accepted.msg_id, "Bob")]  # (a login's names the recipient)
    assert not alice1.take(Delivered) and not alice2.take(Delivered)  # a login tells only itself
    bench.relay.handle(alice2, OutcomeAck(accepted.msg_id))
    bench.settle()
    assert not bench.login("Alice", "correct horse").take(Delivered)
    bench.store.close()


def test_an_expired_outcome_carries_its_msg_id_and_is_told_until_acknowledged(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    leave(bench, bench.login("Bob"))
    alice = bench.login("Alice")
    bench.relay.handle(alice, SendDirect("e", "Bob", "too late"))
    bench.settle()
    [queued] = alice.take(Queued)
    bench.relay.expire(time.time() + bench.relay.config.queue_ttl + 1)
    bench.settle()
    [expired] = alice.take(ErrorReply)
    assert (expired.code, expired.request_id, expired.msg_id) == (ErrorCode.EXPIRED, "e", queued.msg_id)
    leave(bench, alice)
    alice = log_in_again(bench, "Alice")
    assert alice.take(ErrorReply) == [expired]
    bench.relay.handle(alice, OutcomeAck(queued.msg_id))
    bench.settle()
    leave(bench, alice)
    assert not log_in_again(bench, "Alice").take(ErrorReply)
    bench.store.close()


def test_at_login_outcomes_come_a_page_at_a_time_as_the_last_page_is_acknowledged(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    config = dataclasses.replace(bench.relay.config, max_pending_receipts=4)  # the page size too
    bench.relay = Relay(config, bench.store)
    queued = deliver_while_alice_is_away(bench, 10)
    ids = [q.msg_id for q in queued]
    # A client that never acknowledges hears one page per login, not all of them.
    lazy = log_in_again(bench, "Alice")
    assert [d.msg_id for d in lazy.take(Delivered)] == ids[:4]
    leave(bench, lazy)
    alice = log_in_again(bench, "Alice")
    assert [d.msg_id for d in alice.take(Delivered)] == ids[:4]
    bench.relay.handle(alice, OutcomeAck(ids[0]))
    bench.settle()
    assert not alice.take(Delivered)  # 3 of 4 still unacknowledged
    bench.relay.handle(alice, OutcomeAck(ids[1]))
    bench.settle()
    assert [d.msg_id for d in alice.take(Delivered)] == ids[4:8]  # half acknowledged: the next page
    for msg_id in ids[2:8]:
        bench.relay.handle(alice, OutcomeAck(msg_id))
    bench.settle()
    assert [d.msg_id for d in alice.take(Delivered)] == ids[8:]
    for msg_id in ids[8:]:
        bench.relay.handle(alice, OutcomeAck(msg_id))
    bench.settle()
    assert not alice.take(Delivered) and alice not in bench.relay.outcome_pages
    leave(bench, alice)
    assert not log_in_again(bench, "Alice").take(Delivered)
    bench.store.close()


def test_an_ack_for_a_message_that_is_not_yours_is_answered_alike_whether_it_exists_or_not(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    [queued] = deliver_while_alice_is_away(bench, 1)
    bob = bench.login("Bob")
    bench.relay.handle(bob, OutcomeAck(queued.msg_id))  # Alice's message
    bench.relay.handle(bob, OutcomeAck(987654))  # nobody's
    bench.settle()
    errors = bob.take(ErrorReply)
    assert [e.code for e in errors] == [ErrorCode.UNKNOWN_MESSAGE] * 2
    assert [e.message.replace(str(queued.msg_id), "N").replace("987654", "N") for e in errors] == [
        "message N was not sent by you"] * 2
    # Bob's ack did not count for Alice.
    assert log_in_again(bench, "Alice").take(Delivered) == [Delivered(queued.request_id, queued.msg_id, "Bob")]
    bench.store.close()


# --- 2. On a real server: the sender's link dies right after the receipt -----------------


@pytest.fixture
def proxy(server: ServerThread) -> Iterator[FaultProxy]:
    with FaultProxy(server.host, server.port) as fault_proxy:
        yield fault_proxy


def stored(server: ServerThread, *fields: str) -> list[tuple]:
    """``fields`` (msg_id, text, state, told: the sender took in the outcome) of every
    stored message, by msg_id, whichever store the server has."""
    order = ("msg_id", "text", "state", "told")
    return [tuple(row[order.index(f)] for f in fields)
            for row in server.call(lambda: stored_messages(server.server.store))]


def quiet(client: WireClient, wait: float = 0.3) -> None:
    extra = [e for e in client.drain(quiet=wait, timeout=wait * 3) if isinstance(e, (Delivered, ErrorReply))]
    assert not extra, extra


def test_a_client_counting_its_ids_from_1_again_after_a_restart_is_told_not_misled(server, caplog):
    """The third-party client of the issue: ids "1", "2"... in every run."""
    with WireClient.login(server.host, server.port, "Bob"), \
            WireClient.login(server.host, server.port, "Alice") as first_run:
        first_run.send(SendDirect("1", "Bob", "first run"))
        accepted = first_run.expect(Accepted, skip=NOTICES)
    with caplog.at_level(logging.INFO), WireClient.login(server.host, server.port, "Alice") as second_run:
        second_run.send(SendDirect("1", "Bob", "second run"))
        assert second_run.expect_error(ErrorCode.ID_REUSED, skip=(*NOTICES, Delivered)).request_id == "1"
        second_run.send(SendRoom("1", "second run"))
        assert second_run.expect_error(ErrorCode.ID_REUSED, skip=(*NOTICES, Delivered)).request_id == "1"
        second_run.send(SendDirect("1", "Bob", "first run"))  # the same request: a resend
        # (Bob has left meanwhile, without confirming it: it waits for him.)
        assert second_run.expect(Queued, skip=(*NOTICES, Delivered)) == Queued("1", accepted.msg_id)
    assert stored(server, "text") == [("first run",)]
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("durable", [False, True], ids=["memory", "sqlite"])
def test_another_text_under_an_id_used_in_the_same_session_is_id_reused_not_its_answer(durable, tmp_path):
    """The upgrade tester's finding 7: in one session, "dois" under the id of "um" seemed
    answered ``queued`` with msg_id 1. The server said ``id_reused``; the tester's raw client
    matched the first answer with that id. Frames as a raw client writes them: plain ASCII
    (the codec's fast path for a send) and with an accent (its generic path)."""
    with in_thread(tmp_path if durable else None, fast=True) as server:
        with WireClient.login(server.host, server.port, "Bia"):
            pass  # known, and offline: what Caio sends her is queued
        with WireClient.login(server.host, server.port, "Caio") as caio:
            for request_id, second in (("fixed-1", "dois"), ("fixed-2", "d\u00f3is")):
                caio.send_raw(b'{"type":"send","id":"%s","to":"Bia","text":"um"}\n' % request_id.encode())
                first = caio.expect(Queued, skip=NOTICES)
                caio.send_raw(b'{"type":"send","id":"%s","to":"Bia","text":"%s"}\n'
                              % (request_id.encode(), second.encode()))
                assert caio.expect_error(ErrorCode.ID_REUSED, skip=NOTICES).request_id == request_id
                caio.send_raw(b'{"type":"send","id":"%s","to":"Bia","text":"um"}\n' % request_id.encode())
                assert caio.expect(Queued, skip=NOTICES) == first  # the same request: a resend
            quiet(caio)
        assert stored(server, "text") == [("um",), ("um",)]


def test_a_delivered_lost_with_the_senders_dying_link_comes_at_her_next_login(server, proxy):
    # The server writes "delivered" to Alice's connection; the link dies before she reads it.
    proxy.add(Fault(DOWN, frame_type="delivered", when="before", name="Alice"))
    with WireClient.login("127.0.0.1", proxy.port, "Alice") as alice, \
            WireClient.login(server.host, server.port, "Bob") as bob:
        alice.send(SendDirect("m1", "Bob", "did you get this?"))
        accepted = alice.expect(Accepted, skip=NOTICES)
        bob.send(Receipt(bob.expect(DirectMessage, skip=NOTICES).msg_id))
        wait_until(lambda: proxy.cuts, what="the cut")
        assert [e for e in alice.drain() if isinstance(e, Delivered)] == []
        wait_until(lambda: stored(server, "state") == [("delivered",)], what="the receipt")
    # Her next login (through the proxy again: the fault has fired) brings it.
    with WireClient.login("127.0.0.1", proxy.port, "Alice") as alice:
        assert alice.expect(Delivered, skip=NOTICES) == Delivered("m1", accepted.msg_id, "Bob")
        quiet(alice)
        alice.send(OutcomeAck(accepted.msg_id))
        alice.send(Goodbye())
        alice.wait_closed()
    with WireClient.login("127.0.0.1", proxy.port, "Alice") as alice:  # acknowledged: never again
        quiet(alice)
    assert stored(server, "told") == [(True,)]


def test_the_client_library_gets_the_lost_delivered_back_and_acknowledges_it(server, proxy, clients):
    proxy.add(Fault(DOWN, frame_type="delivered", when="before", name="Alice"))
    alice = ChatClient("Alice", "127.0.0.1", proxy.port, reconnect_delay=0.05, reconnect_max_delay=0.2)
    bob = ChatClient("Bob", server.host, server.port)
    clients.extend([alice, bob])
    alice.connect(WAIT)
    bob.connect(WAIT)
    message = alice.send_direct("Bob", "hi Bob")
    assert message.wait({"delivered"}, WAIT), message
    assert proxy.cuts and alice.reconnects == 1
    wait_until(lambda: stored(server, "told") == [(True,)], what="Alice's ack")
    alice.close()
    # The same Alice, with the guest token her client was given through the proxy.
    token = alice.resume_tokens.get(alice.address, "Alice")
    tokens = {(os.environ.get("CHAT_STATE_DIR", ""), server.host, "alice"): token}
    with WireClient.login(server.host, server.port, "Alice", tokens=tokens) as again:
        quiet(again)


# --- 2. The client library acknowledges what it has taken in ------------------------------


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    with FakeServer() as fake_server:
        yield fake_server


def acks(fake: FakeServer, name: str = "Alice") -> list[int]:
    return [e.msg_id for e in fake.received(OutcomeAck, name)]


def test_the_library_acknowledges_an_outcome_only_after_the_application_has_it(fake, clients):
    release = threading.Event()
    holding = threading.Event()

    def on_event(event: Event) -> None:
        if isinstance(event, MessageUpdate) and event.state == "delivered":
            holding.set()
            release.wait(WAIT)

    alice = ChatClient("Alice", fake.host, fake.port, on_event=on_event)
    bob = ChatClient("Bob", fake.host, fake.port)
    clients.extend([alice, bob])
    alice.connect(WAIT)
    bob.connect(WAIT)
    message = alice.send_direct("Bob", "hi")
    assert holding.wait(WAIT)
    threading.Event().wait(0.2)
    assert acks(fake) == []  # the application is still busy with it
    release.set()
    fake.wait_for(lambda name, event: isinstance(event, OutcomeAck), WAIT)
    assert acks(fake) == [message.msg_id]


def test_the_library_acknowledges_outcomes_of_an_earlier_run_and_repeats(fake, clients):
    seen: list[Event] = []
    alice = ChatClient("Alice", fake.host, fake.port, on_event=seen.append)
    clients.append(alice)
    alice.connect(WAIT)
    fake.wait_online("Alice")
    fake.send("Alice", Delivered("an-earlier-run-1", 71))
    fake.send("Alice", ErrorReply(ErrorCode.EXPIRED, "your message 72 expired", "an-earlier-run-2", msg_id=72))
    fake.send("Alice", Delivered("an-earlier-run-1", 71))  # told again: acknowledged again
    wait_until(lambda: len(acks(fake)) == 3, what="three acks")
    assert acks(fake) == [71, 72, 71]
    assert [e for e in seen if isinstance(e, (Delivered, ErrorReply))] == [  # the repeat is not shown
        Delivered("an-earlier-run-1", 71),
        ErrorReply(ErrorCode.EXPIRED, "your message 72 expired", "an-earlier-run-2", msg_id=72)]


def test_a_script_that_closes_right_after_the_outcome_has_acknowledged_it(fake, clients):
    alice = ChatClient("Alice", fake.host, fake.port)
    bob = ChatClient("Bob", fake.host, fake.port)
    clients.extend([alice, bob])
    alice.connect(WAIT)
    bob.connect(WAIT)
    message = alice.send_direct("Bob", "hi")
    assert message.wait({"delivered"}, WAIT)
    alice.close()  # as --send does: the ack goes out before the goodbye
    wait_until(lambda: acks(fake) == [message.msg_id], timeout=2, what="the ack")


def test_an_ack_that_follows_its_receipt_in_one_transaction_counts(loop, store_kind):
    """Under load one transaction holds a receipt and the sender's ack of it, behind an
    earlier ack: the store must not record the ack before the delivery."""
    bench = RelayBench(loop, store_kind)
    [earlier] = deliver_while_alice_is_away(bench, 1)
    alice, bob = bench.login("Alice"), bench.login("Bob")
    assert [d.msg_id for d in alice.take(Delivered)] == [earlier.msg_id]
    bench.relay.handle(alice, SendDirect("now", "Bob", "quick"))
    bench.settle()
    [accepted] = alice.take(Accepted)
    [dm] = bob.take(DirectMessage)
    # In one loop turn: Alice acks the earlier outcome, Bob confirms, Alice acks that too.
    bench.relay.handle(alice, OutcomeAck(earlier.msg_id))
    bench.relay.handle(bob, Receipt(dm.msg_id))
    assert alice.take(Delivered) == [Delivered("now", accepted.msg_id)]
    bench.relay.handle(alice, OutcomeAck(accepted.msg_id))
    bench.settle()
    leave(bench, alice)
    assert not log_in_again(bench, "Alice").take(Delivered)
    bench.store.close()


def test_send_once_runs_each_hear_only_their_own_outcome(server, clients):
    """``--send`` once a minute: each run closes right after its delivered; the next run is
    not told it again (the ack went out before the goodbye), and no run reuses an id."""
    bob = ChatClient("Bob", server.host, server.port)
    clients.append(bob)
    bob.connect(WAIT)
    outputs = []
    for i in range(3):
        out, err = io.StringIO(), io.StringIO()
        code = send_once("Carol", "Bob", f"report {i}", host=server.host, port=server.port, timeout=WAIT,
                         stdout=out, stderr=err)
        outputs.append((code, out.getvalue(), err.getvalue()))
    assert [(code, err) for code, _, err in outputs] == [(0, "")] * 3
    assert all(re.fullmatch(r"delivered to Bob \(msg \d+\)\n", out) for _, out, _ in outputs), outputs
    wait_until(lambda: stored(server, "text", "told") == [
        (f"report {i}", True) for i in range(3)], what="every run's ack")
