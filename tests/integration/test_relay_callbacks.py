"""The relay's per-session callback for the store's answers to direct messages (issue 9,
round twelve): made once per session, and let go with it, so a session that sent a message
is still freed by reference counting when it ends, not left to the (tamed) collector."""

from __future__ import annotations

import gc
import weakref

from protocol import Accepted, DirectMessage, SendDirect
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
