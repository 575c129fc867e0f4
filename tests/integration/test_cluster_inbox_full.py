"""A node far behind its inbox still gets what the trim of its inbox took unread.

An inbox keeps about scripts.INBOX_MAXLEN entries (every one its node has not
acknowledged: INBOX_TAKEN deletes the others); each XADD past that trims the oldest,
read or not. A node alive (its heartbeat beats) whose inbox reader is that far behind
loses the oldest: a direct message its sender was told ``accepted`` for, stored and
waiting in the store, never reached its recipient, online all along on that node, until
their next login. The routing scripts now mark such an inbox, and the node, finding the
mark, has its sessions fetch from the store what waits for them (Relay.resync).

Two nodes in one process (test_cluster_nodes.Cluster) on a real redis-server; node 1's
inbox reader is stopped (the node far behind), and the test routes more than
INBOX_MAXLEN entries to node 1 through ROUTES, as other nodes would. Every wait has a
deadline.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from redisserver import redis_server  # noqa: F401  (a fixture)
from test_cluster_nodes import NOTICES, Cluster, wait_for

from protocol import Accepted, DirectMessage, SendDirect
from resp import RedisClient, encode_command
from server.cluster import bus, scripts


def route_to(url: str, key: str, count: int) -> None:
    """``count`` ROUTES calls of another node (a "settled" of no message each: nothing to
    do where it arrives), one inbox entry each, for the nodes holding ``key``."""
    async def route() -> None:
        async with RedisClient(url, timeout=60) as redis:
            for first in range(0, count, 2000):
                calls = [encode_command(("EVAL", scripts.ROUTES.source, 0, "{chat}:", "elsewhere", key,
                                         bus.encode(bus.Settled(key, 10**9 + n))))
                         for n in range(first, min(first + 2000, count))]
                replies = await redis.pipeline_encoded(calls)
                assert all(isinstance(reply, list) and reply[0] for reply in replies), replies[:3]
    asyncio.run(route())


def first_entry(url: str, node_id: str) -> bytes:
    async def ask() -> bytes:
        async with RedisClient(url) as redis:
            return (await redis.execute("XRANGE", f"{{chat}}:inbox:{node_id}", "-", "+", "COUNT", 1))[0][1][1]
    return asyncio.run(ask())


@pytest.mark.timeout_seconds(180)
def test_a_message_the_trim_took_from_a_lagging_inbox_still_reaches_its_recipient(redis_server, caplog):  # noqa: F811
    caplog.set_level(logging.WARNING, logger="chat.cluster")
    c = Cluster(redis_server.url, 2)
    try:
        node = c.nodes[1]
        with c.login(0, "Ana") as ana, c.login(1, "Bia") as bia:
            wait_for(lambda: c.call(lambda: c.nodes[0]._where.get("bia")) is False, what="node 0 knows Bia")
            reader = node._tasks[2]
            c.call(reader.cancel)
            wait_for(reader.done, what="node 1's inbox reader stopped")
            ana.send(SendDirect("d1", "Bia", "before the flood"))
            ana.expect(Accepted, skip=NOTICES)  # routed to node 1: in its inbox
            assert b"before the flood" in first_entry(redis_server.url, node.node_id)
            route_to(redis_server.url, "bia", scripts.INBOX_MAXLEN + 1000)
            assert b"before the flood" not in first_entry(redis_server.url, node.node_id)  # trimmed unread
            c.call(lambda: node._tasks.__setitem__(2, asyncio.ensure_future(
                node._keep_running("inbox reader", node._read_inbox))))
            got = bia.expect(DirectMessage, skip=NOTICES, timeout=60)
            assert got.text == "before the flood"
            assert not [e for e in bia.drain(quiet=1.0) if isinstance(e, DirectMessage)]  # once
            said = [r.getMessage() for r in caplog.records if "inbox was full" in r.getMessage()]
            assert len(said) == 1 and said[0].startswith("cluster: delivery of what other nodes routed here"), said
            resyncs = dict(c.call(lambda: node.counters)["chat_cluster_inbox_resyncs_total"])
            assert resyncs == {'{reader="caught_up"}': 1, '{reader="behind"}': 0}, resyncs
    finally:
        c.close()


@pytest.mark.timeout_seconds(180)
def test_a_message_the_trim_took_reaches_its_recipient_also_while_the_reader_stays_behind(
        redis_server, monkeypatch):  # noqa: F811
    # The reader never catches up (stopped for good here: a node overloaded for good).
    # The sessions fetch what waits for them once INBOX_CATCH_UP_SECONDS have passed
    # since the trim was found, rather than wait for a catch-up that never comes; the
    # node counts it (/metrics).
    from server.cluster import node as node_module
    monkeypatch.setattr(node_module, "INBOX_CATCH_UP_SECONDS", 2.0)
    c = Cluster(redis_server.url, 2)
    try:
        node = c.nodes[1]
        with c.login(0, "Ana") as ana, c.login(1, "Bia") as bia:
            wait_for(lambda: c.call(lambda: c.nodes[0]._where.get("bia")) is False, what="node 0 knows Bia")
            reader = node._tasks[2]
            c.call(reader.cancel)
            wait_for(reader.done, what="node 1's inbox reader stopped")
            ana.send(SendDirect("d1", "Bia", "before the flood"))
            ana.expect(Accepted, skip=NOTICES)  # routed to node 1: in its inbox
            route_to(redis_server.url, "bia", scripts.INBOX_MAXLEN + 1000)
            assert b"before the flood" not in first_entry(redis_server.url, node.node_id)  # trimmed unread
            got = bia.expect(DirectMessage, skip=NOTICES, timeout=30)
            assert got.text == "before the flood"
            resyncs = dict(c.call(lambda: node.counters)["chat_cluster_inbox_resyncs_total"])
            assert resyncs == {'{reader="caught_up"}': 0, '{reader="behind"}': 1}, resyncs
            assert 'chat_cluster_inbox_resyncs_total{reader="behind"} 1' in c.call(c.servers[1].metrics_text)
    finally:
        c.close()
