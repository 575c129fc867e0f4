"""The cluster's share of the privacy review (docs/privacy.md), on a real redis-server:
the events stream keeps an hour of entries (scripts.EVENTS_KEPT_MS; the trim itself:
test_cluster_scripts.py), so it may be empty after a quiet hour, and a node must not take
an emptied stream for a Redis that lost its data; a Redis password typed on the command
line, where every user of the machine can read it (ps), is said, never logged."""

from __future__ import annotations

import time
from pathlib import Path

from redisserver import RedisServer, redis_server  # noqa: F401  (a fixture)
from servers import ServerProcess
from test_cluster_nodes import Cluster, wait_for


def read_up(cluster: Cluster) -> None:
    """Until Ana's logout is on the stream (RELEASE takes her out of ``who`` and adds its
    entry in one step; an entry added after the test's change would undo it) and the node
    has read the stream's last entry (its position is past Ana's)."""
    node = cluster.nodes[0]
    wait_for(lambda: cluster.run(node._redis.execute("HEXISTS", node.prefix + "who", "ana")) == 0,
             what="Ana's logout in Redis")

    async def newest():
        return (await node._redis.execute("XREVRANGE", node.prefix + "events", "+", "-", "COUNT", 1))[0][0].decode()
    last = cluster.run(newest())
    def position(entry_id: str) -> tuple[int, ...]:
        return tuple(map(int, entry_id.split("-")))
    wait_for(lambda: position(node._last_event) >= position(last), what=f"the node's position at {last}")


def test_a_node_back_on_a_stream_emptied_by_the_trim_does_not_reload_the_registry(redis_server):  # noqa: F811
    cluster = Cluster(redis_server.url, 1)
    try:
        with cluster.login(0, "Ana"):
            pass  # entries: the node's position is past them
        read_up(cluster)
        node = cluster.nodes[0]
        loads = []

        async def check_after_a_quiet_hour():
            await node._redis.execute("XTRIM", node.prefix + "events", "MAXLEN", 0)  # what the trim leaves
            real_load = node._load

            async def load():
                loads.append(node._last_event)
                await real_load()
            node._load = load
            await node._check_events_position(time.time())  # what the reader does after a lost connection
        cluster.run(check_after_a_quiet_hour())
        assert loads == [], "an emptied stream was taken for a Redis that lost its data"
    finally:
        cluster.close()


def test_a_node_whose_redis_lost_the_stream_still_reloads_the_registry(redis_server):  # noqa: F811
    cluster = Cluster(redis_server.url, 1)
    try:
        with cluster.login(0, "Ana"):
            pass
        read_up(cluster)
        node = cluster.nodes[0]
        loads = []

        async def check_after_redis_lost_its_data():
            await node._redis.execute("DEL", node.prefix + "events")  # a restart without the data
            real_load = node._load

            async def load():
                loads.append(node._last_event)
                await real_load()
            node._load = load
            await node._check_events_position(time.time())
        cluster.run(check_after_redis_lost_its_data())
        assert len(loads) == 1
    finally:
        cluster.close()


def test_a_redis_password_on_the_command_line_is_said_to_belong_in_the_settings_and_never_logged(
        tmp_path: Path) -> None:
    password = "senha-do-redis-7f3a"
    with RedisServer(tmp_path / "redis", password=password) as redis:
        with ServerProcess("--cluster", redis.url) as node:
            said = "".join(node.lines)  # said before it listens
    assert "the Redis password is on the command line" in said, said
    assert "CLUSTER_URL" in said and password not in said, said


def test_a_redis_url_without_a_password_says_nothing_of_it(redis_server) -> None:  # noqa: F811
    with ServerProcess("--cluster", redis_server.url) as node:
        said = "".join(node.lines)
    assert "listening on" in said and "password is on the command line" not in said, said
