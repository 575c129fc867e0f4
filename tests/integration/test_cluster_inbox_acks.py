"""A node's inbox entries are acknowledged (and deleted) even when an acknowledgement
failed while its inbox reader's connection held.

Two nodes in one process (test_cluster_nodes.Cluster) on a real redis-server; the second
reaches Redis through a raw FaultProxy. The test black-holes that node's command
connection (nothing passes either way, nothing is closed: a network that vanishes), so
the acknowledgement of the next entry its reader applies gets no answer and times out;
the reader's own connection goes on as before. The entry, a direct message, had reached
its recipient; but it stayed pending in the inbox, its text in Redis (docs/cluster.md: a
delivered message's text is only in its hash, where a delete overwrites it), until the
reader's next lost connection, an unrelated event. Now the failure makes the reader's
next read a pass over its pending entries, which acknowledges it. Every wait has a
deadline.
"""

from __future__ import annotations

import asyncio

from faultproxy import FaultProxy
from redisserver import redis_server  # noqa: F401  (a fixture)
from test_cluster_nodes import NOTICES, Cluster, wait_for, who

from protocol import Accepted, DirectMessage, Receipt, SendDirect
from resp import RedisClient
from server.cluster.node import BLOCK_MS


def inbox_length(url: str, node_id: str) -> int:
    async def ask() -> int:
        async with RedisClient(url) as redis:
            return await redis.execute("XLEN", f"{{chat}}:inbox:{node_id}")
    return asyncio.run(ask())


def test_an_entry_whose_acknowledgement_failed_leaves_the_inbox_at_the_next_read(redis_server):  # noqa: F811
    with FaultProxy("127.0.0.1", redis_server.port, raw=True) as proxy:
        c = Cluster(redis_server.url, 1)
        try:
            c.add_through(proxy.port)
            node = c.nodes[1]
            with c.login(0, "Ana") as ana, c.login(1, "Bia") as bia:
                wait_for(lambda: who(ana) == who(bia) == ["Ana", "Bia"], what="both online on both nodes")
                ana.send(SendDirect("d1", "Bia", "before"))
                assert bia.expect(DirectMessage, skip=NOTICES).text == "before"
                bia.send(Receipt(ana.expect(Accepted, skip=NOTICES).msg_id))
                wait_for(lambda: inbox_length(redis_server.url, node.node_id) == 0, what="the first entry taken")
                port = c.call(lambda: node._redis._link.transport.get_extra_info("sockname")[1])
                assert proxy.freeze_peer(port) == 1
                ana.send(SendDirect("d2", "Bia", "while the acknowledgement hangs"))
                got = bia.expect(DirectMessage, skip=NOTICES)
                assert got.text == "while the acknowledgement hangs"
                bia.send(Receipt(got.msg_id))
                # The acknowledgement times out (the node's timeout), then a pass takes it.
                wait_for(lambda: inbox_length(redis_server.url, node.node_id) == 0,
                         timeout=node.timeout + 2 * BLOCK_MS / 1000 + 4, what="the entry taken")
                assert not [e for e in bia.drain(quiet=0.5) if isinstance(e, DirectMessage)]  # once
                assert c.call(lambda: not node._inbox_unacked and not node._inbox_unsure)
        finally:
            c.close()
