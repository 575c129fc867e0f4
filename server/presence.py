"""Join and leave notices: to everyone in a small room, to the watchers of a user in a large one.

Announcing every join to everyone costs N writes per join, so N logins cost N² writes: a
login storm of 10,000 clients (everyone reconnecting after a network blip) sent about
3.5 GB of notices. So presence has two regimes, chosen per notice by the number of users
online, the one who joins or leaves included:

- **up to** ``presence_room_limit`` (``const.PRESENCE_ROOM_LIMIT``): everyone is told, as
  a class of thirty expects. Notices are queued, already encoded, and written to every
  client together after a delay that grows with the room: about 0.1 ms per online user,
  at most ``MAX_DELAY`` seconds, so two people chatting see a notice at once and a room at
  the limit in one write each;
- **above** it the room is quiet, as large IRC channels are: a notice goes only to the
  sessions that watch that user (``watch``, IRC's MONITOR), at once. Its cost follows the
  relationships, not the square of the users online.

Nothing is dropped that is due, and every client sees the notices it gets in the order
they happened: a notice for watchers first writes out a batch still queued for everyone
(that happens only around the limit), and so does a frame from a user a queued notice is
about (``PresenceNotices.pending_keys``): their message never comes before their ``joined``.

A session that is crowded (its outgoing queue is over the others' mark: ``crowded()``,
server/session.py) is written none: its notices are coalesced per user to what changed
for it (a guest who came and went meanwhile is nothing; one who came is one ``joined``,
the latest), and written once it drains (:meth:`PresenceNotices.drained`, from
relay.drained). So logins and logouts from many connections, which anyone can make,
cannot queue much ahead of a slow reader's own messages, nor push it past its hard
mark; what it keeps per crowded session is bounded by the users whose presence
changed for it (the online ones, and those it saw online that left).

One user whose presence **churns** (a client logging in and out in a loop: about 230
logins a second from one machine made every user online receive 460 notices a second) is
damped, for everyone alike: after ``flap_changes`` changes of that user within
``flap_window`` seconds, their further changes are held, and only the state they settle in
is told, once none came for ``settle`` seconds (nothing, if it is the one last told). These
are the server's settings presence_flap_changes, presence_flap_window and presence_settle
(server/config.py; by default ``const.PRESENCE_FLAP_CHANGES``, ``PRESENCE_FLAP_WINDOW``,
``PRESENCE_SETTLE``). No one user can flood the others with their comings and
goings (nor the members of their rooms: their ``online`` and ``offline`` follow, by
:attr:`PresenceNotices.told`). Only the notices wait: the registry, and so ``who`` and ``lookup``, stay exact; and
a held user's current state is told before anything of theirs goes out (:meth:`acts`).

:class:`Watchlists` holds the subscriptions: each session's watched names, and the reverse
index name -> watching sessions. Only sessions that watch cost memory; a session's
subscriptions end with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from typing import Any

import const
from protocol import Event, UserJoined
from protocol.codec import encode

MAX_DELAY = 1.0
DELAY_PER_USER = 0.0001

_NOBODY: frozenset = frozenset()


class Watchlists:
    """Who watches whom, by canonical name (``registry.canonical``).

    Sessions are opaque here (anything hashable with ``write_frame``, ``crowded()`` and
    ``held``: see :class:`PresenceNotices`). ``max_watched``
    bounds the names one session watches at once.
    """

    __slots__ = ("max_watched", "_watching", "_watchers")

    def __init__(self, max_watched: int) -> None:
        self.max_watched = max_watched
        self._watching: dict[Any, set[str]] = {}  # session -> the keys it watches
        self._watchers: dict[str, set[Any]] = {}  # key -> the sessions that watch it

    def watch(self, session: Any, keys: Iterable[str]) -> bool:
        """Add ``keys`` to what ``session`` watches; all or nothing: False (and nothing
        added) if that would make more than ``max_watched``."""
        current = self._watching.get(session, _NOBODY)
        new = set(keys) - current
        if len(current) + len(new) > self.max_watched:
            return False
        if not new:
            return True
        self._watching.setdefault(session, set()).update(new)
        for key in new:
            self._watchers.setdefault(key, set()).add(session)
        return True

    def unwatch(self, session: Any, keys: Iterable[str]) -> None:
        """Stop ``session`` watching ``keys``; keys it does not watch are ignored."""
        current = self._watching.get(session)
        if current is None:
            return
        for key in keys:
            if key in current:
                current.discard(key)
                self._drop_watcher(key, session)
        if not current:
            del self._watching[session]

    def forget(self, session: Any) -> None:
        """``session`` is gone: end all its subscriptions."""
        for key in self._watching.pop(session, _NOBODY):
            self._drop_watcher(key, session)

    def watched_by(self, session: Any) -> Collection[str]:
        """The keys ``session`` watches (do not modify)."""
        return self._watching.get(session, _NOBODY)

    def watchers(self, key: str) -> Collection[Any]:
        """The sessions that watch ``key`` (do not modify)."""
        return self._watchers.get(key, _NOBODY)

    def _drop_watcher(self, key: str, session: Any) -> None:
        sessions = self._watchers[key]
        sessions.discard(session)
        if not sessions:
            del self._watchers[key]  # so idle names cost nothing


class PresenceNotices:
    """Routes join and leave notices: batched to everyone, or at once to watchers.

    ``schedule(delay, callback)`` is the event loop's ``call_later`` (tests pass their own);
    ``recipients()`` returns the sessions to write to when a batch for everyone goes out;
    ``watchers(key)`` the sessions that watch user ``key``; ``room_limit`` is the largest
    number of users online for which everyone is told. A session that is ``crowded()`` is
    written nothing: what it missed waits, coalesced, until :meth:`drained`, and its
    ``held`` is set so that it is called then (relay.drained). ``clock``: seconds, for the
    damping of a user whose presence churns, with ``flap_changes``, ``flap_window`` and
    ``settle`` (see the module's docstring).
    """

    def __init__(self, schedule: Callable[[float, Callable[[], None]], object],
                 recipients: Callable[[], Iterable], watchers: Callable[[str], Iterable] = lambda key: (),
                 room_limit: int | float = float("inf"), clock: Callable[[], float] = time.monotonic,
                 flap_changes: int = const.PRESENCE_FLAP_CHANGES, flap_window: float = const.PRESENCE_FLAP_WINDOW,
                 settle: float = const.PRESENCE_SETTLE) -> None:
        self._schedule = schedule
        self._recipients = recipients
        self._watchers = watchers
        self.room_limit = room_limit
        self._clock = clock
        self.flap_changes, self.flap_window, self.settle = flap_changes, flap_window, settle
        # told(key, name, "online" or "offline"): called for each change told (not held),
        # whatever the regime: the relay tells the members of the user's rooms from it.
        self.told: Callable[[str, str, str], object] = lambda key, name, act: None
        # User key -> [when its window of changes began, the changes in it], in the order the
        # windows began: the expired ones are dropped from the front (bounded by the users
        # whose presence changed within a window).
        self._changes: dict[str, list] = {}
        # User key -> [online as last told, the latest event, its room_size, its online, when
        # it came]: the users whose notices are held until they settle.
        self._held: dict[str, list] = {}
        # Notices queued for everyone: (the user's key, whether it is a join, the frame).
        self._pending: list[tuple[str, bool, bytes]] = []
        # The keys of those notices. Before anything of user K goes out (a frame of theirs
        # read, their message delivered), ``if K in pending_keys: flush()``: nobody sees a
        # user act before being told they joined. (The relay tests it inline: every frame
        # passes there, and a call would cost every frame of a login storm.)
        self.pending_keys: set[str] = set()
        # Crowded session -> user key -> (was online for it, is online, the latest notice):
        # only keys whose presence differs from what the session last saw are kept.
        self._missed: dict[Any, dict[str, tuple[bool, bool, bytes]]] = {}

    def announce(self, event: Event, room_size: int, key: str | None = None, online: int = 0,
                 settled: bool = False) -> None:
        """Tell of ``event`` (UserJoined, UserLeft about user ``key``): to everyone if
        ``online`` (users online, that user included) is at most the room limit, else to
        the watchers of ``key``. ``room_size`` (connections) sets the batch's delay. A user
        whose presence churns is held (see the module's docstring); ``settled``: the state a
        held user settled in, told now (not counted again).
        (Inline, as the relay's checks: a login storm pays every call here; test_login_cost.)"""
        if not settled:
            user, now = key if key is not None else event.name, self._clock()
            held = self._held.get(user)
            if held is not None:
                held[1:] = [event, room_size, online, now]
                return
            changes = self._changes.get(user)
            if changes is None or now - changes[0] > self.flap_window:
                windows = self._changes
                while windows:  # the expired windows, from the oldest
                    oldest = next(iter(windows))
                    if now - windows[oldest][0] <= self.flap_window:
                        break
                    del windows[oldest]
                windows.pop(user, None)  # put back last: the front stays the oldest
                changes = windows[user] = [now, 0]
            changes[1] += 1
            if changes[1] > self.flap_changes:
                self._hold(user, event, room_size, online, now)
                return
        else:
            user = key if key is not None else event.name
        joined = type(event) is UserJoined
        self.told(user, event.name, "online" if joined else "offline")
        if online <= self.room_limit:
            if not self._pending:
                self._schedule(min(MAX_DELAY, room_size * DELAY_PER_USER), self.flush)
            key = key if key is not None else event.name
            self._pending.append((key, joined, encode(event)))
            self.pending_keys.add(key)
            return
        watchers = self._watchers(key) if key is not None else ()
        if not watchers:
            return  # encoded for nobody: a login storm above the room limit pays nothing here
        self.flush()  # what was queued for everyone happened before this
        frame = encode(event)
        for session in watchers:
            if session.crowded():
                self._miss(session, ((key, joined, frame),))
            else:
                session.write_frame(frame)

    def _hold(self, key: str, event: Event, room_size: int, online: int, now: float) -> None:
        """User ``key`` churns: hold its notices from ``event`` on, until it settles."""
        # The state last told is the one before this change.
        self._held[key] = [type(event) is not UserJoined, event, room_size, online, now]
        self.pending_keys.add(key)  # so that the relay asks acts() before anything of theirs
        self._schedule(self.settle, lambda: self._settle(key))

    def _settle(self, key: str) -> None:
        """Tell the state held user ``key`` settled in, if none came for ``settle`` s."""
        held = self._held.get(key)
        if held is None:
            return
        wait = held[4] + self.settle - self._clock()
        if wait > 0:
            self._schedule(wait, lambda: self._settle(key))
            return
        del self._held[key]
        if not any(queued == key for queued, _joined, _frame in self._pending):
            self.pending_keys.discard(key)
        self._tell_held(key, held)

    def _tell_held(self, key: str, held: list) -> None:
        told_online, event, room_size, online = held[:4]
        if (type(event) is UserJoined) != told_online:
            held[0] = not told_online
            self.announce(event, room_size, key, online, settled=True)

    def acts(self, key: str) -> None:
        """Before anything of user ``key`` goes out (the relay asks when ``key`` is in
        ``pending_keys``): every queued notice, and a held user's state, is told first."""
        held = self._held.get(key)
        if held is not None:
            self._tell_held(key, held)
        self.flush()

    def tracked(self) -> int:
        """The users whose changes are counted or held now (memory, for tests)."""
        return len(self._changes) + len(self._held)

    def flush(self) -> None:
        """Write every queued notice to every open session now (a crowded one: later)."""
        if not self._pending:
            return
        pending = self._pending
        self._pending = []
        self.pending_keys = set(self._held)
        batch = b"".join(frame for _key, _joined, frame in pending)
        for session in self._recipients():
            if session.crowded():
                self._miss(session, pending)
            else:
                session.write_frame(batch)

    def drained(self, session: Any) -> None:
        """``session`` is no longer crowded: write what changed while it was, once, in the order
        of the latest notices."""
        missed = self._missed.pop(session, None)
        if missed:
            session.write_frame(b"".join(frame for _was, _now, frame in missed.values()))

    def forget(self, session: Any) -> None:
        """``session`` is gone: drop what waited for it."""
        self._missed.pop(session, None)

    def _miss(self, session: Any, notices: Iterable[tuple[str, bool, bytes]]) -> None:
        """Keep ``notices`` (key, joined, frame) for the crowded ``session``, coalesced per key."""
        missed = self._missed.get(session)
        if missed is None:
            missed = self._missed[session] = {}
            session.held = True  # so that drained() is called (server/session.py)
        for key, online, frame in notices:
            was = missed.pop(key, (not online,))[0]  # the first missed tells what it saw
            if was != online:
                missed[key] = (was, online, frame)  # last in the order of the latest
