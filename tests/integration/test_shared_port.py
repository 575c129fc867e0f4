"""``--port 0`` on every address: the IPv4 and IPv6 sockets share the one port the first
(IPv4) socket is given, and when another program holds that port on IPv6 the server
tries again (server/listener.py bind_sockets, SAME_PORT_TRIES). The collision is forced:
the system's "every address" is the two loopbacks (as test_ipv6.py does: no test listens
on a network), and the IPv4 socket's first binds to port 0 are given the port a listening
IPv6 socket of the test holds. Real sockets on 127.0.0.1 and ::1; every wait is bounded.
"""

from __future__ import annotations

import errno
import logging
import socket

import pytest

from client import ChatClient
from server import ServerConfig, ServerThread
import chatserver
from server.listener import SAME_PORT_TRIES, bind_sockets, listen_on

TIMEOUT = 10.0


@pytest.fixture
def rigged(monkeypatch):
    """(held port, binds): "every address" is 127.0.0.1 and ::1; a test's IPv6 socket
    listens on ::1 at the held port; the first ``binds["left"]`` IPv4 binds at port 0 bind
    at the held port instead (free on IPv4: as the system may give it); ``binds["tried"]``
    lists the port of each IPv4 bind, ``binds["made"]`` every socket made."""
    system_getaddrinfo = socket.getaddrinfo
    system_socket = socket.socket

    def two_loopbacks(host, port, *args, **kwargs):
        if host is not None:
            return system_getaddrinfo(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
                (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0))]

    holder = system_socket(socket.AF_INET6, socket.SOCK_STREAM)
    holder.bind(("::1", 0))
    holder.listen(1)
    held = holder.getsockname()[1]
    binds = {"left": 0, "tried": [], "made": []}

    class Rigged(system_socket):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            binds["made"].append(self)

        def bind(self, address):
            if self.family == socket.AF_INET and address[1] == 0 and binds["left"] > 0:
                binds["left"] -= 1
                address = (address[0], held)
            if self.family == socket.AF_INET:
                binds["tried"].append(address[1])
            super().bind(address)

    monkeypatch.setattr(socket, "getaddrinfo", two_loopbacks)
    monkeypatch.setattr(socket, "socket", Rigged)
    try:
        yield held, binds
    finally:
        holder.close()


def test_a_port_taken_on_ipv6_is_given_up_for_another_free_on_both(rigged, caplog) -> None:
    """The IPv4 socket got a port another program holds on ::1: the server binds both again
    at another port, says that one, and clients of both families reach it there."""
    held, binds = rigged
    binds["left"] = 2
    caplog.set_level(logging.INFO)
    with ServerThread(ServerConfig(host="", port=0)) as srv:
        port = srv.port
        assert binds["tried"][:2] == [held, held] and port != held
        for name, host in (("João", "127.0.0.1"), ("Conceição", "::1")):
            client = ChatClient(name, host, port)
            client.connect(timeout=TIMEOUT)
            client.close()
    assert f"listening on 127.0.0.1:{port} and [::1]:{port}\n" in caplog.text


def test_a_port_taken_at_every_try_is_an_error_and_leaves_nothing_open(rigged) -> None:
    """Every try collides: the system's error (the port in use), after SAME_PORT_TRIES
    tries, and none of the sockets made stays open."""
    held, binds = rigged
    binds["left"] = SAME_PORT_TRIES
    with pytest.raises(OSError) as raised:
        bind_sockets("", 0)
    assert raised.value.errno == errno.EADDRINUSE
    assert binds["tried"] == [held] * SAME_PORT_TRIES
    assert binds["made"] and all(sock.fileno() == -1 for sock in binds["made"])


def test_a_port_asked_for_is_not_tried_again(rigged) -> None:
    """With a port given (not 0) a collision is the answer at once: the operator asked for
    that port, and another would not be where the clients look."""
    held, binds = rigged
    with pytest.raises(OSError) as raised:
        bind_sockets("", held)
    assert raised.value.errno == errno.EADDRINUSE
    assert binds["tried"] == [held]
    assert all(sock.fileno() == -1 for sock in binds["made"])


# --- The port --workers N chooses for its workers (chatserver.py hold_free_port) -----------


def test_the_port_chosen_for_workers_is_free_on_every_address(rigged) -> None:
    """``--workers N --host "" --port 0``: the port the command chose, free on IPv4, was
    taken on IPv6, and every worker failed "address in use". Chosen as a server chooses
    its own: free on both."""
    held, binds = rigged
    binds["left"] = 1
    port, sockets = chatserver.hold_free_port("")
    try:
        assert binds["tried"][0] == held and port != held
        assert {sock.family for sock in sockets} == {socket.AF_INET, socket.AF_INET6}
    finally:
        for sock in sockets:
            sock.close()


def test_the_port_chosen_for_workers_is_held_until_they_listen_on_it() -> None:
    """Closed once chosen, the port was anyone's until the first worker bound it (another
    program's outgoing connection could take it). Held: nobody else binds it, a worker
    does (SO_REUSEPORT) and gets the connections."""
    port, sockets = chatserver.hold_free_port("127.0.0.1")
    other = socket.socket()
    try:
        with pytest.raises(OSError) as raised:
            other.bind(("127.0.0.1", port))
        assert raised.value.errno == errno.EADDRINUSE
        worker = listen_on(bind_sockets("127.0.0.1", port, reuse_port=True), 8)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT):
                worker[0].settimeout(TIMEOUT)
                worker[0].accept()[0].close()
        finally:
            for sock in worker:
                sock.close()
    finally:
        other.close()
        for sock in sockets:
            sock.close()
