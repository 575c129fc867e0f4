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
(:meth:`RoomDesk.logged_in`, one cursor per membership, written at logout); members online
hear when another comes online or goes offline, in rooms up to the presence limit; a mute's
end is announced on time, by a timer on the core's next deadline. Edits and deletes of
posts (server/afterdelivered.py decides them) go to the members online
(:meth:`RoomDesk.post_changed`) and, for members who were away, come at their login after
their missed messages: the posts they had that changed since they left (the cursors' LEFT_AT
mark), read from each room's latest changes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import const
from protocol import (
    Accepted, ErrorCode, Appoint, Ban, Done, ErrorReply, Invite, JoinRoom, Kick, LeaveRoom, MemberEntry, MemberList,
    HistoryEntry, HistoryPage, HistoryRequest, MembersRequest, Mute, RoomEntry, RoomInfo, RoomList, RoomNotice, RoomPost, RoomsRequest, SendToRoom,
    SetRoomMode, SetTopic, Unban, Unmute,
)
from protocol.codec import encode, fit_page
from registry import InvalidName, canonical, validate_name

from . import mailbox
from .afterdelivered import room_change_event
from .login import unavailable_error
from .rooms import PREFIX, Entered, LogLine, Member, Notice, Person, Refused, Role, RoomSummary, Rooms, room_key

if TYPE_CHECKING:
    from .relay import Relay
    from .session import ClientSession

log = logging.getLogger("chat.rooms")


def _now_ms() -> int:
    """The time as a room cursor's LEFT_AT mark holds it (mailbox.LEFT_AT)."""
    return int(time.time() * 1000)

# Every request of protocol version 2 the desk answers: the relay has one dispatch entry
# for each (Relay._handlers), and rates them as it rates every request.
ROOM_REQUESTS = (JoinRoom, LeaveRoom, RoomsRequest, MembersRequest, SendToRoom, Invite, SetTopic, Kick, Ban,
                 Unban, Mute, Unmute, Appoint, SetRoomMode)
# Rooms and members listed per page at most before fit_page cuts by bytes.
_MAX_ITEMS_PER_PAGE = const.MAX_FRAME_BYTES // 20
# Seconds after a deadline that its timer fires (the loop's clock and time.time() differ).
_WAKE_LATE = 0.01

# What a user in no room has had of their rooms: nothing, shared by all of them (read-only;
# see RoomDesk.logged_in).
_NOTHING_HAD: MappingProxyType[str, int] = MappingProxyType({})


class RoomDesk:
    """Rooms for one relay: see the module docstring."""

    def __init__(self, relay: Relay, schedule: Callable[[float, Callable[[], None]], object] | None = None) -> None:
        """``schedule(delay, callback)`` (the loop's call_later) wakes the desk when a mute
        ends; without it, mutes end at the relay's periodic :meth:`expire` only."""
        self.relay = relay
        self._schedule = schedule
        # The time the earliest timer set is due (inf: none): a mute ending sooner sets another.
        self._woken_at = float("inf")
        self.rooms = Rooms(const.ADMINS, const.DEFAULT_ROOM, online_count=lambda: len(relay.registry))
        stored = relay.store.rooms()
        for line in self.rooms.restore(stored.values()):
            log.warning("%s", line.text)
        # What the store holds for each room: what a room is put back to when storing a
        # change to it fails.
        self._saved: dict[str, str] = dict(stored)
        self._wake()
        # Missed messages (see logged_in): for each user online whose first session speaks
        # version 2, room key -> the last id of that room they have had before this login;
        # the sessions whose missed messages are being fetched, with the keys of the rooms
        # fetched; and the highest id of a room message sent to the members so far. No
        # record per message: a member's cursor is written once, when they go.
        self._had: dict[str, dict[str, int] | MappingProxyType[str, int]] = {}
        self._loading: dict[ClientSession, frozenset[str]] = {}
        self._last_post_id = 0

    # --- Who is who ------------------------------------------------------------------------

    @staticmethod
    def person(session: ClientSession) -> Person:
        return Person(session.name, session.registered, session.address)

    def target(self, name: str) -> Person | Refused:
        """The person called ``name``: online (their account flag and address), or not."""
        try:
            validate_name(name)
        except InvalidName as exc:
            return Refused(ErrorCode.INVALID_NAME, str(exc))
        record = self.relay.registry.lookup(name)
        if record is not None:
            first = min(record.endpoints, key=lambda e: e.since)
            return Person(record.name, record.shared, first.address)
        key = canonical(name)
        return Person(self.relay.known.get(key, name), key in self.relay.logins.accounts, None)

    # --- Requests: one method per frame type ------------------------------------------------

    def join(self, session: ClientSession, request: JoinRoom) -> None:
        decision = self.rooms.join(self.person(session), request.room_name, time.time(), request.create,
                                   request.invite_only)
        entered = next((e for e in decision if type(e) is Entered), None)
        answer = None if entered is None else RoomInfo(
            request.request_id, entered.room, entered.count, entered.invite_only, entered.topic, entered.owner,
            entered.created)
        # After the answer: the room's read marks, once (server/roomreads.py).
        then = None if entered is None else (lambda: self.relay.after.room_reads.joined(session, entered.room))
        self._conclude(session, request.request_id, decision, answer, then)

    def leave(self, session: ClientSession, request: LeaveRoom) -> None:
        self._conclude(session, request.request_id,
                       self.rooms.leave(self.person(session), request.room_name, time.time()))

    def set_topic(self, session: ClientSession, request: SetTopic) -> None:
        self._conclude(session, request.request_id,
                       self.rooms.set_topic(self.person(session), request.room_name, request.topic, time.time()))

    def set_mode(self, session: ClientSession, request: SetRoomMode) -> None:
        self._conclude(session, request.request_id,
                       self.rooms.set_invite_only(self.person(session), request.room_name, request.invite_only,
                                                  time.time()))

    def moderate(self, session: ClientSession, request: Any) -> None:
        """invite, kick, ban, unban, mute, unmute, appoint: an act on the person ``name``."""
        target = self.target(request.name)
        if type(target) is Refused:
            self._conclude(session, request.request_id, [target])
            return
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
        self._conclude(session, request.request_id, decision)
        if kind is Mute:
            self._wake()

    def list_rooms(self, session: ClientSession, request: RoomsRequest) -> None:
        summaries = [s for s in self.rooms.list_rooms(self.person(session), request.after)]
        items = [RoomEntry(s.room, s.count, s.topic) for s in summaries[:_MAX_ITEMS_PER_PAGE] if type(s) is RoomSummary]
        more = len(summaries) > len(items)

        def build(count: int) -> RoomList:
            cut = count < len(items) or more
            return RoomList(request.request_id, tuple(items[:count]), items[count - 1].room_name if count and cut else None)

        session.send(fit_page(build, items))

    def members(self, session: ClientSession, request: MembersRequest) -> None:
        decision = self.rooms.members(self.person(session), request.room_name, request.after)
        refusal = next((e for e in decision if type(e) is Refused), None)
        if refusal is not None:
            self._refused(session, request.request_id, refusal)
            return
        room = self.rooms.get(request.room_name)
        registry = self.relay.registry
        items = [MemberEntry(m.name, m.role, registry.lookup_key(canonical(m.name)) is not None)
                 for m in decision[:_MAX_ITEMS_PER_PAGE] if type(m) is Member]
        more = len(decision) > len(items)

        def build(count: int) -> MemberList:
            cut = count < len(items) or more
            return MemberList(request.request_id, room.name, tuple(items[:count]),
                              items[count - 1].name if count and cut else None)

        session.send(fit_page(build, items))

    def post(self, session: ClientSession, request: SendToRoom) -> None:
        """A message to a room: checked by the core, stored (a resend is recognised), then
        ``accepted`` and sent to the members' sessions. To the default room it is a ``say``."""
        now = time.time()
        refusal = self.rooms.may_post(self.person(session), request.room_name, now)
        if refusal is not None:
            self._refused(session, request.request_id, refusal)
            return
        room = self.rooms.get(request.room_name)
        relay = self.relay
        # The store gives the message its id (stores/base.py): 0 until then.
        if room is self.rooms.default:
            message = mailbox.StoredMessage(0, session.name, session.key, None, None, request.text,
                                            now, request.request_id, "room")
            relay.store.store_message(message, lambda result: relay._room_stored(session, result),
                                      relay._unavailable(session, request.request_id, "room_unavailable"))
            return
        message = mailbox.StoredMessage(0, session.name, session.key, room.name, room_key(room.name),
                                        request.text, now, request.request_id, "room")
        relay.store.store_message(message, lambda result: self._posted(session, result),
                                  relay._unavailable(session, request.request_id))

    def _posted(self, session: ClientSession, result: tuple[mailbox.StoredMessage, str]) -> None:
        message, status = result
        if status == mailbox.ID_REUSED:
            self.relay._id_reused(session, message)
            return
        session.send(Accepted(message.client_id, message.msg_id))
        if status != mailbox.NEW:
            return  # a resend: its members already have it
        room = self.rooms.get(message.recipient_key)
        if room is None:
            return  # it ended meanwhile: nobody is left to read it
        frame = encode(RoomPost(message.msg_id, message.sender, room.name, message.text, message.sent_at))
        self._last_post_id = message.msg_id
        self.relay.after.message_sent(message.sender_key, message.recipient_key)  # "typing" cleared
        blocked, loading, key = self.relay.blocked, self._loading, message.recipient_key
        for member in list(room.members):
            if message.sender_key in blocked.get(member, ()):
                continue
            for recipient in self.relay.registry.sessions_by_key(member):
                if not recipient.conn.may_send(RoomPost):
                    continue
                if loading and key in loading.get(recipient, ()):
                    continue  # stored before its missed messages were asked for: it is one of them
                if recipient.lagging:  # room traffic is what a slow reader loses (see _room_stored)
                    if recipient.is_open:
                        recipient.skipped += 1
                    continue
                recipient.write_frame(frame)

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
            if blocked:  # as when they were posted: not shown to who blocks their sender
                entries = [e for e in entries if canonical(e.sender) not in blocked]

            def build(count: int) -> HistoryPage:
                kept = entries[len(entries) - count:]  # the newest; the cursor leads to the rest
                cursor = kept[0].msg_id if 0 < count < len(entries) else before
                return HistoryPage(request.request_id, room.name, tuple(kept), cursor)

            session.send(fit_page(build, entries[::-1]))

        self.relay.store.room_history(room_key(room.name), request.before, request.limit, page,
                                      self.relay._unavailable(session, request.request_id))
        return True

    # --- Missed messages -------------------------------------------------------------------

    def logged_in(self, session: ClientSession) -> None:
        """``session`` is its user's only one: send what they missed in their rooms while
        they were away, oldest first (per room the newest ``const.ROOM_BACKLOG_LIMIT``
        after their cursor, none older than ``const.ROOM_BACKLOG_AGE``), as ``room``
        frames, then the rooms' messages live: each once, in one order. The store answers
        in submission order, so every message of those rooms whose fan-out comes before
        the answer was stored before the question: it is left to the answer."""
        self._presence(session, "online")
        if not session.conn.may_send(RoomPost):
            return  # version 1 has no rooms: their cursors stay, for their next version 2 login
        key = session.key
        room_keys = [room_key(name) for name in self.rooms.rooms_of(key)]
        if not room_keys:
            # In no room: nothing to fetch and nothing had. The shared empty mapping marks
            # them as tracked (logged_out stores their cursors) without a dict of their own:
            # an empty dict was 64 of the 2,560 bytes an idle connection may cost (issue 9).
            self._had[key] = _NOTHING_HAD
            return
        self._had[key] = {}
        self._loading[session] = frozenset(room_keys)

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
                if room is None or message.sent_at < oldest or message.sender_key in blocked or session.closing:
                    continue
                if message.deleted:
                    continue  # deleted before they saw it: nothing to show (history says "deleted")
                if session.lagging:  # as for live room messages: counted, and told as skipped
                    if session.is_open:
                        session.skipped += 1
                    continue
                session.write_frame(encode(RoomPost(message.msg_id, message.sender, room.name, message.text,
                                                    message.sent_at)))
                if message.edited_at is not None:  # its text is the latest: mark it "edited"
                    self._tell_change(session, message, room.name)
            if messages:  # so that a crash before the logout repeats no more than this session's
                self.relay.store.set_room_cursors(key, {**had, mailbox.LEFT_AT: _now_ms()})

        def not_fetched(_failure: Any) -> None:
            # Their cursors stay as stored: what they missed comes at their next login.
            if self._loading.pop(session, None) is not None:
                self._had.pop(key, None)

        self.relay.store.room_backlog(key, room_keys, const.ROOM_BACKLOG_LIMIT, fetched, not_fetched)

        # Then the edits and deletes, since they were last here, of posts they had then:
        # read before the cursors above are written (the store answers in order).
        def changed(messages: list[mailbox.StoredMessage]) -> None:
            blocked = self.relay.blocked.get(key, ())
            for message in messages:
                room = self.rooms.get(message.recipient_key)
                if room is not None and message.sender_key not in blocked and not session.closing:
                    self._tell_change(session, message, room.name)

        self.relay.store.room_changes(key, room_keys, const.ROOM_BACKLOG_LIMIT, changed, lambda _failure: None)

    def logged_out(self, session: ClientSession) -> None:
        """``session`` was its user's last: store, for each room they are in, the last id of
        it they have had (what was sent to the members while they were here)."""
        self._presence(session, "offline")
        key = session.key
        had = self._had.pop(key, None)
        if self._loading.pop(session, None) is not None or had is None:
            return  # their missed messages never came (or version 1): the cursors stay
        cursors = {room: max(had.get(room, 0), self._last_post_id)
                   for room in (room_key(name) for name in self.rooms.rooms_of(key))}
        cursors[mailbox.LEFT_AT] = _now_ms()  # changes from now on are told at their next login
        self.relay.store.set_room_cursors(key, cursors)

    def _presence(self, session: ClientSession, act: str) -> None:
        """Tell the other members online of each named room ``session``'s user is in that
        they came ``online`` or went ``offline``: in rooms of at most the presence limit
        (``const.PRESENCE_ROOM_LIMIT``) members only, as for the default room; a larger
        room is quiet (its members ask ``members``, or ``watch`` whom they care about)."""
        key, limit, registry = session.key, self.relay.config.presence_room_limit, self.relay.registry
        names = self.rooms.rooms_of(key)
        if not names:
            return
        now = time.time()
        for name in names:
            room = self.rooms.get(name)
            if room is None or len(room.members) > limit:
                continue
            frame = encode(RoomNotice(room.name, act, room.members.get(key, session.name), now))
            for member in room.members:
                if member == key:
                    continue
                for recipient in registry.sessions_by_key(member):
                    if recipient.is_open and recipient.conn.may_send(RoomNotice):
                        recipient.write_frame(frame)

    # --- Edits and deletes of posts (issue 13) ----------------------------------------------

    def post_changed(self, message: mailbox.StoredMessage, by: str | None, skip: ClientSession | None) -> None:
        """Room post ``message`` was just edited or deleted (``by`` a moderator or an
        administrator, or None: by its sender): tell the members' sessions with the
        ``edits`` feature (the sender's too, but ``skip``, which asked), except those who
        block the sender (they never had the post). Members offline learn it at their next
        login (:meth:`logged_in`, from the room's change log)."""
        room = self.rooms.get(message.recipient_key)
        if room is None:
            return  # the room ended: nobody is left to tell
        frame = encode(room_change_event(message, room.name, by))
        blocked, after = self.relay.blocked, self.relay.after
        for member in room.members:
            if message.sender_key in blocked.get(member, ()):
                continue
            for recipient in self.relay.registry.sessions_by_key(member):
                if (recipient is not skip and recipient.is_open and after.wants_edits(recipient)
                        and recipient.conn.may_send(RoomPost)):
                    recipient.write_frame(frame)

    def _tell_change(self, session: ClientSession, message: mailbox.StoredMessage, room: str) -> None:
        """Tell ``session`` (if it has the ``edits`` feature) the latest change of a post."""
        if self.relay.after.wants_edits(session) and session.is_open:
            session.write_frame(encode(room_change_event(message, room)))

    def publish(self, decision: list) -> None:
        """Announce and log what the rules decided outside a room request (a moderator's
        delete of a post, server/afterdelivered.py)."""
        self._publish(decision)

    def add_admin(self, name: str) -> str:
        """The console's ``/admin NAME``: the account ``name`` administers every room until the
        server stops (``const.ADMINS`` names the permanent ones); ``""`` lists them. Returns
        the line to show."""
        if name:
            try:
                validate_name(name)
            except InvalidName as exc:
                return f"{name[:40]!r}: {exc}"
            self.rooms.add_admin(name)
            log.info("the console made %s a server administrator", name)
        return "server administrators: " + (", ".join(self.rooms.admins()) or "none")

    def say_refused(self, session: ClientSession, request_id: str) -> bool:
        """True (and answered ``muted``) if ``session``'s user is muted in the default room:
        the check the relay makes before a ``say``."""
        if not self.rooms.default.muted:
            return False
        refusal = self.rooms.may_post(self.person(session), self.rooms.default.name, time.time())
        if refusal is None:
            return False
        self._refused(session, request_id, refusal)
        return True

    # --- Time ------------------------------------------------------------------------------

    def expire(self, now: float) -> None:
        """End the mutes whose time has come: on time, woken by the timer :meth:`_wake`
        sets, and with the relay's periodic expiry pass (which also retries a mute end
        the store could not keep)."""
        decision = self.rooms.expire(now)
        if decision:
            self._save(decision, lambda: self._publish(decision), lambda: None)

    def _wake(self) -> None:
        """Set a timer for the core's next deadline, unless one is set for it or sooner."""
        due = self.rooms.next_deadline()
        if due is None or self._schedule is None or due >= self._woken_at:
            return
        self._woken_at = due

        def woken() -> None:
            if self._woken_at <= due:
                self._woken_at = float("inf")
            self.expire(time.time())
            self._wake()

        # A little after ``due``, so that time.time() has passed it when the timer fires.
        self._schedule(max(0.0, due - time.time()) + _WAKE_LATE, woken)

    # --- Inside ----------------------------------------------------------------------------

    def _refused(self, session: ClientSession, request_id: str, refusal: Refused) -> None:
        self.relay.log_lines.log("refused room requests", session.address, logging.INFO, "room request %s of %r: %s",
                                 refusal.code, session, refusal.message)
        session.send(ErrorReply(refusal.code, refusal.message, request_id))

    def _conclude(self, session: ClientSession, request_id: str, decision: list, answer: Any = None,
                  then: Callable[[], None] | None = None) -> None:
        """Answer a decision: a refusal at once; otherwise store what changed, then answer
        (``answer``, or ``ok``), announce and log, and call ``then``; or, if the store
        failed, put the rooms back and answer ``unavailable``."""
        refusal = next((e for e in decision if type(e) is Refused), None)
        if refusal is not None:
            self._refused(session, request_id, refusal)
            return

        def done() -> None:
            session.send(answer if answer is not None else Done(request_id))
            self._publish(decision)
            if then is not None:
                then()

        self._save(decision, done, lambda: session.send(unavailable_error(self.relay.config, request_id)))

    def _save(self, decision: list, done: Callable[[], None], failed: Callable[[], None]) -> None:
        changes = self.rooms.changes()
        if not changes:
            done()
            return
        waiting = [len(changes), False]  # answers still to come; whether one failed

        def answered(ok: bool) -> None:
            waiting[0] -= 1
            waiting[1] = waiting[1] or not ok
            if waiting[0]:
                return
            if waiting[1]:
                for key, _record in changes:
                    self.rooms.reset(key, self._saved.get(key))
                failed()
                return
            for key, record in changes:
                if record is None:
                    self._saved.pop(key, None)
                else:
                    self._saved[key] = record
            done()

        for key, record in changes:
            self.relay.store.save_room(key, record, lambda _result: answered(True), lambda _failure: answered(False))

    def _publish(self, decision: list) -> None:
        """Send each Notice to the room's members (everyone, for the default room) and to
        the person it names, on sessions that speak version 2; log each LogLine."""
        for event in decision:
            if type(event) is LogLine:
                log.info("%s", event.text)
            elif type(event) is Notice:
                self._announce(event)

    def _announce(self, notice: Notice) -> None:
        frame = encode(RoomNotice(notice.room, notice.act, notice.name, notice.at, notice.by, notice.reason,
                                  notice.topic, notice.until, notice.role))
        room = self.rooms.get(notice.room)
        if room is self.rooms.default:
            recipients = list(self.relay.sessions)
        else:
            keys = set(room.members) if room is not None else set()
            keys.add(canonical(notice.name))
            recipients = [s for key in keys for s in self.relay.registry.sessions_by_key(key)]
        for recipient in recipients:
            if recipient.is_open and recipient.conn.may_send(RoomNotice):
                recipient.write_frame(frame)
