"""The one way tests log a client in to a real server (see servers.py to start one).

- ``login(server, name, ...)``: a raw protocol client (:class:`wire.WireClient`), welcomed,
  for tests that speak the wire protocol themselves; ``server`` is anything with ``host``
  and ``port`` (a ServerThread, a ServerProcess). ``wire_login(host, port, ...)`` is the
  same by address (``WireClient.login`` is it).
- ``leave(client)``: a wire client logs out cleanly (goodbye) and waits until the server
  has closed the connection.
- ``login_again(node, name, timeout)``: a wire client logged in as ``name`` once the
  cluster lets it (the name still held by a dead node's session, or the node not back in
  the cluster yet): what a client's reconnect loop does.
- ``resume_until_welcomed(client, name, token, refused, within, why)``: a guest refused
  ``name_taken`` (``refused``) with its token sends its hello again after each
  ``retry_after``, on the same connection, as a client does, until it is welcomed; fails
  (``why``) if that takes ``within`` seconds or more.
- ``make_admin(server, name)``: what ``/admin NAME`` at the server's console does, on a
  ServerThread: ``name`` must be an account already (register it first).
- ``library_login(clients, port, name, ...)``: the client library's ChatClient, connected;
  it goes into ``clients`` (the conftest fixture), which closes it at the test's end
  (``clientkit.start`` is it).

Both raise (AssertionError, TimeoutError, ...) rather than return a client that is not
logged in, and both wait a bounded time.
"""

from __future__ import annotations

import os
import ssl
import time
from typing import Protocol

import const
from client.library import ChatClient
from protocol import ErrorCode, ErrorReply, Goodbye, Hello, Ping, UserJoined, UserLeft, Welcome
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


def make_admin(server, name: str) -> None:
    """The console's ``/admin NAME`` on ``server`` (a ServerThread): the account ``name``
    (registered before) administers every room until the server stops."""
    server.call(server.server.relay.room_desk.add_admin, name)


def login_again(node: Listening, name: str, timeout: float) -> WireClient:
    """Log in as ``name`` on ``node`` (with the token its first login got), again while the
    name is still held by a session of a dead node that has not been reaped yet (``name_taken``)
    or the node is not back in the cluster (``unavailable``); fails after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        client = WireClient(node.host, node.port)
        key = (os.environ.get("CHAT_STATE_DIR", ""), node.host, name.lower())
        client.send(Hello("h", name, const.PROTOCOL_VERSION, None, False, WireClient.tokens.get(key)))
        answer = client.expect((Welcome, ErrorReply), skip=(UserJoined, UserLeft, Ping))
        if isinstance(answer, Welcome):
            return client
        client.close()
        assert answer.code in (ErrorCode.NAME_TAKEN, ErrorCode.UNAVAILABLE), answer
        assert time.monotonic() < deadline, f"{name} could not log in again within {timeout} s"
        time.sleep(0.2)


def resume_until_welcomed(client: WireClient, name: str, token: str, refused: ErrorReply, within: float,
                          why: str) -> Welcome:
    """The guest ``name``'s hello with ``token`` again after each ``retry_after`` (the
    first: ``refused``'s) until a Welcome, which is returned; every refusal meanwhile is
    ``name_taken`` with a ``retry_after``, and the welcome comes within ``within`` s."""
    deadline = time.monotonic() + within
    answer: Welcome | ErrorReply = refused
    while not isinstance(answer, Welcome):
        assert answer.code == ErrorCode.NAME_TAKEN and answer.retry_after, answer
        assert time.monotonic() < deadline, why
        time.sleep(answer.retry_after)  # as a client does: the server said when
        client.send(Hello("h", name, const.PROTOCOL_VERSION, resume=token))
        answer = client.expect((Welcome, ErrorReply), skip=(UserJoined, UserLeft, Ping))
    return answer
