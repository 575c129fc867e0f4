"""A small, scriptable chat server for client tests: real sockets, loopback, port 0.

It speaks the protocol through ``protocol.Connection(Role.SERVER)`` and relays like the
real server should (hello/welcome, direct messages with Accepted then Delivered once the
recipient's Receipt arrives, room messages, who, whois, presence notices), with knobs to
misbehave. Every frame a client sends is recorded, so a test can assert on it::

    with FakeServer() as server:
        client = ChatClient("Alice", server.host, server.port)
        client.connect()
        server.wait_for(lambda name, event: isinstance(event, Receipt), timeout=5)

One thread accepts, one thread serves each connection; a single lock guards all state and
every write, so tests may call :meth:`send`, :meth:`drop` and :meth:`shutdown` from any
thread. Knobs: ``refuse=(code, message)`` answers every hello with that error;
``answer_hello=False`` never answers it; ``deliver=False`` accepts direct messages but never
passes them on (so no Delivered ever comes); ``heartbeat`` is what the Welcome announces; ``max_version=1`` makes it a server
from before rooms: a hello offering more is refused ``unsupported_version`` and the connection
closed, as ``protocol.negotiate`` rules (by default it welcomes any hello, at version 1).
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress

import pytest

from protocol import (
    Accepted,
    Connection,
    Delivered,
    DirectMessage,
    ErrorCode,
    ErrorReply,
    Event,
    FrameRejected,
    Goodbye,
    Hello,
    LookupRequest,
    LookupResult,
    Presence,
    Receipt,
    Role,
    RoomMessage,
    SendDirect,
    SendRoom,
    State,
    UserJoined,
    UserLeft,
    UserList,
    Welcome,
    WhoRequest,
)
from registry import canonical


class _Peer:
    """One client connection on the fake server."""

    def __init__(self, sock: socket.socket, address: tuple[str, int]) -> None:
        self.sock = sock
        self.address = address
        self.conn = Connection(Role.SERVER)
        self.name: str | None = None
        self.since = time.time()


class FakeServer:
    """See the module docstring. Use as a context manager, or call start() and stop()."""

    def __init__(self, *, refuse: tuple[str, str] | None = None, answer_hello: bool = True,
                 deliver: bool = True, heartbeat: float = 15.0, max_version: int | None = None) -> None:
        self.refuse = refuse
        self.max_version = max_version
        # The version of every hello, in order (a refused one too).
        self.hellos: list[int] = []
        self.answer_hello = answer_hello
        self.deliver = deliver
        self.heartbeat = heartbeat
        self.host = "127.0.0.1"
        self.port = 0
        # (sender's name or None before login, event) for every frame received, in order.
        self.log: list[tuple[str | None, Event]] = []
        self._lock = threading.Condition()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._peers: list[_Peer] = []
        self._online: dict[str, _Peer] = {}          # canonical name -> peer
        self._awaiting_receipt: dict[int, tuple[_Peer, str]] = {}   # msg_id -> (sender, request id)
        self._msg_ids = itertools.count(1)
        self._stopped = False

    # --- Life cycle ---------------------------------------------------------------------

    def start(self) -> FakeServer:
        listener = socket.create_server((self.host, 0))
        # close() does not wake a thread blocked in accept(): poll so stop() is prompt.
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._spawn(self._accept_loop, "fake-accept")
        return self

    def stop(self) -> None:
        """Close the listener and every connection abruptly (no goodbye); join threads."""
        with self._lock:
            self._stopped = True
            peers = list(self._peers)
        if self._listener is not None:
            with suppress(OSError):
                self._listener.close()
        for peer in peers:
            self._kill(peer)
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- What tests call ----------------------------------------------------------------

    def wait_for(self, predicate: Callable[[str | None, Event], bool], timeout: float = 5.0) -> tuple[str | None, Event]:
        """Return the first logged (name, event) matching ``predicate``; AssertionError after ``timeout``."""
        found: list[tuple[str | None, Event]] = []

        def match() -> bool:
            found[:] = [item for item in self.log if predicate(*item)][:1]
            return bool(found)

        with self._lock:
            if not self._lock.wait_for(match, timeout):
                raise AssertionError(f"the fake server did not receive the expected frame within {timeout} s; "
                                     f"log: {self.log!r}")
        return found[0]

    def received(self, kind: type[Event], name: str | None = None) -> list[Event]:
        """Every logged event of type ``kind`` (from user ``name``, if given)."""
        with self._lock:
            return [e for n, e in self.log if isinstance(e, kind) and (name is None or n == name)]

    def wait_online(self, name: str, timeout: float = 5.0) -> None:
        """Block until ``name`` is logged in (its Welcome has been sent)."""
        with self._lock:
            if not self._lock.wait_for(lambda: canonical(name) in self._online, timeout):
                raise AssertionError(f"{name} did not log in within {timeout} s")

    def wait_offline(self, name: str, timeout: float = 5.0) -> None:
        """Block until ``name`` is no longer logged in (its connection has been forgotten)."""
        with self._lock:
            if not self._lock.wait_for(lambda: canonical(name) not in self._online, timeout):
                raise AssertionError(f"{name} was still online after {timeout} s")

    def send(self, name: str, event: Event) -> None:
        """Send ``event`` to the user ``name`` now."""
        with self._lock:
            self._write(self._online[canonical(name)], event)

    def send_raw(self, name: str, data: bytes) -> None:
        """Write raw bytes to the user ``name`` (to test framing and garbage)."""
        with self._lock:
            self._online[canonical(name)].sock.sendall(data)

    def drop(self, name: str) -> None:
        """Close the connection of ``name`` abruptly, without a goodbye."""
        with self._lock:
            peer = self._online[canonical(name)]
        self._kill(peer)

    def shutdown(self, reason: str = "server shutting down") -> None:
        """Say Goodbye(reason) to everyone, then close every connection and the listener."""
        with self._lock:
            for peer in list(self._online.values()):
                self._write(peer, Goodbye(reason))
        self.stop()

    # --- Serving ------------------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopped:
            try:
                sock, address = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed by stop()
            sock.settimeout(None)
            peer = _Peer(sock, address)
            with self._lock:
                if self._stopped:
                    sock.close()
                    return
                self._peers.append(peer)
            self._spawn(self._serve, f"fake-peer-{address[1]}", peer)

    def _serve(self, peer: _Peer) -> None:
        try:
            while True:
                try:
                    data = peer.sock.recv(65536)
                except OSError:
                    data = b""
                with self._lock:
                    peer.conn.receive_data(data)
                    for event in peer.conn.events():
                        self.log.append((peer.name, event))
                        self._handle(peer, event)
                    self._lock.notify_all()
                    if not data or peer.conn.state is State.CLOSED:
                        return
        finally:
            self._kill(peer)
            with self._lock:
                self._forget(peer)

    def _handle(self, peer: _Peer, event: Event) -> None:
        """React to one event from ``peer`` (lock held)."""
        conn = peer.conn
        if isinstance(event, Hello):
            if self.max_version is not None and event.version > self.max_version:  # an older server
                self.hellos.append(event.version)
                self._write(peer, ErrorReply(ErrorCode.UNSUPPORTED_VERSION,
                                             f"this server speaks protocol version 1 to {self.max_version}",
                                             event.request_id))
                self._kill(peer)
                return
            self.hellos.append(event.version)
            if self.refuse is not None:
                self._write(peer, ErrorReply(self.refuse[0], self.refuse[1], event.request_id))
                if self.refuse[0] in (ErrorCode.UNSUPPORTED_VERSION, ErrorCode.SERVER_FULL):
                    self._kill(peer)  # as PROTOCOL.md says; after other refusals a new hello may follow
                return
            if not self.answer_hello:
                return
            if canonical(event.name) in self._online:
                self._write(peer, ErrorReply(ErrorCode.NAME_TAKEN, f"the name {event.name!r} is taken",
                                             event.request_id))
                return
            peer.name = event.name
            self._write(peer, Welcome(event.request_id, event.name, 1, "fake", self.heartbeat))
            for other in self._online.values():
                self._write(other, UserJoined(event.name, time.time()))
            self._online[canonical(event.name)] = peer
        elif isinstance(event, SendDirect):
            recipient = self._online.get(canonical(event.to))
            if recipient is None:
                self._write(peer, ErrorReply(ErrorCode.UNKNOWN_RECIPIENT, f"{event.to} is not online",
                                             event.request_id))
                return
            msg_id = next(self._msg_ids)
            self._write(peer, Accepted(event.request_id, msg_id))
            if self.deliver:
                self._awaiting_receipt[msg_id] = (peer, event.request_id)
                self._write(recipient, DirectMessage(msg_id, peer.name or "", recipient.name or "", event.text,
                                                     time.time()))
        elif isinstance(event, Receipt):
            sender = self._awaiting_receipt.pop(event.msg_id, None)
            if sender is not None and sender[0] in self._online.values():
                self._write(sender[0], Delivered(sender[1], event.msg_id))
        elif isinstance(event, SendRoom):
            msg_id = next(self._msg_ids)
            self._write(peer, Accepted(event.request_id, msg_id))
            for other in self._online.values():
                self._write(other, RoomMessage(msg_id, peer.name or "", event.text, time.time()))
        elif isinstance(event, WhoRequest):
            users = tuple(sorted((Presence(p.name or "", p.since) for p in self._online.values()),
                                 key=lambda p: canonical(p.name)))
            self._write(peer, UserList(event.request_id, users))
        elif isinstance(event, LookupRequest):
            found = self._online.get(canonical(event.name))
            if found is None:
                self._write(peer, LookupResult(event.request_id, event.name, "unknown"))
            else:
                self._write(peer, LookupResult(event.request_id, found.name or "", "online",
                                               found.address[0], found.address[1], found.since))
        elif isinstance(event, FrameRejected):
            if conn.state is not State.CLOSED:
                self._write(peer, ErrorReply(event.code, event.message, event.request_id))
        # Ping is answered by the core (flushed in _write); Pong and Goodbye need nothing.
        self._flush(peer)

    def _write(self, peer: _Peer, event: Event) -> None:
        """Encode and send ``event`` to ``peer`` (lock held); a dead peer is ignored."""
        try:
            data = peer.conn.send(event)
        except Exception:  # the peer's session ended (e.g. it said goodbye)
            return
        with suppress(OSError):
            peer.sock.sendall(peer.conn.data_to_send() + data)

    def _flush(self, peer: _Peer) -> None:
        data = peer.conn.data_to_send()
        if data:
            with suppress(OSError):
                peer.sock.sendall(data)

    def _kill(self, peer: _Peer) -> None:
        with suppress(OSError):
            peer.sock.shutdown(socket.SHUT_RDWR)
        with suppress(OSError):
            peer.sock.close()

    def _forget(self, peer: _Peer) -> None:
        """``peer`` is gone (lock held): unregister it and tell the others."""
        if peer.name is not None and self._online.get(canonical(peer.name)) is peer:
            del self._online[canonical(peer.name)]
            for other in self._online.values():
                self._write(other, UserLeft(peer.name, "quit", time.time()))
        self._lock.notify_all()


# Fixtures for client tests against the fake server: import them by name into a test
# module (``from fakeserver import bob, server``) and they serve its tests.
@pytest.fixture
def server() -> Iterator[FakeServer]:
    """A fake server of its own for the test (takes the place of conftest's real one)."""
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def bob(server: FakeServer) -> Iterator["ChatClient"]:
    """Bob, logged in to the test's fake server, closed at its end."""
    from client.library import ChatClient

    client = ChatClient("Bob", server.host, server.port)
    client.connect(timeout=10.0)
    yield client
    client.close()
