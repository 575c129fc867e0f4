"""The guest names a node held when it died (kill -9), once it is reaped: held for the
hold from the reap, as a guest whose connection dropped is on one server, then free again
on every node and in Redis, look-alikes included.

Real ``chatserver.py --cluster`` processes on one real redis-server, with a short guest
hold (const_local.py through CHAT_CONST_LOCAL); a node reaped while it lives on, in one
process (test_cluster_nodes.Cluster). Every wait has a deadline.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from redisserver import RedisServer
from servers import ServerProcess
from test_cluster_name_race import redis_call
from test_cluster_nodes import Cluster, wait_for
from test_cluster_processes import who
from waits import wait_until
from wire import WireClient

import const
from server.cluster import bus
from protocol import ErrorReply, Hello, Ping, UserJoined, UserLeft, Welcome

HOLD = 1.0


@pytest.fixture
def short_hold(tmp_path: Path, monkeypatch) -> None:
    settings = tmp_path / "const_local.py"
    settings.write_text(f"GUEST_HOLD = {HOLD!r}\n")
    monkeypatch.setenv("CHAT_CONST_LOCAL", str(settings))


@pytest.fixture
def redis(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def hello(node: ServerProcess, name: str) -> object:
    """The answer to a guest's hello for ``name`` on ``node``."""
    with WireClient("127.0.0.1", node.port) as client:
        client.send(Hello("h", name, const.PROTOCOL_VERSION))
        return client.expect((Welcome, ErrorReply), skip=(UserJoined, UserLeft, Ping))


@pytest.mark.timeout_seconds(120)
def test_a_look_alike_of_a_guest_name_a_killed_node_held_is_free_after_the_hold(redis, short_hold):
    # João is online on node two, which is killed. Before, nobody noted that he left: node
    # one held his name (and its look-alike "Joao") as online, for ever.
    one, two = ServerProcess("--cluster", redis.url), ServerProcess("--cluster", redis.url)
    try:
        one.wait_listening()
        two.wait_listening()
        olga = WireClient.login("127.0.0.1", one.port, "Olga")
        joao = WireClient.login("127.0.0.1", two.port, "João")
        wait_until(lambda: any(b'"k":"holding"' in entry[1][1] for entry in redis_call(redis.url, "XRANGE",
                                                                                       "{chat}:events", "-", "+")),
                   what="João's holding on the events stream")
        # Zed's login comes after it on the stream: once node one lists Zed, it has read João's holding.
        zed = WireClient.login("127.0.0.1", two.port, "Zed")
        wait_until(lambda: "Zed" in who(olga), what="node one hears of Zed")
        two.kill()
        zed.close()
        joao.close()
        wait_until(lambda: redis_call(redis.url, "HEXISTS", "{chat}:who", "jo\u00e3o") == 0, timeout=20,
                   what="node two reaped")
        answer = wait_until(lambda: (lambda a: a if isinstance(a, Welcome) else None)(hello(one, "Joao")),
                            timeout=10, what="a welcome of Joao once João's hold from the reap is over")
        assert answer.name == "Joao", answer
        olga.close()
    finally:
        for node in (one, two):
            node.kill()
            node.proc.stdin.close()


@pytest.mark.timeout_seconds(60)
def test_a_node_reaped_while_cut_off_keeps_its_own_guest_online_in_its_cache(redis):
    # Node 1 stops beating and is reaped: the reap notes that its guest Bia left (above),
    # but her session stays on node 1, which rejoins and claims her name again. Before the
    # node kept her holding online whatever it read, now it must not take that note for its
    # own guest, whose hold would otherwise run out while she is online there.
    c = Cluster(redis.url, 2, redis_stores=True, beat=0.2, ttl=1.0)
    try:
        with c.login(1, "Bia"):
            c.stop_beating(1)
            wait_for(lambda: any(b'"k":"holding"' in e[1][1] and b'"left_at":1' in e[1][1]
                                 for e in redis_call(redis.url, "XRANGE", "{chat}:events", "-", "+")),
                     timeout=15, what="the reap's note that Bia left")
            noted = [bus.decode(e[1][1]) for e in redis_call(redis.url, "XRANGE", "{chat}:events", "-", "+")
                     if b'"k":"holding"' in e[1][1]][-1]
            stored = redis_call(redis.url, "HMGET", "{chat}:guest:bia", "name", "token", "epoch", "left")
            assert noted == bus.HoldingSaved("bia", "Bia", stored[1].hex(), int(stored[2]), float(stored[3])), noted
            last = redis_call(redis.url, "XREVRANGE", "{chat}:events", "+", "-", "COUNT", 1)[0][0].decode()
            c.beat_again(1)
            node = c.nodes[1]
            wait_for(lambda: c.call(lambda: tuple(map(int, node._last_event.split("-"))))
                     >= tuple(map(int, last.split("-"))), what="node 1 read the reap's entries")
            wait_for(lambda: redis_call(redis.url, "HEXISTS", "{chat}:who", "bia") == 1, what="Bia claimed again")
            assert c.call(lambda: c.servers[1].relay.logins.guests.holdings["bia"].left_at) is None
    finally:
        c.close()
