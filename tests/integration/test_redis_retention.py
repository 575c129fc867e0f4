"""The Redis store's retention keeps no more than the SQLite store's (docs/privacy.md), on
a real ``redis-server`` (loopback, a free port):

- a purge that takes a conversation's last message takes that conversation out of both
  users' ``peers:<key>`` (since's index: who talked with whom), and a user with none left
  has no such key;
- forgetting a guest name takes its ``peers:<key>`` with it;
- a purged room post's events-stream entries go with it (a retention may be shorter than
  the hour the stream keeps).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from redisserver import redis_server  # noqa: F401  (a fixture)

from resp import RedisClient
from server.mailbox import StoredMessage
from server.stores.redis import RedisStore


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def dm(client_id: str, sender: str, to: str, sent_at: float) -> StoredMessage:
    return StoredMessage(0, sender, sender.lower(), to, to.lower(), "text " + client_id, sent_at, client_id,
                         "queued", 9e9)


def run(loop, store: RedisStore, method, *args) -> object:
    answers: list = []
    method(*args, answers.append, answers.append)
    loop.run_until_complete(store.drain(timeout=10))
    assert len(answers) == 1, answers
    return answers[0]


def told(loop, store: RedisStore, message: StoredMessage) -> int:
    """``message`` stored, received and its outcome acknowledged: purgeable once old."""
    stored, _ = run(loop, store, store.store_message, message)
    run(loop, store, store.record_receipt, stored.msg_id, message.recipient_key)
    run(loop, store, store.record_ack, stored.msg_id, message.sender_key)
    return stored.msg_id


def redis_read(loop, url: str, *commands) -> list:
    async def read() -> list:
        async with RedisClient(url) as redis:
            return await redis.pipeline(list(commands))
    return loop.run_until_complete(read())


def test_a_purge_takes_a_conversation_out_of_whom_talked_with_whom_with_its_last_message(loop, redis_server):
    store = RedisStore(redis_server.url)
    store.open()
    store.start(loop)
    try:
        told(loop, store, dm("c1", "Alice", "Carol", 1000.0))
        told(loop, store, dm("b1", "Alice", "Bob", 1000.0))
        told(loop, store, dm("b2", "Bob", "Alice", 3000.0))  # (the newest, which a purge keeps)
        p = store.prefix
        before = redis_read(loop, redis_server.url, ("ZRANGE", p + "peers:alice", 0, -1),
                            ("EXISTS", p + "peers:carol"))
        assert len(before[0]) == 2 and before[1] == 1
        assert run(loop, store, store.purge, 2000.0, None) == 2
        alice, carol, bob = redis_read(loop, redis_server.url, ("ZRANGE", p + "peers:alice", 0, -1),
                                       ("EXISTS", p + "peers:carol"), ("ZRANGE", p + "peers:bob", 0, -1))
        assert carol == 0  # Carol's only conversation is gone: nothing says she talked with Alice
        assert alice == bob and len(alice) == 1 and b"bob" in alice[0]  # b2 is left of Alice and Bob's
    finally:
        store.close()


def test_forgetting_a_guest_name_forgets_whom_it_talked_with(loop, redis_server):
    store = RedisStore(redis_server.url)
    store.open()
    store.start(loop)
    try:
        msg_id = told(loop, store, dm("d1", "Dave", "Alice", 1000.0))
        p = store.prefix
        assert redis_read(loop, redis_server.url, ("EXISTS", p + "peers:dave")) == [1]
        run(loop, store, store.forget_users, ["dave"], msg_id)
        assert redis_read(loop, redis_server.url, ("EXISTS", p + "peers:dave"), ("EXISTS", p + "peers:alice")) \
            == [0, 1]
    finally:
        store.close()


def test_a_purged_room_posts_events_stream_entry_goes_with_it(loop, redis_server):
    store = RedisStore(redis_server.url)
    store.open()
    store.start(loop)
    stream = store.prefix + "events"
    try:
        say = StoredMessage(0, "Alice", "alice", None, None, "an old post", 1000.0, "s1", "room")
        run(loop, store, store.store_room_say, say, stream, "HEAD:", 1000)
        run(loop, store, store.store_room_say, replace(say, client_id="s2", text="new", sent_at=3000.0), stream,
            "HEAD:", 1000)
        assert redis_read(loop, redis_server.url, ("XLEN", stream)) == [2]
        assert run(loop, store, store.purge, 2000.0, None) == 1
        [entries] = redis_read(loop, redis_server.url, ("XRANGE", stream, "-", "+"))
        assert [fields for _, fields in entries] == [[b"e", b"HEAD:2}"]]  # the old post's entry (1) is gone
    finally:
        store.close()
