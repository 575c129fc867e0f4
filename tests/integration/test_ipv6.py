"""An IPv6 campus and dual-stack LANs, on the loopback: a server on ::1, on a dual-stack
socket, and the addresses it shows, logs and counts (README.md, "IPv6").

The machines this runs on have the IPv6 loopback (CI's included): a test here fails,
loudly, where ::1 is missing; none is skipped.
"""

from __future__ import annotations

import base64
import http.client
import logging
import os
import socket

import pytest

from client import ChatClient
from client.errors import ServerUnreachable
from client.servers import parse_server
from client.transport import open_socket
from redisserver import RedisServer
from server import ServerConfig, ServerThread
from server.listener import open_sockets
from waits import wait_until

TIMEOUT = 10.0
# A dual-stack socket on the IPv4 loopback alone: IPv4 clients arrive on it as
# ::ffff:127.0.0.1, as they do on "::", without listening on the machine's other networks.
MAPPED_LOOPBACK = "::ffff:127.0.0.1"


def test_the_machine_has_the_ipv6_loopback() -> None:
    """Everything below needs it: said once, plainly, where it is missing."""
    with socket.socket(socket.AF_INET6) as sock:
        sock.bind(("::1", 0))


def test_listening_on_the_ipv6_any_address_takes_ipv4_clients_too() -> None:
    """``--host ::`` is what a teacher on a dual-stack campus writes for "every address"; a
    socket that took IPv6 only left the class's IPv4 laptops with "connection refused".
    Beside an IPv4 socket (no host: every address) the IPv6 one stays IPv6 only, or the
    two would take the same clients (and bind the same port twice)."""
    sockets = open_sockets("::", 0, backlog=1)
    try:
        assert [s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) for s in sockets] == [0]
    finally:
        for sock in sockets:
            sock.close()
    sockets = open_sockets(None, 0, backlog=1)
    try:
        v6 = [s for s in sockets if s.family == socket.AF_INET6]
        assert [s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) for s in v6] == [1] * len(v6)
    finally:
        for sock in sockets:
            sock.close()


def test_an_ipv4_client_of_a_dual_stack_server_is_its_ipv4_address() -> None:
    """Not ``::ffff:127.0.0.1`` in /who and /whois, the log, or the per-address counts."""
    with ServerThread(ServerConfig(host=MAPPED_LOOPBACK, port=0, max_connections_per_address=1)) as srv:
        client = ChatClient("Ana", "127.0.0.1", srv.port)
        client.connect(timeout=TIMEOUT)
        try:
            assert client.lookup("Ana").address == "127.0.0.1"
            assert srv.call(lambda: srv.server.relay.admission.count("127.0.0.1")) == 1
        finally:
            client.close()
        wait_until(lambda: srv.call(lambda: srv.server.relay.admission.total) == 0, timeout=TIMEOUT)
        again = ChatClient("Bia", "127.0.0.1", srv.port)  # the one connection allowed: given back
        again.connect(timeout=TIMEOUT)
        again.close()


def test_metrics_are_open_to_the_ipv4_loopback_through_a_dual_stack_socket() -> None:
    """The default allow list is 127.0.0.1 and ::1; ::ffff:127.0.0.1 is in neither."""
    with ServerThread(ServerConfig(host=MAPPED_LOOPBACK, port=0, web_port=0)) as srv:
        web = http.client.HTTPConnection("127.0.0.1", srv.server.web_address[1], timeout=TIMEOUT)
        web.request("GET", "/metrics")
        response = web.getresponse()
        assert response.status == 200 and b"chat_connections" in response.read()
        web.close()


def test_a_server_on_the_ipv6_loopback_says_where_it_listens_as_urls_write_it(caplog) -> None:
    """It said "listening on ::1:5000" and "web client on http://::1:8080/", which no
    browser opens: http://[::1]:8080/ is the page's address."""
    caplog.set_level(logging.INFO)
    with ServerThread(ServerConfig(host="::1", port=0, web_port=0)) as srv:
        port, web_port = srv.port, srv.server.web_address[1]
    said = caplog.text
    assert f"listening on [::1]:{port}" in said
    assert f"web client on http://[::1]:{web_port}/" in said


def test_a_server_on_every_address_says_every_address_it_listens_on(caplog, monkeypatch) -> None:
    """SERVER_HOST = "" listens on 0.0.0.0 and :: both; the log said "listening on
    0.0.0.0:5000" alone. Here "every address" is the two loopbacks (the tests listen on no
    network), as the system would give 0.0.0.0 and ::. With port 0, both on one port: the
    IPv6 socket had another one, which no client was told."""
    system_getaddrinfo = socket.getaddrinfo

    def two_loopbacks(host, port, *args, **kwargs):
        if host is not None:
            return system_getaddrinfo(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
                (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0))]

    monkeypatch.setattr(socket, "getaddrinfo", two_loopbacks)
    caplog.set_level(logging.INFO)
    with ServerThread(ServerConfig(host="", port=0)) as srv:
        port = srv.port
        for name, host in (("João", "127.0.0.1"), ("Conceição", "::1")):
            client = ChatClient(name, host, port)
            client.connect(timeout=TIMEOUT)
            client.close()
    assert f"listening on 127.0.0.1:{port} and [::1]:{port}\n" in caplog.text
    assert caplog.text.count("listening on") == 1


def test_clients_reach_a_server_on_the_ipv6_loopback_and_see_ipv6_addresses(caplog) -> None:
    """And the log writes where they came from as [::1]:PORT: "login João from ::1:41234"
    read as the address ::1:41234 with no port."""
    caplog.set_level(logging.INFO)
    with ServerThread(ServerConfig(host="::1", port=0)) as srv:
        host, port = parse_server(f"[::1]:{srv.port}")
        joao = ChatClient("João", host, port)
        joao.connect(timeout=TIMEOUT)
        conceicao = ChatClient("Conceição", "::1", srv.port)
        conceicao.connect(timeout=TIMEOUT)
        try:
            assert joao.address == f"[::1]:{srv.port}"
            found = joao.lookup("Conceição")
            assert found.status == "online" and found.address == "::1"
            assert {p.name for p in joao.who()} == {"João", "Conceição"}
            message = joao.send_direct("Conceição", "olá pelo IPv6")
            wait_until(lambda: message.state == "delivered", timeout=TIMEOUT)
        finally:
            joao.close()
            conceicao.close()
        wait_until(lambda: "logout Conceição from [::1]:" in caplog.text, timeout=TIMEOUT)
    assert "login João from [::1]:" in caplog.text


def test_the_page_and_its_websocket_on_the_ipv6_loopback() -> None:
    """What a browser sends for http://[::1]:PORT/: Host and Origin with the address in
    brackets."""
    with ServerThread(ServerConfig(host="::1", port=0, web_port=0)) as srv:
        web_port = srv.server.web_address[1]
        page = http.client.HTTPConnection("::1", web_port, timeout=TIMEOUT)  # Host: [::1]:PORT
        page.request("GET", "/")
        response = page.getresponse()
        assert response.status == 200 and b"<html" in response.read()
        page.close()
        key = base64.b64encode(os.urandom(16)).decode()
        with socket.create_connection(("::1", web_port), timeout=TIMEOUT) as sock:
            sock.sendall((f"GET /ws HTTP/1.1\r\nHost: [::1]:{web_port}\r\nOrigin: http://[::1]:{web_port}\r\n"
                          f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n").encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(4096)
                assert chunk, head
                head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head


@pytest.mark.parametrize("text", ["[::1]:5000", "::1", "[fe80::1%eth0]:5000", "fe80::1%eth0"])
def test_server_addresses_with_ipv6_hosts(text: str) -> None:
    host, port = parse_server(text)
    assert ":" in host and port == 5000


def test_the_client_writes_an_ipv6_server_in_brackets_when_it_cannot_reach_it() -> None:
    """"connection to ::1:5000 refused" read as the server ::1:5000 on the default port."""
    with socket.socket(socket.AF_INET6) as probe:  # a port nobody listens on
        probe.bind(("::1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ServerUnreachable) as refused:
        open_socket("::1", port, TIMEOUT)
    assert f"[::1]:{port}" in str(refused.value)


def test_a_cluster_on_an_ipv6_redis_carries_a_conversation_between_its_nodes(tmp_path) -> None:
    """Two nodes on ::1 sharing redis://[::1]:PORT/0: João on one, Conceição on the other."""
    with RedisServer(tmp_path / "redis", host="::1") as redis:
        assert redis.url.startswith("redis://[::1]:")
        config = ServerConfig(host="::1", port=0, cluster_url=redis.url)
        with ServerThread(config) as one, ServerThread(config) as two:
            joao = ChatClient("João", "::1", one.port)
            joao.connect(timeout=TIMEOUT)
            conceicao = ChatClient("Conceição", "::1", two.port)
            conceicao.connect(timeout=TIMEOUT)
            try:
                found = conceicao.lookup("João")
                assert found.status == "online" and found.address == "::1" and found.node
                message = conceicao.send_direct("João", "olá do outro nó")
                wait_until(lambda: message.state == "delivered", timeout=TIMEOUT)
            finally:
                joao.close()
                conceicao.close()
