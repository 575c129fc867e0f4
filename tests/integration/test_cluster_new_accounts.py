"""An account registered on one node is an account on every node at once, not only once
the events stream has told the other nodes (their caches of accounts follow it a moment
later, or longer behind a lagging reader): each check of "is this an account?" reads
Redis when the cache says no.

Two nodes in one process (test_cluster_nodes.Cluster), each with its Redis store as
``--cluster`` makes it, on a real redis-server; the second reaches Redis through a raw
FaultProxy that holds back its events reader's connection (test_cluster_join_order's
setup), so the account registered on the first is not in its cache. Every wait has a
deadline.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from faultproxy import FaultProxy
from redisserver import RedisServer, redis_server  # noqa: F401  (a fixture)
from servers import ServerProcess
from test_cluster_nodes import Cluster, wait_for
from test_redis_store import loop, open_redis_store  # noqa: F401  (loop: a fixture)
from wire import WireClient

from protocol import (TYPING, Done, ErrorCode, ErrorReply, Hello, Invite, JoinRoom, LookupRequest, LookupResult, Ping,
                      RoomInfo, RoomNotice, Typing, UserJoined, UserLeft, Welcome)
import const
from server.accounts import hash_password

PASSWORD = "correct horse"
QUIET = (UserJoined, UserLeft, Ping, RoomNotice)


@contextmanager
def olga_behind_a_lagging_events_reader(redis: RedisServer, **config) -> Iterator[tuple]:
    """Olga (an account) online on node 1, whose events reader's link to Redis is then held
    back: (the cluster, node 1's server, Olga, the proxy, the held link's port)."""
    with FaultProxy("127.0.0.1", redis.port, raw=True) as proxy:
        c = Cluster(redis.url, 1, redis_stores=True, config=config, timeout=10.0)
        try:
            c.add_through(proxy.port)
            node = c.nodes[1]
            with c.login(1, "Olga", password=PASSWORD, register=True) as olga:
                port = c.call(lambda: node._events_reader._link.transport.get_extra_info("sockname")[1])
                assert proxy.hold_peer(port) == 1
                yield c, c.servers[1], olga, proxy, port
        finally:
            c.close()


def register_on_node_0(c: Cluster, server, name: str) -> None:
    """``name`` registers on node 0 and leaves; node 1 has not heard of the account."""
    c.login(0, name, password=PASSWORD, register=True).close()
    key = name.lower()
    assert c.call(lambda: key not in server.relay.logins.accounts), "the test must hold node 1's reader"


def hello(c: Cluster, index: int, name: str, password: str | None) -> object:
    """The answer to a hello for ``name`` (with ``password``, or none) on node ``index``."""
    client = WireClient(*c.address(index))
    try:
        client.send(Hello("h", name, const.PROTOCOL_VERSION, password, False, None))
        return client.expect((Welcome, ErrorReply), skip=QUIET)
    finally:
        client.close()


def test_an_account_registered_on_another_node_a_moment_ago_is_invited_where_only_accounts_log_in(
        redis_server):  # noqa: F811
    # Refused unknown_recipient ("Mia has no account here") before: node 1's cache did not
    # have Mia's account yet.
    with olga_behind_a_lagging_events_reader(redis_server, require_accounts=True) as (c, server, olga, proxy, port):
        olga.send(JoinRoom("j1", "#secret", invite_only=True))
        olga.expect(RoomInfo, skip=QUIET)
        register_on_node_0(c, server, "Mia")
        olga.send(Invite("i1", "#secret", "mia"))
        answer = olga.expect((Done, ErrorReply), skip=(UserJoined, UserLeft, Ping))
        assert answer == Done("i1"), answer
        olga.send(Invite("i2", "#secret", "Mla"))  # a name with no account still is not invited
        assert olga.expect_error(ErrorCode.UNKNOWN_RECIPIENT, skip=QUIET).request_id == "i2"
        assert c.call(lambda: "mia" in server.relay.logins.accounts), "what Redis said is kept"
        proxy.release_peer(port)  # the room's change comes back on the events stream, with its notice
        notice = olga.expect(RoomNotice, skip=(UserJoined, UserLeft, Ping))
        assert (notice.act, notice.name) == ("invite", "Mia"), notice  # as she registered it


def test_an_account_registered_on_another_node_a_moment_ago_logs_in_with_its_password(redis_server):  # noqa: F811
    # Refused accounts_required ("this server only admits registered names") before.
    with olga_behind_a_lagging_events_reader(redis_server, require_accounts=True) as (c, server, olga, proxy, port):
        register_on_node_0(c, server, "Mia")
        welcome = hello(c, 1, "Mia", PASSWORD)
        assert isinstance(welcome, Welcome) and welcome.registered, welcome
        assert c.call(lambda: server.relay.directory.lookup("Mia") is None), "the test must hold node 1's reader"
        proxy.release_peer(port)


def test_a_guest_is_not_welcomed_under_a_name_registered_on_another_node_a_moment_ago(redis_server):  # noqa: F811
    # Welcomed as a guest called Mia before (and a hello with her password too, as a
    # guest): node 1 did not know the name was an account, and the claim in Redis only
    # checks who is online.
    with olga_behind_a_lagging_events_reader(redis_server) as (c, server, olga, proxy, port):
        register_on_node_0(c, server, "Mia")
        refused = hello(c, 1, "Mia", None)
        assert isinstance(refused, ErrorReply) and refused.code == ErrorCode.AUTH_REQUIRED, refused
        welcome = hello(c, 1, "Mia", PASSWORD)
        assert isinstance(welcome, Welcome) and welcome.registered, welcome
        wait_for(lambda: c.call(lambda: "mia" in server.relay.logins.accounts), what="Mia's account on node 1")
        proxy.release_peer(port)


def test_a_user_registered_on_another_node_a_moment_ago_is_looked_up_and_typed_to_as_someone(
        redis_server):  # noqa: F811
    # The users' names (relay.known) follow the events stream too. Before, node 1 answered
    # a lookup of Mia "unknown" and a typing to her unknown_recipient ("nobody called Mia
    # has ever logged in here"), as direct messages were not (they ask Redis first).
    with olga_behind_a_lagging_events_reader(redis_server) as (c, server, olga, proxy, port):
        register_on_node_0(c, server, "Mia")
        olga.send(LookupRequest("l1", "mia"))
        assert olga.expect(LookupResult, skip=QUIET) == LookupResult("l1", "Mia", "offline")
        olga.send(LookupRequest("l2", "Nobodyhere"))
        assert olga.expect(LookupResult, skip=QUIET) == LookupResult("l2", "Nobodyhere", "unknown")
        rui = WireClient(*c.address(1))
        try:
            rui.send(Hello("h", "Rui", const.PROTOCOL_VERSION, features=(TYPING,)))
            rui.expect(Welcome, skip=QUIET)
            rui.send(Typing("Mia"))  # offline: nothing, not unknown_recipient
            rui.send(Typing("Nobodyhere"))
            refused = rui.expect_error(ErrorCode.UNKNOWN_RECIPIENT, skip=QUIET)
            assert "Nobodyhere" in refused.message, refused
        finally:
            rui.close()
        assert c.call(lambda: "mia" not in server.relay.known), "the test must hold node 1's reader"
        proxy.release_peer(port)


@pytest.mark.timeout_seconds(60)
def test_a_nodes_console_finds_an_account_its_cache_has_not_heard_of(redis_server, loop):  # noqa: F811
    # Mia's account is stored in Redis after the node started, and no event tells the node
    # (as when the registering node died between the two, or its entry is still on its
    # way). Before, /admin Mia answered "Mia has no account" and /password Mia "has no
    # account: there is no password to reset": the console read the node's cache alone.
    with ServerProcess("--cluster", redis_server.url) as node:
        store = open_redis_store(loop, redis_server.url)
        try:
            saved: list = []
            store.save_account("mia", hash_password("Mia", PASSWORD), saved.append, saved.append)
            loop.run_until_complete(store.drain(timeout=10))
            assert saved == [True], saved
        finally:
            store.close()
        node.proc.stdin.write("/admin mia\n/password mia\n")
        node.proc.stdin.flush()
        wait_for(lambda: len(node.console) >= 2, what="the console's two answers")
        assert node.console[0] == "server administrators: Mia\n", node.console
        assert node.console[1].startswith("new password of Mia: "), node.console


@pytest.mark.timeout_seconds(60)
def test_a_nodes_console_does_not_take_its_cache_for_the_truth_when_redis_does_not_answer(
        redis_server, loop):  # noqa: F811
    # Mia's account is in Redis, not in the node's cache (stored after the node started,
    # no event told it), and then Redis stops answering the node. Before, the console asked
    # Redis, got no answer, and answered from its cache: "Mia has no account", which is false.
    with FaultProxy("127.0.0.1", redis_server.port, raw=True) as proxy:
        with ServerProcess("--cluster", f"redis://127.0.0.1:{proxy.port}/0") as node:
            store = open_redis_store(loop, redis_server.url)
            try:
                saved: list = []
                store.save_account("mia", hash_password("Mia", PASSWORD), saved.append, saved.append)
                loop.run_until_complete(store.drain(timeout=10))
                assert saved == [True], saved
            finally:
                store.close()
            proxy.refuse_new = True
            assert proxy.freeze_all() >= 1
            node.proc.stdin.write("/password mia\n/admin mia\n/unregister mia\n")
            node.proc.stdin.flush()
            wait_for(lambda: len(node.console) >= 3, timeout=30, what="the console's three answers")
            for line in node.console:
                assert "has no account" not in line, node.console
                assert line == "whether mia has an account is not known: Redis did not answer; try again shortly\n", \
                    node.console
