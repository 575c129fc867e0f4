"""A block holds for direct messages on every node from the moment it is answered ``ok``
(docs/cluster.md, "Blocks"), on a real redis-server, nodes on their own Redis stores as
``--cluster`` makes them.

The other nodes learn of a block from the events stream, a read behind Redis: here node
one never hears of it (its block events are held), the worst lag there is. A direct
message its blocked sender sends through node one must still reach the blocker neither at
once nor at a later login; its sender is answered as for anyone (``accepted`` or
``queued``) and told ``expired`` at its expiry time (PROTOCOL.md, ``send``, "Blocking"),
never ``delivered``. The other way round, a message sent after an unblock's ``ok``
through the node that lags is delivered.
"""

from __future__ import annotations

import time

from redisserver import redis_server  # noqa: F401  (a fixture)
from test_cluster_nodes import NOTICES, Cluster, wait_for
from wire import WireClient

from protocol import (
    Accepted, Block, Delivered, DirectMessage, Done, ErrorCode, ErrorReply, HistoryPage, HistoryRequest, Queued,
    Receipt, SendDirect, Unblock,
)
from server import ServerConfig
from server.app import ChatServer
from server.blockdesk import BlockDesk
from server.cluster.node import ClusterNode
from server.stores.redis import RedisStore

# The expiry of a test that waits for it: short, for the sender's outcome to come soon. A
# test that must see something happen before it (a login, a delivery) takes LONG_TTL and,
# if it waits for the expiry, runs the expiry pass ahead of time (logins hash passwords: on
# a loaded machine several took more than 3 s).
QUEUE_TTL = 3.0
LONG_TTL = 120.0
PASSWORD = "correct horse battery"


class BlockLagCluster(Cluster):
    """Nodes on their own Redis stores, messages expiring after ``queue_ttl``; node one (and
    any after it) never applies a block event: its cache of block lists lags for good."""

    def __init__(self, url: str, count: int, queue_ttl: float = QUEUE_TTL) -> None:
        self.queue_ttl = queue_ttl
        super().__init__(url, count)

    def add(self) -> ChatServer:
        node = ClusterNode(self.url)
        config = ServerConfig(host="127.0.0.1", port=0, queue_ttl=self.queue_ttl, expiry_interval=0.1)
        server = ChatServer(config, store=RedisStore(self.url), peers=node)
        self.run(server.start())
        if self.servers:  # not the first: it hears of no block (the events stream "behind")
            self.held: list[tuple] = []
            server.relay.block_desk.changed = lambda *change: self.held.append(change)
        self.servers.append(server)
        self.nodes.append(node)
        return server

    def catch_up(self) -> None:
        """Node one applies the block events held so far (its stream read comes at last)."""
        desk = self.servers[1].relay.block_desk
        held, self.held = self.held, []
        self.call(lambda: [BlockDesk.changed(desk, *change) for change in held])


def outcome_of(sender: WireClient, msg_id: int, watched: WireClient,
               within: float = QUEUE_TTL + 10.0) -> tuple[ErrorReply | Delivered, list]:
    """Wait (bounded: ``within``, by default the expiry plus a margin) for the outcome of
    ``sender``'s message ``msg_id``; meanwhile collect what ``watched`` (the blocker) receives."""
    seen: list = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        seen += watched.drain(0.05, timeout=0.2)
        for event in sender.drain(0.05, timeout=0.2):
            if isinstance(event, (ErrorReply, Delivered)) and event.msg_id == msg_id:
                seen += watched.drain(0.1)
                return event, seen
    raise AssertionError(f"no outcome of message {msg_id} within {within} s")


def test_a_dm_sent_through_a_node_that_has_not_heard_of_the_block_never_reaches_the_blocker(redis_server):  # noqa: F811
    c = BlockLagCluster(redis_server.url, 2)
    try:
        with c.login(0, "Alice", password=PASSWORD, register=True) as alice, c.login(1, "Mallory") as mallory:
            wait_for(lambda: c.nodes[1].directory.lookup_key("alice") is not None, what="node 1 hears of Alice")
            alice.send(Block("b", "Mallory"))
            alice.expect(Done, skip=NOTICES)
            assert "alice" not in c.call(lambda: dict(c.servers[1].relay.blocked))  # node one lags
            mallory.send(SendDirect("d1", "Alice", "right after the block"))
            answer = mallory.expect((Accepted, Queued), skip=NOTICES)
            assert isinstance(answer, Accepted)  # Alice is online: as for anyone
            outcome, seen = outcome_of(mallory, answer.msg_id, alice)
            assert [e for e in seen if isinstance(e, DirectMessage)] == []
            assert isinstance(outcome, ErrorReply) and outcome.code == ErrorCode.EXPIRED, outcome
    finally:
        c.close()


def test_a_dm_sent_while_the_blocker_is_away_is_not_delivered_at_their_next_login(redis_server):  # noqa: F811
    c = BlockLagCluster(redis_server.url, 2, LONG_TTL)
    try:
        with c.login(1, "Mallory") as mallory:
            with c.login(0, "Alice", password=PASSWORD, register=True) as alice:
                alice.send(Block("b", "Mallory"))
                alice.expect(Done, skip=NOTICES)
            wait_for(lambda: c.nodes[1].directory.lookup_key("alice") is None, what="node 1 hears Alice left")
            assert "alice" not in c.call(lambda: dict(c.servers[1].relay.blocked))  # node one lags
            mallory.send(SendDirect("d1", "Alice", "while you were away"))
            answer = mallory.expect((Accepted, Queued), skip=NOTICES)
            assert isinstance(answer, Queued)
            for node in (1, 0):  # back on the node that lags, and on the one that knows
                with c.login(node, "Alice", password=PASSWORD) as alice:
                    # The history is read from the store after the login's fetch of what
                    # waits (one store, answers in order): whatever it sent came first.
                    alice.send(HistoryRequest("h", "Mallory"))
                    seen = alice.drain(until=lambda events: any(isinstance(e, HistoryPage) for e in events))
                assert [e for e in seen if isinstance(e, DirectMessage)] == [], f"at a login on node {node}"
                [page] = [e for e in seen if isinstance(e, HistoryPage)]
                assert page.messages == (), f"in the history at a login on node {node}"
            # Not vacuous: Alice was back before the message's time ran out.
            assert not [e for e in mallory.drain(0.05) if isinstance(e, (ErrorReply, Delivered))]
            with c.login(0, "Alice", password=PASSWORD) as alice:
                c.call(lambda: c.servers[0].relay.expire(time.time() + LONG_TTL + 1.0))  # its time now
                outcome, seen = outcome_of(mallory, answer.msg_id, alice, within=10.0)
            assert [e for e in seen if isinstance(e, DirectMessage)] == []
            assert isinstance(outcome, ErrorReply) and outcome.code == ErrorCode.EXPIRED, outcome
    finally:
        c.close()


def test_a_dm_sent_through_a_node_that_has_not_heard_of_the_unblock_reaches_the_recipient(redis_server):  # noqa: F811
    """The other way round (PROTOCOL.md, "Blocking": an unblock lets the messages sent after
    it through): node one knows the block but not yet the unblock answered ``ok`` on node
    zero; a message sent through it after the unblock is delivered, and its sender told so."""
    c = BlockLagCluster(redis_server.url, 2, LONG_TTL)
    try:
        with c.login(0, "Alice", password=PASSWORD, register=True) as alice, c.login(1, "Mallory") as mallory:
            wait_for(lambda: c.nodes[1].directory.lookup_key("alice") is not None, what="node 1 hears of Alice")
            alice.send(Block("b", "Mallory"))
            alice.expect(Done, skip=NOTICES)
            wait_for(lambda: c.held, what="node 1 reads the block")
            c.catch_up()
            assert c.call(lambda: "mallory" in c.servers[1].relay.blocked.get("alice", ()))
            alice.send(Unblock("u", "Mallory"))
            alice.expect(Done, skip=NOTICES)
            wait_for(lambda: c.held, what="node 1 reads the unblock (and holds it)")
            assert c.call(lambda: "mallory" in c.servers[1].relay.blocked.get("alice", ()))  # node one lags
            mallory.send(SendDirect("d1", "Alice", "after the unblock"))
            answer = mallory.expect(Accepted, skip=NOTICES)
            message = alice.expect(DirectMessage, skip=NOTICES, timeout=10.0)
            assert (message.msg_id, message.text) == (answer.msg_id, "after the unblock")
            alice.send(Receipt(message.msg_id))
            outcome, _seen = outcome_of(mallory, answer.msg_id, alice, within=10.0)
            assert isinstance(outcome, Delivered), outcome
    finally:
        c.close()


def test_a_message_the_store_blocked_leaves_no_route_waited_for(redis_server):  # noqa: F811
    """A message node one meant to route itself (its sender has a session on another node:
    the carbon goes first, ClusterNode._route_with_store) but Redis stored blocked is
    routed by nobody: node one waits for no route of it (else each next message of its
    sender took a round trip more, until ROUTE_PENDING_FORGET)."""
    c = BlockLagCluster(redis_server.url, 2)
    try:
        with c.login(0, "Alice", password=PASSWORD, register=True) as alice, \
                c.login(1, "Mallory", password=PASSWORD, register=True) as mallory, \
                c.login(0, "Mallory", password=PASSWORD):
            wait_for(lambda: c.nodes[1].directory.lookup_key("alice") is not None, what="node 1 hears of Alice")
            wait_for(lambda: c.call(lambda: c.nodes[1].elsewhere("mallory")), what="node 1 hears of the phone")
            alice.send(Block("b", "Mallory"))
            alice.expect(Done, skip=NOTICES)
            mallory.send(SendDirect("d1", "Alice", "blocked, with a carbon first"))
            mallory.expect(Accepted, skip=NOTICES)
            assert c.call(lambda: dict(c.nodes[1]._to_route)) == {}
    finally:
        c.close()
