"""The registry proper: names -> endpoints, with uniqueness enforced case-insensitively."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .lookalikes import Lookalikes
from .names import canonical, validate_name


class NameTaken(Exception):
    """Somebody online already uses this name (compared case-insensitively)."""


@dataclass(slots=True)
class Endpoint:
    """One connection of a user: where it comes from, since when, and its session.

    ``session`` is opaque to the registry; the relay stores its connection object there so
    that looking a user up also finds where to write.
    """

    address: str
    port: int
    since: float
    session: Any = field(repr=False, compare=False)


class UserRecord:
    """A user who is online, under the spelling they logged in with.

    ``UserRecord(name, endpoints, shared=False, sessions=())``, as the dataclass it was.
    """

    # A user with one connection (nearly all of them) keeps its address in ``_ends``, its
    # port and time in ``_port`` and ``_since``, and its session as ``sessions[0]``; several
    # keep a tuple of their Endpoints in ``_ends``. An Endpoint object beside the record was
    # 64 bytes of every idle connection (issue 9), two more slots 16. ``endpoints`` gives a
    # tuple either way (made when asked for); it is read on logins and lookups, never per
    # message (the relay's message path reads ``sessions``).
    __slots__ = ("name", "_ends", "_port", "_since", "shared", "sessions")

    def __init__(self, name: str, endpoints: tuple[Endpoint, ...], shared: bool = False,
                 sessions: tuple = ()) -> None:
        self.name = name
        # True for a registered account: every session proved the password, so several may
        # be online under the name at once (terminal, web, GUI). A guest name has one.
        self.shared = shared
        # The endpoints' sessions, kept by the registry whenever endpoints change: the relay
        # asks for them several times per message, and a tuple kept is cheaper than a list built.
        self.sessions = sessions
        self.endpoints = endpoints

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        """The user's connections, oldest first: a tuple, replaced whenever it changes
        (rarely: one more session of an account)."""
        ends = self._ends
        if type(ends) is tuple:
            return ends
        return (Endpoint(ends, self._port, self._since, self.sessions[0]),)

    @endpoints.setter
    def endpoints(self, endpoints: tuple[Endpoint, ...]) -> None:
        """Set after ``sessions`` (see Registry): one Endpoint is kept as its parts only
        when its session is ``sessions[0]`` (a record made by hand may have no sessions)."""
        if len(endpoints) == 1 and self.sessions[:1] == (endpoints[0].session,):
            end = endpoints[0]
            self._ends, self._port, self._since = end.address, end.port, end.since
        else:
            self._ends, self._port, self._since = tuple(endpoints), 0, 0.0

    @property
    def since(self) -> float:
        """When the user's earliest live connection was made (seconds since the epoch)."""
        return min(e.since for e in self.endpoints)

    def __repr__(self) -> str:
        return f"UserRecord(name={self.name!r}, endpoints={self.endpoints!r}, shared={self.shared!r})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not UserRecord:
            return NotImplemented
        return (self.name, self.endpoints, self.shared) == (other.name, other.endpoints, other.shared)

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass was


# Nobody online: what ``Registry.records.get(key, OFFLINE)`` finds for a key offline, so its
# ``sessions`` are empty, as sessions_by_key's. Never registered, never changed.
OFFLINE = UserRecord("", ())


class Registry:
    """Who is online and where. Not thread-safe: the server uses it from its event loop."""

    __slots__ = ("_users", "_lookalikes")

    def __init__(self) -> None:
        self._users: dict[str, UserRecord] = {}
        # The same names by look-alike key (see registry.names, rule 7).
        self._lookalikes = Lookalikes()

    def register(self, name: str, address: str, port: int, since: float, session: Any,
                 shared: bool = False) -> UserRecord:
        """Put ``name`` online at ``address:port``.

        ``shared`` (an authenticated account) adds this session to the sessions already
        online under the name. Raises :class:`InvalidName` if the name is not allowed and
        :class:`NameTaken` if someone online already has it and it is not shared; the user
        already online is not disturbed.
        """
        validate_name(name)
        key = canonical(name)
        record = self._users.get(key)
        if record is not None:
            if not (shared and record.shared):
                raise NameTaken(f"the name {record.name!r} is already in use")
            ends = (*record.endpoints, Endpoint(address, port, since, session))
            record.sessions = (*record.sessions, session)  # first: see UserRecord.endpoints
            record.endpoints = ends
            return record
        record = UserRecord(name, (Endpoint(address, port, since, session),), shared, (session,))
        self._users[key] = record
        self._lookalikes.add(name)
        return record

    def sessions(self, name: str) -> list[Any]:
        """The sessions online under ``name`` (any case); empty if offline."""
        record = self._users.get(canonical(name))
        return [e.session for e in record.endpoints] if record else []

    def sessions_by_key(self, key: str) -> tuple:
        """The sessions online under the canonical name ``key`` (see ``canonical``); empty
        if offline. For callers that keep keys, as the relay does on the message path."""
        return self._users.get(key, OFFLINE).sessions

    @property
    def records(self) -> Mapping[str, UserRecord]:
        """The online users' records by canonical name, the registry's own dict (to read,
        never to write): ``records.get(key, OFFLINE).sessions`` is ``sessions_by_key(key)``
        without a Python call, for the relay's message path (three a direct message, about
        400 instructions each; issue 9)."""
        return self._users

    def lookup_key(self, key: str) -> UserRecord | None:
        """The online user whose canonical name is ``key``, or None."""
        return self._users.get(key)

    def unregister(self, name: str, session: Any) -> bool:
        """Remove the endpoint of ``session`` from ``name``; True if the user is now offline.

        Returns False (and changes nothing) if that session is not registered under ``name``,
        so a late cleanup of an old session never removes a newer one.
        """
        key = canonical(name)
        record = self._users.get(key)
        if record is None:
            return False
        remaining = tuple(e for e in record.endpoints if e.session is not session)
        if len(remaining) == len(record.endpoints):
            return False
        if remaining:
            record.sessions = tuple(e.session for e in remaining)  # first: see UserRecord.endpoints
            record.endpoints = remaining
            return False
        del self._users[key]
        self._lookalikes.discard(record.name)
        return True

    def lookup(self, name: str) -> UserRecord | None:
        """The online user called ``name`` (any case), or None."""
        return self._users.get(canonical(name))

    def lookalikes(self, name: str) -> list[str]:
        """The names of the users online that look like ``name`` but are other users."""
        return self._lookalikes.rivals(name)

    def online(self) -> list[UserRecord]:
        """Everyone online, sorted by name, case-insensitively."""
        return sorted(self._users.values(), key=lambda r: canonical(r.name))

    def __len__(self) -> int:
        return len(self._users)

    def __contains__(self, name: str) -> bool:
        return canonical(name) in self._users
