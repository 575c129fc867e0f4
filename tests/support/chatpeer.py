"""Test helpers: blocking chat clients over TCP and over WebSocket, on the sans-I/O core.

Both speak through :class:`protocol.Connection`; they differ only in how the bytes
travel. ``expect(kind, timeout)`` returns the first matching event (earlier unmatched
events stay queued), answering the server's pings on the way. Every wait has a deadline.
"""

from __future__ import annotations

import itertools
import socket
import ssl
import time
from collections.abc import Callable

import const
from protocol import Connection, Event, Hello, Receipt, Role, SendDirect, Welcome

from cdp import WebSocketClient

_ids = itertools.count(1)


class Peer:
    """A chat user driven by a test."""

    def __init__(self) -> None:
        self.conn = Connection(Role.CLIENT)
        self.backlog: list[Event] = []

    # Transport, provided by subclasses.
    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    def _read(self, timeout: float) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def send(self, event: Event) -> None:
        self._write(self.conn.send(event))

    def expect(self, kind: type[Event] | tuple[type[Event], ...], timeout: float = 5.0,
               where: Callable[[Event], bool] = lambda event: True) -> Event:
        """The first event of type ``kind`` for which ``where`` holds; TimeoutError if none."""
        deadline = time.monotonic() + timeout
        while True:
            for index, event in enumerate(self.backlog):
                if isinstance(event, kind) and where(event):
                    del self.backlog[index]
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {kind} within {timeout} s; got {self.backlog}")
            try:
                data = self._read(remaining)
            except TimeoutError:
                continue
            self.conn.receive_data(data)
            self.backlog.extend(self.conn.events())
            pongs = self.conn.data_to_send()
            if pongs:
                self._write(pongs)

    def login(self, name: str, timeout: float = 5.0) -> Welcome:
        request_id = f"login-{next(_ids)}"
        self.send(Hello(request_id, name, const.PROTOCOL_VERSION))
        return self.expect(Welcome, timeout)

    def send_dm(self, to: str, text: str) -> str:
        """Send ``text`` to ``to``; returns the request id."""
        request_id = f"dm-{next(_ids)}"
        self.send(SendDirect(request_id, to, text))
        return request_id

    def receipt(self, msg_id: int) -> None:
        self.send(Receipt(msg_id))


class TcpPeer(Peer):
    """A terminal user: the chat protocol straight over TCP."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        super().__init__()
        self.sock = socket.create_connection((host, port), timeout=timeout)

    def _write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _read(self, timeout: float) -> bytes:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError from None
        if not data:
            raise EOFError("the server closed the connection")
        return data

    def close(self) -> None:
        self.sock.close()


class WebPeer(Peer):
    """A browser user without the browser: one chat frame per WebSocket text message."""

    def __init__(self, url: str, origin: str | None = None, timeout: float = 5.0,
                 tls: ssl.SSLContext | None = None) -> None:
        super().__init__()
        self.ws = WebSocketClient(url, origin=origin, timeout=timeout, tls=tls)

    def _write(self, data: bytes) -> None:
        for frame in data.split(b"\n"):
            if frame:
                self.ws.send_text(frame.decode("utf-8"))

    def _read(self, timeout: float) -> bytes:
        return self.ws.recv_text(timeout).encode("utf-8") + b"\n"

    def close(self) -> None:
        self.ws.close()
