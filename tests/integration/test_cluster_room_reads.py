"""Read marks in rooms across the nodes of a cluster (issues 10 and 13): a member's mark
moved through one node reaches, as a "read by N" list, the members on every node (two
nodes as ``--cluster`` makes them, one real redis-server, real clients). Every wait has a
deadline."""

from __future__ import annotations

from redisserver import redis_server  # noqa: F401  (a fixture)
from wire import WireClient

from protocol import Hello, RoomRead, Welcome
from test_cluster_rooms import Nodes, nodes, online_everywhere, wait_for  # noqa: F401  (nodes: a fixture)
from test_room_reads import SKIP, marks
from test_rooms_after_delivered import ALL, QUIET, join, post


def log_in(n: Nodes, index: int, name: str) -> WireClient:
    host, port = n.servers[index].address
    client = WireClient(host, port)
    client.send(Hello("h", name, 2, None, False, None, ALL))
    client.welcome = client.expect(Welcome, skip=QUIET)
    return client


def test_a_mark_moved_on_one_node_is_counted_in_the_lists_of_members_on_the_other(nodes) -> None:  # noqa: F811
    n = nodes(2)
    ana, bob, cy = log_in(n, 0, "Ana"), log_in(n, 1, "Bob"), log_in(n, 1, "Cy")
    try:
        online_everywhere(n, "Ana", "Bob", "Cy")
        for client in (ana, bob, cy):
            join(client)
        # Every node knows the three members before the post (the stream brought the joins).
        wait_for(lambda: all(n.call(lambda s=s: len(s.relay.room_desk.rooms.get("#redes").members) == 3)
                             for s in n.servers), what="the three members on both nodes")
        for client in (ana, bob, cy):
            client.drain(quiet=0.3)
        posted = post(ana, "a1", "quem vem?", ana, bob, cy)
        bob.send(RoomRead("#redes", posted))  # on node 1
        assert marks(ana) == (posted,)  # Ana on node 0 counts Bob's mark
        assert marks(cy) == (posted,)  # and Cy, on Bob's node
        cy.send(RoomRead("#redes", posted))
        assert marks(ana) == (posted, posted)  # both, anonymous
    finally:
        for client in (ana, bob, cy):
            client.close()


def log_in_as(n: Nodes, index: int, name: str, register: bool = False) -> WireClient:
    """``name``, a registered user, logged in on node ``index`` (so it may be on several)."""
    host, port = n.servers[index].address
    client = WireClient(host, port)
    client.send(Hello("h", name, 2, "correct horse", register, None, ALL))
    client.welcome = client.expect(Welcome, skip=QUIET)
    return client


def test_ones_own_mark_reaches_ones_sessions_on_the_other_node_and_nobody_else(nodes) -> None:  # noqa: F811
    """João reads #calculo on node 0: his session on node 1 is told his own mark (the
    direct read's path across nodes, a ``conv`` entry), Ana on node 1 only her list."""
    n = nodes(2)
    joao = log_in_as(n, 0, "João", register=True)
    joao2, ana = log_in_as(n, 1, "João"), log_in(n, 1, "Ana")
    try:
        online_everywhere(n, "João", "Ana")
        wait_for(lambda: all(n.call(lambda s=s: len(s.relay.registry.sessions_by_key("joão")) == 1)
                             for s in n.servers), what="João's session on each node")
        join(joao, "#calculo")
        join(ana, "#calculo")
        wait_for(lambda: all(n.call(lambda s=s: len(s.relay.room_desk.rooms.get("#calculo").members) == 2)
                             for s in n.servers), what="the two members on both nodes")
        for client in (joao, joao2, ana):
            client.drain(quiet=0.3)
        posted = post(ana, "a1", "lista 3", joao, joao2, room="#calculo")
        joao.send(RoomRead("#calculo", posted))  # on node 0
        got = joao2.expect(RoomRead, skip=SKIP)
        while got.marks is not None:  # the others' list (empty: Ana read nothing) may come first
            got = joao2.expect(RoomRead, skip=SKIP)
        assert got == RoomRead("#calculo", posted, sender="João")
        assert marks(ana, "#calculo") == (posted,)  # Ana: her list, anonymous
        assert not [e for e in ana.drain(quiet=0.6) + joao.drain(quiet=0.1)
                    if isinstance(e, RoomRead) and e.marks is None]
    finally:
        for client in (joao, joao2, ana):
            client.close()
