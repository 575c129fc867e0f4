"""The relay's desk for rooms: room requests in, answers and notices out. No sockets here.

The rules are server/rooms.py's (a sans-I/O core); this desk is the shell around it on
the server: it says who asks (a :class:`~server.rooms.Person` from the session), turns the
core's decisions into frames, stores what changed before it answers (an ``ok`` is a
promise: if the store fails, the room is put back as it was stored and the request is
answered ``unavailable``), routes each notice to the room's members and to the person it
names, and logs each moderation act. Room messages are stored like ``say``'s (kind
"room"), with the room as their recipient, so a resend under the same id is recognised.

Only sessions that speak protocol version 2 get room frames: a version 1 session is in the
default room only, and sees it as before.

Around the messages (issue 13): ``history`` with a room's name pages the room's messages
for its members; a member's first session after being away gets what they missed
(:meth:`RoomDesk.logged_in`, one cursor per membership, written at the join and at
logout); members online hear when another comes online or goes offline, in rooms up to
the presence limit; a mute's end is announced on time, by a timer on the core's next
deadline. Edits and deletes of posts (server/afterdelivered.py decides them) go to the
members online (:meth:`RoomDesk.post_changed`) and, for members who were away, come at
their login after their missed messages: the posts they had that changed since they left
(the cursors' LEFT_AT mark), read from each room's latest changes.

In a cluster whose store is Redis's (``peers.shares_rooms``, docs/cluster.md "Named
rooms"), the rooms are one across the nodes. Every change is decided here on the room as
this desk knows it, at the room's version, and stored by a script that writes it only if
the room is still at that version in Redis, putting it (with its notices) on the events
stream in the same step; if another node changed the room first, the desk takes the
room as Redis has it and decides the request again. A post is stored the same way (only
at the version its right was decided on), with its entry on the stream. Every node,
this one too, applies the changes (:meth:`RoomDesk.changed`) and writes the notices and
posts (:meth:`RoomDesk.fan_out`) to its own sessions in the stream's one order. While a
change of a room waits for Redis, the next requests on that room wait for it here.
Edits and deletes of posts are told by the node that stored them to its sessions, and
by the others as the events stream brings them (:meth:`RoomDesk.post_change_stored`): the
store put them there in the step that stored them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import const
from protocol import (
    Accepted, ErrorCode, ErrorReply, Appoint, Ban, Done, Invite, JoinRoom, Kick, LeaveRoom, MemberEntry, MemberList,
    HistoryEntry, HistoryPage, HistoryRequest, MembersRequest, Mute, RoomEntry, RoomInfo, RoomList, RoomNotice, RoomPost, RoomsRequest, SendToRoom,
    SetRoomMode, SetTopic, Unban, Unmute,
)
from protocol.codec import encode, fit_page
from registry import InvalidName, canonical, lookalike_key, validate_name
from shared.plural import counted

from . import mailbox, sendorder
from .addresses import address_group
from .accountdesk import NoAccount
from .afterdelivered import changes_since_ms, room_change_event
from .clocksteps import StepWatch
from .limits import TokenBucket, retry_seconds, wait_words
from .login import unavailable_error
from .logsummary import LogSummary
from .store import StoreUnavailable
from .wakeup import Wakeup
from .rooms import (
    PREFIX, Entered, LogLine, Member, Notice, Person, Refused, Role, RoomSummary, Rooms, record_members, room_key,
)

if TYPE_CHECKING:
    from .relay import Relay
    from .session import ClientSession

log = logging.getLogger("chat.rooms")


def _now_ms() -> int:
    """The time as a room cursor's LEFT_AT mark holds it (mailbox.LEFT_AT)."""
    return int(time.time() * 1000)


def _last_heard_ms(session: ClientSession) -> int:
    """When the server last had bytes from ``session``, as a LEFT_AT mark: a client that
    stops reading (its connection died unnoticed, until the heartbeat's timeout ends the
    session) may never read what was written to it after that."""
    return int((time.time() - (time.monotonic() - session.last_seen)) * 1000)


def seen_mark(room_seen: int | None, last_heard: int | None) -> mailbox.SeenMark | None:
    """A hello's ``room_seen`` and ``last_heard`` as the mark its client's room changes
    are told from (None unless it said both; the time: changes_since_ms)."""
    if room_seen is None or last_heard is None:
        return None
    return mailbox.SeenMark(room_seen, changes_since_ms(last_heard))

# Every request of protocol version 2 the desk answers: the relay has one dispatch entry
# for each (Relay._handlers), and rates them as it rates every request.
ROOM_REQUESTS = (JoinRoom, LeaveRoom, RoomsRequest, MembersRequest, SendToRoom, Invite, SetTopic, Kick, Ban,
                 Unban, Mute, Unmute, Appoint, SetRoomMode)
# Rooms and members listed per page at most before fit_page cuts by bytes.
_MAX_ITEMS_PER_PAGE = const.MAX_FRAME_BYTES // 20
# Seconds after a deadline that its timer fires (the loop's clock and time.time() differ).
_WAKE_LATE = 0.01
# In a cluster: how many times a request is decided again because other nodes changed its
# room first, before it is answered ``unavailable`` (each try is one Redis round trip).
_ATTEMPTS = 5
# In a cluster: how long a guest name's hand-over waits for the turns of its earlier holder's
# rooms (each request before it on a room waits for Redis, stores/redis.py DEFAULT_TIMEOUT =
# 5 s at most) before it lets them go, to be tried again at the next expiry pass.
_HANDOVER_WAIT = 10.0

# What a user in no room has had of their rooms: nothing, shared by all of them (read-only;
# see RoomDesk.logged_in).
_NOTHING_HAD: MappingProxyType[str, int] = MappingProxyType({})


class RoomDesk:
    """Rooms for one relay: see the module docstring."""

    def __init__(self, relay: Relay, schedule: Callable[[float, Callable[[], None]], object] | None = None) -> None:
        """``schedule(delay, callback)`` (the loop's call_later) wakes the desk when a mute
        ends; without it, mutes end at the relay's periodic :meth:`expire` only."""
        self.relay = relay
        self.schedule = schedule  # also the room read marks' timer (server/roomreads.py)
        # The rooms' log lines that one user can cause in numbers (rooms created), per
        # address: a few in full, a flood counted (on this log, chat.rooms, with the rest
        # of the rooms' lines). Swept by expire(), flushed at the relay's shutdown.
        self.log_lines = LogSummary(log, relay.config.log_summary_interval)
        # When a mute ends (the core's deadlines are on time.time()).
        self._waker = Wakeup(schedule, time.time, _WAKE_LATE)
        # The steps of the wall clock, that a mute's end is moved by (see expire), and the
        # wall clock they are read on (a test steps it alone).
        self._clock_steps = StepWatch()
        self.wall = time.time
        # Everyone online in the cluster is in the default room (relay.directory: this
        # server's registry when alone).
        admins = self.accounts_only(const.ADMINS, const.LOCAL_SETTINGS.where("ADMINS"))
        self.rooms = Rooms(admins, const.DEFAULT_ROOM, online_count=lambda: len(relay.directory),
                           accounts_only=relay.config.require_accounts)
        stored = relay.store.rooms()
        for line in self.rooms.restore(stored.values()):
            log.warning("%s", line.text)
        # What the store holds for each room: what a room is put back to when storing a
        # change to it fails.
        self._saved: dict[str, str] = dict(stored)
        # Changes of rooms not yet answered by the store: each save's number -> its rooms'
        # keys; the numbers given so far; and, on one server, each room -> its saves on
        # their way (a room is put back only by the last: a later one stores the room
        # whole, the change that failed with it). See _save.
        self._saves_open: dict[int, tuple[str, ...]] = {}
        self._saves_begun = 0
        self._saving: dict[str, int] = {}
        # ... each such room -> the record of its last save on its way (what it is put back
        # to if a later save cannot even be submitted), and the notices and log lines of
        # failed changes that a later save on its way stores all the same (said when it is
        # stored), each with what its request does after its answer (a join's read marks).
        self._sent: dict[str, str | None] = {}
        self._carried: dict[str, list[tuple[list[Notice | LogLine], Callable[[], None] | None]]] = {}
        # Lists of one's rooms asked while changes were being stored (list_rooms with
        # ``mine``): [the saves awaited, the rooms of those that failed, answer(failed keys)].
        self._lists_waiting: list[list] = []
        # Guest names whose earlier holder could not leave their rooms yet (the store failed,
        # or the rooms stayed busy) -> those rooms' keys: tried again at the next expiry pass.
        self._hand_overs_due: dict[str, set[str]] = {}
        if not self._shared:
            # A clock set back while the server was stopped: no mute lasts longer than its
            # length from now (in a cluster the nodes' clocks end the shared mutes).
            self.rooms.clamp_mutes(self.wall())
            self._save([], lambda: None, lambda _maybe_done: None)
        self._wake()
        # Missed messages (see logged_in): for each user online whose first session speaks
        # version 2, room key -> the last id of that room they have had before this login;
        # the sessions whose missed messages are being fetched, with the keys of the rooms
        # fetched; and the highest id of a room message sent to the members so far. No
        # record per message: a member's cursor is written once, when they go.
        self._had: dict[str, dict[str, int] | MappingProxyType[str, int]] = {}
        self._loading: dict[ClientSession, frozenset[str]] = {}
        # Posts to a session's rooms that came while its missed ones were being fetched:
        # sent after them, unless the fetch brought them (see logged_in).
        self._held: dict[ClientSession, list[mailbox.StoredMessage]] = {}
        self._last_post_id = 0
        # Users whose first session asked the edits and deletes since their LEFT_AT mark
        # and has not had them (asked, or the read failed and is asked again) -> that
        # session: their cursors are written without a new mark meanwhile, so that the
        # changes come at their next login if not in this one (see _tell_changes).
        self._changes_untold: dict[str, ClientSession] = {}
        # In a cluster (shared): each room's version as this desk knows it (what Redis
        # gave it: see the module docstring), and the rooms with a request waiting for
        # Redis here -> the requests that came after it on that room.
        self._versions: dict[str, int] = {}
        self._busy: dict[str, list[Callable[[], None]]] = {}
        # What the stream brought for a busy room (notices, posts): written once its request
        # is answered (they may be that request's own, which one server sends after its
        # answer), in the stream's order.
        self._deferred: dict[str, list[Callable[[], None]]] = {}
        # Room key -> posts stored from here whose answer has not come back: the stream may
        # bring a post before the script's reply does, and its sender must hear "accepted"
        # before its own post comes back (as on one server), so the room's frames wait.
        self._posting: dict[str, int] = {}
        # Each room's name and members as of the events stream's position (what a post
        # read from the stream goes to), from the records the stream and the load gave.
        self._streamed: dict[str, tuple[str, list[str]]] = {}
        # (room key, member key) -> the member's budget of posts to the room
        # (over_post_budget), on time.monotonic(); forgotten by expire() once full again.
        self._post_budgets: dict[tuple[str, str], TokenBucket] = {}

    @property
    def _shared(self) -> bool:
        """Whether the rooms are one across a cluster's nodes (see the module docstring)."""
        return self.relay.peers.shares_rooms

    # --- Who is who ------------------------------------------------------------------------

    @staticmethod
    def person(session: ClientSession) -> Person:
        # By its address's group (server/addresses.py), as every per-address rule: a
        # guest banned, or rooms created, from one address of a /64 are from all of them.
        return Person(session.name, session.registered, address_group(session.address))

    def target(self, name: str) -> Person | Refused:
        """The person called ``name``: online (their account flag and address), or not."""
        try:
            validate_name(name)
        except InvalidName as exc:
            return Refused.invalid_name(exc, "name")
        record = self.relay.directory.lookup(name)  # online on any node
        if record is not None:
            first = min(record.endpoints, key=lambda e: e.since)
            return Person(record.name, record.shared, address_group(first.address))
        key = canonical(name)
        return Person(self.relay.known.get(key, name), key in self.relay.logins.accounts, None)

    # --- Requests: one method per frame type ------------------------------------------------

    def join(self, session: ClientSession, request: JoinRoom, attempt: int = 0, counted: bool = False) -> None:
        if not counted and self._waits(request.room_name, attempt, lambda: self.join(session, request)):
            return
        if self._shared and not counted and self.rooms.get(request.room_name) is None:
            self._count_ids(session, request, attempt)  # it may be made here: from which id on (Rooms.holds)
            return
        decision = self.rooms.join(self.person(session), request.room_name, time.time(), request.create,
                                   request.invite_only, self.relay.store.last_msg_id())
        entered = next((e for e in decision if type(e) is Entered), None)
        answer = None if entered is None else RoomInfo(
            request.request_id, entered.room, entered.count, entered.invite_only, entered.topic, entered.owner,
            entered.created)
        # After the answer: the room's read marks, once (server/roomreads.py).
        then = None if entered is None else (lambda: self.relay.after.room_reads.joined(session, entered.room))
        self._conclude(session, request.request_id, decision, answer,
                       (request.room_name, attempt, lambda: self.join(session, request, attempt + 1)), then)
        if entered is not None and (entered.created or any(type(e) is Notice for e in decision)):
            self._joined(session.key, room_key(entered.room))

    def _count_ids(self, session: ClientSession, request: JoinRoom, attempt: int) -> None:
        """Decide ``request``, a join that may make its room, once this node knows the
        highest message id given out by any node: the room's posts start after it
        (Rooms.holds), and the posts of an earlier room of its name, which ended, are
        numbered up to it. A node knows only the ids it has seen itself and those a
        login's CLAIM read, so a room made through a node that stored nothing meanwhile
        showed, told and let its maker moderate the ended room's posts (its history, an
        invite-only room's too). Redis not answering: ``unavailable``, nothing made. Only
        here (a join of a room this node does not know), never on a post's or a login's path."""
        def counted(_highest: int) -> None:
            self.join(session, request, attempt, counted=True)

        def not_counted(failure: StoreUnavailable) -> None:
            session.send(unavailable_error(self.relay.config, request.request_id))
            self._done_with(request.room_name)

        self.relay.store.highest_msg_id(counted, not_counted)

    def _joined(self, key: str, rkey: str) -> None:
        """``key`` became a member of room ``rkey``: their cursor of it is stored now, at
        the highest id stored (submitted right after the join's own change, so in the
        same step in a cluster's batch), not first at their logout: a crash of this server
        before then must not send them the room's earlier posts as missed at their next
        login. Should the join's change not be stored after all, a cursor of a room they
        are not in is never read, and the next logout's cursors replace it."""
        def stored(last_id: int) -> None:
            had = self._had.get(key)
            if had is not None and last_id > had.get(rkey, 0):
                self._had[key] = {**had, rkey: last_id}  # a copy: _NOTHING_HAD is shared
        self.relay.store.room_joined(key, rkey, stored, lambda _failure: None)

    def leave(self, session: ClientSession, request: LeaveRoom, attempt: int = 0) -> None:
        if self._waits(request.room_name, attempt, lambda: self.leave(session, request)):
            return
        self._conclude(session, request.request_id,
                       self.rooms.leave(self.person(session), request.room_name, time.time()), None,
                       (request.room_name, attempt, lambda: self.leave(session, request, attempt + 1)))

    def set_topic(self, session: ClientSession, request: SetTopic, attempt: int = 0) -> None:
        if self._waits(request.room_name, attempt, lambda: self.set_topic(session, request)):
            return
        self._conclude(session, request.request_id,
                       self.rooms.set_topic(self.person(session), request.room_name, request.topic, time.time()),
                       None, (request.room_name, attempt, lambda: self.set_topic(session, request, attempt + 1)))

    def set_mode(self, session: ClientSession, request: SetRoomMode, attempt: int = 0) -> None:
        if self._waits(request.room_name, attempt, lambda: self.set_mode(session, request)):
            return
        self._conclude(session, request.request_id,
                       self.rooms.set_invite_only(self.person(session), request.room_name, request.invite_only,
                                                  time.time()),
                       None, (request.room_name, attempt, lambda: self.set_mode(session, request, attempt + 1)))

    def moderate(self, session: ClientSession, request: Any, attempt: int = 0) -> None:
        """invite, kick, ban, unban, mute, unmute, appoint: an act on the person ``name``."""
        if self._waits(request.room_name, attempt, lambda: self.moderate(session, request)):
            return
        again = (request.room_name, attempt, lambda: self.moderate(session, request, attempt + 1))
        target = self.target(request.name)
        if type(target) is Refused:
            self._conclude(session, request.request_id, [target], None, again)
            return
        if target.account:
            return self._moderate(session, request, target, again)

        # "No account" decides an invitation where only accounts log in, and whether a ban
        # keeps a guest's address out: asked of the store in a cluster, whose cache may not
        # have an account registered on another node a moment ago (LoginDesk.account_now).
        # The room stays this request's meanwhile (_waits).
        def found(account: Any) -> None:
            # (Named as registered: the name typed, when no node told this one of the user.)
            self._moderate(session, request,
                           target if account is None else replace(target, name=account.name, account=True), again)

        def failed(failure: StoreUnavailable) -> None:
            session.send(unavailable_error(self.relay.config, request.request_id, failure))
            self._done_with(request.room_name)

        self.relay.logins.account_now(canonical(target.name), found, failed)

    def _moderate(self, session: ClientSession, request: Any, target: Person,
                  again: tuple[str, int, Callable[[], None]]) -> None:
        """:meth:`moderate` once ``target`` is known as it is now."""
        me, room, now = self.person(session), request.room_name, time.time()
        kind = type(request)
        if kind is Invite:
            decision = self.rooms.invite(me, room, target, now)
        elif kind is Kick:
            decision = self.rooms.kick(me, room, target, now, request.reason)
        elif kind is Ban:
            decision = self.rooms.ban(me, room, target, now, request.reason)
        elif kind is Unban:
            decision = self.rooms.unban(me, room, target, now)
        elif kind is Mute:
            decision = self.rooms.mute(me, room, target, now, request.reason, request.seconds)
        elif kind is Unmute:
            decision = self.rooms.unmute(me, room, target, now)
        else:
            try:
                role = Role(request.role)
            except ValueError:
                role = Role.OUTSIDER  # refused by the core, with the words for it
            decision = self.rooms.appoint(me, room, target, role, now)
        self._conclude(session, request.request_id, decision, None, again)
        if kind is Mute:
            self._wake()

    def list_rooms(self, session: ClientSession, request: RoomsRequest) -> None:
        """A page of the rooms one may see, or with ``mine`` of one's own rooms (the core
        reads its per-person index; in a cluster every node's core holds every room, so
        any node answers alike). A ``mine`` answer says ``mine``: an older server's does
        not, which is how a client tells the two apart (PROTOCOL.md, ``rooms``). A list of
        one's rooms asked while changes are being stored waits for them (_list_mine)."""
        if not self.relay.intake.admit(session, self.list_rooms, request):
            return  # up to a frame: a burst of them waits for the queue (server/intake.py)
        if request.mine and self._saves_open:
            # The rooms here have changes the store may yet refuse (then they are put back):
            # a page drops every room a list of its own lacks, so this list says what the
            # store kept, once it has answered them; if one of those that failed was of a
            # room of this user's, it says nothing (unavailable), as the change's own answer.
            before = {room_key(name) for name in self.rooms.rooms_of(session.key)}
            self._lists_waiting.append([set(self._saves_open), set(),
                                        lambda failed: self._list_mine(session, request, before, failed)])
            return
        self._list(session, request)

    def _list_mine(self, session: ClientSession, request: RoomsRequest, before: set[str], failed: set[str]) -> None:
        """Answer ``session``'s list of its rooms, asked while changes were being stored
        (``before``: its rooms then, those changes in), now that they are answered:
        ``unavailable`` if one of its rooms then or now is among the ``failed``."""
        now = {room_key(name) for name in self.rooms.rooms_of(session.key)}
        if failed & (before | now):
            session.send(unavailable_error(self.relay.config, request.request_id, reading=True))
        else:
            self._list(session, request)

    def _list(self, session: ClientSession, request: RoomsRequest) -> None:
        summaries = [s for s in self.rooms.list_rooms(self.person(session), request.after, request.mine)]
        items = [RoomEntry(s.room, s.count, s.topic, s.invite_only)
                 for s in summaries[:_MAX_ITEMS_PER_PAGE] if type(s) is RoomSummary]
        more = len(summaries) > len(items)
        mine = True if request.mine else None

        def build(count: int) -> RoomList:
            cut = count < len(items) or more
            return RoomList(request.request_id, tuple(items[:count]),
                            items[count - 1].room_name if count and cut else None, mine)

        session.send(fit_page(build, items))

    def members(self, session: ClientSession, request: MembersRequest) -> None:
        if not self.relay.intake.admit(session, self.members, request):
            return  # up to a frame: a burst of them waits for the queue (server/intake.py)
        decision = self.rooms.members(self.person(session), request.room_name, request.after, time.time())
        refusal = next((e for e in decision if type(e) is Refused), None)
        if refusal is not None:
            self._refused(session, request.request_id, refusal)
            return
        room = self.rooms.get(request.room_name)
        registry = self.relay.directory  # online on any node
        items = [MemberEntry(m.name, m.role, registry.lookup_key(canonical(m.name)) is not None, m.muted)
                 for m in decision[:_MAX_ITEMS_PER_PAGE] if type(m) is Member]
        more = len(decision) > len(items)

        def build(count: int) -> MemberList:
            cut = count < len(items) or more
            return MemberList(request.request_id, room.name, tuple(items[:count]),
                              items[count - 1].name if count and cut else None)

        session.send(fit_page(build, items))

    def post(self, session: ClientSession, request: SendToRoom, attempt: int = 0) -> None:
        """A message to a room: checked by the core, stored (a resend is recognised), then
        ``accepted`` and sent to the members' sessions. To the default room it is a ``say``.
        In a cluster, a named room's message is stored only if the room is still as it was
        decided on (else decided again), and every node sends it from the events stream."""
        if self._shared and room_key(request.room_name) in self._busy:
            # A change of the room waits for Redis here: decide on the room once it is
            # stored (or not). Posts do not wait for each other: each is stored only at the
            # version it was decided on, in the order they were submitted.
            self._busy[room_key(request.room_name)].append(lambda: self.post(session, request, attempt))
            return
        now = time.time()
        refusal = self.rooms.may_post(self.person(session), request.room_name, now)
        if refusal is not None:
            default = self.rooms.get(request.room_name) is self.rooms.default
            self._refused_post(session, request.request_id, None if default else room_key(request.room_name),
                               request.text, refusal)
            return
        room = self.rooms.get(request.room_name)
        # Spent once per frame: a post decided again (attempt > 0, a cluster's room changed
        # meanwhile) was counted at its first decision.
        if not attempt and self.over_post_budget(session, request.request_id, room.name):
            return
        relay = self.relay
        # The store gives the message its id (stores/base.py): 0 until then.
        if room is self.rooms.default:
            relay.say(session, request.request_id, request.text, now)
            return
        message = mailbox.StoredMessage(0, session.name, session.key, room.name, room_key(room.name),
                                        request.text, now, request.request_id, "room")
        # Counted as the default room's are (chat_messages_total{kind="room"}).
        if not self._shared:
            relay.store.store_message(message, lambda result: self._posted(session, result),
                                      relay.unavailable(session, request.request_id, "room_unavailable",
                                                         sendorder.room(message.recipient_key)))
            return
        key = room_key(room.name)
        unavailable = relay.unavailable(session, request.request_id, "room_unavailable", sendorder.room(key))

        # Answered in every case, even when handling the answer raised (the store logs
        # that): else the room's frames would wait in _deferred for ever.
        def stored(result: tuple) -> None:
            try:
                if result[0] is not None:
                    self._posted(session, result)
                elif attempt + 1 < _ATTEMPTS:
                    self._reload(key, result[2], result[3])
                    self.post(session, request, attempt + 1)  # decided again on the room as it is now
                else:
                    unavailable(None)
            finally:
                self._post_answered(key)

        def not_stored(failure: Any) -> None:
            try:
                unavailable(failure)
            finally:
                self._post_answered(key)

        self._posting[key] = self._posting.get(key, 0) + 1
        relay.peers.store_room_post(message, self._versions.get(key, 0), stored, not_stored)

    def _post_answered(self, key: str) -> None:
        """A post stored from here to room ``key`` was answered: once none is left (and no
        change of the room waits), the room's frames the stream brought meanwhile follow."""
        left = self._posting.get(key, 0) - 1
        if left > 0:
            self._posting[key] = left
            return
        self._posting.pop(key, None)
        if key not in self._busy:
            for write in self._deferred.pop(key, ()):
                write()

    def _holding(self, key: str) -> bool:
        """Whether room ``key``'s frames from the stream wait here for an answer to come first."""
        return key in self._busy or key in self._posting

    def _posted(self, session: ClientSession, result: tuple[mailbox.StoredMessage, str]) -> None:
        message, status = result
        if status == mailbox.ID_REUSED:
            self.relay.id_reused(session, message)
            return
        session.send(Accepted(message.client_id, message.msg_id))
        if status != mailbox.NEW:
            return  # a resend: its members already have it (and it was counted)
        self.relay.metrics.room_sent += 1  # as the default room's (relay._room_stored)
        self.relay.after.message_sent(message.sender_key, message.recipient_key)  # "typing" cleared
        if self._shared:
            return  # in a cluster, the stream brings it to every node, this one too
        self.fan_out(message)

    def fan_out(self, message: mailbox.StoredMessage) -> None:
        """Send the stored room ``message`` to its room's members' sessions here: once
        stored (alone), or as the events stream brings it (in a cluster, every node)."""
        self._last_post_id = max(self._last_post_id, message.msg_id)
        streamed = self._streamed.get(message.recipient_key) if self._shared else None
        if streamed is not None and self._holding(message.recipient_key):
            # A request on the room waits for Redis here: its answer comes first, then the
            # room's frames in the stream's order (see changed()).
            self._deferred.setdefault(message.recipient_key, []).append(lambda: self._write_post(message, streamed))
            return
        self._write_post(message, streamed)

    def _write_post(self, message: mailbox.StoredMessage, streamed: tuple[str, list[str]] | None) -> None:
        if streamed is not None:
            # The members as of the post's place in the stream: this node's copy may be
            # ahead of it already, by a change it decided and stored after the post.
            room_name, members = streamed
        else:
            room = self.rooms.get(message.recipient_key)
            if room is None:
                return  # it ended meanwhile: nobody is left to read it
            room_name, members = room.name, list(room.members)
        frame = encode(RoomPost(message.msg_id, message.sender, room_name, message.text, message.sent_at))
        blocked, loading, key = self.relay.blocked, self._loading, message.recipient_key
        for member in members:
            if message.sender_key in blocked.get(member, ()):
                continue
            for recipient in self.relay.registry.sessions_by_key(member):
                if not recipient.conn.may_send(RoomPost):
                    continue
                if loading and key in loading.get(recipient, ()):
                    # Its missed messages are being fetched: after them, unless they bring it
                    # (alone they do: it was stored before they were asked for).
                    self._held.setdefault(recipient, []).append(message)
                    continue
                if recipient.lagging:  # room traffic is what a slow reader loses (see _room_stored)
                    if recipient.is_open:
                        recipient.skipped += 1
                    continue
                recipient.write_frame(frame)

    def _send_post(self, session: ClientSession, message: mailbox.StoredMessage) -> None:
        """Write one room message to ``session``, or count it skipped if it lags."""
        room = self.rooms.get(message.recipient_key)
        if room is None:
            return
        if _skipped(session):
            return
        session.write_frame(encode(RoomPost(message.msg_id, message.sender, room.name, message.text,
                                            message.sent_at)))

    def history(self, session: ClientSession, request: HistoryRequest) -> bool:
        """True (and answered) if ``request`` asks for a room's history (``with`` a room's
        name, ``#redes``): its members get a ``history_page`` of the room's messages, paged
        by cursor as a conversation is; anyone else ``not_member`` (``no_such_room``,
        ``forbidden`` for the default room). A version 1 session, which has no rooms, gets
        an empty page. False: a person's history, the relay's business."""
        if not request.peer.startswith(PREFIX):
            return False
        if not session.conn.may_send(RoomPost):
            session.send(HistoryPage(request.request_id, request.peer, ()))
            return True
        refusal = self.rooms.may_read_history(self.person(session), request.peer)
        if refusal is not None:
            self._refused(session, request.request_id, refusal)
            return True
        room = self.rooms.get(request.peer)
        blocked = self.relay.blocked.get(session.key, ())

        def page(result: tuple[list[HistoryEntry], int | None]) -> None:
            entries, before = result
            if entries and not self.rooms.holds(room, entries[0].msg_id):
                # An earlier room's of the name (it ended): neither shown nor led to.
                entries, before = [e for e in entries if self.rooms.holds(room, e.msg_id)], None
            if blocked:  # as when they were posted: not shown to who blocks their sender
                entries = [e for e in entries if canonical(e.sender) not in blocked]

            def build(count: int) -> HistoryPage:
                kept = entries[len(entries) - count:]  # the newest; the cursor leads to the rest
                cursor = kept[0].msg_id if 0 < count < len(entries) else before
                return HistoryPage(request.request_id, room.name, tuple(kept), cursor)

            session.send(fit_page(build, entries[::-1]))

        self.relay.store.room_history(room_key(room.name), request.before, request.limit,
                                      *self.relay.intake.track(session, page,
                                                               self.relay.unavailable(session, request.request_id)))
        return True

    # --- Missed messages -------------------------------------------------------------------

    def logged_in(self, session: ClientSession, room_seen: int | None = None,
                  last_heard: int | None = None) -> None:
        """``session`` is its user's only one: send what they missed in their rooms while
        they were away, oldest first (per room the newest ``const.ROOM_BACKLOG_LIMIT``
        after their cursor, none older than ``const.ROOM_BACKLOG_AGE``), as ``room``
        frames, then the rooms' messages live: each once, in one order. The store answers
        in submission order, so every message of those rooms whose fan-out comes before
        the answer was stored before the question: it is left to the answer. A client
        that said in its hello what it has shown (``room_seen``) gets what is above that
        instead (:meth:`replay`): the cursor may be past messages lost on the way to it.
        Before them, the edits and deletes of posts they had (:meth:`_tell_changes`):
        since the user's last session left, or since this client's own last one
        (``last_heard``, with ``room_seen``), which may have left before it."""
        if not session.conn.may_send(RoomPost):
            return  # version 1 has no rooms: their cursors stay, for their next version 2 login
        key = session.key
        names = self.rooms.rooms_of(key)
        # Most users are in no room: no list comprehension's call for them (issue 9's logins).
        room_keys = [room_key(name) for name in names] if names else []
        # The changes first: answered (the store answers in order) before the missed
        # posts, whose cursors' write then knows whether the LEFT_AT mark may move. (Most
        # users are in no room: not even the call for them, issue 9's logins.)
        if room_keys:
            self._tell_changes(session, key, room_keys, seen_mark(room_seen, last_heard))
        if room_seen is not None:
            self._had[key] = {}
            self.replay(session, room_seen, first=True)
        elif not room_keys:
            # In no room: nothing to fetch and nothing had. The shared empty mapping marks
            # them as tracked (logged_out stores their cursors) without a dict of their own:
            # an empty dict was 64 of the 2,560 bytes an idle connection may cost (issue 9).
            self._had[key] = _NOTHING_HAD
            return
        else:
            self._fetch_missed(session, key, room_keys)

    def _fetch_missed(self, session: ClientSession, key: str, room_keys: list[str]) -> None:
        """:meth:`logged_in` without ``room_seen``: what ``key`` missed since their cursors.
        If the store cannot read it, it is asked again as :meth:`replay`'s pages are
        (:meth:`_read_again`), the live posts held meanwhile: sent them, the client would
        show them and say at its next hello that it has seen the rooms up to them, and what
        it missed before them would never come."""
        self._had[key] = {}
        self._loading[session] = frozenset(room_keys)
        reads = [0]

        def fetched(result: tuple[list[mailbox.StoredMessage], dict[str, int]]) -> None:
            messages, cursors = result
            if self._loading.pop(session, None) is None:
                return  # gone meanwhile (logged_out)
            had = self._had[key]
            for room in room_keys:
                had[room] = cursors.get(room, 0)
            oldest, blocked = time.time() - const.ROOM_BACKLOG_AGE, self.relay.blocked.get(key, ())
            for message in messages:
                had[message.recipient_key] = max(had[message.recipient_key], message.msg_id)
                room = self.rooms.get(message.recipient_key)
                if (room is None or message.sent_at < oldest or message.sender_key in blocked or session.closing
                        or not self.rooms.holds(room, message.msg_id)):
                    continue
                if message.deleted:
                    continue  # deleted before they saw it: nothing to show (history says "deleted")
                if _skipped(session):  # as for live room messages
                    continue
                session.write_frame(encode(RoomPost(message.msg_id, message.sender, room.name, message.text,
                                                    message.sent_at)))
                if message.edited_at is not None:  # its text is the latest: mark it "edited"
                    self._tell_change(session, message, room.name)
            for message in self._held.pop(session, ()):  # posts that came meanwhile, not fetched
                if message.msg_id > had.get(message.recipient_key, 0) and not session.closing:
                    had[message.recipient_key] = message.msg_id
                    self._send_post(session, message)
            if messages:  # so that a crash before the logout repeats no more than this session's
                self._write_cursors(key, dict(had), key not in self._changes_untold)

        def not_fetched(_failure: Any) -> None:
            if session in self._loading and self._read_again(session, read, reads[0],
                                                             f"the rooms' messages {session.name} missed"):
                return
            # Not asked again (no timer, or the session ended): their cursors stay as
            # stored, and what they missed comes at their next login.
            self._held.pop(session, None)
            if self._loading.pop(session, None) is not None:
                self._had.pop(key, None)

        def read() -> None:
            if session not in self._loading or session.closing:
                return  # gone meanwhile
            self._held.pop(session, None)  # stored before this question: its answer has them
            reads[0] += 1
            self.relay.store.room_backlog(key, room_keys, const.ROOM_BACKLOG_LIMIT, fetched, not_fetched)

        read()

    def _read_again(self, session: ClientSession, read: Callable[[], None], reads: int, what: str) -> bool:
        """A read of ``what`` ``session``'s user missed failed (the store unavailable):
        call ``read`` again after ``unavailable_retry_after`` seconds (which asks again if
        the caller still waits for it, and so on while the session lasts). False if it will
        not be (the session ended, or a desk without a timer): the caller gives up."""
        if session.closing or self.schedule is None:
            return False
        wait = self.relay.config.unavailable_retry_after
        if reads == 1:  # (once a session: the store's own failure is logged, summed up)
            log.warning("could not read %s; asking again every %g s", what, wait)
        self.schedule(wait, read)
        return True

    def _write_cursors(self, key: str, cursors: dict[str, int], changes_told: bool,
                       left_ms: int | None = None) -> None:
        """Store ``cursors`` as ``key``'s, and with them the time (LEFT_AT) from which
        changes are told at their next login (``left_ms``, else now), if those since the
        stored mark have been told (:meth:`_tell_changes`); else the stored mark stays,
        and they come then."""
        if changes_told:
            cursors[mailbox.LEFT_AT] = _now_ms() if left_ms is None else left_ms
        self.relay.store.set_room_cursors(key, cursors)

    def _tell_changes(self, session: ClientSession, key: str, room_keys: list[str],
                      seen: mailbox.SeenMark | None, first: bool = True, reads: int = 1) -> None:
        """The edits and deletes, since ``key`` was last here, of posts they had then: asked
        before what they missed, so answered before its cursors are written (the store
        answers in order). A read that fails is asked again as the missed posts are
        (:meth:`_read_again`); until one is answered, no cursor write moves their LEFT_AT
        mark (:meth:`_write_cursors`), so that they come at the next login if not in this.
        ``room_keys``: not empty (a user in no room has nothing to be told). ``seen``: the
        client's own mark (:func:`seen_mark`), told from instead of the user's. ``first``:
        the session is its user's only one; another session (with a ``seen``) is told
        what its client missed and leaves the user's mark alone."""
        if first:
            self._changes_untold[key] = session

        def untold() -> bool:
            return self._changes_untold.get(key) is session if first else not session.closing

        def changed(messages: list[mailbox.StoredMessage]) -> None:
            if first and self._changes_untold.get(key) is session:
                del self._changes_untold[key]
            blocked = self.relay.blocked.get(key, ())
            for message in messages:
                room = self.rooms.get(message.recipient_key)
                if (room is not None and message.sender_key not in blocked and not session.closing
                        and self.rooms.holds(room, message.msg_id) and not _skipped(session)):
                    self._tell_change(session, message, room.name)

        def not_read(_failure: Any) -> None:
            if untold():
                self._read_again(session, read, reads, f"the edits and deletes of room posts {session.name} had")

        def read() -> None:
            if untold() and not session.closing:
                self._tell_changes(session, key, room_keys, seen, first, reads + 1)

        self.relay.store.room_changes(key, room_keys, const.ROOM_BACKLOG_LIMIT, changed, not_read, seen=seen)

    def replay(self, session: ClientSession, after: int, first: bool = False, last_heard: int | None = None) -> None:
        """The client of ``session`` said in its hello (``room_seen``) that it has shown the
        messages of named rooms up to msg_id ``after``: send the messages of its user's
        rooms above that, oldest first by msg_id across the rooms (per room at most the
        newest ``const.ROOM_BACKLOG_LIMIT``, none older than ``const.ROOM_BACKLOG_AGE``,
        none from someone the user blocks), as ``room`` frames, then the rooms' messages
        live: each once, in one order, whether or not another session of the user stayed
        online. The rooms' pages are asked in one go (nothing else is submitted to the
        store between them) and the store answers in submission order, so a message of
        those rooms is either in an answer (its live fan-out, which comes before the last
        answer, skips this session) or stored after all of them (sent live). ``first``:
        the session is its user's only one (:meth:`logged_in`), whose cursors move as
        missed messages' do. Another session whose client said until when it heard its
        last one (``last_heard``, from its hello) is first told the edits and
        deletes of the posts it had that came since (:meth:`_tell_changes`).

        If the store cannot read a room's page, all of them are asked again after
        ``unavailable_retry_after`` seconds, and again, while the session lasts, the live
        posts held meanwhile: sent the rest, the client would show them and ask, at its
        next hello, only for what came after them, and the posts it missed would never
        come (the chaos run, seed 193: two clients logged in while Redis did not answer).
        Each read forgets the posts held before it: it has them, stored before it was
        asked."""
        if not session.conn.may_send(RoomPost):
            return  # version 1 has no rooms
        key = session.key
        room_keys = [room_key(name) for name in self.rooms.rooms_of(key)]
        if not room_keys:
            return
        if not first and last_heard is not None and self.relay.after.wants_edits(session):
            self._tell_changes(session, key, room_keys, seen_mark(after, last_heard), first=False)
        self._loading[session] = frozenset(room_keys)
        pages: dict[str, list[HistoryEntry]] = {}
        failed: list[str] = []
        reads = [0]

        def answered(room: str, result: tuple[list[HistoryEntry], int | None] | None) -> None:
            if result is None:
                failed.append(room)
            else:
                pages[room] = result[0]
            if len(pages) + len(failed) == len(room_keys):
                finish()

        def finish() -> None:
            if failed and session in self._loading and self._read_again(
                    session, read, reads[0], f"{len(failed)} rooms' messages for {session.name}'s client "
                                             f"(room_seen {after})"):
                return
            held = self._held.pop(session, ())
            if self._loading.pop(session, None) is None:
                return  # gone meanwhile (logged_out)
            if failed:  # they stay in the rooms' history; the client may ask it
                log.warning("could not read %s messages for %s's client (room_seen %d)",
                            counted(len(failed), "{room's|rooms'}"), session.name, after)
            oldest, blocked = time.time() - const.ROOM_BACKLOG_AGE, self.relay.blocked.get(key, ())
            due: list[tuple[int, str, HistoryEntry]] = []
            for rkey, entries in pages.items():
                room = self.rooms.get(rkey)
                if room is None:
                    continue  # it ended meanwhile
                due += [(e.msg_id, room.name, e) for e in entries
                        if e.msg_id > after and e.sent_at >= oldest and not e.deleted
                        and canonical(e.sender) not in blocked and self.rooms.holds(room, e.msg_id)]
            due.sort(key=lambda item: item[0])
            for _msg_id, name, entry in due:
                if session.closing:
                    break
                if _skipped(session):  # as for live room messages
                    continue
                session.write_frame(encode(RoomPost(entry.msg_id, entry.sender, name, entry.text, entry.sent_at)))
            # In a cluster, posts the stream brought meanwhile (held by _write_post), unless
            # a page had them: stored after the question, they come next, in their order.
            newest = {rkey: max((e.msg_id for e in entries), default=0) for rkey, entries in pages.items()}
            for message in held:
                if message.msg_id > max(after, newest.get(message.recipient_key, 0)) and not session.closing:
                    newest[message.recipient_key] = message.msg_id
                    self._send_post(session, message)
            had = self._had.get(key) if first else None
            if had is not None and failed:
                self._had.pop(key, None)  # their cursors stay as stored, as when nothing could be read
            elif had is not None:  # the user has had every message of these rooms up to the newest now
                for rkey in pages:
                    had[rkey] = max(had.get(rkey, 0), newest[rkey])
                if due or held:  # so that a crash before the logout repeats no more than this session's
                    self._write_cursors(key, dict(had), key not in self._changes_untold)

        def read() -> None:
            if session not in self._loading or session.closing:
                return  # gone meanwhile
            self._held.pop(session, None)
            pages.clear()
            failed.clear()
            reads[0] += 1
            for rkey in room_keys:
                self.relay.store.room_history(rkey, None, const.ROOM_BACKLOG_LIMIT,
                                              lambda result, rkey=rkey: answered(rkey, result),
                                              lambda _failure, rkey=rkey: answered(rkey, None))

        read()

    def logged_out(self, session: ClientSession) -> None:
        """``session`` was its user's last: store, for each room they are in, the last id of
        it they have had (what was sent to the members while they were here)."""
        key = session.key
        self._held.pop(session, None)
        had = self._had.pop(key, None)
        loading = self._loading.pop(session, None)
        changes_told = self._changes_untold.pop(key, None) is None
        if session.registered and key not in self.relay.logins.accounts:
            return  # its account was deleted (AccountDesk.delete_account): nothing of it is kept
        if loading is not None or had is None:
            return  # their missed messages never came (or version 1): the cursors stay
        cursors = {room: max(had.get(room, 0), self._last_post_id)
                   for room in (room_key(name) for name in self.rooms.rooms_of(key))}
        # Changes from the last bytes heard from them on are told again at the next login
        # (an edit or a delete is applied idempotently): not the ones the server wrote
        # into a connection that had died unnoticed. (Posts: the hello's room_seen.)
        self._write_cursors(key, cursors, changes_told, _last_heard_ms(session))

    def room_presence(self, key: str, shown: str, act: str) -> None:
        """User ``key`` came ``online`` (their first session, on any node of a cluster) or
        went ``offline`` (their last one ended), as the relay's presence tells it (a
        churning user's damped: server/presence.py): tell the other members online here of
        each named room ``key`` is in, in rooms of at most the presence limit
        (``const.PRESENCE_ROOM_LIMIT``) members only, as for the default room; a larger
        room is quiet (its members ask ``members``, or ``watch`` whom they care about)."""
        limit, registry = self.relay.config.presence_room_limit, self.relay.registry
        names = self.rooms.rooms_of(key)
        if not names:
            return
        now = time.time()
        for name in names:
            room = self.rooms.get(name)
            if room is None or len(room.members) > limit:
                continue
            frame = encode(RoomNotice(room.name, act, room.members.get(key, shown), now))
            for member in room.members:
                if member == key:
                    continue
                for recipient in registry.sessions_by_key(member):
                    if recipient.is_open and recipient.conn.may_send(RoomNotice) and not _crowded_out(recipient):
                        recipient.write_frame(frame)

    # --- Edits and deletes of posts (issue 13) ----------------------------------------------

    def post_changed(self, message: mailbox.StoredMessage, by: str | None, skip: ClientSession | None) -> None:
        """Room post ``message`` was just edited or deleted (``by`` a moderator or an
        administrator, or None: by its sender): tell the members' sessions with the
        ``edits`` feature (the sender's too, but ``skip``, which asked), except those who
        block the sender (they never had the post). Members offline learn it at their next
        login (:meth:`logged_in`, from the room's change log). In a cluster the store put
        the change on the events stream as it stored it (peers.change_message), and the
        other nodes tell theirs from there (:meth:`post_change_stored`); this one does not
        again (peers.post_change_told).

        A post of the default room (no recipient) goes to everyone online here in it (every
        logged-in session, as its posts do: Relay.deliver_room), and to nobody later: it
        keeps no history, no missed messages and so no change log. In a cluster whose nodes
        share the default room's messages (``peers.shares_room``) the other nodes tell theirs
        as for a named room's."""
        if message.recipient_key is None:
            room = self.rooms.default
            self._write_change(encode(room_change_event(message, room.name, by)), message.sender_key,
                               self._everyone_here(), skip)
            if self.relay.peers.shares_room:
                self.relay.peers.post_change_told(message.msg_id, message.edited_at)
            return
        room = self.rooms.get(message.recipient_key)
        if room is None or not self.rooms.holds(room, message.msg_id):
            return  # the room ended (perhaps made again since): nobody is left to tell
        self._write_change(encode(room_change_event(message, room.name, by)), message.sender_key, room.members, skip)
        if self._shared:
            self.relay.peers.post_change_told(message.msg_id, message.edited_at)

    @staticmethod
    def change_notices(decision: list | None) -> list[tuple[str, str]]:
        """What a moderator's delete tells the members before it, as the events stream
        carries it to the other nodes: [name key, ``room_notice`` frame text] of each Notice
        the rules decided (``decision``; None: a change by its sender)."""
        return [(_named_key(e), _notice_frame(e).decode("utf-8")) for e in decision or () if type(e) is Notice]

    def post_change_stored(self, message: mailbox.StoredMessage, by: str | None, notices: str) -> None:
        """The events stream brings the change of room post ``message`` (another node's, or
        this one's whose store answer never came): its ``notices`` (JSON: [name key, frame
        text] pairs) and the change go to the sessions here as :meth:`post_changed` sends
        them, to the members as of the stream's position, after any answer this node owes
        on the room (as posts do)."""
        told = [(name_key, text.encode("utf-8")) for name_key, text in json.loads(notices)]
        key = message.recipient_key
        if key is None:  # the default room: everyone here is in it; it has no turns
            room = self.rooms.default
            for name_key, notice in told:
                self._tell(room, name_key, notice)
            self._write_change(encode(room_change_event(message, room.name, by)), message.sender_key,
                               self._everyone_here(), None)
            return
        streamed = self._streamed.get(key)  # as of the entry's place in the stream

        def tell() -> None:
            room = self.rooms.get(key)
            if room is not None and not self.rooms.holds(room, message.msg_id):
                return  # a post of an earlier room of the name, which ended: not this one's
            if streamed is None and room is None:
                return  # it ended: nobody is left to tell
            for name_key, notice in told:
                self._tell(room, name_key, notice)
            name, members = streamed if streamed is not None else (room.name, room.members)
            self._write_change(encode(room_change_event(message, name, by)), message.sender_key, members, None)

        if self._holding(key):
            self._deferred.setdefault(key, []).append(tell)
        else:
            tell()

    def _everyone_here(self) -> set[str]:
        """The keys of the users logged in here: the default room's members here."""
        return {session.key for session in self.relay.sessions if session.key}

    def _write_change(self, frame: bytes, sender_key: str, members: Any, skip: ClientSession | None) -> None:
        blocked, after = self.relay.blocked, self.relay.after
        for member in members:
            if sender_key in blocked.get(member, ()):
                continue
            for recipient in self.relay.registry.sessions_by_key(member):
                if (recipient is not skip and recipient.is_open and after.wants_edits(recipient)
                        and recipient.conn.may_send(RoomPost)
                        and (recipient.key == sender_key or not _crowded_out(recipient))):
                    recipient.write_frame(frame)

    def _tell_change(self, session: ClientSession, message: mailbox.StoredMessage, room: str) -> None:
        """Tell ``session`` (if it has the ``edits`` feature) the latest change of a post."""
        if self.relay.after.wants_edits(session) and session.is_open:
            session.write_frame(encode(room_change_event(message, room)))

    def publish(self, decision: list) -> None:
        """Announce and log what the rules decided outside a room request (a moderator's
        delete of a post, server/afterdelivered.py)."""
        self._publish(decision)

    def add_admin(self, name: str) -> list[str]:
        """The console's ``/admin NAME``: the account ``name`` administers every room until the
        server stops (``const.ADMINS`` names the permanent ones); ``""`` adds nobody. Returns
        the administrators now (:meth:`admin_names`), for the console to show; InvalidName
        for a name no account can have, :class:`NoAccount` for a name no account has."""
        if name:
            validate_name(name)
            account = self.relay.logins.accounts.get(canonical(name))
            if account is None:
                raise NoAccount(name)
            self.rooms.add_admin(account.name)
            self.relay.peers.admin_added(canonical(name))  # and every other node of a cluster
            log.info("the console made %s a server administrator", account.name)
        return self.admin_names()

    def admin_names(self) -> list[str]:
        """The administrators' names as their accounts spell them, sorted."""
        accounts = self.relay.logins.accounts
        return sorted((accounts[key].name if key in accounts else key for key in self.rooms.admins()),
                      key=canonical)

    def accounts_only(self, names: Iterable[str], where: str) -> list[str]:
        """``names`` that are accounts here; each other one is logged (a warning) and left
        out: a name with no account administers nothing, or whoever registered it would."""
        kept = []
        for name in names:
            if canonical(name) in self.relay.logins.accounts:
                kept.append(name)
            else:
                log.warning("%s names %r, which is no account here: not an administrator (else whoever "
                            "registered the name would be one); register it, then restart the server or "
                            "type /admin %s at its console", where, name, name)
        return kept

    def name_changed_hands(self, key: str, rooms: set[str] | None = None) -> None:
        """A guest name has a new holder: its earlier holder leaves every room (the core's
        :meth:`~server.rooms.Rooms.forget`) they were in at the take (``rooms``: those of a
        try that failed), stored, then announced and logged. Until that is stored the
        newcomer is a member of those rooms (PROTOCOL.md "Guest names": they inherit none).
        In a cluster it first takes each room's turn (_busy): a free one at once, a busy
        one once the requests before it on the room are answered (each waits for Redis at
        most its timeout), so the newcomer's requests on them come after it; it is decided
        again if another node changed one of them first (up to ``_ATTEMPTS`` times). If it
        cannot be stored (the store fails; in a cluster, the turns do not all come within
        ``_HANDOVER_WAIT`` seconds), the rooms stay as stored, the log says so once, and it
        is tried again at the next expiry pass (:meth:`expire`), in those rooms only: not
        in the rooms the newcomer joined since."""
        if rooms is None:
            rooms = self.rooms.held_by(key)
        if not rooms:
            return
        if not self._shared:
            self._hand_over(key, rooms, 0, [])
            return
        held: list[str] = []
        waited = [len(rooms), False]  # turns still to come; whether it ended (done, or given up)

        def take(rkey: str) -> None:
            if waited[1]:
                return  # given up: its turns were let go (the next expiry pass tries again)
            waiting = self._busy.get(rkey)
            if waiting is not None:  # (again: a request before it in the line took the turn)
                waiting.append(lambda: take(rkey))
                return
            self._busy[rkey] = []
            held.append(rkey)
            waited[0] -= 1
            if not waited[0]:
                waited[1] = True
                self._hand_over(key, rooms, 0, held)

        def give_up() -> None:
            if waited[1]:
                return
            waited[1] = True
            for rkey in held:
                self._done_with(rkey)
            log.warning("the earlier holder of the guest name %s could not leave %s yet: other changes of them "
                        "waited for Redis for %g s (tried again at the next expiry pass)", key,
                        ", ".join(sorted(rooms)), _HANDOVER_WAIT)
            self._hand_over_later(key, rooms)

        if self.schedule is not None:
            self.schedule(_HANDOVER_WAIT, give_up)
        for rkey in sorted(rooms):
            take(rkey)

    def _hand_over(self, key: str, rooms: set[str], attempt: int, held: list[str]) -> None:
        """:meth:`name_changed_hands` decided and stored, the turns of ``held`` (in a cluster:
        ``rooms``) taken; let go once it is answered."""
        decision = self.rooms.forget(key, time.time(), rooms)

        def release() -> None:
            for rkey in held:
                self._done_with(rkey)

        def done() -> None:
            try:
                self._publish(decision, not self._shared)
            finally:
                release()

        def failed(_maybe_done: bool = False) -> None:  # (as _save calls it; changed() too)
            try:
                self._hand_over_failed(key, rooms, decision)
            finally:
                release()

        def changed() -> None:
            if attempt + 1 < _ATTEMPTS:
                self._hand_over(key, rooms, attempt + 1, held)  # on the rooms as they are now; still its turns
            else:
                failed()

        self._save(decision, done, failed, changed)

    def _hand_over_failed(self, key: str, rooms: set[str], decision: list) -> None:
        """The hand-over of guest name ``key`` (its ``decision``) was not stored, or not all
        of it: say what, once, and try again at the next expiry pass."""
        # Some rooms may have been stored (kept, and announced: _save), others put back.
        left_rooms = [e.room for e in decision if type(e) is Notice and e.act == "left"]
        stayed = [room for room in left_rooms if key in getattr(self.rooms.get(room), "members", ())]
        again = "tried again at the next expiry pass"
        if len(stayed) == len(left_rooms):
            log.warning("the rooms of the earlier holder of the guest name %s could not be left: "
                        "the store did not answer (%s)", key, again)
        else:
            pending = [room for room in left_rooms if room not in stayed and self._saving.get(room_key(room))]
            left = [room for room in left_rooms if room not in stayed and room not in pending]
            log.warning("the earlier holder of the guest name %s %s: the store did not answer (%s)", key, "; ".join(
                words % ", ".join(names) for words, names in (
                    ("left %s", left), ("may have left %s (a later save of it decides)", pending),
                    ("could not leave %s", stayed)) if names), again)
        self._hand_over_later(key, rooms)

    def _hand_over_later(self, key: str, rooms: set[str]) -> None:
        """Try the hand-over of guest name ``key`` in ``rooms`` again at the next expiry pass
        (where it is done already, it changes nothing)."""
        self._hand_overs_due[key] = self._hand_overs_due.get(key, set()) | rooms

    def say_refused(self, session: ClientSession, request_id: str, text: str) -> bool:
        """True (and answered ``muted``, or ``accepted`` if it is a resend of a ``say``
        stored before the mute: :meth:`_refused_post`; or ``rate_limited``:
        :meth:`over_post_budget`) if ``session``'s user is muted in the default room or
        over their budget of posts to it: the check the relay makes before a ``say``."""
        default = self.rooms.default
        if default.muted:
            refusal = self.rooms.may_post(self.person(session), default.name, time.time())
            if refusal is not None:
                self._refused_post(session, request_id, None, text, refusal)
                return True
        return self.over_post_budget(session, request_id, default.name)

    def over_post_budget(self, session: ClientSession, request_id: str, room_name: str) -> bool:
        """True (and answered ``rate_limited`` with ``retry_after``) if ``session``'s user
        has spent their budget of posts to room ``room_name`` (config.room_posts_per_second,
        with a burst of config.room_post_burst), else False, one post spent. A post goes to
        every member: the connection's request rate would let one loop fill every screen
        of a class. Not for those the room lets "post freely" (Rooms.paced). Per member
        (their sessions share it) and per node of a cluster."""
        if not self.rooms.paced(self.person(session), room_name):
            return False
        key, now = (room_key(room_name), session.key), time.monotonic()
        budget = self._post_budgets.get(key)
        if budget is None:
            config = self.relay.config
            budget = self._post_budgets[key] = TokenBucket(config.room_posts_per_second, config.room_post_burst)
        wait = budget.take_one(now)
        if not wait:
            return False
        self.relay.metrics.room_rate_limited += 1
        self.log_lines.log("room post{s} over the budget", session.address, logging.INFO,
                           "posts of %r to %s over the budget: retry after %.2f s", session, room_name, wait)
        session.send(ErrorReply(ErrorCode.RATE_LIMITED, f"too many posts to {room_name}; try again in "
                                f"{wait_words(wait)}", request_id, retry_seconds(wait)))
        return True

    def _refused_post(self, session: ClientSession, request_id: str, recipient_key: str | None, text: str,
                      refusal: Refused) -> None:
        """Answer a post the rules refuse now (muted, kicked, banned, the room gone) with
        ``refusal``, unless it is a resend of a post stored before that changed: that one
        is answered as it was, ``accepted`` with its msg_id (PROTOCOL.md, exactly once: a
        client resends after a lost connection). ``recipient_key``: the room's key, None
        for the default room. Only a refused post costs this look-up; an allowed one goes
        to the store, which recognises a resend as it stores. If the store cannot say,
        ``unavailable``: the client tries again later, and no false answer is given."""
        def found(stored: mailbox.StoredMessage | None) -> None:
            if (stored is not None and stored.state == "room" and stored.recipient_key == recipient_key
                    and stored.text == text):  # as mailbox.same_request, of a room post
                session.send(Accepted(request_id, stored.msg_id))
            else:
                self._refused(session, request_id, refusal)

        self.relay.store.sent_under(session.key, request_id, found,
                                    self.relay.unavailable(session, request_id, "room_unavailable"))

    # --- Time ------------------------------------------------------------------------------

    def expire(self, now: float) -> None:
        """End the mutes whose time has come: on time, woken by the timer :meth:`_wake`
        sets, and with the relay's periodic expiry pass (which also retries a mute end
        the store could not keep, and a guest name's hand-over not stored yet:
        :meth:`name_changed_hands`)."""
        self.log_lines.sweep()
        clock = time.monotonic()  # a full budget is as good as none: forgotten (memory)
        self._post_budgets = {key: budget for key, budget in self._post_budgets.items()
                              if budget.updated + budget.burst / budget.rate > clock}
        due, self._hand_overs_due = self._hand_overs_due, {}
        if not (self._shared and self._busy):
            # (Else a change waiting for Redis here is in the rooms' copy, not stored yet: a
            # mute's end must not store it with its own. Its timer tries again in a moment.)
            self._follow_clock_steps(clock)
            decision = self.rooms.expire(now)
            if decision:
                # In a cluster every node ends the mute; the first to store it announces it, the
                # others find the room changed and take it as it is (changed() is a no-op then).
                self._save(decision, lambda: self._publish(decision, not self._shared), lambda _maybe_done: None,
                           lambda: None)
        for key, rooms in sorted(due.items()):  # guest names' hand-overs not stored yet (they take turns)
            self.name_changed_hands(key, rooms)

    def _follow_clock_steps(self, steady: float) -> None:
        """Move the timed mutes' ends (and the rooms' creation window) by any step of the
        wall clock since the last look (server/clocksteps.py; Rooms.clock_stepped), and
        store them: a mute lasts its length. The wall clock is read here (``wall``), not
        taken from the ``now`` given to expire (a test's later time is no step). Alone
        only: in a cluster each node's wall clock ends the stored mutes, and one node's
        step is not the others'."""
        stepped = self._clock_steps.step(self.wall(), steady)
        if stepped and not self._shared:
            log.warning("the wall clock stepped %+.0f s: the timed mutes' ends move with it", stepped)
            self.rooms.clock_stepped(stepped)
            self._save([], lambda: None, lambda _maybe_done: None)

    def _wake(self) -> None:
        """Set a timer for the core's next deadline, unless one is set for it or sooner."""
        def woken() -> None:
            self.expire(time.time())
            self._wake()

        self._waker.at(self.rooms.next_deadline(), woken)

    # --- Inside ----------------------------------------------------------------------------

    def _refused(self, session: ClientSession, request_id: str, refusal: Refused) -> None:
        self.relay.log_lines.log("refused room request{s}", session.address, logging.INFO, "room request %s of %r: %s",
                                 refusal.code, session, refusal.message)
        session.send(refusal.reply(request_id))

    def _conclude(self, session: ClientSession, request_id: str, decision: list, answer: Any = None,
                  again: tuple[str, int, Callable[[], None]] | None = None,
                  then: Callable[[], None] | None = None) -> None:
        """Answer a decision: a refusal at once; otherwise store what changed, then answer
        (``answer``, or ``ok``), announce and log, and call ``then``; or, if the store
        failed, put the rooms back and answer ``unavailable`` (saying it may have been done
        when the store cannot tell: then, in a cluster, the change comes back by the events
        stream if it was). ``again`` (in a cluster):
        the room's name, the attempt, and how to decide the request again when another
        node changed the room first."""
        room = again[0] if again is not None else None
        refusal = next((e for e in decision if type(e) is Refused), None)
        if refusal is not None:
            self._refused(session, request_id, refusal)
            self._done_with(room)
            return

        def done() -> None:
            session.send(answer if answer is not None else Done(request_id))
            # In a cluster the stream brings the notices.
            self._publish(decision, not self._shared, session.address)
            if then is not None:
                then()
            self._done_with(room)

        def failed(maybe_done: bool = False) -> None:
            session.send(unavailable_error(self.relay.config, request_id,
                                           StoreUnavailable("", maybe_done=maybe_done)))
            self._done_with(room)

        def changed() -> None:
            if again is not None and again[1] + 1 < _ATTEMPTS:
                again[2]()  # decided again on the room as it is now; the room stays this request's
            else:
                failed()

        self._save(decision, done, failed, changed, then)

    def _save(self, decision: list, done: Callable[[], None], failed: Callable[[bool], None],
              changed: Callable[[], None] | None = None, then: Callable[[], None] | None = None) -> None:
        """Store the rooms the core changed (its ``decision``'s), then ``done()``; if the
        store failed, ``failed(maybe_done)`` (in a cluster ``changed()`` if another node
        changed a room first: _save_shared). On one server each room is stored whole, and
        the store answers in submission order: a room whose save failed is put back as last
        stored, unless a later save of it is on its way, whose record has this change too
        (then that one decides; put back over it, the room here would lack what the store
        kept: a member, a topic); a room whose save succeeded is kept. What is kept is
        announced and logged: the notices and log lines of a failed decision's rooms that
        were stored, at once; those of a room a later save carries, when that save is
        stored (before its own), never if it fails; and then ``then`` (what ``done`` does
        after its answer, for a decision of one room: a join's read marks) is called too,
        as for a change stored at once. A save the store raises on at once is not on its
        way: its room is put back to its last save on its way (or as stored), and it is
        answered as failed. ``maybe_done``: the store may have kept some of it (it said so, a later
        save carries it, or another room of the decision was stored). The lists of one's
        rooms asked meanwhile wait for the answer (list_rooms)."""
        changes = self.rooms.changes()
        if not changes:
            done()
            return
        self._saves_begun += 1
        number = self._saves_begun
        self._saves_open[number] = tuple(key for key, _record in changes)
        failed_keys: list[str] = []  # the rooms the store did not keep

        if self._shared:
            def ended(callback: Callable[..., None], ok: bool) -> Callable[..., None]:
                def call(*args: Any) -> None:
                    if not ok:
                        failed_keys.extend(self._saves_open[number])
                    try:
                        callback(*args)
                    finally:
                        self._save_ended(number, failed_keys)
                return call

            self._save_shared(decision, changes, ended(done, True), ended(failed, False),
                              ended(changed, True) if changed is not None else ended(failed, False))
            return
        # Answers still to come; whether one said the store may have done it.
        waiting = [len(changes), False]
        unsent: set[str] = set()  # rooms the store raised on: put back already
        called: set[str] = set()  # rooms the store answered

        def answered(key: str, record: str | None, failure: StoreUnavailable | None) -> None:
            waiting[0] -= 1
            if key not in unsent:
                called.add(key)
                left = self._saving.pop(key) - 1
                if left:
                    self._saving[key] = left
                else:
                    self._sent.pop(key, None)
            if failure is None:
                self._keep(key, record)
                for carried, carried_then in self._carried.pop(key, ()):
                    self._publish(carried)
                    if carried_then is not None:
                        carried_then()  # it is done after all (its answer said it may be)
            else:
                failed_keys.append(key)
                waiting[1] = waiting[1] or failure.maybe_done
            if waiting[0]:
                return
            try:
                if not failed_keys:
                    done()
                    return
                maybe_done = waiting[1] or len(failed_keys) < len(changes)
                for key in failed_keys:
                    if key in unsent:
                        continue
                    if self._saving.get(key):
                        maybe_done = True
                        self._carried.setdefault(key, []).append((_of_room(decision, {key}), then))
                    else:
                        self.rooms.reset(key, self._saved.get(key))
                        self._carried.pop(key, None)
                # What the store kept of it is announced and logged (once: not per member).
                self._publish(_of_room(decision, {key for key, _record in changes} - set(failed_keys)))
                failed(maybe_done)
            finally:
                self._save_ended(number, failed_keys)

        for key, record in changes:
            self._saving[key] = self._saving.get(key, 0) + 1
            earlier = self._sent.get(key, self._saved.get(key))
            self._sent[key] = record
            try:
                self.relay.store.save_room(key, record,
                                           lambda _result, key=key, record=record: answered(key, record, None),
                                           lambda failure, key=key, record=record: answered(key, record, failure))
            except Exception as error:  # whatever it is, no answer will come
                if key in called:
                    raise  # not the store's: an answer it gave at once, and what that did, raised
                self._raised(key, error)
                self._saving[key] -= 1
                if not self._saving[key]:
                    del self._saving[key]
                    self._sent.pop(key, None)
                else:
                    self._sent[key] = earlier
                self.rooms.reset(key, earlier)
                unsent.add(key)
                answered(key, record, StoreUnavailable(str(error)))

    def _save_ended(self, number: int, failed_keys: list[str]) -> None:
        """Save ``number`` is answered (``failed_keys``: its rooms the store did not keep):
        the lists of one's rooms that waited for it, and for no other save, are answered."""
        del self._saves_open[number]
        if not self._lists_waiting:
            return
        ready, still = [], []
        for waiting in self._lists_waiting:
            if number in waiting[0]:
                waiting[0].discard(number)
                waiting[1].update(failed_keys)
            (still if waiting[0] else ready).append(waiting)
        self._lists_waiting = still
        for _awaited, failed, answer in ready:
            answer(failed)

    def _publish(self, decision: list, notices: bool = True, address: str | None = None) -> None:
        """Send each Notice to the room's members (everyone, for the default room) and to
        the person it names, on sessions that speak version 2 (unless not ``notices``);
        log each LogLine: one of a ``kind`` a user can cause in numbers through the
        desk's summarising log (``log_lines``), by the ``address`` of whoever asked (a few
        in full, a flood counted)."""
        for event in decision:
            if type(event) is LogLine:
                if event.kind is not None and address is not None:
                    self.log_lines.log(event.kind, address, logging.INFO, "%s", event.text,
                                       burst=const.CREATED_LOG_LINES)
                else:
                    log.info("%s", event.text)
            elif type(event) is Notice and notices:
                self._announce(event)

    def _announce(self, notice: Notice) -> None:
        self._tell(self.rooms.get(notice.room), _named_key(notice), _notice_frame(notice))

    def _tell(self, room: Any, name_key: str, frame: bytes) -> None:
        """Write a room notice ``frame`` to ``room``'s members here (everyone, for the
        default room; None: a room that ended) and to the sessions of ``name_key`` ("":
        nobody else, see _named_key)."""
        if room is self.rooms.default:
            recipients = list(self.relay.sessions)
        else:
            keys = set(room.members) if room is not None else set()
            if name_key and name_key not in keys and not self._blocks_author(name_key, frame):
                keys.add(name_key)
            recipients = [s for key in keys for s in self.relay.registry.sessions_by_key(key)]
        for recipient in recipients:
            # Another's notice is room traffic (_skipped); one about oneself always goes.
            if (recipient.is_open and recipient.conn.may_send(RoomNotice)
                    and (recipient.key == name_key or not _crowded_out(recipient))):
                recipient.write_frame(frame)

    def _blocks_author(self, name_key: str, frame: bytes) -> bool:
        """True if ``name_key``, named by the room notice ``frame`` of a room they are not
        in, blocks whoever did it (its ``by``): as with messages, what someone blocked does
        does not reach them, so that a moderator cannot send them a notice per request
        (banning and unbanning them in turn). Read from the frame, as the other nodes of a
        cluster pass it; only for someone who blocks anybody."""
        blocked = self.relay.blocked.get(name_key)
        if not blocked:
            return False
        by = json.loads(frame).get("by")
        return isinstance(by, str) and canonical(by) in blocked

    # --- In a cluster (shared rooms: see the module docstring) ------------------------------

    def _waits(self, name: str, attempt: int, later: Callable[[], None]) -> bool:
        """True if another request on room ``name`` waits for Redis here: ``later`` runs
        when it is done (the first attempt only: a request decided again keeps its turn).
        Else the room is this request's until :meth:`_done_with`. Alone: never waits."""
        if not self._shared or attempt:
            return False
        key = room_key(name)
        waiting = self._busy.get(key)
        if waiting is not None:
            waiting.append(later)
            return True
        self._busy[key] = []
        return False

    def _done_with(self, name: str | None) -> None:
        """The request on room ``name`` is answered: the requests that waited for it go on,
        in the order they came."""
        if name is None or not self._shared:
            return
        key = room_key(name)
        waiting = self._busy.pop(key, None)
        if key not in self._posting:  # else once the posts are answered (_post_answered)
            for write in self._deferred.pop(key, ()):
                write()
        for later in waiting or ():
            later()

    def _save_shared(self, decision: list, changes: list[tuple[str, str | None]], done: Callable[[], None],
                     failed: Callable[[bool], None], changed: Callable[[], None]) -> None:
        """Store each changed room at the version it was decided on, with its notices (the
        peers' save_room). Then ``done`` if every one was stored; else ``changed`` if
        another node changed one first (the room is as Redis has it now), or ``failed``
        (Redis did not answer: the room is as last stored; ``failed(True)`` if Redis may
        have stored it all the same, and then the events stream brings it back). If not
        every one was stored, the log lines of those that were are logged here, once (the
        stream brings their notices; ``done`` would have logged them)."""
        waiting = [len(changes), None]  # answers still to come; "changed", "failed", "unsure"
        stored: set[str] = set()

        def answered(key: str, record: str | None, reply: tuple | None) -> None:
            waiting[0] -= 1
            if reply is None or reply[0] == "unsure":
                self.rooms.reset(key, self._saved.get(key))
                waiting[1] = "unsure" if waiting[1] == "unsure" or reply is not None else "failed"
            elif reply[0] == "ok":
                stored.add(key)
                if reply[1] > self._versions.get(key, 0):
                    self._versions[key] = reply[1]
                    self._keep(key, record)
            elif reply[0] == "rival":  # made on another node meanwhile: this one looks like it
                self.rooms.reset(key, self._saved.get(key))
                self._reload(reply[1], reply[2], reply[3])
                waiting[1] = waiting[1] or "changed"
            else:
                self._reload(key, reply[1], reply[2])
                waiting[1] = waiting[1] or "changed"
            if waiting[0]:
                return
            self._wake()
            if waiting[1] is not None:
                # Those rooms' changes are kept: a decision made again does not have them.
                self._publish(_of_room(decision, stored), notices=False)
            if waiting[1] in ("failed", "unsure"):
                failed(waiting[1] == "unsure")
            else:
                (done if waiting[1] is None else changed)()

        for key, record in changes:
            notices = [(_named_key(e), _notice_frame(e).decode("utf-8")) for e in decision
                       if type(e) is Notice and room_key(e.room) == key]
            try:
                self.relay.peers.save_room(key, self._versions.get(key, 0), record, notices,
                                           lambda reply, key=key, record=record: answered(key, record, reply),
                                           _lookalike(record or self._saved.get(key)))
            except Exception as error:  # whatever it is, no reply will come: not stored
                self._raised(key, error)
                answered(key, record, None)

    def _raised(self, key: str, error: Exception) -> None:
        """Log that saving room ``key`` raised ``error`` at once (a traceback, then a count)."""
        self.log_lines.log("room save{s} the store raised on", "store", logging.ERROR,
                           "the store raised on saving room %s: %s", key, error, exc_info=True)

    def _keep(self, key: str, record: str | None) -> None:
        if record is None:
            self._saved.pop(key, None)
        else:
            self._saved[key] = record

    @property
    def default_key(self) -> str:
        """The default room's key (under which a cluster stores its record and version)."""
        return room_key(self.rooms.default.name)

    def versions_of(self, keys: Iterable[str]) -> dict[str, int] | None:
        """In a cluster, the versions of rooms ``keys`` (mailbox.DEFAULT_ROOM_SLOT: the
        default room) as this desk has them: a change of a post decided on these copies is
        made only at these versions (peers.change_message), as a post is stored only at its
        room's (:meth:`post`). None on one server: one copy of each room, never behind."""
        if not self._shared:
            return None
        return {key: self._versions.get(key, 0)
                for key in (self.default_key if k == mailbox.DEFAULT_ROOM_SLOT else k for k in keys)}

    def decide_again(self, stale: mailbox.StaleRoom, attempt: int) -> bool:
        """A change decided on this desk's copy of room ``stale.key`` was not made: Redis
        holds a newer one (mailbox.STALE). Take it (:meth:`_reload`); whether to decide
        again on it (``attempt``: how many times it was decided already, from 0), as a
        post is, up to ``_ATTEMPTS`` times."""
        self._reload(stale.key, stale.record, stale.version)
        return attempt + 1 < _ATTEMPTS

    def _reload(self, key: str, record: str | None, version: int) -> None:
        """Redis says room ``key`` is ``record`` at ``version``: take it, unless this desk
        has heard of a later version meanwhile."""
        if version >= self._versions.get(key, 0):
            self.rooms.reset(key, record)
            self._versions[key] = version
            self._keep(key, record)

    def changed(self, key: str, version: int, record: str | None, notices: str) -> None:
        """The events stream says room ``key`` changed (on some node, this one included) to
        ``record`` at ``version``: take it if it is news, then write its notices (JSON:
        [name key, frame text] pairs) to the sessions here that they are for."""
        if version > self._versions.get(key, 0):
            self.rooms.reset(key, record)
            self._versions[key] = version
            self._keep(key, record)
            self._wake()
        self._follow(key, record)
        told = [(name_key, frame.encode("utf-8")) for name_key, frame in json.loads(notices)]

        def tell() -> None:
            room = self.rooms.get(key)
            for name_key, frame in told:
                self._tell(room, name_key, frame)

        if self._holding(key):
            self._deferred.setdefault(key, []).append(tell)
        else:
            tell()

    def _follow(self, key: str, record: str | None) -> None:
        """Note room ``key``'s name and members as the stream has them now (``record``)."""
        if record is None or key == room_key(self.rooms.default.name):
            self._streamed.pop(key, None)  # ended; the default room's members are everyone
            return
        try:
            self._streamed[key] = record_members(record)
        except (ValueError, TypeError, KeyError):
            self._streamed.pop(key, None)  # unreadable: the desk's own copy (restore logged it)

    def load_shared(self, records: dict[str, str], versions: dict[str, int]) -> None:
        """Every room as Redis has it (at a node's start, or after Redis lost its data):
        the desk's rooms become these, with their versions."""
        for key in set(self._saved) - set(records):
            self.rooms.reset(key, None)  # ended meanwhile (or never stored there)
        self._streamed.clear()
        for key, record in records.items():
            self.rooms.reset(key, record)
            self._follow(key, record)
        self._saved = dict(records)
        self._versions = dict(versions)
        self._wake()


def _skipped(session: ClientSession) -> bool:
    """True if ``session`` lags (its queue is over the soft mark): then the room post meant
    for it is counted instead, and told in ``skipped`` once it drains (relay.drained).
    Room traffic is what a slow reader loses, before its connection: nobody can push it
    past the hard mark with posts."""
    if not session.lagging:
        return False
    if session.is_open:
        session.skipped += 1
    return True


def _crowded_out(session: ClientSession) -> bool:
    """True if ``session`` is crowded (its queue is over the others' mark: server/session.py):
    then the room frame another member's act makes for it (a change of a post, a notice
    about that member) is counted as a skipped post is (:func:`_skipped`), so that nobody's
    edits or comings and goings queue much ahead of its own messages."""
    if not session.crowded():
        return False
    if session.is_open:
        session.skipped += 1
    return True


def _of_room(decision: list, keys: set[str]) -> list[Notice | LogLine]:
    """The notices and log lines of ``decision`` about the rooms ``keys``, in its order."""
    return [e for e in decision if type(e) in (Notice, LogLine) and e.room is not None and room_key(e.room) in keys]


def _named_key(notice: Notice) -> str:
    """Whom ``notice`` is told to besides the room's members: the person it names (their
    canonical name), or "" when it does not change where they stand (Notice.tell_named)."""
    return canonical(notice.name) if notice.tell_named else ""


def _notice_frame(notice: Notice) -> bytes:
    """The ``room_notice`` frame of ``notice``."""
    return encode(RoomNotice(notice.room, notice.act, notice.name, notice.at, notice.by, notice.reason,
                             notice.topic, notice.until, notice.role, notice.address_banned))


def _lookalike(record: str | None) -> str:
    """The look-alike key of the name of the room in ``record`` (without its prefix, as the
    rooms core compares names), or "" if there is no record or it cannot be read: Redis
    keeps one room per key (SAVE_ROOM_VERSIONED), so that two nodes cannot each make one
    of two look-alike names at once."""
    if record is None:
        return ""
    try:
        name, _members = record_members(record)
    except (ValueError, TypeError, KeyError):
        return ""
    return lookalike_key(name[len(PREFIX):])
