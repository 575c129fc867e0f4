"""The server's figures for Prometheus at GET /metrics on the web port (issue 10).

Unit tests of the rendering (exact text for known counts) and of the allow list; then a
real server on loopback: a message moves the counts, and an address outside the allow
list gets 403.
"""

from __future__ import annotations

import http.client
import re
import subprocess
import sys
from pathlib import Path

from protocol import (Accepted, Delivered, DirectMessage, ErrorReply, JoinRoom, OutcomeAck, Receipt, RoomInfo, RoomPost,
                      SendDirect, SendToRoom, UserJoined)
from server.background import ServerThread
from server.config import ServerConfig
from server.metrics import Histogram, Metrics, metrics_allowed, parse_allow_list
from wire import WireClient

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = """\
# HELP chat_connections_total Connections accepted since the server started.
# TYPE chat_connections_total counter
chat_connections_total 3
# HELP chat_logins_total Logins accepted (welcome sent).
# TYPE chat_logins_total counter
chat_logins_total 2
# HELP chat_logins_refused_total Logins refused (hello answered with an error).
# TYPE chat_logins_refused_total counter
chat_logins_refused_total 1
# HELP chat_messages_total Messages by kind (direct, room) and outcome.
# TYPE chat_messages_total counter
chat_messages_total{kind="direct",outcome="accepted"} 5
chat_messages_total{kind="direct",outcome="queued"} 1
chat_messages_total{kind="direct",outcome="delivered"} 4
chat_messages_total{kind="direct",outcome="expired"} 0
chat_messages_total{kind="direct",outcome="refused"} 2
chat_messages_total{kind="direct",outcome="unavailable"} 0
chat_messages_total{kind="direct",outcome="rate_limited"} 0
chat_messages_total{kind="room",outcome="sent"} 7
chat_messages_total{kind="room",outcome="unavailable"} 0
chat_messages_total{kind="room",outcome="rate_limited"} 0
# HELP chat_store_errors_total Store operations that failed (nothing of them was done).
# TYPE chat_store_errors_total counter
chat_store_errors_total 0
# HELP chat_connections Connections open now (chat port and WebSocket), logged in or not.
# TYPE chat_connections gauge
chat_connections 2
# HELP chat_messages_in_flight Direct messages forwarded and awaiting the recipient's receipt.
# TYPE chat_messages_in_flight gauge
chat_messages_in_flight 1
# HELP chat_store_commit_seconds Time to commit a transaction to disk (durable store).
# TYPE chat_store_commit_seconds histogram
chat_store_commit_seconds_bucket{le="0.001"} 1
chat_store_commit_seconds_bucket{le="0.01"} 2
chat_store_commit_seconds_bucket{le="+Inf"} 3
chat_store_commit_seconds_sum 0.5045
chat_store_commit_seconds_count 3
"""


def test_the_figures_are_rendered_in_the_prometheus_text_format():
    metrics = Metrics()
    metrics.connections, metrics.logins, metrics.logins_refused = 3, 2, 1
    metrics.direct_accepted, metrics.direct_queued, metrics.direct_delivered, metrics.direct_refused = 5, 1, 4, 2
    metrics.room_sent = 7
    metrics.store_commit = Histogram([0.01, 0.001])  # bounds are sorted
    for seconds in (0.0005, 0.004, 0.5):
        metrics.store_commit.observe(seconds)
    assert metrics.render({"chat_connections": 2, "chat_messages_in_flight": 1}) == EXPECTED


def test_the_redis_round_trip_is_shown_once_a_client_feeds_it():
    metrics = Metrics()
    assert "redis" not in metrics.render({})
    histogram = metrics.track_redis()
    assert metrics.track_redis() is histogram
    histogram.observe(0.0002)
    text = metrics.render({})
    assert '# TYPE chat_redis_round_trip_seconds histogram' in text
    assert 'chat_redis_round_trip_seconds_bucket{le="0.0001"} 0' in text
    assert 'chat_redis_round_trip_seconds_bucket{le="0.00025"} 1' in text
    assert "chat_redis_round_trip_seconds_count 1" in text


def test_the_allow_list_takes_addresses_and_cidr_blocks():
    allowed = parse_allow_list(["127.0.0.1", "::1", "10.1.0.0/16"])
    assert metrics_allowed("127.0.0.1", allowed) and metrics_allowed("::1", allowed)
    assert metrics_allowed("10.1.200.3", allowed) and not metrics_allowed("10.2.0.1", allowed)
    assert metrics_allowed("::ffff:10.1.0.9", allowed)  # IPv4 through a dual-stack listener
    assert not metrics_allowed("127.0.0.2", allowed) and not metrics_allowed("not an address", allowed)
    try:
        parse_allow_list(["10.0.0.0/8", "localhost"])
    except ValueError as exc:
        assert "'localhost'" in str(exc)
    else:
        raise AssertionError("a name is not an address")


def _get(host: str, port: int, path: str = "/metrics") -> tuple[int, str, str]:
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read().decode("utf-8")
    finally:
        connection.close()


def _sample(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, (name, text)
    return float(match.group(1))


def test_a_message_moves_the_counts_a_scrape_reads(tmp_path):
    config = ServerConfig(host="127.0.0.1", port=0, web_port=0, data_dir=tmp_path)  # durable: commits are timed
    with ServerThread(config) as server:
        web_host, web_port = server.server.web_address
        status, content_type, before = _get(web_host, web_port)
        assert status == 200 and content_type == "text/plain; version=0.0.4; charset=utf-8"
        assert _sample(before, "chat_logins_total") == 0
        with WireClient.login(server.host, server.port, "Alice") as alice, \
                WireClient.login(server.host, server.port, "Bob") as bob:
            alice.send(SendDirect("m1", "Bob", "hello"))
            accepted = alice.expect(Accepted, skip=(UserJoined,))
            message = bob.expect(DirectMessage, skip=(UserJoined,))
            bob.send(Receipt(message.msg_id))
            alice.expect(Delivered)
            alice.send(OutcomeAck(accepted.msg_id))
            alice.send(SendDirect("m2", "Fulano", "hello?"))
            alice.expect_error("unknown_recipient", skip=(UserJoined,))
            _, _, after = _get(web_host, web_port)
        assert _sample(after, "chat_logins_total") == 2
        assert _sample(after, "chat_connections_total") == 2
        assert _sample(after, "chat_connections") == 2
        assert _sample(after, "chat_users_online") == 2
        assert _sample(after, 'chat_messages_total{kind="direct",outcome="accepted"}') == 1
        assert _sample(after, 'chat_messages_total{kind="direct",outcome="delivered"}') == 1
        assert _sample(after, 'chat_messages_total{kind="direct",outcome="refused"}') == 1
        assert _sample(after, "chat_messages_in_flight") == 0
        assert _sample(after, "chat_store_commit_seconds_count") >= 1  # the message, its receipt...
        assert _sample(after, "chat_store_errors_total") == 0


def test_posts_to_a_named_room_are_counted_as_the_default_rooms_are():
    # kind="room": a new post to #redes is "sent" (a resend is not counted again), and one
    # refused by the rate limit is "rate_limited", as for the default room (PROTOCOL.md).
    config = ServerConfig(host="127.0.0.1", port=0, web_port=0, rate_per_connection=0.01, burst_per_connection=3)
    with ServerThread(config) as server:
        web_host, web_port = server.server.web_address
        with WireClient.login(server.host, server.port, "Alice") as alice:
            alice.send(JoinRoom("j", "#redes", create=True))
            alice.expect(RoomInfo, skip=(UserJoined,))
            for request_id in ("p1", "p1"):  # the second is a resend
                alice.send(SendToRoom(request_id, "#redes", "counted"))
                alice.expect(Accepted, skip=(UserJoined, RoomPost))
            alice.send(SendToRoom("p2", "#redes", "over the limit"))
            assert alice.expect(ErrorReply, skip=(UserJoined, RoomPost)).code == "rate_limited"
            _, _, after = _get(web_host, web_port)
        assert _sample(after, 'chat_messages_total{kind="room",outcome="sent"}') == 1
        assert _sample(after, 'chat_messages_total{kind="room",outcome="rate_limited"}') == 1


def test_an_address_outside_the_allow_list_gets_403():
    config = ServerConfig(host="127.0.0.1", port=0, web_port=0, metrics_allow=("10.0.0.0/8", "::1"))
    with ServerThread(config) as server:
        web_host, web_port = server.server.web_address
        status, _, body = _get(web_host, web_port)
        assert status == 403 and "chat_" not in body
        assert _get(web_host, web_port, "/")[0] == 200  # the page itself is for everyone


def test_the_allow_list_comes_from_the_command_line():
    import chatserver

    args = chatserver.parse_args(["--metrics-allow", "10.0.0.0/8, ::1"])
    assert chatserver.config_from(args).metrics_allow == ("10.0.0.0/8", "::1")
    assert chatserver.config_from(chatserver.parse_args([])).metrics_allow == ("127.0.0.1", "::1")
    done = subprocess.run([sys.executable, "chatserver.py", "--metrics-allow", "10.0.0.0/8,intranet"], cwd=ROOT,
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "--metrics-allow: 'intranet' is not an IP address" in done.stderr
