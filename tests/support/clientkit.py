"""Starting real client-library clients in tests: ``start(clients, port, name, **options)``,
which is :func:`logins.library_login`; :func:`server_behind_proxy`, the real server with
a tests/support/faultproxy.py in front of it and the clients a test starts, closed after it::

    with server_behind_proxy() as (server, proxy, clients):
        ana = start(clients, proxy.port, "Ana")      # through the proxy, which can cut her
        bruno = start(clients, server.port, "Bruno")  # straight to the server
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from client.library import ChatClient
from faultproxy import FaultProxy
from server import ServerConfig, ServerThread
from logins import LIBRARY_WAIT as WAIT  # noqa: F401  (the old name)
from logins import library_login


def start(clients: list[ChatClient], port: int, name: str, **options: object) -> ChatClient:
    """Connect ``name`` to 127.0.0.1:``port`` (within WAIT s); it is closed with ``clients``."""
    return library_login(clients, port, name, **options)


def posted(client: ChatClient, room: str, text: str, timeout: float = WAIT):
    """Post ``text`` to ``room`` and wait until the server took it (``sent``), so that its
    ``msg_id`` is known: another client can see the post before this one's receiver thread
    has read the answer, and an edit or delete of ``msg_id`` None is refused by the codec."""
    message = client.send_to_room(room, text)
    assert message.wait_done(timeout) and message.state == "sent", message
    return message


class Proxied(NamedTuple):
    """What :func:`server_behind_proxy` gives: the server, the proxy in front of it, and
    the list of clients that is closed at the end (give it to :func:`start`)."""

    server: ServerThread
    proxy: FaultProxy
    clients: list[ChatClient]


@contextmanager
def server_behind_proxy(config: ServerConfig | None = None, *, raw: bool = False) -> Iterator[Proxied]:
    """The real server (``config``, by default on 127.0.0.1 port 0) in a thread, a
    FaultProxy in front of it (``raw``: bytes as they come, for TLS), and a list for the
    clients the test starts: each is closed when the block ends, however it ends, before
    the proxy and the server stop."""
    clients: list[ChatClient] = []
    with ServerThread(config or ServerConfig(host="127.0.0.1", port=0)) as server, \
            FaultProxy(server.host, server.port, raw=raw) as proxy:
        try:
            yield Proxied(server, proxy, clients)
        finally:
            for client in clients:
                client.close()
