"""Read marks in rooms (issue 13): "read by N" under a post, cheap and bounded.

The rules:

1. **One mark per member and room**, cumulative ("I have seen this room's posts up to
   msg_id N"), stored as a ``reads`` row with the room's key as the peer (never a row per
   post); it only grows. A member sends ``read`` with ``room`` when the room is shown and
   focused (the terminal: when it printed the post).
2. **Small rooms only are told.** In a room of at most ``const.ROOM_READS_LIMIT`` members,
   the members online whose sessions have the ``read`` feature are sent the room's marks
   as an anonymous list (the other members' marks, highest first); each client counts
   "read by N" under its own posts from it. A larger room keeps the marks it is sent but
   tells nobody: a list per member per move would cost members² frames.
3. **Coalesced**: at most one list per room per ``const.ROOM_READS_INTERVAL`` seconds;
   marks moved meanwhile go out together at the end of the interval.
4. **The switch**: a member with read receipts off neither sends marks (``forbidden``), nor
   is counted, nor is sent lists (server/afterdelivered.py says who has them off).
5. **Blocking does not hide a mark**: a mark is anonymous (a number, no name), so every
   member with receipts on is counted, whoever blocks whom.
6. **Memory**: the marks are held only for small rooms with a member online who gets
   lists; loaded from the store when such a member logs in or joins, forgotten when the
   last of them goes. Members who left are dropped at the next list. So the state is at
   most ``ROOM_READS_LIMIT`` numbers per room with someone online in it.
7. **One's own mark goes to one's other sessions**: a ``read`` that moves a member's mark
   is forwarded to their other sessions (version 2, ``read`` feature, receipts on) as a
   ``read`` with ``room``, ``msg_id`` and ``from`` (the member), as a direct ``read`` is
   (server/afterdelivered.py), so a room read on one device is no longer unread on the
   others; on other nodes of a cluster through the same ``conv`` entry as a direct read's
   (:data:`ROOM_READ`). Whatever the room's size: it is per read, to one user's sessions.

:class:`ReadMarks` is the sans-I/O core (marks in, which rooms are due out, a fake clock in
tests); :class:`RoomReads` is the shell on the relay (the store, sessions, a timer).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

import const
from protocol import READ, ErrorCode, ErrorReply, RoomRead
from protocol.codec import encode

from .rooms import room_key
from .wakeup import Wakeup

if TYPE_CHECKING:
    from .afterdelivered import AfterDelivered
    from .session import ClientSession

# The feature a routed room ``read`` names (bus.Conversation): one's own mark in a room,
# for one's sessions with the ``read`` feature that speak protocol version 2 only.
ROOM_READ = "room_read"


class ReadMarks:
    """The marks of the rooms being told, and when each room's next list is due. No I/O:
    times come in as ``now`` (seconds of a monotonic clock)."""

    def __init__(self, interval: float = const.ROOM_READS_INTERVAL) -> None:
        self.interval = interval
        # room key -> member key -> the msg_id they have read up to.
        self._marks: dict[str, dict[str, int]] = {}
        # Rooms with a moved mark not yet sent, and when each room's last list went (only
        # rooms whose list went less than an interval ago matter: older ones are pruned).
        self._dirty: set[str] = set()
        self._sent_at: dict[str, float] = {}

    def holds(self, room: str) -> bool:
        return room in self._marks

    def marks(self, room: str) -> Mapping[str, int]:
        """The marks held for ``room`` (empty if none)."""
        return self._marks.get(room, {})

    def load(self, room: str, marks: Mapping[str, int]) -> None:
        """The stored marks of ``room``: held from now on (merged with any that moved
        while they were read: each mark keeps the higher). Changes nothing to tell."""
        held = self._marks.setdefault(room, {})
        for member, mark in marks.items():
            if mark > held.get(member, -1):
                held[member] = mark

    def move(self, room: str, member: str, msg_id: int) -> bool:
        """``member`` has read ``room`` up to ``msg_id``: True if that raised their mark
        (the room's list is then due, see :meth:`due`)."""
        held = self._marks.setdefault(room, {})
        if msg_id <= held.get(member, -1):
            return False
        held[member] = msg_id
        self._dirty.add(room)
        return True

    def touch(self, room: str) -> None:
        """``room``'s list is to be sent again (who is counted changed)."""
        if room in self._marks:
            self._dirty.add(room)

    def keep_only(self, room: str, members: Iterable[str]) -> None:
        """Drop the marks of ``room`` of those no longer among ``members``."""
        held = self._marks.get(room)
        if held:
            kept = set(members)
            for member in [m for m in held if m not in kept]:
                del held[member]

    def forget(self, room: str) -> None:
        """Hold nothing more of ``room`` (nobody online is told, or it grew too large)."""
        self._marks.pop(room, None)
        self._dirty.discard(room)
        self._sent_at.pop(room, None)

    def due(self, now: float) -> list[str]:
        """The rooms whose list is to go now (a mark moved, and their last list went at
        least an interval ago), noted as sent at ``now``."""
        for room in [r for r, at in self._sent_at.items() if at + self.interval <= now]:
            del self._sent_at[room]
        ready = sorted(room for room in self._dirty if room not in self._sent_at)
        for room in ready:
            self._dirty.discard(room)
            self._sent_at[room] = now
        return ready

    def next_deadline(self) -> float | None:
        """When :meth:`due` has a room to give next (None: nothing waits; a time already
        past: at once)."""
        if not self._dirty:
            return None
        return min(self._sent_at.get(room, float("-inf")) + self.interval for room in self._dirty)

    def size(self) -> int:
        """The marks held in all (for tests of the bound)."""
        return sum(len(held) for held in self._marks.values())


class RoomReads:
    """The shell around :class:`ReadMarks` for one relay (see the module docstring)."""

    def __init__(self, after: AfterDelivered,
                 schedule: Callable[[float, Callable[[], None]], object] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.after = after
        self.relay = after.relay
        self.core = ReadMarks()
        self._clock = clock
        self._waker = Wakeup(schedule, clock)

    # --- From a client ------------------------------------------------------------------

    def read(self, session: ClientSession, request: RoomRead) -> None:
        """A ``read`` with ``room``: move the member's mark, and in a small room tell the
        members (coalesced). Errors (no ``id``): ``unknown_type`` (no feature),
        ``forbidden`` (receipts off), ``bad_field`` (no ``msg_id``, or ``marks`` from a
        client), ``no_such_room``, ``not_member``, ``unknown_message``, ``unavailable``."""
        after = self.after
        if not after._asked(session, READ, "read") or after._receipts_refused(session, "read"):
            return
        if request.msg_id is None or request.marks is not None:
            session.send(ErrorReply(ErrorCode.BAD_FIELD, "a 'read' with 'room' takes 'msg_id' (and no 'marks')"))
            return
        rooms = self.relay.room_desk.rooms
        room = rooms.get(request.room_name)
        me = session.key
        if room is None:
            session.send(rooms.missing(request.room_name).reply(None))
            return
        if room is rooms.default or me not in room.members:
            session.send(ErrorReply(ErrorCode.NOT_MEMBER, f"you are not in {room.name}: join it first",
                                    room_name=room.name))
            return
        key, msg_id = room_key(room.name), request.msg_id
        if not rooms.holds(room, msg_id):  # an earlier room's of the name: not this room's post
            session.send(ErrorReply(ErrorCode.UNKNOWN_MESSAGE, f"message {msg_id} is not a post of {room.name}"))
            return

        def recorded(result: tuple[int | None, bool]) -> None:
            mark, moved = result
            if mark is None:
                session.send(ErrorReply(ErrorCode.UNKNOWN_MESSAGE, f"message {msg_id} is not a post of {room.name}"))
                return
            if moved:
                self._tell_own(session, room.name, mark)  # rule 7, whatever the room's size
            now_room = rooms.get(key)
            if now_room is None or len(now_room.members) > const.ROOM_READS_LIMIT:
                self.core.forget(key)  # stored, not told; loaded again if the room is small again
                return
            if not moved:
                return
            self.relay.peers.room_read_moved(key, me, mark)  # a cluster's other nodes count it too
            self.moved(key, me, mark)

        after.store_call(session, None, self.relay.store.record_room_read, me, key, msg_id, callback=recorded)

    def moved(self, key: str, member: str, mark: int) -> None:
        """``member``'s mark in room ``key`` moved up to ``mark`` (stored), here or on another
        node of a cluster (its events stream; this node's own come back too, and count once:
        a mark only grows): the room's members here are told, coalesced."""
        room = self.relay.room_desk.rooms.get(key)
        if room is None or len(room.members) > const.ROOM_READS_LIMIT:
            self.core.forget(key)  # stored, not told; loaded again if the room is small again
            return
        if self.core.holds(key):
            if self.core.move(key, member, mark):
                self._flush()
            return
        if not self._anyone_told(key):
            return  # nobody here gets its lists (rule 6): nothing to hold

        # Not held (nobody was told, or it was too large): the marks from the store, which
        # has this one too (it answers in order).
        def loaded(marks: dict[str, int]) -> None:
            if self._anyone_told(key):  # else held by nobody's need (rule 6)
                self.core.load(key, marks)
                self.core.touch(key)
                self._flush()

        self.relay.store.room_read_marks(key, list(room.members), loaded, lambda _failure: None)

    def _tell_own(self, session: ClientSession, name: str, mark: int) -> None:
        """The reader's other sessions that are told (:meth:`_told`) learn that they read
        room ``name`` up to ``mark`` (rule 7); those on other nodes through a ``conv`` entry,
        when the rooms are one across the nodes (else each node's rooms are its own),
        whatever this node's directory shows, as for a direct read: it lags Redis, and a
        device of the reader that logged in on another node an instant ago would otherwise
        show the room unread while it stays connected (Redis knows where the reader is:
        tests/integration/test_cluster_lagging_directory.py). The frame is built only if
        some session is to get it."""
        me, peers = session.key, self.relay.peers
        here = [other for other in self.relay.registry.sessions_by_key(me)
                if other is not session and not other.closing and self._told(other)]
        elsewhere = peers.shares_rooms
        if session.name is None or not (here or elsewhere):
            return
        frame = encode(RoomRead(name, mark, sender=session.name))
        for other in here:
            other.write_frame(frame)
        if elsewhere:
            peers.conversation(me, me, ROOM_READ, frame)

    # --- Sessions -----------------------------------------------------------------------

    def logged_in(self, session: ClientSession) -> None:
        """A session logged in: the current list of each small room its user is in, once."""
        if not self._told(session):
            return
        for name in self.relay.room_desk.rooms.rooms_of(session.key):
            self._give(room_key(name), [session])

    def joined(self, session: ClientSession, name: str) -> None:
        """``session``'s user joined room ``name``: its current list, once, to their sessions."""
        sessions = [s for s in self.relay.registry.sessions_by_key(session.key) if self._told(s)]
        if sessions:
            self._give(room_key(name), sessions)

    def logged_out(self, session: ClientSession) -> None:
        """``session`` is going: forget the marks of rooms where nobody else online is told."""
        rooms = self.relay.room_desk.rooms
        for name in rooms.rooms_of(session.key):
            key = room_key(name)
            if self.core.holds(key) and not self._anyone_told(key, besides=session):
                self.core.forget(key)

    def switched(self, key: str) -> None:
        """User ``key`` turned receipts on or off: their rooms' lists count them or not."""
        for name in self.relay.room_desk.rooms.rooms_of(key):
            self.core.touch(room_key(name))
        self._flush()

    # --- Inside -------------------------------------------------------------------------

    def _told(self, session: ClientSession) -> bool:
        """Whether ``session`` gets lists: the ``read`` feature, version 2, receipts on."""
        return (READ in self.after.features.get(session, ()) and session.conn.may_send(RoomRead)
                and session.key not in self.after.receipts_off and session.is_open)

    def _anyone_told(self, key: str, besides: ClientSession | None = None) -> bool:
        """Whether a member of room ``key`` online (other than ``besides``) gets its lists."""
        room, registry = self.relay.room_desk.rooms.get(key), self.relay.registry
        return room is not None and any(other is not besides and self._told(other)
                                        for member in room.members for other in registry.sessions_by_key(member))

    def _give(self, key: str, sessions: list[ClientSession]) -> None:
        """Send ``sessions`` room ``key``'s current list, loading its marks first if needed."""
        room = self.relay.room_desk.rooms.get(key)
        if room is None or len(room.members) > const.ROOM_READS_LIMIT:
            self.core.forget(key)
            return
        if self.core.holds(key):
            self._send(key, sessions, empty=False)
            return

        def loaded(marks: dict[str, int]) -> None:
            if self._anyone_told(key):  # they may have gone meanwhile: then hold nothing (rule 6)
                self.core.load(key, marks)
                self._send(key, sessions, empty=False)

        self.relay.store.room_read_marks(key, list(room.members), loaded, lambda _failure: None)

    def _flush(self) -> None:
        """Send the lists that are due; set a timer for the next."""
        for key in self.core.due(self._clock()):
            self._send(key, None)
        self._wake()

    def _wake(self) -> None:
        self._waker.at(self.core.next_deadline(), self._flush)

    def _send(self, key: str, sessions: list[ClientSession] | None, empty: bool = True) -> None:
        """Room ``key``'s list to ``sessions`` (None: to every member online who is told):
        each member gets the marks of the others with receipts on, highest first. Without
        ``empty`` (at a login or join), an empty list is not sent: there is nothing to count."""
        room = self.relay.room_desk.rooms.get(key)
        if room is None or len(room.members) > const.ROOM_READS_LIMIT:
            self.core.forget(key)
            return
        self.core.keep_only(key, room.members)
        off, held = self.after.receipts_off, self.core.marks(key)
        counted = {member: mark for member, mark in held.items() if member not in off}
        if sessions is None:
            registry = self.relay.registry
            sessions = [s for member in room.members for s in registry.sessions_by_key(member)]
        frames: dict[str, bytes] = {}
        for session in sessions:
            if session.closing or not self._told(session):
                continue
            me = session.key
            frame = frames.get(me)
            if frame is None:
                marks = tuple(sorted((mark for member, mark in counted.items() if member != me), reverse=True))
                frame = frames[me] = encode(RoomRead(room.name, marks=marks)) if marks or empty else b""
            if not frame:
                continue
            session.write_frame(frame)

