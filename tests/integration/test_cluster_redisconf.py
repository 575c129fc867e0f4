"""A Redis that an operator set up otherwise than docs/cluster.md says, with real
``chatserver.py --cluster`` processes on a real ``redis-server`` (loopback, free ports).

- An evicting ``maxmemory-policy`` (``allkeys-*``): the node refuses to start, in one
  line; a ``volatile-*`` one: it starts and warns; ``CONFIG`` renamed away: it starts and
  says it cannot check (server/cluster/checks.py says why each).
- Passwords and ACL users: a wrong one, or none where one is needed, is a one-line
  refusal; an ACL user (``redis://user:pw@...``) is served, and one without ``+config``
  is warned about and served. A read-only replica is a one-line refusal.
- Redis restarted without its data (``appendonly no``): the nodes give out message ids
  above those they had seen, so a message after the restart is not taken for one
  already delivered (and dropped); one sent before the recipient's node claimed his name
  again (stored queued) reaches him once it has; the cluster's version is written again,
  so that a node started afterwards joins.

Every wait has a deadline.
"""

from __future__ import annotations

import asyncio

import pytest
from redisserver import RedisServer

from protocol import Accepted, DirectMessage, Ping, Queued, SendDirect, UserJoined, UserLeft
from resp import RedisClient
from servers import ServerProcess, assert_one_line_error, run_chatserver
from waits import wait_until
from wire import WireClient

WAITING = (UserJoined, UserLeft, Ping)


def url_in_settings(monkeypatch, tmp_path, url: str) -> None:
    """``url`` as CLUSTER_URL in a settings file the servers started next read, as
    docs/privacy.md says a password belongs (on the command line it is warned about)."""
    settings = tmp_path / "const_local.py"
    settings.write_text(f"CLUSTER_URL = {url!r}\n")
    monkeypatch.setenv("CHAT_CONST_LOCAL", str(settings))


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-random"])
def test_a_redis_that_evicts_any_key_is_refused_at_start_in_one_line(tmp_path, policy):
    args = ["--maxmemory", "100mb", "--maxmemory-policy", policy]
    with RedisServer(tmp_path / "redis", appendfsync="always", extra_args=args) as redis:
        result = run_chatserver("--quiet", "--cluster", redis.url)
    assert_one_line_error(result, "cannot start", policy, "noeviction")


def test_a_redis_that_evicts_keys_with_a_ttl_is_warned_about_and_served(tmp_path):
    args = ["--maxmemory", "100mb", "--maxmemory-policy", "volatile-lru"]
    with RedisServer(tmp_path / "redis", appendfsync="always", extra_args=args) as redis, \
            ServerProcess("--cluster", redis.url) as node:
        with WireClient.login("127.0.0.1", node.port, "Alice"):
            pass
        said = "".join(node.lines)
    assert "WARNING" in said and "maxmemory-policy volatile-lru" in said and "noeviction" in said


def test_a_redis_with_a_memory_limit_and_noeviction_is_said_and_served(tmp_path):
    args = ["--maxmemory", "100mb", "--maxmemory-policy", "noeviction"]
    with RedisServer(tmp_path / "redis", appendfsync="always", extra_args=args) as redis, \
            ServerProcess("--cluster", redis.url) as node:
        with WireClient.login("127.0.0.1", node.port, "Alice"):
            pass
        said = "".join(node.lines)
    assert "refuses writes beyond maxmemory" in said
    assert "WARNING" not in said, said


def test_settings_weakened_while_the_nodes_run_are_logged_once_each(tmp_path, monkeypatch):
    """What the start checked can be changed under a running node (CONFIG SET): it reads
    them again (const.CLUSTER_SETTINGS_RECHECK, short here) and says each change once."""
    settings = tmp_path / "const_local.py"
    settings.write_text("CLUSTER_SETTINGS_RECHECK = 0.2\n")
    monkeypatch.setenv("CHAT_CONST_LOCAL", str(settings))

    def config_set(url: str, *pairs: str) -> None:
        async def run() -> None:
            async with RedisClient(url) as redis:  # a pair a command: Redis 6 sets one at a time
                commands = [("CONFIG", "SET", *pairs[i:i + 2]) for i in range(0, len(pairs), 2)]
                assert await redis.pipeline(commands) == ["OK"] * len(commands)
        asyncio.run(run())

    with RedisServer(tmp_path / "redis", appendfsync="always") as redis, \
            ServerProcess("--cluster", redis.url) as node:
        config_set(redis.url, "appendfsync", "everysec")
        wait_until(lambda: any("settings changed" in line and "about the last second" in line
                               for line in node.lines), what="the weaker sync said")
        config_set(redis.url, "maxmemory", "100mb", "maxmemory-policy", "allkeys-lru")
        wait_until(lambda: any("ERROR" in line and "allkeys-lru" in line for line in node.lines),
                   what="the evicting policy said")
        config_set(redis.url, "appendfsync", "always")
        wait_until(lambda: any("syncs every write before answering again" in line for line in node.lines),
                   what="the sync's return said")
        with WireClient.login("127.0.0.1", node.port, "Alice"):  # it serves all along
            pass
        said = node.lines[:]
    assert len([line for line in said if "about the last second" in line]) == 1, said  # once, not each reading
    assert "Traceback" not in "".join(said)


def test_a_redis_whose_config_command_is_renamed_away_is_said_once_and_served(tmp_path):
    with RedisServer(tmp_path / "redis", appendfsync="always",
                     extra_args=["--rename-command", "CONFIG", ""]) as redis, \
            ServerProcess("--cluster", redis.url) as node:
        with WireClient.login("127.0.0.1", node.port, "Alice"):
            pass
        said = node.lines[:]
    assert len([line for line in said if "cannot read Redis's maxmemory-policy" in line]) == 1, said
    assert "Traceback" not in "".join(said)


def test_a_wrong_or_missing_password_is_a_one_line_refusal(tmp_path, monkeypatch):
    with RedisServer(tmp_path / "redis", password="right", appendfsync="always") as redis:
        url_in_settings(monkeypatch, tmp_path, redis.url.replace(":right@", ":wrong@"))
        assert_one_line_error(run_chatserver("--quiet"), "cannot start", "WRONGPASS")
        missing = redis.url.replace(":right@", "")
        assert_one_line_error(run_chatserver("--quiet", "--cluster", missing), "cannot start", str(redis.port))


def test_an_acl_user_is_served_and_one_without_config_is_warned_about(tmp_path, monkeypatch):
    users = ["alice on >pw1 ~* &* +@all", "bea on >pw2 ~* &* +@all -config"]
    with RedisServer(tmp_path / "redis", appendfsync="always",
                     extra_args=[arg for user in users for arg in ("--user", *user.split())]) as redis:
        base = redis.url.removeprefix("redis://")
        url_in_settings(monkeypatch, tmp_path, f"redis://alice:pw1@{base}")
        with ServerProcess() as node:
            with WireClient.login("127.0.0.1", node.port, "Alice"):
                pass
            assert "WARNING" not in "".join(node.lines)
        url_in_settings(monkeypatch, tmp_path, f"redis://bea:pw2@{base}")
        with ServerProcess() as node:
            with WireClient.login("127.0.0.1", node.port, "Bea"):
                pass
            said = "".join(node.lines)
            assert "cannot read Redis's appendonly setting (NOPERM" in said
            assert "cannot read Redis's maxmemory-policy" in said and "NOPERM" in said


def test_a_missing_password_is_said_with_where_it_goes(tmp_path):
    # The store's first command used to be the scripts' long SCRIPT LOAD, which a Redis
    # that wants a password answers only "Protocol error: unauthenticated bulk length".
    with RedisServer(tmp_path / "redis", password="right", appendfsync="always") as redis:
        for db in ("0", "3"):  # (SELECT first, or not)
            missing = redis.url.replace(":right@", "").removesuffix("/0") + "/" + db
            line = assert_one_line_error(run_chatserver("--quiet", "--cluster", missing), "cannot start",
                                         "wants a password", "redis://:PASSWORD@host:port/db", "CLUSTER_URL")
            assert "right" not in line and "Protocol error" not in line


def test_a_read_only_replica_is_a_one_line_refusal(tmp_path):
    with RedisServer(tmp_path / "redis", appendfsync="always", extra_args=["--replicaof", "127.0.0.1", "1"]) as redis:
        assert_one_line_error(run_chatserver("--quiet", "--cluster", redis.url), "cannot start",
                              "is a replica (of 127.0.0.1:1)", "give the primary's address")


def test_a_replica_that_hides_its_role_is_still_named_a_replica(tmp_path, monkeypatch):
    # An ACL user without @admin may not run ROLE: the upgrade's READONLY says it instead.
    users = ["default off", "carl on >pw ~* &* +@all -@admin"]
    args = ["--replicaof", "127.0.0.1", "1"] + [arg for user in users for arg in ("--user", *user.split())]
    with RedisServer(tmp_path / "redis", appendfsync="always", extra_args=args) as redis:
        url_in_settings(monkeypatch, tmp_path, f"redis://carl:pw@{redis.url.removeprefix('redis://')}")
        assert_one_line_error(run_chatserver("--quiet"), "cannot start",
                              "is a read-only replica", "give the primary's address")


def test_after_redis_lost_its_data_new_messages_get_new_ids_and_are_delivered(tmp_path):
    redis = RedisServer(tmp_path / "redis").start()  # appendonly no: a restart loses everything
    try:
        with ServerProcess("--cluster", redis.url) as first, ServerProcess("--cluster", redis.url) as second:
            with WireClient.login("127.0.0.1", first.port, "Alice") as alice, \
                    WireClient.login("127.0.0.1", second.port, "Bob") as bob:
                while alice.expect(UserJoined, skip=(Ping,)).name != "Bob":  # until the first node knows where he is
                    pass
                before = []
                for i in range(3):
                    alice.send(SendDirect(f"b{i}", "Bob", f"before {i}"))
                    before.append(alice.expect(Accepted, skip=WAITING).msg_id)
                    assert bob.expect(DirectMessage, skip=WAITING).text == f"before {i}"
                redis.kill()
                redis.start()  # empty
                for node in (first, second):
                    wait_until(lambda node=node: "joining again" in "".join(node.lines), what="the rejoin")
                wait_until(lambda: any("lost its data" in line and f"ids go on from {max(before) + 1}" in line
                                       for line in first.lines + second.lines), what="the ids set right")
                alice.send(SendDirect("a0", "Bob", "after the restart"))
                # (Bob sends no receipts: his leave and join at the rejoin told Alice her
                # earlier messages are queued, which may come first. Hers is queued too if
                # Bob's node has not claimed his name again yet: it comes when it has.)
                while (answer := alice.expect((Accepted, Queued), skip=WAITING, timeout=10)).request_id != "a0":
                    assert answer.request_id in ("b0", "b1", "b2")
                after = answer.msg_id
                assert after > max(before)
                assert bob.expect(DirectMessage, skip=WAITING, timeout=10).text == "after the restart"
                # A node started now joins them: the cluster's version, lost with the data,
                # was written again by the nodes that rejoined (unwritten, with nodes alive,
                # it reads as nodes of an older version still running: a start refused).
                with ServerProcess("--cluster", redis.url) as third, \
                        WireClient.login("127.0.0.1", third.port, "Carol") as carol:
                    carol.send(SendDirect("c0", "Bob", "from a node started after the loss"))
                    assert carol.expect((Accepted, Queued), skip=WAITING, timeout=10).request_id == "c0"
    finally:
        redis.stop()
