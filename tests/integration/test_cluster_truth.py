"""What a cluster tells, and what it records, agree even when its nodes' views lag.

- A send racing its recipient's login (or logout) on another node: the answer the sender
  got (``accepted`` or ``queued``) is the state its history shows (``sent`` or ``queued``),
  though the sender's node heard of the login (its directory) a Redis round trip after
  Redis had it. Three nodes on the Redis store, real clients; the race is run a bounded
  number of times.
- A guest name past its hold that nothing refers to is forgotten by the cluster as by one
  server: in Redis and in every node's cache (two nodes, short settings); never while a
  claim holds it, and a guest whose token proves a holding forgotten an instant before
  takes the name afresh.
- After a bye, a send that needed Redis (a name looked up, a route of its own) is still
  answered before the connection closes.
- A node refuses to join a cluster of another version, in one clear line.
- A node whose clock is off Redis's says so, and its /metrics shows the offset.

Loopback only; every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from redisserver import redis_server  # noqa: F401  (a fixture)

from logins import leave, login
from registry import canonical
from resp import RedisClient
from waits import wait_until
from protocol import (Accepted, ErrorReply, Goodbye, HistoryPage, HistoryRequest, Ping, Queued, SendDirect,
                      UserJoined, UserLeft)
from server import ServerConfig, ServerThread
from server.cluster import bus, scripts
from server.stores.redis_scripts import FORGET_GUESTS
from servers import run_chatserver

NOTICES = (UserJoined, UserLeft, Ping)
ROUNDS = 12  # logins raced (each against a stream of sends)
BURST = 12  # sends per round, one answered before the next
PASSWORD = "correct horse battery"


def _node(url: str, **options) -> ServerThread:
    return ServerThread(ServerConfig(host="127.0.0.1", port=0, cluster_url=url, rate_per_connection=1e6,
                                     rate_per_address=1e6, **options))


@pytest.mark.timeout_seconds(120)
def test_a_send_racing_its_recipients_login_elsewhere_is_recorded_as_its_sender_was_told(redis_server):
    with _node(redis_server.url) as first, _node(redis_server.url) as second, _node(redis_server.url) as third:
        with login(second, "Bob") as bob:
            leave(bob)
        with login(first, "Alice") as alice:
            told: dict[int, str] = {}

            def burst(name: str) -> None:
                """Alice's sends to Bob, each answered before the next, while Bob comes or goes."""
                for n in range(BURST):
                    request_id = f"{name}-{n}"
                    alice.send(SendDirect(request_id, "Bob", request_id))
                    while True:  # a `queued` told for an earlier message may come between
                        answer = alice.expect((Accepted, Queued), skip=NOTICES)
                        if answer.request_id == request_id:
                            break
                    told[answer.msg_id] = "sent" if isinstance(answer, Accepted) else "queued"

            for round_ in range(ROUNDS):
                node = (second, third)[round_ % 2]
                logged_in: list = []
                racer = threading.Thread(target=lambda: logged_in.append(login(node, "Bob")))
                racer.start()
                burst(f"in{round_}")
                racer.join(10)
                assert logged_in, "Bob was not welcomed"
                racer = threading.Thread(target=leave, args=(logged_in[0],))
                racer.start()
                burst(f"out{round_}")
                racer.join(10)
                # Alice's node knows Bob is offline again before the next round.
                wait_until(lambda: first.server.relay.directory.lookup_key("bob") is None, what="Bob gone")
            recorded: dict[int, str] = {}
            before = None
            while len(recorded) < len(told):
                alice.send(HistoryRequest("h", "Bob", 100, before))
                page = alice.expect(HistoryPage, skip=NOTICES + (Queued,))
                recorded.update((entry.msg_id, entry.state) for entry in page.messages)
                if page.before is None:
                    break
                before = page.before
            wrong = {msg_id: (state, recorded.get(msg_id)) for msg_id, state in told.items()
                     if recorded.get(msg_id) != state}
            assert not wrong, f"told, then recorded: {wrong}"


def _redis(url: str, *command: str):
    async def main():
        async with RedisClient(url) as redis:
            return await redis.execute(*command)
    return asyncio.run(main())


@pytest.mark.timeout_seconds(60)
def test_a_cluster_forgets_a_guest_name_past_its_hold_as_one_server_does(redis_server):
    # Held 0.2 s, remembered 0.5 s, looked at every 0.1 s: "Conceição" leaves node 1 and is
    # forgotten in Redis (holding, known user) and by both nodes' caches; a hello without
    # her token then takes the name afresh on node 2.
    options = dict(guest_hold=0.2, guest_remembered=0.5, expiry_interval=0.1)
    with _node(redis_server.url, **options) as first, _node(redis_server.url, **options) as second:
        with login(first, "Conceição") as her:
            key = canonical("Conceição")
            wait_until(lambda: key in second.server.relay.logins.guests.holdings, what="node 2 knows her holding")
            leave(her)
        wait_until(lambda: _redis(redis_server.url, "EXISTS", f"{{chat}}:guest:{key}") == 0, timeout=20,
                   what="Redis forgets her holding")
        assert _redis(redis_server.url, "HEXISTS", "{chat}:users", key) == 0
        assert _redis(redis_server.url, "SISMEMBER", "{chat}:guests", key) == 0
        for node in (first, second):
            wait_until(lambda: key not in node.server.relay.logins.guests.holdings, what="each node forgets it")
        with login(second, "Conceição", tokens={}) as someone_else:
            assert someone_else.welcome.resume


def test_a_claimed_guest_name_is_not_forgotten_and_a_forgotten_one_is_not_resumed(redis_server):
    # The two steps that race, on Redis itself: forgetting (stores/redis_scripts.py FORGET_GUESTS)
    # and a guest's claim (cluster/scripts.py CLAIM), one node's lease at a time.
    p = "{chat}:"
    head = bus.guests_forgotten_head()

    async def forget(redis, node):
        return await FORGET_GUESTS(redis, args=(p, 10, node, 60000, p + "events", 1000, head, "ana", 7, "100.5"))

    async def claim(redis, sid, *epoch):
        entry = bus.encode(bus.SessionOn("ana", "Ana", False, sid, "a", "127.0.0.1", 1, 1.0))
        reply = await scripts.CLAIM(redis, args=(p, "a", sid, "ana", "Ana", "0", "a\t127.0.0.1\t1\t1.0", entry,
                                                  *epoch))
        return (reply[0] if isinstance(reply, list) else reply).decode()  # ('ok' comes with the id counter)

    async def steps(redis):
        assert await scripts.JOIN(redis, args=(p, "a", 5000, "test", 1000)) == 1
        await redis.execute("HSET", p + "guest:ana", "name", "Ana", "token", "t", "epoch", "7", "left", "100.5")
        assert await claim(redis, "a/1", 7) == "ok"  # she is back (the node's cache still said she left)
        assert await forget(redis, "a") == [1, [], []]
        assert await redis.execute("EXISTS", p + "guest:ana") == 1
        off = bus.encode(bus.SessionOff("ana", "a/1", "quit", 2.0))
        assert await scripts.RELEASE(redis, args=(p, "a", "a/1", "ana", off)) == 1
        assert await forget(redis, "b") == [0]  # node a forgets, for as long as its lease lasts
        assert await forget(redis, "a") == [1, [b"ana"], []]
        assert await redis.execute("EXISTS", p + "guest:ana") == 0
        last = (await redis.execute("XREVRANGE", p + "events", "+", "-", "COUNT", 1))[0][1]
        assert bus.decode(last[1]) == bus.GuestsForgotten("ana")
        assert await claim(redis, "a/2", 7) == "forgotten"  # her token's holding is gone
        assert await claim(redis, "a/3") == "ok"  # taken afresh
    asyncio.run(_with_redis(redis_server.url, steps))


async def _with_redis(url, steps):
    async with RedisClient(url) as redis:
        return await steps(redis)


@pytest.mark.timeout_seconds(60)
def test_a_guest_resuming_a_name_another_node_just_forgot_takes_it_afresh(redis_server):
    # Node 2 has not read the 'forgot' entry yet (put back in its cache here): João's token
    # proves a holding Redis no longer has; his login takes the name anew, a new epoch.
    options = dict(guest_hold=0.2, guest_remembered=0.5, expiry_interval=0.1)
    with _node(redis_server.url, **options) as first, _node(redis_server.url, **options) as second:
        key = canonical("João")
        with login(first, "João") as him:
            leave(him)
        stale = second.server.relay.logins.guests.holdings[key]
        wait_until(lambda: key not in second.server.relay.logins.guests.holdings, timeout=20,
                   what="the cluster forgets him")
        second.call(second.server.relay.logins.guests.holdings.__setitem__, key, stale)
        with login(second, "João") as him:
            assert him.welcome.resume  # a new holder's token
        holding = second.server.relay.logins.guests.holdings[key]
        assert holding.epoch >= stale.epoch and holding is not stale
        assert _redis(redis_server.url, "EXISTS", f"{{chat}}:guest:{key}") == 1


@pytest.mark.timeout_seconds(60)
def test_the_answers_to_sends_that_ask_redis_come_before_the_bye_closes(redis_server):
    # Each send, then bye, in one write: the answer to a send to a name this node has not
    # heard of (asked of Redis: unknown_recipient here) and to one routed by a script call
    # of its own (Ana, an account, has a session on the other node too, so her message is not routed
    # by the store's script) comes before the connection closes. Also when Redis has just
    # lost its scripts (restarted, or SCRIPT FLUSH here): each call is answered NOSCRIPT and
    # sent again, and the route's second call once came after the node's check that it was
    # answered (one run in ten alone, where the first ROUTES call met a fresh Redis).
    with _node(redis_server.url) as first, _node(redis_server.url) as second:
        with login(second, "Bob"), login(second, "Ana", PASSWORD, register=True):
            wait_until(lambda: first.server.relay.directory.lookup_key("bob") is not None, what="node 1 knows Bob")
            for n, to in enumerate(("Zé Ninguém", "Bob", "Zé Ninguém", "Bob")):
                ana = login(first, "Ana", PASSWORD)
                if n >= 2:
                    _redis(redis_server.url, "SCRIPT", "FLUSH")
                request_id = f"s{n}"
                ana.send_raw(ana.conn.send(SendDirect(request_id, to, "até logo")) + ana.conn.send(Goodbye()))
                events = [event for event in ana.wait_closed() if not isinstance(event, NOTICES)]
                ana.close()
                answers = [event for event in events if getattr(event, "request_id", None) == request_id]
                assert answers and isinstance(answers[0], (Accepted, ErrorReply)), f"to {to}: {events}"


def _refused(result, *words: str) -> None:
    """chatserver.py refused to start: status 1, no traceback, its last line saying why."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    for word in words:
        assert word in last, last


@pytest.mark.timeout_seconds(90)
def test_a_node_refuses_to_join_a_cluster_of_another_version_in_one_clear_line(redis_server):
    # Nodes of one cluster run one version (docs/cluster.md, "Versions"): a node of the
    # version before this check (no version key, a live node) or data written by a newer
    # one is refused at start; alone, a node of a newer version takes the cluster over.
    from server.cluster.node import CLUSTER_VERSION
    url = redis_server.url
    with _node(url):
        pass  # a node that ran and left
    assert int(_redis(url, "GET", "{chat}:version")) == CLUSTER_VERSION
    _redis(url, "SET", "{chat}:version", str(CLUSTER_VERSION + 1))
    _refused(run_chatserver("--cluster", url, timeout=15), "newer version", str(CLUSTER_VERSION + 1))
    _redis(url, "DEL", "{chat}:version")  # the nodes before the key: one still beats
    asyncio.run(_with_redis(url, lambda redis: scripts.JOIN(redis, args=("{chat}:", "old", 60000, "old", 1000))))
    _refused(run_chatserver("--cluster", url, timeout=15), "same version", "1 node")
    _redis(url, "HDEL", "{chat}:beats", "old")  # stopped: the new version may start
    with _node(url):
        pass
    assert int(_redis(url, "GET", "{chat}:version")) == CLUSTER_VERSION


@pytest.mark.timeout_seconds(60)
def test_a_node_whose_clock_is_two_minutes_off_says_so_and_shows_it(redis_server, caplog):
    # Its message times, "online since" and guest holds disagree with the other nodes' by
    # that much (docs/cluster.md, "Clocks"): the operator is told, and /metrics shows it.
    with _node(redis_server.url) as node:
        node.call(setattr, node.server.peers, "wall", lambda: time.time() - 120)
        wait_until(lambda: "120" in caplog.text and "behind Redis's" in caplog.text, what="the warning")
        offset = node.server.peers.gauges.get("chat_cluster_clock_offset_seconds")
        assert offset is not None and 119 < offset < 121
        node.call(setattr, node.server.peers, "wall", time.time)
        wait_until(lambda: "agrees with Redis's again" in caplog.text, what="the all clear")
