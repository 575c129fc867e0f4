"""Several chat nodes as one chat, on a real redis-server (server/cluster/).

These run the nodes in one process, on one event loop, sharing one in-memory store, so
that the registry, routing, presence, room and liveness of the cluster are tested on
their own; each node has its own Redis connections, heartbeat and readers, as a node
process does. A node "dies" here by stopping its heartbeat and readers at once and
cutting its clients without a word (no release, no goodbye): what kill -9 leaves.
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import threading
import time

import pytest
from logins import resume_until_welcomed
from redisserver import RedisServer, redis_server  # noqa: F401  (a fixture)
from wire import WireClient

import const
from client.library import ChatClient
from client.outgoing import DELIVERED, SENT
from protocol import (
    EDITS, Delete, Deleted, Edit, Edited, EditReceipt,
    Accepted, Block, Delivered, DirectMessage, Done, ErrorCode, ErrorReply, Hello, LookupRequest, LookupResult,
    Carbon, OutcomeAck, Ping, Queued, Receipt, RoomMessage, SendDirect, SendRoom, UserJoined, UserLeft, UserList,
    Welcome, WhoRequest,
)
from server import ServerConfig
from server.app import ChatServer
from server.cluster.node import TTL, ClusterNode, _text
from server.stores import MemoryStore

NOTICES = (UserJoined, UserLeft, Ping)


class Cluster:
    """``count`` nodes on one loop in a thread, one store, one Redis (``url``);
    ``node_options`` for each ClusterNode (a short ``beat`` and ``ttl``, say). With
    ``redis_stores``, each node has its Redis store, as ``--cluster`` makes it (named rooms
    shared through Redis), in place of the one store in memory. ``config``: more of each
    node's ServerConfig (``require_accounts``, say)."""

    def __init__(self, url: str, count: int, redis_stores: bool = False, config: dict | None = None,
                 **node_options) -> None:
        self.url = url
        self.redis_stores = redis_stores
        self.config = config or {}
        self.node_options = node_options
        self.store = MemoryStore()
        self.loop = asyncio.new_event_loop()
        self.servers: list[ChatServer] = []
        self.nodes: list[ClusterNode] = []
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        for _ in range(count):
            self.add()

    def run(self, coro, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, func, *args):
        async def call():
            return func(*args)
        return self.run(call())

    def add(self) -> ChatServer:
        node = ClusterNode(self.url, **self.node_options)
        if self.redis_stores:
            server = ChatServer(ServerConfig(host="127.0.0.1", port=0, cluster_url=self.url, **self.config), peers=node)
        else:
            server = ChatServer(ServerConfig(host="127.0.0.1", port=0, **self.config), store=self.store, peers=node)
        self.run(server.start())
        self.servers.append(server)
        self.nodes.append(node)
        return server

    def add_through(self, proxy_port: int) -> ChatServer:
        """One more node, reaching Redis through a proxy on 127.0.0.1 ``proxy_port`` (the
        others do not): a FaultProxy in raw mode, to cut, freeze or hold its links."""
        url, self.url = self.url, f"redis://127.0.0.1:{proxy_port}/0"
        try:
            return self.add()
        finally:
            self.url = url

    def address(self, index: int) -> tuple[str, int]:
        return self.servers[index].address

    def login(self, index: int, name: str, **kwargs) -> WireClient:
        return WireClient.login(*self.address(index), name, **kwargs)

    def crash(self, index: int) -> None:
        """Node ``index`` dies as under kill -9: no release, no goodbye, no more heartbeat."""
        server, node = self.servers[index], self.nodes[index]

        async def crash():
            for task in node._tasks:
                task.cancel()
            for client in (node._redis, node._events_reader, node._inbox_reader):
                await client.close()
            if node._fast is not None:
                node._fast.close()
            server._server.close()
            for session in list(server.relay.sessions):
                session.abort("crash")
        self.run(crash())
        self.servers[index] = self.nodes[index] = None

    def stop_beating(self, index: int) -> None:
        """Node ``index``'s heartbeat stops (its connections stay up): the others reap it
        once its time to live has passed, and it stays cut off until :meth:`beat_again`."""
        node = self.nodes[index]
        self.call(lambda: node._tasks[0].cancel())

    def beat_again(self, index: int) -> None:
        """Node ``index``'s heartbeat starts again: it finds itself reaped and rejoins."""
        node = self.nodes[index]
        self.call(lambda: node._tasks.__setitem__(0, asyncio.ensure_future(node._heartbeat())))

    def close(self) -> None:
        for server in self.servers:
            if server is not None:
                self.run(server.stop(), 20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def cluster(redis_server):  # noqa: F811
    made = []

    def make(count: int = 2) -> Cluster:
        made.append(Cluster(redis_server.url, count))
        return made[-1]

    yield make
    for c in made:
        c.close()


def wait_for(condition, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what} not within {timeout} s (last: {value!r})")


def who(client: WireClient) -> list[str]:
    """Who is online, as ``client`` is told (waiting out a rate limit: tests poll this)."""
    while True:
        client.send(WhoRequest("w"))
        answer = client.expect((UserList, ErrorReply), skip=NOTICES)
        if isinstance(answer, UserList):
            return [p.name for p in answer.users]
        assert answer.code == ErrorCode.RATE_LIMITED, answer
        time.sleep(answer.retry_after)


def test_who_and_whois_show_the_users_of_every_node(cluster):
    c = cluster(2)
    with c.login(0, "Ana") as ana, c.login(1, "Bia") as bia:
        wait_for(lambda: who(ana) == ["Ana", "Bia"], what="both in ana's who")
        assert who(bia) == ["Ana", "Bia"]
        ana.send(LookupRequest("l", "bia"))
        found = ana.expect(LookupResult, skip=NOTICES)
        assert (found.name, found.status, found.address) == ("Bia", "online", "127.0.0.1")
        assert found.node == c.nodes[1].node_id
        assert found.since == pytest.approx(time.time(), abs=30)


def test_a_whois_of_a_name_nobody_has_suggests_the_look_alike_online_on_another_node(cluster):
    """The directory ``like`` is chosen from is the cluster's (RegistryDesk.rival): Ana on
    node 0 asking for "Joao" while João is on node 1 is asked "did you mean João?", after
    the store said nobody is Joao; João asking for "JOAO" is never told of himself."""
    c = cluster(2)
    with c.login(0, "Ana") as ana, c.login(1, "João") as joao:
        wait_for(lambda: who(ana) == ["Ana", "João"], what="both in ana's who")
        ana.send(LookupRequest("l", "Joao"))
        found = ana.expect(LookupResult, skip=NOTICES)
        assert (found.name, found.status, found.like) == ("Joao", "unknown", "João"), found
        joao.send(LookupRequest("l", "JOAO"))
        found = joao.expect(LookupResult, skip=NOTICES)
        assert (found.status, found.like) == ("unknown", None), found


def test_two_guests_racing_for_one_name_on_two_nodes_get_one_welcome(cluster):
    c = cluster(2)
    for round_ in range(5):
        name = f"Race{round_}"
        first, second = WireClient(*c.address(0)), WireClient(*c.address(1))
        with first, second:
            first.send(Hello("h", name, const.PROTOCOL_VERSION))
            second.send(Hello("h", name, const.PROTOCOL_VERSION))
            answers = [client.expect((Welcome, ErrorReply), skip=NOTICES) for client in (first, second)]
            assert sorted(type(a).__name__ for a in answers) == ["ErrorReply", "Welcome"], answers
            error = next(a for a in answers if isinstance(a, ErrorReply))
            assert error.code == ErrorCode.NAME_TAKEN


def test_an_account_may_be_online_on_two_nodes(cluster):
    c = cluster(2)
    with c.login(0, "Caio", password="correct horse 1", register=True) as one:
        wait_for(lambda: c.call(lambda: "caio" in c.servers[1].relay.directory), what="caio known on node 1")
        with c.login(1, "Caio", password="correct horse 1") as two:
            assert two.welcome.registered
            assert who(one) == ["Caio"]


def test_presence_reaches_the_users_of_every_node(cluster):
    c = cluster(2)
    with c.login(0, "Ana") as ana:
        wait_for(lambda: c.call(lambda: len(c.servers[1].relay.directory)) == 1, what="ana on node 1")
        with c.login(1, "Bia") as bia:
            # Ana hears of her own join first (as on one server), then of Bia's, on another node.
            assert joins(ana, "Bia") == ["Ana", "Bia"]
            assert joins(bia, "Bia") == ["Bia"]  # the one order of the stream: her own join
        left = ana.expect(UserLeft, skip=(Ping,))
        assert left.name == "Bia"


def joins(client: WireClient, last: str) -> list[str]:
    """The names of the join notices ``client`` gets, up to the one of ``last``."""
    names = []
    while not names or names[-1] != last:
        names.append(client.expect(UserJoined, skip=(Ping,)).name)
    return names


def test_a_room_message_reaches_every_node_once(cluster):
    c = cluster(2)
    with c.login(0, "Ana") as ana, c.login(1, "Bia") as bia:
        wait_for(lambda: who(bia) == ["Ana", "Bia"], what="both online")
        ana.send(SendRoom("r1", "hello all"))
        assert ana.expect(Accepted, skip=NOTICES).request_id == "r1"
        for client in (ana, bia):
            message = client.expect(RoomMessage, skip=NOTICES)
            assert (message.sender, message.text) == ("Ana", "hello all")
        for client in (ana, bia):
            assert not [e for e in client.drain() if isinstance(e, RoomMessage)]


def test_a_direct_message_across_nodes_gets_both_acks(cluster):
    c = cluster(2)
    with c.login(0, "Ana") as ana, c.login(1, "Bia") as bia:
        wait_for(lambda: who(ana) == ["Ana", "Bia"], what="both online")
        ana.send(SendDirect("d1", "bia", "olá"))
        accepted = ana.expect(Accepted, skip=NOTICES)
        message = bia.expect(DirectMessage, skip=NOTICES)
        assert (message.sender, message.text, message.msg_id) == ("Ana", "olá", accepted.msg_id)
        bia.send(Receipt(message.msg_id))
        delivered = ana.expect(Delivered, skip=NOTICES)
        assert (delivered.request_id, delivered.msg_id) == ("d1", accepted.msg_id)
        assert not [e for e in bia.drain() if isinstance(e, DirectMessage)]  # once


def test_direct_messages_across_nodes_keep_their_order(cluster):
    c = cluster(2)
    with c.login(0, "Ana") as ana, c.login(1, "Bia") as bia:
        wait_for(lambda: who(ana) == ["Ana", "Bia"], what="both online")
        for i in range(30):
            ana.send(SendDirect(f"d{i}", "bia", f"m{i}"))
        texts = []
        while len(texts) < 30:
            message = bia.expect(DirectMessage, skip=NOTICES)
            texts.append(message.text)
            bia.send(Receipt(message.msg_id))
        assert texts == [f"m{i}" for i in range(30)]


def test_a_message_to_a_user_offline_everywhere_is_queued_then_delivered_on_another_node(cluster):
    c = cluster(2)
    with c.login(0, "Bia"):
        pass
    with c.login(0, "Ana") as ana:
        ana.send(SendDirect("q1", "bia", "later"))
        queued = ana.expect(Queued, skip=NOTICES)
        with c.login(1, "Bia") as bia:
            message = bia.expect(DirectMessage, skip=NOTICES)
            assert message.msg_id == queued.msg_id
            bia.send(Receipt(message.msg_id))
            assert ana.expect(Delivered, skip=NOTICES).msg_id == queued.msg_id


def test_a_block_on_one_node_holds_on_the_others(cluster):
    c = cluster(2)
    with c.login(0, "Ana") as ana, c.login(1, "Bia") as bia:
        bia.send(Block("b", "ana"))
        bia.expect(Done, skip=NOTICES)
        wait_for(lambda: c.call(lambda: "ana" in c.servers[0].relay.blocked.get("bia", ())), what="block known")
        ana.send(SendDirect("d1", "bia", "blocked?"))
        assert isinstance(ana.expect((Accepted, Queued), skip=NOTICES), (Accepted, Queued))
        assert not [e for e in bia.drain(0.5) if isinstance(e, DirectMessage)]


@pytest.mark.timeout_seconds(60)
def test_the_users_of_a_dead_node_leave_within_15_seconds_with_left_notices(cluster):
    c = cluster(2)
    with c.login(0, "Ana") as ana, c.login(1, "Bia"):
        wait_for(lambda: who(ana) == ["Ana", "Bia"], what="both online")
        crashed = time.monotonic()
        c.crash(1)
        left = ana.expect(UserLeft, timeout=20, skip=(Ping, UserJoined))
        assert left.name == "Bia"
        assert time.monotonic() - crashed <= 15
        assert who(ana) == ["Ana"]
    # The name is free again, on any node.
    with c.login(0, "Bia"):
        pass


@pytest.mark.timeout_seconds(90)
def test_while_redis_is_down_logins_are_answered_unavailable_then_service_resumes(cluster, redis_server):  # noqa: F811
    c = cluster(2)
    with c.login(0, "Ana") as ana:
        redis_server.kill()
        # Once the heartbeat is overdue the node is cut off: logins are refused, not split.
        time.sleep(0)  # (the wait below is on a condition)
        wait_for(lambda: not c.call(lambda: c.nodes[1].available), timeout=TTL + 5, what="node 1 cut off")
        client = WireClient(*c.address(1))
        with client:
            client.send(Hello("h", "Cut", const.PROTOCOL_VERSION))
            assert client.expect_error(ErrorCode.UNAVAILABLE, skip=NOTICES).retry_after
        redis_server.start()  # empty: nothing of the registry survived (no persistence here)
        wait_for(lambda: c.call(lambda: c.nodes[1].available), timeout=TTL + 10, what="node 1 back")
        with c.login(1, "Back") as back:
            # Ana stayed connected: her node claimed her name again when it joined anew.
            wait_for(lambda: who(back) == ["Ana", "Back"], what="both in who")
            # Each node reconnects on its own (with a backoff): node 0 may come a moment later.
            wait_for(lambda: who(ana) == ["Ana", "Back"], timeout=TTL + 10, what="both in ana's who")


def presence_until(client: WireClient, name: str) -> list[tuple[str, str]]:
    """The joins and leaves ``client`` is told, as ("joined" or "left", name), up to the
    join of ``name``."""
    heard: list[tuple[str, str]] = []
    while heard[-1:] != [("joined", name)]:
        event = client.expect((UserJoined, UserLeft), skip=(Ping,))
        heard.append(("joined" if isinstance(event, UserJoined) else "left", event.name))
    return heard


@pytest.mark.timeout_seconds(90)
def test_after_redis_was_away_longer_than_the_ttl_nobody_hears_a_leave_but_a_dead_node_still_leaves(tmp_path):
    """Redis (append-only, always synced) killed with SIGKILL until both nodes' heartbeats
    are older than the TTL, then started again on its port with its file: no node could
    beat meanwhile, so neither is judged gone (scripts._LIVENESS), no node rejoins, and
    nobody hears anyone leave or join. A node killed afterwards still has its users
    leave within the bound (docs/cluster.md, "Identity and heartbeat": 15 s)."""
    with RedisServer(tmp_path / "redis", appendfsync="always") as redis:
        c = Cluster(redis.url, 2, beat=0.2, ttl=2.0)
        try:
            with c.login(0, "Alice") as alice, c.login(0, "Carol"), c.login(1, "João") as joao:
                # Every join told before Redis goes (João's, the last, and to João his own):
                # one told late would pass for a rejoin after it. (who() skips notices.)
                presence_until(alice, "João")
                presence_until(joao, "João")
                wait_for(lambda: who(alice) == ["Alice", "Carol", "João"] and
                         who(joao) == ["Alice", "Carol", "João"], what="all three online")
                redis.kill()
                wait_for(lambda: c.call(lambda: not any(node.available for node in c.nodes)), timeout=10,
                         what="both nodes cut off (their last heartbeats older than the TTL)")
                redis.start()
                wait_for(lambda: c.call(lambda: all(node.available for node in c.nodes)), timeout=20,
                         what="both nodes beating again")
                # A login after each node beat once more (so reaped after its first beat,
                # if at all): its join is the first notice anyone hears.
                beats = c.call(lambda: [node._last_beat for node in c.nodes])
                wait_for(lambda: c.call(lambda: all(node._last_beat > beat for node, beat in zip(c.nodes, beats))),
                         what="a beat more on each node")
                with c.login(1, "Zed"):
                    assert presence_until(alice, "Zed") == [("joined", "Zed")]
                    assert presence_until(joao, "Zed") == [("joined", "Zed")]
                    # While Zed is online: asked after the block, Zed's logout raced the two
                    # lists, and Alice's node had not yet heard it when João's had (CI, once).
                    assert who(alice) == who(joao) == ["Alice", "Carol", "João", "Zed"]
                assert c.call(lambda: [node._unclaimed or node._reclaimed for node in c.nodes]) == [set(), set()]
                # A node that really dies still has its users leave, within the bound. Zed's
                # leave first, lest it be taken for João's.
                alice.drain(quiet=0.3, until=lambda events: any(isinstance(e, UserLeft) and e.name == "Zed"
                                                                for e in events))
                died = time.monotonic()
                c.crash(1)
                left = alice.expect(UserLeft, skip=(Ping, UserJoined), timeout=15)
                assert left.name == "João" and time.monotonic() - died < 15
        finally:
            c.close()


@pytest.mark.timeout_seconds(60)
def test_a_node_cut_off_alone_is_judged_gone_and_its_users_return_online_since_now(redis_server):  # noqa: F811
    """Node 1's heartbeat stops while node 0 beats on (its link alone is down, Redis
    fine): node 0 reaps it and Ana hears Bia leave; node 1 refuses logins. When it beats
    again it rejoins and claims Bia's name anew: Ana hears her join, at a time after the
    leave (not her first login's), so no client lists the join before the leave."""
    c = Cluster(redis_server.url, 2, beat=0.2, ttl=1.0)
    try:
        with c.login(0, "Ana") as ana, c.login(1, "Bia") as bia:
            presence_until(ana, "Bia")  # her first join told before the leave and rejoin below
            wait_for(lambda: who(ana) == ["Ana", "Bia"], what="both online")
            node = c.nodes[1]
            c.stop_beating(1)
            left = ana.expect(UserLeft, skip=(Ping,), timeout=15)
            assert left.name == "Bia"
            wait_for(lambda: not c.call(lambda: node.available), what="node 1 cut off")
            with WireClient(*c.address(1)) as refused:
                refused.send(Hello("h", "Cut", const.PROTOCOL_VERSION))
                assert refused.expect_error(ErrorCode.UNAVAILABLE, skip=NOTICES).retry_after
            c.beat_again(1)
            joined = ana.expect(UserJoined, skip=(Ping,), timeout=15)
            assert joined.name == "Bia" and joined.at >= left.at, (left, joined)
            assert who(ana) == who(bia) == ["Ana", "Bia"]
    finally:
        c.close()


@pytest.mark.timeout_seconds(60)
def test_a_full_redis_refusing_the_heartbeat_is_said_as_a_refusal_not_as_a_cut_link(redis_server, caplog):  # noqa: F811
    """A Redis at its maxmemory (noeviction) refuses the heartbeat's writes (OOM) while it
    answers everything: the log says Redis refuses the heartbeat and why, once, and that it
    takes it again once memory is freed, not that the node was cut off from Redis (the
    operator would look at the network)."""
    c = Cluster(redis_server.url, 1, beat=0.2, ttl=1.0)
    node = c.nodes[0]
    try:
        with caplog.at_level(logging.INFO, logger="chat.cluster"):
            c.run(node._redis.execute("CONFIG", "SET", "maxmemory", "1"))  # every write refused: OOM
            try:
                wait_for(lambda: not c.call(lambda: node.available), what="the node unavailable")
                wait_for(lambda: "OOM" in caplog.text, what="the refusal logged")
            finally:
                c.run(node._redis.execute("CONFIG", "SET", "maxmemory", "0"))
            wait_for(lambda: c.call(lambda: node.available), what="the node available again")
            # Said after the beat's reap, a Redis call after the node counts as available.
            wait_for(lambda: "Redis takes this node's heartbeat again" in caplog.text, what="the recovery logged")
        said = [r.getMessage() for r in caplog.records if r.name == "chat.cluster"]
        refused = [line for line in said if "OOM" in line]
        assert len(refused) == 1, said
        assert "Redis refuses this node's heartbeat" in refused[0] and "cut off" not in refused[0], refused
        assert any("Redis takes this node's heartbeat again" in line for line in said), said
    finally:
        c.close()


@pytest.mark.timeout_seconds(60)
def test_a_guest_failing_over_from_a_dead_node_is_told_its_own_earlier_session_holds_its_name(redis_server):  # noqa: F811
    """Guest Alice on node 0; node 0 dies (kill -9). Her client's hello to node 1 carries
    her resume token: until node 0 is reaped her dead session holds the name, and node 1
    says so (name_taken with retry_after: her own earlier session, not someone else's
    name, so no client tells her to choose another name); then she is welcomed there."""
    c = Cluster(redis_server.url, 2, beat=0.2, ttl=2.0)
    try:
        alice = c.login(0, "Alice")
        token = alice.welcome.resume
        assert token
        wait_for(lambda: c.call(lambda: c.servers[1].relay.directory.lookup("alice") is not None),
                 what="node 1 knows Alice")
        c.crash(0)
        alice.close()
        with WireClient(*c.address(1)) as again:
            again.send(Hello("h", "Alice", const.PROTOCOL_VERSION, resume=token))
            refused = again.expect(ErrorReply, skip=NOTICES)
            assert refused.code == ErrorCode.NAME_TAKEN
            assert refused.retry_after is not None and 0 < refused.retry_after <= 1, refused
            assert "your earlier session" in refused.message, refused
            # As a client does: again after retry_after, until the reap frees it.
            answer = resume_until_welcomed(again, "Alice", token, refused, 15, "not welcomed within 15 s of the crash")
            assert answer.name == "Alice" and not answer.resume  # the same guest: no new token
    finally:
        c.close()


def test_workers_without_a_cluster_is_refused_saying_why(capsys):
    import chatserver
    with pytest.raises(SystemExit) as exited:
        chatserver.parse_args(["--workers", "2", "--memory"])
    assert exited.value.code == 2
    assert "--workers N starts N nodes of one cluster: it needs --cluster" in capsys.readouterr().err


def test_a_message_confirmed_on_one_node_is_not_requeued_by_the_recipients_session_on_another(cluster):
    c = cluster(2)
    with c.login(0, "Caio", password="correct horse 1", register=True) as here:
        wait_for(lambda: c.call(lambda: "caio" in c.servers[1].relay.logins.accounts), what="account known")
        there = c.login(1, "Caio", password="correct horse 1")
        with c.login(0, "Ana") as ana:
            wait_for(lambda: c.call(lambda: len(c.servers[0].relay.directory.lookup("caio").endpoints)) == 2,
                     what="both of caio's sessions known")
            ana.send(SendDirect("d1", "caio", "to both"))
            msg_id = ana.expect(Accepted, skip=NOTICES).msg_id
            assert there.expect(DirectMessage, skip=NOTICES).msg_id == msg_id
            assert here.expect(DirectMessage, skip=NOTICES).msg_id == msg_id
            here.send(Receipt(msg_id))
            assert ana.expect(Delivered, skip=NOTICES).msg_id == msg_id
            wait_for(lambda: c.call(lambda: msg_id not in c.servers[1].relay.inflight), what="settled on node 1")
            there.close()  # its copy was in flight there: leaving must not tell Ana "queued"
            assert not [e for e in ana.drain(1.0) if isinstance(e, Queued)]


def test_the_routes_of_one_loop_turn_go_to_redis_as_one_script_call(cluster):
    # 50 messages (within the burst a connection may send) read in one turn are routed with
    # a handful of script calls (ROUTES), not one ROUTE each; each still reaches the other
    # node once, in order.
    c = cluster(2)
    with c.login(0, "Ana") as ana, c.login(1, "Bia") as bia:
        wait_for(lambda: who(ana) == ["Ana", "Bia"], what="both online")
        redis = c.nodes[0]._redis

        async def evalsha_calls() -> int:
            info = await redis.execute("INFO", "commandstats")
            info = info.decode() if isinstance(info, bytes) else info
            line = next((l for l in info.splitlines() if l.startswith("cmdstat_evalsha:")), "calls=0,")
            return int(line.split("calls=")[1].split(",")[0])

        before = c.run(evalsha_calls())
        ana.send_raw(b"".join(ana.conn.send(SendDirect(f"d{i}", "bia", f"m{i}")) for i in range(50)))
        # All 50 reach Bia on the other node (inbox entries are deleted once taken, so they
        # are counted here, as they arrive), before any receipt is routed back.
        messages = [bia.expect(DirectMessage, skip=NOTICES) for _ in range(50)]
        calls = c.run(evalsha_calls()) - before
        # The heartbeats (BEAT and REAP, each node every second), the storing and the taking
        # of inbox entries are script calls too: far fewer than one ROUTE per message.
        assert calls < 50 + 25, f"{calls} script calls for 50 routed messages"
        assert [m.text for m in messages] == [f"m{i}" for i in range(50)]
        for message in messages:
            bia.send(Receipt(message.msg_id))


def test_wrong_passwords_alternated_across_nodes_are_throttled_as_on_one_node(cluster):
    c = cluster(2)
    with c.login(0, "Dora", password="correct horse 2", register=True):
        wait_for(lambda: c.call(lambda: "dora" in c.servers[1].relay.logins.accounts), what="dora's account on node 1")

        def guess(index: int) -> ErrorReply:
            with WireClient(*c.address(index)) as client:
                client.send(Hello("h", "Dora", const.PROTOCOL_VERSION, password="wrong horse"))
                return client.expect(ErrorReply, skip=NOTICES)

        assert guess(0).code == ErrorCode.BAD_PASSWORD
        refused = guess(1)  # at once, on the other node: as the same node would, it refuses
        assert refused.code == ErrorCode.RATE_LIMITED, refused
        assert 0 < refused.retry_after <= 0.5
        time.sleep(refused.retry_after)  # waiting out the delay the server named
        assert guess(1).code == ErrorCode.BAD_PASSWORD
        refused = guess(0)  # the second failure doubled the delay on every node
        assert refused.code == ErrorCode.RATE_LIMITED, refused
        assert 0.5 < refused.retry_after <= 1.0


def test_across_nodes_an_address_counts_the_names_that_failed_there_not_the_failures(cluster):
    """The cluster's shared throttle (scripts.LOGIN_FAILURES) as FailureThrottle: one user
    guessing one name behind a shared address holds the others there up the base delay."""
    c = cluster(2)
    with c.login(0, "Dora", password="correct horse 2", register=True):
        wait_for(lambda: c.call(lambda: "dora" in c.servers[1].relay.logins.accounts), what="dora's account on node 1")

        def hello(index: int, name: str, password: str | None) -> ErrorReply | Welcome:
            with WireClient(*c.address(index)) as client:
                client.send(Hello("h", name, const.PROTOCOL_VERSION, password=password))
                while True:
                    answer = client.next()
                    if not isinstance(answer, NOTICES):
                        return answer

        for attempt in range(4):  # Dora's name, again and again, on both nodes
            answer = hello(attempt % 2, "Dora", "wrong horse")
            while answer.code == ErrorCode.RATE_LIMITED:
                time.sleep(answer.retry_after)  # waiting out the delay the server named
                answer = hello(attempt % 2, "Dora", "wrong horse")
            assert answer.code == ErrorCode.BAD_PASSWORD, answer
        # Someone else from there at once: one name failed there, so the base delay at most
        # (or none, on a machine so slow that it passed meanwhile).
        other = hello(0, "Ana", None)
        assert isinstance(other, Welcome) or (other.code == ErrorCode.RATE_LIMITED and other.retry_after <= 0.5), other
        own = hello(1, "Dora", "wrong horse")
        assert own.code == ErrorCode.RATE_LIMITED and 1.0 < own.retry_after <= 4.0, own  # doubled 3 times


def test_a_recipient_redis_knows_but_this_node_has_not_heard_of_yet_is_not_unknown(cluster):
    c = cluster(2)
    # What another node's store wrote at a first login whose `on` entry has not reached
    # node 0 yet (written here without the entry, so that node 0 cannot have heard of it).
    c.run(c.nodes[1]._redis.execute("HSET", "{chat}:users", "late", "Late"))
    with c.login(0, "Ana") as ana:
        ana.send(SendDirect("l1", "late", "welcome aboard"))
        answer = ana.expect((Queued, ErrorReply), skip=NOTICES)
        assert isinstance(answer, Queued), answer
        # A name Redis does not know either (a valid one: "nobody" is reserved, invalid_name).
        ana.send(SendDirect("l2", "Ninguém", "hello?"))
        assert ana.expect_error(ErrorCode.UNKNOWN_RECIPIENT, skip=NOTICES).request_id == "l2"


class RedisCluster(Cluster):
    """Nodes as ``--cluster`` makes them: each with its own Redis store (no shared memory)."""

    def add(self) -> ChatServer:
        server = ChatServer(ServerConfig(host="127.0.0.1", port=0, web_port=0, cluster_url=self.url))
        self.run(server.start())
        self.servers.append(server)
        self.nodes.append(server.peers)
        return server

    def texts_in_redis(self, text: str) -> list[str]:
        """The keys of Redis in which ``text`` occurs (any type of value)."""
        redis = self.nodes[0]._redis
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
                if kind in reads and text.encode() in flat(await redis.execute(reads[kind][0], key, *reads[kind][1:])):
                    found.append(key.decode())
            return found
        return self.run(scan())


def test_a_deleted_direct_message_across_nodes_leaves_its_text_in_no_redis_key(redis_server):  # noqa: F811
    c = RedisCluster(redis_server.url, 2)
    text = "the secret across nodes 7f3a"
    try:
        ana, bia = WireClient(*c.address(0)), WireClient(*c.address(1))
        with ana, bia:
            for client, name in ((ana, "Ana"), (bia, "Bia")):
                client.send(Hello("h", name, const.PROTOCOL_VERSION, features=(EDITS,)))
                client.expect(Welcome, skip=NOTICES)
            wait_for(lambda: who(ana) == ["Ana", "Bia"], what="bia in ana's who")
            ana.send(SendDirect("d1", "bia", text))
            msg_id = ana.expect(Accepted, skip=NOTICES).msg_id
            assert bia.expect(DirectMessage, skip=NOTICES).text == text
            bia.send(Receipt(msg_id))
            assert ana.expect(Delivered, skip=NOTICES).msg_id == msg_id
            ana.send(Delete("x1", msg_id))
            ana.expect(Done, skip=NOTICES + (Deleted,))
            wait_for(lambda: not c.texts_in_redis(text), what="the text gone from every Redis key")
    finally:
        c.close()


def scrape(server: ChatServer) -> dict[str, float]:
    """The samples of ``server``'s /metrics (name with labels -> value)."""
    connection = http.client.HTTPConnection(*server.web_address, timeout=10)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode("utf-8")
    finally:
        connection.close()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


def test_the_metrics_of_a_cluster_node_show_redis_round_trips_and_the_cluster(redis_server):  # noqa: F811
    c = RedisCluster(redis_server.url, 2)
    try:
        with c.login(0, "Ana") as ana, c.login(1, "Bia") as bia:
            wait_for(lambda: who(ana) == ["Ana", "Bia"], what="bia in ana's who")
            ana.send(SendDirect("m1", "bia", "measured"))
            assert bia.expect(DirectMessage, skip=NOTICES).text == "measured"
            samples = wait_for(lambda: (lambda s: s if s.get("chat_cluster_nodes_alive") == 2 else None)(
                scrape(c.servers[0])), what="two nodes alive in node 0's metrics")
            assert samples["chat_redis_round_trip_seconds_count"] > 0
            assert samples['chat_redis_round_trip_seconds_bucket{le="+Inf"}'] == \
                samples["chat_redis_round_trip_seconds_count"]
            assert samples["chat_cluster_inbox_entries"] >= 0 and samples["chat_cluster_inbox_pending"] >= 0
            assert 0 <= samples["chat_cluster_events_lag_seconds"] < 60
    finally:
        c.close()


@pytest.mark.timeout_seconds(90)
def test_while_redis_is_down_the_metrics_say_so_instead_of_the_last_nodes_alive(redis_server):  # noqa: F811
    c = RedisCluster(redis_server.url, 2)
    try:
        alive = wait_for(lambda: (lambda s: s if s.get("chat_cluster_nodes_alive") == 2 else None)(
            scrape(c.servers[0])), what="two nodes alive in node 0's metrics")
        assert alive["chat_cluster_redis_up"] == 1
        redis_server.kill()
        down = wait_for(lambda: (lambda s: s if s.get("chat_cluster_redis_up") == 0 else None)(
            scrape(c.servers[0])), timeout=TTL + 5, what="Redis down in node 0's metrics")
        assert "chat_cluster_nodes_alive" not in down  # not the figure of before, stale
        redis_server.start()
        # Back (an empty Redis here): both nodes join again, and the figures follow. (Before,
        # the figures' reader died on the empty Redis's first answer: stale for good.)
        wait_for(lambda: (lambda s: s.get("chat_cluster_redis_up") == 1 and s.get("chat_cluster_nodes_alive") == 2)(
            scrape(c.servers[0])), timeout=TTL + 10, what="both nodes alive again in node 0's metrics")
    finally:
        c.close()


def test_a_direct_message_is_counted_as_its_sender_was_answered_wherever_the_recipient_is(
        redis_server):  # noqa: F811
    """chat_messages_total{kind="direct"} counts a new message by the answer its sender got
    (PROTOCOL.md, "Metrics"): ``accepted`` for a recipient online on another node, not
    ``queued`` because none of their sessions is on the sender's node."""
    c = RedisCluster(redis_server.url, 2)
    try:
        with c.login(0, "Ana") as ana, c.login(1, "Bia") as bia:
            wait_for(lambda: c.nodes[0].directory.lookup_key("bia") is not None, what="node 0 hears of Bia")
            ana.send(SendDirect("m1", "bia", "across"))
            ana.expect(Accepted, skip=NOTICES)
            assert bia.expect(DirectMessage, skip=NOTICES).text == "across"
            samples = scrape(c.servers[0])
            assert samples['chat_messages_total{kind="direct",outcome="accepted"}'] == 1
            assert samples['chat_messages_total{kind="direct",outcome="queued"}'] == 0
    finally:
        c.close()


class RedisStoreCluster(Cluster):
    """As :class:`Cluster`, but each node on its own Redis store, as node processes are."""

    def add(self) -> ChatServer:
        from server.stores.redis import RedisStore

        node = ClusterNode(self.url)
        server = ChatServer(ServerConfig(host="127.0.0.1", port=0), store=RedisStore(self.url), peers=node)
        self.run(server.start())
        self.servers.append(server)
        self.nodes.append(node)
        return server


def test_a_new_direct_message_across_nodes_is_stored_and_routed_in_one_script_call(redis_server):  # noqa: F811
    """On the Redis store the sender's node routes a new direct message in the script call
    that stores it (one fsync'ed round trip before ``accepted``, not two): it routes none
    itself afterwards. Both acks, each message once and in order; a resend through the other
    node is recognised and not delivered again."""
    c = RedisStoreCluster(redis_server.url, 2)
    try:
        with c.login(0, "Ana") as ana, c.login(1, "Bia") as bia:
            wait_for(lambda: who(ana) == ["Ana", "Bia"], what="both online")
            wait_for(lambda: c.nodes[1].directory.lookup_key("ana") is not None, what="node 1 hears of Ana")
            routed_by_node = []
            node = c.nodes[0]
            route = node._route
            node._route = lambda key, entry, callback, what: (routed_by_node.append(what),
                                                              route(key, entry, callback, what))
            for i in range(20):
                ana.send(SendDirect(f"d{i}", "bia", f"m{i}"))
            accepted = [ana.expect(Accepted, skip=NOTICES + (Delivered,)) for _ in range(20)]
            messages = [bia.expect(DirectMessage, skip=NOTICES) for _ in range(20)]
            assert [m.text for m in messages] == [f"m{i}" for i in range(20)]
            assert [m.msg_id for m in messages] == [a.msg_id for a in accepted]
            assert "routing" not in routed_by_node
            for message in messages:
                bia.send(Receipt(message.msg_id))
            delivered = set()
            while len(delivered) < 20:
                delivered.add(ana.expect(Delivered, skip=NOTICES).msg_id)
            assert delivered == {a.msg_id for a in accepted}
        wait_for(lambda: c.nodes[1].directory.lookup_key("ana") is None, what="Ana's name released")
        with c.login(1, "Ana") as ana:  # the same request id through the other node
            ana.send(SendDirect("d3", "bia", "m3"))
            again = ana.expect(Accepted, skip=NOTICES + (Delivered,))  # outcomes not acked come too
            assert again.msg_id == accepted[3].msg_id
    finally:
        c.close()


def ana_to_bia(ana: WireClient, bia: WireClient) -> tuple[Accepted, DirectMessage]:
    """Once both are online: Ana sends Bia "olá" (request d1); her ``accepted`` and what
    Bia is shown."""
    wait_for(lambda: who(ana) == ["Ana", "Bia"] == who(bia), what="both online")
    ana.send(SendDirect("d1", "bia", "olá"))
    return ana.expect(Accepted, skip=NOTICES), bia.expect(DirectMessage, skip=NOTICES)


def acknowledged_on_the_phone(c: Cluster, index: int, bia: WireClient, phone: WireClient, msg_id: int) -> None:
    """Bia confirms message ``msg_id``; Ana's phone, on node ``index``, is told it was
    delivered and acknowledges it, which ends the telling for every device of hers
    (PROTOCOL.md, "ack"). Returns once node ``index`` has recorded the ack."""
    bia.send(Receipt(msg_id))
    assert phone.expect(Delivered, skip=NOTICES + (Carbon,), timeout=10).msg_id == msg_id
    phone.send(OutcomeAck(msg_id))
    c.run(c.servers[index].relay.store.drain(timeout=5))


@pytest.mark.timeout_seconds(60)
def test_an_outcome_told_while_the_senders_node_was_judged_gone_reaches_the_sender_after_its_rejoin(
        redis_server):  # noqa: F811
    """Ana (node 1) sends Bia (node 0) a message; node 1's heartbeat stops and node 0 reaps
    it, so Ana is offline for the cluster while her connection to node 1 stays up. Bia
    confirms the message meanwhile: its ``delivered`` is routed to nobody and waits in the
    store for Ana. Once node 1 beats again and claims her name anew, Ana is told it without
    logging in again (before: only at her next login, so a client that stayed connected
    showed the message queued for ever; seen in a chaos run, seed 44)."""
    c = Cluster(redis_server.url, 2, beat=0.2, ttl=1.0)
    try:
        with c.login(1, "Ana") as ana, c.login(0, "Bia") as bia:
            accepted, message = ana_to_bia(ana, bia)
            c.stop_beating(1)
            left = bia.expect(UserLeft, skip=(Ping,), timeout=15)
            assert left.name == "Ana"
            bia.send(Receipt(message.msg_id))
            assert not [e for e in ana.drain(quiet=0.5) if isinstance(e, Delivered)]  # routed to nobody
            c.beat_again(1)
            assert bia.expect(UserJoined, skip=(Ping,), timeout=15).name == "Ana"
            delivered = ana.expect(Delivered, skip=NOTICES, timeout=10)
            assert (delivered.request_id, delivered.msg_id) == ("d1", accepted.msg_id)
    finally:
        c.close()


@pytest.mark.timeout_seconds(60)
def test_an_outcome_another_device_acknowledged_while_the_senders_node_was_judged_gone_reaches_the_sender(
        redis_server):  # noqa: F811
    """As above, but Ana has a second device, on node 0, which is told the outcome and
    acknowledges it while node 1 counts as gone: one ``ack`` ends the telling for all her
    devices (PROTOCOL.md, "ack"), so the telling again at node 1's rejoin finds nothing.
    Her laptop, which sent the message and stayed connected to node 1, must still hear
    "delivered": node 1 remembers what its sessions sent and heard no outcome of, and asks
    the store after its break (the chaos run with 20 clients, seed 407: a first device left
    with messages queued that the store held delivered)."""
    c = Cluster(redis_server.url, 2, beat=0.2, ttl=1.0)
    try:
        with c.login(1, "Ana", password="senha secreta 1", register=True) as laptop, c.login(0, "Bia") as bia, \
                c.login(0, "Ana", password="senha secreta 1") as phone:
            accepted, message = ana_to_bia(laptop, bia)
            c.stop_beating(1)
            wait_for(lambda: c.call(lambda: c.nodes[0].users.where.get("ana")) is True, what="node 1 gone for node 0")
            acknowledged_on_the_phone(c, 0, bia, phone, accepted.msg_id)
            assert not [e for e in laptop.drain(quiet=0.5) if isinstance(e, Delivered)]  # routed to nobody
            c.beat_again(1)
            delivered = laptop.expect(Delivered, skip=NOTICES + (Carbon,), timeout=10)
            assert (delivered.request_id, delivered.msg_id) == ("d1", accepted.msg_id)
    finally:
        c.close()


@pytest.mark.timeout_seconds(90)
def test_an_outcome_another_device_acknowledged_reaches_the_sender_whose_message_went_through_another_node(
        redis_server):  # noqa: F811
    """As above, but Ana's laptop sent the message through node 0, which then died: the
    laptop went on through node 1, which never saw the message, so it has nothing of it to
    ask the store after its break. It tells the laptop ``catch_up``, and the laptop asks
    the history of the conversations its messages wait in (the chaos run with 20 clients,
    seed 418: a device's messages ``queued`` that the store held delivered)."""
    c = Cluster(redis_server.url, 3, beat=0.2, ttl=1.0)
    laptop = ChatClient("Ana", servers=[c.address(0), c.address(1)], password="senha secreta 1", register=True,
                        reconnect_delay=0.1, reconnect_max_delay=0.5)
    try:
        laptop.connect()
        with c.login(2, "Bia") as bia, c.login(2, "Ana", password="senha secreta 1") as phone:
            wait_for(lambda: sorted(p.name for p in laptop.who(timeout=5)) == ["Ana", "Bia"], what="all online")
            message = laptop.send_direct("Bia", "olá")
            shown = bia.expect(DirectMessage, skip=NOTICES)
            wait_for(lambda: message.state == SENT, what="accepted")
            c.crash(0)
            wait_for(lambda: laptop.reconnects >= 1 and laptop.connected, what="the laptop on node 1")
            assert (laptop.host, laptop.port) == c.address(1)
            c.stop_beating(1)
            wait_for(lambda: c.call(lambda: c.nodes[2].users.where.get("ana")) is True, what="node 1 gone for node 2")
            acknowledged_on_the_phone(c, 2, bia, phone, shown.msg_id)
            assert message.state == SENT  # routed with the phone's: to nobody on node 1
            c.beat_again(1)
            wait_for(lambda: message.state == DELIVERED, what="the laptop told the outcome")
    finally:
        laptop.close()
        c.close()


def confirmed_on_the_phone(c: Cluster, ana: WireClient, laptop: WireClient, phone: WireClient) -> int:
    """Ana (node 0) writes to Bia, whose laptop (node 1) and phone (node 0) are both shown
    it; the phone confirms it, and Ana acknowledges her "delivered", as her client does (so
    it is not told again). Returns the message's id once node 0 has recorded it all."""
    wait_for(lambda: who(ana) == ["Ana", "Bia"] == who(laptop), what="all online")
    ana.send(SendDirect("d1", "bia", "olá"))
    msg_id = ana.expect(Accepted, skip=NOTICES).msg_id
    for device in laptop, phone:
        assert device.expect(DirectMessage, skip=NOTICES).msg_id == msg_id
    phone.send(Receipt(msg_id))
    assert ana.expect(Delivered, skip=NOTICES).msg_id == msg_id
    ana.send(OutcomeAck(msg_id))
    c.run(c.servers[0].relay.store.drain(timeout=5))
    return msg_id


@pytest.mark.timeout_seconds(60)
def test_a_message_confirmed_here_is_not_told_queued_when_another_node_it_went_to_dies(redis_server):  # noqa: F811
    """Bia reads on her phone (node 0) and her laptop (node 1); Ana, on node 0, writes to
    her, and the phone confirms it. Node 1 then dies with the message still in flight on
    the laptop: Ana, told "delivered", must not hear "queued" after it (node 0 waited for
    an outcome from node 1 that it had decided itself)."""
    c = Cluster(redis_server.url, 2, beat=0.2, ttl=1.0)
    try:
        with c.login(1, "Bia", password="senha secreta 2", register=True) as laptop, \
                c.login(0, "Bia", password="senha secreta 2") as phone, c.login(0, "Ana") as ana:
            confirmed_on_the_phone(c, ana, laptop, phone)
            c.crash(1)
            wait_for(lambda: c.call(lambda: c.nodes[0].users.where.get("bia")) is True, what="node 1 reaped")
            ana.send(WhoRequest("w"))
            assert ana.expect(UserList, skip=NOTICES).request_id == "w"  # and no "queued" before it
    finally:
        c.close()


@pytest.mark.timeout_seconds(60)
def test_an_edit_another_device_confirmed_while_the_readers_node_was_judged_gone_reaches_the_reader(
        redis_server):  # noqa: F811
    """Bia reads on her laptop (node 1) and her phone (node 0). Ana edits her message while
    node 1 counts as gone: the edit goes to the phone alone, which confirms it, and a change
    is told again only until one session confirms it. Once node 1 is back, the laptop must
    read the new text: it is told the changes made since its node's break began, as a
    device back from away is (the chaos run with 20 clients, seed 418: a reader left one
    edit behind)."""
    c = Cluster(redis_server.url, 2, beat=0.2, ttl=1.0)

    def log_in(index: int, name: str, password: str | None = None, register: bool = False) -> WireClient:
        client = WireClient(*c.address(index))
        client.send(Hello("h", name, const.PROTOCOL_VERSION, password=password, register=register, features=(EDITS,)))
        client.expect(Welcome, skip=NOTICES)
        return client

    try:
        with log_in(1, "Bia", "senha secreta 2", register=True) as laptop, \
                log_in(0, "Bia", "senha secreta 2") as phone, log_in(0, "Ana") as ana:
            msg_id = confirmed_on_the_phone(c, ana, laptop, phone)
            c.stop_beating(1)
            wait_for(lambda: c.call(lambda: c.nodes[0].users.where.get("bia")) is True, what="node 1 gone for node 0")
            ana.send(Edit("e1", msg_id, "olá!"))
            ana.expect(Done, skip=NOTICES)
            assert phone.expect(Edited, skip=NOTICES).text == "olá!"
            phone.send(EditReceipt(msg_id))
            c.run(c.servers[0].relay.store.drain(timeout=5))  # the confirmation recorded
            c.beat_again(1)
            edited = laptop.expect(Edited, skip=NOTICES + (DirectMessage,), timeout=10)
            assert (edited.msg_id, edited.text) == (msg_id, "olá!")
    finally:
        c.close()


@pytest.mark.timeout_seconds(60)
def test_an_outcome_recorded_by_a_node_that_died_before_routing_it_reaches_the_sender_once_the_node_is_reaped(
        redis_server):  # noqa: F811
    """Ana (node 0) sends Bia (node 1) a message; Bia confirms it through node 1, which
    records the receipt and dies (kill -9) before Ana's ``delivered`` went out to node 0:
    the two go to Redis by different calls, and a node can die between them. Ana stays
    connected to node 0. Once node 1 is reaped, node 0 tells her sessions their outcomes not
    acknowledged again, as at a login (before: only at her next login, so a client that
    stayed connected showed the message queued for ever: the chaos run's known disorder,
    seed 111 with 20 clients, in about one run of three)."""
    c = Cluster(redis_server.url, 2, beat=0.2, ttl=1.0)
    try:
        with c.login(0, "Ana") as ana, c.login(1, "Bia") as bia:
            accepted, message = ana_to_bia(ana, bia)
            node = c.nodes[1]
            dropped = []
            c.call(lambda: setattr(node, "tell", lambda key, msg_id, frame: dropped.append(msg_id)))
            bia.send(Receipt(message.msg_id))
            wait_for(lambda: dropped == [accepted.msg_id], what="the outcome that node 1 never routes")
            c.run(c.servers[1].relay.store.drain(timeout=5))  # the receipt recorded
            assert not [e for e in ana.drain(quiet=0.3) if isinstance(e, Delivered)]
            c.crash(1)
            # Node 1 reaped (Bia left): node 0 says "queued" of what it routed there
            # unconfirmed (it cannot know better yet), then finds the outcome in the store.
            got = [ana.expect((UserLeft, Delivered), skip=(Ping, Queued), timeout=15) for _ in range(2)]
            assert sorted(type(e).__name__ for e in got) == ["Delivered", "UserLeft"], got
            [delivered] = [e for e in got if isinstance(e, Delivered)]
            assert (delivered.request_id, delivered.msg_id) == ("d1", accepted.msg_id)
    finally:
        c.close()


@pytest.mark.timeout_seconds(60)
def test_a_welcome_on_a_node_that_stored_nothing_says_the_last_id_the_other_node_gave_out(
        redis_server):  # noqa: F811
    """The welcome's ``last_id`` (feature since) is where a client that shows nothing yet
    catches up from. Ana writes to João on node 0; someone logs in on node 1, which stored
    none of it: its welcome says node 0's last id (CLAIM reads Redis's counter). Before,
    node 1 said the highest id it had seen itself, so a client of João's logging in there
    would have taken Ana's earlier messages for news at its first catch-up."""
    c = Cluster(redis_server.url, 2, redis_stores=True, beat=5.0, ttl=15.0)  # no beat within the test
    try:
        with c.login(0, "Ana") as ana, c.login(0, "Joao"):
            ids = []
            for n in range(3):
                ana.send(SendDirect(f"d{n}", "Joao", f"mensagem {n}"))
                ids.append(ana.expect(Accepted, skip=NOTICES + (Delivered, Queued)).msg_id)
            with WireClient(*c.address(1)) as zeca:
                zeca.send(Hello("h", "Zeca", const.PROTOCOL_VERSION, features=("since",)))
                assert zeca.expect(Welcome, skip=NOTICES).last_id == ids[-1]
    finally:
        c.close()


@pytest.mark.timeout_seconds(60)
def test_a_guest_name_taken_on_another_node_gets_nothing_its_earlier_holder_was_sent(redis_server):  # noqa: F811
    """Zeca (a guest) left node 0, and his name's hold is over; Ana wrote to him there
    (queued). Someone else takes the name on node 1, which stored none of it: what waited
    for the earlier Zeca must end (Ana told it expired), never reach the newcomer, nor show
    in his history. The new holding's epoch is the last id given out as the name changed
    hands (CLAIM reads it). Before, node 1 took the highest id it had seen itself, below
    Ana's message, and gave the newcomer the message meant for the earlier Zeca."""
    from protocol import HistoryPage, HistoryRequest
    c = Cluster(redis_server.url, 2, redis_stores=True, beat=5.0, ttl=15.0)  # no beat within the test
    try:
        for server in c.servers:
            server.relay.logins.guests.hold = 0.0  # a guest's hold ends as soon as they leave
        with c.login(0, "Ana") as ana:
            with c.login(0, "Zeca"):
                wait_for(lambda: who(ana) == ["Ana", "Zeca"], what="Zeca online")
            wait_for(lambda: who(ana) == ["Ana"], what="Zeca gone")
            ana.send(SendDirect("d1", "Zeca", "para o Zeca de antes"))
            msg_id = ana.expect(Queued, skip=NOTICES).msg_id
            with c.login(1, "Zeca", tokens={}) as newcomer:  # someone else: no token
                expired = ana.expect(ErrorReply, skip=NOTICES, timeout=5)
                assert (expired.code, expired.request_id) == ("expired", "d1"), expired
                newcomer.send(HistoryRequest("h1", "Ana", 50))
                page = newcomer.expect(HistoryPage, skip=NOTICES)
                assert page.messages == ()
                assert not [e for e in newcomer.drain(quiet=0.3) if isinstance(e, DirectMessage)]
    finally:
        c.close()
