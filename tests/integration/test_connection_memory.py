"""What a connection leaves behind once it is gone: nothing for the garbage collector.

The real server tames the collector (server/app.py, ``_tame_gc``): objects freed by
reference counting go at once, but cycles wait for a full collection, which under steady
traffic runs only every ``_FULL_GC_LATEST`` seconds (30 minutes). asyncio's socket
transport is such a cycle once its connection is lost (``_read_ready_cb``, a bound method
of its own), so every login and logout left one: the transport, its extra-info dict, its
socket objects. A soak of 30 students saw the server's memory grow in a straight line,
130 kB a minute (report s21/t1, item 8). The session breaks that cycle in
``connection_lost`` (session.unlink_own_callbacks), for chat and web connections alike.
Over TLS, asyncio's TLS transport and protocol keep the session itself in a cycle, and
the socket transport beneath them its own (session.unlink_tls, report s22).

These tests turn the collector off, log sessions in and out of a real server on
127.0.0.1, and count the transports still in memory once every session object is gone:
with the collector off, a transport kept only by its own cycle is still counted.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import gc
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

from logins import leave, login
from servers import server_config
from server import ServerThread
from server.session import ClientSession
from test_tls import make_certificate
from waits import wait_until

SESSIONS = 20


def count(kind: type) -> int:
    """How many objects of ``kind`` the collector tracks (with it off: reachable or not)."""
    return sum(1 for thing in gc.get_objects() if isinstance(thing, kind))


@contextmanager
def collector_off() -> Iterator[None]:
    """No collection while the block runs: a cycle made meanwhile stays countable."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


def cyclic_garbage() -> list[str]:
    """The types of the connection objects (asyncio's, ssl's, the server's) that only the
    collector would free now: it runs once, keeping what it finds to be looked at."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        return sorted(f"{kind.__module__}.{kind.__qualname__}" for kind in map(type, gc.garbage)
                      if kind.__module__.split(".")[0] in ("asyncio", "ssl", "_ssl", "server", "protocol"))
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def settled(before_sessions: int, before_transports: int) -> None:
    """Wait until every session object of the test is freed (the server keeps a closed one
    up to CLOSE_GRACE for its last frames), then until its transports are: a transport
    still counted then is kept by nothing but a cycle."""
    wait_until(lambda: count(ClientSession) <= before_sessions, 10, "the sessions to be freed")
    wait_until(lambda: count(asyncio.BaseTransport) <= before_transports, 3,
               f"the transports to be freed ({count(asyncio.BaseTransport) - before_transports} left)")


def test_logins_and_logouts_leave_no_transport_for_the_collector() -> None:
    with ServerThread(server_config()) as server:
        leave(login(server, "warm"))  # the first login's one-off objects (caches, lookups)
        with collector_off():
            sessions, transports = count(ClientSession), count(asyncio.BaseTransport)
            for i in range(SESSIONS):
                leave(login(server, f"user{i % 5}"))  # names come and go, as in a class
            settled(sessions, transports)


def test_vanished_clients_leave_no_transport_for_the_collector() -> None:
    # The client closes its socket without a goodbye (a closed laptop): the server sees
    # the end of the stream, not a request to leave.
    with ServerThread(server_config()) as server:
        leave(login(server, "warm"))
        with collector_off():
            sessions, transports = count(ClientSession), count(asyncio.BaseTransport)
            for i in range(SESSIONS):
                login(server, f"gone{i}").close()
            wait_until(lambda: server.call(lambda: len(server.server.relay.sessions)) == 0, 10,
                       "the server to see every client gone")
            settled(sessions, transports)


def test_web_page_connections_leave_no_transport_for_the_collector() -> None:
    # A page load is a web connection that never becomes a chat session (WebSession's own
    # connection_lost path).
    with ServerThread(server_config(web_port=0)) as server:
        host, port = server.server.web_address

        def fetch() -> None:
            with socket.create_connection((host, port), timeout=10) as sock:
                sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
                while sock.recv(65536):
                    pass

        fetch()
        with collector_off():
            sessions, transports = count(ClientSession), count(asyncio.BaseTransport)
            for _ in range(SESSIONS):
                fetch()
            settled(sessions, transports)


def assert_tls_connections_leave_nothing(connect) -> None:
    """``connect()`` SESSIONS times with the collector off: then as many sessions, transports
    and TLS protocols as before (settled), and no cycle of theirs left for the collector."""
    with collector_off():
        sessions, transports = count(ClientSession), count(asyncio.BaseTransport)
        protocols = count(asyncio.sslproto.SSLProtocol)
        for _ in range(SESSIONS):
            connect()
        settled(sessions, transports)
        assert count(asyncio.sslproto.SSLProtocol) <= protocols
        assert cyclic_garbage() == []  # nothing else of theirs either


def test_tls_connections_leave_nothing_for_the_collector(tmp_path) -> None:
    # Over TLS the session's transport is asyncio's SSL transport over a socket transport,
    # with asyncio's SSLProtocol between them: their own cycle, beside the socket
    # transport's (about 23 objects a connection, report s22).
    cert, key = make_certificate(tmp_path)
    trusting = ssl.create_default_context(cafile=str(cert))
    with ServerThread(server_config(tls_cert=cert, tls_key=key)) as server:
        leave(login(server, "warm", tls=trusting))
        login(server, "gone", tls=trusting).close()  # the vanished client's path too
        with collector_off():
            sessions, transports = count(ClientSession), count(asyncio.BaseTransport)
            protocols = count(asyncio.sslproto.SSLProtocol)
            for i in range(SESSIONS):
                client = login(server, f"user{i % 5}", tls=trusting)
                leave(client) if i % 2 else client.close()  # a goodbye, or a closed laptop
            wait_until(lambda: server.call(lambda: len(server.server.relay.sessions)) == 0, 10,
                       "the server to see every client gone")
            settled(sessions, transports)
            assert count(asyncio.sslproto.SSLProtocol) <= protocols
            assert cyclic_garbage() == []  # nothing else of theirs either


def test_tls_web_page_connections_leave_nothing_for_the_collector(tmp_path) -> None:
    # The web port over TLS: a page load (WebSession's own connection_lost path).
    cert, key = make_certificate(tmp_path)
    trusting = ssl.create_default_context(cafile=str(cert))
    with ServerThread(server_config(web_port=0, tls_cert=cert, tls_key=key)) as server:
        host, port = server.server.web_address

        def fetch() -> None:
            with socket.create_connection((host, port), timeout=10) as raw, \
                    trusting.wrap_socket(raw, server_hostname=host) as sock:
                sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
                while sock.recv(65536):
                    pass

        fetch()
        assert_tls_connections_leave_nothing(fetch)


def test_failed_tls_handshakes_leave_nothing_for_the_collector(tmp_path) -> None:
    # A client without TLS on the TLS port (a plain hello where a ClientHello belongs): the
    # handshake fails, and the failure (the error, its traceback, asyncio's waiter) held
    # the session made for the connection, both transports and the TLS protocol in a cycle.
    cert, key = make_certificate(tmp_path)
    with ServerThread(server_config(tls_cert=cert, tls_key=key)) as server:

        def plain_hello() -> None:
            with socket.create_connection((server.host, server.port), timeout=10) as sock:
                sock.sendall(b'{"type":"hello","id":"h","name":"plain","version":1}\n')
                try:
                    while sock.recv(65536):
                        pass
                except ConnectionResetError:
                    pass  # refused by a reset: as good as an end

        plain_hello()
        assert_tls_connections_leave_nothing(plain_hello)
