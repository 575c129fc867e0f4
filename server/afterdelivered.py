"""What happens to a direct message after "delivered" (issue 13): read, typing, edit, delete.

The relay hands these frames here (see ``AfterDelivered.handlers``); like the relay, this
never touches a socket: it answers through ``session.send`` and asks the store.

- **Features.** Each frame works only in a session whose hello asked for its feature
  (``read``, ``typing``, ``edits``); a session that did not gets none of them, and a frame
  of a feature it did not ask for is answered ``unknown_type``. So today's clients see
  nothing new.
- **The switch.** ``read_receipts`` is a per-user setting kept by the server (the store's
  ``receipts_off``), not a per-session one: a user who turns receipts off expects it of
  every device, after every restart, as in Signal and WhatsApp. A user with it off
  neither sends nor sees reads and typing: the server refuses their ``read`` and
  ``typing`` (``forbidden``) and forwards nobody's to them; and nobody sees theirs. A
  changed switch is told at once to the user's other sessions with the feature, on every
  node (a ``settings`` frame without id: :meth:`AfterDelivered._tell_switch`), so that
  their clients stop sending what would be refused, and show the switch as it is.
- **Read** marks are cumulative per conversation ("read up to msg_id N"), one stored row
  per reader and peer, and only grow; a moved mark goes to the peer's sessions and the
  reader's other sessions. A sender that was offline learns it when it asks for the
  conversation's history (a ``read`` follows the page).
- **Typing** is never stored, and forwarded at most once per interval per pair
  (server/typing.py); the receiver expires it.
- **Edit and delete**: only the sender, within ``config.edit_window``; the change goes to
  the sender's other sessions and to the recipient, whose sessions are told again at
  every login until one confirms it (``edit_receipt``), as a message is. A device back
  from away, while another session of its user took the change in, is told it at its login
  from its hello's ``last_heard`` on (:meth:`AfterDelivered.tell_changes`, the store's
  ``dm_changes``; PROTOCOL.md "Changes a device missed").
- **Blocking**: between two users one of whom blocks the other, no read, typing, edit
  or delete passes, in either direction.
- **A slow reader**: to a session that is crowded (its queue over the others' mark,
  server/session.py), another user's typing is dropped and their edits and deletes wait
  in the store, fetched once it drains (:meth:`AfterDelivered._held_back`): nobody can
  queue much ahead of its own messages, nor push it past its hard mark.
- **Rooms** (protocol version 2): ``typing`` with ``room`` goes to the room's other
  members online (rooms up to ``config.presence_room_limit`` members; never stored); an
  edit or delete of a room post goes to the members through the room desk
  (:meth:`RoomDesk.post_changed`), and to members who were offline at their next login
  from the room's change log (``store.room_changes``), never as a record per member.
  The default room's messages likewise, to everyone online (it has no change log: it
  keeps no history, so nobody offline is told).
- **Others' messages**: a delete the store refuses as someone else's is done anyway for an
  administrator (any direct message or post) and for a room's owner and moderators (its
  posts): :meth:`AfterDelivered._may_delete_any` asks the rules (``Rooms.is_admin``,
  ``RIGHTS["delete"]``), then deletes without the sender and window checks
  (``mailbox.change_refused`` with no sender), announces and logs it. Nobody edits
  another's message.
- **Read marks in rooms**: ``read`` with ``room``, server/roomreads.py (counts told in
  small rooms, coalesced, bounded; one's own moved mark to one's other sessions, as a
  direct ``read`` is).
- **Across nodes** (a cluster, server/cluster/): every frame above also goes to the
  sessions it is for on other nodes (``peers.conversation``), whose node applies the
  rules again with its own caches before it tells them (:meth:`AfterDelivered.routed`),
  and a changed switch goes to every node (``peers.store_receipts_switch``,
  :meth:`AfterDelivered.switched`). Typing is coalesced by the gate of the sender's
  node: a session lives on one node, so per session it is the same rule as on one
  server; a user typing to one person from devices on two nodes at once passes one
  ``typing`` per interval per node, which shows the receiver the same "is typing".
  A room's ``typing`` goes the same way, one entry per member online on another node
  (:data:`ROOM_TYPING`), and one's own moved room mark to one's sessions on other nodes
  (``ROOM_READ``, server/roomreads.py); a room post's edit or delete goes to every node through the
  events stream (:meth:`RoomDesk.post_changed`), in order after the post.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

import const
from protocol import (
    EDITS,
    READ,
    TYPING,
    Delete,
    Deleted,
    Done,
    Edit,
    Edited,
    EditReceipt,
    ErrorCode,
    ErrorReply,
    Read,
    RoomDeleted,
    RoomEdited,
    RoomRead,
    RoomTyping,
    Settings,
    Typing,
)
from protocol.codec import encode
from registry import canonical

from . import mailbox
from .clocksteps import MessageAges
from .guests import earlier_holding
from .roomreads import ROOM_READ, RoomReads
from .rooms import LogLine, Refused, room_key
from .session import ClientSession
from .stores.base import StoreUnavailable
from .typing import TypingGate

if TYPE_CHECKING:
    from .relay import Relay


# The feature a routed room ``typing`` names (bus.Conversation): a ``typing`` (the same
# rules and the same late drop), for the sessions that speak protocol version 2 only.
ROOM_TYPING = "room_typing"
# The routed features of rooms (server/roomreads.py's ROOM_READ too): the event whose
# protocol version a session must speak to be written them.
_IN_ROOM: dict[str, type] = {ROOM_TYPING: RoomTyping, ROOM_READ: RoomRead}


class AfterDelivered:
    """Read receipts, typing, edits and deletes of direct messages, for one relay."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        # The features of this kind each session asked for; sessions without any are absent.
        self.features: dict[ClientSession, frozenset[str]] = {}
        # Keys of the users who turned read receipts off (loaded at start, written through).
        self.receipts_off: set[str] = relay.store.receipts_off()
        self.typing_gate = TypingGate(relay.config.typing_interval)
        # A direct message went from one to the other (the relay, once a message): the
        # receiver cleared "typing", so the sender's next one passes at once. The gate's own
        # method, not one of ours that calls it: a call fewer a message (issue 9, round fifteen).
        self.message_sent: Callable[[str, str], None] = self.typing_gate.stopped
        # Read marks in rooms: server/roomreads.py (its timer is the room desk's loop's).
        self.room_reads = RoomReads(self, relay.room_desk.schedule)
        # Sessions whose edits and deletes wait in the store until they drain (_held_back),
        # with the msg_ids of the messages whose latest change was not written to them (so
        # that what was written is not written again: _tell_held); and those whose fetch of
        # them is under way.
        self._changes_held: dict[ClientSession, set[int]] = {}
        self._changes_fetching: set[ClientSession] = set()
        # Sessions whose client was away (the hello's last_heard) and is still to be told the
        # changes of its user's direct messages since then: (since, the msg_id told up to),
        # until told (_tell_missed); and those whose read of them is under way.
        self._missed: dict[ClientSession, tuple[float, int]] = {}
        self._missed_fetching: set[ClientSession] = set()
        # Of those, the changes already written to them as unconfirmed at this login
        # (msg_id -> the change's stamp): the same change is not told again as missed. At
        # most a page each, kept until the missed ones are told.
        self._told_unconfirmed: dict[ClientSession, dict[int, float]] = {}
        # The edit window on a clock that never steps while the server runs (a step of the
        # wall clock neither lets an old message be edited nor refuses a fresh one).
        self.message_ages = MessageAges()

    def handlers(self) -> dict[type, Callable[[ClientSession, Any], None]]:
        return {Read: self._read, Typing: self._typing, Edit: self._edit, Delete: self._delete,
                EditReceipt: self._edit_receipt, Settings: self._settings, RoomTyping: self._room_typing,
                RoomRead: self.room_reads.read}

    # --- Sessions -----------------------------------------------------------------------

    def logged_in(self, session: ClientSession, features: tuple[str, ...]) -> bool | None:
        """``session`` logged in with ``features`` turned on; returns the welcome's
        ``read_receipts`` (None without the ``read`` feature)."""
        mine = frozenset(features) & {READ, TYPING, EDITS}
        if mine:
            self.features[session] = mine
        return (session.key not in self.receipts_off) if READ in mine else None

    def name_changed_hands(self, key: str) -> None:
        """A guest name has a new holder: the earlier holder's switch is not theirs."""
        if key in self.receipts_off:
            self.receipts_off.discard(key)
            self.relay.peers.store_receipts_switch(self.relay.store, key, True)

    def logged_out(self, session: ClientSession) -> None:
        if session in self.features:
            self.room_reads.logged_out(session)
        self.features.pop(session, None)
        self._changes_held.pop(session, None)
        self._changes_fetching.discard(session)
        self._missed.pop(session, None)
        self._missed_fetching.discard(session)
        self._told_unconfirmed.pop(session, None)

    def drained(self, session: ClientSession) -> None:
        """``session``'s queue drained (relay.drained): the changes held back for it follow."""
        held = self._changes_held.get(session)
        if held and session not in self._changes_fetching:
            self._tell_held(session, held)
        if session in self._missed and session not in self._missed_fetching:
            self._tell_missed(session)

    def _held_back(self, session: ClientSession, feature: str, actor: str, change: Any = None) -> bool:
        """True if a ``feature`` frame of ``actor``'s act is not to be written to
        ``session`` now: it is crowded (its queue is over the others' mark, or the soft
        mark: ``session.crowded``, server/session.py) and the act is another user's, so
        that nobody can queue much ahead of its own messages, nor push it past the hard
        mark. A ``typing`` is then dropped (ephemeral: the next one comes within the
        interval); an edit or delete (``change``: its event, or its frame) waits in the
        store (told until confirmed) and is fetched once the session drains
        (:meth:`drained`), as a direct message waits. A read mark always goes: the peer
        moves it at most once per message this user sent it."""
        if feature == READ or actor == session.key or not session.crowded():
            return False
        if feature == EDITS:
            self._hold_changes(session, (_msg_id(change),))
        return True

    def _hold_changes(self, session: ClientSession, msg_ids: Iterable[int]) -> None:
        """Fetch the latest change of each of ``msg_ids`` for ``session`` once it drains."""
        self._changes_held.setdefault(session, set()).update(msg_ids)
        session.held = True  # so the relay calls drained() (server/session.py)

    def _written(self, session: ClientSession, change: Any) -> None:
        """The latest change ``change`` (an event, or its frame) was written to ``session``:
        not to be fetched for it again (:meth:`_tell_held`)."""
        held = self._changes_held.get(session)
        if held:
            held.discard(_msg_id(change))
            if not held and session not in self._changes_fetching:
                del self._changes_held[session]

    def _tell_held(self, session: ClientSession, held: set[int]) -> None:
        """Write to ``session`` the latest change of each message of ``held`` (its changes
        held back: :meth:`_held_back`), from the store, oldest first, while it is not
        crowded; the rest stay held until it drains again. A message whose change was
        written meanwhile (:meth:`_written`) is left out: nothing is written twice. One
        the store no longer holds as unconfirmed (confirmed by another session) is dropped."""
        self._changes_fetching.add(session)
        asked = set(held)
        limit = self.relay.config.max_pending_receipts

        def fetched(messages: list[mailbox.StoredMessage]) -> None:
            self._changes_fetching.discard(session)
            if session.closing:
                return
            for message in messages:
                if message.msg_id not in held:
                    continue  # not held, or written since
                if session.crowded():
                    return  # the rest stays held: drained() is called again
                held.discard(message.msg_id)
                if not self._blocked(session.key, message.sender_key):
                    session.send(_change_event(message))
            # Asked for and not in a whole answer: confirmed elsewhere, or gone.
            last = messages[-1].msg_id if len(messages) == limit else None
            held.difference_update(m for m in asked if last is None or m <= last)
            if not held and self._changes_held.get(session) is held:
                del self._changes_held[session]
            elif held:
                self._tell_held(session, held)  # a page more

        def not_fetched(_failure: StoreUnavailable) -> None:
            self._changes_fetching.discard(session)  # still held: the next drain asks again

        self.relay.store.changes_for(session.key, min(held) - 1, limit, fetched, not_fetched)

    def wants_edits(self, session: ClientSession) -> bool:
        """Whether ``session`` asked for the ``edits`` feature (for the room desk)."""
        return EDITS in self.features.get(session, ())

    def _wants(self, session: ClientSession, feature: str) -> bool:
        return feature in self.features.get(session, ())

    @staticmethod
    def _nobody(session: ClientSession, name: str) -> None:
        """``unknown_recipient`` for a ``typing`` to ``name``, whom nobody has ever logged in as."""
        session.send(ErrorReply(ErrorCode.UNKNOWN_RECIPIENT, f"nobody called {name} has ever logged in here"))

    def _asked(self, session: ClientSession, feature: str, kind: str, request_id: str | None = None) -> bool:
        """True if ``session`` asked for ``feature``; else answers ``unknown_type``."""
        if self._wants(session, feature):
            return True
        session.send(ErrorReply(ErrorCode.UNKNOWN_TYPE, f"'{kind}' needs the feature '{feature}' in the hello",
                                request_id))
        return False

    def _blocked(self, a: str, b: str) -> bool:
        """True if either user blocks the other."""
        blocked = self.relay.blocked
        return b in blocked.get(a, ()) or a in blocked.get(b, ())

    def _receipts_refused(self, session: ClientSession, kind: str) -> bool:
        if session.key in self.receipts_off:
            session.send(ErrorReply(ErrorCode.FORBIDDEN, f"your read receipts are off, so '{kind}' is too: "
                                    "turn them on with settings"))
            return True
        return False

    def _to(self, key: str, feature: str, event: Any, skip: ClientSession | None = None,
            actor: str | None = None) -> None:
        """Send ``event`` to the online sessions of ``key`` that asked for ``feature``, but
        not to those it is held back from (:meth:`_held_back`, of ``actor``'s act), nor a
        ``read`` mark up to a message of an earlier holder of their guest name to them."""
        for other in self.relay.registry.sessions_by_key(key):
            if (other is not skip and feature in self.features.get(other, ())
                    and (actor is None or not self._held_back(other, feature, actor, event))
                    and not (type(event) is Read and earlier_holding(other.epoch, event.msg_id))):
                other.send(event)
                if feature == EDITS:
                    self._written(other, event)

    def _tell(self, key: str, feature: str, event: Any, actor: str, skip: ClientSession | None = None) -> None:
        """:meth:`_to`, and the same for the sessions of ``key`` on other nodes (whose
        node checks :meth:`_passes` again); ``actor``: whose act ``event`` tells."""
        self._to(key, feature, event, skip, actor)
        if self.relay.peers.routes:
            self.relay.peers.conversation(key, actor, feature, encode(event))

    def _passes(self, feature: str, key: str, actor: str) -> bool:
        """True if a ``feature`` frame of ``actor``'s act may reach the sessions of
        ``key``: always its own other sessions; an edit or delete unless ``key`` blocks
        ``actor``; a read or typing if both have receipts on and neither blocks the other."""
        if key == actor:
            return True
        if feature == EDITS:
            return actor not in self.relay.blocked.get(key, ())
        return key not in self.receipts_off and actor not in self.receipts_off and not self._blocked(key, actor)

    def routed(self, key: str, actor: str, feature: str, frame: bytes, at: float) -> None:
        """Another node sends ``frame`` (sent at ``at``, on this node's wall clock: the node
        takes it from Redis's, see bus.Conversation) for the sessions of ``key`` here that
        asked for ``feature``: told if :meth:`_passes` says so here too. A ``typing`` older
        than the typing interval is dropped: the receiver would show "is typing" for longer
        than the typist did."""
        # A room's typing, or one's own room read: a typing or read, to version 2 sessions.
        in_room = _IN_ROOM.get(feature)
        if in_room is not None:
            feature = TYPING if in_room is RoomTyping else READ
        if feature == TYPING and time.time() - at > self.relay.config.typing_interval:
            return
        if not self._passes(feature, key, actor):
            return
        # A direct read mark up to a message of an earlier holder of the guest name is not
        # told to its new holder (as :meth:`_to` does not).
        mark = _msg_id(frame) if feature == READ and in_room is None else None
        for session in self.relay.registry.sessions_by_key(key):
            if (feature in self.features.get(session, ()) and (in_room is None or session.conn.may_send(in_room))
                    and not self._held_back(session, feature, actor, frame)
                    and (mark is None or not earlier_holding(session.epoch, mark))):
                session.write_frame(frame)
                if feature == EDITS:
                    self._written(session, frame)

    # --- Read ---------------------------------------------------------------------------

    def _read(self, session: ClientSession, read: Read) -> None:
        if not self._asked(session, READ, "read") or self._receipts_refused(session, "read"):
            return
        reader, peer_key = session.key, canonical(read.peer)
        peer = self.relay.known.get(peer_key, read.peer)

        def unknown() -> None:
            session.send(ErrorReply(ErrorCode.UNKNOWN_MESSAGE, f"message {read.msg_id} is not one {read.peer} sent you"))

        if earlier_holding(session.epoch, read.msg_id):
            # Sent to an earlier holder of this guest name: never this one's to read, and
            # its sender would be told a false "read".
            return unknown()

        def recorded(result: tuple[int | None, bool]) -> None:
            mark, moved = result
            if mark is None:
                return unknown()
            if not moved or session.name is None:
                return
            event = Read(peer, mark, session.name)
            self._tell(reader, READ, event, reader, skip=session)  # the reader's other devices
            if self._passes(READ, peer_key, reader):
                self._tell(peer_key, READ, event, reader)

        self.store_call(session, None, self.relay.store.record_read, reader, peer_key, read.msg_id, callback=recorded)

    def history_asked(self, session: ClientSession, peer_key: str, then: Callable[[int | None], None]) -> None:
        """Before a history page with ``peer_key``: how far the peer has read ``session``'s
        messages, for a ``read`` session when both have receipts on and neither blocks the
        other. Calls ``then(mark)`` once (None: none, not to be told, one of an earlier holder
        of ``session``'s guest name, or the store did not answer), so that the page carries
        it (``read_up_to``: a client shows those messages read, not delivered) and
        :meth:`history_sent` tells it after the page as before."""
        me = session.key
        if (not self._wants(session, READ) or me in self.receipts_off or peer_key in self.receipts_off
                or self._blocked(me, peer_key)):
            then(None)
            return
        epoch = session.epoch

        def found(mark: int | None) -> None:
            # A mark up to a message of an earlier holder of this guest name is theirs: it
            # would tell this one a message id of that holding (PROTOCOL.md "Guest names").
            then(None if mark is None or earlier_holding(epoch, mark) else mark)

        # Not found: the page goes without it (if the store is down, it says "unavailable").
        self.relay.store.read_mark(peer_key, me, found, lambda failure: then(None))

    def history_sent(self, session: ClientSession, peer_key: str, mark: int | None) -> None:
        """After the history page that carried ``mark`` (see :meth:`history_asked`): the
        ``read`` frame that says it, as for clients that apply it to the lines they have."""
        if mark is not None and not session.closing:
            session.send(Read(session.name, mark, self.relay.known.get(peer_key, peer_key)))

    # --- Typing -------------------------------------------------------------------------

    def _typing(self, session: ClientSession, typing: Typing) -> None:
        if not self._asked(session, TYPING, "typing") or self._receipts_refused(session, "typing"):
            return
        to_key = canonical(typing.to)
        if to_key == session.key:
            session.send(ErrorReply(ErrorCode.BAD_FIELD, "'typing' to yourself"))
            return
        record = self.relay.directory.lookup_key(to_key)  # online on any node
        if record is None:
            if to_key not in self.relay.known:
                known_name = getattr(self.relay.peers, "known_name", None)
                if known_name is None:
                    self._nobody(session, typing.to)
                else:  # a first login on another node may not have reached us yet: Redis knows
                    # (Redis not answering: told nothing, not a false "nobody"; typing has no answer.)
                    known_name(to_key, lambda name: None if name else self._nobody(session, typing.to))
            return  # offline: "typing" is never stored
        if not self._passes(TYPING, to_key, session.key):
            return  # told nothing, as a blocked sender is told nothing
        if self.typing_gate.allow(session.key, to_key, time.monotonic()):
            self._tell(to_key, TYPING, Typing(record.name, session.name), session.key)

    def _room_typing(self, session: ClientSession, typing: RoomTyping) -> None:
        """``typing`` in a named room: to its other members online with the feature, unless
        either blocks the other or theirs are off; only in rooms of at most
        ``config.presence_room_limit`` members (in a larger one, a line of names typing
        is noise and the fan-out a cost per keystroke: absorbed). Never stored."""
        if not self._asked(session, TYPING, "typing") or self._receipts_refused(session, "typing"):
            return
        desk = self.relay.room_desk
        room = desk.rooms.get(typing.room_name)
        me = session.key
        if room is None:
            session.send(desk.rooms.missing(typing.room_name).reply(None))
            return
        if room is desk.rooms.default or me not in room.members:
            session.send(ErrorReply(ErrorCode.NOT_MEMBER, f"you are not in {room.name}: join it first",
                                    room_name=room.name))
            return
        if len(room.members) > self.relay.config.presence_room_limit:
            return
        if not self.typing_gate.allow(me, room_key(room.name), time.monotonic()):
            return
        event = RoomTyping(room.name, session.name)
        # Across nodes only when the rooms are one across them (else each node's are its own).
        frame = encode(event) if self.relay.peers.shares_rooms else None
        for member in room.members:
            if member == me or not self._passes(TYPING, member, me):
                continue
            for other in self.relay.registry.sessions_by_key(member):
                if (TYPING in self.features.get(other, ()) and other.conn.may_send(RoomTyping)
                        and not self._held_back(other, TYPING, me)):
                    other.send(event)
            if frame is not None:  # and to the member's sessions on other nodes, never stored
                self.relay.peers.conversation(member, me, ROOM_TYPING, frame)

    def expire(self) -> None:
        self.typing_gate.prune(time.monotonic())

    # --- Edit and delete ----------------------------------------------------------------

    def _edit(self, session: ClientSession, request: Edit) -> None:
        self._change(session, request.request_id, request.msg_id, request.text, "edit")

    def _delete(self, session: ClientSession, request: Delete) -> None:
        self._change(session, request.request_id, request.msg_id, None, "delete")

    def _change(self, session: ClientSession, request_id: str, msg_id: int, text: str | None, kind: str,
                moderation: list | None = None, post: mailbox.StoredMessage | None = None, attempt: int = 0) -> None:
        """An edit (``text``) or delete (None) of ``msg_id``. First as its sender's; a
        delete the store refuses as someone else's is tried again as a moderation act
        (``moderation``: what the rules decided, a Notice and LogLine to publish; ``post``:
        the message as the store gave it) when the one asking may delete it
        (:meth:`_may_delete_any`). In a cluster, a room post's edit or a moderation act is
        made only if the post's room is still as this node decided on it (its version:
        RoomDesk.versions_of); else the node takes the room as it is and decides again
        (``attempt``: how many times it was decided already), as a post is decided again."""
        if moderation is None and not attempt and not self._asked(session, EDITS, kind, request_id):
            return
        me = session.key
        desk = self.relay.room_desk
        # A message an earlier holder of this guest name sent is not theirs: asked as ""
        # (nobody's key), the store answers FORBIDDEN with it, and only a moderator's or
        # an administrator's delete goes on.
        own_key = "" if earlier_holding(session.epoch, msg_id) else me
        # Those who block the sender hear nothing of the change (nor of the message).
        sender = post.sender_key if post is not None else me
        quiet_for = frozenset(owner for owner, blocked in self.relay.blocked.items() if sender in blocked)

        # An edit changes a room post only where its sender may post now (the rooms core's
        # rule, may_post): a mute, a kick or a ban is not got round by editing.
        may_post_in = None if text is None else self._may_post_in(session, msg_id)
        by = session.name if moderation is not None else None
        # The rooms those rights were decided on (a delete of one's own needs none).
        if moderation is not None and post.state == "room":
            versions = desk.versions_of((post.recipient_key or mailbox.DEFAULT_ROOM_SLOT,))
        else:
            versions = None if may_post_in is None else desk.versions_of(may_post_in)

        def changed(result: tuple[str, mailbox.StoredMessage | mailbox.StaleRoom | None]) -> None:
            status, message = result
            if status == mailbox.STALE:  # another node changed the room meanwhile
                if not desk.decide_again(message, attempt):
                    self.relay.unavailable(session, request_id)(None)
                elif moderation is None:
                    self._change(session, request_id, msg_id, text, kind, attempt=attempt + 1)
                else:
                    self._moderate(session, request_id, kind, post, attempt + 1)
                return
            if status == mailbox.BARRED:
                room = message.recipient or desk.rooms.default.name  # no recipient: the default room
                refusal = desk.rooms.may_post(desk.person(session), room, time.time())
                now_room = desk.rooms.get(room)
                if refusal is None and now_room is not None and not desk.rooms.holds(now_room, msg_id):
                    refusal = Refused(ErrorCode.NO_SUCH_ROOM, f"message {msg_id} was posted to an earlier {room}, "
                                      "which ended: it can no longer be edited")
                elif refusal is None:  # allowed again meanwhile (unmuted): the edit was not made
                    refusal = Refused(ErrorCode.FORBIDDEN, f"you could not post to {room} then: "
                                      "try the edit again")
                session.send(refusal.reply(request_id))  # muted: with its room and time left
                return
            if status == mailbox.FORBIDDEN and text is None and moderation is None and message is not None:
                self._moderate(session, request_id, kind, message, attempt)
                return
            error = _CHANGE_ERRORS.get(status)
            if error is not None:
                code, why = error
                session.send(ErrorReply(code, why.format(msg_id=msg_id, window=self.relay.config.edit_window / 60),
                                        request_id))
                return
            session.send(Done(request_id, message.edited_at))  # (CHANGED and UNCHANGED come with it)
            # A resend (UNCHANGED) is told again, as the change was. A client resends only
            # what it heard no ``ok`` for, and that answer may have been lost with the change
            # stored (a store's maybe_done: a cluster node cut off from Redis, or killed,
            # before it told anyone), and then a recipient who stays connected was not told
            # until their next login (a room's members on other nodes were: the store put
            # the change on the events stream as it stored it). Told twice, a change is
            # applied once (by its ``at``). A moderator's notice is the act's announcement:
            # published once.
            if moderation is not None and status == mailbox.CHANGED:
                desk.publish(moderation)
            if message.state == "room":
                desk.post_changed(message, by, skip=session)
                return
            event = _change_event(message, by)
            # The author's blocks decide, also for a moderator's delete (as quiet_for does).
            author = message.sender_key
            self._tell(author, EDITS, event, author, skip=session)
            if moderation is not None:
                self._tell(me, EDITS, event, me, skip=session)
            if message.recipient_key not in quiet_for and message.state not in mailbox.BLOCKED_STATES:
                self._tell(message.recipient_key, EDITS, event, author)

        # The store holds now - sent_at (wall times) to the window; the window given it is
        # moved by the wall clock's steps since the message was taken (server/clocksteps.py).
        # None: taken before a step older than a window, so older than one (_NEVER).
        window = self._edit_window(msg_id)
        peers = self.relay.peers
        self.store_call(session, request_id, partial(peers.change_message, self.relay.store, may_post_in=may_post_in,
                                                     by=by, notices=desk.change_notices(moderation), versions=versions),
                        msg_id, None if moderation is not None else own_key, text, time.time(),
                        _NEVER if window is None else window, quiet_for, callback=changed)

    def _moderate(self, session: ClientSession, request_id: str, kind: str, post: mailbox.StoredMessage,
                  attempt: int) -> None:
        """The store refused ``session``'s delete of ``post`` as someone else's: deleted as a
        moderation act if the one asking may delete it (:meth:`_may_delete_any`), else
        ``forbidden``."""
        decision = self._may_delete_any(session, post)
        if decision is not None:
            self._change(session, request_id, post.msg_id, None, kind, decision, post, attempt)
            return
        code, why = _CHANGE_ERRORS[mailbox.FORBIDDEN]
        session.send(ErrorReply(code, why.format(msg_id=post.msg_id), request_id))

    def look_at_clock(self) -> None:
        """Note any step of the wall clock since the last look (the server's sweep calls
        this every few seconds, and every edit: server/clocksteps.py MessageAges)."""
        self.message_ages.look(time.time(), time.monotonic(), self.relay.store.last_msg_id())

    def _edit_window(self, msg_id: int) -> float | None:
        """The window to hold message ``msg_id``'s wall-clock age to (MessageAges.window_for)."""
        self.look_at_clock()
        return self.message_ages.window_for(msg_id, self.relay.config.edit_window, time.monotonic())

    def _may_post_in(self, session: ClientSession, msg_id: int) -> frozenset[str]:
        """The keys of the named rooms ``session``'s user may post to now (the rooms core
        decides: Rooms.may_post) whose post ``msg_id`` would be (Rooms.holds: not one of an
        earlier room of the name, which ended, whose posts nobody may edit), at most
        const.MAX_ROOMS_PER_USER."""
        desk = self.relay.room_desk
        person, now = desk.person(session), time.time()
        named = frozenset(room_key(name) for name in desk.rooms.rooms_of(session.key)
                          if desk.rooms.may_post(person, name, now) is None
                          and desk.rooms.holds(desk.rooms.get(name), msg_id))
        if desk.rooms.may_post(person, desk.rooms.default.name, now) is None:  # not muted there
            return named | {mailbox.DEFAULT_ROOM_SLOT}
        return named

    def _may_delete_any(self, session: ClientSession, message: mailbox.StoredMessage) -> list | None:
        """What the rules decide of ``session``'s user deleting ``message``, someone
        else's: the decision to publish (a Notice for a room, a LogLine) if they may,
        else None. An administrator (Rooms.is_admin) may delete any direct message or
        room post; a room's owner and moderators any post of their room (RIGHTS["delete"],
        server/rooms.py): the one rule, applied there."""
        desk = self.relay.room_desk
        person = desk.person(session)
        now = time.time()
        if message.state == "room":  # a named room's post, or the default room's (no recipient)
            room = message.recipient_key if message.recipient_key is not None else desk.rooms.default.name
            decision = desk.rooms.delete_post(person, room, message.sender, message.msg_id, now)
            if not any(type(e) is Refused for e in decision):
                return decision
        if desk.rooms.is_admin(person):
            where = f"in {message.recipient}" if message.state == "room" else f"to {message.recipient}"
            return [LogLine(f"the administrator {session.name} deleted message {message.msg_id} of "
                            f"{message.sender} {where}")]
        return None

    def tell_changes(self, session: ClientSession, last_heard: int | None = None) -> None:
        """At login: the edits and deletes ``session``'s user has not confirmed yet (one
        page, as the session takes it; the rest at the next login). With ``last_heard``
        (the hello's: its client was away), then the changes of the user's direct messages,
        sent or received, since then (:func:`changes_since_ms`), which another session may
        have confirmed or been told: :meth:`_tell_missed`. Called again (the store
        recovered: relay.tell_when_recovered), it goes on with those not told yet."""
        if not self._wants(session, EDITS):
            return
        if last_heard is not None:  # (first: the unconfirmed page then notes what it tells)
            self._missed[session] = (changes_since_ms(last_heard) / 1000, session.epoch)
        self._tell_changes_after(session, session.epoch)
        if session in self._missed and session not in self._missed_fetching:
            self._tell_missed(session)

    def _tell_missed(self, session: ClientSession) -> None:
        """Tell ``session`` the changes of its user's direct messages made while its client
        was away (:attr:`_missed`), a page at a time, oldest msg_id first; once it is
        crowded, the rest follow when it drains (:meth:`drained`), so that a thousand edits
        of 4,000 characters do not pass its hard mark. One the user blocks the sender of is
        not told (as it was not live), nor one told as unconfirmed at this login with the
        same stamp (:attr:`_told_unconfirmed`: the store answers in the order it is asked,
        and the unconfirmed page is asked first). If the store cannot read them, they are
        asked again once it works (relay.tell_when_recovered)."""
        since, after = self._missed[session]
        limit = self.relay.config.max_pending_receipts
        self._missed_fetching.add(session)

        def fetched(messages: list[mailbox.StoredMessage]) -> None:
            self._missed_fetching.discard(session)
            if session.closing or session not in self._missed:
                return
            blocked = self.relay.blocked.get(session.key, ())
            told = self._told_unconfirmed.get(session, {})
            for message in messages:
                if session.crowded():
                    self._missed[session] = (since, message.msg_id - 1)
                    session.held = True  # so the relay calls drained() (server/session.py)
                    return
                if told.get(message.msg_id) == message.edited_at:
                    continue
                if message.recipient_key != session.key or message.sender_key not in blocked:
                    session.send(_change_event(message))
            if len(messages) < limit:
                del self._missed[session]
                self._told_unconfirmed.pop(session, None)
                return
            self._missed[session] = (since, messages[-1].msg_id)
            self._tell_missed(session)

        def failed(_failure: Any) -> None:
            self._missed_fetching.discard(session)
            self.relay.tell_when_recovered(session)

        self.relay.store.dm_changes(session.key, after, since, limit, fetched, failed)

    def _tell_changes_after(self, session: ClientSession, after: int) -> None:
        """One page of ``session``'s unconfirmed changes after msg_id ``after``; once it
        is crowded, the rest wait until it drains (:meth:`_hold_changes`), so that a thousand
        edits of 4,000 characters do not pass its hard mark."""

        def fetched(messages: list[mailbox.StoredMessage]) -> None:
            if session.closing:
                return
            for n, message in enumerate(messages):
                if session.crowded():
                    self._hold_changes(session, (m.msg_id for m in messages[n:]))
                    return
                if not self._blocked(session.key, message.sender_key):
                    session.send(_change_event(message))
                    self._written(session, message)
                    if session in self._missed:
                        self._told_unconfirmed.setdefault(session, {})[message.msg_id] = message.edited_at

        self.relay.store.changes_for(session.key, after, self.relay.config.max_pending_receipts, fetched,
                                     lambda failure: self.relay.tell_when_recovered(session))

    def _edit_receipt(self, session: ClientSession, receipt: EditReceipt) -> None:
        """Confirm a change told to ``session``. Each costs a store operation and is not a
        request, so it spends the late receipts' budget (a receipt of a change, as theirs of
        a message: const.LATE_RECEIPTS_*); over it, it is not done and the change is told
        again at the next login."""
        if not self._asked(session, EDITS, "edit_receipt") or self.relay.confirmation_refused(session, "edit receipts"):
            return

        def confirmed(theirs: bool) -> None:
            if not theirs:
                session.send(ErrorReply(ErrorCode.UNKNOWN_MESSAGE, f"message {receipt.msg_id} was not sent to you"))

        if earlier_holding(session.epoch, receipt.msg_id):  # sent to an earlier holder of this guest name
            return confirmed(False)  # (after the budget: answered as any id not sent to this user)
        self.store_call(session, None, self.relay.store.confirm_change, receipt.msg_id, session.key, receipt.at,
                        callback=confirmed)

    # --- Settings -----------------------------------------------------------------------

    def _settings(self, session: ClientSession, request: Settings) -> None:
        if request.request_id is None:  # the form without id is the server's (PROTOCOL.md)
            session.send(ErrorReply(ErrorCode.BAD_FIELD, "'settings' needs the field 'id'"))
            return
        if not self._asked(session, READ, "settings", request.request_id):
            return
        if request.read_receipts is None:
            session.send(Done(request.request_id))
            return
        key, on = session.key, request.read_receipts
        was_off = key in self.receipts_off
        changed = self._set_off(key, not on)

        def not_stored(failure: StoreUnavailable) -> None:
            self._set_off(key, was_off)  # "unavailable" means not done
            self.relay.unavailable(session, request.request_id)(failure)

        def stored(_: Any) -> None:
            session.send(Done(request.request_id))
            if changed:  # told once stored: an "unavailable" is not a change to tell
                self._tell_switch(key, on, skip=session)

        # Every node of a cluster follows, told in the step that stores it.
        self.relay.peers.store_receipts_switch(self.relay.store, key, on, stored, not_stored)

    def switched(self, key: str, on: bool) -> None:
        """User ``key`` turned read receipts on (or off) on some node (this one included),
        as the cluster's events stream says: every node ends with the stream's last word,
        and tells the user's sessions here if that changed its switch (on the node that
        stored it, already changed: those were told there, see :meth:`_settings`)."""
        if self._set_off(key, not on):
            self._tell_switch(key, on)

    def _tell_switch(self, key: str, on: bool, skip: ClientSession | None = None) -> None:
        """Tell the sessions of ``key`` here with the ``read`` feature (but ``skip``, which
        asked for it) that its read receipts are now ``on``: their clients stop sending
        reads and typing, which would be refused, or may send them again."""
        self._to(key, READ, Settings(None, on), skip)

    def _set_off(self, key: str, off: bool) -> bool:
        """Set the switch of ``key``; True if that changed it."""
        if off == (key in self.receipts_off):
            return False
        if off:
            self.receipts_off.add(key)
        else:
            self.receipts_off.discard(key)
        self.room_reads.switched(key)  # their rooms' read marks count them, or no longer
        return True

    # --- The store ----------------------------------------------------------------------

    def store_call(self, session: ClientSession, request_id: str | None, operation: Callable, *args: Any,
                   callback: Callable[[Any], None]) -> None:
        """``operation(*args, callback, on_error)``, answered ``unavailable`` on failure."""
        operation(*args, callback, self.relay.unavailable(session, request_id))


# The window given the store for a message taken before a step older than a window: one no
# message's age is within (-inf would do, but Redis's Lua reads it from a string).
_NEVER = -1e18

# status of mailbox.change_message -> (error code, message)
_CHANGE_ERRORS = {
    mailbox.UNKNOWN: (ErrorCode.UNKNOWN_MESSAGE, "there is no direct message {msg_id}"),
    mailbox.FORBIDDEN: (ErrorCode.FORBIDDEN, "message {msg_id} is not yours: only its sender may change it"),
    mailbox.GONE: (ErrorCode.UNKNOWN_MESSAGE, "message {msg_id} was deleted"),
    mailbox.TOO_LATE: (ErrorCode.TOO_LATE, "message {msg_id} is older than {window:g} minutes: it can no longer "
                       "be changed"),
}


def _msg_id(change: Any) -> int:
    """The msg_id of a change: its event or message, or its encoded frame (routed)."""
    return json.loads(change)["msg_id"] if isinstance(change, bytes) else change.msg_id


def changes_since_ms(last_heard: int) -> int:
    """The time (ms since the epoch) from which a client whose hello said ``last_heard`` is
    told the changes it missed (PROTOCOL.md "Changes a device missed"): that much earlier
    by const.LAST_HEARD_MARGIN, and never later than now (a clock ahead would hide them)."""
    return min(last_heard, int(time.time() * 1000)) - int(const.LAST_HEARD_MARGIN * 1000)


def _change_event(message: mailbox.StoredMessage, by: str | None = None) -> Edited | Deleted:
    """What sessions are told of the latest change of ``message`` (``by``: an
    administrator who deleted it)."""
    if message.deleted:
        return Deleted(message.msg_id, message.sender, message.recipient, message.edited_at, by)
    return Edited(message.msg_id, message.sender, message.recipient, message.text, message.edited_at)


def room_change_event(message: mailbox.StoredMessage, room: str, by: str | None = None) -> RoomEdited | RoomDeleted:
    """What members are told of the latest change of room post ``message`` (``by``: the
    moderator or administrator who deleted it; None: its sender)."""
    if message.deleted:
        return RoomDeleted(message.msg_id, message.sender, room, message.edited_at, by)
    return RoomEdited(message.msg_id, message.sender, room, message.text, message.edited_at)
