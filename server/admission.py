"""Who may hold a connection: the server's capacity and the per-address limit, from accept.

Every connection the server accepts holds a file descriptor from that moment, whatever it
turns out to be: a chat client that has not logged in yet, a TLS client in (or stalling)
its handshake, a browser fetching the page over keep-alive HTTP, or a WebSocket. So every
one of them counts, from ``accept()`` until it is closed, against ``capacity`` (the
server's, ``config.max_connections``: see app.connection_capacity) and against
``per_address`` (``config.max_connections_per_address``), on every listener together.
Otherwise one address could hold the descriptors with connections that never log in, and
lock everybody else out. An "address" is what server/addresses.py's ``address_group``
says: an IPv4 address (an IPv4-mapped one as itself), or a global IPv6 address's /64.

Sans-I/O: :meth:`Admission.admit` counts and answers; the listener (server/listener.py)
closes a refused connection after saying why in its protocol's words (:class:`Refusal`),
and whoever holds an admitted one calls :meth:`Admission.release` exactly once when it
closes. A refused connection is not counted: it is closed at once, in the descriptors the
capacity keeps in reserve.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol import ErrorCode

from .addresses import address_group

# Seconds a refused HTTP client is told to wait (Retry-After) before it tries again.
RETRY_AFTER = 10


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a connection is refused, in each protocol's terms: the chat ``error`` frame's
    ``code`` and ``message``, and the HTTP ``status`` and ``reason`` (503 when the server
    is full, 429 for the per-address limit; both with Retry-After: :data:`RETRY_AFTER`)."""

    code: str
    message: str
    status: int
    reason: str


class Admission:
    """Connections held now, in all and per address; see the module docstring.

    Memory: one dict entry per address (group) that holds a connection now.
    """

    __slots__ = ("capacity", "per_address", "total", "_counts")

    def __init__(self, capacity: int, per_address: int) -> None:
        self.capacity = capacity
        self.per_address = per_address
        self.total = 0
        self._counts: dict[str, int] = {}

    def admit(self, address: str) -> Refusal | None:
        """Count a connection just accepted from ``address``, or refuse it (then nothing
        is counted): the server's capacity first, so that a full server says so to
        everybody alike."""
        if self.total >= self.capacity:
            return Refusal(ErrorCode.SERVER_FULL, "the server is full; try again later", 503, "Service Unavailable")
        address = address_group(address)
        count = self._counts.get(address, 0)
        if count >= self.per_address:
            return Refusal(ErrorCode.TOO_MANY_CONNECTIONS, f"at most {self.per_address} connections per address",
                           429, "Too Many Requests")
        self._counts[address] = count + 1
        self.total += 1
        return None

    def release(self, address: str) -> None:
        """An admitted connection from ``address`` has closed. An address holding none
        changes nothing (a session made by hand, without a listener, as tests and the
        in-process bench do, was never counted)."""
        address = address_group(address)
        count = self._counts.get(address)
        if count is None:
            return
        if count > 1:
            self._counts[address] = count - 1
        else:
            del self._counts[address]
        self.total -= 1

    def count(self, address: str) -> int:
        """The connections ``address`` (its group: all of its /64 for IPv6) holds now."""
        return self._counts.get(address_group(address), 0)
