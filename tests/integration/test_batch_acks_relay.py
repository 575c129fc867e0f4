"""Feature batch_acks in the relay (issue 9): a ``receipt`` or ``ack`` with ``msg_ids``
does exactly what that many single frames, in that order, would do, over every store
(``store_kind``): each id counts once, an ack sees the receipts before it even in the same
store transaction, and a bad id gets its own ``unknown_message`` while the others count.
A session that did not ask for the feature gets ``unknown_type`` and nothing is done."""

from __future__ import annotations

import asyncio

import const
from protocol import (
    BATCH_ACKS, Accepted, Delivered, DirectMessage, ErrorCode, ErrorReply, Hello, OutcomeAck, OutcomeAcks, Receipt,
    Receipts, SendDirect, Welcome,
)
from test_store import FakeSession, RelayBench, loop, store_kind, stored_messages  # noqa: F401  (fixtures)


def log_in(bench: RelayBench, name: str, features: tuple[str, ...] = (BATCH_ACKS,)) -> FakeSession:
    """A session of guest ``name`` whose hello asked for ``features``."""
    bench.ports += 1
    session = FakeSession(bench.ports)
    bench.relay.connected(session)
    bench.relay.handle(session, Hello("h", name, const.PROTOCOL_VERSION, None, False, bench.tokens.get(name.lower()),
                                      features))
    bench.settle()
    [welcome] = session.take(Welcome)
    assert welcome.features == (features or None)
    if welcome.resume:
        bench.tokens[name.lower()] = welcome.resume
    return session


def send(bench: RelayBench, sender: FakeSession, to: str, count: int, prefix: str = "m") -> list[int]:
    for n in range(count):
        bench.relay.handle(sender, SendDirect(f"{prefix}{n}", to, f"message {n}"))
    bench.settle()
    return [accepted.msg_id for accepted in sender.take(Accepted)]


def states(bench: RelayBench) -> dict[int, tuple[str, bool]]:
    """msg_id -> (state, the sender acknowledged its outcome). Reads every stored message
    (two Redis commands each): ask once, not once per id."""
    return {row[0]: (row[2], row[3]) for row in stored_messages(bench.store)}


def test_a_batched_receipt_and_ack_do_what_single_frames_do(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    alice, bob = log_in(bench, "Alice"), log_in(bench, "Bob")
    ids = send(bench, alice, "Bob", 4)
    assert [dm.msg_id for dm in bob.take(DirectMessage)] == ids
    # One id twice: as two receipts would be, harmless.
    bench.relay.handle(bob, Receipts((ids[0], ids[1], ids[0], ids[2], ids[3])))
    bench.settle()
    assert alice.take(Delivered) == [Delivered(f"m{n}", msg_id) for n, msg_id in enumerate(ids)]  # each once
    assert not bob.take(ErrorReply)
    assert bench.relay.metrics.direct_delivered == 4
    assert not bench.relay.inflight and not bob.inflight
    # Acknowledged in one frame: a new session of Alice is told none of them again.
    bench.relay.handle(alice, OutcomeAcks(tuple(ids)))
    bench.settle()
    assert not alice.take(ErrorReply)
    bench.relay.disconnected(alice, None)
    again = log_in(bench, "Alice")
    assert not again.take(Delivered), "an acknowledged outcome was told again"
    bench.store.close()


def test_an_ack_in_the_same_turn_as_the_receipts_sees_them(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    alice, bob = log_in(bench, "Alice"), log_in(bench, "Bob")
    ids = send(bench, alice, "Bob", 3)
    bob.take(DirectMessage)
    # No settling between them: one store transaction (SQLite), one pipeline (Redis).
    bench.relay.handle(bob, Receipts(tuple(ids)))
    assert [d.msg_id for d in alice.take(Delivered)] == ids  # told at once, from what is in flight
    bench.relay.handle(alice, OutcomeAcks(tuple(ids)))
    bench.settle()
    assert not alice.take(ErrorReply) and not bob.take(ErrorReply)
    stored = states(bench)
    assert {stored[msg_id] for msg_id in ids} == {("delivered", True)}
    bench.relay.disconnected(alice, None)
    assert not log_in(bench, "Alice").take(Delivered)
    bench.store.close()


def test_a_bad_id_in_a_batch_gets_its_own_error_and_the_others_count(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    alice, bob, carol = log_in(bench, "Alice"), log_in(bench, "Bob"), log_in(bench, "Carol")
    to_bob = send(bench, alice, "Bob", 2)
    [to_carol] = send(bench, alice, "Carol", 1, prefix="c")
    bob.take(DirectMessage)
    unknown = 10 ** 9
    bench.relay.handle(bob, Receipts((to_bob[0], to_carol, unknown, to_bob[1])))
    bench.settle()
    assert [d.msg_id for d in alice.take(Delivered)] == to_bob
    errors = bob.take(ErrorReply)
    assert [(e.code, e.message) for e in errors] == [
        (ErrorCode.UNKNOWN_MESSAGE, f"message {to_carol} was not sent to you"),
        (ErrorCode.UNKNOWN_MESSAGE, f"message {unknown} was not sent to you")]
    assert states(bench)[to_carol][0] != "delivered"  # Carol's message is still hers to confirm
    # An ack batch with a message Alice did not send: that one refused, hers recorded.
    [from_bob] = send(bench, bob, "Alice", 1, prefix="b")
    bench.relay.handle(alice, OutcomeAcks((to_bob[0], from_bob, to_bob[1])))
    bench.settle()
    [error] = alice.take(ErrorReply)
    assert (error.code, error.message) == (ErrorCode.UNKNOWN_MESSAGE, f"message {from_bob} was not sent by you")
    bench.relay.disconnected(alice, None)
    assert not log_in(bench, "Alice").take(Delivered)
    bench.store.close()


def test_without_the_feature_a_batch_is_unknown_type_and_nothing_is_done(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    alice, bob = log_in(bench, "Alice", ()), log_in(bench, "Bob", ())
    ids = send(bench, alice, "Bob", 2)
    bob.take(DirectMessage)
    bench.relay.handle(bob, Receipts(tuple(ids)))
    bench.settle()
    [error] = bob.take(ErrorReply)
    assert error.code == ErrorCode.UNKNOWN_TYPE and BATCH_ACKS in error.message
    assert not alice.take(Delivered) and set(bob.inflight) == set(ids)
    # The single forms work as ever, and a batched ack is refused the same way.
    bench.relay.handle(bob, Receipt(ids[0]))
    bench.relay.handle(bob, Receipt(ids[1]))
    bench.settle()
    assert [d.msg_id for d in alice.take(Delivered)] == ids
    bench.relay.handle(alice, OutcomeAcks(tuple(ids)))
    bench.relay.handle(alice, OutcomeAck(ids[0]))
    bench.settle()
    [error] = alice.take(ErrorReply)
    assert error.code == ErrorCode.UNKNOWN_TYPE
    bench.relay.disconnected(alice, None)
    assert [d.msg_id for d in log_in(bench, "Alice", ()).take(Delivered)] == [ids[1]]  # only ids[0] was acked
    bench.store.close()


def test_the_generator_confirms_a_read_in_one_frame_each_way_only_when_welcomed() -> None:
    from bench.benchmark import BenchClient
    from protocol import codec

    async def confirmations() -> tuple[list[bytes], list[bytes]]:
        client = BenchClient("user1", bench=None)  # type: ignore[arg-type]
        single = client.confirmations([b"5", b"6"], [b"7"])
        client.batched = True  # its welcome named batch_acks
        return single, client.confirmations([b"5", b"6"], [b"7"])

    single, batched = asyncio.run(confirmations())
    assert single == [codec.encode(Receipt(5)), codec.encode(Receipt(6)), codec.encode(OutcomeAck(7))]
    assert batched == [codec.encode(Receipts((5, 6))), codec.encode(OutcomeAck(7))]
