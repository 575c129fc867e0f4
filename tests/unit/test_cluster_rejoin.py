"""A node that finds itself unknown to Redis joins again (ClusterNode._rejoin): no sockets.

Its users stay connected, but a message stored for one of them after the node's sessions
last fetched their backlog (at the reconnection, ClusterNode._check_events_position) and
before their names were claimed again was stored ``queued`` (nobody held the name) and
routed nowhere: the sessions fetch again once their names are claimed, or such a message
waited for the user's next login. And a Redis restarted without its data counts message
ids from where the node has seen them, not from 1 again.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from server.cluster import node as node_module
from server.cluster.node import ClusterNode


class Session:
    """What the node reads of a session (hashable, as sessions are)."""

    def __init__(self, name: str) -> None:
        self.name, self.registered, self.closing, self.address, self.port = name, False, False, "127.0.0.1", 40000


class Relay:
    def __init__(self, seen: int) -> None:
        self.store = SimpleNamespace(last_msg_id=lambda: seen)
        self.calls: list[str] = []

    def resync(self, missed_since: float) -> None:
        self.calls.append("resync")


def rejoining_node(monkeypatch, relay: Relay, counter_was: int) -> tuple[ClusterNode, list]:
    calls = relay.calls

    async def claim(_client: object, args: tuple) -> bytes:
        calls.append(f"claim {args[4]}")
        return b"ok"

    async def next_at_least(_client: object, args: tuple) -> int:
        calls.append(f"ids from {int(args[1]) + 1}")
        return counter_was

    async def nothing(*_args: object, **_kwargs: object) -> list:
        return []

    monkeypatch.setattr(node_module.scripts, "CLAIM", claim)
    monkeypatch.setattr(node_module.scripts, "NEXT_AT_LEAST", next_at_least)
    node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1")
    node.relay = relay
    monkeypatch.setattr(node, "_reap", nothing)
    monkeypatch.setattr(node, "_join", nothing)
    monkeypatch.setattr(node._redis, "execute", nothing)
    node._sids[Session("Bob")] = ("n1/1", "bob", 1.0)
    return node, calls


def test_the_sessions_fetch_their_backlog_after_their_names_are_claimed_again(monkeypatch) -> None:
    relay = Relay(seen=3)
    node, calls = rejoining_node(monkeypatch, relay, counter_was=-1)
    asyncio.run(node._rejoin())
    assert "claim Bob" in calls and "resync" in calls, calls
    assert calls.index("resync") > calls.index("claim Bob"), calls


def test_a_rejoin_raises_the_id_counter_before_claiming_and_says_when_redis_had_lost_it(monkeypatch, caplog) -> None:
    relay = Relay(seen=3)
    node, calls = rejoining_node(monkeypatch, relay, counter_was=0)
    asyncio.run(node._rejoin())
    assert calls.index("ids from 4") < calls.index("claim Bob"), calls
    assert "lost its data" in caplog.text and "ids go on from 4" in caplog.text


def test_a_rejoin_has_the_events_reader_check_the_stream_still_holds_what_it_has_not_read(monkeypatch) -> None:
    node, _calls = rejoining_node(monkeypatch, Relay(seen=3), counter_was=-1)
    assert not node._events_recheck
    asyncio.run(node._rejoin())
    assert node._events_recheck  # a node away an hour with its links up (asleep) missed trimmed entries


def xinfo(last: str, first: str | None) -> list:
    """XINFO STREAM's reply, the fields _missed_events reads (and one it does not)."""
    return [b"length", 2, b"last-generated-id", last.encode(),
            b"first-entry", None if first is None else [first.encode(), [b"e", b"{}"]]]


def test_the_stream_misses_nothing_while_its_first_entry_is_at_or_before_the_position() -> None:
    missed = node_module._missed_events
    assert missed(xinfo("9-0", "3-0"), "5-0") == ""
    assert missed(xinfo("9-0", "5-0"), "5-0") == ""
    assert missed(xinfo("5-0", None), "5-0") == ""  # trimmed empty, nothing written since
    assert missed(xinfo("5-0", "5-0"), "5-0") == ""


def test_trimmed_past_the_position_or_behind_it_the_registry_is_loaded_again() -> None:
    missed = node_module._missed_events
    assert "trimmed" in missed(xinfo("9-0", "7-0"), "5-0")
    assert "trimmed" in missed(xinfo("9-0", "5-1"), "5-0")
    assert "trimmed" in missed(xinfo("9-0", None), "5-0")  # trimmed empty after entries this node never read
    assert "behind" in missed(xinfo("4-0", "1-0"), "5-0")  # Redis restarted without its data
    assert "behind" in missed(node_module.RedisError("ERR", "no such key"), "5-0")  # no stream at all


def test_a_rejoin_claims_its_sessions_names_many_to_a_round_trip_not_one(monkeypatch) -> None:
    """600 sessions, each CLAIM answered only when the fake Redis's next round trip ends:
    one after another they took 600 round trips (a node one hop of 10 ms from Redis with
    700 sessions outlasted its deadline while claiming, was reaped again, and rejoined
    without end); now ceil(600 / CLAIM_CHUNK)."""
    relay = Relay(seen=3)
    node, _calls = rejoining_node(monkeypatch, relay, counter_was=-1)
    for n in range(2, 601):
        node._sids[Session(f"U{n}")] = (f"n1/{n}", f"u{n}", 1.0)
    waiting: list[asyncio.Future] = []
    rounds = 0

    async def claim(_client: object, args: tuple) -> bytes:
        answer = asyncio.get_running_loop().create_future()
        waiting.append(answer)
        return await answer

    async def redis_answers_what_came_in_each_round_trip(rejoin: asyncio.Task) -> None:
        nonlocal rounds
        while not rejoin.done():
            for _ in range(5):  # the turns in which the claims of one round trip are written
                await asyncio.sleep(0)
            if waiting:
                rounds += 1
                for answer in waiting:
                    answer.set_result(b"ok")
                waiting.clear()

    async def main() -> None:
        rejoin = asyncio.ensure_future(node._rejoin())
        await redis_answers_what_came_in_each_round_trip(rejoin)
        await rejoin

    monkeypatch.setattr(node_module.scripts, "CLAIM", claim)
    asyncio.run(main())
    assert not node._unclaimed and len(node._reclaimed) == 600
    assert rounds == -(-600 // node_module.CLAIM_CHUNK), rounds


def test_a_rejoin_files_again_the_look_alike_keys_of_its_guests_names_and_not_of_accounts(monkeypatch) -> None:
    # After Redis lost its data, the guest names a node claims again were not filed in glook
    # (scripts.CLAIM): a look-alike guest was welcomed on another node beside them. Filed
    # now, marked '1' (the name is the session's already: refused for no look-alike).
    relay = Relay(seen=3)
    node, _calls = rejoining_node(monkeypatch, relay, counter_was=-1)
    node._store = SimpleNamespace(prefix=node.prefix)  # the store's holdings are CLAIM's to read
    olga = Session("Olga")
    olga.registered = True
    node._sids[olga] = ("n1/2", "olga", 1.0)
    node._sids[Session("João")] = ("n1/3", "joão", 1.0)
    claimed: dict[str, tuple] = {}

    async def claim(_client: object, args: tuple) -> bytes:
        claimed[args[4]] = args[8:]
        return b"ok"

    monkeypatch.setattr(node_module.scripts, "CLAIM", claim)
    asyncio.run(node._rejoin())
    assert claimed == {"Bob": ("", "bob", "1"), "João": ("", "joao", "1"), "Olga": ()}, claimed
