"""A guest's leaving time reaches Redis even when Redis is away at the logout.

The nodes run in one process (test_cluster_nodes.Cluster), each with its Redis store, on
one real redis-server that syncs every write, killed and started again. Every wait has a
deadline.
"""

from __future__ import annotations

import pytest
from redisserver import durable_redis  # noqa: F401  (a fixture)
from test_cluster_name_race import redis_call
from test_cluster_nodes import Cluster, wait_for


def store_idle(store) -> bool:
    """Whether ``store`` has nothing submitted that Redis has not answered (or refused)."""
    return not store._queued and store._pipelines_made == store._pipelines_answered


@pytest.mark.timeout_seconds(90)
def test_a_guest_who_leaves_while_redis_is_down_is_held_in_redis_from_that_time(durable_redis):  # noqa: F811
    # Lia logs out while Redis is down: the node's RELEASE waits for the next beats, and the
    # store's write of her leaving time is refused. Before, nothing wrote it again: her
    # holding stayed "online" in Redis for good (CLAIM let anyone take her name at once;
    # FORGET_GUESTS, which wants the leaving time the nodes hold, never forgot it).
    c = Cluster(durable_redis.url, 1, redis_stores=True)
    try:
        server, node = c.servers[0], c.nodes[0]
        lia = c.login(0, "Lia")
        wait_for(lambda: redis_call(durable_redis.url, "HGET", "{chat}:guest:lia", "epoch") is not None,
                 what="Lia's holding stored")
        assert redis_call(durable_redis.url, "HGET", "{chat}:guest:lia", "left") is None
        durable_redis.kill()
        lia.close()
        wait_for(lambda: c.call(lambda: bool(node._unreleased)), timeout=20, what="Lia's release refused")
        wait_for(lambda: c.call(lambda: store_idle(server.relay.store)), timeout=20,
                 what="the store's writes of the logout answered")
        left_at = c.call(lambda: server.relay.logins.guests.holdings["lia"].left_at)
        assert left_at is not None
        durable_redis.start()
        wait_for(lambda: redis_call(durable_redis.url, "HEXISTS", "{chat}:who", "lia") == 0, timeout=20,
                 what="Lia's release run once Redis is back")
        stored = redis_call(durable_redis.url, "HGET", "{chat}:guest:lia", "left")
        assert stored is not None and float(stored) == left_at, (stored, left_at)
    finally:
        c.close()
