"""Everyone online in the cluster, as the events stream tells it. Sans-I/O.

Each node feeds the stream's session entries (bus.SessionOn, SessionOff, NodeGone) to
its :class:`Directory`, in the stream's order, after loading the snapshot that the
stream's position matches (scripts.SNAPSHOT). Every node therefore holds the same
directory, a moment apart, and derives the same join and leave notices in the same
order: :meth:`Directory.apply` returns them. The names' uniqueness is not decided here
(the claim script decides it); the directory follows.

One exception to "the same notices": a node that was cut off from Redis alone (the others
beating on) longer than its heartbeat's TTL reads its own NodeGone, then claims its sessions' names again
(ClusterNode._rejoin). Its sessions never stopped, so its own users are not told that
they, or their neighbours on the same node, left and joined: the leave of a user with a
live session on this node is held back (``apply``'s ``here``) and dropped when the user
is online again (usually the reclaimed session's SessionOn, whose join is not told
either), or told by :meth:`Directory.let_go` if no session of the user was claimed again.
The other nodes tell the leave and the join: from where they are, that node did stop.

A node that stops in order (ClusterNode.hand_off) releases its sessions with the leave
reason ``const.SHUTDOWN_REASON`` and tells their users to move to another node. The leave
of a user whose last session ended so is not told at once but held for
``const.CLUSTER_MOVE_GRACE`` seconds (:attr:`moving`): if the user is online again by then
(on the next node of their list), neither the leave nor the join is told; otherwise
:meth:`overdue` tells the leave then. Every node holds and tells the same.

``registry`` is a :class:`registry.Registry` whose endpoints' sessions are session ids
(``node/number``), so the relay asks it as it asks its own registry (who, whois, watch).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

import const
from registry import Registry

from . import bus


@dataclass(frozen=True, slots=True)
class Joined:
    """User ``key`` came online (its first session in the cluster)."""

    key: str
    name: str
    since: float


@dataclass(frozen=True, slots=True)
class Left:
    """User ``key`` went offline (its last session in the cluster ended)."""

    key: str
    name: str
    reason: str
    at: float


# The reason a leave notice gives for the users of a node that stopped beating.
NODE_GONE_REASON = "connection lost (server stopped)"


def node_of(sid: str) -> str:
    """The node of session id ``sid`` (``node/number``)."""
    return sid.rsplit("/", 1)[0]


class Directory:
    """The cluster's users online, by session; see the module docstring."""

    def __init__(self, node: str | None = None) -> None:
        self.registry = Registry()
        self._sessions: dict[str, tuple[str, str]] = {}  # sid (the object registered) -> (key, name)
        # Where each online user's sessions are, seen from node ``node``: True if all on
        # it, False if one is on another node; offline users are not in it. Set from the
        # registry's record whenever a session of the user comes or goes (_add, _remove,
        # load: the only changes of sessions), so ``where.get(key)`` answers the node's
        # per-message questions (ClusterNode._here) in one dict lookup, no Python call.
        # The same dict for the directory's life (load empties it in place): holders of
        # it stay current.
        self._mine = None if node is None else node + "/"
        self.where: dict[str, bool] = {}
        # The leaves held back after this node's own NodeGone (see the module docstring):
        # user key -> name, of users offline here whose sessions this node is claiming
        # again. Empty but for the moment of a rejoin.
        self.held: dict[str, str] = {}
        # The leaves held back for users whose node stopped (see the module docstring):
        # user key -> (the leave, the time.time() after which it is told).
        self.moving: dict[str, tuple[Left, float]] = {}

    def __len__(self) -> int:
        return len(self.registry)

    def load(self, users: list[tuple[str, str, bool, list[tuple[str, str, int, float]]]]) -> None:
        """Start again from ``users``: (key, name, shared, [(sid, address, port, since)])."""
        self.registry = Registry()
        self._sessions = {}
        self.where.clear()
        for key, name, shared, sessions in users:
            for sid, address, port, since in sessions:
                self._add(key, name, shared, sid, address, port, since)
        for key in [key for key in self.held if key in self.where]:  # online after all: nothing to tell
            del self.held[key]
        for key in [key for key in self.moving if key in self.where]:  # moved meanwhile
            del self.moving[key]

    def apply(self, event: bus.BusEvent, now: float, here: Container[str] = ()) -> list[Joined | Left]:
        """Apply one session entry of the stream; the notices it makes (``now``: the time
        of the leave notices of a dead node's users, and from which a stopped node's
        users have the grace to move). Other entries change nothing.

        ``here``, for a NodeGone of this directory's own node: the keys of the users with
        a session still open on this node, whose names it claims again. Their leaves are
        not returned but held (:attr:`held`) until they are online again, when neither
        the leave nor the join is told, or until :meth:`let_go`."""
        kind = type(event)
        if kind is bus.SessionOn:
            if self._add(event.key, event.name, event.shared, event.sid, event.address, event.port, event.since):
                if self.held and self.held.pop(event.key, None) is not None:
                    return []  # back before anyone here was told it left
                if self.moving and self.moving.pop(event.key, None) is not None:
                    return []  # moved from a node that stopped: no news
                return [Joined(event.key, event.name, event.since)]
        elif kind is bus.SessionOff:
            name = self._remove(event.sid)
            if name is not None:
                left = Left(event.key, name, event.reason, event.at)
                if event.reason == const.SHUTDOWN_REASON:
                    self.moving[event.key] = (left, now + const.CLUSTER_MOVE_GRACE)
                    return []
                return [left]
        elif kind is bus.NodeGone:
            if self._mine != event.node + "/":
                here = ()
            notices: list[Joined | Left] = []
            for sid in [sid for sid in self._sessions if node_of(sid) == event.node]:
                key = self._sessions[sid][0]
                name = self._remove(sid)
                if name is None:
                    continue
                if key in here:
                    self.held[key] = name
                else:
                    notices.append(Left(key, name, NODE_GONE_REASON, now))
            return notices
        elif kind is bus.Registered:
            record = self.registry.lookup_key(event.key)
            if record is not None:
                record.shared = True
        return []

    def nodes_of(self, key: str) -> set[str]:
        """The nodes holding a session of ``key`` (none if offline)."""
        return {node_of(sid) for sid in self.registry.sessions_by_key(key)}

    def overdue(self, now: float) -> list[Left]:
        """The held leaves of users whose node stopped and who are not back within the
        grace (``now``: ``time.time()``), in the order they were held."""
        if not self.moving:
            return []
        due = [key for key, (_left, deadline) in self.moving.items() if deadline <= now]
        return [self.moving.pop(key)[0] for key in due]

    def let_go(self, key: str, reason: str, at: float) -> list[Left]:
        """The last session of ``key`` on this node ended without its name claimed again
        (closed as the claim failed, or logged out before it): the leave held back for
        ``key``, if any, now with ``reason`` and ``at`` (and only if ``key`` is still
        offline: a session elsewhere that came meanwhile already ended the hold)."""
        name = self.held.pop(key, None)
        if name is None or key in self.where:
            return []
        return [Left(key, name, reason, at)]

    def _add(self, key: str, name: str, shared: bool, sid: str, address: str, port: int, since: float) -> bool:
        """Put session ``sid`` in; True if its user just came online."""
        if sid in self._sessions:
            return False
        self._sessions[sid] = (key, name)
        record = self.registry.lookup_key(key)
        if record is None:
            self.registry.register(name, address, port, since, sid, shared=shared)
            self._locate(key)
            return True
        # Uniqueness was decided by the claim; the directory only follows, even a guest's
        # second session (its first one's end may still be on its way).
        was_shared, record.shared = record.shared, True
        self.registry.register(name, address, port, since, sid, shared=True)
        record.shared = was_shared
        self._locate(key)
        return False

    def _remove(self, sid: str) -> str | None:
        """Take session ``sid`` out: its user's name if the user is now offline, else None."""
        held = self._sessions.pop(sid, None)
        if held is None:
            return None
        key, _ = held
        record = self.registry.lookup_key(key)
        if record is None:
            return None
        name = record.name
        session = next((e.session for e in record.endpoints if e.session == sid), None)
        gone = self.registry.unregister(name, session)
        self._locate(key)
        return name if gone else None

    def _locate(self, key: str) -> None:
        """Set ``where[key]`` from the registry's record of ``key`` (see __init__)."""
        record = self.registry.lookup_key(key)
        if record is None:
            self.where.pop(key, None)
            return
        mine = self._mine
        self.where[key] = mine is not None and all(sid.startswith(mine) for sid in record.sessions)
