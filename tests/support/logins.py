"""The one way tests log a client in to a real server (see servers.py to start one).

- ``login(server, name, ...)``: a raw protocol client (:class:`wire.WireClient`), welcomed,
  for tests that speak the wire protocol themselves; ``server`` is anything with ``host``
  and ``port`` (a ServerThread, a ServerProcess). ``wire_login(host, port, ...)`` is the
  same by address (``WireClient.login`` is it).
- ``leave(client)``: a wire client logs out cleanly (goodbye) and waits until the server
  has closed the connection.
- ``library_login(clients, port, name, ...)``: the client library's ChatClient, connected;
  it goes into ``clients`` (the conftest fixture), which closes it at the test's end
  (``clientkit.start`` is it).

Both raise (AssertionError, TimeoutError, ...) rather than return a client that is not
logged in, and both wait a bounded time.
"""

from __future__ import annotations

import os
import ssl
from typing import Protocol

import const
from client.library import ChatClient
from protocol import Goodbye, Hello, Welcome
from wire import WireClient

# How long a library client may take to connect and be welcomed.
LIBRARY_WAIT = 10.0


class Listening(Protocol):
    host: str
    port: int


def wire_login(host: str, port: int, name: str, password: str | None = None, register: bool = False,
               tls: ssl.SSLContext | None = None, tokens: dict[tuple[str, str, str], str] | None = None,
               cls: type[WireClient] = WireClient) -> WireClient:
    """Connect and log in as ``name`` (with ``password``, or claiming the name with
    ``register``); raises AssertionError if not welcomed. The welcome is kept in
    ``client.welcome``. The hello carries the name's resume token from ``tokens``
    (default: the shared ``WireClient.tokens``; ``{}`` plays someone else), and a new
    token from the welcome is kept there."""
    tokens = cls.tokens if tokens is None else tokens
    key = (os.environ.get("CHAT_STATE_DIR", ""), host, name.lower())
    client = cls(host, port, tls)
    try:
        client.send(Hello("hello", name, const.PROTOCOL_VERSION, password, register, tokens.get(key)))
        client.welcome = client.expect(Welcome)
    except BaseException:
        client.close()
        raise
    if client.welcome.resume:
        tokens[key] = client.welcome.resume
    return client


def login(server: Listening, name: str, password: str | None = None, register: bool = False,
          **options: object) -> WireClient:
    """``wire_login`` to ``server``'s address (options: tls, tokens)."""
    return wire_login(server.host, server.port, name, password, register, **options)  # type: ignore[arg-type]


def leave(client: WireClient) -> None:
    """Log out cleanly and wait until the server has closed the connection."""
    client.send(Goodbye())
    client.wait_closed()
    client.close()


def library_login(clients: list[ChatClient], port: int, name: str, host: str = "127.0.0.1",
                  **options: object) -> ChatClient:
    """A ChatClient for ``name`` connected to ``host``:``port`` within LIBRARY_WAIT s;
    ``options`` are ChatClient's (password, register, ...). It is appended to ``clients``
    before connecting, so that it is closed at the end even if the connect fails."""
    client = ChatClient(name, host, port, **options)  # type: ignore[arg-type]
    clients.append(client)
    client.connect(timeout=LIBRARY_WAIT)
    return client
