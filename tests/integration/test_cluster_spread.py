"""The users of a node that stops (``bye``) or dies (kill -9) spread over the other nodes
(issue 10): every client lists the servers in the same order, yet each starts its turn
of the others from a place of its own (client/servers.py ``spread_start``), so a 3-node
cluster that loses one node does not end with one node carrying twice the load.

Three nodes and one Redis on the loopback, 30 users of the client library on node 0
(the first of everyone's list); every wait has a deadline.
"""

from __future__ import annotations

import pytest
from redisserver import redis_server  # noqa: F401  (a fixture)
from test_cluster_nodes import Cluster, wait_for

from client import ChatClient

USERS = 30
# As the terminal and the window are made (a goodbye is survived like a crash), retrying fast.
FAST = {"reconnect_delay": 0.05, "reconnect_max_delay": 0.4, "reconnect_on_goodbye": True}
WAIT = 30.0


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_the_users_of_a_lost_node_spread_over_the_others(redis_server, how, tmp_path):  # noqa: F811
    c = Cluster(redis_server.url, 3, beat=0.2, ttl=2.0)
    servers = [c.address(i) for i in range(3)]
    clients = [ChatClient(f"Aluno{i}", servers=servers, **FAST) for i in range(USERS)]
    try:
        for client in clients:
            client.connect(timeout=WAIT)
        assert {client.port for client in clients} == {servers[0][1]}  # everyone on the first
        if how == "stop":
            c.run(c.servers[0].stop(), 20)
            c.servers[0] = c.nodes[0] = None
        else:
            c.crash(0)

        def moved() -> bool:
            return all(client.connected and client.port != servers[0][1] for client in clients)
        wait_for(moved, WAIT, "every user back on another node")
        counts = [sum(client.port == port for client in clients) for _host, port in servers[1:]]
        assert sum(counts) == USERS
        # Balanced within reason: neither node took more than two thirds of them.
        assert max(counts) <= 2 * USERS // 3, f"node 1 and node 2 took {counts} of the {USERS} users of node 0"
        for index, count in enumerate(counts, 1):
            assert c.call(lambda i=index: len(c.servers[i].relay.registry)) == count
    finally:
        for client in clients:
            client.close()
        c.close()
