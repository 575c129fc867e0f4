"""An account deleted at its owner's request (PROTOCOL.md, "unregister"), through every
store's public interface (base.MessageStore.delete_account): what was hers is gone, the
name is held by a holding nobody has the token of, and her sent messages stay with their
recipients. The durable stores are read again as at a restart."""

from __future__ import annotations

import asyncio

import pytest
from redisserver import redis_server  # noqa: F401  (a fixture)

from resp import RedisClient
from server.accounts import Account
from server.credentials import Credential
from server.guests import Holding
from server.mailbox import StoredMessage
from server.stores import MemoryStore, RedisStore, SQLiteStore


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def dm(msg_id: int, sender: str, recipient: str) -> StoredMessage:
    return StoredMessage(msg_id, sender, sender.lower(), recipient, recipient.lower(), f"hi {msg_id}",
                         1000.0 + msg_id, f"c{msg_id}", "queued", 9e9)


@pytest.fixture(params=["sqlite", "memory", "redis"])
def stores(request, loop, tmp_path):
    """(open a store, reopen it as at a restart), the same store for memory."""
    kind = request.param
    if kind == "memory":
        store = MemoryStore()
        yield (lambda: store), (lambda: store)
        return
    if kind == "sqlite":
        make = lambda: SQLiteStore(tmp_path / "chat.db")  # noqa: E731
    else:
        url = request.getfixturevalue("redis_server").url
        make = lambda: RedisStore(url)  # noqa: E731
    made = []

    def opened():
        store = make()
        store.open()
        made.append(store)
        return store
    yield opened, opened
    for store in made:
        store.close()


def test_a_deleted_account_leaves_nothing_of_hers_and_her_name_held(loop, stores):
    open_store, reopen = stores
    store = open_store()
    store.start(loop)
    for key, name in (("conc", "Conc"), ("bob", "Bob"), ("ann", "Ann")):
        store.remember_user(key, name, 1.0)
    store.save_account("conc", Account("Conc", b"h", b"s"))
    store.save_account("bob", Account("Bob", b"h", b"s"))
    store.save_account_credential(b"c" * 32, Credential("conc", 9e9), 1.0)
    store.save_account_credential(b"b" * 32, Credential("bob", 9e9), 1.0)
    store.set_block("conc", "bob", True)
    store.set_block("ann", "bob", True)
    store.set_read_receipts("conc", False)
    stored = []
    store.store_message(dm(1, "Bob", "Conc"), stored.append)  # waits for her
    store.store_message(dm(2, "Conc", "Ann"), stored.append)  # she sent: Ann's copy
    # Ann blocks her after that message (before it, Redis would store it blocked, never pending).
    store.set_block("ann", "conc", True)
    told = []
    loop.run_until_complete(store.drain(timeout=10))
    ids = [message.msg_id for message, _ in stored]
    holding = Holding("Conc", b"x" * 32, max(ids), 50.0)
    store.delete_account("conc", max(ids), holding, told.append)
    loop.run_until_complete(store.drain(timeout=10))
    # What waited for her ended, its sender told "expired".
    assert [(m.msg_id, m.state) for m in told[0]] == [(ids[0], "expired")]
    pages = []
    store.pending_for("conc", 0, 10, pages.append)
    store.pending_for("ann", 0, 10, pages.append)
    loop.run_until_complete(store.drain(timeout=10))
    assert pages[0] == [] and [m.msg_id for m in pages[1]] == [ids[1]]
    again = reopen()
    assert "conc" not in again.accounts() and "bob" in again.accounts()
    assert {c.name_key for c in again.account_credentials(2.0).values()} == {"bob"}
    assert again.blocks() == [("ann", "bob")]
    assert again.known_users() == {"bob": "Bob", "ann": "Ann"}
    assert "conc" not in again.receipts_off()
    assert again.guest_holdings(60.0)["conc"] == holding


def test_in_redis_a_deletion_ends_what_another_node_gave_a_later_id_and_holds_the_name_from_there(
        loop, redis_server):  # noqa: F811
    """Two stores on one Redis, as two cluster nodes: the second gives a message for her an
    id the first has not seen. The first's deletion, with its own last id as the epoch,
    still ends that message (its sender told ``expired``) and holds the name from the
    counter's id, which it says in ``holding.epoch``."""
    here, there = RedisStore(redis_server.url), RedisStore(redis_server.url)
    for store in (here, there):
        store.open()
        store.start(loop)
    try:
        here.remember_user("conc", "Conc", 1.0)
        here.save_account("conc", Account("Conc", b"h", b"s"))
        stored = []
        there.store_message(dm(0, "Bob", "Conc"), stored.append)
        loop.run_until_complete(there.drain(timeout=10))
        (message, _), = stored
        assert here.last_msg_id() < message.msg_id
        holding = Holding("Conc", b"x" * 32, here.last_msg_id(), 50.0)
        told = []
        here.delete_account("conc", here.last_msg_id(), holding, told.append)
        loop.run_until_complete(here.drain(timeout=10))
        assert [(m.msg_id, m.state) for m in told[0]] == [(message.msg_id, "expired")]
        assert holding.epoch == message.msg_id and here.last_msg_id() == message.msg_id
        assert there.guest_holdings(60.0)["conc"].epoch == message.msg_id  # as another node reads it
    finally:
        here.close()
        there.close()


def test_in_redis_a_deletion_takes_her_out_of_the_administrators_a_console_made(loop, redis_server):  # noqa: F811
    """The cluster keeps the administrators made at a node's console in Redis (``admins``),
    read by every node that joins later: her deletion takes her out of it in its one step,
    or a node started after it would make the name's next holder an administrator."""
    store = RedisStore(redis_server.url)
    store.open()
    store.start(loop)

    async def redis(*command: object) -> object:
        async with RedisClient(redis_server.url) as client:
            return await client.execute(*command)
    try:
        store.save_account("conc", Account("Conc", b"h", b"s"))
        loop.run_until_complete(redis("SADD", store.prefix + "admins", "conc", "bob"))
        store.delete_account("conc", store.last_msg_id(), Holding("Conc", b"x" * 32, 0, 50.0))
        loop.run_until_complete(store.drain(timeout=10))
        assert set(loop.run_until_complete(redis("SMEMBERS", store.prefix + "admins"))) == {b"bob"}
    finally:
        store.close()
