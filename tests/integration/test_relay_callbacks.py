"""The relay's per-session callback for the store's answers to direct messages (issue 9,
round twelve): made once per session, and let go with it, so a session that sent a message
is still freed by reference counting when it ends, not left to the (tamed) collector."""

from __future__ import annotations

import gc
import time
import weakref

import pytest

from protocol import Accepted, Delivered, DirectMessage, ErrorCode, ErrorReply, Receipt, SendDirect
from server.guests import proves
from server.stores import sqlite as sqlite_store
from test_store import RelayBench, loop, store_kind  # noqa: F401  (fixtures)


def test_every_message_of_a_session_is_answered_through_one_callback(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    alice, bob = bench.login("Alice"), bench.login("Bob")
    for n in range(3):
        bench.relay.handle(alice, SendDirect(f"m{n}", "Bob", f"hello {n}"))
    callback = alice.direct_stored
    bench.settle()
    assert [a.request_id for a in alice.take(Accepted)] == ["m0", "m1", "m2"]
    assert [m.text for m in bob.take(DirectMessage)] == ["hello 0", "hello 1", "hello 2"]
    assert alice.direct_stored is callback is not None
    bench.store.close()


def test_a_session_that_sent_is_freed_without_the_collector_when_it_ends(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    alice, bob = bench.login("Alice"), bench.login("Bob")
    bench.relay.handle(alice, SendDirect("m1", "Bob", "hello"))
    bench.settle()
    assert alice.take(Accepted)
    gone = weakref.ref(alice)
    gc.disable()
    try:
        alice.closing = True
        bench.relay.disconnected(alice, None)
        bench.settle()
        del alice
        assert gone() is None  # nothing refers to it in a cycle: freed at once
    finally:
        gc.enable()
    bench.store.close()


# --- The store's error callbacks, made per request (partials, not closures) -----------------


def _failing(monkeypatch, store, operation: str) -> None:
    """The memory store's ``operation`` raises: the store answers its on_error."""
    def broken(*args):
        raise RuntimeError("broken for the test")
    monkeypatch.setattr(store, operation, broken)


@pytest.mark.logs_tracebacks("a store operation made to raise")
def test_a_direct_message_the_store_could_not_take_is_answered_unavailable_and_counted(loop, monkeypatch):
    bench = RelayBench(loop, "memory")
    alice, bob = bench.login("Alice"), bench.login("Bob")
    _failing(monkeypatch, bench.store, "_store")
    bench.relay.handle(alice, SendDirect("m1", "Bob", "hello"))
    bench.settle()
    [error] = alice.take(ErrorReply)
    assert (error.code, error.request_id) == (ErrorCode.UNAVAILABLE, "m1")
    assert bench.relay.metrics.direct_unavailable == 1
    assert not alice.take(Accepted) and not bob.take(DirectMessage)
    bench.store.close()


@pytest.mark.logs_tracebacks("a store operation made to raise")
def test_a_receipt_the_store_could_not_record_is_recorded_when_it_works_again(loop, monkeypatch):
    bench = RelayBench(loop, "memory")
    alice, bob = bench.login("Alice"), bench.login("Bob")
    bench.relay.handle(alice, SendDirect("m1", "Bob", "hello"))
    bench.settle()
    [message] = bob.take(DirectMessage)
    pending: list = []
    with monkeypatch.context() as patched:
        _failing(patched, bench.store, "_deliver")
        bench.relay.handle(bob, Receipt(message.msg_id))
        bench.settle()
    assert alice.take(Delivered) == [Delivered("m1", message.msg_id)]  # the sender is told at once
    bench.store.pending_for("bob", 0, 10, pending.append)
    bench.settle()
    assert [m.msg_id for m in pending[0]] == [message.msg_id]  # not recorded: still waiting in the store
    bench.relay._store_recovered()
    bench.settle()
    bench.store.pending_for("bob", 0, 10, pending.append)
    bench.settle()
    assert pending[1] == []  # recorded now
    assert not bob.take(ErrorReply)
    bench.store.close()


@pytest.mark.logs_tracebacks("a store operation made to raise")
def test_receipts_the_store_could_not_record_are_kept_each_under_its_own_message_and_recipient(loop, monkeypatch):
    """The receipt's ``on_error`` binds the message in flight (the stored message itself,
    issue 9, round eighteen; a record of it with a bound method in round fifteen) to the
    relay's method once made, not a partial of the request's values: each failure keeps
    its own id and recipient, and the flight says nothing of the relay it belongs to."""
    bench = RelayBench(loop, "memory")
    alice, bob, carol = bench.login("Alice"), bench.login("Bob"), bench.login("Carol")
    bench.relay.handle(alice, SendDirect("a1", "Bob", "to bob"))
    bench.relay.handle(bob, SendDirect("b1", "Carol", "to carol"))
    bench.relay.handle(carol, SendDirect("c1", "Bob", "to bob too"))
    bench.settle()
    to_bob = [m.msg_id for m in bob.take(DirectMessage)]
    [to_carol] = [m.msg_id for m in carol.take(DirectMessage)]
    flight = bench.relay.inflight[to_carol]
    assert (flight.sender_key, flight.client_id, flight.recipient_key, flight.msg_id) == ("bob", "b1", "carol", to_carol)
    assert "relay" not in repr(flight)
    with monkeypatch.context() as patched:
        _failing(patched, bench.store, "_deliver")
        bench.relay.handle(carol, Receipt(to_carol))
        for msg_id in reversed(to_bob):
            bench.relay.handle(bob, Receipt(msg_id))
        bench.settle()
    assert bench.relay._unrecorded == [(to_carol, "carol"), *((msg_id, "bob") for msg_id in reversed(to_bob))]
    bench.relay._store_recovered()
    bench.settle()
    pending: list = []
    for key in ("bob", "carol"):
        bench.store.pending_for(key, 0, 10, pending.append)
    bench.settle()
    assert pending == [[], []]  # every one recorded now
    assert not bench.relay._unrecorded
    bench.store.close()


@pytest.mark.logs_tracebacks("a store operation made to raise")
def test_direct_messages_the_store_could_not_take_are_each_answered_on_their_own_session_and_id(loop, monkeypatch):
    """The on_error of a direct message is its session's callback bound to the message's
    request id (issue 9, round seventeen): each failure answered to the session that sent
    it, under that message's id, counted once; once the store works, the session's
    refused messages written again and its next one are stored as usual, in order
    (server/sendorder.py: the conversation waits for the refused ones)."""
    bench = RelayBench(loop, "memory")
    alice = bench.login("Alice", "correct horse", register=True)
    alice_phone, bob = bench.login("Alice", "correct horse"), bench.login("Bob")
    for session in (alice, alice_phone, bob):
        session.sent.clear()
    with monkeypatch.context() as patched:
        _failing(patched, bench.store, "_store")
        sends = [(alice, "a1", "Bob"), (bob, "b1", "Alice"), (alice_phone, "p1", "Bob"), (alice, "a2", "Bob"),
                 (bob, "b2", "Alice")]
        for session, request_id, to in sends:
            bench.relay.handle(session, SendDirect(request_id, to, f"text of {request_id}"))
        bench.settle()
    assert [e.request_id for e in alice.take(ErrorReply)] == ["a1", "a2"]
    assert [e.request_id for e in alice_phone.take(ErrorReply)] == ["p1"]
    assert [e.request_id for e in bob.take(ErrorReply)] == ["b1", "b2"]
    assert bench.relay.metrics.direct_unavailable == 5
    assert not any(s.take(Accepted) or s.take(DirectMessage) for s in (alice, alice_phone, bob))
    for request_id, text in (("a1", "text of a1"), ("a2", "text of a2"), ("a3", "stored now")):
        bench.relay.handle(alice, SendDirect(request_id, "Bob", text))
    bench.settle()
    assert [a.request_id for a in alice.take(Accepted)] == ["a1", "a2", "a3"] and not alice.take(ErrorReply)
    assert [m.text for m in bob.take(DirectMessage)] == ["text of a1", "text of a2", "stored now"]
    assert bench.relay.metrics.direct_unavailable == 5
    bench.store.close()


@pytest.mark.logs_tracebacks("a store operation made to raise")
def test_outcomes_a_login_could_not_fetch_are_told_when_the_store_works_again(loop, monkeypatch):
    # Alice's message was delivered while she was away; the store fails as she logs in
    # again, so the login's page of outcomes is not fetched. She stays connected: she must
    # hear "delivered" once the store works, not only at her next login (the chaos run,
    # seed 193: a sender who logged in while Redis did not answer).
    bench = RelayBench(loop, "memory")
    alice, bob = bench.login("Alice", "correct horse", register=True), bench.login("Bob")
    bench.relay.handle(alice, SendDirect("m1", "Bob", "hello"))
    bench.settle()
    [message] = bob.take(DirectMessage)
    alice.closing = True
    bench.relay.disconnected(alice, None)
    bench.relay.handle(bob, Receipt(message.msg_id))
    bench.settle()
    with monkeypatch.context() as patched:
        _failing(patched, bench.store, "_outcomes_for_sender")
        alice = bench.login("Alice", "correct horse")
    assert not alice.take(Delivered)
    bench.relay._store_recovered()
    bench.settle()
    assert alice.take(Delivered) == [Delivered("m1", message.msg_id, to="Bob")]  # told from the store: whom
    bench.store.close()


@pytest.mark.logs_tracebacks("a store operation made to raise")
def test_a_guest_holding_the_store_could_not_save_is_saved_when_it_works_again(loop, monkeypatch):
    """The welcome gave the guest its token before the store had the holding; unsaved, the
    token proves nothing once this server restarts (or, in a cluster, to the other nodes,
    which re-read Redis): its own name refused, or taken anew with its queue."""
    bench = RelayBench(loop, "sqlite")
    with monkeypatch.context() as patched:
        patched.setattr(sqlite_store, "save_holding", _raising)
        bench.login("Conceição")
    token = bench.tokens["conceição"]
    assert "conceição" not in bench.store.guest_holdings(time.time())  # not saved
    bench.relay._store_recovered()
    bench.settle()
    saved = bench.store.guest_holdings(time.time()).get("conceição")
    assert saved is not None and proves(saved, token), saved
    bench.store.close()


def test_a_holding_saved_again_at_recovery_leaves_a_newer_one_another_node_wrote_and_says_so(loop, caplog):
    """The save kept for recovery (_save_unsaved_holdings) is of a holding another node's
    guest replaced in Redis meanwhile (a greater epoch), before this node heard of it: the
    newer holding stays (stores/redis_scripts.py SAVE_HOLDING), and the log says once that
    this node's holding was not saved, and why."""
    from server.guests import Holding
    from server.store import StoreUnavailable

    bench = RelayBench(loop, "redis")
    bench.login("Conceição")
    ours = bench.relay.logins.guests.holdings["conceição"]
    newer = Holding("Conceicao", b"n" * 32, ours.epoch + 5, None)
    bench.store.save_holding("conceição", newer)  # another node's guest took the name
    bench.relay._holding_unsaved("conceição", ours, StoreUnavailable("Redis did not answer"))
    bench.settle()
    with caplog.at_level("INFO", logger="chat"):
        bench.relay._store_recovered()
        bench.settle()
    stored = []
    bench.store.holding("conceição", time.time(), stored.append)
    bench.settle()
    assert [(h.token_hash, h.epoch) for h in stored] == [(newer.token_hash, newer.epoch)]
    said = [r.getMessage() for r in caplog.records if "Conceição" in r.getMessage()]
    assert said == ["the guest holding of Conceição was not saved again: another node's guest took the name "
                    "since (Redis keeps theirs)"], said
    bench.store.close()


def test_a_takes_first_holding_save_refused_for_a_newer_one_is_said_once(loop, caplog):
    """A guest's take is welcomed before Redis answers its holding's save; Redis keeps a
    newer holding another node's guest wrote (a greater epoch) and answers False: the log
    says so once (the events stream brings that holding here), not nothing."""
    from server.guests import Holding

    bench = RelayBench(loop, "redis")
    newer = Holding("Joana", b"n" * 32, 10 ** 9, None)
    bench.store.save_holding("joana", newer)  # another node's guest, not heard of here yet
    bench.settle()
    with caplog.at_level("INFO", logger="chat"):
        bench.login("Joana")
        bench.settle()
    said = [r.getMessage() for r in caplog.records if "was not" in r.getMessage()]
    assert said == ["the guest holding of Joana was not saved: another node's guest took the name since "
                    "(Redis keeps theirs)"], said
    bench.store.close()


def test_a_guests_leaving_written_late_does_not_mark_a_newer_holder_left(loop, caplog):
    """This node's guest leaves after another node's guest took the name (a greater epoch),
    before this node heard of it: the leaving time is for this node's holding, and Redis's
    newer holding stays online (stores/redis_scripts.py SET_LEFT_AT); the log says once."""
    import time

    from server.guests import Holding

    bench = RelayBench(loop, "redis")
    ines = bench.login("Inês")
    ours = bench.relay.logins.guests.holdings["inês"]
    newer = Holding("Ines", b"n" * 32, ours.epoch + 5, None)
    bench.store.save_holding("inês", newer)  # another node's guest, online
    bench.settle()
    with caplog.at_level("INFO", logger="chat"):
        bench.relay.disconnected(ines, None)
        bench.settle()
    stored = []
    now = time.time() + 1000
    bench.store.holding("inês", now, stored.append)
    bench.settle()
    assert [(h.token_hash, h.left_at) for h in stored] == [(newer.token_hash, now)]  # online: read as left now
    said = [r.getMessage() for r in caplog.records if "was not" in r.getMessage()]
    assert said == ["the guest holding of Inês was not marked left: another node's guest took the name since "
                    "(Redis keeps theirs)"], said
    bench.store.close()


def _raising(*args):
    raise RuntimeError("broken for the test")


def test_a_holding_whose_own_save_failed_is_not_said_taken_by_another_node(loop, caplog):
    """The store failed the save of a guest's holding (kept for recovery: _holding_unsaved);
    the guest leaves and comes back with its token before Redis has it, so Redis holds no
    holding of theirs, and refuses the writes of their leaving and their return
    (SET_LEFT_AT). No other node's guest took the name: the log says what happened, once
    each, and the holding is saved, left_at and all, when the store recovers."""
    from server.store import StoreUnavailable

    bench = RelayBench(loop, "redis")
    saves = bench.store.save_holding
    bench.store.save_holding = lambda key, holding, callback=None, on_error=None: on_error(
        StoreUnavailable("Redis did not answer"))
    rita = bench.login("Rita")
    bench.store.save_holding = saves
    with caplog.at_level("INFO", logger="chat"):
        bench.relay.disconnected(rita, None)
        bench.settle()
        bench.login("Rita")  # with her token
        bench.settle()
    said = [r.getMessage() for r in caplog.records if "was not" in r.getMessage()]
    assert said == [f"the guest holding of Rita was not {what}: its own save has not reached Redis yet (saved "
                    f"again when the store works again)" for what in ("marked left", "marked online")], said
    bench.relay._store_recovered()
    bench.settle()
    stored = []
    now = time.time() + 1000
    bench.store.holding("rita", now, stored.append)
    bench.settle()
    # Saved online (read as left now, as test_a_guests_leaving_written_late_does_not_mark... reads it).
    assert [h.left_at for h in stored] == [now] and proves(stored[0], bench.tokens["rita"]), stored
    bench.store.close()
