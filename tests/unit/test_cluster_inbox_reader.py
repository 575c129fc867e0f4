"""The node's inbox reader, driven with a scripted Redis: no sockets.

After a lost connection the reader reads its inbox again from "0", which brings back the
entries it applied but whose acknowledgement never reached Redis. They must be
acknowledged, not applied again: applying one twice sends its recipient a message, an
outcome or a copy a second time (seen once under load as a direct message arriving again
after later ones)."""

from __future__ import annotations

import asyncio

import pytest

from server.cluster import bus, node as node_module
from server.cluster.node import ClusterNode


class _End(Exception):
    """Raised by the scripted reader when its script is done: ends the reader's loop."""


class ScriptedReader:
    """Answers XREADGROUP calls from a list: a reply, an exception to raise, or a
    coroutine function whose result is the reply (a read that waits for something)."""

    def __init__(self, steps: list) -> None:
        self.steps = steps
        self.positions: list[str] = []

    async def pipeline_now(self, encoded: list[bytes]) -> list:
        """The reader's call: one XREADGROUP, already in RESP bytes (its last argument is
        the position)."""
        return [await self.execute(encoded[0].split(b"\r\n")[-2].decode())]

    async def execute(self, *args: object) -> object:
        self.positions.append(str(args[-1]))
        if not self.steps:
            raise _End
        step = self.steps.pop(0)
        if isinstance(step, BaseException):
            raise step
        if callable(step):
            return await step()
        return step

    async def close(self) -> None:
        pass


class Relay:
    def __init__(self) -> None:
        self.told: list[tuple[str, int, bytes]] = []
        self.store = object()  # not Redis's: attach() asks what it can do

    def tell_routed(self, key: str, msg_id: int, frame: bytes) -> None:
        self.told.append((key, msg_id, frame))


def test_an_entry_read_again_after_a_lost_connection_is_acknowledged_not_applied_again(monkeypatch) -> None:
    stream = b"{chat}:inbox:n1"
    entry = (b"1700000000000-0", [b"e", bus.encode(bus.Tell("bob", 7, '{"type":"delivered","msg_id":7}'))])
    reader = ScriptedReader([
        [[stream, []]],          # "0": nothing pending at start
        [[stream, [entry]]],     # ">": the entry, applied
        TimeoutError(),          # the connection is lost before the acknowledgement is known
        [[stream, [entry]]],     # "0" again: the entry is still pending, and comes back
    ])
    acks: list[tuple] = []
    outcomes = [TimeoutError(), 1]  # the first acknowledgement fails, the second is done

    async def inbox_taken(_client: object, args: tuple) -> object:
        acks.append(args[2:])
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    monkeypatch.setattr(node_module.scripts, "INBOX_TAKEN", inbox_taken)
    monkeypatch.setattr(node_module, "LAZY_SECONDS", 0.0)  # each read's acknowledgement at once
    node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1", beat=0.001)
    relay = Relay()
    node.attach(relay)
    node._inbox_reader = reader

    async def run() -> None:
        with pytest.raises(_End):
            await asyncio.wait_for(node._read_inbox(), 5)
        for _ in range(10):  # let the acknowledgements' tasks finish
            await asyncio.sleep(0)

    asyncio.run(run())
    # The pass after the break read one page, short of READ_COUNT: nothing after it pending.
    assert reader.positions == ["0", ">", ">", "0", ">"]
    assert relay.told == [("bob", 7, b'{"type":"delivered","msg_id":7}')]  # once, not twice
    assert acks == [(entry[0],), (entry[0],)]  # acknowledged again when it came back
    assert not node._inbox_unacked  # and forgotten once Redis has it


def _tell(n: int) -> tuple[bytes, list[bytes]]:
    return (b"1700000000000-%d" % n, [b"e", bus.encode(bus.Tell("bob", n, '{"type":"delivered","msg_id":%d}' % n))])


def test_the_entries_of_reads_within_lazy_seconds_are_acknowledged_in_one_call_and_the_rest_at_stop(
        monkeypatch) -> None:
    # Issue 10 (bench/PROFILE.md, round twenty-one): a call of its own per read woke Redis
    # (with its fsync) and the node once more per entry at a few hundred messages a second.
    stream = b"{chat}:inbox:n1"
    first, second, third = _tell(1), _tell(2), _tell(3)
    acks: list[tuple] = []

    async def inbox_taken(_client: object, args: tuple) -> object:
        acks.append(args[2:])
        return len(args) - 2

    monkeypatch.setattr(node_module.scripts, "INBOX_TAKEN", inbox_taken)
    node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1", beat=0.001)
    relay = Relay()
    node.attach(relay)

    async def run() -> None:
        node._inbox_reader = ScriptedReader([[[stream, []]], [[stream, [first]]], [[stream, [second]]]])
        with pytest.raises(_End):
            await asyncio.wait_for(node._read_inbox(), 5)
        assert acks == []  # held: LAZY_SECONDS not over
        for _ in range(500):  # wait for the timer, bounded
            if acks:
                break
            await asyncio.sleep(0.002)
        for _ in range(5):
            await asyncio.sleep(0)
        assert acks == [(first[0], second[0])]  # both reads in one call
        assert not node._inbox_unacked
        node._inbox_reader = ScriptedReader([[[stream, [third]]]])
        with pytest.raises(_End):
            await asyncio.wait_for(node._read_inbox(), 5)
        await asyncio.wait_for(node.stop(), 5)  # leaving: what was applied is acknowledged first
        assert acks == [(first[0], second[0]), (third[0],)]

    asyncio.run(run())
    assert [msg_id for _key, msg_id, _frame in relay.told] == [1, 2, 3]


def test_a_full_read_is_acknowledged_at_once(monkeypatch) -> None:
    stream = b"{chat}:inbox:n1"
    entries = [_tell(n) for n in range(node_module.READ_COUNT)]
    acks: list[tuple] = []

    async def inbox_taken(_client: object, args: tuple) -> object:
        acks.append(args[2:])
        return len(args) - 2

    monkeypatch.setattr(node_module.scripts, "INBOX_TAKEN", inbox_taken)
    monkeypatch.setattr(node_module, "LAZY_SECONDS", 3600.0)  # the timer would never come
    node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1", beat=0.001)
    node.attach(Relay())
    node._inbox_reader = ScriptedReader([[[stream, []]], [[stream, entries]]])

    async def run() -> None:
        with pytest.raises(_End):
            await asyncio.wait_for(node._read_inbox(), 5)
        for _ in range(5):
            await asyncio.sleep(0)

    asyncio.run(run())
    assert [len(ids) for ids in acks] == [node_module.READ_COUNT]


def test_an_entry_acknowledged_while_a_read_from_0_that_holds_it_is_under_way_is_not_applied_again(
        monkeypatch) -> None:
    """Found by CI (test_cluster_unsure, the library's message to Bia twice, a few runs in
    ten on a loaded machine): after Redis came back, the reader read from "0" again and
    again while the entry it applied waited for its acknowledgement; a read Redis ran just
    before the acknowledgement still held the entry, its answer came after the
    acknowledgement's, which had forgotten it, and it was applied a second time. An id
    leaves ``_inbox_unacked`` only once no read sent before its acknowledgement ran is
    under way."""
    stream = b"{chat}:inbox:n1"
    entry = _tell(7)
    acked = []

    async def inbox_taken(_client: object, args: tuple) -> object:
        acked.append(args[2:])
        return len(args) - 2

    async def read_before_the_acknowledgement() -> list:
        # Redis ran this read before the acknowledgement, whose answer reaches the node first.
        for _ in range(500):  # bounded
            if acked:
                break
            await asyncio.sleep(0.002)
        for _ in range(5):
            await asyncio.sleep(0)
        assert acked, "the acknowledgement never came"
        return [[stream, [entry]]]

    monkeypatch.setattr(node_module.scripts, "INBOX_TAKEN", inbox_taken)
    monkeypatch.setattr(node_module, "LAZY_SECONDS", 0.0)  # the acknowledgement at once
    node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1", beat=0.001)
    relay = Relay()
    node.attach(relay)

    async def nothing_new_and_another_ack_failed() -> None:
        node._ask_again([b"1700000000000-99"])  # the next read is a pass over the pending entries

    node._inbox_reader = ScriptedReader([
        [[stream, [entry]]],                 # "0" after a lost connection: pending, applied
        nothing_new_and_another_ack_failed,  # ">"
        read_before_the_acknowledgement,     # "0", the pass: still pending when Redis read it
    ])

    async def run() -> None:
        with pytest.raises(_End):
            await asyncio.wait_for(node._read_inbox(), 5)

    asyncio.run(run())
    assert node._inbox_reader.positions == ["0", ">", "0", ">"]
    assert [msg_id for _key, msg_id, _frame in relay.told] == [7]  # once, not twice
    assert acked == [(entry[0],)]
    assert not node._inbox_unacked  # forgotten once no read that could hold it is under way


def test_the_read_of_new_entries_is_encoded_once_for_all_of_them(monkeypatch) -> None:
    # Issue 10 (bench/PROFILE.md, round twenty-three): the read of new entries (">") was
    # encoded again for every read, its eleven arguments through the generic encoder, about
    # fifty Python calls each time: a read or so a cross-node message at a few thousand a
    # second. Its bytes never change; a pass from "0" still says its own position.
    stream = b"{chat}:inbox:n1"
    sent: list[bytes] = []

    class Recording(ScriptedReader):
        async def pipeline_now(self, encoded: list[bytes]) -> list:
            sent.append(encoded[0])
            return await super().pipeline_now(encoded)

    monkeypatch.setattr(node_module.scripts, "INBOX_TAKEN", lambda _client, args: asyncio.sleep(0, 1))
    monkeypatch.setattr(node_module, "LAZY_SECONDS", 3600.0)  # no acknowledgement during the test
    node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1", beat=0.001)
    node.attach(Relay())
    node._inbox_reader = Recording([[[stream, []]], [[stream, [_tell(1)]]], [[stream, [_tell(2)]]], None])

    async def run() -> None:
        with pytest.raises(_End):
            await asyncio.wait_for(node._read_inbox(), 5)

    asyncio.run(run())
    assert node._inbox_reader.positions == ["0", ">", ">", ">", ">"]
    first, *new = sent
    assert first.endswith(b"$1\r\n0\r\n") and first.split(b"\r\n")[:-3] == new[0].split(b"\r\n")[:-3]
    assert new[0] == b"*11\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in (
        b"XREADGROUP", b"GROUP", b"node", b"n1", b"COUNT", b"%d" % node_module.READ_COUNT, b"BLOCK",
        b"%d" % node_module.BLOCK_MS, b"STREAMS", stream, b">"))
    assert all(again is new[0] for again in new)  # the same bytes, not made again
