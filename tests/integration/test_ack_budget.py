"""Acks of outcomes (``Relay._acknowledge``) over every store (``store_kind``): each costs
a store operation (``record_ack``), and acks are not requests (a sender acks every outcome
it is told), so they have a budget of their own, spent once per frame (PROTOCOL.md "Limits").

A flood of acks for ids the store never told its user asks the store at most the budget
(its burst, then its rate); each frame over it is answered with one ``rate_limited``, not
one error per id, and the log says so once. An honest sender's acks of a large backlog of
outcomes told at login, page after page, are all recorded."""

from __future__ import annotations

import dataclasses
import logging
import time

import const
from protocol import (
    Delivered, DirectMessage, ErrorCode, ErrorReply, OutcomeAck, OutcomeAcks, Queued, Receipts, SendDirect,
)
from server.relay import Relay
from test_batch_acks_relay import log_in, states
from test_late_receipts import counting
from test_store import RelayBench, loop, store_kind  # noqa: F401  (fixtures)


def test_a_flood_of_unknown_acks_asks_the_store_at_most_the_budget(loop, store_kind, caplog):
    bench = RelayBench(loop, store_kind)
    # The request rate as shipped (the bench raises it): the acks' rate follows a raised one.
    bench.relay = Relay(dataclasses.replace(bench.relay.config, rate_per_connection=const.RATE_PER_CONNECTION),
                        bench.store)
    assert bench.relay.config.ack_budget == (const.ACKS_PER_CONNECTION, const.ACKS_BURST_PER_CONNECTION)
    mallory = log_in(bench, "Mallory")
    asked = counting(bench, "record_ack")
    frames, per_frame = 20, const.MAX_PENDING_RECEIPTS
    caplog.set_level(logging.INFO, logger="chat.server")
    started = time.monotonic()
    for frame in range(frames):
        bench.relay.handle(mallory, OutcomeAcks(tuple(10**12 + frame * per_frame + n for n in range(per_frame))))
        if frame == 2:
            bench.relay.handle(mallory, OutcomeAck(10**13))  # a single frame too, beyond the burst
    elapsed = time.monotonic() - started
    bench.settle()
    budget = const.ACKS_BURST_PER_CONNECTION + const.ACKS_PER_CONNECTION * elapsed + per_frame
    assert len(asked) <= budget, f"{len(asked)} store operations for {frames * per_frame} unknown ids"
    assert len(asked) >= const.ACKS_BURST_PER_CONNECTION  # the burst passes whole
    errors = mallory.take(ErrorReply)
    unknown = [e for e in errors if e.code == ErrorCode.UNKNOWN_MESSAGE]
    limited = [e for e in errors if e.code == ErrorCode.RATE_LIMITED]
    assert len(unknown) == len(asked)  # each id the store was asked about: its own answer
    # The rest: one rate_limited per frame over the budget, naming how many ids were not done.
    assert frames - budget // per_frame <= len(limited) <= frames + 1
    assert all(e.request_id is None and e.retry_after and e.retry_after > 0 for e in limited)
    assert f"{per_frame} not done" in limited[0].message
    assert len(errors) == len(unknown) + len(limited)
    lines = [r.getMessage() for r in caplog.records if "acks" in r.getMessage()]
    assert len(lines) == 1, lines  # once; the rest summed up by the log summary
    bench.store.close()


def test_an_honest_sender_has_all_its_acks_of_a_large_backlog_recorded(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    # Scaled down (the Redis store is slow at thousands): a burst of 100 acks and pages of
    # 50 outcomes, and four times the burst told at login, page after page.
    # (A request rate of 0.1 a second, so that the acks' rate is the 1.0 set here; the
    # bench's burst of requests lets the 400 messages through.)
    bench.relay = Relay(dataclasses.replace(bench.relay.config, acks_per_connection=1.0, acks_burst_per_connection=100.0,
                                            max_pending_receipts=50, rate_per_connection=0.1), bench.store)
    assert bench.relay.config.ack_budget == (1.0, 100.0)
    count = 400
    bench.relay.disconnected(log_in(bench, "Bob"), None)  # known, offline: the messages wait
    alice = log_in(bench, "Alice")
    for n in range(count):
        bench.relay.handle(alice, SendDirect(f"m{n}", "Bob", f"message {n}"))
    bench.settle()
    ids = [queued.msg_id for queued in alice.take(Queued)]
    assert len(ids) == count
    bench.relay.disconnected(alice, None)
    bob = log_in(bench, "Bob")
    for _ in range(count):  # Bob confirms what he is shown, as it comes
        shown = [dm.msg_id for dm in bob.take(DirectMessage)]
        if not shown:
            break
        bench.relay.handle(bob, Receipts(tuple(shown)))
        bench.settle()
    assert {states(bench)[msg_id][0] for msg_id in ids} == {"delivered"}
    alice = log_in(bench, "Alice")  # told every outcome again, a page at a time: acks them as told
    told: list[int] = []
    for _ in range(count):
        outcomes = [d.msg_id for d in alice.take(Delivered)]
        if not outcomes:
            break
        told += outcomes
        bench.relay.handle(alice, OutcomeAcks(tuple(outcomes)))
        bench.settle()
    assert sorted(told) == sorted(ids)
    assert not alice.take(ErrorReply)
    assert {states(bench)[msg_id] for msg_id in ids} == {("delivered", True)}
    bench.store.close()


def test_the_acks_rate_follows_a_raised_request_rate():
    """A benchmark's (or an operator's) raised request rate raises the acks' rate with it:
    the in-process driver's two clients, each at thousands of messages a second, had their
    acks refused (tests/integration/test_benchmark.py failed in CI)."""
    from server.config import ACKS_PER_REQUEST, ServerConfig
    assert ServerConfig().ack_budget == (const.ACKS_PER_CONNECTION, const.ACKS_BURST_PER_CONNECTION)
    raised = ServerConfig(rate_per_connection=1e6)
    assert raised.ack_budget == (ACKS_PER_REQUEST * 1e6, const.ACKS_BURST_PER_CONNECTION)
