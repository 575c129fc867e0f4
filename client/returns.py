"""Who comes back after an outage: the rule that keeps a restart from announcing everyone.

A server restart (or a failover to another server of the list) ends every session at
once; each user's client then logs in again, and the server tells everyone a ``joined``
for each of them, and an ``online`` in every named room they share (PROTOCOL.md,
"Presence in rooms"). None of that is news: those people were online before and are
online again. So both clients (the window, client/gui/model.py, and the terminal,
client/terminal.py) ask this module, and only this one, whether to show such a line; the
web page, which cannot import it, follows a copy of the rule (webclient/protocol.js, "the
returns"; its constants are checked against these by tests/unit/test_webclient_handlers.py).

The rule. A user is *returning* when they were online as our connection went away
(:meth:`Returns.went_away`), or left with the server (a ``left`` whose reason is
:data:`SERVER_STOPPING`, :meth:`Returns.left`: they went as we are about to). The next
join of a returning user, and their next ``online`` in each room, is a return, kept
quiet, if it comes while we are away or within :data:`REJOIN_GRACE` seconds of our
reconnection (:meth:`Returns.reconnected`); each is taken once. Anything else is news:
a join of someone who was not online before, a leave for any other reason, and a
returning user's join after the grace.

Rooms. A caller that knows its rooms (the window) names them, and room members it knew
online; one that does not (the terminal never lists them) passes ``rooms=None``, and a
returning user's ``online`` is then a return once in whichever room it comes from.

Keys are the caller's comparison forms (``registry.canonical`` of a user name; any
stable key for a room), the same in every call. No I/O: the clock is given, so the rule
is tested with a fake one (tests/unit/test_returns.py). Not thread-safe on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import const

# The `left` reason of users whose session ended because the server stopped (PROTOCOL.md,
# "joined, left"): they went away with the server, which is not news about them. The
# server's `bye` says the same when it stops.
SERVER_STOPPING = const.SHUTDOWN_REASON
# After our reconnection, users who were online before it may take this long to come back
# themselves (the library's backoff waits up to 30 s, +20 %): until then their "joined" is
# a return, told by the presence alone. Past it, a join is news again.
REJOIN_GRACE = 60.0


class Returns:
    """The returns expected after an outage (see the module docstring).

    Tell it :meth:`went_away`, :meth:`left` and :meth:`reconnected` (or :meth:`connected`,
    a new login that is no reconnection) as they happen; ask :meth:`joined` and
    :meth:`room_online` for each such notice: True means "a return: show no line".
    ``clock`` gives seconds (the client's clock of waits, client/clock.py)."""

    def __init__(self, clock: Callable[[], float], grace: float = REJOIN_GRACE) -> None:
        self._clock = clock
        self._grace = grace
        self._away = False
        self._quiet_until = 0.0  # clock time until which a returning user's join is a return
        # Users whose next join is a return.
        self._users: set[str] = set()
        # (room, user) pairs whose next "online" in that room is a return, for rooms named.
        self._pairs: set[tuple[str, str]] = set()
        # For a caller that does not know its rooms: user -> the rooms they have been
        # taken back in already (one return in each, whichever rooms they share).
        self._anywhere: dict[str, set[str]] = {}

    def went_away(self, online: Iterable[str], rooms: Iterable[str] | None = None,
                  members: Iterable[tuple[str, str]] = ()) -> None:
        """Our connection is going or gone. ``online``: the users we knew online then;
        ``rooms``: the rooms we are in (None: not known, any room counts once);
        ``members``: (room, user) pairs of room members we knew online besides. Told
        again while away (the goodbye, then the closed connection, then each attempt),
        it changes nothing: who was online is what was known when it went."""
        if self._away:
            return
        self._away = True
        online = set(online)
        self._users |= online
        self._expect_in_rooms(online, rooms)
        self._pairs.update(members)

    def left(self, user: str, reason: str, rooms: Iterable[str] | None = None) -> bool:
        """``user`` left for ``reason``; ``rooms`` as for :meth:`went_away`. True if that
        is news to show; False if they went with the server (:data:`SERVER_STOPPING`),
        in which case their next join is a return."""
        if reason != SERVER_STOPPING:
            return True
        self._users.add(user)
        self._expect_in_rooms({user}, rooms)
        return False

    def reconnected(self) -> None:
        """We are logged in again after an outage: returning users' joins are returns for
        the next :data:`REJOIN_GRACE` seconds."""
        self._away = False
        self._quiet_until = self._clock() + self._grace

    def connected(self) -> None:
        """We are logged in, and not by a reconnection (a first login, or one after a
        sign-out): no grace starts, only the outage ends."""
        self._away = False

    def joined(self, user: str) -> bool:
        """True if this join of ``user`` is a return to keep quiet (their next one is news)."""
        if user not in self._users:
            return False
        self._users.discard(user)
        return self._quiet()

    def room_online(self, room: str, user: str) -> bool:
        """True if ``user`` coming online in ``room`` is a return to keep quiet, told by
        the member list alone; taken once per room."""
        if (room, user) in self._pairs:
            self._pairs.discard((room, user))
            return self._quiet()
        taken = self._anywhere.get(user)
        if taken is None or room in taken:
            return False
        taken.add(room)
        return self._quiet()

    def _expect_in_rooms(self, users: set[str], rooms: Iterable[str] | None) -> None:
        if rooms is None:
            for user in users:
                self._anywhere[user] = set()  # a new outage: every room again
        else:
            self._pairs.update((room, user) for room in rooms for user in users)

    def _quiet(self) -> bool:
        return self._away or self._clock() <= self._quiet_until
