"""The node's inbox reader against a model of its stream in Redis: no sockets.

:class:`FakeInbox` keeps what Redis keeps of one node's inbox (the entries, the consumer's
pending ids, the group's last delivered id, the reads blocked on it) and answers the
reader's XREADGROUP and the node's INBOX_TAKEN as Redis does: a read from an id returns
the consumer's pending entries after it, ``>`` the new ones (marked pending), and a read
blocked on an empty stream is given the next entry added. A connection the node loses
loses the reply under way (Redis ran the read: its entries are pending, never seen), or a
read still blocked, which Redis ends (its BLOCK, 1 s, is over before the node, after its
own timeout of a few seconds, reconnects). Time is a fake clock, moved by a blocked
read's BLOCK."""

from __future__ import annotations

import asyncio
import random

import pytest

from resp.aio import RedisConnectionError
from server.cluster import bus, node as node_module
from server.cluster.node import BLOCK_MS, READ_COUNT, ClusterNode

STREAM = b"{chat}:inbox:n1"


def _seq(entry_id: bytes) -> int:
    return int(entry_id.split(b"-")[1])


def _args(encoded: bytes) -> list[bytes]:
    """The arguments of one RESP command (bulk strings)."""
    lines = encoded.split(b"\r\n")
    return [lines[i] for i in range(2, len(lines) - 1, 2)]


class FakeInbox:
    """One node's inbox stream and consumer group, as Redis keeps them."""

    def __init__(self) -> None:
        self.entries: dict[bytes, list[bytes]] = {}
        self.pending: dict[bytes, None] = {}  # in id order
        self.delivered = 0  # the group's last delivered id (its sequence number)
        self.blocked: list[asyncio.Future] = []  # ">" reads waiting, oldest first
        self.returned = 0  # entries in the replies that reached the node
        self.clock = 0.0

    def add(self, n: int) -> bytes:
        entry_id = b"1700000000000-%d" % n
        self.entries[entry_id] = [b"e", bus.encode(bus.Tell("bob", n, '{"type":"delivered","msg_id":%d}' % n))]
        while self.blocked:
            waiter = self.blocked.pop(0)
            if not waiter.done():  # (one that timed out is gone)
                waiter.set_result(self._new(READ_COUNT))
                break
        return entry_id

    def _new(self, count: int) -> list:
        new = [(i, f) for i, f in self.entries.items() if _seq(i) > self.delivered][:count]
        for entry_id, _fields in new:
            self.pending[entry_id] = None
            self.delivered = _seq(entry_id)
        return new

    def read(self, position: str, count: int) -> asyncio.Future | list:
        """Run one XREADGROUP: its entries, or a future a later entry (or BLOCK) answers."""
        if position != ">":
            after = 0 if position == "0" else _seq(position.encode())
            return [(i, self.entries.get(i)) for i in self.pending if _seq(i) > after][:count]
        new = self._new(count)
        if new:
            return new
        waiter = asyncio.get_running_loop().create_future()
        self.blocked.append(waiter)
        return waiter

    def taken(self, ids: tuple) -> int:
        for entry_id in ids:
            self.pending.pop(entry_id, None)
            self.entries.pop(entry_id, None)
        return len(ids)


class FakeReader:
    """The reader's connection. ``lose()`` breaks it: a read blocked in Redis ends unserved,
    and the next reply (of a read Redis runs) is lost."""

    def __init__(self, inbox: FakeInbox) -> None:
        self.inbox = inbox
        self.positions: list[str] = []
        self.waiting: asyncio.Future | None = None
        self.drop = False
        self.reads_left = 10_000  # bounded: the reader never ends by itself

    async def pipeline_now(self, encoded: list[bytes]) -> list:
        args = _args(encoded[0])
        position, count = args[-1].decode(), int(args[args.index(b"COUNT") + 1])
        self.positions.append(position)
        self.reads_left -= 1
        if self.reads_left < 0:
            raise _End
        await asyncio.sleep(0)  # on its way to Redis
        reply = self.inbox.read(position, count)
        if isinstance(reply, asyncio.Future):
            self.waiting = reply
            await asyncio.wait((reply,), timeout=0.005)  # (neither cancels it nor raises)
            if not reply.done():
                reply.cancel()
                self.inbox.clock += BLOCK_MS / 1000  # BLOCK ran out
            if reply.cancelled():
                if self.waiting is None:
                    raise RedisConnectionError("lost")  # ended unserved (lose())
                self.waiting = None
                return [None]
            self.waiting = None
            reply = reply.result()
        await asyncio.sleep(0)  # on its way back
        if self.drop:
            self.drop = False
            raise RedisConnectionError("lost")  # Redis ran it: its entries are pending
        self.inbox.returned += len(reply)
        return [[[STREAM, reply]]] if reply or position != ">" else [None]

    def lose(self) -> None:
        if self.waiting is not None:
            self.waiting.cancel()  # ended unserved
            self.waiting = None
        else:
            self.drop = True


class _End(Exception):
    """The fake reader's bound: ends the reader's loop."""


class Relay:
    def __init__(self) -> None:
        self.told: list[int] = []
        self.store = object()  # not Redis's: attach() asks what it can do

    def tell_routed(self, _key: str, msg_id: int, _frame: bytes) -> None:
        self.told.append(msg_id)


def _node(monkeypatch, inbox: FakeInbox, relay: Relay) -> ClusterNode:
    async def inbox_taken(_client: object, args: tuple) -> object:
        await asyncio.sleep(0)
        return inbox.taken(args[2:])

    monkeypatch.setattr(node_module.scripts, "INBOX_TAKEN", inbox_taken)
    node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1", beat=0.001, clock=lambda: inbox.clock)
    node.attach(relay)
    node._inbox_reader = FakeReader(inbox)
    return node


async def _until(condition, what: str, turns: int = 2000) -> None:
    for _ in range(turns):  # bounded
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"{what}: not within {turns} waits")


def test_after_a_lost_connection_each_pending_entry_is_read_once(monkeypatch) -> None:
    """A pass over the pending entries reads on from the last one it got, not from "0"
    again until their acknowledgements land: that read the whole pending list again and
    again (the first READ_COUNT of it when longer), one read after the other with nothing
    to wait for, for as long as the lazy acknowledgement took."""
    inbox, relay = FakeInbox(), Relay()
    count = 2 * READ_COUNT + 500
    for n in range(1, count + 1):
        inbox.add(n)
    inbox.read(">", count)  # read by this consumer before the break, never applied here
    node = _node(monkeypatch, inbox, relay)

    async def run() -> None:
        task = asyncio.ensure_future(node._read_inbox())
        await _until(lambda: ">" in node._inbox_reader.positions, "the pass's end")
        task.cancel()

    asyncio.run(run())
    assert relay.told == list(range(1, count + 1))  # each once, in order
    assert inbox.returned == count  # and each read once: not the list again and again


def test_an_acknowledgement_that_failed_is_asked_again_at_the_next_read(monkeypatch) -> None:
    """An acknowledgement that failed while the reader's connection held (Redis slow for
    the node's shorter timeout, or that connection alone broken) left its entries pending
    (their text in Redis) until the reader's next lost connection, an unrelated event, and
    their ids in ``_inbox_unacked``. The failure makes the reader's next read a pass over
    the pending entries, which asks again; one whose acknowledgement ran though its answer
    was lost is forgotten."""
    inbox, relay = FakeInbox(), Relay()
    node = _node(monkeypatch, inbox, relay)
    reader = node._inbox_reader
    taken = node_module.scripts.INBOX_TAKEN
    failures = ["not run", "ran"]

    async def failing_taken(client: object, args: tuple) -> object:
        if failures:
            if failures.pop(0) == "ran":
                await taken(client, args)
            raise TimeoutError
        return await taken(client, args)

    monkeypatch.setattr(node_module.scripts, "INBOX_TAKEN", failing_taken)

    async def run() -> None:
        task = asyncio.ensure_future(node._read_inbox())
        await _until(lambda: reader.waiting is not None, "the first blocked read")
        inbox.add(1)
        await _until(lambda: not failures[1:] and reader.waiting is not None, "the first acknowledgement failed")
        inbox.add(2)
        await _until(lambda: not failures and reader.waiting is not None, "the second failed")
        failed_at.append(inbox.clock)
        await _until(lambda: not inbox.pending and not node._inbox_unacked or inbox.clock > 30,
                     "acknowledged, or 30 s of fake time", turns=20_000)
        task.cancel()

    failed_at: list[float] = []
    asyncio.run(run())
    assert relay.told == [1, 2]
    assert not inbox.pending and not node._inbox_unacked and not node._inbox_unsure
    # At the next read or so (a blocked one ends first), not at the next lost connection.
    assert inbox.clock - failed_at[0] <= 2 * BLOCK_MS / 1000


@pytest.mark.parametrize("seed", range(20))
def test_every_entry_is_applied_once_whatever_the_breaks(monkeypatch, seed: int) -> None:
    """Entries come while the reader's connection breaks now and then (a reply lost, or a
    blocked read ended) and acknowledgements fail now and then (run, or not, by Redis):
    every entry is applied exactly once, in the end every one and acknowledged, and the
    node keeps no id of an entry Redis no longer holds."""
    rng = random.Random(seed)
    inbox, relay = FakeInbox(), Relay()
    node = _node(monkeypatch, inbox, relay)
    reader = node._inbox_reader
    taken = node_module.scripts.INBOX_TAKEN

    async def flaky_taken(client: object, args: tuple) -> object:
        roll = rng.random()
        if roll < 0.1:
            raise TimeoutError  # never ran
        result = await taken(client, args)
        if roll < 0.2:
            raise TimeoutError  # ran; its answer lost
        return result

    monkeypatch.setattr(node_module.scripts, "INBOX_TAKEN", flaky_taken)
    monkeypatch.setattr(node_module, "LAZY_SECONDS", 0.0005)
    count = 300

    async def run() -> None:
        task = asyncio.ensure_future(node._read_inbox())
        for n in range(1, count + 1):
            inbox.add(n)
            if rng.random() < 0.1:
                reader.lose()
            for _ in range(rng.randrange(4)):
                await asyncio.sleep(0)
        monkeypatch.setattr(node_module.scripts, "INBOX_TAKEN", taken)  # Redis well again
        await _until(lambda: len(relay.told) >= count and not inbox.pending and not node._inbox_unacked,
                     "every entry applied and acknowledged", turns=5000)
        task.cancel()

    try:
        asyncio.run(run())
    finally:
        assert sorted(relay.told) == sorted(set(relay.told)), "an entry applied twice"
        assert sorted(relay.told) == list(range(1, count + 1))
