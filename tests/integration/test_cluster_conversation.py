"""After "delivered" across the nodes of a cluster (issues 10 and 13): read marks,
typing, edit and delete, and the receipts switch, between users on different nodes.

Two nodes on one loop and one real redis-server, each test twice: with one shared
in-memory store (test_cluster_nodes.Cluster), and with each node's own Redis store, as
``--cluster`` makes them (RedisCluster); wire clients that asked for the features ``read``,
``typing`` and ``edits`` send exactly the frames each test wants. The rules are those of
one server (test_after_delivered.py); here they must hold whichever node each user is on.
Every wait is bounded.
"""

from __future__ import annotations

import time

import pytest
from redisserver import redis_server  # noqa: F401  (a fixture)
from test_cluster_nodes import NOTICES, Cluster, RedisCluster, wait_for
from wire import WireClient

import const
from protocol import (
    EDITS, READ, TYPING, Accepted, Block, Delete, Deleted, Delivered, DirectMessage, Done, Edit, Edited, EditReceipt,
    Hello, OutcomeAck, Read, Receipt, SendDirect, Settings, Typing, Welcome,
)
from protocol.codec import encode
from server.cluster import bus, scripts
from server.cluster.node import _text

ALL = (READ, TYPING, EDITS)
PASSWORD = "correct horse"
QUIET = NOTICES + (DirectMessage, Delivered)


@pytest.fixture(params=["memory", "redis"])
def cluster(request, redis_server):  # noqa: F811
    kind = RedisCluster if request.param == "redis" else Cluster
    made = []

    def make(count: int = 2) -> Cluster:
        made.append(kind(redis_server.url, count))
        return made[-1]

    yield make
    for c in made:
        c.close()


def log_in(c, index: int, name: str, password: str | None = None, register: bool = False,
           features: tuple[str, ...] = ALL) -> WireClient:
    """``name`` logged in on node ``index`` with every feature of this kind (or ``features``)."""
    client = WireClient(*c.address(index))
    client.send(Hello("h", name, const.PROTOCOL_VERSION, password, register, None, features))
    client.welcome = client.expect(Welcome, skip=NOTICES)
    return client


def online(c, *names: str) -> None:
    """Wait until every node's directory shows ``names`` online (the events stream)."""
    for server in c.servers:
        wait_for(lambda: c.call(lambda: all(server.relay.directory.lookup_key(n.lower()) for n in names)),
                 what=f"{names} online everywhere")


def dm(sender: WireClient, recipient: WireClient, request_id: str, to: str, text: str) -> int:
    """``sender`` sends a direct message that ``recipient`` receives and confirms; its msg_id."""
    sender.send(SendDirect(request_id, to, text))
    msg_id = sender.expect(Accepted, skip=NOTICES).msg_id
    got = recipient.expect(DirectMessage, skip=NOTICES + (Typing,))
    assert got.msg_id == msg_id
    recipient.send(Receipt(msg_id))
    sender.expect(Delivered, skip=NOTICES)
    sender.send(OutcomeAck(msg_id))
    return msg_id


def no(client: WireClient, *kinds: type, quiet: float = 0.6) -> list:
    events = client.drain(quiet=quiet)
    assert not [e for e in events if isinstance(e, kinds)], events
    return events


def switch_known(c, key: str, off: bool) -> None:
    """Wait until every node's receipts switch of ``key`` says ``off``."""
    for server in c.servers:
        wait_for(lambda: c.call(lambda: (key in server.relay.after.receipts_off) == off),
                 what=f"{key}'s switch {'off' if off else 'on'} on every node")


def redis_keys_holding(c, needle: bytes) -> list[str]:
    """The Redis keys whose value (any type; a stream's entries) contains ``needle``."""
    redis = c.nodes[0]._redis
    reads = {"string": ("GET",), "hash": ("HGETALL",), "list": ("LRANGE", 0, -1), "set": ("SMEMBERS",),
             "zset": ("ZRANGE", 0, -1), "stream": ("XRANGE", "-", "+")}

    def flat(value) -> bytes:
        if isinstance(value, (list, tuple)):
            return b"\0".join(flat(v) for v in value)
        return value if isinstance(value, bytes) else str(value).encode()

    async def scan() -> list[str]:
        found = []
        for key in await redis.execute("KEYS", "*"):
            kind = _text(await redis.execute("TYPE", key))
            if kind in reads and needle in flat(await redis.execute(reads[kind][0], key, *reads[kind][1:])):
                found.append(key.decode())
        return found
    return c.run(scan())


# --- Read ---------------------------------------------------------------------------------------


def test_a_read_on_node_2_reaches_the_sender_and_both_users_other_sessions_on_every_node(cluster):
    c = cluster(2)
    with log_in(c, 0, "Bob", PASSWORD, register=True) as bob, log_in(c, 1, "Bob", PASSWORD) as bob2, \
            log_in(c, 1, "Alice", PASSWORD, register=True) as alice, log_in(c, 0, "Alice", PASSWORD) as alice2:
        online(c, "Bob", "Alice")
        msg_id = dm(bob, alice, "m1", "alice", "read me")
        alice2.drain(quiet=0.3)
        bob2.drain(quiet=0.3)
        alice.send(Read("bob", msg_id))
        for client in (bob, bob2, alice2):
            assert client.expect(Read, skip=QUIET) == Read("Bob", msg_id, "Alice")
        no(alice, Read)  # the reader's own session is not told
        no(bob, Read)  # once


# --- Typing -------------------------------------------------------------------------------------


def test_typing_crosses_nodes_once_per_interval_and_leaves_nothing_in_redis(cluster):
    c = cluster(2)
    with log_in(c, 0, "Alice") as alice, log_in(c, 1, "Bob") as bob:
        online(c, "Alice", "Bob")
        for _ in range(5):
            alice.send(Typing("bob"))
        assert bob.expect(Typing, skip=NOTICES) == Typing("Bob", "Alice")
        no(bob, Typing)  # the other four within the interval are coalesced
        # Never stored: once handled, no key or stream entry holds it (the inbox entry is
        # acknowledged and deleted; the store has nothing of it).
        wait_for(lambda: not redis_keys_holding(c, b"typing"), what="no Redis key holding the typing")


def test_a_typing_that_reaches_a_node_late_is_dropped_not_shown_late(cluster):
    c = cluster(2)
    with log_in(c, 0, "Alice") as alice, log_in(c, 1, "Bob") as bob:
        online(c, "Alice", "Bob")
        frame = encode(Typing("Bob", "Alice")).decode("utf-8")

        def arrives(at: float) -> None:
            entry = bus.encode(bus.Conversation("bob", "alice", TYPING, frame, at))
            c.call(c.nodes[1]._apply_inbox, [b"e", entry])

        arrives(time.time() - 60)  # a node that was away from Redis for a minute
        no(bob, Typing)
        arrives(time.time())
        assert bob.expect(Typing, skip=NOTICES) == Typing("Bob", "Alice")
        no(alice, Typing)


def test_a_node_away_from_redis_drops_typing_rather_than_queueing_it(cluster):
    c = cluster(2)
    with log_in(c, 0, "Alice"), log_in(c, 1, "Bob"):
        online(c, "Alice", "Bob")
        node = c.nodes[0]
        routed = []

        def away() -> None:
            node._route = lambda key, entry, callback, what: routed.append(bus.decode(entry))
            node._redis._link, link = None, node._redis._link  # as while it reconnects
            try:
                node.conversation("bob", "alice", TYPING, encode(Typing("Bob", "Alice")))
                node.conversation("bob", "alice", READ, encode(Read("Bob", 5, "Alice")))
            finally:
                node._redis._link = link
                del node._route
        c.call(away)
        assert [(e.feature, e.key) for e in routed] == [(READ, "bob")]  # the read waits; typing is gone


# --- The receipts switch ------------------------------------------------------------------------


def test_the_switch_changed_on_one_node_is_told_once_to_the_users_other_sessions_on_every_node(cluster):
    """Alice's phone (node 1) turns receipts off: her laptop on node 2 and her tablet on
    node 1 are told at once (a settings frame without id), each once; the phone has its
    answer. Her laptop then sends no read, and would be refused if it did."""
    c = cluster(2)
    with log_in(c, 0, "Alice", PASSWORD, register=True) as phone, log_in(c, 1, "Alice", PASSWORD) as laptop, \
            log_in(c, 0, "Alice", PASSWORD) as tablet, log_in(c, 1, "Bob") as bob:
        online(c, "Alice", "Bob")
        for session in (phone, laptop, tablet):
            session.drain(quiet=0.2)
        phone.send(Settings("s1", False))
        assert phone.expect(Done, skip=QUIET).request_id == "s1"
        assert laptop.expect(Settings, skip=QUIET) == Settings(None, False)
        assert tablet.expect(Settings, skip=QUIET) == Settings(None, False)
        switch_known(c, "alice", off=True)
        no(phone, Settings)
        no(laptop, Settings)  # once: node 2 heard it from the stream once
        no(tablet, Settings)  # once: node 1 stored it and told its sessions; the stream's entry is old news there
        # On again, from the laptop on node 2: the others are told, wherever they are.
        laptop.send(Settings("s2", True))
        assert laptop.expect(Done, skip=QUIET).request_id == "s2"
        assert phone.expect(Settings, skip=QUIET) == Settings(None, True)
        assert tablet.expect(Settings, skip=QUIET) == Settings(None, True)
        no(laptop, Settings)
        no(bob, Settings)  # nobody else's business


def test_the_switch_turned_off_on_one_node_stops_reads_and_typing_from_the_other_at_once(cluster):
    c = cluster(2)
    with log_in(c, 0, "Alice") as alice, log_in(c, 1, "Bob") as bob:
        online(c, "Alice", "Bob")
        to_bob = dm(alice, bob, "m1", "bob", "hi Bob")
        to_alice = dm(bob, alice, "m2", "alice", "hi Alice")
        bob.send(Typing("alice"))  # it works while the switch is on
        assert alice.expect(Typing, skip=QUIET) == Typing("Alice", "Bob")
        alice.send(Settings("s1", False))
        assert alice.expect(Done, skip=QUIET).request_id == "s1"
        # At once: node 2 may not have heard yet, but node 1 drops what comes from it.
        bob.send(Read("alice", to_bob))
        bob.send(Typing("alice"))
        no(alice, Read, Typing)
        # And node 2 learns the switch from the events stream: it no longer forwards.
        switch_known(c, "alice", off=True)
        bob.send(Read("alice", to_bob))
        no(alice, Read, Typing)
        no(bob, Read)  # nor does Bob hear hers (she may not send them: refused)
        alice.send(Read("bob", to_alice))
        assert alice.expect_error("forbidden", skip=QUIET).code == "forbidden"
        # Both ways: Bob off on node 2, Alice on again on node 1; her reads do not reach him.
        alice.send(Settings("s2", True))
        alice.expect(Done, skip=QUIET)
        bob.send(Settings("s3", False))
        bob.expect(Done, skip=QUIET)
        alice.send(Read("bob", to_alice))
        alice.send(Typing("bob"))
        no(bob, Read, Typing)
        switch_known(c, "alice", off=False)
        switch_known(c, "bob", off=True)


def test_a_block_on_one_node_stops_read_typing_and_changes_from_the_other(cluster):
    c = cluster(2)
    with log_in(c, 0, "Alice") as alice, log_in(c, 1, "Bob") as bob:
        online(c, "Alice", "Bob")
        to_bob = dm(alice, bob, "m1", "bob", "hello")
        bob.send(Block("b1", "alice"))
        bob.expect(Done, skip=QUIET)
        alice.send(Typing("bob"))
        alice.send(Edit("e1", to_bob, "changed"))
        alice.expect(Done, skip=QUIET)
        bob.send(Read("alice", to_bob))
        no(bob, Typing, Edited)
        no(alice, Read)


# --- Edit and delete ----------------------------------------------------------------------------


def test_edit_and_delete_on_node_1_reach_node_2_at_once_and_an_offline_recipient_once(cluster):
    c = cluster(2)
    bob = log_in(c, 1, "Bob", PASSWORD, register=True)
    with log_in(c, 0, "Alice", PASSWORD, register=True) as alice, bob:
        with log_in(c, 1, "Alice", PASSWORD) as alice2:
            online(c, "Alice", "Bob")
            edited, deleted, later_edited, later_deleted = (dm(alice, bob, f"m{i}", "bob", f"text {i}")
                                                            for i in range(4))
            alice2.drain(quiet=0.3)
            # Online on node 2: told at once, and so is the sender's other session there.
            alice.send(Edit("e1", edited, "edited text"))
            alice.expect(Done, skip=QUIET)
            change = bob.expect(Edited, skip=QUIET)
            assert (change.msg_id, change.sender, change.to, change.text) == (edited, "Alice", "Bob", "edited text")
            assert alice2.expect(Edited, skip=QUIET) == change
            alice.send(Delete("d1", deleted))
            alice.expect(Done, skip=QUIET)
            assert bob.expect(Deleted, skip=QUIET).msg_id == deleted
            assert alice2.expect(Deleted, skip=QUIET).msg_id == deleted
            # Confirmed on node 2: settled for every node.
            bob.send(EditReceipt(edited))
            bob.send(EditReceipt(deleted))
            no(bob, Edited, Deleted)
        bob.close()
        # Offline: the changes wait for Bob's next login, on whichever node.
        alice.send(Edit("e2", later_edited, "edited while away"))
        alice.expect(Done, skip=QUIET)
        alice.send(Delete("d2", later_deleted))
        alice.expect(Done, skip=QUIET)
    with log_in(c, 0, "Bob", PASSWORD) as bob:  # the other node: nothing confirmed told again
        change = bob.expect(Edited, skip=NOTICES)
        assert (change.msg_id, change.text) == (later_edited, "edited while away")
        assert bob.expect(Deleted, skip=NOTICES).msg_id == later_deleted
        no(bob, Edited, Deleted)
        bob.send(EditReceipt(later_edited))
        bob.send(EditReceipt(later_deleted))
        bob.drain(quiet=0.3)
    with log_in(c, 1, "Bob", PASSWORD) as bob:
        no(bob, Edited, Deleted)


def test_a_switch_that_was_stored_reaches_every_node_even_if_redis_fails_the_node_right_after(redis_server):  # noqa: F811
    """The switch and its entry on the events stream are one step: when node 1's own
    connection to Redis fails just after the switch was stored (every XADD it sends
    itself is lost here), node 2 still learns it (before, the entry was a second step,
    and node 2 kept the old value until its restart)."""
    from resp.aio import RedisConnectionError

    c = RedisCluster(redis_server.url, 2)  # each node on its own Redis store, as --cluster makes them
    redis = c.nodes[0]._redis
    real = redis.execute

    async def losing_xadds(*args, **options):
        if args and args[0] == "XADD":
            raise RedisConnectionError("Redis went away (the test)")
        return await real(*args, **options)

    try:
        with log_in(c, 0, "Alice") as alice, log_in(c, 1, "Bob"):
            online(c, "Alice", "Bob")
            redis.execute = losing_xadds
            alice.send(Settings("s1", False))
            assert alice.expect(Done, skip=QUIET).request_id == "s1"
            switch_known(c, "alice", off=True)
    finally:
        c.close()  # the logouts' RELEASE scripts go through the fake too: it passes them on whole
        redis.execute = real


def test_an_edit_and_an_outcome_whose_route_failed_reach_their_users_on_the_other_node(redis_server):  # noqa: F811
    """Node 1's ROUTES call fails once (its own link to Redis broke just then, or no answer
    came in time) right after an edit was stored, and again after a receipt's "delivered"
    was recorded: Bob, on node 2, still reads the edit, and is told "delivered", while he
    stays connected. Before, both waited for his next login: the chaos run (seed 1) saw an
    edit told "ok" to its sender never reach its recipient."""
    from resp.aio import RedisConnectionError

    c = RedisCluster(redis_server.url, 2)
    redis = c.nodes[0]._redis
    real = redis.pipeline_now
    lost = []

    def losing_one_routes_call(commands):
        if not lost and any(scripts.ROUTES.source in bytes(command) for command in commands):
            lost.append(commands)
            raise RedisConnectionError("Redis went away (the test)")
        return real(commands)

    try:
        with log_in(c, 0, "Alice") as alice, log_in(c, 1, "Bob") as bob:
            online(c, "Alice", "Bob")
            msg_id = dm(alice, bob, "m1", "bob", "text")
            redis.pipeline_now = losing_one_routes_call
            alice.send(Edit("e1", msg_id, "edited"))
            alice.expect(Done, skip=QUIET)
            wait_for(lambda: lost, what="node 1's route of the edit lost")
            change = bob.expect(Edited, skip=QUIET)
            assert (change.msg_id, change.text) == (msg_id, "edited")
            lost.clear()
            bob.send(SendDirect("b1", "Alice", "oi"))
            reply = bob.expect(Accepted, skip=NOTICES).msg_id
            assert alice.expect(DirectMessage, skip=NOTICES).msg_id == reply
            alice.send(Receipt(reply))
            wait_for(lambda: lost, what="node 1's route of the outcome lost")
            delivered = bob.expect(Delivered, skip=NOTICES + (Edited,))
            assert (delivered.request_id, delivered.msg_id) == ("b1", reply)
    finally:
        redis.pipeline_now = real
        c.close()


def test_an_edit_told_late_after_a_newer_one_from_another_node_leaves_the_newer_on_the_readers_screen(
        redis_server):  # noqa: F811
    """Alice edits on node 1, whose ROUTES call fails (kept to route again), then again on
    node 3, whose edit reaches Bob on node 2 at once; node 1 then routes its older edit.
    Bob's client (the library, client/core.py) keeps showing the newer text, and the older
    frame (which a raw session of his sees come last) carries the earlier ``at``. Before,
    the client handed the late edit on last: Bob read the older text while Redis held the
    newer."""
    from client import ChatClient
    from resp.aio import RedisConnectionError

    c = RedisCluster(redis_server.url, 3)
    node = c.nodes[0]
    redis = node._redis
    real = redis.pipeline_now
    lost = []
    got: list = []

    def losing_one_routes_call(commands):
        if not lost and any(scripts.ROUTES.source in bytes(command) for command in commands):
            lost.append(commands)
            raise RedisConnectionError("Redis went away (the test)")
        return real(commands)

    bob = ChatClient("Bob", servers=[c.address(1)], password=PASSWORD, register=True, on_event=got.append,
                     reconnect=False)
    try:
        bob.connect(timeout=10)
        with log_in(c, 0, "Alice", PASSWORD, register=True) as alice, log_in(c, 2, "Alice", PASSWORD) as elsewhere, \
                log_in(c, 1, "Bob", PASSWORD) as raw_bob:
            online(c, "Alice", "Bob")
            alice.send(SendDirect("m1", "Bob", "teh notes"))
            msg_id = alice.expect(Accepted, skip=NOTICES).msg_id
            wait_for(lambda: any(isinstance(e, DirectMessage) and e.msg_id == msg_id for e in got), what="Bob's dm")
            raw_bob.send(Receipt(msg_id))
            redis.pipeline_now = losing_one_routes_call
            alice.send(Edit("e1", msg_id, "the notes"))
            alice.expect(Done, skip=QUIET)
            wait_for(lambda: lost, what="node 1's route of the edit lost")
            elsewhere.send(Edit("e2", msg_id, "the notes!"))
            elsewhere.expect(Done, skip=QUIET + (Edited,))
            wait_for(lambda: any(isinstance(e, Edited) and e.text == "the notes!" for e in got), what="the newer edit")
            # Node 1 routes the older one once Redis answers (its next heartbeat): then a
            # message after it, through the same inbox, comes after it.
            wait_for(lambda: c.call(lambda: not node._unrouted and not node._route_batches),
                     what="node 1's edit routed again", timeout=20)
            alice.send(SendDirect("m2", "Bob", "after the late edit"))
            after = alice.expect(Accepted, skip=NOTICES + (Delivered, Edited)).msg_id
            wait_for(lambda: any(isinstance(e, DirectMessage) and e.msg_id == after for e in got), what="the dm after")
            frames = [e for e in raw_bob.drain(quiet=0.3) if isinstance(e, Edited)]
            assert [(e.text, e.at < frames[0].at) for e in frames] == [("the notes!", False), ("the notes", True)]
            shown = [e.text for e in got if isinstance(e, Edited) and e.msg_id == msg_id]
            assert shown == ["the notes!"]
    finally:
        redis.pipeline_now = real
        bob.close()
        c.close()
