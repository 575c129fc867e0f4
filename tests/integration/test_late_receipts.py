"""Receipts for messages not in flight (``Relay._late_receipt``) over every store
(``store_kind``): each costs a store operation (``confirm_late``), and receipts are not
counted by the request rate, so they have a budget of their own (PROTOCOL.md "Limits").

A flood of receipts for ids that were never sent to its user asks the store at most the
budget (its burst, then its rate), and the rest of each frame is answered with one
``rate_limited``, not one error per id; the log says so once. An honest client's late
receipts after a restart (up to ``MAX_PENDING_RECEIPTS`` at once, right behind its hello,
before the server has sent anything again) are all recorded."""

from __future__ import annotations

import logging
import time

import const
from protocol import (
    BATCH_ACKS, DirectMessage, Done, Edit, Edited, EditReceipt, ErrorCode, ErrorReply, Hello, Receipt, Receipts,
    Welcome,
)
from server.relay import Relay
from test_batch_acks_relay import log_in, send, states
from test_store import FakeSession, RelayBench, loop, store_kind  # noqa: F401  (fixtures)


def counting(bench: RelayBench, operation: str) -> list[int]:
    """The msg_ids the relay asks the store about with ``operation`` (``confirm_late``,
    ``record_ack``, ``confirm_change``: each takes the msg_id first), from now on."""
    asked: list[int] = []
    original = getattr(bench.store, operation)

    def counted(msg_id, *args, **kwargs):
        asked.append(msg_id)
        return original(msg_id, *args, **kwargs)

    setattr(bench.store, operation, counted)
    return asked


def test_a_flood_of_unknown_receipts_asks_the_store_at_most_the_budget(loop, store_kind, caplog):
    bench = RelayBench(loop, store_kind)
    mallory = log_in(bench, "Mallory")
    asked = counting(bench, "confirm_late")
    frames, per_frame = 20, const.MAX_PENDING_RECEIPTS
    caplog.set_level(logging.INFO, logger="chat.server")
    started = time.monotonic()
    for frame in range(frames):
        bench.relay.handle(mallory, Receipts(tuple(10**12 + frame * per_frame + n for n in range(per_frame))))
        if frame == 0:
            bench.relay.handle(mallory, Receipt(10**13))  # a single frame too, beyond the burst
    elapsed = time.monotonic() - started
    bench.settle()
    budget = const.MAX_PENDING_RECEIPTS + const.LATE_RECEIPTS_PER_CONNECTION * elapsed + 1
    assert len(asked) <= budget, f"{len(asked)} store operations for {frames * per_frame} unknown ids"
    assert len(asked) >= const.MAX_PENDING_RECEIPTS  # the burst passes: an honest reconnection's
    errors = mallory.take(ErrorReply)
    unknown = [e for e in errors if e.code == ErrorCode.UNKNOWN_MESSAGE]
    limited = [e for e in errors if e.code == ErrorCode.RATE_LIMITED]
    assert len(unknown) == len(asked)  # each id the store was asked about: its own answer
    # The rest: one rate_limited per frame that had any over the budget, naming how many.
    assert 1 <= len(limited) <= frames + 1
    assert all(e.request_id is None and e.retry_after and e.retry_after > 0 for e in limited)
    assert "not done" in limited[0].message
    assert len(errors) == len(unknown) + len(limited)
    lines = [r.getMessage() for r in caplog.records if "receipts" in r.getMessage()]
    assert len(lines) == 1, lines  # once; the rest summed up by the log summary
    bench.store.close()


def test_an_honest_reconnection_has_all_its_late_receipts_recorded(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    alice, bob = log_in(bench, "Alice"), log_in(bench, "Bob")
    ids = send(bench, alice, "Bob", const.MAX_PENDING_RECEIPTS)
    assert [dm.msg_id for dm in bob.take(DirectMessage)] == ids  # shown, not confirmed yet
    # The server restarts: a new relay over the same store, nothing in flight.
    bench.relay = relay = Relay(bench.relay.config, bench.store)
    bench.ports += 1
    again = FakeSession(bench.ports)
    relay.connected(again)
    relay.handle(again, Hello("h2", "Bob", const.PROTOCOL_VERSION, None, False, bench.tokens.get("bob"),
                              (BATCH_ACKS,)))
    assert again.take(Welcome)
    # Its receipts right behind the hello, before the server sent any of them again.
    relay.handle(again, Receipts(tuple(ids)))
    bench.settle()
    assert not again.take(ErrorReply)
    stored = states(bench)
    assert {stored[msg_id][0] for msg_id in ids} == {"delivered"}
    bench.store.close()


def test_many_connections_from_one_address_share_its_budget(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    floods = [log_in(bench, f"Mallory{n}") for n in range(8)]  # one address (FakeSession's)
    asked = counting(bench, "confirm_late")
    started = time.monotonic()
    for n, mallory in enumerate(floods):  # each within its own connection's burst
        bench.relay.handle(mallory, Receipts(tuple(10**12 + n * 10**6 + i for i in range(const.MAX_PENDING_RECEIPTS))))
    elapsed = time.monotonic() - started
    bench.settle()
    # The address's budget, and each connection's floor beyond it (const.LATE_RECEIPTS_*FLOOR*).
    floor = const.LATE_RECEIPTS_BURST_FLOOR_PER_CONNECTION + const.LATE_RECEIPTS_FLOOR_PER_CONNECTION * elapsed
    budget = const.LATE_RECEIPTS_BURST_PER_ADDRESS + const.LATE_RECEIPTS_PER_ADDRESS * elapsed + len(floods) * floor + 1
    assert len(asked) <= budget, f"{len(asked)} store operations from one address"
    assert any(e.code == ErrorCode.RATE_LIMITED for e in floods[-1].take(ErrorReply))
    bench.store.close()


def test_one_flooders_connections_leave_a_classmate_a_floor_of_late_receipts(loop, store_kind):
    # A school's NAT: Mallory's eight connections spend the address's whole budget of late
    # receipts; Bob, behind the same address, back after a restart, still has his
    # reconnection's few dozen late receipts recorded (const.LATE_RECEIPTS_*FLOOR*).
    bench = RelayBench(loop, store_kind)
    alice, bob = log_in(bench, "Alice"), log_in(bench, "Bob")
    ids = send(bench, alice, "Bob", 30)
    assert [dm.msg_id for dm in bob.take(DirectMessage)] == ids  # shown, not confirmed yet
    bench.relay = relay = Relay(bench.relay.config, bench.store)  # a restart: nothing in flight
    floods = [log_in(bench, f"Mallory{n}") for n in range(8)]  # one address (FakeSession's)
    asked = counting(bench, "confirm_late")
    started = time.monotonic()
    for n, mallory in enumerate(floods):
        relay.handle(mallory, Receipts(tuple(10**12 + n * 10**6 + i for i in range(const.MAX_PENDING_RECEIPTS))))
    assert any(e.code == ErrorCode.RATE_LIMITED for e in floods[-1].take(ErrorReply))  # the address's is spent
    bench.ports += 1
    again = FakeSession(bench.ports)
    relay.connected(again)
    relay.handle(again, Hello("h2", "Bob", const.PROTOCOL_VERSION, None, False, bench.tokens.get("bob"),
                              (BATCH_ACKS,)))
    assert again.take(Welcome)
    relay.handle(again, Receipts(tuple(ids)))
    elapsed = time.monotonic() - started
    bench.settle()
    assert not again.take(ErrorReply)
    stored = states(bench)
    assert {stored[msg_id][0] for msg_id in ids} == {"delivered"}
    # And the floors are bounded: the address's budget and each connection's floor.
    floor = const.LATE_RECEIPTS_BURST_FLOOR_PER_CONNECTION + const.LATE_RECEIPTS_FLOOR_PER_CONNECTION * elapsed
    budget = const.LATE_RECEIPTS_BURST_PER_ADDRESS + const.LATE_RECEIPTS_PER_ADDRESS * elapsed + 9 * floor + 1
    assert len(asked) <= budget, f"{len(asked)} store operations from one address"
    bench.store.close()


def test_a_flood_of_edit_receipts_asks_the_store_at_most_the_late_receipts_budget(loop, store_kind, caplog):
    # An edit_receipt confirms an edit or a delete as a receipt confirms a message, and costs
    # a store operation (confirm_change) as a late receipt does: it spends the same budget
    # (const.LATE_RECEIPTS_*), and over it is not done and answered rate_limited, no id.
    bench = RelayBench(loop, store_kind)
    mallory = log_in(bench, "Mallory", ("edits",))
    asked = counting(bench, "confirm_change")
    frames = 3 * const.MAX_PENDING_RECEIPTS
    caplog.set_level(logging.INFO, logger="chat.server")
    started = time.monotonic()
    for n in range(frames):
        bench.relay.handle(mallory, EditReceipt(10**12 + n, 1.0))
    elapsed = time.monotonic() - started
    bench.settle()
    budget = const.MAX_PENDING_RECEIPTS + const.LATE_RECEIPTS_PER_CONNECTION * elapsed + 1
    assert len(asked) <= budget, f"{len(asked)} store operations for {frames} edit receipts"
    assert len(asked) >= const.MAX_PENDING_RECEIPTS  # the burst passes: an honest reconnection's
    errors = mallory.take(ErrorReply)
    limited = [e for e in errors if e.code == ErrorCode.RATE_LIMITED]
    assert len(limited) == frames - len(asked)  # each frame not done: its own answer, as a single receipt's
    assert all(e.request_id is None and e.retry_after and e.retry_after > 0 for e in limited)
    assert "edit receipt" in limited[0].message and "not done" in limited[0].message
    lines = [r.getMessage() for r in caplog.records if "over the budget" in r.getMessage()]
    assert len(lines) == 1, lines  # once; the rest summed up by the log summary
    bench.store.close()


def test_one_flooders_connections_leave_a_classmate_a_floor_of_edit_receipts(loop, store_kind):
    # A school's NAT: Mallory's connections spend the address's whole budget with edit
    # receipts; Bob, behind the same address, still has his edit confirmed on the floor
    # (const.LATE_RECEIPTS_*FLOOR*), and the store is asked at most the budget and the floors.
    bench = RelayBench(loop, store_kind)
    alice, bob = log_in(bench, "Alice", ("edits",)), log_in(bench, "Bob", ("edits",))
    [msg_id] = send(bench, alice, "Bob", 1)
    bench.relay.handle(alice, Edit("e1", msg_id, "edited"))
    bench.settle()
    assert alice.take(Done)
    [edited] = bob.take(Edited)
    floods = [log_in(bench, f"Mallory{n}", ("edits",)) for n in range(6)]  # one address (FakeSession's)
    asked = counting(bench, "confirm_change")
    started = time.monotonic()
    for n, mallory in enumerate(floods):
        for i in range(const.MAX_PENDING_RECEIPTS):
            bench.relay.handle(mallory, EditReceipt(10**12 + n * 10**6 + i, 1.0))
    assert any(e.code == ErrorCode.RATE_LIMITED for e in floods[-1].take(ErrorReply))  # the address's is spent
    bench.relay.handle(bob, EditReceipt(msg_id, edited.at))
    elapsed = time.monotonic() - started
    bench.settle()
    assert not bob.take(ErrorReply)
    assert asked[-1] == msg_id
    floor = const.LATE_RECEIPTS_BURST_FLOOR_PER_CONNECTION + const.LATE_RECEIPTS_FLOOR_PER_CONNECTION * elapsed
    budget = const.LATE_RECEIPTS_BURST_PER_ADDRESS + const.LATE_RECEIPTS_PER_ADDRESS * elapsed + 7 * floor + 1
    assert len(asked) <= budget, f"{len(asked)} store operations from one address"
    bench.store.close()
