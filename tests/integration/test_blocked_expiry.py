"""A message to someone who blocks its sender ends as any unconfirmed message does
(PROTOCOL.md, ``send``, "Blocking"): its sender is told ``expired`` at its expiry time,
and sees it so in history, as if the recipient never came back; the recipient never sees
it, not even after an unblock; the store forgets it as it forgets any told outcome. On
every store (the relay over each: see ``store_kind``)."""

from __future__ import annotations

import dataclasses
import time

import pytest

from protocol import (
    Accepted, Block, DirectMessage, Done, ErrorCode, ErrorReply, HistoryPage, HistoryRequest, OutcomeAck, SendDirect,
    Unblock,
)

from test_store import RelayBench, loop, store_kind, stored_messages  # noqa: F401  (fixtures)


def history(bench: RelayBench, session, peer: str) -> list[tuple[int, str]]:
    bench.relay.handle(session, HistoryRequest("h", peer))
    bench.settle()
    [page] = session.take(HistoryPage)
    return [(entry.msg_id, entry.state) for entry in page.messages]


def expired_ids(session) -> list[int]:
    errors = session.take(ErrorReply)
    assert all(error.code == ErrorCode.EXPIRED for error in errors), errors
    return [error.msg_id for error in errors]


def test_a_blocked_message_expires_at_its_time_and_its_sender_is_told_as_for_any_other(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    alice = bench.login("Alice")
    bob = bench.login("Bob", "correct horse", register=True)
    bench.relay.handle(bob, Block("b", "Alice"))
    bench.settle()
    assert bob.take(Done) == [Done("b")]
    bench.relay.handle(alice, SendDirect("m1", "Bob", "hello?"))
    bench.settle()
    [accepted] = alice.take(Accepted)
    assert bob.take(DirectMessage) == []
    assert history(bench, alice, "Bob") == [(accepted.msg_id, "sent")]
    # Before its time: nothing; at it: expired, as a message nobody confirmed.
    ttl = bench.relay.config.queue_ttl
    bench.relay.expire(time.time() + ttl - 60)
    bench.settle()
    assert expired_ids(alice) == []
    bench.relay.expire(time.time() + ttl + 1)
    bench.settle()
    assert expired_ids(alice) == [accepted.msg_id]
    assert history(bench, alice, "Bob") == [(accepted.msg_id, "expired")]
    assert history(bench, bob, "Alice") == []  # still not Bob's to see
    # A resend answers what it became; a new login of the sender hears it again until acked.
    bench.relay.handle(alice, SendDirect("m1", "Bob", "hello?"))
    bench.settle()
    assert expired_ids(alice) == [accepted.msg_id]
    bench.relay.disconnected(alice, None)
    alice = bench.login("Alice")
    bench.settle()
    assert expired_ids(alice) == [accepted.msg_id]
    bench.relay.handle(alice, OutcomeAck(accepted.msg_id))
    bench.settle()
    assert [(msg_id, told) for msg_id, _, _, told in stored_messages(bench.store)] == [(accepted.msg_id, True)]
    # Told and old: forgotten as any told outcome is.
    far = time.time() + 2 * bench.relay.config.history_retention
    bench.store.purge(far, far + 1)
    bench.settle()
    bench.relay.handle(alice, SendDirect("m2", "Bob", "newer"))  # the newest message always stays
    bench.settle()
    bench.store.purge(far, far + 1)
    bench.settle()
    assert accepted.msg_id not in [msg_id for msg_id, *_ in stored_messages(bench.store)]
    bench.store.close()


def test_a_message_sent_while_blocked_is_not_delivered_after_an_unblock_and_expires(loop, store_kind):
    """PROTOCOL.md: blocked, "never delivered" (an unblock lets *new* messages through)."""
    bench = RelayBench(loop, store_kind)
    alice = bench.login("Alice")
    bob = bench.login("Bob", "correct horse", register=True)
    bench.relay.handle(bob, Block("b", "Alice"))
    bench.settle()
    bench.relay.handle(alice, SendDirect("m1", "Bob", "while blocked"))
    bench.settle()
    [blocked] = alice.take(Accepted)
    bench.relay.handle(bob, Unblock("u", "Alice"))
    bench.relay.handle(alice, SendDirect("m2", "Bob", "after the unblock"))
    bench.settle()
    [after] = alice.take(Accepted)
    assert [m.msg_id for m in bob.take(DirectMessage)] == [after.msg_id]
    bench.relay.disconnected(bob, None)
    bob = bench.login("Bob", "correct horse")  # a new login brings nothing sent while blocked
    bench.settle()
    assert [m.msg_id for m in bob.take(DirectMessage)] == [after.msg_id]  # unconfirmed: again
    assert history(bench, bob, "Alice") == [(after.msg_id, "sent")]  # and never the blocked one
    bench.relay.expire(time.time() + bench.relay.config.queue_ttl + 1)
    bench.settle()
    assert expired_ids(alice) == [blocked.msg_id, after.msg_id]
    assert history(bench, bob, "Alice") == [(after.msg_id, "expired")]
    bench.store.close()


def test_an_expiry_says_how_long_the_message_waited_by_the_servers_lifetime(loop, store_kind):
    """``waited`` in the ``expired`` error: the message's lifetime on this server (its
    QUEUE_TTL, here set to a day by its operator), told live and again at a login, so that
    clients say the server's number, not their own const.QUEUE_TTL."""
    bench = RelayBench(loop, store_kind)
    bench.relay.config = dataclasses.replace(bench.relay.config, queue_ttl=86400.0)
    alice = bench.login("Alice")
    bench.login("Bob", "correct horse", register=True)
    bench.relay.handle(alice, SendDirect("m1", "Bob", "hello?"))
    bench.settle()
    [accepted] = alice.take(Accepted)
    bench.relay.expire(time.time() + 86400.0 + 1)
    bench.settle()
    [told] = alice.take(ErrorReply)
    assert (told.code, told.msg_id, told.waited) == (ErrorCode.EXPIRED, accepted.msg_id, pytest.approx(86400.0))
    bench.relay.disconnected(alice, None)
    alice = bench.login("Alice")
    bench.settle()
    [again] = alice.take(ErrorReply)
    assert again.waited == pytest.approx(86400.0)
    bench.store.close()
