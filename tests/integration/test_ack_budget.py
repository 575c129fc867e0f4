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
from test_batch_acks_relay import log_in, send, states
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
    stored = states(bench)
    assert {stored[msg_id][0] for msg_id in ids} == {"delivered"}
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
    stored = states(bench)
    assert {stored[msg_id] for msg_id in ids} == {("delivered", True)}
    bench.store.close()


def test_the_acks_rate_follows_a_raised_request_rate():
    """A benchmark's (or an operator's) raised request rate raises the acks' rate with it:
    the in-process driver's two clients, each at thousands of messages a second, had their
    acks refused (tests/integration/test_benchmark.py failed in CI)."""
    from server.config import ACKS_PER_REQUEST, ServerConfig
    assert ServerConfig().ack_budget == (const.ACKS_PER_CONNECTION, const.ACKS_BURST_PER_CONNECTION)
    raised = ServerConfig(rate_per_connection=1e6)
    assert raised.ack_budget == (ACKS_PER_REQUEST * 1e6, const.ACKS_BURST_PER_CONNECTION)


def shipped_rates(bench: RelayBench, **config: object) -> None:
    """The bench's relay with the request rates as shipped (the bench raises them: the
    acks' budgets follow a raised one), on the same store: a restart."""
    bench.relay = Relay(dataclasses.replace(bench.relay.config, rate_per_connection=const.RATE_PER_CONNECTION,
                                            rate_per_address=const.RATE_PER_ADDRESS, **config), bench.store)


def test_acks_from_many_connections_of_one_address_ask_the_store_at_most_the_address_budget(loop, store_kind):
    # Each connection within its own budget (a burst's two frames), twelve of them: the
    # address's budget (const.ACKS_*_PER_ADDRESS) bounds them together.
    bench = RelayBench(loop, store_kind)
    shipped_rates(bench)
    assert bench.relay.config.ack_address_budget == (const.ACKS_PER_ADDRESS, const.ACKS_BURST_PER_ADDRESS)
    sessions = [log_in(bench, f"Mallory{n}") for n in range(12)]
    asked = counting(bench, "record_ack")
    per_frame = const.MAX_PENDING_RECEIPTS
    started = time.monotonic()
    for frame in range(2):
        for n, session in enumerate(sessions):
            first = 10**12 + (frame * len(sessions) + n) * per_frame
            bench.relay.handle(session, OutcomeAcks(tuple(range(first, first + per_frame))))
    elapsed = time.monotonic() - started
    bench.settle()
    budget = const.ACKS_BURST_PER_ADDRESS + const.ACKS_PER_ADDRESS * elapsed + per_frame
    assert len(asked) <= budget, f"{len(asked)} store operations for {2 * len(sessions) * per_frame} unknown ids"
    assert len(asked) >= const.ACKS_BURST_PER_ADDRESS  # the burst passes whole
    limited = [e for s in sessions for e in s.take(ErrorReply) if e.code == ErrorCode.RATE_LIMITED]
    assert len(limited) >= 2 * len(sessions) - budget // per_frame
    assert all(e.retry_after and f"{per_frame} not done" in e.message for e in limited)
    bench.store.close()


def test_a_school_behind_one_address_reconnecting_at_once_has_every_ack_done(loop):
    # 200 students behind one NAT address, each of whom wrote ten messages to the next
    # before a restart (half of them confirmed, none of the outcomes acknowledged). After
    # it, all log in at once: each is told its five outcomes from the store and gets its
    # five unconfirmed messages again, confirms those at once (so their senders are told
    # five outcomes more, live) and acknowledges every outcome. None is refused.
    bench = RelayBench(loop, "memory")
    students, count = 200, 10
    names = [f"Aluno{n:03d}" for n in range(students)]
    sessions = {name: log_in(bench, name) for name in names}
    sent: dict[str, list[int]] = {}
    for n, name in enumerate(names):
        sent[name] = send(bench, sessions[name], names[(n + 1) % students], count)
    for name, session in sessions.items():
        shown = [dm.msg_id for dm in session.take(DirectMessage)]
        assert len(shown) == count
        bench.relay.handle(session, Receipts(tuple(shown[:count // 2])))
    bench.settle()
    shipped_rates(bench)  # the restart: nobody is online
    sessions = {name: log_in(bench, name) for name in names}
    for session in sessions.values():
        bench.relay.handle(session, Receipts(tuple(dm.msg_id for dm in session.take(DirectMessage))))
    bench.settle()
    for session in sessions.values():
        bench.relay.handle(session, OutcomeAcks(tuple(d.msg_id for d in session.take(Delivered))))
    bench.settle()
    assert [e for s in sessions.values() for e in s.take(ErrorReply)] == []
    assert set(states(bench).values()) == {("delivered", True)}
    assert len(states(bench)) == students * count
    bench.store.close()


def test_one_flooders_connections_leave_a_classmate_a_floor_of_acks(loop, store_kind):
    # A school's NAT: twelve connections of Mallory's spend the address's whole budget of
    # acks; Carol, behind the same address, still has the ack of her message's outcome
    # recorded (const.ACKS_*FLOOR*), while Mallory's frames of a thousand never pass on it.
    bench = RelayBench(loop, store_kind)
    shipped_rates(bench)
    carol, bob = log_in(bench, "Carol"), log_in(bench, "Bob")
    [msg_id] = send(bench, carol, "Bob", 1)
    bench.relay.handle(bob, Receipts((msg_id,)))
    bench.settle()
    assert [d.msg_id for d in carol.take(Delivered)] == [msg_id]
    sessions = [log_in(bench, f"Mallory{n}") for n in range(13)]
    asked = counting(bench, "record_ack")
    per_frame = const.MAX_PENDING_RECEIPTS
    started = time.monotonic()
    for frame in range(2):
        for n, session in enumerate(sessions[:-1]):
            first = 10**12 + (frame * len(sessions) + n) * per_frame
            bench.relay.handle(session, OutcomeAcks(tuple(range(first, first + per_frame))))
    assert any(e.code == ErrorCode.RATE_LIMITED for e in sessions[-2].take(ErrorReply))
    for n in range(per_frame):  # what refilled meanwhile, spent by the last one's single acks
        bench.relay.handle(sessions[-1], OutcomeAck(10**13 + n))
        if any(e.code == ErrorCode.RATE_LIMITED for e in sessions[-1].take(ErrorReply)):
            break
    else:
        raise AssertionError("the address's budget was never spent")
    bench.relay.handle(carol, OutcomeAck(msg_id))
    elapsed = time.monotonic() - started
    bench.settle()
    assert not carol.take(ErrorReply)
    assert states(bench)[msg_id] == ("delivered", True)
    floor = const.ACKS_BURST_FLOOR_PER_CONNECTION + const.ACKS_FLOOR_PER_CONNECTION * elapsed
    budget = const.ACKS_BURST_PER_ADDRESS + const.ACKS_PER_ADDRESS * elapsed + per_frame + 2 * floor + 1
    assert len(asked) <= budget, f"{len(asked)} store operations from one address"
    bench.store.close()
