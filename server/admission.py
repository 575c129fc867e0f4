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

A school puts all its students behind one address (NAT), so one student's script could
hold the address's every place with connections that never log in, and keep the class out.
So a connection that has not logged in holds its place only while nobody else from its
address needs it: whoever holds one says so (:meth:`Admission.waiting`, from accept or
the WebSocket upgrade, until the login: :meth:`Admission.settled`), and when the address is
full a newcomer takes the place of the oldest of them, which had the most time to log in
(the login timeout): that one is told why (``give_way``: ``too_many_connections``, or a
``429`` on the web port) and closed. One whose hello is being decided
(``logging_in``) keeps its place. When every place is held by sessions logged in (or
logging in), the user that holds the most there gives up its oldest session, told why, if
it holds more than SESSIONS_KEPT (an account may log in many times: one student's script;
:meth:`Admission.logged_in`): then every user keeps up to that many (a student's devices),
and the newcomer is refused only when nobody holds more. The one that gave way holds its
place until it is closed, a moment later (its last words fit in its socket's buffer; at
most CLOSE_GRACE seconds if not), so that the count of descriptors stays true.

Sans-I/O: :meth:`Admission.admit` counts and answers; the listener (server/listener.py)
closes a refused connection after saying why in its protocol's words (:class:`Refusal`),
and whoever holds an admitted one calls :meth:`Admission.release` exactly once when it
closes. A refused connection is not counted: it is closed at once, in the descriptors the
capacity keeps in reserve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from protocol import ErrorCode

from .addresses import address_group

# Seconds a refused HTTP client is told to wait (Retry-After) before it tries again.
RETRY_AFTER = 10
# Of an address's connections that have not logged in, how many of the oldest a newcomer
# looks at for one that may give way: those passed over are logging in (a password check
# under way, a few at a time), so the look stays short whatever a script holds.
GIVE_WAY_LOOK = 64
# Sessions of one user at an address that all keep their places: a student's phone, laptop
# and the lab's machine. Had a user with two or three given one up for each newcomer, the
# one given up would come back (a client retries too_many_connections), take the place of
# the next of its own, and so on: a student's devices dropped in turn for as long as the
# address stayed full (tests/integration/test_school_address.py). A script's many go.
SESSIONS_KEPT = 3


def address_full(message: str) -> Refusal:
    """The refusal (or the words of one that gave way) when an address holds as many
    connections as it may: ``too_many_connections``, HTTP 429."""
    return Refusal(ErrorCode.TOO_MANY_CONNECTIONS, message, 429, "Too Many Requests")


class Waiting(Protocol):
    """A connection admitted that has not logged in (a chat session before its welcome, a
    web connection before or after its upgrade): what the admission needs of it."""

    logging_in: bool  # a hello is being decided: it keeps its place
    name: str | None  # set once logged in
    key: str | None  # the user's, once logged in (registry.canonical of the name)
    closing: bool

    def give_way(self, message: str) -> None:
        """Say ``message`` (``too_many_connections``) in the connection's protocol, and close it."""


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

    Memory: one dict entry per address (group) that holds a connection now, and one per
    connection it admitted (in its address's dicts, oldest first: those that have not
    logged in, and each user's sessions).
    """

    __slots__ = ("capacity", "per_address", "total", "_counts", "_waiting", "_users")

    def __init__(self, capacity: int, per_address: int) -> None:
        self.capacity = capacity
        self.per_address = per_address
        self.total = 0
        self._counts: dict[str, int] = {}
        self._waiting: dict[str, dict[Waiting, None]] = {}
        # Address -> the sessions logged in there, oldest first: one entry a session, not
        # a dict per user (an idle connection's own user's dict was 230 bytes of its 2.8 KB:
        # issue 9 asks 2.5 KiB); whose each is, is counted only when the address is full.
        self._users: dict[str, dict[Waiting, None]] = {}

    def admit(self, address: str) -> Refusal | None:
        """Count a connection just accepted from ``address``, or refuse it (then nothing
        is counted): the server's capacity first, so that a full server says so to
        everybody alike."""
        if self.total >= self.capacity:
            return Refusal(ErrorCode.SERVER_FULL, "the server is full; try again later", 503, "Service Unavailable")
        address = address_group(address)
        count = self._counts.get(address, 0)
        if count >= self.per_address and not self._give_way(address):
            return address_full(f"at most {self.per_address} connections per address")
        self._counts[address] = count + 1
        self.total += 1
        return None

    def waiting(self, address: str, connection: Waiting) -> None:
        """``connection``, admitted from ``address``, has not logged in: it may give way to
        a newcomer (see the module docstring). One that has logged in or is closing
        already is not."""
        if connection.name is not None or connection.closing:
            return
        address = address_group(address)
        waiting = self._waiting.get(address)
        if waiting is None:
            waiting = self._waiting[address] = {}
        waiting[connection] = None

    def logged_in(self, group: str, connection: Waiting) -> None:
        """``connection`` has logged in as ``connection.key``: it keeps its place, unless its
        user holds the most sessions of its full address (see the module docstring). One
        that was not waiting (never admitted: made by hand) is not counted. ``group`` is
        its address's group, as address_group gives it: the relay keeps it per address,
        and a login storm pays no call more for it (tests/integration/test_login_cost.py)."""
        waiting = self._waiting.get(group)
        if waiting is None or waiting.pop(connection, 0) is not None:
            return
        if not waiting:
            del self._waiting[group]
        users = self._users.get(group)
        if users is None:
            users = self._users[group] = {}
        users[connection] = None

    def settled(self, address: str, connection: Waiting) -> None:
        """Forget ``connection`` (closed, or a web connection turned to the echo): it is
        neither waiting nor a user's session any more."""
        self._settled(address_group(address), connection)

    def _settled(self, address: str, connection: Waiting) -> None:
        """:meth:`settled`, for ``address``'s group."""
        waiting = self._waiting.get(address)
        if waiting is not None and waiting.pop(connection, 0) is None:
            if not waiting:
                del self._waiting[address]
            return
        users = self._users.get(address)
        if users is not None and users.pop(connection, 0) is None and not users:
            del self._users[address]

    def _give_way(self, address: str) -> bool:
        """Close, for a newcomer, the oldest connection of the full ``address`` that has not
        logged in and is not logging in, else the oldest session of the user who holds
        the most there, if more than SESSIONS_KEPT: True if there was one."""
        waiting = self._waiting.get(address)
        for looked, connection in enumerate(waiting or ()):
            if looked == GIVE_WAY_LOOK:
                break
            if not connection.logging_in:
                self._settled(address, connection)
                connection.give_way(f"this connection gave way to a newer one from the same address, which holds "
                                    f"as many as it may ({self.per_address}): it had not logged in")
                return True
        users = self._users.get(address)
        if not users:
            return False
        held: dict[str | None, int] = {}  # (a scan of the address's sessions: only when it is full)
        for session in users:
            held[session.key] = held.get(session.key, 0) + 1
        key, most = max(held.items(), key=lambda item: item[1])
        if most <= SESSIONS_KEPT:
            return False
        connection = next(session for session in users if session.key == key)  # its oldest
        self._settled(address, connection)
        connection.give_way(f"this session gave way to a newer connection from the same address, which holds as "
                            f"many as it may ({self.per_address}): its user held the most sessions there ({most})")
        return True

    def release(self, address: str, connection: Waiting | None = None) -> None:
        """An admitted ``connection`` from ``address`` has closed. An address holding none
        changes nothing (a session made by hand, without a listener, as tests and the
        in-process bench do, was never counted)."""
        address = address_group(address)
        if connection is not None:
            self._settled(address, connection)
        count = self._counts.get(address)
        if count is None:
            return
        if count > 1:
            self._counts[address] = count - 1
        else:
            del self._counts[address]
        self.total -= 1

    def waiting_count(self, address: str) -> int:
        """The connections of ``address`` that have not logged in (that may give way)."""
        return len(self._waiting.get(address, ()))

    def count(self, address: str) -> int:
        """The connections ``address`` (its group: all of its /64 for IPv6) holds now."""
        return self._counts.get(address_group(address), 0)
