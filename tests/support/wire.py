"""A blocking test client that speaks the protocol through the core, on a real socket.

Lower level than the client library on purpose: tests use it to send exactly the frames
they want (including garbage) and to assert on exactly the frames that come back.

    with WireClient.login(host, port, "Alice") as alice:
        alice.send(SendDirect("1", "Bob", "hi"))
        assert alice.expect(Accepted).msg_id > 0
"""

from __future__ import annotations

import socket
import ssl
import struct
import time
from collections import deque
from collections.abc import Callable

from protocol import Connection, ConnectionClosed, ErrorReply, Event, Role, Welcome

TIMEOUT = 10.0


class WireClient:
    # The resume token of each guest name, as a real client keeps them on one machine: a
    # login passes its name's token (see PROTOCOL.md, "Guest names"). Keyed by the test's
    # state directory (each test is one machine: see conftest.py), the host and the name;
    # not the port, so that a server restarted on another port knows its guests again.
    tokens: dict[tuple[str, str, str], str] = {}

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None = None, source: str | None = None) -> None:
        """Connect to ``host:port`` (from the local address ``source``, e.g. 127.0.0.2, if
        given); with ``tls``, wrap the socket (the handshake and the certificate check
        happen here, so a failed verification raises ssl.SSLError)."""
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT,
                                             source_address=(source, 0) if source else None)
        if tls is not None:
            try:
                self.sock = tls.wrap_socket(self.sock, server_hostname=host)
            except BaseException:
                self.sock.close()
                raise
        self.conn = Connection(Role.CLIENT)
        self.received: deque[Event] = deque()
        self.closed = False
        self.welcome: Welcome | None = None  # set by login()

    @classmethod
    def login(cls, host: str, port: int, name: str, password: str | None = None, register: bool = False,
              tls: ssl.SSLContext | None = None, tokens: dict[tuple[str, str, str], str] | None = None) -> WireClient:
        """Connect and log in as ``name``: :func:`logins.wire_login` (its contract)."""
        from logins import wire_login  # logins imports this module
        return wire_login(host, port, name, password, register, tls, tokens, cls=cls)

    def __enter__(self) -> WireClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, event: Event) -> None:
        self.sock.sendall(self.conn.send(event))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> bool:
        """Read once (until ``deadline``); False when the stream ended or time ran out."""
        if self.closed:
            return False
        self.sock.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            data = self.sock.recv(65536)
        except (TimeoutError, socket.timeout):
            return False
        except ConnectionResetError:
            data = b""
        self.conn.receive_data(data)
        for event in self.conn.events():
            self.received.append(event)
        pongs = self.conn.data_to_send()
        if pongs:
            self.sock.sendall(pongs)
        if not data:
            self.closed = True
        return True

    def next(self, timeout: float = TIMEOUT) -> Event:
        """The next event, whatever it is; raises AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while not self.received:
            if time.monotonic() >= deadline or not self._fill(deadline):
                if not self.received:
                    raise AssertionError(f"no event within {timeout} s")
        return self.received.popleft()

    def expect(self, kind: type[Event] | tuple[type[Event], ...], timeout: float = TIMEOUT,
               skip: tuple[type[Event], ...] = ()) -> Event:
        """The next event, which must be of ``kind`` (a type or a tuple of them; events of
        the ``skip`` types are passed over); raises AssertionError naming what came
        instead, or if none came within ``timeout`` seconds in all (skipped events do not
        extend it: a server that pings forever cannot keep the test waiting)."""
        # (A tuple has no __name__: the failure names its types rather than failing itself.)
        wanted = " or ".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__
        deadline = time.monotonic() + timeout
        skipped = 0
        while True:
            try:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError
                event = self.next(left)
            except AssertionError:
                raise AssertionError(f"no event within {timeout} s (waiting for {wanted}; "
                                     f"{skipped} other events passed over)") from None
            if isinstance(event, skip):
                skipped += 1
                continue
            assert isinstance(event, kind), f"expected {wanted}, got {event!r}"
            return event

    def expect_error(self, code: str, timeout: float = TIMEOUT, skip: tuple[type[Event], ...] = ()) -> ErrorReply:
        error = self.expect(ErrorReply, timeout, skip)
        assert error.code == code, f"expected error {code}, got {error!r}"
        return error

    def drain(self, quiet: float = 0.3, timeout: float = TIMEOUT,
              until: Callable[[list[Event]], bool] | None = None) -> list[Event]:
        """Every event that arrives until none has come for ``quiet`` seconds, and
        ``until(events)`` (if given) holds: for what is known to come but late, such as
        the store's fetch after a login or a notice from another node (or until
        ``timeout`` in all, or the end of the stream)."""
        deadline = time.monotonic() + timeout
        events: list[Event] = []
        while time.monotonic() < deadline:
            try:
                event = self.next(min(quiet, max(0.001, deadline - time.monotonic())))
            except AssertionError:
                if until is None or until(events):
                    break
                continue
            events.append(event)
            if isinstance(event, ConnectionClosed):
                break
        return events

    def wait_closed(self, timeout: float = TIMEOUT) -> list[Event]:
        """Read until the server closes the connection; returns the events before it."""
        deadline = time.monotonic() + timeout
        events = []
        while True:
            event = self.next(max(0.001, deadline - time.monotonic()))
            if isinstance(event, ConnectionClosed):
                return events
            events.append(event)

    def reset(self) -> None:
        """Vanish abruptly: close with RST (SO_LINGER 0), as a crashed peer would."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
        self.closed = True

    def close(self) -> None:
        self.closed = True
        self.sock.close()
