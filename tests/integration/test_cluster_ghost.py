"""A guest's ghost session on another node (issue 10: what one server promises holds across
nodes). Guest Alice's connection to node 0 died without a close (a laptop that slept and
woke on another network); her client logs in again with its resume token, and the login
lands on node 1. On one server the server pings the old session and lets the name go if
nothing comes within ``release_probe`` (tests/integration/test_client_sleep.py); node 1
asks node 0 to do the same, through node 0's inbox. A live second program with the token
(answering pings) keeps the name, as on one server.

Three nodes and one Redis on the loopback; every wait has a deadline.
"""

from __future__ import annotations

import time

from redisserver import redis_server  # noqa: F401  (a fixture)
from test_cluster_nodes import NOTICES, Cluster, wait_for
from wire import WireClient

import const
from client import ChatClient, LoginRefused
from client.events import Reconnecting
from client.resume import ResumeTokens
from protocol import ErrorCode, ErrorReply, Hello, Welcome
from recorder import Recorder
from server import ServerConfig
from server.app import ChatServer

PROBE = 1.0  # the nodes' release_probe
# The nodes' own liveness is long: only the probe can end the ghost within the test's bound.
LIVENESS = {"heartbeat_interval": 4.0, "heartbeat_timeout": 30.0}
WAIT = 10.0


class ProbingCluster(Cluster):
    """A Cluster whose nodes probe within PROBE and give a silent session up after 30 s."""

    def add(self) -> ChatServer:
        from server.cluster.node import ClusterNode
        node = ClusterNode(self.url, **self.node_options)
        server = ChatServer(ServerConfig(host="127.0.0.1", port=0, release_probe=PROBE, **LIVENESS),
                            store=self.store, peers=node)
        self.run(server.start())
        self.servers.append(server)
        self.nodes.append(node)
        return server


def known_everywhere(c: Cluster, key: str) -> None:
    for server in c.servers:
        wait_for(lambda s=server: c.call(lambda: s.relay.directory.lookup(key) is not None),
                 what=f"every node knows {key}")


def test_a_ghost_guest_on_another_node_gives_its_name_up_within_the_probe(redis_server):  # noqa: F811
    c = ProbingCluster(redis_server.url, 3)
    try:
        ghost = c.login(0, "Alice")  # a raw connection: it never answers a ping
        token = ghost.welcome.resume
        assert token
        known_everywhere(c, "alice")
        with WireClient(*c.address(1)) as again:
            again.send(Hello("h", "Alice", const.PROTOCOL_VERSION, resume=token))
            refused = again.expect(ErrorReply, skip=NOTICES)
            first_refusal = time.monotonic()
            assert refused.code == ErrorCode.NAME_TAKEN and refused.retry_after, refused
            assert "your earlier session" in refused.message, refused
            while True:  # as a client does: again after retry_after
                time.sleep(refused.retry_after)
                again.send(Hello("h", "Alice", const.PROTOCOL_VERSION, resume=token))
                answer = again.expect((Welcome, ErrorReply), skip=NOTICES)
                if isinstance(answer, Welcome):
                    break
                assert answer.code == ErrorCode.NAME_TAKEN and answer.retry_after, answer
                # The probe, a sweep of node 0, the release through Redis and one retry_after:
                # far inside node 0's heartbeat timeout (30 s), which frees it without the probe.
                assert time.monotonic() - first_refusal < PROBE + 5.0, \
                    "the ghost on node 0 still holds the name: node 1's login did not probe it"
            assert answer.name == "Alice" and not answer.resume  # the same guest: no new token
        ghost.close()
    finally:
        c.close()


def test_a_live_session_on_another_node_answers_the_probe_and_keeps_its_name(redis_server, tmp_path):  # noqa: F811
    """A script started twice with one token, once on each node: the first answers node 0's
    pings (its core pongs by itself) and stays; the second is still refused, with
    retry_after, after several probes' time."""
    c = ProbingCluster(redis_server.url, 3)
    tokens = ResumeTokens(tmp_path / "tokens.json")
    at_first = Recorder()
    first = ChatClient("Alice", servers=[c.address(0), c.address(1)], on_event=at_first, resume_tokens=tokens)
    second = ChatClient("Alice", servers=[c.address(1)], reconnect=False, resume_tokens=tokens)
    try:
        first.connect(timeout=WAIT)
        known_everywhere(c, "alice")
        for _attempt in range(3):
            try:
                second.connect(timeout=WAIT)
            except LoginRefused as refused:
                assert refused.code == "name_taken" and refused.retry_after is not None
            else:
                raise AssertionError("the second program took the name of the live first")
            # Well past the probe and a sweep of node 0: the first was not given up.
            assert not at_first.holds(lambda: any(isinstance(e, Reconnecting) for e in at_first.events),
                                      PROBE + 1.5)
        assert first.connected and [p.name for p in first.who(WAIT)] == ["Alice"]
    finally:
        first.close()
        second.close()
        c.close()
