"""A chat node on the Redis store (``--cluster``), with real servers and real clients.

- Durability: a node on a Redis that syncs every write (``--appendonly yes
  --appendfsync always``); Alice's messages are answered ``queued``; the node AND Redis
  are killed with SIGKILL mid-stream and restarted: Bob gets every acknowledged message,
  once, in order.
- Redis unreachable: a send is answered ``unavailable`` within the store's timeout, not
  never; Redis back: the next send is accepted.
- Start-up: the warning about a Redis that cannot keep "accepted"; a Redis that cannot
  be reached, or a bad URL, is one clear line, not a traceback.

Loopback only; every wait has a deadline.
"""

from __future__ import annotations

import time

import pytest
from redisserver import RedisServer, redis_server  # noqa: F401  (a fixture)

from protocol import (Accepted, DirectMessage, ErrorCode, ErrorReply, Ping, SendDirect, UserJoined,
                      UserLeft)
from crashstream import assert_every_acknowledged_once_in_order, keep_late_answers, send_until_queued, what_bob_finds
from logins import leave
from server import ServerConfig, ServerThread
from servers import ServerProcess, assert_one_line_error, run_chatserver
from waits import wait_until
from wire import WireClient

NOTICES = (UserJoined, UserLeft)
WAITING = (UserJoined, UserLeft, Ping)  # a wait of seconds may see a heartbeat
FAST = ("--rate-per-connection", "1000000", "--rate-per-address", "1000000")
N_MESSAGES = 150
WINDOW = 20


@pytest.mark.timeout_seconds(120)
@pytest.mark.parametrize("kill_after", [1, 70])
def test_a_node_and_redis_killed_mid_stream_lose_no_acknowledged_message_and_duplicate_none(tmp_path, kill_after):
    redis = RedisServer(tmp_path / "redis", appendfsync="always").start()
    try:
        with ServerProcess("--cluster", redis.url, *FAST) as first:
            assert "syncs every write" in "".join(first.lines)
            with WireClient.login("127.0.0.1", first.port, "Alice") as alice:
                with WireClient.login("127.0.0.1", first.port, "Bob") as bob:
                    leave(bob)
                assert alice.expect(UserLeft, skip=(UserJoined,)).name == "Bob"
                acked, sent = send_until_queued(alice, "Bob", kill_after, N_MESSAGES, WINDOW)
                first.kill()  # at once: requests are still on their way in
                redis.kill()  # and Redis with them: only its append-only file is left
                keep_late_answers(alice, acked)
            assert first.proc.returncode == -9
        assert kill_after <= len(acked) <= sent

        redis.start()
        with ServerProcess("--cluster", redis.url, *FAST) as second:
            with WireClient.login("127.0.0.1", second.port, "Bob") as bob:
                found = what_bob_finds(bob, acked.values(), quiet=1.0)
                leave(bob)
        assert_every_acknowledged_once_in_order(found, acked)
    finally:
        redis.stop()


def test_redis_unreachable_a_send_is_answered_unavailable_in_time_and_accepted_once_it_is_back(tmp_path):
    # With its append-only file, as it must run: a Redis that came back empty would
    # number messages from 1 again.
    with RedisServer(tmp_path / "redis", appendfsync="always") as redis_server, \
            ServerThread(ServerConfig(host="127.0.0.1", port=0, cluster_url=redis_server.url)) as server:
        store = server.server.store
        with WireClient.login(server.host, server.port, "Alice") as alice, \
                WireClient.login(server.host, server.port, "Bob") as bob:
            alice.send(SendDirect("m1", "Bob", "before"))
            assert alice.expect(Accepted, skip=NOTICES).request_id == "m1"
            assert bob.expect(DirectMessage, skip=NOTICES).text == "before"
            redis_server.kill()
            started = time.monotonic()
            alice.send(SendDirect("m2", "Bob", "while Redis is away"))
            error = alice.expect(ErrorReply, skip=WAITING, timeout=store.timeout + 5)
            took = time.monotonic() - started
            assert (error.code, error.request_id) == (ErrorCode.UNAVAILABLE, "m2")
            assert took < store.timeout + 2.0, f"answered after {took:.1f} s"
            redis_server.start()
            # Written again first, as a client does: the conversation keeps its order
            # (server/sendorder.py), so m3 alone would wait for it.
            alice.send(SendDirect("m2", "Bob", "while Redis is away"))
            alice.send(SendDirect("m3", "Bob", "Redis is back"))
            accepted = [alice.expect(Accepted, skip=WAITING, timeout=store.timeout + 5).request_id for _ in range(2)]
            assert accepted == ["m2", "m3"]
            assert [bob.expect(DirectMessage, skip=WAITING).text for _ in range(2)] == \
                ["while Redis is away", "Redis is back"]


def test_a_node_on_a_redis_without_an_append_only_file_warns_what_can_be_lost(redis_server):
    with ServerProcess("--cluster", redis_server.url) as node:
        wait_until(lambda: "since its last snapshot" in "".join(node.lines), what="the warning")
        assert "appendonly no" in "".join(node.lines)


def test_a_node_that_cannot_reach_redis_says_so_in_one_line(redis_server):
    url = redis_server.url
    redis_server.kill()
    assert_one_line_error(run_chatserver("--cluster", url), "cannot reach Redis", url)


def test_a_bad_cluster_url_is_refused_before_anything_starts():
    result = run_chatserver("--cluster", "http://127.0.0.1:6379/0")
    assert result.returncode == 2 and "--cluster" in result.stderr and "Traceback" not in result.stderr
    result = run_chatserver("--cluster", "redis://127.0.0.1:6379/0", "--memory")
    assert result.returncode == 2 and "exclude each other" in result.stderr
