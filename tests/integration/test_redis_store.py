"""The Redis store answers as the memory store does, and keeps the store contract.

1. Differential: the random operations of tests/integration/test_memory_store.py through the public
   interface of :class:`RedisStore` (over a real redis-server) and of
   :class:`MemoryStore`: every answer and the stored state after each step must be equal
   (both number messages themselves, a resend taking no id).
2. The contract of base.py over Redis: answers in submission order, never inside the
   call; Redis killed: every operation answered ``unavailable`` within the client's
   timeout; Redis back: the next one works and ``on_recovered`` is called.
3. Start-up: the durability check's warnings; the loading operations; re-reading one
   record.

The relay's own tests (RelayBench in tests/integration/test_store.py) run over this store too.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial

import pytest
from redisserver import RedisServer, redis_server  # noqa: F401  (a fixture)
from test_memory_store import random_steps

from resp import RedisClient, RedisError
from server.accounts import Account
from server.credentials import Credential
from server.guests import Holding
from server.mailbox import ID_REUSED, STALE, StaleRoom, StoredMessage
from server.store import StoreUnavailable
from server.stores import MemoryStore
from server.cluster.checks import durability_warning
from server.cluster.clock import CLOCK_SKEW_LIMIT
from server.stores.redis import RedisStore


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def open_redis_store(loop, url: str, **kwargs) -> RedisStore:
    store = RedisStore(url, **kwargs)
    store.open()
    store.start(loop)
    return store


class PublicOps:
    """The operations of the differential test through a store's public interface, each
    answered before the next (the loop runs until the store is drained)."""

    def __init__(self, loop, store) -> None:
        self.loop, self.target = loop, store

    def _call(self, method, *args):
        answers = []
        method(*args, answers.append, lambda failure: answers.append(failure))
        self.loop.run_until_complete(self.target.drain(timeout=10))
        assert len(answers) == 1, answers
        assert not isinstance(answers[0], StoreUnavailable), answers[0]
        return answers[0]

    def store(self, messages):
        results = []
        for message in messages:
            results.append(self._call(self.target.store_message, message))
        # The id given to a refused request is nobody's business: compare without it.
        return [(replace(message, msg_id=0) if status == ID_REUSED else message, status)
                for message, status in results]

    def receipt(self, msg_id, key):
        return self._call(self.target.record_receipt, msg_id, key)

    def ack(self, msg_id, key):
        return self._call(self.target.record_ack, msg_id, key)

    def change(self, msg_id, key, text, now, window, quiet_for, may_post_in=None):
        return self._call(partial(self.target.change_message, may_post_in=may_post_in), msg_id, key, text, now,
                          window, quiet_for)

    def __getattr__(self, name):
        return lambda *args: self._call(getattr(self.target, name), *args)

    def last_msg_id(self):
        return self.target.last_msg_id()


def memory_dump(store: MemoryStore):
    """Each message's id, request id, state, told, text, edited at, deleted, and whether
    its recipient has a change of it to confirm."""
    changes = store._changes
    return [(m.msg_id, m.client_id, row.state, row.told, m.text, m.edited_at, m.deleted,
             changes.get(m.recipient_key, {}).get(m.msg_id) is row)
            for row in store._messages.values() for m in (row.message,)]


FIXED = ("sk", "s", "r", "rk", "at", "x", "c")  # the fields of a direct message's ``f``, in its order


def fixed_parts(packed: bytes) -> dict[str, bytes]:
    """A message's ``f``, by field name."""
    return dict(zip(FIXED, packed.split(b"\t", len(FIXED) - 1)))


def held(row: list, names: tuple) -> list:
    """An HMGET reply of a message's ``names`` and then ``f``, as the fields it holds: ``f``
    (a direct message's fixed fields, tab-joined in FIXED's order) fills the names it
    holds, a field of its own wins (the scripts' hmget)."""
    *own, packed = row
    if packed is None:
        return own
    parts = fixed_parts(packed)
    return [value if value is not None else parts.get(name) for name, value in zip(names, own)]


async def stored_ids(redis: RedisClient, prefix: str) -> list[int]:
    """The ids of the stored messages, in order: every id up to ``next`` whose hash exists
    (the store keeps no set of them all)."""
    top = int(await redis.execute("GET", prefix + "next") or 0)
    found = await redis.pipeline([("EXISTS", f"{prefix}m:{i}") for i in range(1, top + 1)]) if top else []
    return [i for i, exists in zip(range(1, top + 1), found) if exists]


async def redis_dump(url: str, prefix: str):
    """As :func:`memory_dump`, from the Redis keys (the stored text too: a delete blanks it).
    An outcome is told when it is out of its sender's ``untold`` (a room's or a blocked
    message has none to tell; a pending one is not told yet)."""
    async with RedisClient(url) as redis:
        ids = await stored_ids(redis, prefix)
        rows = [held(row, ("c", "st", "sk", "t", "e", "d", "rk"))
                for row in await redis.pipeline([("HMGET", f"{prefix}m:{int(i)}", "c", "st", "sk", "t", "e", "d", "rk",
                                                  "f") for i in ids])]
        pending = await redis.pipeline([("ZSCORE", f"{prefix}chg:{row[6].decode()}", int(i))
                                        for i, row in zip(ids, rows) if row[6] is not None])
        untold = await redis.pipeline([("ZSCORE", f"{prefix}untold:{row[2].decode()}", int(i))
                                       for i, row in zip(ids, rows)])
    pending = iter(pending)

    def told(st: bytes, in_untold: bytes | None) -> bool:
        return st in (b"room", b"blocked") or (st in (b"delivered", b"expired", b"blocked_expired") and in_untold is None)

    return [(int(i), c.decode(), st.decode(), told(st, u), t.decode(), None if e is None else float(e), d == b"1",
             rk is not None and next(pending) is not None)
            for i, (c, st, sk, t, e, d, rk), u in zip(ids, rows, untold)]


async def stray_changes(url: str, prefix: str) -> list[tuple[str, int]]:
    """Members of the ``chg:<key>`` sets that are no stored message (purge must take them
    out with the message: memory stays bounded by the retention)."""
    async with RedisClient(url) as redis:
        ids = set(await stored_ids(redis, prefix))
        keys = await redis.execute("KEYS", prefix + "chg:*")  # braces are no glob characters
        members = await redis.pipeline([("ZRANGE", key, 0, -1) for key in keys])
    return [(key.decode(), int(i)) for key, found in zip(keys, members) for i in found if int(i) not in ids]


@pytest.mark.timeout_seconds(120)
@pytest.mark.parametrize("seed", range(12))
def test_the_redis_store_answers_every_operation_as_the_memory_store_does(seed, loop, redis_server):
    rng = random.Random(seed)
    prefix = f"{{t{seed}}}:"
    memory = MemoryStore()
    memory.open()
    memory.start(loop)
    redis = open_redis_store(loop, redis_server.url, prefix=prefix)
    memory_ops, redis_ops = PublicOps(loop, memory), PublicOps(loop, redis)
    try:
        for number, (name, args) in enumerate(random_steps(rng, 200)):
            expected = getattr(memory_ops, name)(*args)
            got = getattr(redis_ops, name)(*args)
            where = f"seed {seed}, step {number}: {name}{args}"
            assert got == expected, where
            assert redis.last_msg_id() == memory.last_msg_id(), where
            if number % 10 == 9 or name in ("purge", "hand_over"):
                assert loop.run_until_complete(redis_dump(redis_server.url, prefix)) == memory_dump(memory), where
                assert loop.run_until_complete(stray_changes(redis_server.url, prefix)) == [], where
        assert loop.run_until_complete(redis_dump(redis_server.url, prefix)) == memory_dump(memory)
    finally:
        redis.close()


def dm(client_id: str, text: str = "hi", to: str = "Bob") -> StoredMessage:
    return StoredMessage(0, "Alice", "alice", to, to.lower(), text, 1000.0, client_id, "queued", 9e9)


def two_stored(loop, store: RedisStore) -> tuple[int, int]:
    """Two direct messages to Bob stored and committed: their ids."""
    stored = []
    store.store_message(dm("m1"), stored.append)
    store.store_message(dm("m2"), stored.append)
    loop.run_until_complete(store.drain(timeout=5))
    return stored[0][0].msg_id, stored[1][0].msg_id


def test_the_store_script_decides_a_block_by_the_block_lists_in_redis_as_it_stores(loop, redis_server):
    """Redis's block lists, not the node's cache of them, decide (docs/cluster.md,
    "Blocks"): a direct message asked as ``queued`` or ``sent`` from a sender its
    recipient blocks in Redis is stored ``blocked`` in the same step: answered so, pending
    for nobody (no fetch at a login finds it), told ``expired`` at its expiry time. A
    resend finds it as it is; once unblocked, the next message waits for its recipient
    again. A room's post is not a direct message: no block list is read for it."""
    store = open_redis_store(loop, redis_server.url)
    answers = []

    def run(*calls) -> list:
        del answers[:]
        for call in calls:
            call()
        loop.run_until_complete(store.drain(timeout=5))
        return list(answers)

    def sent(client_id: str, state: str = "queued") -> Callable:
        message = replace(dm(client_id), state=state, expires_at=1500.0)
        return lambda: store.store_message(message, lambda result: answers.append((result[0].state, result[1])))
    run(lambda: store.set_block("bob", "alice", True, answers.append))
    assert run(sent("b1"), sent("b2", "sent")) == [("blocked", "new"), ("blocked", "new")]
    assert run(sent("b1")) == [("blocked", "resend")]
    assert run(lambda: store.pending_for("bob", 0, 10, answers.append)) == [[]]
    [told] = run(lambda: store.expire(1501.0, answers.append))
    assert sorted((m.client_id, m.state) for m in told) == [("b1", "expired"), ("b2", "expired")]
    run(lambda: store.set_block("bob", "alice", False, answers.append))
    assert run(sent("b3")) == [("queued", "new")]
    [waiting] = run(lambda: store.pending_for("bob", 0, 10, answers.append))
    assert [m.client_id for m in waiting] == ["b3"]
    store.close()


def test_answers_come_in_submission_order_never_inside_the_call(loop, redis_server):
    store = open_redis_store(loop, redis_server.url)
    answers = []
    store.store_message(dm("a"), lambda result: answers.append(("stored", result[0].msg_id, result[1])))
    store.highest_msg_id(lambda value: answers.append(("highest", value)))
    store.remember_user("bob", "Bob", 1.0, lambda _: answers.append("remembered"))
    store.pending_for("bob", 0, 10, lambda found: answers.append(("pending", [m.msg_id for m in found])))
    store.record_receipt(1, "bob", lambda _: answers.append("receipt"))
    store.record_ack(1, "alice", answers.append)
    assert answers == []
    loop.run_until_complete(store.drain(timeout=5))
    assert answers == [("stored", 1, "new"), ("highest", 1), "remembered", ("pending", [1]), "receipt", True]
    store.close()


def test_a_message_behind_one_redis_did_not_store_is_refused_unless_it_is_a_resend(loop, redis_server):
    """RedisStore._behind names the message a new one must come behind; Redis (_BEHIND)
    stores the new one only if that one's request id is filed: else BEHIND, answered as
    unavailable for now, nothing written. A resend is recognised all the same, and a new
    message behind one that was stored is stored."""
    store = open_redis_store(loop, redis_server.url)
    stored, refused = [], []

    def send(message: StoredMessage, after: str) -> None:
        store._behind = lambda sender_key, conversation, client_id: after  # as if m-after were in flight
        store.store_message(message, lambda result: stored.append((result[0].client_id, result[1])),
                            lambda failure: refused.append((message.client_id, failure.reason)))
        loop.run_until_complete(store.drain(timeout=5))
    send(dm("m1"), None)
    send(dm("m2"), "never-stored")
    send(dm("m1"), "never-stored")  # a resend
    send(dm("m3"), "m1")
    assert stored == [("m1", "new"), ("m1", "resend"), ("m3", "new")]
    assert refused == [("m2", "not stored: BEHIND the message before it in its conversation was not stored")]
    store._behind = RedisStore._behind.__get__(store)
    pending = []
    store.pending_for("bob", 0, 10, lambda found: pending.extend(m.client_id for m in found))
    loop.run_until_complete(store.drain(timeout=5))
    assert pending == ["m1", "m3"]
    store.close()


def test_redis_killed_every_operation_is_answered_unavailable_in_time_then_it_recovers(loop, redis_server, caplog):
    """The relay answers 'unavailable' from on_error: it must come within the client's
    timeout, not never; once Redis is back, the next operation works, and on_recovered
    tells the relay to retry what it keeps."""
    timeout = 1.0
    store = open_redis_store(loop, redis_server.url, timeout=timeout)
    recovered = []
    store.on_recovered = lambda: recovered.append(True)
    answers = []
    store.store_message(dm("before"), answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    assert [m.msg_id for m, _ in answers] == [1]
    redis_server.kill()
    errors = []
    started = time.monotonic()
    store.store_message(dm("during"), answers.append, errors.append)
    store.pending_for("bob", 0, 10, answers.append, errors.append)
    loop.run_until_complete(store.drain(timeout=10))
    took = time.monotonic() - started
    assert len(answers) == 1 and len(errors) == 2
    assert all(isinstance(e, StoreUnavailable) and e.storage for e in errors)
    assert took < timeout + 1.0, f"answered after {took:.1f} s"
    assert "storage failing" in caplog.text  # said once by the failure log
    # ... in words true of Redis as of a disk (it said "requests that need the disk")
    assert "requests that need the store are answered 'unavailable'" in caplog.text
    assert not recovered
    redis_server.start()  # without an append-only file: it comes back empty
    store.store_message(dm("after"), answers.append, errors.append)
    loop.run_until_complete(store.drain(timeout=10))
    assert len(errors) == 2, errors
    assert answers[-1][0].client_id == "after" and answers[-1][1] == "new"
    assert recovered == [True]
    store.close()


def wait_until_disconnected(loop, store: RedisStore, timeout: float = 5.0) -> None:
    async def wait() -> None:
        deadline = time.monotonic() + timeout
        while store._client.connected:
            assert time.monotonic() < deadline, "the client did not notice that Redis went away"
            await asyncio.sleep(0.01)
    loop.run_until_complete(wait())


def test_a_restarted_redis_that_forgot_the_scripts_gets_them_again(loop, tmp_path):
    with RedisServer(tmp_path / "redis", appendfsync="always") as server:
        store = open_redis_store(loop, server.url, timeout=2.0)
        answers = []
        store.store_message(dm("a"), answers.append)
        loop.run_until_complete(store.drain(timeout=5))
        server.kill()
        wait_until_disconnected(loop, store)  # as a running server's loop notices at once
        server.start()  # the data is back (append-only file), the script cache is not
        store.store_message(dm("b"), answers.append, answers.append)
        store.pending_for("bob", 0, 10, answers.append, answers.append)
        loop.run_until_complete(store.drain(timeout=10))
        assert [(m.msg_id, status) for m, status in answers[:2]] == [(1, "new"), (2, "new")]
        assert [m.client_id for m in answers[2]] == ["a", "b"]
        store.close()


def test_the_loading_operations_give_back_what_was_written_and_records_can_be_read_again(loop, redis_server):
    store = open_redis_store(loop, redis_server.url)
    store.remember_user("bob", "Bob", 1.0)
    store.set_block("alice", "bob", True)
    store.set_block("alice", "carol", True)
    store.set_block("alice", "carol", False)
    store.set_block("dave", "bob", True)
    store.clear_blocks("dave")
    created = []
    store.save_account("erin", Account("Erin", b"h\x00\xff", b"s"), created.append)
    store.save_account("erin", Account("ERIN", b"h", b"s"), created.append)
    store.save_holding("frank", Holding("Frank", b"t\x00", 7, None))
    store.set_left_at("frank", None)
    store.set_left_at("nobody", 5.0)  # no holding: nothing is made
    reread = []
    store.account("erin", reread.append)
    store.account("zoe", reread.append)
    store.holding("frank", 9.0, reread.append)
    store.blocked_by("alice", reread.append)
    store.highest_msg_id(reread.append)  # no message yet
    loop.run_until_complete(store.drain(timeout=5))
    assert created == [True, False]
    assert reread == [Account("Erin", b"h\x00\xff", b"s"), None, Holding("Frank", b"t\x00", 7, 9.0), {"bob"}, 0]
    store.close()
    again = open_redis_store(loop, redis_server.url)  # as another node at its start
    assert again.known_users() == {"bob": "Bob"}
    assert again.blocks() == [("alice", "bob")]
    assert again.accounts() == {"erin": Account("Erin", b"h\x00\xff", b"s")}
    assert again.guest_holdings(50.0) == {"frank": Holding("Frank", b"t\x00", 7, 50.0)}
    again.close()


def test_a_node_starting_reads_back_the_receipts_switches_and_the_live_account_credentials(loop, redis_server):
    store = open_redis_store(loop, redis_server.url)
    store.set_read_receipts("alice", False)
    store.set_read_receipts("bob", False)
    store.set_read_receipts("bob", True)  # on again: out of the set
    store.set_read_receipts("carol", False)
    store.save_account_credential(b"\x01\xff", Credential("erin", 100.0), 1.0)
    store.save_account_credential(b"\x02", Credential("erin", 200.0), 1.0)
    store.save_account_credential(b"\x03", Credential("frank", 20.0), 1.0)  # expired at 50
    store.save_account_credential(b"\x04", Credential("gina", 300.0), 1.0)
    store.save_account_credential(b"\x05", Credential("gina", 50.0), 1.0)  # ends at 50: not live then (as SQLite)
    store.revoke_account_credential(b"\x02")
    loop.run_until_complete(store.drain(timeout=5))
    store.close()
    again = open_redis_store(loop, redis_server.url)  # as another node at its start
    assert again.receipts_off() == {"alice", "carol"}
    assert again.account_credentials(50.0) == {b"\x01\xff": Credential("erin", 100.0),
                                               b"\x04": Credential("gina", 300.0)}
    again.close()


def test_a_restarted_redis_gives_back_the_receipts_switches_and_account_credentials(loop, tmp_path):
    with RedisServer(tmp_path / "redis", appendfsync="always") as server:
        store = open_redis_store(loop, server.url, timeout=2.0)
        store.set_read_receipts("alice", False)
        store.save_account_credential(b"\x07", Credential("erin", 100.0), 1.0)
        loop.run_until_complete(store.drain(timeout=5))
        store.close()
        server.kill()
        server.start()  # the data is back from the append-only file
        again = open_redis_store(loop, server.url, timeout=2.0)
        assert again.receipts_off() == {"alice"}
        assert again.account_credentials(2.0) == {b"\x07": Credential("erin", 100.0)}
        again.close()


def test_the_highest_id_a_node_has_seen_never_goes_down_when_an_older_counter_is_heard(loop, redis_server):
    """last_msg_id is a lower bound of the ids given out (a guest name's epoch is taken from
    it): a CLAIM's reading of the counter that left Redis before this node's own stores
    were answered must not lower it."""
    store = open_redis_store(loop, redis_server.url)
    try:
        two_stored(loop, store)
        assert store.last_msg_id() == 2
        store.note_last_id(1)  # read before the second store
        assert store.last_msg_id() == 2
        store.note_last_id(5)  # another node's since
        assert store.last_msg_id() == 5
    finally:
        store.close()


def test_a_node_that_reads_the_highest_id_counts_from_it(loop, redis_server):
    """highest_msg_id: the id another node gave out, read from Redis, is the lower bound
    last_msg_id answers from then on (this node stored nothing since its start)."""
    store = open_redis_store(loop, redis_server.url)
    try:
        other = open_redis_store(loop, redis_server.url)
        two_stored(loop, other)
        other.close()
        assert store.last_msg_id() == 0  # what it read at its start
        answers: list = []
        store.highest_msg_id(answers.append, answers.append)
        loop.run_until_complete(store.drain(timeout=5))
        assert (answers, store.last_msg_id()) == ([2], 2)
    finally:
        store.close()


def test_a_holding_save_keeps_a_newer_holding_another_node_wrote_and_says_so(loop, redis_server):
    """A node's save of a guest holding (retried at recovery, or late) must not overwrite
    a newer holding of the name another node wrote meanwhile (its guest took the name past
    the hold: a greater epoch, another token); the caller hears False. Its own holding
    saved again (its leaving noted) and one replacing an older holding answer True."""
    store = open_redis_store(loop, redis_server.url)
    answers = []
    store.save_holding("frank", Holding("Frank", b"old", 7, None), answers.append)
    store.save_holding("frank", Holding("Frank", b"old", 7, 5.0), answers.append)  # its leaving
    store.save_holding("frank", Holding("FRANK", b"new", 9, None), answers.append)  # another node's take
    store.save_holding("frank", Holding("Frank", b"old", 7, 5.0), answers.append)  # the first node, late
    store.holding("frank", 6.0, answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    assert answers == [True, True, True, False, Holding("FRANK", b"new", 9, 6.0)]  # (re-read: "left" at 6.0)
    store.close()


def test_a_holding_save_under_the_same_epoch_keeps_the_later_take(loop, redis_server):
    """Two takes with no message stored between have one epoch: the later is the one whose
    holder is online or left later. A late save of a holding whose guest left (at 5.0)
    keeps one online or gone since (at 7.0); one whose guest is online (a take's first
    save: the earlier holder left before it) or left later replaces it."""
    store = open_redis_store(loop, redis_server.url)
    answers = []
    store.save_holding("gil", Holding("Gil", b"new", 7, None), answers.append)  # the later take, online
    store.save_holding("gil", Holding("Gil", b"old", 7, 5.0), answers.append)  # the earlier, late
    store.save_holding("gil", Holding("Gil", b"new", 7, 7.0), answers.append)  # the later one left
    store.save_holding("gil", Holding("Gil", b"old", 7, 5.0), answers.append)  # the earlier, late again
    store.holding("gil", 9.0, answers.append)
    store.save_holding("gil", Holding("GIL", b"next", 7, None), answers.append)  # a take after both
    store.holding("gil", 9.0, answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    assert answers == [True, False, True, False, Holding("Gil", b"new", 7, 7.0), True, Holding("GIL", b"next", 7, 9.0)]
    store.close()


def test_a_late_leaving_time_is_written_only_on_the_holding_it_was_for(loop, redis_server):
    """A node's leaving time (or its guest's return) for its holding must not land on a
    newer holding of the name (another node's guest took it past the hold, or the guest's
    own later take): that guest is online, and "left" would let CLAIM give the name away
    while they are. The caller hears False; on its own holding, True."""
    store = open_redis_store(loop, redis_server.url)
    old, new = Holding("Hana", b"old", 7, None), Holding("HANA", b"new", 9, None)
    answers = []
    store.save_holding("hana", old)
    store.set_left_at("hana", 5.0, answers.append, holding=old)  # its own: written
    store.save_holding("hana", new)  # another node's take
    store.set_left_at("hana", 6.0, answers.append, holding=old)  # the first node's leaving, late
    store.holding("hana", 99.0, answers.append)  # (online: read as left at 99.0)
    store.save_holding("hana", Holding("HANA", b"new", 9, 8.0))  # the newer holder left
    store.set_left_at("hana", None, answers.append, holding=Holding("HANA", b"new", 7, None))  # not its epoch
    store.holding("hana", 99.0, answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    assert answers == [True, False, Holding("HANA", b"new", 9, 99.0), False, Holding("HANA", b"new", 9, 8.0)]
    store.close()


def test_the_commands_encoded_with_a_head_per_script_are_what_the_generic_encoder_makes():
    """A turn's operations are one EVALSHA of BATCH: prefix, then per operation its
    script's number, its number of arguments and its arguments."""
    from resp import encode_command
    from server.stores import redis as module
    from server.stores import redis_scripts as lua

    store = RedisStore("redis://127.0.0.1:1/0")  # nothing is sent
    cases = [(lua.STORE, ("alice", "c1", "Alice", "Bob", "bob", "h\u00e9llo \U0001f600", "1.5", "sent", "2.5", "k")),
             (lua.STORE, ("a", "b", "c", "", "", "t", "1e+20", "room", "", "")),
             (lua.STORE, ("a", "%d", "%b", "", "", "100% %s %%", "2.0", "sent", "", "")),
             (lua.RECEIPT, (12, "bob")), (lua.RECEIPT, (1234567, "b\u00f8b")),
             (lua.RECEIPT, (12, "bob", "alice")), (lua.ACKS, (0, "a", -5, "b", 10 ** 20, "c", 2.5, "d")),
             (lua.SAVE_HOLDING, ("k", "K", b"\x00\r\n\xff", 7, "")), (lua.LAST_ID, ())]
    operations, expected = [], []
    for script, args in cases:
        number = lua.SCRIPTS.index(script) + 1
        operations.append(module._Operation(store._command(script, args), 2 + len(args), None, None, None))
        expected += [number, len(args), *args]
    assert store._call(operations) == encode_command(("EVALSHA", lua.BATCH.sha1, 0, store.prefix, *expected))


def test_the_durability_check_says_what_a_weaker_redis_can_lose():
    assert durability_warning("yes", "always") is None
    assert "about the last second" in durability_warning("yes", "everysec")
    assert "since its last snapshot" in durability_warning("no", "always")
    assert durability_warning(None, None) is None


def test_a_redis_without_an_append_only_file_is_warned_about_at_open(loop, redis_server, caplog):
    caplog.set_level(logging.INFO, "chat.store")
    open_redis_store(loop, redis_server.url).close()
    assert "appendonly no" in caplog.text and "since its last snapshot" in caplog.text


def test_a_redis_that_syncs_every_write_is_not_warned_about(loop, tmp_path, caplog):
    caplog.set_level(logging.INFO, "chat.store")
    with RedisServer(tmp_path / "redis", appendfsync="always") as server:
        open_redis_store(loop, server.url).close()
    assert "syncs every write" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_redis_that_hides_config_is_warned_about_not_refused(loop, tmp_path, caplog):
    with RedisServer(tmp_path / "redis", extra_args=["--rename-command", "CONFIG", ""]) as server:
        open_redis_store(loop, server.url).close()
    assert "cannot read Redis's appendonly setting" in caplog.text


def test_an_unreachable_redis_at_open_is_a_clear_error(redis_server):
    url = redis_server.url
    redis_server.kill()
    with pytest.raises(StoreUnavailable, match="cannot reach Redis"):
        RedisStore(url, timeout=1.0).open()


def test_a_script_error_is_answered_on_error_and_logged_once_not_per_request(loop, redis_server, caplog):
    """A reply Redis refuses (here a key of the wrong type, as a bug would leave) is
    answered StoreUnavailable(storage=False); the others of the pipeline are answered
    as usual; the log says it once."""
    store = open_redis_store(loop, redis_server.url)
    async def spoil() -> None:
        async with RedisClient(redis_server.url) as redis:
            await redis.execute("SET", store.prefix + "pend:bob", "not a sorted set")
    loop.run_until_complete(spoil())
    answers, errors = [], []
    for _ in range(3):
        store.pending_for("bob", 0, 10, answers.append, errors.append)
    store.pending_for("carol", 0, 10, answers.append, errors.append)
    loop.run_until_complete(store.drain(timeout=5))
    assert answers == [[]]
    assert len(errors) == 3 and all(not e.storage for e in errors)
    assert caplog.text.count("a store script failed") == 1
    store.close()


def test_a_loop_turns_operations_are_one_script_call_per_batch_ops_in_one_round_trip(loop, redis_server):
    """Redis runs one EVALSHA per BATCH_OPS operations of a loop turn, not one per
    operation (each call costs Redis about as much as the commands inside it), and every
    operation is answered in order as before."""
    from server.stores.redis_scripts import BATCH_OPS

    store = open_redis_store(loop, redis_server.url)

    async def evalsha_calls() -> int:
        async with RedisClient(redis_server.url) as redis:
            info = (await redis.execute("INFO", "commandstats")).decode()
        line = next((line for line in info.splitlines() if line.startswith("cmdstat_evalsha:")), "calls=0,")
        return int(line.split("calls=")[1].split(",")[0])

    before = loop.run_until_complete(evalsha_calls())
    count = BATCH_OPS * 2 + 10
    answers = []
    for i in range(count):
        store.store_message(dm(f"c{i}"), lambda result: answers.append(result[0].msg_id))
    loop.run_until_complete(store.drain(timeout=10))
    assert answers == list(range(1, count + 1))
    assert loop.run_until_complete(evalsha_calls()) - before == 3
    store.close()


async def command_calls(url: str) -> dict[str, int]:
    """Redis's count of calls per command (INFO commandstats), EVALSHA and INFO left out."""
    async with RedisClient(url) as redis:
        info = (await redis.execute("INFO", "commandstats")).decode()
    calls = {}
    for line in info.splitlines():
        if line.startswith("cmdstat_"):
            name, stats = line[len("cmdstat_"):].split(":", 1)
            calls[name] = int(stats.split("calls=")[1].split(",")[0])
    return calls


def commands_used(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The calls per command between two command_calls readings, the scripts' own: the
    calls that run them and the client's connection set-up left out."""
    return {name: after[name] - before.get(name, 0) for name in after
            if name not in ("evalsha", "info", "hello", "select", "client|setinfo")
            and after[name] != before.get(name, 0)}


def test_a_delivered_direct_message_costs_redis_fifteen_commands_stored_received_and_acknowledged(loop, redis_server):
    """The commands inside the scripts are most of Redis's CPU per message: a direct
    message stored (waiting, with an expiry), received and its outcome acknowledged runs
    these fifteen (it was sixteen: the ``ids`` set, a ``told`` field set and read, the
    request id looked up before it was filed; then twelve, feature since's index added
    two, and the recipient's block list, read as the message is stored, one), and a resend
    of it is still recognised."""
    store = open_redis_store(loop, redis_server.url)
    answers = []
    store.store_message(dm("warm"), answers.append)  # the first calls of a connection: not counted
    loop.run_until_complete(store.drain(timeout=5))
    before = loop.run_until_complete(command_calls(redis_server.url))
    store.store_message(dm("c1"), lambda result: answers.append(result))
    loop.run_until_complete(store.drain(timeout=5))
    msg_id = answers[-1][0].msg_id
    store.record_receipt(msg_id, "bob", answers.append)
    store.record_ack(msg_id, "alice", answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    after = loop.run_until_complete(command_calls(redis_server.url))
    used = commands_used(before, after)
    # Two of the ZADDs are feature since's index (peers:<key>, one per side; docs/cluster.md);
    # the SISMEMBER asks whether Bob blocks Alice (docs/cluster.md, "Blocks").
    assert used == {"incr": 1, "hsetnx": 1, "hset": 2, "zadd": 6, "zrem": 3, "hmget": 1, "sismember": 1}, used
    assert answers[-1] is True  # the ack: alice sent it
    store.store_message(dm("c1"), answers.append)  # a resend: recognised, and it takes no id
    store.store_message(dm("c2"), answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    assert (answers[-2][0].msg_id, answers[-2][1]) == (msg_id, "resend")
    assert (answers[-1][0].msg_id, answers[-1][1]) == (msg_id + 1, "new")
    store.close()


def test_a_receipt_given_the_senders_key_costs_one_command_less_and_files_the_outcome_for_that_sender(
        loop, redis_server):
    """The relay knows the sender of a message in flight and gives its key with the
    receipt: the script then does not read it from the message (no HMGET: fourteen commands
    for a delivered message, not fifteen), and the outcome waits for that sender as before
    (told at the sender's next fetch of outcomes, and acknowledged by it)."""
    store = open_redis_store(loop, redis_server.url)
    answers = []
    store.store_message(dm("warm"), answers.append)  # the first calls of a connection: not counted
    loop.run_until_complete(store.drain(timeout=5))
    before = loop.run_until_complete(command_calls(redis_server.url))
    store.store_message(dm("c1"), answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    msg_id = answers[-1][0].msg_id
    store.record_receipt(msg_id, "bob", answers.append, sender_key="alice")
    loop.run_until_complete(store.drain(timeout=5))
    store.outcomes_for_sender("alice", msg_id - 1, 10, answers.append)
    store.record_ack(msg_id, "alice", answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    after = loop.run_until_complete(command_calls(redis_server.url))
    used = commands_used(before, after)
    outcomes, acked = answers[-2], answers[-1]
    assert [(m.msg_id, m.state) for m in outcomes] == [(msg_id, "delivered")]
    assert acked is True
    # The outcomes page read one message (ZRANGEBYSCORE, HMGET): the receipt itself no HMGET.
    assert used == {"incr": 1, "hsetnx": 1, "hset": 2, "zadd": 6, "zrem": 3, "zrangebyscore": 1, "hmget": 1,
                    "sismember": 1}, used
    store.close()


def test_a_store_of_the_layout_before_is_folded_in_at_open_and_purged_as_before(loop, redis_server):
    """A store written before the ``ids`` set went (every message in ``{chat}:ids``; a
    ``told`` field in each message): opened now, the set is folded in, and a purge
    deletes what it deleted then (the acknowledged old message, not the unacknowledged
    nor the pending one), with the messages stored since; an outcome acknowledged after
    the upgrade is purged too."""
    p = "{old}:"

    async def write_old_layout() -> None:
        async with RedisClient(redis_server.url) as redis:
            def message(i: int, state: str, told: str) -> tuple:
                return ("HSET", f"{p}m:{i}", "s", "Alice", "sk", "alice", "r", "Bob", "rk", "bob", "t", f"m{i}",
                        "at", "1000.0", "c", f"c{i}", "st", state, "told", told, "x", "9000.0")
            await redis.pipeline([
                message(1, "delivered", "1"), message(2, "delivered", "0"), message(3, "queued", "0"),
                ("ZADD", p + "ids", 1, 1, 2, 2, 3, 3), ("SET", p + "next", 3),
                ("HSET", p + "cid:alice", "c1", 1, "c2", 2, "c3", 3),
                ("ZADD", p + "conv:5:alice:bob", 1, 1, 2, 2, 3, 3),
                ("ZADD", p + "untold:alice", 2, 2), ("ZADD", p + "pend:bob", 3, 3), ("ZADD", p + "exp", 9000, 3)])
    loop.run_until_complete(write_old_layout())
    store = open_redis_store(loop, redis_server.url, prefix=p)

    async def keys() -> tuple:
        async with RedisClient(redis_server.url) as redis:
            return (await redis.execute("EXISTS", p + "ids"), await stored_ids(redis, p))
    assert loop.run_until_complete(keys()) == (0, [1, 2, 3])
    answers = []
    store.store_message(replace(dm("c4"), sent_at=1500.0), answers.append)
    store.store_message(replace(dm("c5"), sent_at=3000.0), answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    assert [m.msg_id for m, _ in answers] == [4, 5]
    store.record_receipt(4, "bob")
    store.record_ack(4, "alice")
    store.purge(2000.0, None, answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    assert answers[-1] == 2  # 1 (told before) and 4 (told now); 2 untold, 3 pending, 5 the newest
    assert loop.run_until_complete(keys()) == (0, [2, 3, 5])
    store.record_ack(2, "alice")
    store.outcomes_for_sender("alice", 0, 10, answers.append)
    store.purge(2000.0, None, answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    assert answers[-2:] == [[], 1]
    assert loop.run_until_complete(keys()) == (0, [3, 5])
    store.pending_for("bob", 0, 10, answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    assert [m.msg_id for m in answers[-1]] == [3, 5]
    store.close()


def test_an_ids_set_written_by_a_node_of_the_version_before_after_the_upgrade_is_folded_in_by_the_purge(loop,
                                                                                                       redis_server):
    """A node of the version before, still running next to upgraded ones, files its
    messages in ``ids`` too: the next purge folds that set in (what it lists below ``low``
    joins ``kept``, the rest the walk reaches anyway) and deletes it, and purges as before."""
    p = "{mixed}:"
    store = open_redis_store(loop, redis_server.url, prefix=p)
    answers = []
    for i, at in enumerate((1000.0, 1100.0, 5000.0)):
        store.store_message(replace(dm(f"c{i}"), sent_at=at), answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    store.record_receipt(1, "bob")
    store.purge(2000.0, None, answers.append)  # 1 delivered but not told, 2 pending: both kept
    loop.run_until_complete(store.drain(timeout=5))
    assert answers[-1] == 0

    async def old_node_writes() -> None:  # message 4 as the store before wrote it, and 1 to 3 in its set
        async with RedisClient(redis_server.url) as redis:
            await redis.pipeline([
                ("HSET", f"{p}m:4", "s", "Alice", "sk", "alice", "t", "m4", "at", "1200.0", "c", "c4", "st", "room",
                 "told", "1"),
                ("INCR", p + "next"), ("HSET", p + "cid:alice", "c4", 4), ("ZADD", p + "ids", 1, 1, 2, 2, 3, 3, 4, 4)])

    async def state() -> tuple:
        async with RedisClient(redis_server.url) as redis:
            return (await redis.execute("EXISTS", p + "ids"), await stored_ids(redis, p))
    loop.run_until_complete(old_node_writes())
    store.record_ack(1, "alice")
    store.record_receipt(2, "bob")
    store.record_ack(2, "alice")
    store.purge(2000.0, None, answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    assert answers[-1] == 2  # 1 and 2, now told; the walk stops at 3 (too recent), before 4
    assert loop.run_until_complete(state()) == (0, [3, 4])
    store.close()


def test_a_turns_operations_are_written_to_redis_at_the_start_of_the_next_turn(loop, redis_server):
    """The operations submitted in one loop turn go out together when it ends (the
    callback scheduled for the turn's end), not a turn later when a task would start and
    one more when the client flushes: each turn in between is one more wait behind
    whatever else the node has to do (bench/PROFILE.md, "The cluster path, round four")."""
    store = open_redis_store(loop, redis_server.url)
    answers = []
    store.store_message(dm("warm"), answers.append)
    loop.run_until_complete(store.drain(timeout=5))  # connected
    link = store._client._link
    written = []
    real_write = link.transport.write
    link.transport.write = lambda data: (written.append(bytes(data)), real_write(data))[1]

    async def submit_and_look() -> int:
        store.store_message(dm("c1"), answers.append)
        await asyncio.sleep(0)  # resumed after the end-of-turn callback, in the next turn
        return len(written)

    assert loop.run_until_complete(submit_and_look()) == 1
    loop.run_until_complete(store.drain(timeout=5))
    assert answers[-1][1] == "new"
    store.close()


def test_the_relay_gives_a_receipt_the_senders_key_so_redis_reads_no_message_for_it(loop, redis_server):
    """Through the real relay and sessions on the Redis store (bench/inprocess.py's
    driver): user0 sends user1 a message, user1 confirms it. The receipt's script reads
    nothing of the message (the relay gave it the sender's key: no HMGET), and the
    outcome waits for user0 in Redis (its ``untold`` set), as it did when it was read."""
    from bench.inprocess import in_process_relay, logged_in_clients

    async def run() -> tuple[int, dict, list]:
        relay, batcher = in_process_relay(asyncio.get_running_loop(), RedisStore(redis_server.url))
        (alice, to_alice), (bob, to_bob) = await logged_in_clients(relay, batcher, 2, batch_acks=False)
        await relay.store.drain(timeout=5)
        to_alice.written.clear(), to_bob.written.clear()
        alice.data_received(b'{"type":"send","id":"s1","to":"user1","text":"hi"}\n')
        deadline = time.monotonic() + 5
        while b'"type":"dm"' not in b"".join(to_bob.written) and time.monotonic() < deadline:
            await asyncio.sleep(0.002)
        msg_id = int(b"".join(to_bob.written).split(b'"msg_id":')[1].split(b",")[0])
        before = await command_calls(redis_server.url)
        bob.data_received(b'{"type":"receipt","msg_id":%d}\n' % msg_id)
        while b'"type":"delivered"' not in b"".join(to_alice.written) and time.monotonic() < deadline:
            await asyncio.sleep(0.002)
        await relay.store.drain(timeout=5)
        after = await command_calls(redis_server.url)
        async with RedisClient(redis_server.url) as redis:
            untold = await redis.execute("ZRANGE", "{chat}:untold:user0", 0, -1)
        relay.store.close()
        return msg_id, {name: after[name] - before.get(name, 0) for name in after
                        if after[name] != before.get(name, 0) and name not in ("evalsha", "info", "hello")}, untold

    msg_id, used, untold = loop.run_until_complete(run())
    assert used == {"zrem": 2, "hset": 1, "zadd": 1}, used
    assert untold == [b"%d" % msg_id]


def test_a_turns_adjacent_receipts_and_acks_are_one_operation_each_answered_one_by_one_in_order(loop, redis_server):
    """Receipts (given the sender's key) and acks submitted one after another in a loop
    turn go to Redis as one operation of the batch each (one encoding, one function call
    in the script, not one per receipt or ack), and each is still answered on its own,
    in submission order, as a single one would be: an ack of a message its key did not
    send answers False among others that answer True."""
    store = open_redis_store(loop, redis_server.url)
    first, second = two_stored(loop, store)
    answers = []
    store.record_receipt(first, "bob", lambda r: answers.append(("receipt", first, r)), sender_key="alice")
    store.record_receipt(second, "bob", lambda r: answers.append(("receipt", second, r)), sender_key="alice")
    store.record_ack(first, "alice", lambda r: answers.append(("ack", first, r)))
    store.record_ack(second, "mallory", lambda r: answers.append(("ack", second, r)))
    store.record_ack(first, "alice", lambda r: answers.append(("ack again", first, r)))
    store.pending_for("bob", 0, 10, lambda found: answers.append(("pending", [m.msg_id for m in found])))
    store.record_ack(second, "alice", lambda r: answers.append(("ack", second, r)))
    assert len(store._queued) == 4  # receipts, acks, the page, the last ack
    loop.run_until_complete(store.drain(timeout=5))
    assert answers == [("receipt", first, None), ("receipt", second, None), ("ack", first, True),
                       ("ack", second, False), ("ack again", first, True), ("pending", []), ("ack", second, True)]
    store.close()


def test_receipts_and_acks_joined_in_one_operation_are_each_refused_when_redis_is_away(loop, redis_server):
    """Redis gone: every receipt and ack of a joined operation gets its own on_error (the
    relay keeps each receipt to record again), once, in order, within the timeout."""
    store = open_redis_store(loop, redis_server.url, timeout=1.0)
    store.store_message(dm("m1"), None)
    loop.run_until_complete(store.drain(timeout=5))
    redis_server.kill()
    errors = []
    for msg_id in (1, 2, 3):
        store.record_receipt(msg_id, "bob", None, lambda e, i=msg_id: errors.append(("receipt", i, type(e))),
                             sender_key="alice")
    for msg_id in (1, 2):
        store.record_ack(msg_id, "alice", None, lambda e, i=msg_id: errors.append(("ack", i, type(e))))
    started = time.monotonic()
    loop.run_until_complete(store.drain(timeout=10))
    assert time.monotonic() - started < 2.0
    assert errors == [("receipt", 1, StoreUnavailable), ("receipt", 2, StoreUnavailable),
                      ("receipt", 3, StoreUnavailable), ("ack", 1, StoreUnavailable), ("ack", 2, StoreUnavailable)]
    store.close()


def test_a_message_id_of_fifteen_digits_and_more_is_one_key_in_every_index(loop, redis_server):
    """The store script gives the new id to every command and key as the same decimal
    string (formatted once: bench/PROFILE.md, the cluster path's round seven). Lua's own
    number-to-string, which a key's concatenation used, writes "1e+14" from the 15th digit
    on, so the message's hash went to another key than the indexes named: its pending page,
    its history and its receipt read nothing."""
    store = open_redis_store(loop, redis_server.url)

    async def set_next() -> None:
        async with RedisClient(redis_server.url) as redis:
            await redis.execute("SET", store.prefix + "next", 99_999_999_999_999)

    loop.run_until_complete(set_next())
    answers = []
    store.store_message(dm("big", "fifteen digits"), answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    message, status = answers[-1]
    assert (message.msg_id, status) == (100_000_000_000_000, "new")
    store.pending_for("bob", 0, 10, answers.append)
    store.history("alice", "bob", None, 10, 0, answers.append)
    store.record_receipt(message.msg_id, "bob", answers.append, sender_key="alice")
    store.outcomes_for_sender("alice", 0, 10, answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    pending, (history, _more), _receipt, outcomes = answers[-4:]
    assert [(m.msg_id, m.text) for m in pending] == [(100_000_000_000_000, "fifteen digits")]
    assert [(entry.msg_id, entry.text) for entry in history] == [(100_000_000_000_000, "fifteen digits")]
    assert [(m.msg_id, m.state) for m in outcomes] == [(100_000_000_000_000, "delivered")]
    store.store_message(dm("big", "fifteen digits"), answers.append)  # a resend: recognised
    loop.run_until_complete(store.drain(timeout=5))
    assert (answers[-1][0].msg_id, answers[-1][1]) == (100_000_000_000_000, "resend")
    store.close()


def test_a_joined_operation_of_receipts_or_acks_is_answered_in_one_reply_item(loop, redis_server):
    """Redis answers a turn's joined receipts with their count and its joined acks with one
    byte each ('1': that key sent the message, '0': it did not), one reply item for the
    whole operation rather than one per receipt or ack (less for Redis to build and for
    the node to parse); the store gives each its own answer, in order, and refuses an
    operation whose reply does not hold one answer for each (a bug: all are refused)."""
    from server.stores import redis as module
    from server.stores import redis_scripts as lua

    store = open_redis_store(loop, redis_server.url)
    first, second = two_stored(loop, store)
    answers = []

    async def batch(*operations) -> list:
        args = []
        for script, arguments in operations:
            args += [lua.SCRIPTS.index(script) + 1, len(arguments), *arguments]
        async with RedisClient(redis_server.url) as redis:
            return await redis.execute("EVALSHA", lua.BATCH.sha1, 0, store.prefix, *args)

    replies = loop.run_until_complete(batch((lua.RECEIPTS, (first, "bob", "alice", second, "bob", "alice")),
                                            (lua.ACKS, (first, "alice", second, "mallory", second, "alice"))))
    assert replies == [2, b"101"]
    joined = module._Many(store, lua.ACKS, 2, bool)
    joined.count = 2  # two acks joined
    assert list(joined.decode(b"10")) == [True, False]
    for wrong in (b"1", b"102", [1, 0], 2):
        with pytest.raises(ValueError):
            joined.decode(wrong)
    receipts = module._Many(store, lua.RECEIPTS, 3, None)
    receipts.count = 2
    for wrong in (1, b"11", [1, 1], True):
        with pytest.raises(ValueError):
            receipts.decode(wrong)
    store.close()


def test_a_purge_walks_ids_of_fifteen_digits_and_more_to_their_messages(loop, redis_server):
    """The purge walks the ids from ``low`` up as numbers; each is looked up in digits (Lua's
    own number-to-string wrote "1e+14" from the 15th digit on: the walk found no message
    there, went past it, and the message was never purged)."""
    p = "{big}:"

    async def set_next() -> None:
        async with RedisClient(redis_server.url) as redis:
            await redis.execute("SET", p + "next", 99_999_999_999_999)
            await redis.execute("SET", p + "low", 100_000_000_000_000)  # every id below was walked

    loop.run_until_complete(set_next())
    store = open_redis_store(loop, redis_server.url, prefix=p)
    answers = []
    for client_id, sent_at in (("c1", 1000.0), ("c2", 1001.0), ("c3", 3000.0)):
        store.store_message(replace(dm(client_id), sent_at=sent_at), answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    ids = [m.msg_id for m, _ in answers]
    assert ids == [100_000_000_000_000, 100_000_000_000_001, 100_000_000_000_002]
    for msg_id in ids[:2]:
        store.record_receipt(msg_id, "bob", sender_key="alice")
        store.record_ack(msg_id, "alice")
    store.purge(2000.0, None, answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    assert answers[-1] == 2  # both told and older; the newest stays

    async def left() -> list:
        async with RedisClient(redis_server.url) as redis:
            found = await redis.pipeline([("EXISTS", f"{p}m:{i}") for i in ids])
        return [i for i, exists in zip(ids, found) if exists]
    assert loop.run_until_complete(left()) == [ids[2]]
    store.close()


async def every_key(url: str, prefix: str) -> dict:
    """Everything under ``prefix``, by key without it: what Redis stores, whole."""
    async with RedisClient(url) as redis:
        keys = sorted(await redis.execute("KEYS", prefix + "*"))
        types = await redis.pipeline([("TYPE", key) for key in keys])
        reads = {"string": ("GET",), "hash": ("HGETALL",), "zset": ("ZRANGE", 0, -1, "WITHSCORES"),
                 "set": ("SMEMBERS",)}
        values = await redis.pipeline([(reads[kind][0], key, *reads[kind][1:]) for key, kind in zip(keys, types)])
    dump = {}
    for key, kind, value in zip(keys, types, values):
        if kind == "hash":
            value = dict(zip(value[::2], value[1::2]))
        elif kind == "set":
            value = sorted(value)
        dump[key.decode()[len(prefix):]] = value
    return dump


def test_a_message_goes_to_redis_as_three_arguments_and_is_stored_as_when_it_went_as_ten(loop, redis_server):
    """store_message packs a message's fields that hold no tab (names, keys, times, state,
    conversation key) and its request id, last, into one argument (STORE_PACKED): three
    arguments per message, not ten (bench/PROFILE.md, the cluster path's round eight).
    What Redis stores is the same, key for key and field for field, as the ten arguments
    stored (STORE, which a node of the version before sends), once a direct message's
    ``f`` (its fixed fields in one, round thirteen) is unfolded; a request id or a text
    holding tabs, newlines or "%" is kept whole; a name holding a tab (none does: names
    hold no control character) goes as ten arguments; a resend is recognised."""
    from server.stores import redis as module
    from server.stores import redis_scripts as lua

    messages = [dm("c1"), dm("c\t2\n%s%%\u00e9", "a\ttext\nwith \U0001f600 %d"), dm("c3", ""),
                replace(dm("c4"), expires_at=None, state="sent"),
                StoredMessage(0, "Alice", "alice", None, None, "to the room", 1001.5, "c5", "room", None),
                StoredMessage(0, "Alice", "alice", "#redes", "#redes", "in #redes", 1002.25, "c6", "room", None),
                StoredMessage(0, "Al\tice", "al\tice", "Bob", "bob", "odd name", 1003.0, "c7", "queued", 9e9)]
    packed = open_redis_store(loop, redis_server.url, prefix="{packed}:")
    plain = open_redis_store(loop, redis_server.url, prefix="{plain}:")
    answers, reference = [], []
    for message in messages:
        packed.store_message(message, answers.append)
        size = packed._queued[-1].size
        assert size == (12 if "\t" in message.sender else 4), (message, size)
        rk = message.recipient_key
        conv = ("" if rk is None else module.room_posts_key(plain.prefix, rk) if message.state == "room"
                else module.conversation_key(plain.prefix, message.sender_key, rk))
        args = (message.sender_key, message.client_id, message.sender, message.recipient or "", rk or "",
                message.text, repr(message.sent_at), message.state,
                "" if message.expires_at is None else repr(message.expires_at), conv)
        plain._submit(lua.STORE, args, partial(plain._stored, message), reference.append, None)
        loop.run_until_complete(packed.drain(timeout=5))
        loop.run_until_complete(plain.drain(timeout=5))
    assert [(m.msg_id, m.client_id, m.text, status) for m, status in answers] == \
        [(m.msg_id, m.client_id, m.text, status) for m, status in reference]
    assert [status for _m, status in answers] == ["new"] * len(messages)
    stored = loop.run_until_complete(every_key(redis_server.url, packed.prefix))
    # The direct messages that waited for a receipt, with an expiry and no tab, hold ``f``.
    assert [key for key, value in stored.items() if key.startswith("m:") and b"f" in value] == \
        ["m:1", "m:2", "m:3"], stored
    stored = unfold(stored)
    assert stored == loop.run_until_complete(every_key(redis_server.url, plain.prefix))
    assert stored["m:2"][b"c"] == "c\t2\n%s%%\u00e9".encode() and stored["m:2"][b"t"] == \
        "a\ttext\nwith \U0001f600 %d".encode()
    assert "conv:5:alice:bob" in stored and "room:#redes" in stored and "pend:bob" in stored
    packed.store_message(messages[1], answers.append)  # a resend: recognised, no new id
    loop.run_until_complete(packed.drain(timeout=5))
    assert (answers[-1][0].msg_id, answers[-1][1]) == (2, "resend")
    packed.close()
    plain.close()


def test_a_turns_joined_receipts_and_acks_go_as_one_argument_each_and_do_what_they_did(loop, redis_server):
    """A turn's adjacent receipts (or acks), one operation, go to Redis as ONE argument,
    their fields joined by tabs (RECEIPTS_PACKED, ACKS_PACKED; bench/PROFILE.md, the
    cluster path's round eight), not three (two) per receipt (ack); each is answered as
    before, and Redis holds what it held when they went one argument each. A key holding a
    tab (none does) sends the operation's arguments one by one."""
    from server.stores import redis_scripts as lua

    results = {}
    for name in ("packed", "plain"):
        store = open_redis_store(loop, redis_server.url, prefix="{%s}:" % name)
        for i in range(4):
            store.store_message(dm(f"c{i}"), None)
        store.store_message(StoredMessage(0, "Al\tice", "al\tice", "Bob", "bob", "odd", 1.0, "c9", "queued", 9e9),
                            None)
        loop.run_until_complete(store.drain(timeout=5))
        answers = []
        if name == "plain":  # as a node of the version before: each receipt's and ack's fields an argument
            store._many = lambda script, width, args, decode, callback, on_error, store=store: \
                store._submit(script, args, lambda reply: [reply], lambda r, c=callback: c(
                    None if decode is None else r[0] == b"1"), on_error)
        for msg_id in (1, 2, 3):
            store.record_receipt(msg_id, "bob", answers.append, sender_key="alice")
        if name == "packed":
            assert (store._queued[-1].size, store._queued[-1].command.count(b"$")) == (3, 3)
        store.record_receipt(5, "bob", answers.append, sender_key="al\tice")  # joined: 3 + 3 args each
        if name == "packed":
            assert store._queued[-1].size == 2 + 4 * 3
        loop.run_until_complete(store.drain(timeout=5))
        for msg_id, sender in ((1, "alice"), (2, "alice"), (4, "alice"), (3, "mallory"), (1, "alice")):
            store.record_ack(msg_id, sender, answers.append)
        if name == "packed":
            assert store._queued[-1].size == 3
        loop.run_until_complete(store.drain(timeout=5))
        results[name] = (answers, loop.run_until_complete(every_key(redis_server.url, store.prefix)))
        store.close()
    answers, stored = results["packed"]
    assert answers == [None] * 4 + [True, True, True, False, True]
    assert results["packed"] == results["plain"]
    assert stored["untold:alice"] == [b"3", b"3"] and stored["untold:al\tice"] == [b"5", b"5"]
    assert lua.PACKED  # both scripts are in BATCH


def test_a_named_rooms_post_is_written_with_its_stream_entry_in_one_hset_and_its_delete_still_removes_it(
        loop, redis_server):
    """A named room's post in a cluster (ROOM_POST) goes on the events stream before its
    hash is written, so the entry's id (``se``) is one field of the message's one HSET: a
    post runs one HSET for its request id and one for the message, not a third for ``se``
    (bench/PROFILE.md, the cluster path's round nine). What it stores is what it stored:
    the fields, the room's index, the stream entry (its head, the id, "}"), ``se`` naming
    it; a resend is recognised (nothing more on the stream), a post at a stale version is
    refused (nothing stored), and a delete of the post still takes its text off the stream."""
    store = open_redis_store(loop, redis_server.url)
    stream = "{chat}events"  # (outside the prefix: every_key reads no stream)
    post = StoredMessage(0, "Alice", "alice", "#redes", "#redes", "in #redes", 1002.25, "p1", "room", None)
    answers: list = []
    store.store_message(dm("warm"), answers.append)  # the first calls of a connection: not counted
    loop.run_until_complete(store.drain(timeout=5))
    before = loop.run_until_complete(command_calls(redis_server.url))
    store.store_room_post(post, 0, stream, "HEAD:", 1000, answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    used = commands_used(before, loop.run_until_complete(command_calls(redis_server.url)))
    message, status = answers[-1]
    assert status == "new" and message.msg_id == 2
    assert used.get("hset") == 2 and used.get("xadd") == 1, used
    stored = loop.run_until_complete(every_key(redis_server.url, store.prefix))

    async def entries() -> list:
        async with RedisClient(redis_server.url) as redis:
            return await redis.execute("XRANGE", stream, "-", "+")
    [[entry_id, fields]] = loop.run_until_complete(entries())
    assert fields == [b"e", b"HEAD:2}"]
    assert stored["m:2"] == {b"s": b"Alice", b"sk": b"alice", b"t": b"in #redes", b"at": b"1002.25", b"c": b"p1",
                             b"st": b"room", b"r": b"#redes", b"rk": b"#redes",
                             b"se": stream.encode() + b" " + entry_id}
    assert stored["room:#redes"] == [b"2", b"2"] and stored["cid:alice"][b"p1"] == b"2"
    store.store_room_post(post, 0, stream, "HEAD:", 1000, answers.append)  # a resend
    store.store_room_post(replace(post, client_id="p2"), 5, stream, "HEAD:", 1000, answers.append)  # stale version
    loop.run_until_complete(store.drain(timeout=5))
    assert (answers[-2][0].msg_id, answers[-2][1]) == (2, "resend")
    assert answers[-1] == (None, "changed", None, 0)
    assert len(loop.run_until_complete(entries())) == 1
    store.change_message(2, "alice", None, 1003.0, 3600.0, frozenset(), answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    assert answers[-1][0] == "changed"
    assert loop.run_until_complete(entries()) == []
    assert b"se" not in loop.run_until_complete(every_key(redis_server.url, store.prefix))["m:2"]
    store.close()


def test_a_say_in_a_cluster_is_stored_with_its_stream_entry_in_one_step_and_its_delete_removes_it(
        loop, redis_server):
    """A say (the default room's message) in a cluster (ROOM_SAY) is stored and put on the
    events stream in one step, as a named room's post is: the message as store_message
    stores a say (no recipient, no history index) plus ``se`` naming its entry (its head,
    the id, "}"); a resend is answered the stored say and a reused request id is refused,
    neither adding an entry (the stream has the say once, whatever became of an answer);
    an edit keeps the entry, a delete takes it off the stream."""
    store = open_redis_store(loop, redis_server.url)
    stream = "{chat}events"  # (outside the prefix: every_key reads no stream)
    say = StoredMessage(0, "Alice", "alice", None, None, "to everyone", 1002.25, "s1", "room")
    answers: list = []
    store.store_message(replace(say, client_id="s0"), answers.append)  # a say stored alone, as one server does
    store.store_room_say(say, stream, "HEAD:", 1000, answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    assert [(m.msg_id, status) for m, status in answers] == [(1, "new"), (2, "new")]
    assert answers[1][0] == replace(say, msg_id=2)

    async def entries() -> list:
        async with RedisClient(redis_server.url) as redis:
            return await redis.execute("XRANGE", stream, "-", "+")
    [[entry_id, fields]] = loop.run_until_complete(entries())
    assert fields == [b"e", b"HEAD:2}"]
    stored = loop.run_until_complete(every_key(redis_server.url, store.prefix))
    alone = {k: v for k, v in stored["m:1"].items() if k != b"c"}
    assert stored["m:2"] == {**alone, b"c": b"s1", b"se": stream.encode() + b" " + entry_id}
    assert not [key for key in stored if key.startswith(("room:", "conv:", "pend:"))]
    store.store_room_say(say, stream, "HEAD:", 1000, answers.append)  # a resend
    store.store_room_say(replace(say, text="other"), stream, "HEAD:", 1000, answers.append)  # the id reused
    loop.run_until_complete(store.drain(timeout=5))
    assert answers[2] == (replace(say, msg_id=2), "resend")
    assert answers[3][1] == ID_REUSED
    assert len(loop.run_until_complete(entries())) == 1
    assert loop.run_until_complete(every_key(redis_server.url, store.prefix))["next"] == b"2"
    store.change_message(2, "alice", "to everyone!", 1003.0, 3600.0, frozenset(), answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    assert answers[-1][0] == "changed" and len(loop.run_until_complete(entries())) == 1
    store.change_message(2, "alice", None, 1004.0, 3600.0, frozenset(), answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    assert answers[-1][0] == "changed"
    assert loop.run_until_complete(entries()) == []
    assert b"se" not in loop.run_until_complete(every_key(redis_server.url, store.prefix))["m:2"]
    store.close()


def test_a_room_posts_change_decided_on_a_room_version_redis_has_passed_changes_nothing_and_gets_the_room(
        loop, redis_server):
    """In a cluster a room post's edit, or a moderator's delete, is made only at the version
    of the post's room it was decided on (lua.CHANGE, as SAVE_ROOM_VERSIONED a room's
    change): at another, nothing is changed and the answer is the room as Redis has it, for
    the node to decide again. The default room's posts (no recipient) go by its key; a
    direct message's change, and one whose room was not decided on, read no version; those
    not told (quiet_for, the arguments' tail) still are not."""
    store = open_redis_store(loop, redis_server.url)
    stream = "{chat}events"
    answers: list = []

    def run(call, *args, **kwargs) -> tuple:
        call(*args, callback=answers.append, on_error=answers.append, **kwargs)
        loop.run_until_complete(store.drain(timeout=5))
        return answers[-1]

    record = '{"name": "#redes"}'
    for key in ("#redes", "#lobby"):  # both at version 1
        assert run(store.save_room_versioned, key, 0, record, stream, b"x", 1000) == ("ok", 1)
    post = StoredMessage(0, "Vic", "vic", "#redes", "#redes", "in #redes", time.time(), "p1", "room", None)
    say = StoredMessage(0, "Vic", "vic", None, None, "to everyone", time.time(), "s1", "room")
    to_bob = StoredMessage(0, "Vic", "vic", "Bob", "bob", "hi", time.time(), "d1", "sent", time.time() + 60)
    post_id = run(store.store_room_post, post, 1, stream, "HEAD:", 1000)[0].msg_id
    say_id = run(store.store_room_say, say, stream, "HEAD:", 1000)[0].msg_id
    dm_id = run(store.store_message, to_bob)[0].msg_id
    def change(msg_id: int, sender_key: str | None, text: str | None, quiet_for: frozenset[str], callback,
               on_error, **kwargs) -> None:
        store.change_message_announced(msg_id, sender_key, text, time.time(), 3600.0, quiet_for, stream, 1000,
                                       "HEAD:", callback, on_error, default_room="#lobby", **kwargs)

    def text(msg_id: int) -> tuple[bytes, bytes | None]:
        fields = loop.run_until_complete(every_key(redis_server.url, store.prefix))[f"m:{msg_id}"]
        return fields[b"t"], fields.get(b"d")

    stale = (STALE, StaleRoom("#redes", record, 1))
    everywhere = frozenset({"#redes", "#"})
    # Decided on version 0 (a moderator since removed): an edit, a moderator's delete.
    assert run(change, post_id, "vic", "edited", quiet_for=frozenset(), may_post_in=everywhere,
               versions={"#redes": 0, "#lobby": 1}) == stale
    assert run(change, post_id, None, None, quiet_for=frozenset(), versions={"#redes": 0}) == stale
    assert text(post_id) == (b"in #redes", None)
    # The default room's say, by its key.
    assert run(change, say_id, None, None, quiet_for=frozenset(), versions={"#lobby": 0}) == (
        STALE, StaleRoom("#lobby", record, 1))
    assert text(say_id) == (b"to everyone", None)
    # At the room's version: made.
    assert run(change, post_id, "vic", "edited", quiet_for=frozenset(), may_post_in=everywhere,
               versions={"#redes": 1, "#lobby": 1})[0] == "changed"
    assert run(change, say_id, None, None, quiet_for=frozenset(), versions={"#lobby": 1})[0] == "changed"
    assert (text(post_id), text(say_id)) == ((b"edited", None), (b"", b"1"))
    # A room not decided on (not in may_post_in: barred there) reads no version.
    assert run(change, post_id, "vic", "again", quiet_for=frozenset(), may_post_in=frozenset({"#"}),
               versions={"#lobby": 0})[0] == "barred"
    # A direct message reads none; Bob, who blocks Vic, still is not told of its change.
    assert run(change, dm_id, "vic", "hi!", quiet_for=frozenset({"bob", "zoe"}), may_post_in=everywhere,
               versions={"#redes": 0, "#lobby": 0})[0] == "changed"
    assert text(dm_id) == (b"hi!", None)
    assert "chg:bob" not in loop.run_until_complete(every_key(redis_server.url, store.prefix))
    assert run(change, dm_id, "vic", "hi!!", quiet_for=frozenset(), may_post_in=everywhere,
               versions={"#redes": 0})[0] == "changed"
    assert "chg:bob" in loop.run_until_complete(every_key(redis_server.url, store.prefix))
    store.close()


def test_a_message_stored_from_its_fields_is_built_once_under_its_id_and_sent_as_the_generic_encoder_makes(
        loop, redis_server, monkeypatch):
    """store_fields (the relay's path for a direct message, base.py) builds the message
    once, under the id Redis gives it, not under 0 first and copied under its id then
    (bench/PROFILE.md, the cluster path's round nine); the operation it queues is what the
    generic encoder makes of STORE_PACKED's two arguments; a resend, a reused request id
    and store_message answer as before."""
    from resp import encode_command
    from server import mailbox
    from server.stores import redis as module
    from server.stores import redis_scripts as lua

    store = open_redis_store(loop, redis_server.url)
    built: list[int] = []

    def counting(*args, **kwargs):
        built.append(args[0])
        return StoredMessage(*args, **kwargs)
    monkeypatch.setattr(module, "StoredMessage", counting)
    monkeypatch.setattr(mailbox, "StoredMessage", counting)
    fields = ("Alice", "alice", "Bob", "bob", "h\u00e9llo %s \U0001f600", 1000.5, "c1", "queued", 9e9)
    answers: list = []
    store.store_fields(fields, answers.append)
    queued = store._queued[-1]
    head = f"alice\tAlice\tBob\tbob\t1000.5\tqueued\t9000000000.0\t{module.conversation_key(store.prefix, 'alice', 'bob')}\t"
    assert store._call([queued]) == encode_command(
        ("EVALSHA", lua.BATCH.sha1, 0, store.prefix, lua.SCRIPTS.index(lua.STORE_PACKED) + 1, 2,
         head + "c1", fields[4]))
    loop.run_until_complete(store.drain(timeout=5))
    assert answers == [(StoredMessage(1, *fields), "new")]
    assert built == [1]  # once, under its id
    store.store_fields(("Alice", "alice", "Bob", "bob", "hi", 1001.0, "c2", "sent"), answers.append)  # no expiry
    store.store_message(StoredMessage(0, "Alice", "alice", "Bob", "bob", "hey", 1002.0, "c3", "sent", 5.5),
                        answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    assert answers[1:] == [(StoredMessage(2, "Alice", "alice", "Bob", "bob", "hi", 1001.0, "c2", "sent"), "new"),
                           (StoredMessage(3, "Alice", "alice", "Bob", "bob", "hey", 1002.0, "c3", "sent", 5.5), "new")]
    monkeypatch.undo()
    store.store_fields(fields, answers.append)  # a resend: the stored message
    store.store_fields(fields[:4] + ("other text",) + fields[5:], answers.append)  # the id reused
    loop.run_until_complete(store.drain(timeout=5))
    assert answers[3] == (StoredMessage(1, *fields), "resend")
    assert answers[4] == (StoredMessage(0, *fields[:4], "other text", *fields[5:]), "id_reused")
    store.close()



def unfold(dump: dict) -> dict:
    """every_key's dump with each message's ``f`` unfolded into the fields it holds (a
    field of its own wins, as the scripts' hmget reads them)."""
    out = {}
    for key, value in dump.items():
        if key.startswith("m:") and b"f" in value:
            value = dict(value)
            for name, part in fixed_parts(value.pop(b"f")).items():
                value.setdefault(name.encode(), part)
        out[key] = value
    return out


def test_a_direct_messages_fixed_fields_are_one_hash_field_and_both_layouts_read_the_same(loop, redis_server):
    """A direct message stored from its packed argument holds the fields that never change
    once stored (sender key and name, recipient and key, sent at, expires at, request id:
    the request id last) in ONE field ``f``, beside ``t`` and ``st``: three fields, not
    ten (the cluster path's round thirteen: fewer fields for Redis to file, fewer
    arguments for its append-only file). A message stored as before (ten fields, as
    STORE and the version before wrote it) is read by every operation as it was: the
    same answers from both layouts, step by step, for pages, a receipt without the
    sender's key, acks (a second one reads the sender key from the message), history,
    feature since, confirm_late, an edit, a read mark, a hand-over, expiry and a purge."""
    from server.stores import redis as module
    from server.stores import redis_scripts as lua

    new = open_redis_store(loop, redis_server.url, prefix="{new}:")
    old = open_redis_store(loop, redis_server.url, prefix="{old}:")
    cid = "c\t1 %s"  # a request id holding a tab: it goes last in ``f``
    messages = [dm(cid), dm("c2", "two"), replace(dm("c3", "three"), expires_at=1500.0), dm("c4", "to Carl", "Carl")]
    for message in messages:
        new.store_message(message)
        rk = message.recipient_key
        args = (message.sender_key, message.client_id, message.sender, message.recipient, rk, message.text,
                repr(message.sent_at), message.state, repr(message.expires_at),
                module.conversation_key(old.prefix, message.sender_key, rk))
        old._submit(lua.STORE, args, None, None, None)
    loop.run_until_complete(new.drain(timeout=5))
    loop.run_until_complete(old.drain(timeout=5))
    stored_new = loop.run_until_complete(every_key(redis_server.url, new.prefix))
    stored_old = loop.run_until_complete(every_key(redis_server.url, old.prefix))
    assert stored_new["m:1"] == {b"f": b"alice\tAlice\tBob\tbob\t1000.0\t9000000000.0\tc\t1 %s", b"t": b"hi",
                                 b"st": b"queued"}
    assert set(stored_old["m:1"]) == {name.encode() for name in (*FIXED, "t", "st")}
    assert unfold(stored_new) == stored_old

    def answers(store: RedisStore) -> list:
        got = []
        steps = [
            lambda: store.pending_for("bob", 0, 10, got.append),
            lambda: store.history("alice", "bob", None, 10, 0, got.append),
            lambda: store.since("bob", 0, 10, got.append),
            lambda: store.record_receipt(1, "bob", got.append),  # no sender key: read from the message
            lambda: store.confirm_late(2, "bob", got.append),
            lambda: store.outcomes_for_sender("alice", 0, 10, got.append),
            lambda: store.record_ack(1, "alice", got.append),
            lambda: store.record_ack(1, "alice", got.append),  # told already: the sender key is read
            lambda: store.record_ack(1, "bob", got.append),
            lambda: store.change_message(2, "alice", "two, edited", 1010.0, 600.0, frozenset(), got.append),
            lambda: store.changes_for("bob", 0, 10, got.append),
            lambda: store.record_read("bob", "alice", 2, got.append),
            lambda: store.read_mark("bob", "alice", got.append),
            lambda: store.expire(2000.0, got.append),
            lambda: store.hand_over("carl", 1, got.append),
            lambda: store.pending_for("carl", 0, 10, got.append),
            lambda: store.outcomes_for_sender("alice", 0, 10, got.append),
            lambda: store.purge(5000.0, None, got.append),
            lambda: store.store_message(dm(cid), got.append),  # a resend, after the hand-over
        ]
        for step in steps:
            step()
            loop.run_until_complete(store.drain(timeout=5))
        return got
    from_new, from_old = answers(new), answers(old)
    assert from_new == from_old
    assert from_new[3] is None and from_new[6:9] == [True, True, False], from_new
    new.close()
    old.close()


def test_a_batch_call_runs_each_operation_by_its_scripts_number_and_answers_an_unknown_one_an_error(loop, redis_server):
    """BATCH makes a script's function at its first operation of a call (round thirteen):
    two operations of one script in a call each run, an operation of another between them
    too, and a number that names no script is answered an error while the others run."""
    from server.stores import redis_scripts as lua

    store = open_redis_store(loop, redis_server.url)
    store.store_message(dm("c1"))
    loop.run_until_complete(store.drain(timeout=5))
    receipt, page = lua.SCRIPTS.index(lua.RECEIPT) + 1, lua.SCRIPTS.index(lua.PAGE) + 1

    async def call(*args):
        async with RedisClient(redis_server.url) as redis:
            return await redis.execute("EVALSHA", lua.BATCH.sha1, 0, store.prefix, *args)
    reply = loop.run_until_complete(call(page, 3, "pend:bob", 0, 10, len(lua.SCRIPTS) + 1, 0,
                                         receipt, 3, 1, "bob", "alice", page, 3, "pend:bob", 0, 10,
                                         receipt, 3, 1, "bob", "alice"))
    assert [row[0] for row in reply[0]] == [b"1"] and reply[2] == 1 and reply[3] == [] and reply[4] == 1, reply
    assert isinstance(reply[1], RedisError) and reply[1].code == "ERR", reply[1]
    store.close()


def test_a_conversations_peers_score_is_its_thousands_last_id_written_once_a_thousand_and_since_reads_the_same(
        loop, redis_server):
    """``peers:<key>`` (feature since's index) scores each conversation of ``<key>`` by the
    last id of the thousand its latest message is in (1,999 for 1,500; 999 below 1,000), not
    by that message's id: a conversation's next messages in the same thousand write its
    score unchanged, which Redis neither re-files nor propagates (round fourteen). The score
    is never below the conversation's latest id, so since finds every conversation that
    moved after its cursor; one that did not but shares the cursor's thousand is read and
    gives nothing. A score of main's layout (the latest id) reads the same."""
    store = open_redis_store(loop, redis_server.url)
    got = []

    def run(step) -> None:
        step(got.append)
        loop.run_until_complete(store.drain(timeout=5))

    async def redis(*command):
        async with RedisClient(redis_server.url) as client:
            return await client.execute(*command)
    p = store.prefix
    run(partial(store.store_message, dm("1")))  # alice -> bob: 1
    run(partial(store.store_message, dm("2", to="Carl")))  # alice -> carl: 2
    run(partial(store.store_message, replace(dm("3"), sender="Bob", sender_key="bob", recipient="Alice",
                                             recipient_key="alice")))  # bob -> alice: 3
    assert loop.run_until_complete(redis("ZRANGE", p + "peers:alice", 0, -1, "WITHSCORES")) == [
        b"conv:5:alice:bob", b"999", b"conv:5:alice:carl", b"999"]
    loop.run_until_complete(redis("SET", p + "next", "1499"))
    run(partial(store.store_message, dm("4", to="Carl")))  # alice -> carl: 1500
    loop.run_until_complete(redis("SET", p + "next", "2000"))
    run(partial(store.store_message, dm("5")))  # alice -> bob: 2001
    assert loop.run_until_complete(redis("ZRANGE", p + "peers:alice", 0, -1, "WITHSCORES")) == [
        b"conv:5:alice:carl", b"1999", b"conv:5:alice:bob", b"2999"]
    assert loop.run_until_complete(redis("ZRANGE", p + "peers:carl", 0, -1, "WITHSCORES")) == [
        b"conv:5:alice:carl", b"1999"]

    def since(key: str, after: int) -> list[int]:
        got.clear()
        run(partial(store.since, key, after, 10))
        entries, _cursor = got[0]
        return [entry.msg_id for entry in entries]
    expected = {("alice", 0): [1, 2, 3, 1500, 2001], ("alice", 2): [3, 1500, 2001], ("alice", 1500): [2001],
                ("alice", 2001): [], ("carl", 1): [2, 1500], ("carl", 1500): [], ("bob", 3): [2001]}
    assert {case: since(*case) for case in expected} == expected
    # main's layout: each score the conversation's latest id
    loop.run_until_complete(redis("ZADD", p + "peers:alice", "1500", "conv:5:alice:carl", "2001", "conv:5:alice:bob"))
    assert {case: since(*case) for case in expected} == expected
    store.close()


def test_exp_is_kept_a_skiplist_by_a_member_no_operation_takes_for_a_message(loop, redis_server):
    """``exp`` holds every message in flight; as a listpack (Redis's form for a sorted set
    of up to 128 members of up to 64 bytes) each insert and removal walked all of them (the
    cluster path's round fourteen: 7.5% of Redis's work a message). At open the store adds
    one member longer than that, scored +inf, which keeps the set a skiplist: the expiry
    pass never reaches it, a hand-over's walk of ``exp`` passes it by, and the purge leaves
    it, whatever they do to the messages."""
    from server.stores import redis_scripts as lua

    store = open_redis_store(loop, redis_server.url)
    holder = lua.EXP_HOLDER.encode()
    assert len(holder) > 64

    async def redis(*command):
        async with RedisClient(redis_server.url) as client:
            return await client.execute(*command)
    p = store.prefix
    assert loop.run_until_complete(redis("OBJECT", "ENCODING", p + "exp")) == b"skiplist"
    got = []

    def run(step) -> None:
        step(got.append)
        loop.run_until_complete(store.drain(timeout=5))
    run(partial(store.store_message, replace(dm("1"), expires_at=1500.0)))
    run(partial(store.store_message, replace(dm("2", to="Carl"), state="blocked", expires_at=9e9)))
    run(partial(store.hand_over, "carl", 5))  # ends what carl blocked: found in exp
    run(partial(store.expire, 1e12))
    run(partial(store.purge, 1e12, 1e12))
    assert [[m.msg_id for m in got[2]], [m.msg_id for m in got[3]]] == [[2], [1]], got
    assert loop.run_until_complete(redis("ZRANGE", p + "exp", 0, -1, "WITHSCORES")) == [holder, b"inf"]
    assert loop.run_until_complete(redis("OBJECT", "ENCODING", p + "exp")) == b"skiplist"
    store.close()
    again = open_redis_store(loop, redis_server.url)  # a second open adds nothing
    assert loop.run_until_complete(redis("ZRANGE", p + "exp", 0, -1, "WITHSCORES")) == [holder, b"inf"]
    again.close()


@pytest.mark.timeout_seconds(20)
def test_an_edit_redis_runs_after_its_store_answered_unavailable_changes_nothing(loop, redis_server):
    """An edit whose answer did not come within the store's timeout (Redis paused: the
    command waits in its socket) is answered ``unavailable`` (maybe done), and Redis ran it
    once it resumed: after a newer edit of the message made meanwhile (through another node,
    or this one once Redis answered again), it was stamped after that one and its older text
    stood, for everyone. Now a change Redis runs later than its store's timeout (and the
    clocks' skew allowed) after it was sent changes nothing."""
    store = open_redis_store(loop, redis_server.url, timeout=0.3)
    message = StoredMessage(0, "Alice", "alice", "Bob", "bob", "hi", time.time(), "c1", "pending")
    answers: list = []
    store.store_message(message, answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    msg_id = answers[0][0].msg_id
    failures: list = []
    with redis_server.paused():
        store.change_message(msg_id, "alice", "hi, first try", time.time(), 3600.0, frozenset(), answers.append,
                             failures.append)
        loop.run_until_complete(store.drain(timeout=5))
        assert len(failures) == 1 and failures[0].maybe_done, (failures, answers)
        # Paused past the timeout and the skew allowed: Redis runs it once resumed (below).
        loop.run_until_complete(asyncio.sleep(0.3 + CLOCK_SKEW_LIMIT + 0.2))

    def text() -> bytes:
        return loop.run_until_complete(every_key(redis_server.url, store.prefix))[f"m:{msg_id}"][b"t"]
    assert text() == b"hi"  # the edit ran before this read (FIFO on its connection if that stayed, else at once)
    second = open_redis_store(loop, redis_server.url)
    second.change_message(msg_id, "alice", "hi, second", time.time(), 3600.0, frozenset(), answers.append)
    loop.run_until_complete(second.drain(timeout=5))
    assert answers[-1][0] == "changed" and text() == b"hi, second", answers
    second.close()
    store.close()
