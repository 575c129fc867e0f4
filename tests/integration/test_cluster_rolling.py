"""A rolling restart of a two-node cluster (docs/cluster.md, "Restarting the nodes one at a
time"): the operator stops a node (SIGTERM, as Ctrl-C or ``/quit``), starts it again, then
does the same with the other. Real node processes on fixed free ports (so that the
clients' server lists stay right across the restarts), a real Redis that syncs every
write, the project's client library with the clients' default reconnection delays.

- The users of the stopping node move to the other node at once: one reconnection
  attempt, without a wait, to the next server of their list (not the stopping one);
- nobody is told that they left and joined: a move is no news;
- a user who does not come back (a client that cannot move) is told gone, once the grace
  is over, with the stop's reason;
- messages sent to a moving user just before the stop, and by her, reach their recipients
  once, and their senders see them delivered.

Every wait has a deadline; loopback only.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redisserver import RedisServer, durable_redis, free_port  # noqa: F401  (a fixture)
from recorder import Recorder
from servers import ServerProcess
from wire import WireClient

from client import ChatClient
from client.events import Reconnected, Reconnecting
from client.outgoing import DELIVERED
from protocol import DirectMessage, Goodbye, UserJoined, UserLeft

import const

WAIT = 20.0
SHUTDOWN = "server shutting down"


class Nodes:
    """Two cluster nodes, each on a port of its own that a restart keeps."""

    def __init__(self, redis: RedisServer) -> None:
        self.url = redis.url
        self.ports = [free_port(), free_port()]
        self.procs: list[ServerProcess | None] = [None, None]

    def start(self, index: int) -> ServerProcess:
        node = ServerProcess("--cluster", self.url, "--port", str(self.ports[index]))
        self.procs[index] = node
        node.wait_listening()
        assert node.port == self.ports[index]
        return node

    def stop(self, index: int) -> None:
        node = self.procs[index]
        assert node is not None and node.stop() == 0, node.output()
        node.proc.stdin.close()

    def servers(self, *order: int) -> list[tuple[str, int]]:
        return [("127.0.0.1", self.ports[index]) for index in order]

    def close(self) -> None:
        for node in self.procs:
            if node is not None and node.proc.poll() is None:
                node.kill()


@pytest.fixture
def nodes(durable_redis) -> Iterator[Nodes]:
    made = Nodes(durable_redis)
    try:
        made.start(0)
        made.start(1)
        yield made
    finally:
        made.close()


def user(clients: list[ChatClient], name: str, servers: list[tuple[str, int]]) -> tuple[ChatClient, Recorder]:
    """``name`` logged in as the terminal and the window do (a server's goodbye is a
    planned restart: reconnect), with the default reconnection delays."""
    recorder = Recorder()
    client = ChatClient(name, servers=servers, on_event=recorder, reconnect_on_goodbye=True)
    clients.append(client)
    client.connect(timeout=WAIT)
    return client, recorder


def notices_of(recorder: Recorder, name: str) -> list[object]:
    return [e for e in recorder.events if isinstance(e, (UserJoined, UserLeft)) and e.name == name]


def moved_at_once(recorder: Recorder, goodbyes: int, port: int) -> None:
    """After its goodbye number ``goodbyes + 1``, the client reconnected to ``port`` in one
    attempt made without a wait."""
    def since() -> list[object]:
        said = [i for i, e in enumerate(recorder.events) if isinstance(e, Goodbye)]
        return recorder.events[said[goodbyes]:] if len(said) > goodbyes else []

    assert recorder.holds(lambda: any(isinstance(e, Reconnected) for e in since()), WAIT), recorder.events
    events = since()
    assert [e.delay for e in events if isinstance(e, Reconnecting)] == [0.0], events
    assert [e for e in events if isinstance(e, Reconnected)][0].server == f"127.0.0.1:{port}", events


@pytest.mark.timeout_seconds(120)
def test_a_rolling_restart_moves_the_users_without_news_or_loss(nodes, clients) -> None:
    alice, at_alice = user(clients, "Alice", nodes.servers(0, 1))
    bob, at_bob = user(clients, "Bob", nodes.servers(1, 0))
    assert (alice.port, bob.port) == tuple(nodes.ports)
    # Carol cannot move (one server, as a page of node one's): she is told gone once the
    # grace is over, and her leave, the last notice the stop makes, tells when to look.
    carol = WireClient.login("127.0.0.1", nodes.ports[0], "Carol")
    assert at_bob.holds(lambda: "Carol" in {e.name for e in at_bob.of(UserJoined)}, WAIT)
    assert {"Alice", "Carol"} <= {p.name for p in bob.who()}
    seen_alice = len(notices_of(at_bob, "Alice"))

    # Node one stops while Bob's messages to Alice, and hers to him, are on their way.
    sent = [bob.send_direct("Alice", f"just before {n}") for n in range(3)]
    replies = [alice.send_direct("Bob", f"reply {n}") for n in range(3)]
    nodes.stop(0)
    moved_at_once(at_alice, 0, nodes.ports[1])
    for message in sent + replies:  # her outcomes, routed to node one, are told on node two
        assert message.wait(DELIVERED, WAIT), message
    assert at_bob.holds(lambda: len(at_bob.of(DirectMessage)) >= 3, WAIT)
    assert [e.text for e in at_bob.of(DirectMessage)] == [f"reply {n}" for n in range(3)]
    assert at_alice.holds(lambda: len(at_alice.of(DirectMessage)) >= 3, WAIT)
    assert at_bob.holds(lambda: any(e.name == "Carol" for e in at_bob.of(UserLeft)), const.CLUSTER_MOVE_GRACE + WAIT)
    assert [e.reason for e in at_bob.of(UserLeft) if e.name == "Carol"] == [SHUTDOWN]
    assert notices_of(at_bob, "Alice")[seen_alice:] == []  # no left, no joined: she moved
    assert [e.text for e in at_alice.of(DirectMessage)] == [f"just before {n}" for n in range(3)]
    assert {p.name for p in bob.who()} >= {"Alice", "Bob"}
    carol.close()

    # Node one back; then node two stops: both move to node one, neither told of the other.
    nodes.start(0)
    dave = WireClient.login("127.0.0.1", nodes.ports[1], "Dave")
    assert at_bob.holds(lambda: "Dave" in {e.name for e in at_bob.of(UserJoined)}, WAIT)
    seen = {"Alice": len(notices_of(at_bob, "Alice")), "Bob": len(notices_of(at_alice, "Bob"))}
    nodes.stop(1)
    moved_at_once(at_alice, 1, nodes.ports[0])
    moved_at_once(at_bob, 0, nodes.ports[0])
    assert at_alice.holds(lambda: any(e.name == "Dave" for e in at_alice.of(UserLeft)), const.CLUSTER_MOVE_GRACE + WAIT)
    assert notices_of(at_bob, "Alice")[seen["Alice"]:] == []
    assert notices_of(at_alice, "Bob")[seen["Bob"]:] == []
    assert alice.send_direct("Bob", "still here").wait(DELIVERED, WAIT)
    dave.close()
