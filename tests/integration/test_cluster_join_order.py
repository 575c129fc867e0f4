"""A direct message from someone who just logged in on another node comes to its recipient
after that someone's ``joined``, even when the recipient's node reads the events stream
(where the ``on`` is) later than its inbox (where the message is).

Two nodes in one process (test_cluster_nodes.Cluster) on a real redis-server; the second
reaches Redis through a raw FaultProxy, which holds back its events reader's connection:
a connection that lags behind another of the same node. Every wait has a deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from faultproxy import DOWN, FaultProxy
from redisserver import RedisServer, redis_server  # noqa: F401  (a fixture)
from test_cluster_nodes import Cluster, presence_until, wait_for, who

from protocol import Accepted, DirectMessage, Ping, SendDirect, UserJoined
from server.cluster import node as node_module


@contextmanager
def bia_behind_a_lagging_events_reader(redis: RedisServer, log_in: Callable | None = None,
                                       redis_stores: bool = False) -> Iterator[tuple]:
    """Bia online on node 1, whose events reader's link to Redis is then held back (its
    other links are not): (the cluster, node 1, Bia, the proxy, the held link's port).
    ``log_in(cluster, node index, name)`` logs her in (by default ``Cluster.login``);
    ``redis_stores``: see Cluster."""
    with FaultProxy("127.0.0.1", redis.port, raw=True) as proxy:
        # The held links must not time out before the tests cut or release them (a node's
        # Redis timeout is 2 s, and its readers' 3 s: a loaded machine took longer).
        c = Cluster(redis.url, 1, redis_stores, timeout=10.0)
        try:
            c.add_through(proxy.port)
            node = c.nodes[1]
            with (log_in or Cluster.login)(c, 1, "Bia") as bia:
                presence_until(bia, "Bia")  # her own join, told before anything the tests wait for
                wait_for(lambda: who(bia) == ["Bia"], what="Bia online")
                port = c.call(lambda: node._events_reader._link.transport.get_extra_info("sockname")[1])
                assert proxy.hold_peer(port) == 1
                yield c, node, bia, proxy, port
        finally:
            c.close()


def test_a_message_read_from_the_inbox_before_its_senders_join_waits_for_the_join(redis_server,  # noqa: F811
                                                                                  monkeypatch):
    # The wait's bound (0.5 s) is for a reader cut off; here the test releases the reader
    # itself, and a slow machine must not make it lose that race.
    monkeypatch.setattr(node_module, "CATCH_UP_SECONDS", 10.0)
    with bia_behind_a_lagging_events_reader(redis_server) as (c, node, bia, proxy, port):
        with c.login(0, "Ana") as ana:
            ana.send(SendDirect("d1", "Bia", "oi"))
            ana.expect(Accepted, skip=(UserJoined, Ping))
            # Node 1 read the message from its inbox; Ana's "on" is held back.
            wait_for(lambda: c.call(lambda: bool(node._event_waiters)), what="node 1 waiting for its events reader")
            assert [e for e in bia.drain(quiet=0.3) if not isinstance(e, Ping)] == []
            assert proxy.release_peer(port) == 1
            got = [bia.expect((UserJoined, DirectMessage), skip=(Ping,)) for _ in range(2)]
            assert [type(e).__name__ for e in got] == ["UserJoined", "DirectMessage"], got
            assert got[0].name == "Ana" and got[1].text == "oi"
            assert c.call(lambda: node._event_waiters) == []


def test_the_wait_for_a_lagging_events_reader_is_bounded(redis_server, monkeypatch):  # noqa: F811
    """An events reader that does not catch up (cut off, say) holds the inbox's reads back
    for CATCH_UP_SECONDS at most: the message then comes, before the join it could not wait
    for any longer."""
    monkeypatch.setattr(node_module, "CATCH_UP_SECONDS", 0.3)
    with bia_behind_a_lagging_events_reader(redis_server) as (c, node, bia, proxy, port):
        with c.login(0, "Ana") as ana:
            ana.send(SendDirect("d1", "Bia", "oi"))
            assert bia.expect(DirectMessage, skip=(Ping,), timeout=5).text == "oi"
            assert c.call(lambda: node._event_waiters) == []
            proxy.release_peer(port)
            assert bia.expect(UserJoined, skip=(Ping,)).name == "Ana"


def test_a_message_found_in_a_pass_over_the_pending_entries_waits_for_its_senders_join_too(
        redis_server, monkeypatch):  # noqa: F811
    """The inbox read's answer lost with its connection: Redis gave the entry to node 1,
    which passes over its pending entries once its reader is connected again. That pass
    applies the message as a new read does, after the sender's join."""
    monkeypatch.setattr(node_module, "CATCH_UP_SECONDS", 10.0)  # (as in the first test)
    with bia_behind_a_lagging_events_reader(redis_server) as (c, node, bia, proxy, port):
        inbox = c.call(lambda: node._inbox_reader._link.transport.get_extra_info("sockname")[1])
        # Its replies only: held both ways, a read the reader had just sent again (a loaded
        # machine catches it between two reads) never reached Redis, and nothing was pending.
        assert proxy.hold_peer(inbox, (DOWN,)) == 1
        stream = f"{node.prefix}inbox:{node.node_id}"
        with c.login(0, "Ana") as ana:
            ana.send(SendDirect("d1", "Bia", "oi"))
            ana.expect(Accepted, skip=(UserJoined, Ping))
            # Redis answered node 1's blocked read with the message: pending for node 1,
            # the answer held back on its way. Then that connection breaks.
            wait_for(lambda: c.run(node._redis.execute("XPENDING", stream, "node"))[0] == 1,
                     what="the message pending for node 1")
            assert proxy.cut_peer(inbox) == 1
            shown: list = []

            def waiting_or_shown() -> bool:
                if c.call(lambda: bool(node._event_waiters)):
                    return True
                shown.extend(e for e in bia.drain(quiet=0.05) if not isinstance(e, Ping))
                return bool(shown)

            wait_for(waiting_or_shown, what="node 1 waiting for its events reader, or Bia shown something")
            assert shown == [], "Bia was shown the message before Ana's join"
            assert [e for e in bia.drain(quiet=0.3) if not isinstance(e, Ping)] == []
            assert proxy.release_peer(port) == 1
            got = [bia.expect((UserJoined, DirectMessage), skip=(Ping,)) for _ in range(2)]
            assert [type(e).__name__ for e in got] == ["UserJoined", "DirectMessage"], got
            assert got[0].name == "Ana" and got[1].text == "oi"
            assert [e for e in bia.drain(quiet=0.3) if not isinstance(e, Ping)] == []  # once
