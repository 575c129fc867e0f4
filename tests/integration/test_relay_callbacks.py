"""The relay's per-session callback for the store's answers to direct messages (issue 9,
round twelve): made once per session, and let go with it, so a session that sent a message
is still freed by reference counting when it ends, not left to the (tamed) collector."""

from __future__ import annotations

import gc
import weakref

from protocol import Accepted, Delivered, DirectMessage, ErrorCode, ErrorReply, Receipt, SendDirect
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
